#include "pspf/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <utility>

#include "pspf/error.h"

namespace pspf {

Fd::~Fd() { reset(); }

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    reset();
    fd_ = o.release();
  }
  return *this;
}

void Fd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

namespace {

// The confined roots, without trailing slashes. Only grows: a process uses one or two.
std::mutex g_roots_mu;
std::vector<std::string> g_roots;

const char* kind_of(mode_t m) {
  if (S_ISREG(m)) return "a regular file";
  if (S_ISDIR(m)) return "a directory";
  if (S_ISLNK(m)) return "a symlink";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  return "a special file";
}

[[noreturn]] void refuse(const std::string& path, mode_t m, const char* wanted) {
  throw Error(Errc::io, path + " is " + kind_of(m) + ", not " + wanted + ": refusing to use it");
}

// Error(io) for a failed open of `path`; running out of descriptors says what to do.
[[noreturn]] void throw_open(const std::string& path, int err) {
  if (err == EMFILE || err == ENFILE)
    throw Error(Errc::io, "cannot open " + path + ": " + std::strerror(err) +
                              " (raise the limit on open files: ulimit -n)");
  throw_errno("cannot open " + path, err);
}

// Throws unless `m` is what open flags `flags` expect: a directory for O_DIRECTORY, a
// regular file otherwise.
void check_kind(const std::string& path, mode_t m, int flags) {
  bool dir = (flags & O_DIRECTORY) != 0;
  if (dir ? !S_ISDIR(m) : !S_ISREG(m)) refuse(path, m, dir ? "a directory" : "a regular file");
}

// Where the last component of a path lives: a directory fd (AT_FDCWD when the path is
// not confined, with `name` the whole path) and the name in it.
struct Place {
  Fd owner;
  int dirfd = AT_FDCWD;
  std::string name;
  std::string path;  // as given, for messages
  bool confined = false;
  bool missing = false;  // a directory on the way does not exist
};

// The root `path` is confined to and the path relative to it; nullopt when it is not
// beneath any root (or is a root, or the parent of one: "DIR/..").
std::optional<std::pair<std::string, std::string>> split_confined(const std::string& path) {
  std::lock_guard<std::mutex> g(g_roots_mu);
  const std::string* best = nullptr;
  for (const auto& r : g_roots) {
    if (path.size() > r.size() && path.compare(0, r.size(), r) == 0 && path[r.size()] == '/' &&
        (!best || r.size() > best->size()))
      best = &r;
  }
  if (!best) return std::nullopt;
  std::string rel = path.substr(best->size());
  while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
  while (!rel.empty() && rel.back() == '/') rel.pop_back();
  if (rel.empty() || rel == "..") return std::nullopt;
  return std::make_pair(*best, rel);
}

// openat2(2) of directory `rel` beneath `root_fd` with RESOLVE_BENEATH and
// RESOLVE_NO_SYMLINKS: one call for the whole walk. Returns the fd, or -1 with errno
// (ENOSYS/EPERM where the kernel or a seccomp filter refuses openat2).
int open_beneath(int root_fd, const std::string& rel) {
  static std::atomic<bool> unsupported{false};
  if (unsupported.load(std::memory_order_relaxed)) {
    errno = ENOSYS;
    return -1;
  }
  struct open_how how {};
  how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd;
  do {
    fd = ::syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof how);
  } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
  if (fd < 0 && (errno == ENOSYS || errno == EPERM)) unsupported = true;
  return static_cast<int>(fd);
}

// Resolves all but the last component of `path`. Beneath a confined root, from a
// descriptor of the root, no symlink and no ".." is followed (openat2, else a walk one
// directory at a time with O_NOFOLLOW): a symlink (or anything but a directory) on the
// way is refused, so nothing planted in the data directory can lead outside it. On a
// refusal the walk runs to name the culprit.
Place locate(const std::string& path) {
  Place pl;
  pl.path = path;
  auto c = split_confined(path);
  if (!c) {
    pl.name = path;
    return pl;
  }
  const auto& [root, rel] = *c;
  pl.confined = true;
  // The root itself is followed if it is a symlink: the user chose it.
  int rfd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rfd < 0) {
    if (errno == ENOENT) {
      pl.missing = true;
      return pl;
    }
    throw_open(root, errno);
  }
  Fd dir(rfd);
  if (auto slash = rel.rfind('/');
      slash != std::string::npos && rel.find("..") == std::string::npos) {
    int fd = open_beneath(dir.get(), rel.substr(0, slash));
    if (fd >= 0) {
      pl.owner = Fd(fd);
      pl.dirfd = fd;
      pl.name = rel.substr(slash + 1);
      return pl;
    }
    if (errno == ENOENT) {
      pl.missing = true;
      return pl;
    }
    // Anything else (a symlink, a file where a directory belongs, no openat2): the walk
    // below finds it and says what it is.
  }
  std::string walked = root;
  size_t start = 0;
  for (;;) {
    size_t slash = rel.find('/', start);
    std::string comp =
        rel.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (comp == "..")
      throw Error(Errc::io, path + ": '..' leads out of the data directory: refusing to use it");
    if (slash == std::string::npos) {
      pl.name = comp;
      break;
    }
    start = slash + 1;
    if (comp.empty() || comp == ".") continue;
    walked += "/" + comp;
    int fd = ::openat(dir.get(), comp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (err == ENOENT) {
        pl.missing = true;
        return pl;
      }
      struct stat st;
      if ((err == ELOOP || err == ENOTDIR) &&
          ::fstatat(dir.get(), comp.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
        refuse(walked, st.st_mode, "a directory");
      throw_open(walked, err);
    }
    dir = Fd(fd);
  }
  pl.owner = std::move(dir);
  pl.dirfd = pl.owner.get();
  return pl;
}

// openat(2) of `name` in `dirfd`; see open_file. Returns an invalid Fd for a missing
// file when `if_exists`.
Fd open_in(int dirfd, const std::string& name, const std::string& path, bool confined, int flags,
           mode_t mode, bool if_exists) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
  int extra = confined ? O_NOFOLLOW | O_NONBLOCK : 0;
  int fd;
  do {
    fd = ::openat(dirfd, name.c_str(), flags | extra | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) {
      if (if_exists) return Fd();
      throw Error(Errc::not_found, path + ": no such file or directory");
    }
    struct stat st;
    if (confined && ::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
      check_kind(path, st.st_mode, flags);
    throw_open(path, err);
  }
  Fd out(fd);
  if (confined) {
    struct stat st;
    if (::fstat(fd, &st) != 0) throw_errno("cannot stat " + path);
    check_kind(path, st.st_mode, flags);
    // O_NONBLOCK stays set: reads and writes of a regular file ignore it.
  }
  return out;
}

Fd open_place(const std::string& path, int flags, mode_t mode, bool if_exists) {
  Place pl = locate(path);
  if (pl.missing) {
    if (if_exists) return Fd();
    throw Error(Errc::not_found, path + ": no such file or directory");
  }
  return open_in(pl.dirfd, pl.name, path, pl.confined, flags, mode, if_exists);
}

std::string parent_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// The one renameat(2) of pspf: `from_name` in `from_dir` to `to_name` in `to_dir`
// (`from` and `to` are the paths, for messages). Syncs nothing: the callers do, by
// their rule. Throws Error(exists) when `to` is a non-empty directory.
void rename_places(int from_dir, const std::string& from_name, int to_dir,
                   const std::string& to_name, const std::string& from, const std::string& to) {
  if (::renameat(from_dir, from_name.c_str(), to_dir, to_name.c_str()) == 0) return;
  if (errno == EEXIST || errno == ENOTEMPTY)
    throw Error(Errc::exists, "cannot rename " + from + " to " + to + ": " + to + " exists");
  throw_errno("cannot rename " + from + " to " + to);
}

// fsync of the directory holding `pl`'s name.
void sync_place_dir(const Place& pl) {
  if (!pl.confined) return sync_dir(parent_of(pl.path));
  while (::fsync(pl.dirfd) != 0) {
    if (errno != EINTR) throw_errno("cannot sync directory " + parent_of(pl.path));
  }
}

}  // namespace

void confine_to(const std::string& root) {
  std::string r = root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  std::lock_guard<std::mutex> g(g_roots_mu);
  if (std::find(g_roots.begin(), g_roots.end(), r) == g_roots.end()) g_roots.push_back(r);
}

Fd open_file(const std::string& path, int flags, mode_t mode) {
  return open_place(path, flags, mode, false);
}

Fd open_file_if_exists(const std::string& path, int flags) {
  return open_place(path, flags, 0, true);
}

void pwrite_all(int fd, const void* p, size_t n, uint64_t pos, const std::string& path) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = ::pwrite(fd, c, n, static_cast<off_t>(pos));
    if (w < 0) {
      if (errno == EINTR) continue;
      throw_errno("cannot write " + path);
    }
    c += w;
    n -= static_cast<size_t>(w);
    pos += static_cast<uint64_t>(w);
  }
}

bool write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = ::write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    c += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

size_t pread_full(int fd, void* p, size_t n, uint64_t pos, const std::string& path) {
  char* c = static_cast<char*>(p);
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, c + got, n - got, static_cast<off_t>(pos + got));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw_errno("cannot read " + path);
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

uint64_t file_size(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) throw_errno("cannot stat " + path);
  return static_cast<uint64_t>(st.st_size);
}

void truncate_file(int fd, uint64_t size, const std::string& path) {
  while (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    if (errno != EINTR) throw_errno("cannot truncate " + path);
  }
}

void sync_data(int fd, const std::string& path) {
  while (::fdatasync(fd) != 0) {
    if (errno != EINTR) throw_errno("cannot sync " + path);
  }
}

void sync_dir(const std::string& dir) {
  Fd fd = open_file(dir, O_RDONLY | O_DIRECTORY);
  while (::fsync(fd.get()) != 0) {
    if (errno != EINTR) throw_errno("cannot sync directory " + dir);
  }
}

std::string random_suffix() {
  uint64_t r = 0;
  for (;;) {
    ssize_t n = ::getrandom(&r, sizeof r, 0);
    if (n == static_cast<ssize_t>(sizeof r)) break;
    if (n < 0 && errno != EINTR) throw_errno("cannot get random bytes");
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(r));
  return buf;
}

void write_file_atomic(const std::string& path, std::string_view content) {
  Place pl = locate(path);
  if (pl.missing) throw Error(Errc::not_found, "cannot write " + path + ": no such directory");
  // A name nobody can guess, created with O_EXCL (and never through a symlink): a file
  // planted under a predictable name could otherwise redirect this write anywhere.
  std::string suffix = ".tmp." + random_suffix();
  std::string tmp = path + suffix, tmp_name = pl.name + suffix;
  Fd fd = open_in(pl.dirfd, tmp_name, tmp, pl.confined, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
                  0644, false);
  try {
    pwrite_all(fd.get(), content.data(), content.size(), 0, tmp);
    // The content must be on disk before the rename makes it visible under `path`.
    sync_data(fd.get(), tmp);
    rename_places(pl.dirfd, tmp_name, pl.dirfd, pl.name, tmp, path);
  } catch (...) {
    ::unlinkat(pl.dirfd, tmp_name.c_str(), 0);
    throw;
  }
  // The rename itself lives in the directory: sync it so it survives power loss.
  sync_place_dir(pl);
}

std::string read_small_file(const std::string& path, uint64_t max_bytes) {
  Fd fd = open_file(path, O_RDONLY);
  auto too_big = [&](uint64_t n) {
    return Error(Errc::corrupt, path + " is " + std::to_string(n) + " bytes, more than the " +
                                    std::to_string(max_bytes) +
                                    " such a file can need: refusing to read it");
  };
  if (uint64_t size = file_size(fd.get(), path); size > max_bytes) throw too_big(size);
  // The size above may be 0 (/proc) or the file may grow: bound the read itself too.
  std::string out =
      read_to_end(fd.get(), path, 0, max_bytes == UINT64_MAX ? max_bytes : max_bytes + 1);
  if (out.size() > max_bytes) throw too_big(out.size());
  return out;
}

std::string read_to_end(int fd, const std::string& path, uint64_t from, uint64_t max_bytes) {
  constexpr size_t kChunk = 65536;
  // The size is a hint only (0 for /proc files; the file may grow): read until a short
  // read says the end is reached. The first read asks for the size left plus one byte,
  // so that a file that did not grow ends in one call; and the string is zeroed only
  // that far: zeroing a 64 KB chunk for a 300-byte topic.json cost every process 16
  // page faults (about 10 us each on a virtual machine).
  uint64_t size = file_size(fd, path);
  uint64_t left = size > from ? size - from : 0;
  std::string out;
  out.reserve(static_cast<size_t>(std::min(left, max_bytes)));
  while (out.size() < max_bytes) {
    size_t want = static_cast<size_t>(
        std::min<uint64_t>(out.empty() ? left + 1 : kChunk, max_bytes - out.size()));
    size_t have = out.size();
    out.resize(have + want);
    size_t n = pread_full(fd, out.data() + have, want, from + have, path);
    out.resize(have + n);
    if (n < want) break;
  }
  return out;
}

bool make_dir(const std::string& path) {
  Place pl = locate(path);
  if (pl.missing) throw_errno("cannot create directory " + path, ENOENT);
  if (::mkdirat(pl.dirfd, pl.name.c_str(), 0755) == 0) return true;
  if (errno != EEXIST) throw_errno("cannot create directory " + path);
  struct stat st;
  if (pl.confined && ::fstatat(pl.dirfd, pl.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      !S_ISDIR(st.st_mode))
    refuse(path, st.st_mode, "a directory");
  return false;
}

void make_dirs(const std::string& path) {
  auto c = split_confined(path);
  if (!c) {
    // Outside any data directory the path is the user's own: like mkdir -p, each
    // directory on the way is made, and symlinks on the way are followed.
    for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
      std::string part = path.substr(0, slash);
      if (part.back() != '/' && ::mkdir(part.c_str(), 0777) != 0 && errno != EEXIST)
        throw_errno("cannot create directory " + part);
      if (slash == std::string::npos) break;
    }
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) throw_errno("cannot create directory " + path);
    if (!S_ISDIR(st.st_mode)) throw_errno("cannot create directory " + path, ENOTDIR);
    return;
  }
  make_dirs(c->first);  // the root: not confined to itself
  // Then each component beneath it, each made (or checked) without following symlinks.
  for (size_t slash = 0;; ++slash) {
    slash = c->second.find('/', slash);
    make_dir(c->first + "/" + c->second.substr(0, slash));
    if (slash == std::string::npos) break;
  }
}

std::vector<std::string> list_dir(const std::string& path) {
  Fd fd = open_file_if_exists(path, O_RDONLY | O_DIRECTORY);
  if (!fd.valid()) throw Error(Errc::not_found, path + ": no such directory");
  DIR* d = ::fdopendir(fd.get());
  if (!d) throw_errno("cannot list " + path);
  fd.release();  // closedir closes it
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    names.emplace_back(n);
  }
  ::closedir(d);
  return names;
}

namespace {
// fstatat of `path`; beneath a confined root a final symlink is not followed. False
// when nothing is there.
bool stat_path(const std::string& path, struct stat& st) {
  Place pl = locate(path);
  if (pl.missing) return false;
  return ::fstatat(pl.dirfd, pl.name.c_str(), &st, pl.confined ? AT_SYMLINK_NOFOLLOW : 0) == 0;
}
}  // namespace

bool path_exists(const std::string& path) {
  struct stat st;
  return stat_path(path, st);
}

uint64_t inode_of_path(const std::string& path) {
  struct stat st;
  return stat_path(path, st) ? static_cast<uint64_t>(st.st_ino) : 0;
}

bool replaced_since_open(int fd, const std::string& path) {
  struct stat st;
  return ::fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_ino) != inode_of_path(path);
}

bool remove_file(const std::string& path) {
  Place pl = locate(path);
  if (pl.missing) return false;
  if (::unlinkat(pl.dirfd, pl.name.c_str(), 0) == 0) return true;
  if (errno == ENOENT) return false;
  throw_errno("cannot remove " + path);
}

void rename_path(const std::string& from, const std::string& to, bool sync) {
  Place a = locate(from), b = locate(to);
  if (a.missing || b.missing) throw_errno("cannot rename " + from + " to " + to, ENOENT);
  rename_places(a.dirfd, a.name, b.dirfd, b.name, from, to);
  if (!sync) return;
  sync_place_dir(b);
  if (parent_of(to) != parent_of(from)) sync_place_dir(a);
}

namespace {
// Removes `name` in `dirfd` and, for a directory, everything in it, never following a
// symlink (a symlink is removed, not its target).
void remove_in(int dirfd, const std::string& name, const std::string& path) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return;
    throw_errno("cannot remove " + path);
  }
  if (S_ISDIR(st.st_mode)) {
    int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) throw_errno("cannot remove " + path);
    DIR* d = ::fdopendir(fd);
    if (!d) {
      int err = errno;
      ::close(fd);
      throw_errno("cannot remove " + path, err);
    }
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string_view n = e->d_name;
      if (n != "." && n != "..") names.emplace_back(n);
    }
    try {
      for (const auto& n : names) remove_in(::dirfd(d), n, path + "/" + n);
    } catch (...) {
      ::closedir(d);
      throw;
    }
    ::closedir(d);
  }
  if (::unlinkat(dirfd, name.c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0 &&
      errno != ENOENT)
    throw_errno("cannot remove " + path);
}
}  // namespace

void remove_tree(const std::string& path) {
  Place pl = locate(path);
  if (pl.missing) return;
  remove_in(pl.dirfd, pl.name, path);  // (AT_FDCWD and the path, when not confined)
}

void remove_tree_at_once(const std::string& path, const std::string& away) {
  if (!path_exists(path)) throw Error(Errc::not_found, path + ": no such file or directory");
  // A directory made for the temporaries must itself survive, or the rename below
  // could be lost with it.
  if (std::string dir = parent_of(away); make_dir(dir)) sync_dir(parent_of(dir));
  rename_path(path, away);
  try {
    remove_tree(away);
  } catch (const Error& e) {
    // The tree is gone from `path` already: say so, or a re-run would be told that
    // it does not exist with nothing to explain it.
    throw Error(e.code(), path + " is removed (moved to " + away +
                              " first), but its files there could not all be deleted: " + e.what() +
                              "; delete " + away + " by hand");
  }
}

FileLock::FileLock(const std::string& path)
    : path_(path), fd_(open_file(path, O_RDWR | O_CREAT, 0644)) {}

FileLock::~FileLock() { unlock(); }

bool FileLock::lock(bool wait) {
  if (locked_) return true;
  for (;;) {
    if (::flock(fd_.get(), LOCK_EX | (wait ? 0 : LOCK_NB)) == 0) {
      locked_ = true;
      return true;
    }
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK && !wait) return false;
    throw_errno("cannot lock " + path_);
  }
}

void FileLock::unlock() {
  if (locked_ && fd_.valid()) ::flock(fd_.get(), LOCK_UN);
  locked_ = false;
}

}  // namespace pspf
