#include "common/ids.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>

namespace eon {
namespace {
thread_local ScopedUuidSource* uuid_source = nullptr;
thread_local std::function<uint64_t()>* uuid_source_fn = nullptr;
}  // namespace

ScopedUuidSource::ScopedUuidSource(std::function<uint64_t()> source)
    : source_(std::move(source)), previous_(uuid_source) {
  uuid_source = this;
  uuid_source_fn = &source_;
}

ScopedUuidSource::~ScopedUuidSource() {
  uuid_source = previous_;
  uuid_source_fn = previous_ ? &previous_->source_ : nullptr;
}

namespace {

uint64_t RandomBits() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return uuid_source_fn ? (*uuid_source_fn)() : rng();
}

// Formats 128 bits, with `version` in bits 48-51 and the RFC 9562 variant.
std::string Format(uint64_t hi, uint64_t lo, uint64_t version) {
  hi = (hi & 0xffffffffffff0fffULL) | (version << 12);
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char out[37];
  std::snprintf(out, sizeof out, "%08x-%04x-%04x-%04x-%012llx", static_cast<uint32_t>(hi >> 32),
                static_cast<uint32_t>((hi >> 16) & 0xffff), static_cast<uint32_t>(hi & 0xffff),
                static_cast<uint32_t>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return out;
}

}  // namespace

std::string NewUuid() {
  uint64_t hi = RandomBits();  // drawn first: the order of draws is part of a seeded run
  return Format(hi, RandomBits(), 4);
}

std::string NewRunId(TimePoint now) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  uint64_t hi = (static_cast<uint64_t>(ms) << 16) | (RandomBits() & 0xffff);
  return Format(hi, RandomBits(), 7);
}

}  // namespace eon
