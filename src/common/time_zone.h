// IANA time zones, read from the system's tzdata (TZif files under /usr/share/zoneinfo, the
// Debian package `tzdata`). GCC 12's libstdc++ has no std::chrono::tzdb, so Eon reads the files
// itself: the 64-bit transition table, and the POSIX TZ rule at the file's end for times after
// the last transition. Used to interpret schedule calendars in a zone.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace eon {

class TimeZone {
 public:
  // "" and "UTC" are UTC. INVALID_ARGUMENT naming `name` when no such zone is installed or the
  // name is not a zone name (no "..", no absolute path). `zoneinfo_dir` is for tests.
  static Result<std::shared_ptr<const TimeZone>> Load(
      const std::string& name, const std::string& zoneinfo_dir = "/usr/share/zoneinfo");
  // A zone from TZif bytes (ScheduleSpec.timezone_data). INVALID_ARGUMENT when malformed.
  static Result<std::shared_ptr<const TimeZone>> FromTzif(const std::string& name,
                                                          const std::string& data);
  static std::shared_ptr<const TimeZone> Utc();

  const std::string& name() const { return name_; }
  // Seconds east of UTC in effect at `unix_seconds`.
  int32_t OffsetAt(int64_t unix_seconds) const;
  // The instants (0, 1 or 2, ascending) whose local wall time is `local_seconds` (a civil time
  // counted as seconds since 1970-01-01 00:00 local): none in a spring-forward gap, two in a
  // fall-back overlap.
  std::vector<int64_t> FromLocal(int64_t local_seconds) const;

  struct Rule;  // the POSIX TZ footer (time_zone.cc)

 private:
  TimeZone() = default;
  Status ParseTzif(const std::string& data);

  std::string name_;
  std::vector<int64_t> transitions_;  // ascending unix seconds
  std::vector<int32_t> offsets_;      // offset after transitions_[i]
  int32_t initial_offset_ = 0;        // before the first transition
  std::shared_ptr<const Rule> rule_;  // after the last transition; null: keep the last offset
};

}  // namespace eon
