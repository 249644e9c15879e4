// Helpers shared by the unit tests: a temporary directory removed at the end, and
// small builders of batches and records.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <fmt/format.h>

#include <filesystem>
#include <string>

#include "pspf/batch.h"
#include "pspf/buffer.h"

namespace pspf::test {

class TempDir {
 public:
  // `base`: where to make it (a tmpfs such as /dev/shm keeps fsync-heavy tests fast).
  explicit TempDir(const std::string& base = "/tmp") {
    std::string tmpl = base + "/pspf-unit-XXXXXX";
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A MessagePack str value "v<n>" (a JSON string as the codec would store it).
inline std::string value_of(int n) {
  Buffer b;
  msgpack_put_str(b, fmt::format("v{}", n));
  return std::string(b.view());
}

// Adds `count` records with keys "k<i>" and values "v<i>" starting at `first`.
inline void fill(BatchBuilder& b, int first, int count) {
  for (int i = first; i < first + count; ++i) {
    std::string key = fmt::format("k{}", i);
    std::string_view kv = key;
    std::string v = value_of(i);
    b.add(&kv, nullptr, {}, v);
  }
}

}  // namespace pspf::test
