#include "pspf/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

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

Fd open_file(const std::string& path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    if (errno == ENOENT) throw Error(Errc::not_found, path + ": no such file or directory");
    throw_errno("cannot open " + path);
  }
  return Fd(fd);
}

Fd open_file_if_exists(const std::string& path, int flags) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    if (errno == ENOENT) return Fd();
    throw_errno("cannot open " + path);
  }
  return Fd(fd);
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

static std::string parent_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

void write_file_atomic(const std::string& path, std::string_view content) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    Fd fd = open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pwrite_all(fd.get(), content.data(), content.size(), 0, tmp);
    // The content must be on disk before the rename makes it visible under `path`.
    sync_data(fd.get(), tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw_errno("cannot rename " + tmp + " to " + path, err);
  }
  // The rename itself lives in the directory: sync it so it survives power loss.
  sync_dir(parent_of(path));
}

std::string read_small_file(const std::string& path) {
  Fd fd = open_file(path, O_RDONLY);
  std::string out;
  char buf[65536];
  uint64_t pos = 0;
  for (;;) {
    size_t n = pread_full(fd.get(), buf, sizeof buf, pos, path);
    out.append(buf, n);
    pos += n;
    if (n < sizeof buf) break;
  }
  return out;
}

bool make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0) return true;
  if (errno == EEXIST) return false;
  throw_errno("cannot create directory " + path);
}

std::vector<std::string> list_dir(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (!d) {
    if (errno == ENOENT) throw Error(Errc::not_found, path + ": no such directory");
    throw_errno("cannot list " + path);
  }
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    names.emplace_back(n);
  }
  ::closedir(d);
  return names;
}

bool path_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

void rename_path(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) throw_errno("cannot rename " + from + " to " + to);
  sync_dir(parent_of(to));
  if (parent_of(to) != parent_of(from)) sync_dir(parent_of(from));
}

void remove_tree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) throw Error(Errc::io, "cannot remove " + path + ": " + ec.message());
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
