#include "common/cron.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <ctime>
#include <limits>
#include <sstream>
#include <vector>

namespace eon {
namespace {

std::vector<std::string> Split(const std::string& text, char separator) {
  std::vector<std::string> out;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator)) out.push_back(part);
  return out;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

bool ParseNumber(const std::string& text, const char* const* names, int names_base, int* out) {
  if (text.empty()) return false;
  if (names) {
    std::string upper = Upper(text);
    for (int i = 0; names[i]; ++i) {
      if (upper == names[i]) {
        *out = names_base + i;
        return true;
      }
    }
  }
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  if (text.size() > 4) return false;
  return std::from_chars(text.data(), text.data() + text.size(), *out).ec == std::errc();
}

const char* const kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",  "JUL",
                                   "AUG", "SEP", "OCT", "NOV", "DEC", nullptr};
const char* const kDayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", nullptr};

// Sets the bits of one field; returns an error message, or "" when valid.
template <size_t N>
std::string ParseField(const std::string& field, const char* what, int low, int high,
                       const char* const* names, int names_base, std::bitset<N>* bits,
                       bool* restricted) {
  *restricted = field != "*" && field != "?";
  for (const std::string& item : Split(field, ',')) {
    std::string range = item;
    int step = 1;
    if (auto slash = item.find('/'); slash != std::string::npos) {
      range = item.substr(0, slash);
      if (!ParseNumber(item.substr(slash + 1), nullptr, 0, &step) || step <= 0) {
        return std::string("bad step in ") + what + " field \"" + field + "\"";
      }
    }
    int from = low, to = high;
    if (range != "*" && range != "?") {
      if (auto dash = range.find('-'); dash != std::string::npos) {
        if (!ParseNumber(range.substr(0, dash), names, names_base, &from) ||
            !ParseNumber(range.substr(dash + 1), names, names_base, &to)) {
          return std::string("bad range in ") + what + " field \"" + field + "\"";
        }
      } else {
        if (!ParseNumber(range, names, names_base, &from)) {
          return std::string("bad value in ") + what + " field \"" + field + "\"";
        }
        to = item.find('/') != std::string::npos ? high : from;
      }
    }
    if (from < low || to > high + (what == std::string("day-of-week") ? 1 : 0) || from > to) {
      return std::string(what) + " field \"" + field + "\" is out of range " + std::to_string(low) +
             "-" + std::to_string(high);
    }
    // Day-of-week 7 is Sunday, like 0.
    for (int v = from; v <= to; v += step) bits->set(static_cast<size_t>(N == 7 ? v % 7 : v));
  }
  return "";
}

}  // namespace

Result<Duration> ParseGoDuration(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument("bad duration \"" + text + "\": " + why);
  };
  if (text.empty()) return InvalidArgument("empty duration");
  const char* p = text.data();
  const char* const end = p + text.size();
  bool negative = false;
  if (*p == '+' || *p == '-') negative = *p++ == '-';
  if (p == end) return bad("no number");
  if (end - p == 1 && *p == '0') return Duration(0);
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t total = 0;
  while (p < end) {
    // A number: digits, maybe a fraction; at least one digit somewhere.
    int64_t whole = 0;
    const char* digits = p;
    if (p < end && std::isdigit(static_cast<unsigned char>(*p))) {
      auto [next, ec] = std::from_chars(p, end, whole);
      if (ec != std::errc()) return bad("number too large");
      p = next;
    }
    bool has_whole = p != digits;
    int64_t fraction = 0, fraction_scale = 1;
    bool has_fraction = false;
    if (p < end && *p == '.') {
      ++p;
      while (p < end && std::isdigit(static_cast<unsigned char>(*p))) {
        has_fraction = true;
        if (fraction_scale < 1'000'000'000'000'000LL) {  // further digits cannot matter
          fraction = fraction * 10 + (*p - '0');
          fraction_scale *= 10;
        }
        ++p;
      }
    }
    if (!has_whole && !has_fraction) return bad("expected a number");
    const char* unit_begin = p;
    while (p < end && !std::isdigit(static_cast<unsigned char>(*p)) && *p != '.') ++p;
    std::string_view unit(unit_begin, static_cast<size_t>(p - unit_begin));
    int64_t unit_ns;
    if (unit == "ns")
      unit_ns = 1;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs")
      unit_ns = 1'000;
    else if (unit == "ms")
      unit_ns = 1'000'000;
    else if (unit == "s")
      unit_ns = 1'000'000'000;
    else if (unit == "m")
      unit_ns = 60'000'000'000;
    else if (unit == "h")
      unit_ns = 3'600'000'000'000;
    else if (unit == "d")
      unit_ns = 86'400'000'000'000;
    else if (unit.empty())
      return bad("missing unit");
    else
      return bad("unknown unit \"" + std::string(unit) + "\"");
    if (whole > kMax / unit_ns) return bad("too large");
    int64_t part = whole * unit_ns;
    // fraction / fraction_scale of a unit, without floating point.
    __int128 fraction_ns = static_cast<__int128>(fraction) * unit_ns / fraction_scale;
    if (fraction_ns > kMax - part || part + static_cast<int64_t>(fraction_ns) > kMax - total) {
      return bad("too large");
    }
    total += part + static_cast<int64_t>(fraction_ns);
  }
  return Duration(negative ? -total : total);
}

Result<CronSchedule> CronSchedule::Parse(const std::string& raw) {
  std::string spec = raw;
  while (!spec.empty() && std::isspace(static_cast<unsigned char>(spec.back()))) spec.pop_back();
  while (!spec.empty() && std::isspace(static_cast<unsigned char>(spec.front()))) spec.erase(0, 1);
  CronSchedule schedule;
  if (spec.rfind("@every ", 0) == 0) {
    auto every = ParseGoDuration(spec.substr(7));
    if (!every.ok() || every->count() <= 0) {
      return InvalidArgument("invalid cron schedule \"" + raw + "\": bad @every duration");
    }
    schedule.every_ = *every;
    return schedule;
  }
  static const std::pair<const char*, const char*> kDescriptors[] = {
      {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
      {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
      {"@hourly", "0 * * * *"}};
  for (const auto& [name, expansion] : kDescriptors) {
    if (spec == name) spec = expansion;
  }
  std::vector<std::string> fields;
  std::istringstream in(spec);
  for (std::string f; in >> f;) fields.push_back(f);
  if (fields.size() != 5) {
    return InvalidArgument("invalid cron schedule \"" + raw +
                           "\": expected 5 fields (minute hour day-of-month month day-of-week)");
  }
  bool ignored;
  std::string problem =
      ParseField(fields[0], "minute", 0, 59, nullptr, 0, &schedule.minutes_, &ignored);
  if (problem.empty())
    problem = ParseField(fields[1], "hour", 0, 23, nullptr, 0, &schedule.hours_, &ignored);
  if (problem.empty()) {
    problem = ParseField(fields[2], "day-of-month", 1, 31, nullptr, 0, &schedule.days_,
                         &schedule.days_restricted_);
  }
  if (problem.empty())
    problem = ParseField(fields[3], "month", 1, 12, kMonthNames, 1, &schedule.months_, &ignored);
  if (problem.empty()) {
    problem = ParseField(fields[4], "day-of-week", 0, 6, kDayNames, 0, &schedule.weekdays_,
                         &schedule.weekdays_restricted_);
  }
  if (!problem.empty()) return InvalidArgument("invalid cron schedule \"" + raw + "\": " + problem);
  return schedule;
}

TimePoint CronSchedule::Next(TimePoint after) const {
  if (every_) {
    // A constant delay from `after`, in whole seconds, as Temporal's cron library does.
    auto next = after + *every_;
    return std::chrono::time_point_cast<std::chrono::seconds>(next);
  }
  std::time_t t = std::chrono::system_clock::to_time_t(after);
  t = (t / 60 + 1) * 60;  // the next whole minute
  constexpr int kMinutesInFiveYears = 5 * 366 * 24 * 60;
  for (int i = 0; i < kMinutesInFiveYears;) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    bool day_ok;
    if (days_restricted_ && weekdays_restricted_) {
      day_ok = days_.test(tm.tm_mday) || weekdays_.test(tm.tm_wday);
    } else {
      day_ok = days_.test(tm.tm_mday) && weekdays_.test(tm.tm_wday);
    }
    if (!months_.test(tm.tm_mon + 1) || !day_ok) {
      // Skip to the next day.
      int skip = (24 * 60) - (tm.tm_hour * 60 + tm.tm_min);
      t += skip * 60;
      i += skip;
      continue;
    }
    if (!hours_.test(tm.tm_hour)) {
      int skip = 60 - tm.tm_min;
      t += skip * 60;
      i += skip;
      continue;
    }
    if (minutes_.test(tm.tm_min)) return std::chrono::system_clock::from_time_t(t);
    t += 60;
    ++i;
  }
  return TimePoint::max();  // never (e.g. February 30th)
}

// ---- Schedule calendars ----

namespace {

const char* const kMonthFullNames[] = {"january",   "february", "march",    "april",
                                       "may",       "june",     "july",     "august",
                                       "september", "october",  "november", "december"};
const char* const kDayFullNames[] = {"sunday",   "monday", "tuesday", "wednesday",
                                     "thursday", "friday", "saturday"};

enum class FieldKind { kInt, kYear, kMonth, kDayOfWeek };

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

// A value of a field: a number, or (months, days of week) a name or its prefix.
std::optional<int> CalendarValue(const std::string& text, FieldKind kind) {
  std::string lower = Lower(text);
  if (kind == FieldKind::kMonth && lower.size() >= 3) {
    for (int i = 0; i < 12; ++i) {
      if (std::string_view(kMonthFullNames[i]).substr(0, lower.size()) == lower) return i + 1;
    }
  }
  if (kind == FieldKind::kDayOfWeek && lower.size() >= 2) {
    for (int i = 0; i < 7; ++i) {
      if (std::string_view(kDayFullNames[i]).substr(0, lower.size()) == lower) return i;
    }
  }
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

Result<std::vector<CalendarRange>> CalendarField(const std::string& raw, const char* field,
                                                 const char* default_text, int low, int high,
                                                 FieldKind kind) {
  std::string text = Trim(raw);
  if (text.empty()) text = default_text;
  if (text == "*" && kind == FieldKind::kYear) return std::vector<CalendarRange>{};  // all years
  auto bad = [&](const std::string& why) {
    return InvalidArgument(std::string("calendar ") + field + " \"" + text + "\" " + why);
  };
  const std::string range_text =
      "is not in range [" + std::to_string(low) + "-" + std::to_string(high) + "]";
  std::vector<CalendarRange> out;
  for (const std::string& item : Split(text, ',')) {
    std::string part = Trim(item);
    int step = 1;
    bool has_step = false;
    if (auto slash = part.find('/'); slash != std::string::npos) {
      if (part.find('/', slash + 1) != std::string::npos) return bad("has too many slashes");
      auto parsed = CalendarValue(part.substr(slash + 1), FieldKind::kInt);
      if (!parsed || *parsed < 1) return bad("has an invalid step");
      step = *parsed;
      has_step = true;
      part = part.substr(0, slash);
    }
    int start = low, end = high;
    if (part != "*") {
      if (auto dash = part.find('-'); dash != std::string::npos) {
        auto from = CalendarValue(part.substr(0, dash), kind);
        auto to = CalendarValue(part.substr(dash + 1), kind);
        if (!from || !to) return bad("is not a range of values");
        if (*from < low || *from > high || *to < *from || *to > high) return bad(range_text);
        start = *from;
        end = *to;
      } else {
        auto value = CalendarValue(part, kind);
        if (!value) return bad("is not a value");
        if (*value < low || *value > high) return bad(range_text);
        start = *value;
        end = has_step ? high : start;
      }
    }
    if (kind == FieldKind::kDayOfWeek && end == 7) {
      // 7 is Sunday too: keep 0-6 in the structured form.
      if ((7 - start) % step == 0) out.push_back({0, 0, 0});
      if (start == 7) continue;
      end = 6;
    }
    out.push_back({start, start == end ? 0 : end, step == 1 ? 0 : step});
  }
  return out;
}

template <size_t N>
void SetBits(const std::vector<CalendarRange>& ranges, int base, std::bitset<N>* bits) {
  for (const CalendarRange& r : ranges) {
    int step = r.step <= 0 ? 1 : r.step;
    int end = r.end < r.start ? r.start : r.end;
    for (int v = r.start; v <= end; v += step) {
      if (v - base >= 0 && static_cast<size_t>(v - base) < N)
        bits->set(static_cast<size_t>(v - base));
    }
  }
}

struct Civil {
  int year, month, day, hour, minute, second, weekday;
};

Civil ToCivil(int64_t local) {
  using namespace std::chrono;
  int64_t days_since = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
  int64_t rest = local - days_since * 86400;
  sys_days day{days(days_since)};
  year_month_day ymd(day);
  Civil c;
  c.year = static_cast<int>(ymd.year());
  c.month = static_cast<int>(static_cast<unsigned>(ymd.month()));
  c.day = static_cast<int>(static_cast<unsigned>(ymd.day()));
  c.hour = static_cast<int>(rest / 3600);
  c.minute = static_cast<int>(rest / 60 % 60);
  c.second = static_cast<int>(rest % 60);
  c.weekday = static_cast<int>(weekday(day).c_encoding());
  return c;
}

int64_t FromCivil(int year, int month, int day, int hour = 0, int minute = 0, int second = 0) {
  using namespace std::chrono;
  // Month and day may overflow by one: normalise through year_month_day arithmetic.
  auto ym = std::chrono::year(year) / std::chrono::month(1) + months(month - 1);
  int64_t days_since = sys_days(ym / 1).time_since_epoch().count() + (day - 1);
  return days_since * 86400 + hour * 3600 + minute * 60 + second;
}

}  // namespace

Result<StructuredCalendar> ParseCalendar(const CalendarFields& f) {
  StructuredCalendar c;
  EON_ASSIGN_OR_RETURN(c.second, CalendarField(f.second, "Second", "0", 0, 59, FieldKind::kInt));
  EON_ASSIGN_OR_RETURN(c.minute, CalendarField(f.minute, "Minute", "0", 0, 59, FieldKind::kInt));
  EON_ASSIGN_OR_RETURN(c.hour, CalendarField(f.hour, "Hour", "0", 0, 23, FieldKind::kInt));
  EON_ASSIGN_OR_RETURN(c.day_of_month,
                       CalendarField(f.day_of_month, "DayOfMonth", "*", 1, 31, FieldKind::kInt));
  EON_ASSIGN_OR_RETURN(c.month, CalendarField(f.month, "Month", "*", 1, 12, FieldKind::kMonth));
  EON_ASSIGN_OR_RETURN(c.year, CalendarField(f.year, "Year", "*", kCalendarYearMin,
                                             kCalendarYearMax, FieldKind::kYear));
  EON_ASSIGN_OR_RETURN(c.day_of_week,
                       CalendarField(f.day_of_week, "DayOfWeek", "*", 0, 7, FieldKind::kDayOfWeek));
  c.comment = f.comment;
  EON_RETURN_IF_ERROR(ValidateCalendar(c));
  return c;
}

Status ValidateCalendar(const StructuredCalendar& c) {
  auto check = [](const std::vector<CalendarRange>& ranges, const char* field, int low,
                  int high) -> Status {
    for (const CalendarRange& r : ranges) {
      std::string range = "[" + std::to_string(low) + "-" + std::to_string(high) + "]";
      if (r.start < low || r.start > high) {
        return InvalidArgument(std::string("calendar ") + field + " start " +
                               std::to_string(r.start) + " is not in range " + range);
      }
      if (r.end != 0 && (r.end < r.start || r.end > high)) {
        return InvalidArgument(std::string("calendar ") + field + " end " + std::to_string(r.end) +
                               " is before start or not in range " + range);
      }
      if (r.step < 0)
        return InvalidArgument(std::string("calendar ") + field + " has a negative step");
    }
    return Status::Ok();
  };
  EON_RETURN_IF_ERROR(check(c.second, "Second", 0, 59));
  EON_RETURN_IF_ERROR(check(c.minute, "Minute", 0, 59));
  EON_RETURN_IF_ERROR(check(c.hour, "Hour", 0, 23));
  EON_RETURN_IF_ERROR(check(c.day_of_month, "DayOfMonth", 1, 31));
  EON_RETURN_IF_ERROR(check(c.month, "Month", 1, 12));
  EON_RETURN_IF_ERROR(check(c.year, "Year", kCalendarYearMin, kCalendarYearMax));
  EON_RETURN_IF_ERROR(check(c.day_of_week, "DayOfWeek", 0, 6));
  if (c.comment.size() > kCalendarCommentMaxBytes) {
    return InvalidArgument("calendar comment is longer than " +
                           std::to_string(kCalendarCommentMaxBytes) + " bytes");
  }
  return Status::Ok();
}

Result<ScheduleCron> ParseScheduleCron(const std::string& raw) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument("invalid cron string \"" + raw + "\": " + why);
  };
  ScheduleCron out;
  std::string text = Trim(raw);
  if (text.rfind("TZ=", 0) == 0 || text.rfind("CRON_TZ=", 0) == 0) {
    size_t space = text.find_first_of(" \t");
    if (space == std::string::npos) return bad("it has a time zone but no fields");
    std::string tz = text.substr(0, space);
    out.time_zone = tz.substr(tz.find('=') + 1);
    text = Trim(text.substr(space));
  }
  std::string comment;
  if (auto hash = text.find('#'); hash != std::string::npos) {
    comment = Trim(text.substr(hash + 1));
    text = Trim(text.substr(0, hash));
  }
  if (text.rfind("@every", 0) == 0) {
    size_t space = text.find_first_of(" \t");
    if (space == std::string::npos) return bad("no interval after @every");
    std::string interval = Trim(text.substr(space));
    std::string phase;
    if (auto slash = interval.find('/'); slash != std::string::npos) {
      phase = interval.substr(slash + 1);
      interval = interval.substr(0, slash);
    }
    auto every = ParseGoDuration(interval);
    if (!every.ok()) return bad(every.status().message());
    out.interval = *every;
    if (!phase.empty()) {
      auto parsed = ParseGoDuration(phase);
      if (!parsed.ok()) return bad(parsed.status().message());
      out.phase = *parsed;
    }
    return out;
  }
  static const std::pair<const char*, const char*> kDescriptors[] = {
      {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
      {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
      {"@hourly", "0 * * * *"}};
  for (const auto& [name, expansion] : kDescriptors) {
    if (text == name) text = expansion;
  }
  std::vector<std::string> tokens;
  std::istringstream in(text);
  for (std::string token; in >> token;) tokens.push_back(token);
  CalendarFields f;
  f.comment = comment;
  switch (tokens.size()) {
    case 5:
    case 6:
      f.minute = tokens[0];
      f.hour = tokens[1];
      f.day_of_month = tokens[2];
      f.month = tokens[3];
      f.day_of_week = tokens[4];
      if (tokens.size() == 6) f.year = tokens[5];
      break;
    case 7:
      f.second = tokens[0];
      f.minute = tokens[1];
      f.hour = tokens[2];
      f.day_of_month = tokens[3];
      f.month = tokens[4];
      f.day_of_week = tokens[5];
      f.year = tokens[6];
      break;
    default:
      return bad("expected 5, 6 or 7 fields, got " + std::to_string(tokens.size()));
  }
  auto calendar = ParseCalendar(f);
  if (!calendar.ok()) return bad(calendar.status().message());
  out.calendar = std::move(*calendar);
  return out;
}

CalendarMatcher::CalendarMatcher(const StructuredCalendar& c, std::shared_ptr<const TimeZone> zone)
    : zone_(zone ? std::move(zone) : TimeZone::Utc()) {
  SetBits(c.second, 0, &seconds_);
  SetBits(c.minute, 0, &minutes_);
  SetBits(c.hour, 0, &hours_);
  SetBits(c.day_of_month, 0, &days_);
  SetBits(c.month, 0, &months_);
  SetBits(c.day_of_week, 0, &weekdays_);
  if (c.year.empty()) {
    years_.set();
  } else {
    SetBits(c.year, kCalendarYearMin, &years_);
  }
}

bool CalendarMatcher::MatchesLocal(int64_t local) const {
  Civil c = ToCivil(local);
  return c.year >= kCalendarYearMin && c.year <= kCalendarYearMax &&
         years_.test(static_cast<size_t>(c.year - kCalendarYearMin)) && months_.test(c.month) &&
         days_.test(c.day) && weekdays_.test(c.weekday) && hours_.test(c.hour) &&
         minutes_.test(c.minute) && seconds_.test(c.second);
}

bool CalendarMatcher::Matches(int64_t t) const { return MatchesLocal(t + zone_->OffsetAt(t)); }

std::optional<int64_t> CalendarMatcher::NextLocal(int64_t local) const {
  // Each step moves to the start of the next year, month, day, hour, minute or second that can
  // match, so the loop is bounded by about (years * 366 * 24 * 60) even for a calendar that
  // never matches.
  for (;;) {
    Civil c = ToCivil(local);
    if (c.year > kCalendarYearMax) return std::nullopt;
    if (c.year < kCalendarYearMin) {
      local = FromCivil(kCalendarYearMin, 1, 1);
      continue;
    }
    if (!years_.test(static_cast<size_t>(c.year - kCalendarYearMin))) {
      local = FromCivil(c.year + 1, 1, 1);
    } else if (!months_.test(c.month)) {
      local = FromCivil(c.year, c.month + 1, 1);
    } else if (!days_.test(c.day) || !weekdays_.test(c.weekday)) {
      local = FromCivil(c.year, c.month, c.day + 1);
    } else if (!hours_.test(c.hour)) {
      local = FromCivil(c.year, c.month, c.day, c.hour + 1);
    } else if (!minutes_.test(c.minute)) {
      local = FromCivil(c.year, c.month, c.day, c.hour, c.minute + 1);
    } else if (!seconds_.test(c.second)) {
      local += 1;
    } else {
      return local;
    }
  }
}

std::optional<int64_t> CalendarMatcher::Next(int64_t after) const {
  constexpr int64_t kDay = 86'400;
  constexpr int64_t kShiftMax = 3 * 3600;  // more than any daylight-saving shift
  int32_t offset = zone_->OffsetAt(after);
  const bool steady =
      zone_->OffsetAt(after - kDay) == offset && zone_->OffsetAt(after + kDay) == offset;
  // Near a transition local time is not monotonic: look from a little earlier, and keep the
  // smallest instant after `after`.
  int64_t local = after + offset + (steady ? 1 : -kShiftMax);
  std::optional<int64_t> best;
  for (auto candidate = NextLocal(local); candidate; candidate = NextLocal(*candidate + 1)) {
    if (best && *candidate > *best + zone_->OffsetAt(*best) + kShiftMax) break;
    for (int64_t t : zone_->FromLocal(*candidate)) {
      if (t > after && (!best || t < *best)) best = t;
    }
    if (best && steady && zone_->OffsetAt(*best) == offset) break;
  }
  return best;
}

}  // namespace eon
