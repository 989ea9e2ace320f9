// Identifiers: random (version 4) UUIDs for namespace ids and request ids, and time-ordered
// (version 7) UUIDs for run ids.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/clock.h"

namespace eon {

std::string NewUuid();

// A version 7 UUID (RFC 9562): the milliseconds of `now` since the Unix epoch, then 74 random
// bits. A run's rows (its history, its state, its listing) are keyed by its run id, so ids that
// grow with time put the runs started together side by side in the store's trees: a group commit
// writes a few pages at their right edge, not one random page per run in each tree. To a client
// it is still an opaque UUID string.
std::string NewRunId(TimePoint now);

// While alive, NewUuid on this thread draws from `source` instead of the thread's own
// generator, so a seeded simulation makes the same ids every run. Nests; not movable.
class ScopedUuidSource {
 public:
  explicit ScopedUuidSource(std::function<uint64_t()> source);
  ~ScopedUuidSource();
  ScopedUuidSource(const ScopedUuidSource&) = delete;
  ScopedUuidSource& operator=(const ScopedUuidSource&) = delete;

 private:
  std::function<uint64_t()> source_;
  ScopedUuidSource* previous_;
};

}  // namespace eon
