// Checks every request at the gRPC edge, before any handler sees it, for what the protobuf
// parser accepts but Eon cannot represent: google.protobuf.Duration and Timestamp values out of
// range (nanos outside the proto spec's range, seconds whose nanosecond count would overflow
// int64). Handlers then convert them without overflow; their own rules (a timeout may not be
// negative, ...) stay with them.
#pragma once

#include <google/protobuf/message.h>

#include "common/status.h"

namespace eon::frontend {

// Durations: at most this many seconds either way (100 years).
constexpr int64_t kDurationSecondsMax = 100LL * 365 * 24 * 3600 + 25 * 24 * 3600;
// Timestamps: within this many seconds of the Unix epoch (about the years 1685 to 2255), so
// that a time in nanoseconds fits int64 with room to add a duration.
constexpr int64_t kTimestampSecondsMax = 9'000'000'000LL;

// INVALID_ARGUMENT naming the field (e.g. "workflow_run_timeout") if a Duration or Timestamp
// anywhere in `request` is out of range.
Status CheckRequestFields(const google::protobuf::Message& request);

}  // namespace eon::frontend
