#include "pspf/hash_index.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>

#include <fmt/format.h>
#include <xxhash.h>

#include "pspf/error.h"
#include "pspf/le.h"

namespace pspf {
namespace {

constexpr uint32_t kMagic = 0x31485350;  // "PSH1"
constexpr uint64_t kHeaderBytes = 64;
constexpr uint64_t kSlotSalt = 0x9e3779b97f4a7c15ull;
std::atomic<uint64_t> g_hash_mask{~0ull};

uint64_t mix(uint64_t x) {
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 29;
  return x;
}

uint64_t slot_check(const KeyIndex::Slot& s) {
  return mix(s.hash ^ kSlotSalt) ^ mix(static_cast<uint64_t>(s.offset) + kSlotSalt) ^
         mix(static_cast<uint64_t>(s.aux) * 3 + 1);
}

// A stamp of the current boot: an index written before the machine crashed may have
// lost pages the log kept (or the reverse), so it is not trusted after a reboot.
uint64_t boot_stamp() {
  static const uint64_t stamp = [] {
    try {
      std::string id = read_small_file("/proc/sys/kernel/random/boot_id");
      return XXH3_64bits(id.data(), id.size());
    } catch (const Error&) {
      return uint64_t{1};
    }
  }();
  return stamp;
}

uint64_t inode_of(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_ino) : 0;
}

// Asks for the pages of `map` faulted in from now on to be 2 MB pages of the page
// cache, each mapped by one entry of the page table (on file systems with large folios,
// as ext4 has on Linux 6.18; elsewhere 4 KB pages, as before). Lookups land at random
// places in a table: in 4 KB pages nearly every one misses the TLB, and in a VM such a
// miss walks the guest's and the host's page tables, which a prefetch does not hide (an
// import of 1M events with --id-field took 1.30 times the time of one without; 1.15
// times with 2 MB pages). Only for a table that a writer populates whole (an import, a
// rebuild, a growth): MappedTable::write() keeps the writes of the others to the blocks
// they change. Call it before any page of the mapping is touched: after one 4 KB fault
// the kernel mapped none of the table in 2 MB pages.
void advise_huge_pages(char* map, uint64_t bytes) { ::madvise(map, bytes, MADV_HUGEPAGE); }

// posix_fallocate of [0, bytes): Error(io) "disk full" when the blocks cannot be had.
void allocate(int fd, uint64_t bytes, const std::string& path) {
  int err = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes));
  if (err == 0) return;
  if (err == ENOSPC || err == EDQUOT)
    throw Error(
        Errc::io,
        fmt::format("disk full: cannot allocate {} bytes for {} (free some space)", bytes, path));
  throw_errno("cannot allocate " + path, err);
}

}  // namespace

uint64_t MappedTable::hash(std::string_view s) {
  uint64_t h = XXH3_64bits(s.data(), s.size()) & g_hash_mask.load(std::memory_order_relaxed);
  return h == 0 ? 1 : h;
}

void MappedTable::set_hash_mask_for_tests(uint64_t mask) { g_hash_mask = mask; }

MappedTable::MappedTable(std::string path, Mapping m)
    : slots_(m.slots),
      path_(std::move(path)),
      tmp_(std::move(m.tmp)),
      fd_(std::move(m.fd)),
      map_(m.map),
      bytes_(m.bytes) {
  inode_ = inode_of(fd_.get());
  // The mapping keeps the file: a descriptor less per partition for a process that
  // writes to hundreds of them.
  fd_.reset();
  // A new table (a rebuild, a growth, a first import) is filled at random pages:
  // map them all, writable, in one call rather than taking two page faults per page
  // (a read fault, then a write fault) on the way. Not a table that exists, not yet:
  // a write fault marks its page dirty, so populating it writable made every process
  // that opened the table write all of it back to the disk (a 34 MB id index for
  // one appended event). Its pages are faulted in as lookups reach them, until
  // expect() or count_insert() sees an import.
  if (!tmp_.empty()) populate();
}

void MappedTable::populate() {
  populated_ = true;
  advise_huge_pages(map_, bytes_);
  // Only an optimisation: older kernels say EINVAL and fault as usual.
#ifdef MADV_POPULATE_WRITE
  ::madvise(map_, bytes_, MADV_POPULATE_WRITE);
#endif
}

MappedTable::~MappedTable() {
  ::munmap(map_, bytes_);
  try {
    if (!tmp_.empty()) remove_file(tmp_);  // never published: a rebuild cut short
  } catch (const Error&) {
    // A destructor must not throw; the next writer under the lock removes leftovers.
  }
}

std::optional<MappedTable::Mapping> MappedTable::map_existing(const std::string& path,
                                                              uint32_t kind, uint64_t slot_bytes,
                                                              bool power_of_two, bool read_only) {
  Fd fd = open_file_if_exists(path, read_only ? O_RDONLY : O_RDWR);
  if (!fd.valid()) return std::nullopt;
  char h[kHeaderBytes];
  if (pread_full(fd.get(), h, sizeof h, 0, path) != sizeof h) return std::nullopt;
  uint64_t slots = le::load<uint64_t>(h + 8);
  bool ok = le::load<uint32_t>(h) == kMagic && le::load<uint32_t>(h + 4) == kind &&
            le::load<uint64_t>(h + 56) == XXH3_64bits(h, 56) &&
            le::load<uint64_t>(h + 32) == boot_stamp() && slots >= 16 &&
            (!power_of_two || (slots & (slots - 1)) == 0) && slots <= (1ull << 34) &&
            file_size(fd.get(), path) == kHeaderBytes + slots * slot_bytes;
  if (!ok) return std::nullopt;
  Mapping m;
  m.bytes = kHeaderBytes + slots * slot_bytes;
  // A file with holes (written on a full disk by an older version, or planted) would
  // raise SIGBUS at the first store into one: make sure every block is there.
  // (A reader only: holes read as zeros, empty slots.)
  if (!read_only) allocate(fd.get(), m.bytes, path);
  void* map = ::mmap(nullptr, m.bytes, read_only ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED,
                     fd.get(), 0);
  if (map == MAP_FAILED) throw_errno("cannot map " + path);
  m.fd = std::move(fd);
  m.map = static_cast<char*>(map);
  m.slots = slots;
  return m;
}

MappedTable::Mapping MappedTable::map_new(const std::string& path, uint32_t kind,
                                          uint64_t slot_bytes, uint64_t capacity,
                                          int64_t covered_end, bool power_of_two) {
  uint64_t slots = std::max<uint64_t>(1024, capacity * 2);
  if (power_of_two) {
    slots = 1024;
    while (slots < capacity * 2) slots *= 2;
  }
  Mapping m;
  m.bytes = kHeaderBytes + slots * slot_bytes;
  m.slots = slots;
  // A name nobody can guess, created with O_EXCL: nothing planted can take its place.
  m.tmp = fmt::format("{}.new-{}", path, random_suffix());
  m.fd = open_file(m.tmp, O_RDWR | O_CREAT | O_EXCL, 0644);
  void* map = MAP_FAILED;
  try {
    truncate_file(m.fd.get(), m.bytes, m.tmp);  // empty slots are zeros
    // Allocate the blocks now, and fail here when the disk is full: a store into a
    // mapped page the file system cannot back kills the process with SIGBUS. (Also,
    // pages of a file whose blocks are allocated on writeback are flushed at every
    // journal commit, which a writer's fdatasync of the log triggers.)
    allocate(m.fd.get(), m.bytes, m.tmp);
    map = ::mmap(nullptr, m.bytes, PROT_READ | PROT_WRITE, MAP_SHARED, m.fd.get(), 0);
    if (map == MAP_FAILED) throw_errno("cannot map " + m.tmp);
    advise_huge_pages(static_cast<char*>(map), m.bytes);  // before the header's stores
  } catch (...) {
    remove_file(m.tmp);  // never published
    throw;
  }
  m.map = static_cast<char*>(map);
  le::store<uint32_t>(m.map, kMagic);
  le::store<uint32_t>(m.map + 4, kind);
  le::store<uint64_t>(m.map + 8, slots);
  le::store<uint64_t>(m.map + 16, 0);
  le::store<int64_t>(m.map + 24, covered_end);
  le::store<uint64_t>(m.map + 32, boot_stamp());
  le::store<uint64_t>(m.map + 56, XXH3_64bits(m.map, 56));
  return m;
}

void MappedTable::publish() {
  if (tmp_.empty()) return;
  try {
    // Not synced: the table is a cache, and one written before the last boot is rebuilt.
    rename_path(tmp_, path_, false);
  } catch (const Error&) {
    remove_file(tmp_);
    throw;
  }
  tmp_.clear();
}

bool MappedTable::replaced() const {
  if (le::load<uint64_t>(map_ + 56) != XXH3_64bits(map_, 56)) return true;
  return inode_of_path(path_) != inode_;
}

int64_t MappedTable::covered_end() const { return le::load<int64_t>(map_ + 24); }

std::optional<int64_t> MappedTable::sealed_covered_end() const {
  char h[56];
  std::memcpy(h, map_, sizeof h);
  std::atomic_thread_fence(std::memory_order_acquire);
  if (le::load<uint64_t>(map_ + 56) != XXH3_64bits(h, sizeof h)) return std::nullopt;
  return le::load<int64_t>(h + 24);
}

void MappedTable::set_covered_end(int64_t end) {
  write_header_u64(24, static_cast<uint64_t>(end));
  seal_header();
}

uint64_t MappedTable::used() const { return le::load<uint64_t>(map_ + 16); }

void MappedTable::expect(uint64_t n) {
  if (!populated_ && n >= bytes_ / 4096) populate();
}

void MappedTable::count_insert() {
  write_header_u64(16, used() + 1);
  if (!populated_ && ++inserts_ > bytes_ / (64 * 4096)) populate();
}

void MappedTable::seal_header() {
  write_header_u64(56, XXH3_64bits(map_, 56));
  writes_.reset();  // the end of an append's writes
}

void MappedTable::unseal_header() {
  uint64_t check = XXH3_64bits(map_, 56);
  if (le::load<uint64_t>(map_ + 56) != check) return;  // stale already
  write_header_u64(56, ~check);
  // Before any slot changes (the compiler must not move the stores that follow).
  std::atomic_thread_fence(std::memory_order_release);
}

void MappedTable::write(void* at, const void* bytes, size_t n) {
  if (!populated_ && open_for_writes()) {
    auto pos = static_cast<off_t>(static_cast<char*>(at) - map_);
    ssize_t w;
    do {
      w = ::pwrite(writes_.get(), bytes, n, pos);
    } while (w < 0 && errno == EINTR);
    if (w == static_cast<ssize_t>(n)) return;
    // (The page is in memory: the lookup before read it. Should the write still fail,
    // the store below does what every write did before.)
    writes_.reset();
  }
  std::memcpy(at, bytes, n);
}

void MappedTable::write_header_u64(uint64_t at, uint64_t value) {
  char b[8];
  le::store<uint64_t>(b, value);
  write(map_ + at, b, sizeof b);
}

bool MappedTable::open_for_writes() {
  if (writes_.valid()) return true;
  try {
    Fd fd = open_file(path_, O_RDWR);
    if (inode_of(fd.get()) != inode_) return false;  // replaced: not the file mapped
    writes_ = std::move(fd);
    return true;
  } catch (const Error&) {
    return false;
  }
}

// ------------------------------------------------------------------ KeyIndex

std::unique_ptr<KeyIndex> KeyIndex::open(const std::string& path, uint32_t kind, bool read_only) {
  auto m = map_existing(path, kind, sizeof(Slot), true, read_only);
  if (!m) return nullptr;
  return std::unique_ptr<KeyIndex>(new KeyIndex(path, std::move(*m)));
}

std::unique_ptr<KeyIndex> KeyIndex::create(const std::string& path, uint32_t kind,
                                           uint64_t capacity, int64_t covered_end) {
  return std::unique_ptr<KeyIndex>(
      new KeyIndex(path, map_new(path, kind, sizeof(Slot), capacity, covered_end, true)));
}

void KeyIndex::verify(const Slot& s, uint64_t i) const {
  if (s.check != slot_check(s)) throw IndexDamaged(fmt::format("{}: slot {} is damaged", path_, i));
}

void KeyIndex::insert(uint64_t h, int64_t offset, int64_t aux) {
  for (uint64_t i = h & (slots_ - 1);; i = (i + 1) & (slots_ - 1)) {
    Slot* s = slot(i);
    if (empty(*s)) {
      Slot n{h, offset, aux, 0};
      n.check = slot_check(n);
      write(s, &n, sizeof n);
      count_insert();
      return;
    }
  }
}

void KeyIndex::update(Slot* s, int64_t offset, int64_t aux) {
  // The header first: the slot will count records past the covered end until
  // set_covered_end() moves it, and a process that dies in between must leave a table
  // the next writer rebuilds, not one whose catch-up counts those records again.
  unseal_header();
  Slot n{s->hash, offset, aux, 0};
  n.check = slot_check(n);
  write(&s->offset, &n.offset, sizeof n.offset);
  // The offset first: a reader without the lock reads aux, then offset, and takes a
  // slot whose offset reaches past the covered end it read as being updated.
  std::atomic_thread_fence(std::memory_order_release);
  static_assert(offsetof(Slot, check) == offsetof(Slot, aux) + sizeof n.aux);
  write(&s->aux, &n.aux, sizeof n.aux + sizeof n.check);
}

// --------------------------------------------------------------------- IdIndex

namespace {
// Kinds 1, 3 and 4 were earlier forms of the id index (4: slots without a check); a
// file of an earlier kind is rebuilt.
constexpr uint32_t kIdKind = 5;
}  // namespace

std::unique_ptr<IdIndex> IdIndex::open(const std::string& path) {
  auto m = map_existing(path, kIdKind, sizeof(Slot), false);
  if (!m) return nullptr;
  return std::unique_ptr<IdIndex>(new IdIndex(path, std::move(*m)));
}

std::unique_ptr<IdIndex> IdIndex::create(const std::string& path, uint64_t capacity,
                                         int64_t covered_end) {
  return std::unique_ptr<IdIndex>(
      new IdIndex(path, map_new(path, kIdKind, sizeof(Slot), capacity, covered_end, false)));
}

uint64_t IdIndex::check(uint64_t k, int64_t offset) {
  return mix(mix(k ^ kSlotSalt) + static_cast<uint64_t>(offset)) >> 48;
}

void IdIndex::verify(const Slot& s, uint64_t i) const {
  if ((s.hash & ~kKeyBits) != check(s.hash & kKeyBits, s.offset))
    throw IndexDamaged(fmt::format("{}: slot {} is damaged", path_, i));
}

void IdIndex::insert_at(Slot* empty, uint64_t h, int64_t offset) {
  uint64_t k = key(h);
  Slot n{k | check(k, offset), offset};
  write(empty, &n, sizeof n);
  count_insert();
}

void IdIndex::insert(uint64_t h, int64_t offset) {
  for (uint64_t i = place(key(h));; i = next(i)) {
    Slot* s = slot(i);
    if (s->hash == 0) return insert_at(s, h, offset);
  }
}

void IdIndex::damaged() const {
  throw IndexDamaged("the id index has a probe sequence that never ends");
}

}  // namespace pspf
