// file.cpp: paths beneath a confined data directory never lead outside it, temp
// files cannot be planted, small reads are bounded.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>

#include "pspf/error.h"
#include "pspf/file.h"
#include "pspf/segment_index.h"
#include "test_util.h"

using namespace pspf;

namespace {

// A confined data directory `data` and a directory `outside` with a file `victim`.
struct Setup {
  test::TempDir tmp;
  std::string data = tmp.path() + "/data";
  std::string outside = tmp.path() + "/outside";
  std::string victim = outside + "/victim";
  Setup() {
    make_dir(data);
    make_dir(outside);
    write_file_atomic(victim, "precious\n");
    confine_to(data);
  }
  void symlink(const std::string& target, const std::string& link) {
    REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
  }
};

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("a symlink beneath the data directory is refused, its target untouched") {
  Setup s;
  s.symlink(s.victim, s.data + "/seg.log");
  std::string want = s.data + "/seg.log is a symlink, not a regular file: refusing to use it";
  CHECK(message_of([&] { open_file(s.data + "/seg.log", O_RDWR | O_TRUNC); }) == want);
  CHECK(message_of([&] { open_file_if_exists(s.data + "/seg.log", O_RDONLY); }) == want);
  CHECK(message_of([&] { read_small_file(s.data + "/seg.log"); }) == want);
  CHECK(message_of([&] { FileLock l(s.data + "/seg.log"); }) == want);
  CHECK(read_small_file(s.victim) == "precious\n");
  // The symlink exists (it is not silently taken for a missing file) and can be removed.
  CHECK(path_exists(s.data + "/seg.log"));
  CHECK(remove_file(s.data + "/seg.log"));
  CHECK(read_small_file(s.victim) == "precious\n");
}

TEST_CASE("a symlinked directory on the way is refused for every operation") {
  Setup s;
  s.symlink(s.outside, s.data + "/topics");
  std::string want = s.data + "/topics is a symlink, not a directory: refusing to use it";
  CHECK(message_of([&] { open_file(s.data + "/topics/victim", O_RDWR); }) == want);
  CHECK(message_of([&] { open_file(s.data + "/topics/new", O_RDWR | O_CREAT); }) == want);
  CHECK(message_of([&] { write_file_atomic(s.data + "/topics/victim", "x"); }) == want);
  CHECK(message_of([&] { remove_file(s.data + "/topics/victim"); }) == want);
  CHECK(message_of([&] { remove_tree(s.data + "/topics/victim"); }) == want);
  CHECK(message_of([&] { make_dir(s.data + "/topics/d"); }) == want);
  CHECK(message_of([&] { make_dirs(s.data + "/topics/d/e"); }) == want);
  CHECK(message_of([&] { path_exists(s.data + "/topics/victim"); }) == want);
  CHECK(message_of([&] { rename_path(s.data + "/topics/victim", s.data + "/v"); }) == want);
  CHECK(message_of([&] { list_dir(s.data + "/topics"); }) ==
        s.data + "/topics is a symlink, not a directory: refusing to use it");
  CHECK(message_of([&] { make_dir(s.data + "/topics"); }) == want);
  CHECK(read_small_file(s.victim) == "precious\n");
  CHECK(list_dir(s.outside).size() == 1);
}

TEST_CASE("remove_tree removes a symlink inside the tree, not what it points to") {
  Setup s;
  make_dirs(s.data + "/tmp/t/0");
  s.symlink(s.outside, s.data + "/tmp/t/0/link");
  s.symlink(s.victim, s.data + "/tmp/t/file");
  remove_tree(s.data + "/tmp/t");
  CHECK_FALSE(path_exists(s.data + "/tmp/t"));
  CHECK(read_small_file(s.victim) == "precious\n");
}

TEST_CASE("outside any data directory, make_dirs and remove_tree work as mkdir -p and rm -rf") {
  Setup s;  // `outside` is not beneath the confined root
  std::string deep = s.outside + "/a/b//c/";
  make_dirs(deep);
  make_dirs(deep);  // again: nothing to do
  CHECK(list_dir(s.outside + "/a/b/c").empty());
  // A symlink on the way is followed, as mkdir -p does: the path is the user's.
  s.symlink(s.outside + "/a", s.outside + "/via");
  make_dirs(s.outside + "/via/b/d");
  CHECK(path_exists(s.outside + "/a/b/d"));
  CHECK(message_of([&] { make_dirs(s.victim + "/x"); }) ==
        "cannot create directory " + s.victim + "/x: Not a directory");
  CHECK(message_of([&] { make_dirs(s.victim); }) ==
        "cannot create directory " + s.victim + ": Not a directory");
  // remove_tree removes a symlink in the tree, and the tree given, not their targets.
  s.symlink(s.victim, s.outside + "/a/b/c/link");
  remove_tree(s.outside + "/via");
  CHECK(path_exists(s.outside + "/a/b/c/link"));
  remove_tree(s.outside + "/a");
  CHECK_FALSE(path_exists(s.outside + "/a"));
  remove_tree(s.outside + "/a");  // missing is fine
  CHECK(read_small_file(s.victim) == "precious\n");
}

TEST_CASE("a FIFO where a file belongs is refused at once, not waited on") {
  Setup s;
  std::string fifo = s.data + "/seg.log";
  REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
  auto start = std::chrono::steady_clock::now();
  std::string want = fifo + " is a FIFO, not a regular file: refusing to use it";
  CHECK(message_of([&] { open_file(fifo, O_RDONLY); }) == want);
  CHECK(message_of([&] { open_file(fifo, O_WRONLY); }) == want);  // no reader: ENXIO
  CHECK(message_of([&] { open_file(fifo, O_RDWR); }) == want);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("a directory where a file belongs, and a file where a directory belongs") {
  Setup s;
  make_dir(s.data + "/d");
  write_file_atomic(s.data + "/f", "x");
  CHECK(message_of([&] { open_file(s.data + "/d", O_RDONLY); }) ==
        s.data + "/d is a directory, not a regular file: refusing to use it");
  CHECK(message_of([&] { make_dir(s.data + "/f"); }) ==
        s.data + "/f is a regular file, not a directory: refusing to use it");
  CHECK(message_of([&] { open_file(s.data + "/f/x", O_RDONLY); }) ==
        s.data + "/f is a regular file, not a directory: refusing to use it");
}

TEST_CASE("write_file_atomic does not write through a planted temp name") {
  Setup s;
  std::string path = s.data + "/topic.json";
  // Every name the old scheme (PATH.tmp.PID) could have used in this process.
  s.symlink(s.victim, path + ".tmp." + std::to_string(::getpid()));
  write_file_atomic(path, "new\n");
  CHECK(read_small_file(path) == "new\n");
  CHECK(read_small_file(s.victim) == "precious\n");
  // Nothing is left but the file and the planted link.
  CHECK(list_dir(s.data).size() == 2);
  // The random part is 16 hex digits and differs between calls.
  std::string a = random_suffix(), b = random_suffix();
  CHECK(a.size() == 16);
  CHECK(a.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(a != b);
}

TEST_CASE("paths outside every confined directory are opened as given") {
  Setup s;
  std::string link = s.tmp.path() + "/input";
  s.symlink(s.victim, link);
  CHECK(read_small_file(link) == "precious\n");  // a user's input file may be a symlink
  // The data directory itself may be a symlink: the user chose it.
  std::string root_link = s.tmp.path() + "/data-link";
  s.symlink(s.data, root_link);
  confine_to(root_link);
  write_file_atomic(root_link + "/topic.json", "via link\n");
  CHECK(read_small_file(s.data + "/topic.json") == "via link\n");
}

TEST_CASE("read_small_file refuses a file larger than its bound without reading it") {
  Setup s;
  std::string path = s.data + "/topic.json";
  {
    Fd fd = open_file(path, O_RDWR | O_CREAT);
    truncate_file(fd.get(), 4ull << 30, path);  // 4 GiB, sparse
  }
  CHECK(
      message_of([&] { read_small_file(path); }) ==
      path +
          " is 4294967296 bytes, more than the 67108864 such a file can need: refusing to read it");
  write_file_atomic(path, "0123456789");
  CHECK(message_of([&] { read_small_file(path, 9); }) ==
        path + " is 10 bytes, more than the 9 such a file can need: refusing to read it");
  CHECK(read_small_file(path, 10) == "0123456789");
}

TEST_CASE("read_to_end reads from a position to the end, across chunks, within its bound") {
  Setup s;
  std::string path = s.data + "/offsets.log";
  std::string content;
  for (int i = 0; i < 200000; ++i) content += static_cast<char>('a' + i % 26);  // 3+ chunks
  write_file_atomic(path, content);
  Fd fd = open_file(path, O_RDONLY);
  CHECK(read_to_end(fd.get(), path) == content);
  CHECK(read_to_end(fd.get(), path, 70000) == content.substr(70000));
  CHECK(read_to_end(fd.get(), path, 70000, 65537) == content.substr(70000, 65537));
  CHECK(read_to_end(fd.get(), path, 200000).empty());
  CHECK(read_to_end(fd.get(), path, 300000).empty());
  // A descriptor that cannot be read gives the wording of every other read.
  Fd dir = open_file(s.data, O_RDONLY | O_DIRECTORY);
  CHECK(message_of([&] { read_to_end(dir.get(), s.data); }) ==
        "cannot read " + s.data + ": Is a directory");
}

TEST_CASE("read_to_end reads to the end whatever size the file reports") {
  Setup s;
  std::string path = s.data + "/f";
  // Sizes around the first read (the size plus one byte) and the 64 KB chunks after.
  for (size_t n : {size_t{0}, size_t{1}, size_t{319}, size_t{65535}, size_t{65536}, size_t{65537},
                   size_t{131073}}) {
    std::string content(n, 'x');
    for (size_t i = 0; i < n; i += 7) content[i] = static_cast<char>('a' + i % 26);
    write_file_atomic(path, content);
    Fd fd = open_file(path, O_RDONLY);
    CHECK(read_to_end(fd.get(), path) == content);
    CHECK(read_to_end(fd.get(), path, n / 2) == content.substr(n / 2));
    CHECK(read_to_end(fd.get(), path, 0, n / 3) == content.substr(0, n / 3));
  }
  // /proc files report a size of 0 and still have content.
  Fd proc = open_file("/proc/self/status", O_RDONLY);
  std::string status = read_to_end(proc.get(), "/proc/self/status");
  CHECK(status.rfind("Name:", 0) == 0);
  CHECK(status.find("\nPid:") != std::string::npos);
  CHECK(status.back() == '\n');
}

TEST_CASE("remove_tree_at_once takes the tree away under the temporary name, then removes it") {
  Setup s;
  make_dirs(s.data + "/topics/t/0");
  write_file_atomic(s.data + "/topics/t/0/00000000000000000000.log", "records");
  write_file_atomic(s.data + "/topics/t/topic.json", "{}");
  remove_tree_at_once(s.data + "/topics/t", s.data + "/tmp/deleting-1-2");
  CHECK_FALSE(path_exists(s.data + "/topics/t"));
  CHECK(list_dir(s.data + "/topics").empty());
  CHECK(list_dir(s.data + "/tmp").empty());  // made for it, and left empty
  CHECK(message_of([&] { remove_tree_at_once(s.data + "/topics/t", s.data + "/tmp/x"); }) ==
        s.data + "/topics/t: no such file or directory");
  // The tree never goes anywhere but where it was told: a symlink on the way is refused.
  s.symlink(s.outside, s.data + "/tmp/out");
  make_dirs(s.data + "/topics/u");
  CHECK(message_of([&] {
          remove_tree_at_once(s.data + "/topics/u", s.data + "/tmp/out/deleting-1-2");
        }) == s.data + "/tmp/out is a symlink, not a directory: refusing to use it");
  CHECK(path_exists(s.data + "/topics/u"));
  CHECK(read_small_file(s.victim) == "precious\n");
}

TEST_CASE("a huge sparse index is read only as far as its segment could need") {
  Setup s;
  std::string seg = s.data + "/00000000000000000000.log";
  std::string idx = s.data + "/00000000000000000000.index";
  std::string tidx = s.data + "/00000000000000000000.timeindex";
  write_file_atomic(seg, std::string(1000, 'x'));  // room for at most 17 batches
  for (const auto& p : {idx, tidx}) {
    Fd fd = open_file(p, O_RDWR | O_CREAT);
    truncate_file(fd.get(), 4ull << 30, p);
  }
  SegmentIndex index(s.data, Offset(0));
  // The zeros hold one valid entry each ({0, 0}); everything else is damage.
  CHECK(index.damaged_index_bytes() == (4ull << 30) - 8);
  CHECK(index.damaged_time_bytes() == (4ull << 30) - 12);
}
