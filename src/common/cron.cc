#include "common/cron.h"

#include <cctype>
#include <ctime>
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
  *out = std::stoi(text);
  return true;
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
  if (text.empty()) return InvalidArgument("empty duration");
  Duration total{};
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
      ++i;
    if (start == i) return InvalidArgument("bad duration \"" + text + "\"");
    double value = std::stod(text.substr(start, i - start));
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string unit = text.substr(unit_start, i - unit_start);
    double nanos;
    if (unit == "ns")
      nanos = 1;
    else if (unit == "us" || unit == "µs")
      nanos = 1e3;
    else if (unit == "ms")
      nanos = 1e6;
    else if (unit == "s")
      nanos = 1e9;
    else if (unit == "m")
      nanos = 60e9;
    else if (unit == "h")
      nanos = 3600e9;
    else
      return InvalidArgument("bad unit \"" + unit + "\" in duration \"" + text + "\"");
    total += Duration(static_cast<int64_t>(value * nanos));
  }
  return total;
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

}  // namespace eon
