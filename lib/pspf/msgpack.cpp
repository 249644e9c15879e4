// MessagePack writing (msgpack-cxx's packer over Buffer) and reading (its visitor
// parser, through msgpack_visit.h). See msgpack.h for the contract.
#include "pspf/msgpack.h"

#include <bit>
#include <cassert>
#include <cstring>

#include "pspf/msgpack_visit.h"

namespace pspf {

namespace {

using Packer = msgpack::packer<Buffer>;

using msgpack_detail::Patch;

template <bool kMap>
bool close_container(Buffer& b, size_t at, size_t n) {
  if (n > 0xffffffff) return false;
  auto header = [&](Patch& s) {
    msgpack::packer<Patch> pk(s);
    kMap ? pk.pack_map(static_cast<uint32_t>(n)) : pk.pack_array(static_cast<uint32_t>(n));
  };
  if (n < 16) {  // the fix form fits the placeholder
    Patch s{b.data() + at};
    header(s);
    return true;
  }
  size_t extra = n <= 0xffff ? 2 : 4;
  b.ensure(extra);  // may move the data: take data() only after this
  char* h = b.data() + at;
  std::memmove(h + 1 + extra, h + 1, b.size() - at - 1);
  b.commit(extra);
  Patch s{h};
  header(s);
  assert(s.w == h + 1 + extra);
  return true;
}

}  // namespace

// ---- writing -------------------------------------------------------------------------

void msgpack_put_nil(Buffer& b) { Packer(b).pack_nil(); }
void msgpack_put_bool(Buffer& b, bool v) { v ? Packer(b).pack_true() : Packer(b).pack_false(); }
void msgpack_put_int(Buffer& b, int64_t v) { msgpack_detail::put_int(b, v); }
void msgpack_put_uint(Buffer& b, uint64_t v) { Packer(b).pack_uint64(v); }

void msgpack_put_batch_uint(Buffer& b, uint64_t v) {
  Packer pk(b);
  if (v < 128)
    pk.pack_uint64(v);  // positive fixint
  else if (v <= 0xffff)
    pk.pack_fix_uint16(static_cast<uint16_t>(v));
  else if (v <= 0xffffffff)
    pk.pack_fix_uint32(static_cast<uint32_t>(v));
  else
    pk.pack_fix_uint64(v);
}

void msgpack_put_float64(Buffer& b, double v) {
  // The packer has no call that always writes float64: build it here.
  char* w = b.ensure(9);
  w[0] = static_cast<char>(0xcb);
  uint64_t bits = __builtin_bswap64(std::bit_cast<uint64_t>(v));
  std::memcpy(w + 1, &bits, 8);
  b.commit(9);
}

void msgpack_put_str(Buffer& b, std::string_view s) {
  assert(s.size() <= 0xffffffff);
  msgpack_detail::put_str(b, s);
}

void msgpack_put_bin_header(Buffer& b, size_t n) {
  assert(n <= 0xffffffff);
  Packer(b).pack_bin(static_cast<uint32_t>(n));
}

void msgpack_put_ext(Buffer& b, int8_t type, std::string_view payload) {
  assert(payload.size() <= 0xffffffff);
  Packer pk(b);
  pk.pack_ext(payload.size(), type);
  pk.pack_ext_body(payload.data(), static_cast<uint32_t>(payload.size()));
}

void msgpack_put_map_header(Buffer& b, uint32_t n) { Packer(b).pack_map(n); }
void msgpack_put_array_header(Buffer& b, uint32_t n) { Packer(b).pack_array(n); }

void msgpack_put_string_map(Buffer& b,
                            std::span<const std::pair<std::string_view, std::string_view>> kv) {
  msgpack_put_map_header(b, static_cast<uint32_t>(kv.size()));
  for (const auto& [k, v] : kv) {
    msgpack_put_str(b, k);
    msgpack_put_str(b, v);
  }
}

size_t msgpack_open_container(Buffer& b) {
  size_t at = b.size();
  b.push_back(0);  // placeholder, turned into the header by msgpack_close_*
  return at;
}

bool msgpack_close_map(Buffer& b, size_t at, size_t n) { return close_container<true>(b, at, n); }
bool msgpack_close_array(Buffer& b, size_t at, size_t n) {
  return close_container<false>(b, at, n);
}

// ---- reading -------------------------------------------------------------------------

namespace {

using msgpack_detail::Cursor;
using msgpack_detail::Item;
using msgpack_detail::Kind;
using msgpack_detail::Outcome;
using msgpack_detail::read_item;
using msgpack_detail::RefuseAll;
using msgpack_detail::visit;

struct Nil : RefuseAll {
  bool visit_nil() { return true; }
};

struct Any {
  bool visit_nil() { return true; }
  bool visit_boolean(bool) { return true; }
  bool visit_positive_integer(uint64_t) { return true; }
  bool visit_negative_integer(int64_t) { return true; }
  bool visit_float32(float) { return true; }
  bool visit_float64(double) { return true; }
  bool visit_str(const char*, uint32_t) { return true; }
  bool visit_bin(const char*, uint32_t) { return true; }
  bool visit_ext(int8_t, const char*, uint32_t) { return true; }
  bool start_array(uint32_t) { return true; }
  bool start_array_item() { return true; }
  bool end_array_item() { return true; }
  bool end_array() { return true; }
  bool start_map(uint32_t) { return true; }
  bool start_map_key() { return true; }
  bool end_map_key() { return true; }
  bool start_map_value() { return true; }
  bool end_map_value() { return true; }
  bool end_map() { return true; }
};

// One map of str -> str; with `out`, collects its entries.
struct StringMap : RefuseAll {
  std::vector<std::pair<std::string_view, std::string_view>>* out = nullptr;
  std::string_view key;
  bool in_key = false;
  bool start_map(uint32_t) { return true; }
  bool start_map_key() { return in_key = true; }
  bool start_map_value() { return in_key = false, true; }
  bool visit_str(const char* s, uint32_t n) {
    if (in_key)
      key = {s, n};
    else if (out)
      out->emplace_back(key, std::string_view(s, n));
    return true;
  }
  bool visit_bin(const char* s, uint32_t n) { return visit_str(s, n); }  // as msgpack_get_str
};

// A visitor that refuses a value stops the parse after it: *p must stay then.
// Reads one item's header with the hand-written fast path (msgpack_visit.h says why);
// *p moves only when `ok` accepts it.
template <class Ok>
[[gnu::always_inline]] inline bool read_one(const char** p, const char* end, Item& it, Ok ok) {
  Cursor c{reinterpret_cast<const uint8_t*>(*p), reinterpret_cast<const uint8_t*>(end)};
  if (!read_item(c, it) || !ok(it)) return false;
  *p = reinterpret_cast<const char*>(c.p);
  return true;
}

// A str or bin item whose payload (it.n bytes, known to be in bounds) follows at *p.
bool take_bytes(const char** p, const char* end, std::string_view& out, bool bin_only) {
  Item it;
  const char* q = *p;
  if (!read_one(&q, end, it, [&](const Item& i) {
        return i.kind == Kind::bin || (!bin_only && i.kind == Kind::str);
      }))
    return false;
  out = {q, it.n};
  *p = q + it.n;
  return true;
}

}  // namespace

bool msgpack_detail::get_str(const char** p, const char* end, std::string_view& out) {
  return take_bytes(p, end, out, false);
}

bool msgpack_detail::get_bin(const char** p, const char* end, std::string_view& out) {
  return take_bytes(p, end, out, true);
}

bool msgpack_detail::get_uint(const char** p, const char* end, uint64_t& out) {
  Item it;
  if (!read_one(p, end, it, [](const Item& i) {
        return i.kind == Kind::uint || (i.kind == Kind::sint && int64_t(i.n) >= 0);
      }))
    return false;
  out = it.n;
  return true;
}

bool msgpack_detail::get_int(const char** p, const char* end, int64_t& out) {
  Item it;
  if (!read_one(p, end, it, [](const Item& i) {
        return i.kind == Kind::sint || (i.kind == Kind::uint && i.n <= uint64_t(INT64_MAX));
      }))
    return false;
  out = int64_t(it.n);
  return true;
}

bool msgpack_detail::get_map_header(const char** p, const char* end, uint32_t& out) {
  Item it;
  if (!read_one(p, end, it, [](const Item& i) { return i.kind == Kind::map; })) return false;
  out = uint32_t(it.n);
  return true;
}

bool msgpack_detail::get_array_header(const char** p, const char* end, uint32_t& out) {
  Item it;
  if (!read_one(p, end, it, [](const Item& i) { return i.kind == Kind::array; })) return false;
  out = uint32_t(it.n);
  return true;
}

bool msgpack_skip(const char** p, const char* end) {
  Any v;
  return visit(p, end, v, kMsgpackMaxSkipDepth) == Outcome::done;
}

bool msgpack_is_nil(std::string_view v) {
  if (v.size() != 1) return false;  // a nil is one byte: most values stop here
  Nil n;
  const char* p = v.data();
  return visit(&p, p + 1, n, 0) == Outcome::done;
}

bool msgpack_is_string_map(std::string_view m) {
  StringMap v;
  const char* p = m.data();
  return visit(&p, p + m.size(), v, 1) == Outcome::done && p == m.data() + m.size();
}

bool msgpack_read_string_map(std::string_view m,
                             std::vector<std::pair<std::string_view, std::string_view>>& out) {
  if (!msgpack_is_string_map(m)) return false;
  StringMap v;
  v.out = &out;
  const char* p = m.data();
  return visit(&p, p + m.size(), v, 1) == Outcome::done;
}

}  // namespace pspf
