#include "worker/schedule_spec.h"

#include <gtest/gtest.h>

#include <set>

namespace eon::worker {
namespace {

using namespace std::chrono_literals;

TimePoint At(int year, int month, int day, int hour, int minute, int second = 0) {
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::shared_ptr<const CompiledSpec> Compile(const schedpb::ScheduleSpec& spec,
                                            schedpb::ScheduleSpec* canonical = nullptr) {
  auto compiled = CompiledSpec::Compile(spec, canonical);
  EXPECT_TRUE(compiled.ok()) << compiled.status().message();
  return compiled.ok() ? *compiled : nullptr;
}

schedpb::ScheduleSpec Every(Duration interval, Duration phase = {}) {
  schedpb::ScheduleSpec spec;
  auto* iv = spec.add_interval();
  *iv->mutable_interval() = ToProtoDuration(interval);
  if (phase.count()) *iv->mutable_phase() = ToProtoDuration(phase);
  return spec;
}

TEST(ScheduleSpec, IntervalsCountFromTheEpochPlusPhase) {
  auto spec = Compile(Every(1h, 15min));
  EXPECT_EQ(spec->Next("", At(2026, 1, 1, 10, 20))->nominal, At(2026, 1, 1, 11, 15));
  EXPECT_EQ(spec->Next("", At(2026, 1, 1, 11, 15))->nominal, At(2026, 1, 1, 12, 15));
  // A fraction of a second past a time does not skip the next one.
  auto seconds = Compile(Every(2s));
  EXPECT_EQ(seconds->Next("", At(2026, 1, 1, 0, 0) + 500ms)->nominal, At(2026, 1, 1, 0, 0, 2));
}

TEST(ScheduleSpec, CalendarsAndCronStringsBecomeStructuredCalendars) {
  schedpb::ScheduleSpec spec;
  auto* cal = spec.add_calendar();
  cal->set_hour("12");
  cal->set_day_of_week("Sat");
  spec.add_cron_string("CRON_TZ=America/New_York 0 9 * * * # mornings");
  *spec.add_interval()->mutable_interval() = ToProtoDuration(90min);
  schedpb::ScheduleSpec canonical;
  auto compiled = Compile(spec, &canonical);
  EXPECT_EQ(canonical.calendar_size(), 0);
  EXPECT_EQ(canonical.cron_string_size(), 0);
  EXPECT_EQ(canonical.structured_calendar_size(), 2);
  EXPECT_EQ(canonical.structured_calendar(1).comment(), "mornings");
  EXPECT_EQ(canonical.interval_size(), 1);
  EXPECT_EQ(canonical.timezone_name(), "America/New_York");
  // 2026-01-03 is a Saturday: 09:00 New York (14:00Z) comes before 12:00 New York (17:00Z);
  // every 90 minutes from the epoch gives 13:30Z first.
  EXPECT_EQ(compiled->Next("", At(2026, 1, 3, 12, 0))->nominal, At(2026, 1, 3, 13, 30));
  EXPECT_EQ(compiled->Next("", At(2026, 1, 3, 13, 30))->nominal, At(2026, 1, 3, 14, 0));
}

TEST(ScheduleSpec, ExclusionsStartAndEnd) {
  schedpb::ScheduleSpec spec = Every(1h);
  auto* exclude = spec.add_exclude_structured_calendar();
  auto* hour = exclude->add_hour();
  hour->set_start(12);
  hour->set_end(13);
  exclude->add_minute()->set_start(0);
  exclude->add_second()->set_start(0);
  // In a structured calendar an empty field matches nothing (only Year means "any" when empty).
  auto all = [](auto* range, int start, int end) {
    range->set_start(start);
    range->set_end(end);
  };
  all(exclude->add_day_of_month(), 1, 31);
  all(exclude->add_month(), 1, 12);
  all(exclude->add_day_of_week(), 0, 6);
  *spec.mutable_start_time() = ToTimestamp(At(2026, 1, 1, 11, 0));
  *spec.mutable_end_time() = ToTimestamp(At(2026, 1, 1, 15, 0));
  auto compiled = Compile(spec);
  EXPECT_EQ(compiled->Next("", At(2025, 12, 1, 0, 0))->nominal, At(2026, 1, 1, 11, 0));
  EXPECT_EQ(compiled->Next("", At(2026, 1, 1, 11, 0))->nominal, At(2026, 1, 1, 14, 0));
  EXPECT_EQ(compiled->Next("", At(2026, 1, 1, 14, 0))->nominal, At(2026, 1, 1, 15, 0));
  EXPECT_FALSE(compiled->Next("", At(2026, 1, 1, 15, 0)).has_value());
}

TEST(ScheduleSpec, JitterIsDeterministicAndBounded) {
  schedpb::ScheduleSpec spec = Every(1min);
  *spec.mutable_jitter() = ToProtoDuration(30s);
  auto compiled = Compile(spec);
  std::set<int64_t> seen;
  TimePoint t = At(2026, 1, 1, 0, 0);
  for (int i = 0; i < 50; ++i) {
    auto next = compiled->Next("seed", t);
    ASSERT_TRUE(next);
    Duration jitter = next->actual - next->nominal;
    EXPECT_GE(jitter.count(), 0);
    EXPECT_LT(jitter, 30s);
    EXPECT_EQ(compiled->Next("seed", t)->actual, next->actual);  // same time, same jitter
    seen.insert(std::chrono::duration_cast<std::chrono::milliseconds>(jitter).count());
    t = next->nominal;
  }
  EXPECT_GT(seen.size(), 10u);  // it varies from time to time
  // Jitter never reaches the following time.
  schedpb::ScheduleSpec big = Every(10s);
  *big.mutable_jitter() = ToProtoDuration(1h);
  auto capped = Compile(big);
  auto next = capped->Next("x", At(2026, 1, 1, 0, 0));
  EXPECT_LT(next->actual - next->nominal, 10s);
}

TEST(ScheduleSpec, BadSpecsAreInvalidArgumentsNamingTheField) {
  struct Case {
    schedpb::ScheduleSpec spec;
    const char* mentions;
  };
  std::vector<Case> cases;
  cases.push_back({Every(0s), "interval"});
  cases.push_back({Every(1min, 2min), "phase"});
  schedpb::ScheduleSpec ends_early = Every(1min);
  *ends_early.mutable_start_time() = ToTimestamp(At(2026, 1, 2, 0, 0));
  *ends_early.mutable_end_time() = ToTimestamp(At(2026, 1, 1, 0, 0));
  cases.push_back({ends_early, "end_time"});
  schedpb::ScheduleSpec zone = Every(1min);
  zone.set_timezone_name("Nowhere/Special");
  cases.push_back({zone, "timezone_name"});
  schedpb::ScheduleSpec cron;
  cron.add_cron_string("* * *");
  cases.push_back({cron, "cron string"});
  schedpb::ScheduleSpec structured;
  structured.add_structured_calendar()->add_hour()->set_start(99);
  cases.push_back({structured, "Hour"});
  schedpb::ScheduleSpec every_dot;
  every_dot.add_cron_string("@every .s");
  cases.push_back({every_dot, "@every"});
  for (const auto& c : cases) {
    auto compiled = CompiledSpec::Compile(c.spec, nullptr);
    ASSERT_FALSE(compiled.ok()) << c.mentions;
    EXPECT_EQ(compiled.status().code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(compiled.status().message().find(c.mentions), std::string::npos)
        << compiled.status().message();
  }
}

}  // namespace
}  // namespace eon::worker
