#include "common/time_zone.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <fstream>
#include <sstream>

namespace eon {

// A POSIX TZ rule ("EST5EDT,M3.2.0,M11.1.0"): a standard offset, and maybe a daylight offset
// with the two yearly switch dates. Only the M (month.week.day) date form is used by tzdata.
struct TimeZone::Rule {
  int32_t std_offset = 0;  // seconds east of UTC
  bool has_dst = false;
  int32_t dst_offset = 0;
  struct Date {
    int month = 0, week = 0, weekday = 0;
    int32_t time = 2 * 3600;  // local seconds after midnight (may be negative or past 24h)
  };
  Date start, end;

  static int64_t DaysFromCivil(int year, int month, int day) {
    using namespace std::chrono;
    return sys_days(std::chrono::year(year) / month / day).time_since_epoch().count();
  }
  // The local (wall clock, as seconds from the epoch) moment a Date happens in `year`.
  static int64_t LocalMoment(const Date& date, int year) {
    using namespace std::chrono;
    int64_t first = DaysFromCivil(year, date.month, 1);
    int first_weekday = static_cast<int>(weekday(sys_days(days(first))).c_encoding());
    int64_t day = first + (date.weekday - first_weekday + 7) % 7 + (date.week - 1) * 7;
    if (date.week == 5) {
      int days_in_month = static_cast<int>(static_cast<unsigned>(
          year_month_day_last(std::chrono::year(year), month_day_last(month(date.month))).day()));
      while (day - first >= days_in_month) day -= 7;
    }
    return day * 86400 + date.time;
  }

  int32_t OffsetAt(int64_t t) const {
    if (!has_dst) return std_offset;
    using namespace std::chrono;
    auto ymd = year_month_day(floor<days>(sys_seconds(seconds(t))));
    int year = static_cast<int>(ymd.year());
    // The switch into daylight time happens on standard time, the switch out on daylight time.
    int64_t dst_begins = LocalMoment(start, year) - std_offset;
    int64_t dst_ends = LocalMoment(end, year) - dst_offset;
    bool dst = dst_begins < dst_ends ? (t >= dst_begins && t < dst_ends)
                                     : (t >= dst_begins || t < dst_ends);  // southern hemisphere
    return dst ? dst_offset : std_offset;
  }
};

namespace {

uint32_t Be32(const std::string& data, size_t at) {
  return (uint32_t(uint8_t(data[at])) << 24) | (uint32_t(uint8_t(data[at + 1])) << 16) |
         (uint32_t(uint8_t(data[at + 2])) << 8) | uint32_t(uint8_t(data[at + 3]));
}
int64_t Be64(const std::string& data, size_t at) {
  return static_cast<int64_t>((uint64_t(Be32(data, at)) << 32) | Be32(data, at + 4));
}

// A tiny cursor over a POSIX TZ string.
class TzStringParser {
 public:
  explicit TzStringParser(std::string_view text) : text_(text) {}

  bool Name() {
    if (pos_ < text_.size() && text_[pos_] == '<') {
      size_t close = text_.find('>', pos_);
      if (close == std::string_view::npos) return false;
      pos_ = close + 1;
      return true;
    }
    size_t begin = pos_;
    while (pos_ < text_.size() && std::isalpha(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    return pos_ - begin >= 3;
  }
  // [+-]hh[:mm[:ss]] as seconds.
  bool Time(int32_t* out) {
    int sign = 1;
    if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) {
      sign = text_[pos_] == '-' ? -1 : 1;
      ++pos_;
    }
    int32_t parts[3] = {0, 0, 0};
    for (int i = 0; i < 3; ++i) {
      if (i > 0) {
        if (pos_ >= text_.size() || text_[pos_] != ':') break;
        ++pos_;
      }
      int value = 0;
      auto [end, ec] = std::from_chars(text_.data() + pos_, text_.data() + text_.size(), value);
      if (ec != std::errc() || value < 0 || value > 167) return false;
      pos_ = static_cast<size_t>(end - text_.data());
      parts[i] = value;
    }
    *out = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
    return true;
  }
  bool Date(TimeZone::Rule::Date* date) {
    if (!Consume('M')) return false;  // Jn and n forms do not occur in tzdata
    int* fields[3] = {&date->month, &date->week, &date->weekday};
    for (int i = 0; i < 3; ++i) {
      if (i > 0 && !Consume('.')) return false;
      auto [end, ec] =
          std::from_chars(text_.data() + pos_, text_.data() + text_.size(), *fields[i]);
      if (ec != std::errc()) return false;
      pos_ = static_cast<size_t>(end - text_.data());
    }
    if (date->month < 1 || date->month > 12 || date->week < 1 || date->week > 5 ||
        date->weekday < 0 || date->weekday > 6) {
      return false;
    }
    if (Consume('/')) return Time(&date->time);
    return true;
  }
  bool Consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool AtEnd() const { return pos_ == text_.size(); }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

std::shared_ptr<const TimeZone> TimeZone::Utc() {
  static const auto* kUtc = [] {
    auto* zone = new std::shared_ptr<TimeZone>(new TimeZone());
    (*zone)->name_ = "UTC";
    return zone;
  }();
  return *kUtc;
}

Result<std::shared_ptr<const TimeZone>> TimeZone::Load(const std::string& name,
                                                       const std::string& zoneinfo_dir) {
  if (name.empty() || name == "UTC") return Utc();
  auto unknown = [&] {
    return InvalidArgument("unknown time zone \"" + name + "\" (not an IANA zone name)");
  };
  if (name.size() > 255 || name.front() == '/' || name.find("..") != std::string::npos)
    return unknown();
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '/' && c != '_' && c != '-' &&
        c != '+') {
      return unknown();
    }
  }
  std::ifstream in(zoneinfo_dir + "/" + name, std::ios::binary);
  if (!in) return unknown();
  std::ostringstream bytes;
  bytes << in.rdbuf();
  auto zone = FromTzif(name, bytes.str());
  if (!zone.ok()) return unknown();
  return zone;
}

Result<std::shared_ptr<const TimeZone>> TimeZone::FromTzif(const std::string& name,
                                                           const std::string& data) {
  std::shared_ptr<TimeZone> zone(new TimeZone());
  zone->name_ = name;
  EON_RETURN_IF_ERROR(zone->ParseTzif(data));
  return std::shared_ptr<const TimeZone>(zone);
}

Status TimeZone::ParseTzif(const std::string& data) {
  auto bad = [&](const char* what) {
    return InvalidArgument("time zone \"" + name_ + "\": malformed TZif data (" + what + ")");
  };
  constexpr size_t kHeader = 44;
  if (data.size() < kHeader || data.compare(0, 4, "TZif") != 0) return bad("no TZif header");
  const char version = data[4];
  auto counts = [&](size_t at, uint32_t c[6]) {
    for (int i = 0; i < 6; ++i) c[i] = Be32(data, at + 20 + 4 * i);
  };
  uint32_t c[6];  // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
  counts(0, c);
  size_t v1_size = c[3] * 5ull + c[4] * 6ull + c[5] + c[2] * 8ull + c[1] + c[0];
  size_t at = kHeader;
  int time_size = 4;
  if (version >= '2') {
    at = kHeader + v1_size;
    if (data.size() < at + kHeader || data.compare(at, 4, "TZif") != 0) {
      return bad("no second header");
    }
    counts(at, c);
    at += kHeader;
    time_size = 8;
  }
  const uint32_t timecnt = c[3], typecnt = c[4];
  if (typecnt == 0 || typecnt > 256 || timecnt > 100'000) return bad("bad counts");
  size_t need = timecnt * (time_size + 1ull) + typecnt * 6ull + c[5] + c[2] * (time_size + 4ull) +
                c[1] + c[0];
  if (data.size() < at + need) return bad("truncated");
  std::vector<int64_t> times(timecnt);
  for (uint32_t i = 0; i < timecnt; ++i) {
    times[i] = time_size == 8 ? Be64(data, at + i * 8ull)
                              : static_cast<int32_t>(Be32(data, at + i * 4ull));
  }
  size_t index_at = at + timecnt * static_cast<size_t>(time_size);
  size_t types_at = index_at + timecnt;
  std::vector<int32_t> type_offsets(typecnt);
  for (uint32_t i = 0; i < typecnt; ++i) {
    type_offsets[i] = static_cast<int32_t>(Be32(data, types_at + i * 6ull));
  }
  initial_offset_ = type_offsets[0];
  for (uint32_t i = 0; i < timecnt; ++i) {
    uint8_t type = static_cast<uint8_t>(data[index_at + i]);
    if (type >= typecnt) return bad("bad type index");
    if (i > 0 && times[i] <= times[i - 1]) return bad("transitions out of order");
    transitions_.push_back(times[i]);
    offsets_.push_back(type_offsets[type]);
  }
  if (time_size == 8) {
    size_t footer = at + need;
    if (footer < data.size() && data[footer] == '\n') {
      size_t end = data.find('\n', footer + 1);
      if (end == std::string::npos) return bad("unterminated footer");
      std::string_view tz(data.data() + footer + 1, end - footer - 1);
      if (!tz.empty()) {
        auto rule = std::make_shared<Rule>();
        TzStringParser p(tz);
        int32_t std_value = 0;
        if (!p.Name() || !p.Time(&std_value)) return bad("bad footer");
        rule->std_offset = -std_value;
        if (!p.AtEnd()) {
          if (!p.Name()) return bad("bad footer");
          rule->has_dst = true;
          rule->dst_offset = rule->std_offset + 3600;
          if (!p.AtEnd() && !p.Consume(',')) {
            int32_t dst_value = 0;
            if (!p.Time(&dst_value)) return bad("bad footer");
            rule->dst_offset = -dst_value;
            if (!p.Consume(',')) return bad("bad footer");
          }
          if (!p.Date(&rule->start) || !p.Consume(',') || !p.Date(&rule->end) || !p.AtEnd()) {
            return bad("bad footer rule");
          }
        }
        rule_ = std::move(rule);
      }
    }
  }
  return Status::Ok();
}

int32_t TimeZone::OffsetAt(int64_t unix_seconds) const {
  if (transitions_.empty()) return rule_ ? rule_->OffsetAt(unix_seconds) : initial_offset_;
  if (unix_seconds < transitions_.front()) return initial_offset_;
  if (unix_seconds >= transitions_.back() && rule_) return rule_->OffsetAt(unix_seconds);
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), unix_seconds);
  return offsets_[static_cast<size_t>(it - transitions_.begin()) - 1];
}

std::vector<int64_t> TimeZone::FromLocal(int64_t local_seconds) const {
  constexpr int64_t kDay = 86'400;
  std::vector<int32_t> candidates = {OffsetAt(local_seconds - kDay), OffsetAt(local_seconds),
                                     OffsetAt(local_seconds + kDay)};
  std::vector<int64_t> out;
  for (int32_t offset : candidates) {
    int64_t t = local_seconds - offset;
    if (OffsetAt(t) == offset) out.push_back(t);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace eon
