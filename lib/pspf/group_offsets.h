// GroupOffsets: a consumer group's committed offsets, durable and atomic, cheap to
// commit many times a second.
//
// groups/<group>/offsets.log is an append-only file of checksummed records (see
// pspf-log(5)); the latest record for a topic-partition wins. A commit, under the
// group's lock file:
//   1. appends one record and fdatasyncs it (on a failed sync it cuts it off again);
//   2. then publishes the file's synced length in the lock file (durable_end.h's
//      mark, not synced itself: after a power loss it may be behind, never ahead).
// A crash leaves the old or the new commit, never a mix. A bad last record that
// starts at or past the synced length was never acknowledged: readers ignore it and
// the next writer cuts it off. One that starts below it, or a file that ends before
// it, is damage to commits the group made: readers and writers fail, naming it,
// rather than go back to an older commit and hand events out again. (A lock file
// without a length, from an older pspf, reads as "nothing known".)
// When the file has grown well past its live content it is rewritten, after a commit:
//   1. the synced length is lowered to the new file's, and the lock file synced;
//   2. temp file, fsync, rename over offsets.log, fsync directory.
// So a reader that opens the file and then reads the length never finds it past what
// that file holds (a reader that opened the old file and reads a newer length tries
// again). The commit before it is durable: a rewrite that fails is not reported (the
// commit succeeded); the length of the file then in place is published again, and
// the next commit reopens the file and rewrites it.
//
// Fencing: each topic-partition has an epoch. A member that takes over a partition
// claims it (epoch + 1) and commits with that epoch; a commit whose epoch is no
// longer the latest is refused, so a member that lost its partition can never move
// offsets. Administrative changes (pspf-offsets) also bump the epoch.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pspf/file.h"
#include "pspf/group_state.h"
#include "pspf/types.h"

namespace pspf {

class GroupOffsets {
 public:
  // `data_dir` is the data directory; nothing is created until the first write.
  // Throws Error(usage) for a bad group name.
  GroupOffsets(std::string data_dir, std::string group);
  ~GroupOffsets();
  GroupOffsets(const GroupOffsets&) = delete;
  GroupOffsets& operator=(const GroupOffsets&) = delete;

  const std::string& group() const { return group_; }
  bool exists() const;

  // Every topic-partition's latest state, read without a lock (a torn last record
  // past the synced length is ignored). Throws Error(corrupt) for damage before the
  // end of the file, or below the synced length.
  std::map<TopicPartition, Committed> load() const;

  // Claims a topic-partition for `member`: a new epoch, returned with the offset
  // committed so far (-1 if none).
  Committed claim(const std::string& topic, PartitionId p, const std::string& member);
  // Claims several partitions of `topic` as one record (one sync): each gets a new
  // epoch, returned in the order given.
  std::vector<Committed> claim(const std::string& topic, const std::vector<PartitionId>& ps,
                               const std::string& member);

  // Commits `offset` (the next offset to read) if `epoch` is still the latest for
  // this topic-partition. Returns false (nothing written) when fenced. Durable on
  // return.
  bool commit(const std::string& topic, PartitionId p, Offset offset, uint64_t epoch,
              const std::string& member);
  // Commits several partitions of `topic`, each if its epoch is still the latest,
  // as one record: a crash leaves all of them or none, and one sync makes them
  // durable. Returns the partitions fenced (nothing written for them). Durable on
  // return.
  struct Commit {
    PartitionId p;
    Offset offset;
    uint64_t epoch;
  };
  std::vector<PartitionId> commit(const std::string& topic, const std::vector<Commit>& commits,
                                  const std::string& member);

  // Announces the batch [committed offset, last] before it is processed, if `epoch`
  // is still the latest: whoever processes the partition next must hand out exactly
  // that batch first (so outputs derived from it get the same ids). With `from`,
  // first commits `from` (a gap before the batch), in the same entry and sync: the
  // batch is then [from, last]. Returns false when fenced. Durable on return.
  bool announce(const std::string& topic, PartitionId p, Offset last, uint64_t epoch,
                const std::string& member, std::optional<Offset> from = std::nullopt);

  // Sets offsets administratively (pspf-offsets reset/commit): bumps each epoch so
  // that a member still holding the old one can no longer commit. All of them are one
  // record: a crash leaves all or none. Durable on return.
  void set(const std::vector<std::pair<TopicPartition, Offset>>& offsets, const std::string& who);

  // Removes the group's committed offsets entirely.
  void remove();

  // Test hook: compact once the file passes `bytes` (default 1 MiB).
  static void set_compact_threshold_for_tests(uint64_t bytes);

  // Names of all groups in a data directory, sorted.
  static std::vector<std::string> list(const std::string& data_dir);

  // One entry of the commit file (pspf-log(5)); public for the file's encoder.
  struct Record;
  // The group's directory (where membership lives too).
  const std::string& dir() const { return dir_; }

 private:
  void lock_and_catch_up();
  void append(const std::vector<Record>& records);
  // Appends entries of (kind, offset) for p, in one frame, if `epoch` is still the
  // latest of the partition.
  bool append_if_current(const std::vector<std::pair<uint8_t, int64_t>>& entries,
                         const std::string& topic, PartitionId p, uint64_t epoch,
                         const std::string& member);
  void maybe_compact();

  std::string data_dir_;
  std::string group_;
  std::string dir_;
  std::string path_;
  // Writer state, valid while the lock is held.
  FileLock lock_;
  Fd fd_;
  uint64_t ino_ = 0;
  uint64_t end_ = 0;
  uint64_t records_ = 0;
  std::map<TopicPartition, Committed> state_;
};

}  // namespace pspf
