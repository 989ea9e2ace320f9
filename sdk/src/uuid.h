// Random (version 4) UUIDs for request ids and update ids.
#pragma once

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>

namespace eon::sdk::internal {

// Formats 128 random bits as a version 4 UUID, "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".
inline std::string FormatUuid(uint64_t high, uint64_t low) {
  high = (high & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
  low = (low & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;    // RFC 4122 variant
  char text[37];
  std::snprintf(text, sizeof(text), "%08x-%04x-%04x-%04x-%012llx",
                static_cast<unsigned>(high >> 32), static_cast<unsigned>((high >> 16) & 0xFFFF),
                static_cast<unsigned>(high & 0xFFFF), static_cast<unsigned>(low >> 48),
                static_cast<unsigned long long>(low & 0xFFFFFFFFFFFFULL));
  return text;
}

// A new random UUID. Thread-safe.
inline std::string NewUuid() {
  // One generator per thread, seeded once from the OS, so callers never contend on a lock.
  thread_local std::mt19937_64 generator = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  uint64_t high = generator();
  return FormatUuid(high, generator());
}

}  // namespace eon::sdk::internal
