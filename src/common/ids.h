// Identifiers: random (version 4) UUIDs for run ids, namespace ids and request ids.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace eon {

std::string NewUuid();

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
