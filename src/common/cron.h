// Cron and calendar specifications.
//
// CronSchedule: a workflow's cron_schedule as Temporal accepts it: five fields (minute hour
// day-of-month month day-of-week; numbers, names, `*`, ranges, lists and steps), the
// descriptors @yearly @annually @monthly @weekly @daily @midnight @hourly, and `@every <dur>`
// (e.g. 1h30m). Times are UTC. Day-of-month and day-of-week restrict with "or" when both are
// given (the classic cron rule).
//
// Schedules (ScheduleSpec) use calendars instead: a StructuredCalendar is a set of ranges per
// field (second, minute, hour, day of month, month, year, day of week), all of which must match
// ("and", also for day-of-month and day-of-week), interpreted in a TimeZone. ParseCalendar
// compiles the string form (CalendarSpec), ParseScheduleCron a schedule's cron string (5, 6 or 7
// fields, CRON_TZ= / TZ= prefix, `# comment`, @every <interval>[/<phase>]).
//
// Nothing here throws: numbers are read with std::from_chars; bad input is INVALID_ARGUMENT
// naming the field.
#pragma once

#include <bitset>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/time_zone.h"

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

// Parses Go-style durations such as "90s", "1h30m", "250ms", "1.5h", and (for schedules) "2d".
// INVALID_ARGUMENT when malformed or larger than about 290 years.
Result<Duration> ParseGoDuration(const std::string& text);

// Calendar years a schedule may name (Temporal's bounds).
inline constexpr int kCalendarYearMin = 2000;
inline constexpr int kCalendarYearMax = 2100;
inline constexpr size_t kCalendarCommentMaxBytes = 200;

// start..end inclusive by step. As in Temporal's Range: end < start means end = start, and step
// 0 means 1.
struct CalendarRange {
  int32_t start = 0;
  int32_t end = 0;
  int32_t step = 0;
};

struct StructuredCalendar {
  std::vector<CalendarRange> second, minute, hour, day_of_month, month, year, day_of_week;
  std::string comment;
};

// The string form (Temporal's CalendarSpec). Empty fields take the defaults: second, minute
// and hour "0"; the others "*".
struct CalendarFields {
  std::string second, minute, hour, day_of_month, month, year, day_of_week, comment;
};

// INVALID_ARGUMENT naming the field, e.g. "calendar Hour \"25\" is not in range [0-23]".
Result<StructuredCalendar> ParseCalendar(const CalendarFields& fields);
// Checks the ranges of a structured calendar (as a client may send it directly).
Status ValidateCalendar(const StructuredCalendar& calendar);

// A schedule's cron string: either a calendar or an interval, and maybe a time zone name.
struct ScheduleCron {
  std::optional<StructuredCalendar> calendar;
  std::optional<Duration> interval;  // @every
  Duration phase{};
  std::string time_zone;  // from CRON_TZ= or TZ=; "" when none
};
Result<ScheduleCron> ParseScheduleCron(const std::string& text);

// Matches a structured calendar in a time zone. Immutable; thread-safe.
class CalendarMatcher {
 public:
  CalendarMatcher(const StructuredCalendar& calendar, std::shared_ptr<const TimeZone> zone);
  bool Matches(int64_t unix_seconds) const;
  // The first matching whole second strictly after `after_unix_seconds`; nullopt when there is
  // none before the end of kCalendarYearMax. A local time that a spring-forward transition
  // skips does not match; one that a fall-back transition repeats matches twice.
  std::optional<int64_t> Next(int64_t after_unix_seconds) const;

 private:
  bool MatchesLocal(int64_t local_seconds) const;
  // The first local civil time at or after `local` that matches the fields; nullopt past 2100.
  std::optional<int64_t> NextLocal(int64_t local) const;

  std::shared_ptr<const TimeZone> zone_;
  std::bitset<60> seconds_, minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;    // 1..31
  std::bitset<13> months_;  // 1..12
  std::bitset<7> weekdays_;
  std::bitset<kCalendarYearMax - kCalendarYearMin + 1> years_;
};

}  // namespace eon
