// Time. Everything in Eon reads the time from one injectable Clock, so tests (and, later, the
// dev server's time skipping) can move it.
#pragma once

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>

#include <atomic>
#include <chrono>
#include <cstdint>

namespace eon {

using TimePoint = std::chrono::system_clock::time_point;
using Duration = std::chrono::nanoseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
};

// Real time plus an offset that only grows: the dev server's clock under time skipping.
// Thread-safe.
class SkippableClock final : public Clock {
 public:
  TimePoint Now() const override {
    return std::chrono::system_clock::now() + Duration(offset_ns_.load());
  }
  // Moves the clock forward to `when` (never back).
  void AdvanceTo(TimePoint when) {
    Duration ahead = when - Now();
    if (ahead.count() > 0) offset_ns_ += ahead.count();
  }

 private:
  std::atomic<int64_t> offset_ns_{0};
};

// A clock that only moves when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start) : now_ns_(start.time_since_epoch().count()) {}
  TimePoint Now() const override { return TimePoint(TimePoint::duration(now_ns_.load())); }
  void Advance(Duration by) {
    now_ns_ += std::chrono::duration_cast<TimePoint::duration>(by).count();
  }

 private:
  std::atomic<int64_t> now_ns_;
};

google::protobuf::Timestamp ToTimestamp(TimePoint t);
TimePoint FromTimestamp(const google::protobuf::Timestamp& t);
google::protobuf::Duration ToProtoDuration(Duration d);
Duration FromProtoDuration(const google::protobuf::Duration& d);
int64_t ToUnixNanos(TimePoint t);
TimePoint FromUnixNanos(int64_t ns);

}  // namespace eon
