#include "worker/schedule_spec.h"

#include <algorithm>
#include <map>
#include <mutex>

#include "common/hash.h"

namespace eon::worker {
namespace {

StructuredCalendar FromProto(const schedpb::StructuredCalendarSpec& p) {
  auto ranges = [](const auto& field) {
    std::vector<CalendarRange> out;
    for (const auto& r : field) out.push_back({r.start(), r.end(), r.step()});
    return out;
  };
  StructuredCalendar c;
  c.second = ranges(p.second());
  c.minute = ranges(p.minute());
  c.hour = ranges(p.hour());
  c.day_of_month = ranges(p.day_of_month());
  c.month = ranges(p.month());
  c.year = ranges(p.year());
  c.day_of_week = ranges(p.day_of_week());
  c.comment = p.comment();
  return c;
}

schedpb::StructuredCalendarSpec ToProto(const StructuredCalendar& c) {
  schedpb::StructuredCalendarSpec p;
  auto put = [](const std::vector<CalendarRange>& ranges, auto* field) {
    for (const auto& r : ranges) {
      auto* out = field->Add();
      out->set_start(r.start);
      out->set_end(r.end);
      out->set_step(r.step);
    }
  };
  put(c.second, p.mutable_second());
  put(c.minute, p.mutable_minute());
  put(c.hour, p.mutable_hour());
  put(c.day_of_month, p.mutable_day_of_month());
  put(c.month, p.mutable_month());
  put(c.year, p.mutable_year());
  put(c.day_of_week, p.mutable_day_of_week());
  p.set_comment(c.comment);
  return p;
}

Result<StructuredCalendar> FromCalendarSpec(const schedpb::CalendarSpec& s) {
  return ParseCalendar(CalendarFields{s.second(), s.minute(), s.hour(), s.day_of_month(), s.month(),
                                      s.year(), s.day_of_week(), s.comment()});
}

// Zones are read from disk once per process and name.
Result<std::shared_ptr<const TimeZone>> CachedZone(const std::string& name) {
  static std::mutex mutex;
  static auto* cache = new std::map<std::string, std::shared_ptr<const TimeZone>>();
  std::lock_guard lock(mutex);
  if (auto it = cache->find(name); it != cache->end()) return it->second;
  EON_ASSIGN_OR_RETURN(auto zone, TimeZone::Load(name));
  if (cache->size() < 1'000) (*cache)[name] = zone;
  return zone;
}

}  // namespace

Result<std::shared_ptr<const CompiledSpec>> CompiledSpec::Compile(
    const schedpb::ScheduleSpec& in, schedpb::ScheduleSpec* canonical) {
  schedpb::ScheduleSpec spec = in;
  for (const auto& calendar : in.calendar()) {
    EON_ASSIGN_OR_RETURN(auto structured, FromCalendarSpec(calendar));
    *spec.add_structured_calendar() = ToProto(structured);
  }
  spec.clear_calendar();
  for (const auto& calendar : in.exclude_calendar()) {
    EON_ASSIGN_OR_RETURN(auto structured, FromCalendarSpec(calendar));
    *spec.add_exclude_structured_calendar() = ToProto(structured);
  }
  spec.clear_exclude_calendar();
  std::optional<std::string> cron_zone;
  for (const auto& text : in.cron_string()) {
    EON_ASSIGN_OR_RETURN(auto cron, ParseScheduleCron(text));
    if (cron_zone && *cron_zone != cron.time_zone) {
      return InvalidArgument("spec cron_string: conflicting time zone names");
    }
    cron_zone = cron.time_zone;
    if (cron.calendar) *spec.add_structured_calendar() = ToProto(*cron.calendar);
    if (cron.interval) {
      auto* interval = spec.add_interval();
      *interval->mutable_interval() = ToProtoDuration(*cron.interval);
      if (cron.phase.count() != 0) *interval->mutable_phase() = ToProtoDuration(cron.phase);
    }
  }
  spec.clear_cron_string();
  if (cron_zone && !cron_zone->empty()) {
    if ((!spec.timezone_name().empty() && spec.timezone_name() != *cron_zone) ||
        !spec.timezone_data().empty()) {
      return InvalidArgument("spec cron_string: its time zone conflicts with timezone_name");
    }
    spec.set_timezone_name(*cron_zone);
  }

  std::shared_ptr<const TimeZone> zone;
  if (!spec.timezone_data().empty()) {
    auto loaded = TimeZone::FromTzif(spec.timezone_name(), spec.timezone_data());
    if (!loaded.ok()) return InvalidArgument("spec timezone_data: " + loaded.status().message());
    zone = *loaded;
  } else {
    auto loaded = CachedZone(spec.timezone_name());
    if (!loaded.ok()) return InvalidArgument("spec timezone_name: " + loaded.status().message());
    zone = *loaded;
  }

  auto compiled = std::make_shared<CompiledSpec>();
  for (const auto& structured : spec.structured_calendar()) {
    StructuredCalendar c = FromProto(structured);
    Status valid = ValidateCalendar(c);
    if (!valid.ok()) return InvalidArgument("spec structured_calendar: " + valid.message());
    compiled->calendars_.emplace_back(c, zone);
  }
  for (const auto& structured : spec.exclude_structured_calendar()) {
    StructuredCalendar c = FromProto(structured);
    Status valid = ValidateCalendar(c);
    if (!valid.ok()) return InvalidArgument("spec exclude_structured_calendar: " + valid.message());
    compiled->excludes_.emplace_back(c, zone);
  }
  for (const auto& interval : spec.interval()) {
    const Duration every = FromProtoDuration(interval.interval());
    const Duration phase = FromProtoDuration(interval.phase());
    if (every < std::chrono::seconds(1)) {
      return InvalidArgument("spec interval: the interval must be at least 1s");
    }
    if (phase.count() < 0) return InvalidArgument("spec interval: the phase is negative");
    if (phase >= every)
      return InvalidArgument("spec interval: the phase must be below the interval");
    compiled->intervals_.push_back(
        {std::chrono::duration_cast<std::chrono::seconds>(every).count(),
         std::chrono::duration_cast<std::chrono::seconds>(phase).count()});
  }
  if (spec.has_start_time()) {
    compiled->start_s_ = std::chrono::duration_cast<std::chrono::seconds>(
                             FromTimestamp(spec.start_time()).time_since_epoch())
                             .count();
  }
  if (spec.has_end_time()) compiled->end_ = FromTimestamp(spec.end_time());
  if (spec.has_start_time() && spec.has_end_time() &&
      FromTimestamp(spec.end_time()) < FromTimestamp(spec.start_time())) {
    return InvalidArgument("spec end_time is before start_time");
  }
  compiled->jitter_ = FromProtoDuration(spec.jitter());
  if (compiled->jitter_.count() < 0) return InvalidArgument("spec jitter is negative");
  if (canonical) *canonical = std::move(spec);
  return std::shared_ptr<const CompiledSpec>(std::move(compiled));
}

std::optional<int64_t> CompiledSpec::RawNext(int64_t after_s) const {
  std::optional<int64_t> best;
  for (const auto& calendar : calendars_) {
    auto next = calendar.Next(after_s);
    if (next && (!best || *next < *best)) best = next;
  }
  for (const auto& iv : intervals_) {
    // epoch + n * every + phase, strictly after `after_s` (floor division for negatives).
    int64_t shifted = after_s - iv.phase_s;
    int64_t n = shifted >= 0 ? shifted / iv.every_s : -((-shifted + iv.every_s - 1) / iv.every_s);
    int64_t next = (n + 1) * iv.every_s + iv.phase_s;
    if (!best || next < *best) best = next;
  }
  return best;
}

std::optional<CompiledSpec::Time> CompiledSpec::Next(const std::string& jitter_seed,
                                                     TimePoint after) const {
  using std::chrono::seconds;
  // Whole seconds: a fraction of a second after a matching time does not skip it.
  int64_t after_s = std::chrono::floor<seconds>(after.time_since_epoch()).count();
  if (start_s_) after_s = std::max(after_s, *start_s_ - 1);
  constexpr int kExcludedMax = 100'000;  // consecutive excluded times before giving up
  std::optional<int64_t> nominal;
  for (int i = 0; i < kExcludedMax; ++i) {
    nominal = RawNext(after_s);
    if (!nominal) return std::nullopt;
    if (end_ && TimePoint(seconds(*nominal)) > *end_) return std::nullopt;
    bool excluded = std::any_of(excludes_.begin(), excludes_.end(),
                                [&](const CalendarMatcher& m) { return m.Matches(*nominal); });
    if (!excluded) break;
    after_s = *nominal;
    nominal.reset();
  }
  if (!nominal) return std::nullopt;
  Time out;
  out.nominal = TimePoint(seconds(*nominal));
  out.actual = out.nominal;
  Duration max_jitter = jitter_;
  if (max_jitter.count() > 0) {
    if (auto following = RawNext(*nominal)) {
      max_jitter = std::min<Duration>(max_jitter, seconds(*following - *nominal));
    }
    int64_t max_ms = std::chrono::duration_cast<std::chrono::milliseconds>(max_jitter).count();
    uint64_t fraction = Fnv1a().Add(std::to_string(*nominal) + "/" + jitter_seed).value() >> 32;
    int64_t jitter_ms =
        static_cast<int64_t>((fraction * static_cast<uint64_t>(std::min<int64_t>(
                                             max_ms, std::numeric_limits<uint32_t>::max()))) >>
                             32);
    out.actual += std::chrono::milliseconds(jitter_ms);
  }
  return out;
}

}  // namespace eon::worker
