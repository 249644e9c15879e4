// The MessagePack module: the exact bytes written for every type at the boundaries
// of its size classes (they are the on-disk format, so they must never change),
// round trips through the readers, the limits, and truncated or damaged input
// refused without reading outside the bytes.
#include "pspf/msgpack.h"

#include <doctest/doctest.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace pspf;

namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(char(c));
  return s;
}

template <class F>
std::string written(F f) {
  Buffer b;
  f(b);
  return std::string(b.view());
}

// The first `n` bytes of `s` in an allocation of exactly n bytes (ASan catches a
// read past the end).
struct Exact {
  explicit Exact(std::string_view s, size_t n) : data(new char[n + 1]), size(n) {
    std::memcpy(data.get(), s.data(), n);
  }
  const char* begin() const { return data.get(); }
  const char* end() const { return data.get() + size; }
  std::unique_ptr<char[]> data;
  size_t size;
};

}  // namespace

TEST_CASE("strings take fixstr, str8, str16, str32 at 31/32, 255/256, 65535/65536 bytes") {
  struct Case {
    size_t n;
    std::string header;
  };
  for (const Case& c :
       {Case{0, bytes({0xa0})}, Case{31, bytes({0xbf})}, Case{32, bytes({0xd9, 32})},
        Case{255, bytes({0xd9, 0xff})}, Case{256, bytes({0xda, 0x01, 0x00})},
        Case{65535, bytes({0xda, 0xff, 0xff})},
        Case{65536, bytes({0xdb, 0x00, 0x01, 0x00, 0x00})}}) {
    CAPTURE(c.n);
    std::string s(c.n, 'x');
    std::string w = written([&](Buffer& b) { msgpack_put_str(b, s); });
    CHECK(w == c.header + s);
    CHECK(msgpack_str_size(c.n) == w.size());
    std::string_view back;
    const char* p = w.data();
    REQUIRE(msgpack_get_str(&p, w.data() + w.size(), back));
    CHECK(back == s);
    CHECK(p == w.data() + w.size());
    p = w.data();
    CHECK_FALSE(msgpack_get_bin(&p, w.data() + w.size(), back));  // a str is not a bin
    CHECK(p == w.data());
  }
}

TEST_CASE("bin headers take bin8, bin16, bin32 at 255/256 and 65535/65536 bytes") {
  struct Case {
    size_t n;
    std::string header;
  };
  for (const Case& c :
       {Case{0, bytes({0xc4, 0})}, Case{255, bytes({0xc4, 0xff})},
        Case{256, bytes({0xc5, 0x01, 0x00})}, Case{65535, bytes({0xc5, 0xff, 0xff})},
        Case{65536, bytes({0xc6, 0x00, 0x01, 0x00, 0x00})}}) {
    CAPTURE(c.n);
    std::string w = written([&](Buffer& b) { msgpack_put_bin_header(b, c.n); });
    CHECK(w == c.header);
    CHECK(msgpack_bin_header_size(c.n) == w.size());
    w.append(c.n, 'b');
    std::string_view back;
    const char* p = w.data();
    REQUIRE(msgpack_get_bin(&p, w.data() + w.size(), back));
    CHECK(back.size() == c.n);
    p = w.data();
    REQUIRE(msgpack_get_str(&p, w.data() + w.size(), back));  // a bin reads as a str
    CHECK(p == w.data() + w.size());
  }
}

TEST_CASE("maps and arrays take fix, 16 and 32 forms at 15/16 and 65535/65536 entries") {
  struct Case {
    uint32_t n;
    std::string map, array;
  };
  for (const Case& c :
       {Case{0, bytes({0x80}), bytes({0x90})}, Case{15, bytes({0x8f}), bytes({0x9f})},
        Case{16, bytes({0xde, 0, 16}), bytes({0xdc, 0, 16})},
        Case{65535, bytes({0xde, 0xff, 0xff}), bytes({0xdc, 0xff, 0xff})},
        Case{65536, bytes({0xdf, 0, 1, 0, 0}), bytes({0xdd, 0, 1, 0, 0})}}) {
    CAPTURE(c.n);
    CHECK(written([&](Buffer& b) { msgpack_put_map_header(b, c.n); }) == c.map);
    CHECK(written([&](Buffer& b) { msgpack_put_array_header(b, c.n); }) == c.array);
    // A container closed after its elements gets the same header.
    std::string body(c.n, char(0x01));  // n positive fixints
    for (bool map : {true, false}) {
      Buffer b;
      b.append("pre");
      size_t at = msgpack_open_container(b);
      b.append(body);
      if (map) b.append(body);
      REQUIRE((map ? msgpack_close_map(b, at, c.n) : msgpack_close_array(b, at, c.n)));
      CHECK(b.view() == "pre" + (map ? c.map + body + body : c.array + body));
      uint32_t n = 99;
      const char* p = b.data() + 3;
      REQUIRE((map ? msgpack_get_map_header(&p, b.data() + b.size(), n)
                   : msgpack_get_array_header(&p, b.data() + b.size(), n)));
      CHECK(n == c.n);
      CHECK(p == b.data() + 3 + (map ? c.map : c.array).size());
      p = b.data() + 3;
      CHECK(msgpack_skip(&p, b.data() + b.size()));
      CHECK(p == b.data() + b.size());
    }
  }
}

TEST_CASE("integers take the smallest form; batch uints never take uint8") {
  struct Case {
    int64_t v;
    std::string w;
  };
  for (const Case& c :
       {Case{0, bytes({0x00})}, Case{127, bytes({0x7f})}, Case{128, bytes({0xcc, 0x80})},
        Case{255, bytes({0xcc, 0xff})}, Case{256, bytes({0xcd, 0x01, 0x00})},
        Case{65535, bytes({0xcd, 0xff, 0xff})}, Case{65536, bytes({0xce, 0, 1, 0, 0})},
        Case{INT64_MAX, bytes({0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})},
        Case{-1, bytes({0xff})}, Case{-32, bytes({0xe0})}, Case{-33, bytes({0xd0, 0xdf})},
        Case{-128, bytes({0xd0, 0x80})}, Case{-129, bytes({0xd1, 0xff, 0x7f})},
        Case{-32769, bytes({0xd2, 0xff, 0xff, 0x7f, 0xff})},
        Case{INT64_MIN, bytes({0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0})}}) {
    CAPTURE(c.v);
    std::string w = written([&](Buffer& b) { msgpack_put_int(b, c.v); });
    CHECK(w == c.w);
    int64_t back = 7;
    const char* p = w.data();
    REQUIRE(msgpack_get_int(&p, w.data() + w.size(), back));
    CHECK(back == c.v);
    uint64_t u = 7;
    p = w.data();
    CHECK(msgpack_get_uint(&p, w.data() + w.size(), u) == (c.v >= 0));
    if (c.v >= 0) CHECK(u == uint64_t(c.v));
  }
  CHECK(written([](Buffer& b) { msgpack_put_uint(b, UINT64_MAX); }) ==
        bytes({0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
  CHECK(written([](Buffer& b) { msgpack_put_uint(b, 200); }) == bytes({0xcc, 200}));
  std::string big = bytes({0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
  int64_t i;
  const char* p = big.data();
  CHECK_FALSE(msgpack_get_int(&p, big.data() + big.size(), i));  // beyond int64
  // The PSB1 form of offset deltas: 128..255 as uint16.
  struct U {
    uint64_t v;
    std::string w;
  };
  for (const U& c :
       {U{127, bytes({0x7f})}, U{128, bytes({0xcd, 0x00, 0x80})}, U{255, bytes({0xcd, 0x00, 0xff})},
        U{65535, bytes({0xcd, 0xff, 0xff})}, U{65536, bytes({0xce, 0, 1, 0, 0})},
        U{0x100000000, bytes({0xcf, 0, 0, 0, 1, 0, 0, 0, 0})}}) {
    CAPTURE(c.v);
    std::string w = written([&](Buffer& b) { msgpack_put_batch_uint(b, c.v); });
    CHECK(w == c.w);
    CHECK(msgpack_batch_uint_size(c.v) == w.size());
    uint64_t back;
    p = w.data();
    REQUIRE(msgpack_get_uint(&p, w.data() + w.size(), back));
    CHECK(back == c.v);
  }
}

TEST_CASE("nil, bool, float64 and ext are written as pspf always wrote them") {
  CHECK(written([](Buffer& b) { msgpack_put_nil(b); }) == bytes({0xc0}));
  CHECK(written([](Buffer& b) { msgpack_put_bool(b, true); }) == bytes({0xc3}));
  CHECK(written([](Buffer& b) { msgpack_put_bool(b, false); }) == bytes({0xc2}));
  // 1.0 stays a float64 (the packer's pack_double would write the int 1).
  CHECK(written([](Buffer& b) { msgpack_put_float64(b, 1.0); }) ==
        bytes({0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}));
  struct Case {
    size_t n;
    std::string header;
  };
  for (const Case& c :
       {Case{1, bytes({0xd4, 1})}, Case{2, bytes({0xd5, 1})}, Case{3, bytes({0xc7, 3, 1})},
        Case{4, bytes({0xd6, 1})}, Case{8, bytes({0xd7, 1})}, Case{16, bytes({0xd8, 1})},
        Case{17, bytes({0xc7, 17, 1})}, Case{256, bytes({0xc8, 1, 0, 1})},
        Case{65536, bytes({0xc9, 0, 1, 0, 0, 1})}}) {
    CAPTURE(c.n);
    std::string payload(c.n, '7');
    std::string w = written([&](Buffer& b) { msgpack_put_ext(b, 1, payload); });
    CHECK(w == c.header + payload);
    const char* p = w.data();
    CHECK(msgpack_skip(&p, w.data() + w.size()));
    CHECK(p == w.data() + w.size());
  }
}

TEST_CASE("a tombstone is exactly one nil") {
  CHECK(msgpack_is_nil(bytes({0xc0})));
  CHECK_FALSE(msgpack_is_nil(""));
  CHECK_FALSE(msgpack_is_nil(bytes({0xc0, 0xc0})));
  CHECK_FALSE(msgpack_is_nil(bytes({0xc2})));
  CHECK_FALSE(msgpack_is_nil(bytes({0xa1, 'x'})));
  const char* p = "\xc3";
  CHECK_FALSE(msgpack_get_nil(&p, p + 1));
}

TEST_CASE("string maps round trip; anything else is not one") {
  std::vector<std::pair<std::string_view, std::string_view>> kv = {{"a", "1"}, {"src", "cron"}};
  std::string w = written([&](Buffer& b) { msgpack_put_string_map(b, kv); });
  CHECK(w == bytes({0x82, 0xa1, 'a', 0xa1, '1', 0xa3, 's', 'r', 'c', 0xa4, 'c', 'r', 'o', 'n'}));
  CHECK(msgpack_is_string_map(w));
  std::vector<std::pair<std::string_view, std::string_view>> back = {{"x", "y"}};
  REQUIRE(msgpack_read_string_map(w, back));
  CHECK(back.size() == 3);  // appended
  CHECK(back[1] == kv[0]);
  CHECK(back[2] == kv[1]);
  CHECK(msgpack_is_string_map(bytes({0x80})));
  CHECK_FALSE(msgpack_is_string_map(bytes({0x81, 0xa1, 'a', 0x01})));  // int value
  CHECK_FALSE(msgpack_is_string_map(bytes({0x81, 0xa1, 'a', 0x80})));  // map value
  CHECK_FALSE(msgpack_is_string_map(bytes({0x81, 0x01, 0xa1, 'a'})));  // int key
  CHECK_FALSE(msgpack_is_string_map(bytes({0x80, 0xc0})));             // trailing bytes
  CHECK_FALSE(msgpack_is_string_map(bytes({0x91, 0xa1, 'a'})));        // an array
  back.clear();
  CHECK_FALSE(msgpack_read_string_map(bytes({0x82, 0xa1, 'a', 0xa1, 'b', 0xa1, 'c', 0x01}), back));
  CHECK(back.empty());  // nothing half-read
}

TEST_CASE(
    "limits: skip refuses nesting past kMsgpackMaxSkipDepth, headers past kMsgpackMaxLength") {
  for (uint32_t depth : {kMsgpackMaxSkipDepth - 1, kMsgpackMaxSkipDepth}) {
    std::string deep(depth, char(0x91));  // `depth` arrays of one element...
    deep += char(0x90);                   // ...around an empty one
    const char* p = deep.data();
    CHECK(msgpack_skip(&p, deep.data() + deep.size()) == (depth + 1 <= kMsgpackMaxSkipDepth));
  }
  // A count past the limit is refused at the header, before any element is looked for.
  uint32_t n;
  std::string huge = bytes({0xdd, 0x10, 0x00, 0x00, 0x01});  // 2^28 + 1 elements
  const char* p = huge.data();
  CHECK_FALSE(msgpack_get_array_header(&p, huge.data() + huge.size(), n));
  huge[0] = char(0xdf);
  CHECK_FALSE(msgpack_get_map_header(&p, huge.data() + huge.size(), n));
  CHECK(p == huge.data());
  std::string at_limit = bytes({0xdd, 0x10, 0x00, 0x00, 0x00});  // exactly 2^28: allowed
  REQUIRE(kMsgpackMaxLength == 0x10000000u);
  p = at_limit.data();
  CHECK(msgpack_get_array_header(&p, at_limit.data() + at_limit.size(), n));
  CHECK(n == kMsgpackMaxLength);
}

TEST_CASE("truncated values are refused at every length by every reader") {
  Buffer b;
  std::vector<std::pair<std::string_view, std::string_view>> kv = {
      {"k", std::string_view("v\0w", 3)}, {std::string(40, 'K'), "x"}};
  msgpack_put_string_map(b, kv);
  std::string map(b.view());
  std::string values[] = {map,
                          written([](Buffer& w) { msgpack_put_str(w, std::string(300, 's')); }),
                          written([](Buffer& w) { msgpack_put_int(w, INT64_MIN); }),
                          written([](Buffer& w) { msgpack_put_float64(w, 2.5); }),
                          written([](Buffer& w) { msgpack_put_ext(w, 1, "12345"); }),
                          written([](Buffer& w) {
                            msgpack_put_array_header(w, 2);
                            msgpack_put_bin_header(w, 3);
                            w.append("abc");
                            msgpack_put_uint(w, 1u << 20);
                          })};
  for (const std::string& full : values) {
    for (size_t len = 0; len < full.size(); ++len) {
      CAPTURE(len);
      Exact e(full, len);
      const char* p = e.begin();
      std::string_view s;
      int64_t i;
      uint64_t u;
      CHECK_FALSE(msgpack_skip(&p, e.end()));
      CHECK_FALSE(msgpack_get_str(&p, e.end(), s));
      CHECK_FALSE(msgpack_get_int(&p, e.end(), i));
      CHECK_FALSE(msgpack_get_uint(&p, e.end(), u));
      CHECK_FALSE(msgpack_is_string_map({e.begin(), len}));
      CHECK(p == e.begin());
    }
    Exact whole(full, full.size());
    const char* p = whole.begin();
    CHECK(msgpack_skip(&p, whole.end()));
    CHECK(p == whole.end());
  }
}

TEST_CASE("the inline readers agree with msgpack_detail's on every tag and length") {
  // Every tag byte, followed by 0 to 8 bytes (some patterns, some random), in an
  // allocation of exactly that size: same result, same bytes taken, same value.
  std::mt19937 rng(20261202);
  auto tails = [&](int n) {
    std::vector<std::string> out = {std::string(n, '\0'), std::string(n, '\xff'),
                                    std::string(n, '\x02')};
    for (int k = 0; k < 20; ++k) {
      std::string t;
      for (int i = 0; i < n; ++i) t += char(rng());
      out.push_back(t);
    }
    return out;
  };
  int inline_forms = 0;
  for (int tag = 0; tag < 256; ++tag) {
    for (int n = 0; n <= 8; ++n) {
      for (const std::string& tail : tails(n)) {
        std::string b = char(tag) + tail;
        std::unique_ptr<char[]> exact(new char[b.size()]);
        std::memcpy(exact.get(), b.data(), b.size());
        const char* end = exact.get() + b.size();
        CAPTURE(tag);
        CAPTURE(n);
        auto same = [&](auto inline_read, auto detail_read, auto value) {
          const char* p1 = exact.get();
          const char* p2 = exact.get();
          decltype(value) v1{}, v2{};
          bool ok1 = inline_read(&p1, end, v1), ok2 = detail_read(&p2, end, v2);
          CHECK(ok1 == ok2);
          CHECK(p1 == p2);
          if (ok1 && ok2) CHECK(v1 == v2);
        };
        same(msgpack_get_str, msgpack_detail::get_str, std::string_view());
        same(msgpack_get_bin, msgpack_detail::get_bin, std::string_view());
        same(msgpack_get_uint, msgpack_detail::get_uint, uint64_t());
        same(msgpack_get_int, msgpack_detail::get_int, int64_t());
        same(msgpack_get_map_header, msgpack_detail::get_map_header, uint32_t());
        same(msgpack_get_array_header, msgpack_detail::get_array_header, uint32_t());
        const char* p = exact.get();
        bool nil = msgpack_get_nil(&p, end);
        CHECK(nil == (tag == 0xc0));
        CHECK(p == exact.get() + (nil ? 1 : 0));
        uint64_t u;
        p = exact.get();
        inline_forms += msgpack_detail::get_small_uint(&p, end, u);
      }
    }
  }
  CHECK(inline_forms > 1000);  // the inline forms were taken, not only the calls
}
