#include "common/clock.h"

#include <algorithm>

namespace eon {

int64_t ToUnixNanos(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

TimePoint FromUnixNanos(int64_t ns) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::nanoseconds(ns)));
}

google::protobuf::Timestamp ToTimestamp(TimePoint t) {
  int64_t ns = ToUnixNanos(t);
  google::protobuf::Timestamp ts;
  int64_t seconds = ns / 1'000'000'000;
  int64_t nanos = ns % 1'000'000'000;
  if (nanos < 0) {
    nanos += 1'000'000'000;
    seconds -= 1;
  }
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(nanos));
  return ts;
}

namespace {
// Seconds whose count in nanoseconds (plus a second's nanos) fits int64 with room to spare.
constexpr int64_t kSecondsRepresentableMax = 9'000'000'000LL;

int64_t SaturatedNanos(int64_t seconds, int64_t nanos) {
  seconds = std::clamp(seconds, -kSecondsRepresentableMax, kSecondsRepresentableMax);
  nanos = std::clamp<int64_t>(nanos, -999'999'999, 999'999'999);
  return seconds * 1'000'000'000 + nanos;
}
}  // namespace

TimePoint FromTimestamp(const google::protobuf::Timestamp& t) {
  return FromUnixNanos(SaturatedNanos(t.seconds(), t.nanos()));
}

google::protobuf::Duration ToProtoDuration(Duration d) {
  google::protobuf::Duration out;
  out.set_seconds(d.count() / 1'000'000'000);
  out.set_nanos(static_cast<int32_t>(d.count() % 1'000'000'000));
  return out;
}

Duration FromProtoDuration(const google::protobuf::Duration& d) {
  return Duration(SaturatedNanos(d.seconds(), d.nanos()));
}

}  // namespace eon
