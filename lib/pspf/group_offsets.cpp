#include "pspf/group_offsets.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include <fmt/format.h>

#include "pspf/clock.h"
#include "pspf/durable_end.h"
#include "pspf/error.h"
#include "pspf/le.h"
#include "pspf/paths.h"
#include "pspf/record_file.h"

namespace pspf {

namespace {

constexpr size_t kFixed = 36;  // payload bytes before the two strings
uint64_t g_compact_bytes = 1u << 20;

// A record is a simple frame (record_file.h) "PSO1", its XXH3-64 seeded with 0; it
// holds at least one entry, and a payload of 64 MiB or more is damage.
// A suspect last record (complete, checksum failing) is kept apart from a torn one:
// the synced length tells a record the crash cut short from a damaged synced one.
const FrameFormat kFormat =
    simple_frame_format("commit record", 0x314f5350, kFixed, (64u << 20) - 1, false);

enum Kind : uint8_t { kCommit = 1, kClaim = 2, kSet = 3, kPending = 4 };

}  // namespace

struct GroupOffsets::Record {
  Kind kind;
  std::string topic;
  int32_t partition;
  int64_t offset;
  uint64_t epoch;
  int64_t when;
  std::string member;

  // Appends this entry's payload (see pspf-log(5)).
  void encode_entry(std::string& payload) const {
    payload.push_back(static_cast<char>(kind));
    payload.push_back(0);
    le::append<uint16_t>(payload, static_cast<uint16_t>(topic.size()));
    le::append<int32_t>(payload, partition);
    le::append<int64_t>(payload, offset);
    le::append<uint64_t>(payload, epoch);
    le::append<int64_t>(payload, when);
    le::append<uint16_t>(payload, static_cast<uint16_t>(member.size()));
    le::append<uint16_t>(payload, 0);
    payload += topic;
    payload += member;
  }
};

namespace {

// One framed record holding `records` as its entries: they take effect together or,
// when the write is torn, not at all.
std::string encode_frame(const std::vector<GroupOffsets::Record>& records);

// Applies the entries of one checksum-valid record (payload p[0, len)) to `state`:
// all of them, or none with the reason when they do not parse.
std::optional<std::string> apply_record(const char* p, size_t len,
                                        std::map<TopicPartition, Committed>& state,
                                        uint64_t& count) {
  // Check every entry before applying any: a record takes effect whole.
  size_t at = 0;
  while (at < len) {
    if (len - at < kFixed) return fmt::format("an entry at payload byte {} is cut short", at);
    size_t size = kFixed + le::load<uint16_t>(p + at + 2) + le::load<uint16_t>(p + at + 32);
    if (len - at < size) return fmt::format("an entry at payload byte {} is cut short", at);
    at += size;
  }
  for (at = 0; at < len;) {
    const char* e = p + at;
    uint16_t tlen = le::load<uint16_t>(e + 2), mlen = le::load<uint16_t>(e + 32);
    TopicPartition tp{std::string(e + kFixed, tlen), le::load<int32_t>(e + 4)};
    Committed& c = state[tp];
    auto kind = static_cast<Kind>(e[0]);
    int64_t offset = le::load<int64_t>(e + 8);
    c.epoch = le::load<uint64_t>(e + 16);
    if (kind == kPending) {
      c.pending_last = offset;
    } else {
      c.when = Timestamp(le::load<int64_t>(e + 24));
      c.member.assign(e + kFixed + tlen, mlen);
    }
    if (kind == kCommit || kind == kSet) c.offset = Offset(offset);
    if (kind == kSet) c.pending_last = -1;  // an administrator moved the offset
    ++count;
    at += kFixed + tlen + mlen;
  }
  return std::nullopt;
}

// Applies the records of the file from byte `from` on to `state`.
ScanEnd apply_records(int fd, const std::string& path, uint64_t from,
                      std::map<TopicPartition, Committed>& state, uint64_t& count) {
  return scan_frames(kFormat, fd, path, from, [&](const char* frame, uint64_t length) {
    return apply_record(frame + kSimpleFrameHeader, length - kSimpleFrameHeader, state, count);
  });
}

// Throws Error(corrupt) when the valid records of `path` end (`scan`) before `synced`,
// the length up to which the group's records were synced: a synced record is damaged
// or missing, and the group's offsets are not known.
void check_synced_length(std::optional<int64_t> synced, const ScanEnd& scan,
                         const std::string& path, const std::string& group) {
  if (!synced || scan.valid_end >= static_cast<uint64_t>(*synced)) return;
  std::string what = scan.status == FrameStatus::end ? "the file ends there" : scan.reason;
  throw Error(Errc::corrupt,
              fmt::format("{}: synced commit records are damaged or missing: the valid records "
                          "end at byte {} ({}), but the group's commits were synced up to byte "
                          "{}. Its committed offsets are not known: pspf-offsets delete -g {} "
                          "--force drops them, and pspf-offsets reset then sets where the group "
                          "resumes",
                          path, scan.valid_end, what, *synced, group));
}

}  // namespace

GroupOffsets::GroupOffsets(std::string data_dir, std::string group)
    : data_dir_(std::move(data_dir)),
      group_(std::move(group)),
      dir_(paths::group_dir(data_dir_, group_)),
      path_(paths::group_offsets(dir_)) {}

GroupOffsets::~GroupOffsets() = default;

bool GroupOffsets::exists() const { return path_exists(path_); }

std::map<TopicPartition, Committed> GroupOffsets::load() const {
  for (int attempt = 1;; ++attempt) {
    std::map<TopicPartition, Committed> state;
    // The file first, then the synced length: what was synced when the length was
    // read is in the file as opened (a writer publishes a length after its sync, and
    // lowers it before it replaces the file).
    Fd fd = open_file_if_exists(path_, O_RDONLY);
    if (!fd.valid()) return state;
    std::optional<int64_t> synced;
    std::string lock_path = paths::group_lock(dir_);
    if (Fd lock = open_file_if_exists(lock_path, O_RDONLY); lock.valid())
      synced = read_mark(lock.get(), lock_path);
    uint64_t count = 0;
    ScanEnd scan = apply_records(fd.get(), path_, 0, state, count);
    if (scan.status == FrameStatus::corrupt)
      throw Error(Errc::corrupt, fmt::format("{}: {}", path_, scan.reason));
    // A file compacted (replaced) since it was opened: the length may be the new one's.
    if (synced && scan.valid_end < static_cast<uint64_t>(*synced) && attempt < 3 &&
        replaced_since_open(fd.get(), path_))
      continue;
    check_synced_length(synced, scan, path_, group_);
    // A torn or suspect last record past the synced length is a commit that never
    // completed: ignored.
    return state;
  }
}

void GroupOffsets::lock_and_catch_up() {
  if (!path_exists(dir_)) {
    make_dirs(dir_);
    sync_dir(paths::groups_dir(data_dir_));
    sync_dir(data_dir_);
  }
  if (!lock_.fd_valid()) lock_ = FileLock(paths::group_lock(dir_));
  lock_.lock();
  // Another process may have compacted (replaced) the file: follow the path.
  uint64_t ino = inode_of_path(path_);
  bool exists = ino != 0;
  if (!fd_.valid() || !exists || ino != ino_) {
    bool created = !exists;
    fd_ = open_file(path_, O_RDWR | O_CREAT, 0644);
    if (created) sync_dir(dir_);
    struct stat st;
    if (::fstat(fd_.get(), &st) != 0) throw_errno("cannot stat " + path_);
    ino_ = static_cast<uint64_t>(st.st_ino);
    end_ = 0;
    records_ = 0;
    state_.clear();
  }
  std::optional<int64_t> synced = read_mark(lock_.fd(), lock_.path());
  uint64_t size = file_size(fd_.get(), path_);
  ScanEnd scan{FrameStatus::end, end_, ""};
  if (size != end_) scan = apply_records(fd_.get(), path_, end_, state_, records_);
  if (scan.status != FrameStatus::corrupt) check_synced_length(synced, scan, path_, group_);
  // Past the synced length (or with none published: a group of an older pspf), a bad
  // last record is a committer that died between its write and its sync: we hold the
  // lock, so cut it off.
  if (scan.status == FrameStatus::suspect) scan.status = FrameStatus::torn;
  if (size != end_) end_ = repair_tail(fd_.get(), path_, scan);
}

namespace {
std::string encode_frame(const std::vector<GroupOffsets::Record>& records) {
  std::string payload;
  for (const auto& r : records) r.encode_entry(payload);
  return encode_simple_frame(kFormat, payload);
}
}  // namespace

void GroupOffsets::append(const std::vector<Record>& records) {
  std::string bytes = encode_frame(records);
  append_frames(fd_.get(), path_, end_, bytes);
  auto problem = apply_record(bytes.data() + kSimpleFrameHeader, bytes.size() - kSimpleFrameHeader,
                              state_, records_);
  assert(!problem);  // we encoded it
  (void)problem;
  end_ += bytes.size();
  // Synced: publish the length (not synced itself; lost to a power loss, it is only
  // behind, as durable_end.h says of a partition's mark).
  write_mark(lock_.fd(), static_cast<int64_t>(end_), lock_.path());
  maybe_compact();
}

void GroupOffsets::maybe_compact() {
  if (end_ < g_compact_bytes || records_ < 4 * state_.size()) return;
  std::vector<Record> all;
  for (const auto& [tp, c] : state_) {
    all.push_back(Record{c.offset.value >= 0 ? kSet : kClaim, tp.first, tp.second, c.offset.value,
                         c.epoch, c.when.value, c.member});
    if (c.offset.value >= 0 && c.pending_last >= c.offset.value)
      all.push_back(
          Record{kPending, tp.first, tp.second, c.pending_last, c.epoch, c.when.value, c.member});
  }
  std::string bytes = encode_frame(all);
  try {
    // 1. Lower the synced length to the new file's, and sync it: a power loss must
    //    not leave the new file with the old file's length (read as records lost),
    //    while the old file with the lower length only checks less.
    write_mark(lock_.fd(), static_cast<int64_t>(bytes.size()), lock_.path());
    sync_data(lock_.fd(), lock_.path());
    // 2. Replace the file: readers see the old file or the new one.
    write_file_atomic(path_, bytes);
    fd_ = open_file(path_, O_RDWR);
    struct stat st;
    if (::fstat(fd_.get(), &st) != 0) throw_errno("cannot stat " + path_);
    ino_ = static_cast<uint64_t>(st.st_ino);
    end_ = bytes.size();
    records_ = state_.size();
  } catch (const Error&) {
    // 3. A failure (a full disk, an I/O error) is not the commit's: that is synced
    //    and published already, and reporting it failed would have a caller hand
    //    its events out again, or drop them. The next commit compacts again. If the
    //    old file is still in place, publish its synced length again (all of it is
    //    synced); if the new one is (the rename was made, the directory's sync
    //    failed), its length is the one published, and the next commit follows the
    //    path to it as it follows another process's compaction (lock_and_catch_up).
    try {
      if (inode_of_path(path_) == ino_)
        write_mark(lock_.fd(), static_cast<int64_t>(end_), lock_.path());
    } catch (const Error&) {
      // (the lowered length stands: it only makes readers check less)
    }
  }
}

Committed GroupOffsets::claim(const std::string& topic, PartitionId p, const std::string& member) {
  return claim(topic, std::vector<PartitionId>{p}, member).front();
}

std::vector<Committed> GroupOffsets::claim(const std::string& topic,
                                           const std::vector<PartitionId>& ps,
                                           const std::string& member) {
  if (ps.empty()) return {};
  lock_and_catch_up();
  UnlockOnExit unlock(lock_);
  std::vector<Committed> before;
  std::vector<Record> records;
  int64_t when = now_ms().value;
  for (PartitionId p : ps) {
    auto it = state_.find({topic, p.value});
    before.push_back(it == state_.end() ? Committed{} : it->second);
    records.push_back(Record{kClaim, topic, p.value, before.back().offset.value,
                             before.back().epoch + 1, when, member});
  }
  append(records);
  std::vector<Committed> now;
  for (size_t i = 0; i < ps.size(); ++i) {
    now.push_back(state_[{topic, ps[i].value}]);
    now.back().offset = before[i].offset;
  }
  return now;
}

bool GroupOffsets::append_if_current(const std::vector<std::pair<uint8_t, int64_t>>& entries,
                                     const std::string& topic, PartitionId p, uint64_t epoch,
                                     const std::string& member) {
  lock_and_catch_up();
  UnlockOnExit unlock(lock_);
  auto it = state_.find({topic, p.value});
  if (it == state_.end() || it->second.epoch != epoch) return false;  // fenced
  int64_t when = now_ms().value;
  std::vector<Record> records;
  for (const auto& [kind, offset] : entries)
    records.push_back(Record{static_cast<Kind>(kind), topic, p.value, offset, epoch, when, member});
  append(records);
  return true;
}

bool GroupOffsets::commit(const std::string& topic, PartitionId p, Offset offset, uint64_t epoch,
                          const std::string& member) {
  return append_if_current({{kCommit, offset.value}}, topic, p, epoch, member);
}

std::vector<PartitionId> GroupOffsets::commit(const std::string& topic,
                                              const std::vector<Commit>& commits,
                                              const std::string& member) {
  if (commits.empty()) return {};
  lock_and_catch_up();
  UnlockOnExit unlock(lock_);
  std::vector<Record> records;
  std::vector<PartitionId> fenced;
  int64_t when = now_ms().value;
  for (const Commit& c : commits) {
    auto it = state_.find({topic, c.p.value});
    if (it == state_.end() || it->second.epoch != c.epoch)
      fenced.push_back(c.p);
    else
      records.push_back(Record{kCommit, topic, c.p.value, c.offset.value, c.epoch, when, member});
  }
  if (!records.empty()) append(records);
  return fenced;
}

bool GroupOffsets::announce(const std::string& topic, PartitionId p, Offset last, uint64_t epoch,
                            const std::string& member, std::optional<Offset> from) {
  std::vector<std::pair<uint8_t, int64_t>> entries;
  if (from) entries.emplace_back(kCommit, from->value);
  entries.emplace_back(kPending, last.value);
  return append_if_current(entries, topic, p, epoch, member);
}

void GroupOffsets::set(const std::vector<std::pair<TopicPartition, Offset>>& offsets,
                       const std::string& who) {
  lock_and_catch_up();
  UnlockOnExit unlock(lock_);
  std::vector<Record> records;
  for (const auto& [tp, off] : offsets) {
    auto it = state_.find(tp);
    uint64_t epoch = it == state_.end() ? 1 : it->second.epoch + 1;
    records.push_back(Record{kSet, tp.first, tp.second, off.value, epoch, now_ms().value, who});
  }
  if (!records.empty()) append(records);
}

void GroupOffsets::remove() {
  if (!path_exists(dir_))
    throw Error(Errc::not_found, fmt::format("group '{}' does not exist", group_));
  remove_tree_at_once(dir_, paths::tmp_entry(data_dir_, "deleting-group"));
}

void GroupOffsets::set_compact_threshold_for_tests(uint64_t bytes) { g_compact_bytes = bytes; }

std::vector<std::string> GroupOffsets::list(const std::string& data_dir) {
  std::vector<std::string> out;
  std::string groups = paths::groups_dir(data_dir);
  if (!path_exists(groups)) return out;
  for (auto& name : list_dir(groups)) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace pspf
