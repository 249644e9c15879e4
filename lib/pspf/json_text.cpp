#include "pspf/json_text.h"

#include "pspf/json_bytes.h"
#include "pspf/msgpack.h"

namespace pspf {
namespace {

using json_detail::hex4;
using json_detail::utf8_length;

// Steps over the string at *p (at its opening quote); false when it is not one.
bool skip_string(const char*& p, const char* e) {
  ++p;
  while (p < e) {
    unsigned char c = static_cast<unsigned char>(*p);
    if (c == '"') {
      ++p;
      return true;
    }
    if (c < 0x20) return false;
    if (c == '\\') {
      if (++p == e) return false;
      char x = *p++;
      if (x == 'u') {
        int32_t v = hex4(p, e);
        if (v < 0) return false;
        p += 4;
        if (v >= 0xdc00 && v <= 0xdfff) return false;  // a low surrogate alone
        if (v >= 0xd800 && v <= 0xdbff) {              // must pair with a low one
          int32_t lo = e - p >= 6 && p[0] == '\\' && p[1] == 'u' ? hex4(p + 2, e) : -1;
          if (lo < 0xdc00 || lo > 0xdfff) return false;
          p += 6;
        }
      } else if (x != '"' && x != '\\' && x != '/' && x != 'b' && x != 'f' && x != 'n' &&
                 x != 'r' && x != 't') {
        return false;
      }
      continue;
    }
    if (c < 0x80) {
      ++p;
      continue;
    }
    size_t n = utf8_length(reinterpret_cast<const unsigned char*>(p),
                           reinterpret_cast<const unsigned char*>(e));
    if (n == 0) return false;
    p += n;
  }
  return false;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Checks `text`; with `out`, appends the compact form. With `compact_only`, any
// whitespace between tokens makes it fail.
bool scan(std::string_view text, Buffer* out, bool compact_only) {
  constexpr size_t kMaxDepth = kMsgpackMaxDepth;
  char stack[kMaxDepth];  // '{' or '[' of each open container
  size_t depth = 0;
  const char* p = text.data();
  const char* e = p + text.size();
  auto ws = [&] {
    if (compact_only) return;
    while (p < e && is_space(*p)) ++p;
  };
  auto emit = [&](const char* a, const char* b) {
    if (out) out->append(a, static_cast<size_t>(b - a));
  };
  // A key and its colon, at *p (after '{' or ',').
  auto key = [&] {
    ws();
    const char* a = p;
    if (p == e || *p != '"' || !skip_string(p, e)) return false;
    emit(a, p);
    ws();
    if (p == e || *p != ':') return false;
    emit(p, p + 1);
    ++p;
    return true;
  };
  for (;;) {
    // A value.
    ws();
    if (p == e) return false;
    const char* a = p;
    char c = *p;
    if (c == '{' || c == '[') {
      if (depth == kMaxDepth) return false;
      emit(p, p + 1);
      ++p;
      ws();
      char close = c == '{' ? '}' : ']';
      if (p < e && *p == close) {
        emit(p, p + 1);
        ++p;
      } else {
        stack[depth++] = c;
        if (c == '{' && !key()) return false;
        continue;
      }
    } else if (c == '"') {
      if (!skip_string(p, e)) return false;
      emit(a, p);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      while (p < e && ((*p >= '0' && *p <= '9') || *p == '-' || *p == '+' || *p == '.' ||
                       *p == 'e' || *p == 'E'))
        ++p;
      if (!json_detail::is_json_number({a, static_cast<size_t>(p - a)})) return false;
      emit(a, p);
    } else {
      std::string_view rest(p, static_cast<size_t>(e - p));
      size_t n = rest.starts_with("true")    ? 4
                 : rest.starts_with("false") ? 5
                 : rest.starts_with("null")  ? 4
                                             : 0;
      if (n == 0) return false;
      p += n;
      emit(a, p);
    }
    // After a value: the end, a comma, or the close of its containers.
    for (;;) {
      ws();
      if (depth == 0) return p == e;
      if (p == e) return false;
      char open = stack[depth - 1];
      if (*p == ',') {
        emit(p, p + 1);
        ++p;
        if (open == '{' && !key()) return false;
        break;  // the next value
      }
      if (*p != (open == '{' ? '}' : ']')) return false;
      emit(p, p + 1);
      ++p;
      --depth;
    }
  }
}

}  // namespace

bool compact_json(std::string_view text, Buffer& out) {
  size_t before = out.size();
  if (scan(text, &out, false)) return true;
  out.resize(before);
  return false;
}

bool is_compact_json(std::string_view text) { return scan(text, nullptr, true); }

}  // namespace pspf
