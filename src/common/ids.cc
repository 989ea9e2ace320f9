#include "common/ids.h"

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

std::string NewUuid() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t hi = uuid_source_fn ? (*uuid_source_fn)() : rng();
  uint64_t lo = uuid_source_fn ? (*uuid_source_fn)() : rng();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 1
  char out[37];
  std::snprintf(out, sizeof out, "%08x-%04x-%04x-%04x-%012llx", static_cast<uint32_t>(hi >> 32),
                static_cast<uint32_t>((hi >> 16) & 0xffff), static_cast<uint32_t>(hi & 0xffff),
                static_cast<uint32_t>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return out;
}

}  // namespace eon
