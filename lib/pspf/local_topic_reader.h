// LocalTopicReader: the local log's TopicReader (topic_reader.h). Merged reads keep
// one stream per partition and take from the one whose head was appended first; a
// stream that stays ahead of the others' heads is read on without looking at them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pspf/batch.h"
#include "pspf/local_log.h"
#include "pspf/topic_reader.h"
#include "pspf/watcher.h"

namespace pspf {

class LocalTopicReader final : public TopicReader {
 public:
  LocalTopicReader(const LocalLog& log, TopicConfig topic, ReadOptions options);
  ~LocalTopicReader() override;
  LocalTopicReader(const LocalTopicReader&) = delete;
  LocalTopicReader& operator=(const LocalTopicReader&) = delete;

  bool next(PartitionId& p, RecordView& r) override;
  bool finished() const override;
  bool wait(int timeout_ms) override;
  const TopicConfig& topic() const override { return topic_; }

 private:
  struct Stream;
  bool advance(Stream& s);
  static bool take(Stream& s, PartitionId& p, RecordView& r);

  TopicConfig topic_;
  std::vector<std::unique_ptr<Stream>> streams_;
  std::vector<std::string> dirs_;
  std::optional<Watcher> watcher_;  // following: made with the reader
  bool merge_;
  bool follow_;
  std::optional<std::string> key_;
  // Merged reads: the stream last taken from, and the head of the others it must
  // stay ahead of (while it does, the others need not be looked at).
  size_t current_ = SIZE_MAX;
  int64_t bound_ts_ = INT64_MAX;
  size_t bound_index_ = SIZE_MAX;
};

}  // namespace pspf
