// fmt's compiled part, built once into libpspf (meson option static_runtime): the
// tools then carry fmt without loading libfmt.so, and no other file compiles it.
//
// Until 2026-12-04 every file was compiled with FMT_HEADER_ONLY instead, which makes
// <fmt/core.h> pull in all of <fmt/format.h> and <fmt/format-inl.h>: a third of each
// file's compile time (tools/pspf-offsets/offsets_commands.cpp at -O3: 10.6 s, and
// 6.9 s without), and a clean build of 297 s on two cores against 158 s now.
//
// format-inl.h defines fmt's functions that are not templates. format.h declares two
// templates extern, to be instantiated where fmt is compiled: they are, below, for
// char, the one character type pspf formats (the linker names anything missing).
#include <fmt/format-inl.h>

FMT_BEGIN_NAMESPACE
namespace detail {
template auto thousands_sep_impl(locale_ref) -> thousands_sep_result<char>;
template auto decimal_point_impl(locale_ref) -> char;
}  // namespace detail
FMT_END_NAMESPACE
