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
  for (const char* bad :
       {"", "* * * *", "61 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "*/0 * * * *",
        "a b c d e", "@every", "@every 5x", "@sometimes",
        // issue 11: ".s" ended the server (std::stod threw)
        "@every .s", "@every s", "@every -1s", "@every 1e400s", "@every 99999999999999999999h"}) {
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

namespace eon {
namespace {

int64_t Unix(int year, int month, int day, int hour, int minute, int second = 0) {
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<int64_t>(timegm(&tm));
}

// Regression (issue 11): "@every .s" ended the server (std::stod threw). Malformed durations
// are an INVALID_ARGUMENT naming the problem.
TEST(GoDuration, MalformedNumbersAreErrorsNotCrashes) {
  for (const char* bad : {".s", ".", "s", "1", "1x", "..1s", "-", "1.s.", "99999999999999999999h",
                          "9223372036854775807h", "1h-"}) {
    auto parsed = ParseGoDuration(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    if (!parsed.ok()) EXPECT_EQ(parsed.status().code(), StatusCode::INVALID_ARGUMENT) << bad;
  }
  auto every = CronSchedule::Parse("@every .s");
  ASSERT_FALSE(every.ok());
  EXPECT_NE(every.status().message().find("@every"), std::string::npos);
  EXPECT_EQ(*ParseGoDuration("1.5h"), std::chrono::minutes(90));
  EXPECT_EQ(*ParseGoDuration(".5s"), std::chrono::milliseconds(500));
  EXPECT_EQ(*ParseGoDuration("2d3h"), std::chrono::hours(51));
  EXPECT_EQ(*ParseGoDuration("1m30s250ms"), std::chrono::milliseconds(90'250));
}

TEST(Calendar, ParsesRangesStepsNamesAndDefaults) {
  CalendarFields f;
  f.hour = "9-17/4";
  f.day_of_week = "mon-fri";
  f.month = "jan,Mar";
  auto c = ParseCalendar(f);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->hour.size(), 1u);
  EXPECT_EQ(c->hour[0].start, 9);
  EXPECT_EQ(c->hour[0].end, 17);
  EXPECT_EQ(c->hour[0].step, 4);
  EXPECT_EQ(c->second.size(), 1u);  // default "0"
  EXPECT_TRUE(c->year.empty());     // "*": every year
  CalendarMatcher m(*c, nullptr);
  // Friday 2026-01-02 is a weekday in January: 09:00, 13:00, 17:00.
  EXPECT_EQ(m.Next(Unix(2026, 1, 2, 9, 0)), Unix(2026, 1, 2, 13, 0));
  EXPECT_EQ(m.Next(Unix(2026, 1, 2, 17, 0)), Unix(2026, 1, 5, 9, 0));   // Monday
  EXPECT_EQ(m.Next(Unix(2026, 1, 30, 17, 0)), Unix(2026, 3, 2, 9, 0));  // skips February
}

TEST(Calendar, DayOfMonthAndDayOfWeekBothMatch) {
  CalendarFields f;
  f.day_of_month = "13";
  f.day_of_week = "friday";
  auto c = ParseCalendar(f);
  ASSERT_TRUE(c.ok());
  CalendarMatcher m(*c, nullptr);
  EXPECT_EQ(m.Next(Unix(2026, 1, 1, 0, 0)), Unix(2026, 2, 13, 0, 0));  // Friday the 13th
}

TEST(Calendar, SundayIsZeroOrSeven) {
  CalendarFields f;
  f.day_of_week = "7";
  auto c = ParseCalendar(f);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->day_of_week.size(), 1u);
  EXPECT_EQ(c->day_of_week[0].start, 0);
}

TEST(Calendar, BadFieldsNameTheField) {
  struct Case {
    CalendarFields fields;
    const char* field;
  };
  std::vector<Case> cases(5);
  cases[0].fields.hour = "24";
  cases[0].field = "Hour";
  cases[1].fields.minute = "*/0";
  cases[1].field = "Minute";
  cases[2].fields.month = "smarch";
  cases[2].field = "Month";
  cases[3].fields.year = "1999";
  cases[3].field = "Year";
  cases[4].fields.day_of_month = "5-3";
  cases[4].field = "DayOfMonth";
  for (const auto& c : cases) {
    auto parsed = ParseCalendar(c.fields);
    ASSERT_FALSE(parsed.ok()) << c.field;
    EXPECT_EQ(parsed.status().code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(parsed.status().message().find(c.field), std::string::npos)
        << parsed.status().message();
  }
}

TEST(ScheduleCron, FieldsCommentsZonesAndIntervals) {
  auto five = ParseScheduleCron("30 9 * * MON # stand-up");
  ASSERT_TRUE(five.ok()) << five.status().message();
  EXPECT_EQ(five->calendar->comment, "stand-up");
  auto seven = ParseScheduleCron("15 30 9 * * * 2030");
  ASSERT_TRUE(seven.ok()) << seven.status().message();
  EXPECT_EQ(seven->calendar->second[0].start, 15);
  EXPECT_EQ(seven->calendar->year[0].start, 2030);
  auto zoned = ParseScheduleCron("CRON_TZ=Europe/Berlin 0 12 * * *");
  ASSERT_TRUE(zoned.ok());
  EXPECT_EQ(zoned->time_zone, "Europe/Berlin");
  auto every = ParseScheduleCron("@every 1h/15m");
  ASSERT_TRUE(every.ok());
  EXPECT_EQ(*every->interval, std::chrono::hours(1));
  EXPECT_EQ(every->phase, std::chrono::minutes(15));
  EXPECT_TRUE(ParseScheduleCron("@daily")->calendar.has_value());
  for (const char* bad :
       {"* * * *", "TZ=UTC", "@every", "@every .s", "61 * * * *", "* * * * * * * *"}) {
    auto parsed = ParseScheduleCron(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    if (!parsed.ok()) EXPECT_EQ(parsed.status().code(), StatusCode::INVALID_ARGUMENT);
  }
}

TEST(TimeZone, ReadsTzdataIncludingTheRuleAfter2037) {
  auto ny = TimeZone::Load("America/New_York");
  ASSERT_TRUE(ny.ok()) << ny.status().message();
  EXPECT_EQ((*ny)->OffsetAt(Unix(2026, 1, 15, 12, 0)), -5 * 3600);
  EXPECT_EQ((*ny)->OffsetAt(Unix(2026, 7, 15, 12, 0)), -4 * 3600);
  EXPECT_EQ((*ny)->OffsetAt(Unix(2045, 1, 15, 12, 0)), -5 * 3600);  // from the POSIX rule
  EXPECT_EQ((*ny)->OffsetAt(Unix(2045, 7, 15, 12, 0)), -4 * 3600);
  auto sydney = TimeZone::Load("Australia/Sydney");
  ASSERT_TRUE(sydney.ok());
  EXPECT_EQ((*sydney)->OffsetAt(Unix(2045, 1, 15, 12, 0)), 11 * 3600);  // southern summer
  EXPECT_EQ((*sydney)->OffsetAt(Unix(2045, 7, 15, 12, 0)), 10 * 3600);
  for (const char* bad : {"Mars/Olympus_Mons", "../../etc/passwd", "/etc/passwd", "Europe/"}) {
    auto loaded = TimeZone::Load(bad);
    ASSERT_FALSE(loaded.ok()) << bad;
    EXPECT_EQ(loaded.status().code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(loaded.status().message().find("unknown time zone"), std::string::npos);
  }
  EXPECT_FALSE(TimeZone::FromTzif("x", "TZif2 garbage").ok());
}

TEST(TimeZone, CalendarsSkipTheSpringGapAndRepeatTheFallBackHour) {
  auto ny = TimeZone::Load("America/New_York");
  ASSERT_TRUE(ny.ok());
  auto daily_0230 = ParseScheduleCron("30 2 * * *");
  CalendarMatcher spring(*daily_0230->calendar, *ny);
  // 2026-03-08 02:30 does not exist in New York: the next run is the 9th, 02:30 EDT.
  EXPECT_EQ(spring.Next(Unix(2026, 3, 8, 0, 0)), Unix(2026, 3, 9, 6, 30));
  auto daily_0130 = ParseScheduleCron("30 1 * * *");
  CalendarMatcher fall(*daily_0130->calendar, *ny);
  // 2026-11-01 01:30 happens twice: 05:30Z (EDT) and 06:30Z (EST).
  auto first = fall.Next(Unix(2026, 11, 1, 0, 0));
  EXPECT_EQ(first, Unix(2026, 11, 1, 5, 30));
  EXPECT_EQ(fall.Next(*first), Unix(2026, 11, 1, 6, 30));
  EXPECT_EQ(fall.Next(Unix(2026, 11, 1, 6, 30)), Unix(2026, 11, 2, 6, 30));
  // An ordinary day: 12:00 in Berlin is 11:00Z in winter.
  auto berlin = TimeZone::Load("Europe/Berlin");
  ASSERT_TRUE(berlin.ok());
  CalendarMatcher noon(*ParseScheduleCron("0 12 * * *")->calendar, *berlin);
  EXPECT_EQ(noon.Next(Unix(2026, 1, 10, 0, 0)), Unix(2026, 1, 10, 11, 0));
  EXPECT_EQ(noon.Next(Unix(2026, 7, 10, 0, 0)), Unix(2026, 7, 10, 10, 0));
}

TEST(Calendar, YearsOutsideTheRangeNeverMatch) {
  CalendarFields f;
  f.year = "2030";
  auto c = ParseCalendar(f);
  ASSERT_TRUE(c.ok());
  CalendarMatcher m(*c, nullptr);
  EXPECT_EQ(m.Next(Unix(2026, 5, 1, 0, 0)), Unix(2030, 1, 1, 0, 0));
  EXPECT_EQ(m.Next(Unix(2031, 1, 1, 0, 0)), std::nullopt);
}

}  // namespace
}  // namespace eon
