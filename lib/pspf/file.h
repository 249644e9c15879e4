// File: RAII file descriptors and the only place that writes, syncs, renames and
// locks. Every durable change to the data directory goes through these helpers so
// that the crash-safety rules (fsync data, fsync the directory after creating or
// renaming a file) live in one file.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pspf {

// Owns one file descriptor; closes it on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd();
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset();

 private:
  int fd_ = -1;
};

// open(2) with O_CLOEXEC; throws Error(io) naming `path` on failure.
Fd open_file(const std::string& path, int flags, mode_t mode = 0644);
// Like open_file but returns an invalid Fd when the file does not exist (ENOENT).
Fd open_file_if_exists(const std::string& path, int flags);

// Writes all of [p, p+n) at `pos`; throws Error(io) naming `path`.
void pwrite_all(int fd, const void* p, size_t n, uint64_t pos, const std::string& path);
// Writes all of [p, p+n) at the current position (retrying short writes and EINTR).
// Returns false with errno set on failure (the caller decides: EPIPE is not an error
// for a tool's stdout).
bool write_all(int fd, const void* p, size_t n);
// Reads up to n bytes at pos; returns the count (short only at end of file).
size_t pread_full(int fd, void* p, size_t n, uint64_t pos, const std::string& path);
// Size of an open file.
uint64_t file_size(int fd, const std::string& path);
// ftruncate, throwing Error(io).
void truncate_file(int fd, uint64_t size, const std::string& path);

// fdatasync: the data (and the size) of the file reach the disk.
void sync_data(int fd, const std::string& path);
// fsync of a directory, so that a file created, renamed or removed in it stays so
// after a power loss.
void sync_dir(const std::string& dir);

// Replaces `path` with `content` atomically: write a temporary file beside it, fsync
// it, rename it over `path`, fsync the directory. A crash leaves the old or the new
// content, never a mix.
void write_file_atomic(const std::string& path, std::string_view content);
// Reads a whole (small) file. Throws Error(not_found) if it does not exist.
std::string read_small_file(const std::string& path);

// mkdir; returns false if it already existed. Does not sync.
bool make_dir(const std::string& path);
// Names in a directory (no "." or ".."), unsorted. Throws Error(not_found) if the
// directory does not exist.
std::vector<std::string> list_dir(const std::string& path);
bool path_exists(const std::string& path);
// rename(2) then fsync of the directories involved.
void rename_path(const std::string& from, const std::string& to);
// Removes a file or a whole directory tree (like rm -rf); missing is fine.
void remove_tree(const std::string& path);

// An exclusive flock(2) on a lock file, released on destruction (or when the process
// dies: the kernel drops it, so a dead holder never blocks anyone).
class FileLock {
 public:
  FileLock() = default;
  // Opens (creating) the lock file; does not lock yet.
  explicit FileLock(const std::string& path);
  FileLock(FileLock&&) noexcept = default;
  FileLock& operator=(FileLock&&) noexcept = default;
  ~FileLock();

  // Takes the lock, waiting if `wait`; returns false only when !wait and it is held.
  bool lock(bool wait = true);
  void unlock();
  bool locked() const { return locked_; }
  bool fd_valid() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  Fd fd_;
  bool locked_ = false;
};

// Releases a held FileLock when it goes out of scope (the lock stays open for reuse).
// `lock` is borrowed and must outlive the guard.
class UnlockOnExit {
 public:
  explicit UnlockOnExit(FileLock& lock) : lock_(lock) {}
  ~UnlockOnExit() { lock_.unlock(); }
  UnlockOnExit(const UnlockOnExit&) = delete;
  UnlockOnExit& operator=(const UnlockOnExit&) = delete;

 private:
  FileLock& lock_;
};

}  // namespace pspf
