// File: RAII file descriptors and the only place that writes, syncs, renames and
// locks. Every durable change to the data directory goes through these helpers so
// that the crash-safety rules (fsync data, fsync the directory after creating or
// renaming a file) live in one file.
//
// Confinement: a path beneath a data directory passed to confine_to() (Log does this)
// is resolved one component at a time from a descriptor of that directory, never
// following a symlink and never through "..", so that whoever can write into a
// shared data directory cannot make these helpers open, create, truncate, rename or
// remove anything outside it. Where a regular file belongs, a symlink, FIFO, socket
// or device is refused with an Error naming the path. Paths outside every confined
// directory (a user's input file, the data directory itself) are opened as given.
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

// From now on, paths beneath `root` are confined to it (see the file comment). `root`
// itself may be a symlink (the user chose it) and need not exist yet. Thread-safe.
void confine_to(const std::string& root);

// open(2) with O_CLOEXEC; throws Error(io) naming `path` on failure. Beneath a
// confined directory: no symlink anywhere below the root, and the opened file must be
// a regular file (a directory when `flags` has O_DIRECTORY), else Error(io) "PATH is
// a symlink, not a regular file: refusing to use it". A FIFO never blocks the open.
Fd open_file(const std::string& path, int flags, mode_t mode = 0644);
// Like open_file but returns an invalid Fd when the file (or its directory) does not
// exist.
Fd open_file_if_exists(const std::string& path, int flags);

// Writes all of [p, p+n) at `pos`; throws Error(io) naming `path`.
void pwrite_all(int fd, const void* p, size_t n, uint64_t pos, const std::string& path);
// Writes all of [p, p+n) at the current position (retrying short writes and EINTR).
// Returns false with errno set on failure (the caller decides: EPIPE is not an error
// for a tool's stdout).
bool write_all(int fd, const void* p, size_t n);
// Reads up to n bytes at pos; returns the count (short only at end of file).
size_t pread_full(int fd, void* p, size_t n, uint64_t pos, const std::string& path);
// The bytes of open file `fd` from `from` to its end, but no more than `max_bytes` of
// them (the caller decides whether a longer file is an error). The one loop that reads
// a whole file: read_small_file and every reader of a whole small file or tail use it.
// Throws Error(io) "cannot read PATH: why".
std::string read_to_end(int fd, const std::string& path, uint64_t from = 0,
                        uint64_t max_bytes = UINT64_MAX);
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
// content, never a mix. The temporary is "<path>.tmp.<16 random hex digits>", created
// with O_EXCL: nobody can plant a file or symlink under its name in advance.
void write_file_atomic(const std::string& path, std::string_view content);
// 16 hex digits from getrandom(2), for names nobody can guess in advance.
std::string random_suffix();
// Reads a whole small file. Throws Error(not_found) if it does not exist, and
// Error(corrupt) when it is larger than `max_bytes` (no metadata file of pspf can be:
// a huge or sparse file must not cost its size in memory).
inline constexpr uint64_t kMaxSmallFile = 64ull << 20;
std::string read_small_file(const std::string& path, uint64_t max_bytes = kMaxSmallFile);

// mkdir; returns false if it already existed (as a directory: a symlink or another
// kind of file there is refused when confined). Does not sync.
bool make_dir(const std::string& path);
// mkdir -p; does not sync. Beneath a confined root, no symlink is followed.
void make_dirs(const std::string& path);
// unlink(2); returns false when there was nothing to remove. Never follows a symlink.
bool remove_file(const std::string& path);
// The inode number of `path` (not following a final symlink), or 0 when missing.
uint64_t inode_of_path(const std::string& path);
// True when `path` no longer names the file open as `fd`: another process renamed a
// new file over it, or removed it (false when `fd` cannot be stat'ed). For readers of
// files that writers replace whole.
bool replaced_since_open(int fd, const std::string& path);
// Names in a directory (no "." or ".."), unsorted. Throws Error(not_found) if the
// directory does not exist.
std::vector<std::string> list_dir(const std::string& path);
// True when something (of any kind, a symlink too) is at `path`.
bool path_exists(const std::string& path);
// rename(2) then, when `sync`, fsync of the directories involved. Throws Error(exists)
// when `to` is a non-empty directory.
void rename_path(const std::string& from, const std::string& to, bool sync = true);
// Removes a file or a whole directory tree (like rm -rf); missing is fine.
void remove_tree(const std::string& path);
// Takes the tree at `path` away at once, then removes it: renames it to `away` (making
// away's directory when missing), syncing the directories so that it stays gone after
// a power loss, then remove_tree(away). A crash in between leaves the whole tree under
// `away`, never part of it at `path`. Throws Error(not_found) when `path` is missing;
// an error removing `away` says that `path` is removed and `away` is left.
void remove_tree_at_once(const std::string& path, const std::string& away);

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
