// Cron schedules as Temporal's cron_schedule accepts them: five fields (minute hour
// day-of-month month day-of-week; numbers, names, `*`, ranges, lists and steps), the
// descriptors @yearly @annually @monthly @weekly @daily @midnight @hourly, and `@every <dur>`
// (e.g. 1h30m). Times are UTC.
#pragma once

#include <bitset>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/status.h"

namespace eon {

class CronSchedule {
 public:
  // INVALID_ARGUMENT naming the bad part when `spec` is not a schedule.
  static Result<CronSchedule> Parse(const std::string& spec);
  // The first time strictly after `after` that the schedule fires (`after` + the interval for
  // @every); TimePoint::max() when it never does.
  TimePoint Next(TimePoint after) const;

 private:
  std::optional<Duration> every_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool days_restricted_ = false;
  bool weekdays_restricted_ = false;
};

// Parses durations such as "90s", "1h30m", "250ms". INVALID_ARGUMENT when malformed.
Result<Duration> ParseGoDuration(const std::string& text);

}  // namespace eon
