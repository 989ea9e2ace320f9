// The small pieces that keep bad input from crashing the server: non-throwing number parsing,
// JSON depth measured without recursion, saturating time conversions, the exception barrier and
// the assert tiers.
#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>
#include <string>

#include "common/assert.h"
#include "common/barrier.h"
#include "common/clock.h"
#include "common/json_depth.h"
#include "common/parse.h"

namespace eon {
namespace {

TEST(ParseNumber, AcceptsWholeNumbersOnly) {
  EXPECT_EQ(ParseNumber<int>("42"), 42);
  EXPECT_EQ(ParseNumber<int64_t>("-9000000000"), -9'000'000'000LL);
  EXPECT_EQ(ParseNumber<int>(""), std::nullopt);
  EXPECT_EQ(ParseNumber<int>("4x"), std::nullopt);
  EXPECT_EQ(ParseNumber<int>(".s"), std::nullopt);
  EXPECT_EQ(ParseNumber<int>("99999999999"), std::nullopt);  // out of range, no throw
  EXPECT_EQ(ParseNumber<double>("1.5"), 1.5);
  EXPECT_EQ(ParseNumber<double>("."), std::nullopt);
}

TEST(JsonNestingDepth, CountsBracketsOutsideStrings) {
  EXPECT_EQ(JsonNestingDepth("1", 10), 0);
  EXPECT_EQ(JsonNestingDepth(R"(["a", ["b"]])", 10), 2);
  EXPECT_EQ(JsonNestingDepth(R"({"k": "[[[[\"]]"})", 10), 1);
  EXPECT_EQ(JsonNestingDepth(R"("\\" [)", 10), 1);
  // 100,000 deep (issue 11, input 5): measured without recursion, stopping early.
  std::string deep(100'000, '[');
  deep += std::string(100'000, ']');
  EXPECT_GT(JsonNestingDepth(deep, kJsonNestingMax), kJsonNestingMax);
  EXPECT_EQ(JsonNestingDepth(deep, 1'000'000), 100'000);
}

TEST(Clock, ConversionsSaturateInsteadOfOverflowing) {
  google::protobuf::Duration huge;
  huge.set_seconds(std::numeric_limits<int64_t>::max());
  EXPECT_GT(FromProtoDuration(huge).count(), 0);
  huge.set_seconds(std::numeric_limits<int64_t>::min());
  EXPECT_LT(FromProtoDuration(huge).count(), 0);
  google::protobuf::Timestamp far;
  far.set_seconds(std::numeric_limits<int64_t>::max());
  EXPECT_GT(ToUnixNanos(FromTimestamp(far)), 0);
}

TEST(Barrier, TurnsAnExceptionIntoInternalAndCountsIt) {
  const int64_t before = CaughtExceptionCount();
  Status thrown = RunGuarded("test closure", [] { throw std::runtime_error("boom"); });
  EXPECT_EQ(thrown.code(), StatusCode::INTERNAL);
  EXPECT_NE(thrown.message().find("boom"), std::string::npos);
  EXPECT_EQ(CaughtExceptionCount(), before + 1);
  EXPECT_TRUE(RunGuarded("quiet closure", [] {}).ok());
  EXPECT_EQ(CaughtExceptionCount(), before + 1);
}

TEST(Assert, ReleaseAssertHoldsInEveryBuild) {
  EON_RELEASE_ASSERT(1 + 1 == 2, "arithmetic");
  EXPECT_DEATH(EON_RELEASE_ASSERT(1 + 1 == 3, "broken arithmetic"), "broken arithmetic");
}

}  // namespace
}  // namespace eon
