#include "common/ids.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <regex>
#include <string>

namespace eon {
namespace {

using namespace std::chrono_literals;

const TimePoint kNow{std::chrono::milliseconds(1'800'000'000'123)};

// The first 12 hex digits of a version 7 UUID: its milliseconds since the epoch.
int64_t MillisOf(const std::string& id) {
  return std::stoll(id.substr(0, 8) + id.substr(9, 4), nullptr, 16);
}

TEST(Ids, ARequestIdIsARandomVersion4Uuid) {
  const std::string id = NewUuid();
  EXPECT_TRUE(
      std::regex_match(id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                                      "[0-9a-f]{12}")))
      << id;
  EXPECT_NE(id, NewUuid());
}

TEST(Ids, ARunIdIsAVersion7UuidThatCarriesItsMillisecond) {
  const std::string id = NewRunId(kNow);
  EXPECT_TRUE(
      std::regex_match(id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                                      "[0-9a-f]{12}")))
      << id;
  EXPECT_EQ(MillisOf(id), 1'800'000'000'123);
  // The rest is random: two runs started in one millisecond get two ids.
  EXPECT_NE(id, NewRunId(kNow));
}

// The point of version 7: a later run's id sorts after an earlier one's, as text too, so the
// store's trees keyed by run id take new runs at their right edge.
TEST(Ids, RunIdsSortInTheOrderTheirRunsStarted) {
  std::string previous = NewRunId(kNow);
  for (std::chrono::milliseconds step : {1ms, 2ms, 1000ms, 86'400'000ms, 50 * 31'536'000'000ms}) {
    std::string next = NewRunId(kNow + step);
    EXPECT_LT(previous, next) << "after " << step.count() << " ms";
    previous = next;
  }
}

TEST(Ids, ASeededSourceGivesTheSameRunIdsEveryTime) {
  auto draw = [] {
    uint64_t n = 42;
    ScopedUuidSource source([&n] { return n = n * 6364136223846793005ULL + 1; });
    return NewRunId(kNow) + NewRunId(kNow) + NewUuid();
  };
  EXPECT_EQ(draw(), draw());
}

}  // namespace
}  // namespace eon
