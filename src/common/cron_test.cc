#include "common/cron.h"

#include <gtest/gtest.h>

namespace eon {
namespace {

TimePoint At(int year, int month, int day, int hour, int minute) {
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

TimePoint Next(const std::string& spec, TimePoint after) {
  auto schedule = CronSchedule::Parse(spec);
  EXPECT_TRUE(schedule.ok()) << schedule.status().message();
  return schedule->Next(after);
}

TEST(Cron, EveryMinuteFiresAtTheNextWholeMinute) {
  EXPECT_EQ(Next("* * * * *", At(2026, 1, 1, 10, 0) + std::chrono::seconds(5)),
            At(2026, 1, 1, 10, 1));
}

TEST(Cron, StepsRangesListsAndNames) {
  EXPECT_EQ(Next("*/15 * * * *", At(2026, 1, 1, 10, 1)), At(2026, 1, 1, 10, 15));
  EXPECT_EQ(Next("0 9-17/4 * * *", At(2026, 1, 1, 10, 0)), At(2026, 1, 1, 13, 0));
  EXPECT_EQ(Next("30 2 * * MON,fri", At(2026, 11, 26, 0, 0)), At(2026, 11, 27, 2, 30));  // Fri
  EXPECT_EQ(Next("0 0 1 JAN *", At(2026, 3, 1, 0, 0)), At(2027, 1, 1, 0, 0));
  EXPECT_EQ(Next("0 0 * * 7", At(2026, 11, 26, 0, 0)), At(2026, 11, 29, 0, 0));  // Sunday
}

TEST(Cron, DayOfMonthOrDayOfWeekWhenBothAreRestricted) {
  // The 1st of the month or any Monday, whichever comes first.
  EXPECT_EQ(Next("0 0 1 * 1", At(2026, 11, 26, 0, 0)), At(2026, 11, 30, 0, 0));  // Monday
  EXPECT_EQ(Next("0 0 1 * 1", At(2026, 11, 30, 0, 0)), At(2026, 12, 1, 0, 0));
}

TEST(Cron, Descriptors) {
  EXPECT_EQ(Next("@hourly", At(2026, 1, 1, 10, 30)), At(2026, 1, 1, 11, 0));
  EXPECT_EQ(Next("@daily", At(2026, 1, 1, 10, 30)), At(2026, 1, 2, 0, 0));
  EXPECT_EQ(Next("@monthly", At(2026, 1, 15, 0, 0)), At(2026, 2, 1, 0, 0));
}

TEST(Cron, EveryIsAConstantDelay) {
  TimePoint t = At(2026, 1, 1, 10, 0) + std::chrono::seconds(7);
  EXPECT_EQ(Next("@every 30s", t), At(2026, 1, 1, 10, 0) + std::chrono::seconds(37));
  EXPECT_EQ(Next("@every 1h30m", At(2026, 1, 1, 0, 0)) - At(2026, 1, 1, 0, 0),
            std::chrono::minutes(90));
}

TEST(Cron, RejectsMalformedSchedulesWithAReason) {
  for (const char* bad : {"", "* * * *", "61 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
                          "*/0 * * * *", "a b c d e", "@every", "@every 5x", "@sometimes"}) {
    auto parsed = CronSchedule::Parse(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().code(), StatusCode::INVALID_ARGUMENT);
      EXPECT_NE(parsed.status().message().find("invalid cron schedule"), std::string::npos) << bad;
    }
  }
}

TEST(Cron, ImpossibleDatesNeverFire) {
  EXPECT_EQ(Next("0 0 30 2 *", At(2026, 1, 1, 0, 0)), TimePoint::max());
}

}  // namespace
}  // namespace eon
