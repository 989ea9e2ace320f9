// A schedule's ScheduleSpec, compiled: the union of its calendars and intervals, minus its
// exclusions, between its start and end time, in its time zone, plus jitter. Semantics follow
// Temporal's scheduler (docs/temporal-facts.md, "Schedules").
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/cron.h"
#include "common/status.h"
#include "temporal/api/schedule/v1/message.pb.h"

namespace eon::worker {

namespace schedpb = temporal::api::schedule::v1;

class CompiledSpec {
 public:
  // Compiles `spec`. When `canonical` is given it receives the spec as Describe shows it:
  // calendars and cron strings become structured calendars (and intervals, and the time zone
  // name from CRON_TZ). INVALID_ARGUMENT naming the field for a malformed calendar or cron
  // string, an interval under one second, a phase not below its interval, a negative jitter, an
  // end time before the start time, or an unknown time zone.
  static Result<std::shared_ptr<const CompiledSpec>> Compile(const schedpb::ScheduleSpec& spec,
                                                             schedpb::ScheduleSpec* canonical);

  struct Time {
    TimePoint nominal;  // the matching time
    TimePoint actual;   // nominal plus jitter
  };
  // The first matching time strictly after `after` (whole seconds), honouring start time, end
  // time and exclusions; nullopt when none is left. Jitter is a deterministic function of the
  // nominal time and `jitter_seed`, below the spec's jitter and below the gap to the following
  // time.
  std::optional<Time> Next(const std::string& jitter_seed, TimePoint after) const;

 private:
  struct Interval {
    int64_t every_s = 0;
    int64_t phase_s = 0;
  };
  std::optional<int64_t> RawNext(int64_t after_s) const;

  std::vector<CalendarMatcher> calendars_;
  std::vector<CalendarMatcher> excludes_;
  std::vector<Interval> intervals_;
  std::optional<int64_t> start_s_;  // inclusive
  std::optional<TimePoint> end_;    // inclusive
  Duration jitter_{};
};

}  // namespace eon::worker
