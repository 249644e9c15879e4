// Buffer: a growable byte buffer for building batches and output without per-record
// allocation. It only grows; clear() keeps the capacity for reuse.
// It has the write(const char*, size_t) member that msgpack-cxx's packer expects.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string_view>

namespace pspf {

class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(size_t capacity) { reserve(capacity); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&&) noexcept = default;
  Buffer& operator=(Buffer&&) noexcept = default;

  char* data() { return data_.get(); }
  const char* data() const { return data_.get(); }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }
  std::string_view view() const { return {data_.get(), size_}; }
  void clear() { size_ = 0; }

  void reserve(size_t n) {
    if (n > capacity_) grow(n);
  }
  // Returns a pointer to at least n writable bytes at the end; follow with commit().
  char* ensure(size_t n) {
    if (size_ + n > capacity_) grow(size_ + n);
    return data_.get() + size_;
  }
  void commit(size_t n) { size_ += n; }
  // From 2 MB of capacity on, the memory is asked for in transparent huge pages (one
  // fault for 2 MB instead of 512 at about 14 us each on a virtual machine), where
  // the kernel has them (madvise mode; otherwise nothing changes). For buffers that
  // are filled whole again and again: a reader's buffer of 1 MB batches.
  void use_huge_pages() { huge_ = true; }
  void resize(size_t n) {
    reserve(n);
    size_ = n;
  }

  void append(const void* p, size_t n) {
    std::memcpy(ensure(n), p, n);
    size_ += n;
  }
  void append(std::string_view s) { append(s.data(), s.size()); }
  void push_back(char c) {
    *ensure(1) = c;
    ++size_;
  }
  void write(const char* p, size_t n) { append(p, n); }  // for msgpack::packer

 private:
  // realloc: a large block grows by moving its pages (mremap), not by copying them
  // into new ones that must first be faulted in (about 10 us a page on a virtual
  // machine): pspf-produce of 1,000,000 events took 4,170 page faults, now 2,280.
  void grow(size_t need) {
    size_t cap = capacity_ ? capacity_ : 256;
    while (cap < need) cap *= 2;
    if (size_ == 0) data_.reset(), capacity_ = 0;  // nothing to keep: no copy
    if (huge_ && cap >= kHugePage) {               // (cap is then a multiple of kHugePage)
      void* p = std::aligned_alloc(kHugePage, cap);
      if (!p) throw std::bad_alloc();
      ::madvise(p, cap, MADV_HUGEPAGE);
      if (size_) std::memcpy(p, data_.get(), size_);
      data_.reset(static_cast<char*>(p));
      capacity_ = cap;
      return;
    }
    void* bigger = std::realloc(data_.get(), cap);
    if (!bigger) throw std::bad_alloc();
    (void)data_.release();
    data_.reset(static_cast<char*>(bigger));
    capacity_ = cap;
  }

  static constexpr size_t kHugePage = 2u << 20;
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  std::unique_ptr<char[], Free> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
  bool huge_ = false;
};

}  // namespace pspf
