// MappedTable, KeyIndex, IdIndex: open-addressing hash tables in memory-mapped
// files, the on-disk form of a partition's key index (KeyIndex, 32-byte slots,
// described here) and id index (IdIndex, 16-byte slots, below) (pspf-log(5)). It is a cache of the
// log: every slot says "a record whose id (or key) hashes to `hash` is at `offset`", and the caller
// confirms a match against the record in the log, so a hash collision never makes two ids one. The
// file is mapped, not read: a lookup touches one or two pages, and the kernel, not the process,
// decides how much of it stays in memory.
//
// Layout: a 64-byte header, then slot_count slots of 32 bytes.
//   header: 0 u32 magic "PSH1"  4 u32 kind  8 u64 slot_count  16 u64 used
//           24 i64 covered_end (the log below this offset is in the index)
//           32 u64 boot (hash of the boot id when last written)  40..56 reserved
//           56 u64 XXH3-64 of bytes 0..56
//   slot:   0 u64 hash (0: empty)  8 i64 offset  16 i64 aux  24 u64 check
// `aux` is the key's version. A slot's check is derived from its other fields, so damage in a slot
// a lookup passes is noticed (Error(corrupt)) and the owner rebuilds the file from the log.
//
// Writers hold the partition lock; the file is never synced. A process crash loses
// nothing (the pages live in the kernel), and after a machine crash the boot stamp no
// longer matches and the index is rebuilt. A change to the slots is made between
// unseal_header() (or the count of count_insert()) and seal_header(): a writer that
// dies in between leaves a header that fails its check, and the next one rebuilds.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "pspf/error.h"
#include "pspf/file.h"

namespace pspf {

// A damaged index: the owner rebuilds it from the log (never shown to a user).
struct IndexDamaged : Error {
  explicit IndexDamaged(const std::string& what) : Error(Errc::corrupt, what) {}
};

// The mapped file and its header, shared by the two kinds of table.
class MappedTable {
 public:
  ~MappedTable();
  MappedTable(const MappedTable&) = delete;
  MappedTable& operator=(const MappedTable&) = delete;

  // The hash stored for a string: never 0 (0 marks an empty slot).
  static uint64_t hash(std::string_view s);
  // Test hook: keep only these bits of every hash (0 makes every string collide).
  static void set_hash_mask_for_tests(uint64_t mask);

  // Puts a table made by create() in place of its path once it is filled.
  void publish();
  // True when another process replaced the file (it grew or was rebuilt) or damaged
  // its header since it was opened: reopen it.
  bool replaced() const;

  int64_t covered_end() const;
  // covered_end() as of a header whose check holds (a writer may be changing the
  // header of a table open read-only): nullopt while the header is being rewritten.
  std::optional<int64_t> sealed_covered_end() const;
  void set_covered_end(int64_t end);
  uint64_t used() const;
  uint64_t slot_count() const { return slots_; }
  // True when one more entry would fill the table past half.
  bool full() const { return (used() + 1) * 2 > slots_; }
  // Says that about `n` inserts or lookups are coming (an import of a file of that
  // many records; a re-run of one too, all duplicates: a file tells only its size):
  // at one per page of the table or more, every page is mapped writable now, in one
  // call (see count_insert()).
  void expect(uint64_t n);
  // insert() and update() leave the header check stale (a crash in between shows as
  // a damaged header, so the index is rebuilt); this makes it valid again.
  void seal_header();

 protected:
  struct Mapping {
    Fd fd;
    char* map = nullptr;
    uint64_t bytes = 0, slots = 0;
    std::string tmp;
  };
  // Maps `path`, or returns nothing when it is missing, damaged in its header, of
  // another kind or size, or written before the machine last booted.
  // With `read_only`, the file is opened and mapped for reading only (for a reader
  // that takes no lock: it must not change anything, and it never writes a slot).
  static std::optional<Mapping> map_existing(const std::string& path, uint32_t kind,
                                             uint64_t slot_bytes, bool power_of_two,
                                             bool read_only = false);
  // Creates an empty table for `capacity` entries under a temporary name: twice
  // as many slots, rounded up to a power of two if asked.
  static Mapping map_new(const std::string& path, uint32_t kind, uint64_t slot_bytes,
                         uint64_t capacity, int64_t covered_end, bool power_of_two);
  MappedTable(std::string path, Mapping m);
  char* slot_area() const { return map_ + 64; }
  // Every change to the file goes through here. A table populated (below) takes it
  // as a store into the mapping: its pages are all dirty already. Any other goes to
  // the file with pwrite(2), opened again for the purpose until seal_header() ends the
  // append. A page of the cache is marked dirty whole, and an import leaves the table
  // in 2 MB pages (populate()): one store into such a page had it written back whole,
  // where ext4 writes back only the blocks that a write(2) changed. So a process that
  // appends one event writes back a few KB of the table, not 2 MB for the slot and 2 MB
  // for the header (20 single appends after an import: 264 KB against 26.8 MB).
  void write(void* at, const void* bytes, size_t n);
  // Makes the header's check fail until seal_header(), unless it fails already: the
  // first step of a change that count_insert() does not mark (KeyIndex::update()).
  void unseal_header();
  // Counts an entry in the header. A table that exists is mapped writable all at once
  // (as a new one is from the start) when this process has inserted into it one entry
  // for every 64 of its pages: the inserts of an import reach every page, and
  // faulting them in one by one took 1.7 times as long for 20,000 ids into an index
  // of 1M (read, then write fault per page). A few inserts (one event a process), or
  // only lookups, leave the other pages unmapped and clean.
  void count_insert();

  uint64_t slots_;
  std::string path_;

 private:
  void populate();
  // write() of a little-endian u64 at byte `at` of the header.
  void write_header_u64(uint64_t at, uint64_t value);
  // Opens writes_ unless open; false when the path is no longer the file mapped.
  bool open_for_writes();

  std::string tmp_;         // the name it has until publish()
  uint64_t inserts_ = 0;    // by this process, until populated_
  bool populated_ = false;  // every page mapped writable
  Fd fd_;
  Fd writes_;  // see write()
  char* map_;
  uint64_t bytes_;
  uint64_t inode_ = 0;
};

// The key index: 32-byte slots with the key's latest offset and version.
class KeyIndex : public MappedTable {
 public:
  struct Slot {
    uint64_t hash;
    int64_t offset;
    int64_t aux;
    uint64_t check;
  };

  // `read_only`: see map_existing(); insert() and update() must not be called then.
  static std::unique_ptr<KeyIndex> open(const std::string& path, uint32_t kind,
                                        bool read_only = false);
  static std::unique_ptr<KeyIndex> create(const std::string& path, uint32_t kind, uint64_t capacity,
                                          int64_t covered_end);

  // Calls `f(slot)` for each occupied slot whose hash is `h`, in probe order, until
  // it returns true; returns that slot, or nullptr. Throws IndexDamaged when a slot
  // passed on the way fails its check.
  template <typename F>
  Slot* find(uint64_t h, F&& f) {
    for (uint64_t i = h & (slots_ - 1);; i = (i + 1) & (slots_ - 1)) {
      Slot* s = slot(i);
      if (empty(*s)) return nullptr;
      verify(*s, i);
      if (s->hash == h && f(*s)) return s;
    }
  }
  // Puts an entry in the first empty slot of h's probe sequence (the caller has made
  // sure the table is not full().)
  void insert(uint64_t h, int64_t offset, int64_t aux);
  // Rewrites a slot found by find().
  void update(Slot* s, int64_t offset, int64_t aux);
  // Calls f(slot) for every occupied slot (damaged slots throw IndexDamaged).
  template <typename F>
  void for_each(F&& f) {
    for (uint64_t i = 0; i < slots_; ++i) {
      Slot* s = slot(i);
      if (empty(*s)) continue;
      verify(*s, i);
      f(*s);
    }
  }

 private:
  using MappedTable::MappedTable;
  Slot* slot(uint64_t i) { return reinterpret_cast<Slot*>(slot_area()) + i; }
  // All zero: a slot never used (a used one has a nonzero hash, and a damaged one
  // that lost it fails verify()).
  static bool empty(const Slot& s) {
    return s.hash == 0 && s.offset == 0 && s.aux == 0 && s.check == 0;
  }
  void verify(const Slot& s, uint64_t i) const;
};

// The id index: 16-byte slots (the id's hash, the record's offset), half of what a
// key slot takes, in a table of any size (sized up front when the caller knows
// how many ids are coming: growing costs a copy and fresh pages).
// Whether an entry is still in the dedup window is decided by its offset (the
// caller turns a time window into the first offset appended in it).
// A slot keeps the top 48 bits of the id's hash (its home slot is their fraction of
// the table) and, in the low 16 bits, a check of those bits and the offset. A lookup
// verifies every occupied slot it passes: a damaged slot, even the one of the id
// looked up, throws IndexDamaged (the owner rebuilds the file from the log) instead
// of reading as a miss, which would let a duplicate in. (Without the check, a flipped
// offset made the caller's confirmation fail and the id look new.)
class IdIndex : public MappedTable {
 public:
  struct Slot {
    uint64_t hash;  // 0: empty; else the id hash's top 48 bits, then the check
    int64_t offset;
  };

  static std::unique_ptr<IdIndex> open(const std::string& path);
  static std::unique_ptr<IdIndex> create(const std::string& path, uint64_t capacity,
                                         int64_t covered_end);

  void prefetch(uint64_t h) { __builtin_prefetch(slot(place(key(h))), 1); }
  // Calls f(offset) for each entry whose hash is h, in probe order, until it
  // returns true; returns that entry's offset. On a miss, `*empty` is the slot
  // insert_at() may fill. Throws IndexDamaged when the probe sequence never ends.
  // Throws IndexDamaged when a slot passed fails its check, or when the probe
  // sequence never ends.
  template <typename F>
  std::optional<int64_t> find(uint64_t h, F&& f, Slot** empty = nullptr) {
    uint64_t k = key(h);
    uint64_t i = place(k);
    for (uint64_t n = 0;; ++n, i = next(i)) {
      Slot* s = slot(i);
      if (s->hash == 0) {
        if (empty) *empty = s;
        return std::nullopt;
      }
      if (n > kMaxProbe) damaged();
      verify(*s, i);
      if ((s->hash & kKeyBits) == k && f(s->offset)) return s->offset;
    }
  }
  void insert_at(Slot* empty, uint64_t h, int64_t offset);
  void insert(uint64_t h, int64_t offset);
  // Inserts every entry of `from` whose offset passes keep(offset) (a table grown
  // or cleaned), loading the slots ahead of their turn.
  template <typename Keep>
  void copy_from(const IdIndex& from, Keep&& keep) {
    constexpr uint64_t kAhead = 16;
    for (uint64_t i = 0; i < from.slots_; ++i) {
      if (i + kAhead < from.slots_)
        if (uint64_t ahead = from.slot(i + kAhead)->hash) prefetch(ahead);
      const Slot* s = from.slot(i);
      if (s->hash == 0) continue;
      from.verify(*s, i);
      if (keep(s->offset)) insert(s->hash, s->offset);
    }
  }

 private:
  static constexpr uint64_t kMaxProbe = 4096;
  static constexpr uint64_t kKeyBits = ~uint64_t(0xffff);
  using MappedTable::MappedTable;
  Slot* slot(uint64_t i) const { return reinterpret_cast<Slot*>(slot_area()) + i; }
  // The part of a hash a slot keeps: its top 48 bits, never all zero.
  static uint64_t key(uint64_t h) {
    uint64_t k = h & kKeyBits;
    return k ? k : uint64_t(1) << 16;
  }
  static uint64_t check(uint64_t k, int64_t offset);
  void verify(const Slot& s, uint64_t i) const;
  // Any slot count works (the table is sized to what it will hold, not to a power
  // of two): a key's home slot is its fraction of the table.
  uint64_t place(uint64_t k) const {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(k) * slots_) >> 64);
  }
  uint64_t next(uint64_t i) const { return i + 1 == slots_ ? 0 : i + 1; }
  [[noreturn]] void damaged() const;
};

}  // namespace pspf
