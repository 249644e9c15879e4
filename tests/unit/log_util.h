// Helpers for unit tests that work on a whole log: a topic filled with records.
#pragma once

#include <memory>
#include <string>

#include "pspf/log.h"
#include "pspf/producer.h"
#include "test_util.h"

namespace pspf::test {

// A new one-partition topic `name` holding n records "v0".."v<n-1>" (no keys),
// synced, so that a consumer may hand them out at once.
inline TopicConfig filled_topic(Log& log, const std::string& name, int n) {
  bool created = false;
  TopicConfig t = log.open_or_create(name, 1, created);
  std::unique_ptr<Producer> p = log.producer(t, SyncMode::batch);
  for (int i = 0; i < n; ++i) {
    std::string v = value_of(i);
    p->add(PartitionId(0), nullptr, nullptr, {}, v);
  }
  p->flush();
  return t;
}

}  // namespace pspf::test
