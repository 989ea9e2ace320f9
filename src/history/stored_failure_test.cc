#include "history/stored_failure.h"

#include <gtest/gtest.h>

#include <string>

namespace eon::history {
namespace {

namespace failure = temporal::api::failure::v1;

failure::Failure Chain(int levels, const std::string& message) {
  failure::Failure root;
  failure::Failure* at = &root;
  for (int i = 0; i < levels; ++i) {
    at->set_message(message + " " + std::to_string(i));
    at->set_source("TypeScriptSDK");
    at->mutable_application_failure_info()->set_type("Level" + std::to_string(i));
    at->mutable_application_failure_info()->set_non_retryable(i % 2 == 0);
    if (i + 1 < levels) at = at->mutable_cause();
  }
  return root;
}

TEST(StoredFailure, ASmallShallowFailureIsKeptAsItIs) {
  failure::Failure f = Chain(kStoredFailureCauseDepthMax + 1, "small");
  f.mutable_application_failure_info()->mutable_details()->add_payloads()->set_data("kept");
  ASSERT_EQ(FailureCauseDepth(f), kStoredFailureCauseDepthMax);
  const failure::Failure stored = FailureToStore(f);
  EXPECT_EQ(stored.SerializeAsString(), f.SerializeAsString());
}

// Issue 11: a cause chain 98 deep was stored whole and nested past protobuf's parse limit.
TEST(StoredFailure, ADeepChainIsReplacedAndItsCauseDepthBounded) {
  const failure::Failure deep = Chain(98, "x");
  const failure::Failure stored = FailureToStore(deep);
  EXPECT_EQ(stored.message(), kFailureExceedsLimitMessage);
  ASSERT_TRUE(stored.has_server_failure_info());
  EXPECT_FALSE(stored.server_failure_info().non_retryable());
  EXPECT_LE(FailureCauseDepth(stored), kStoredFailureCauseDepthMax);
  // The cause is the worker's failure, from its top, with type and flag kept.
  ASSERT_TRUE(stored.has_cause());
  EXPECT_EQ(stored.cause().message(), "x 0");
  EXPECT_EQ(stored.cause().source(), "TypeScriptSDK");
  EXPECT_EQ(stored.cause().application_failure_info().type(), "Level0");
  EXPECT_TRUE(stored.cause().application_failure_info().non_retryable());
  EXPECT_EQ(stored.cause().cause().message(), "x 1");
  EXPECT_FALSE(stored.cause().cause().application_failure_info().non_retryable());
}

TEST(StoredFailure, ALargeFailureIsCutToTheSizeLimit) {
  failure::Failure big = Chain(3, std::string(3'000, 'm'));
  big.set_stack_trace(std::string(10'000, 's'));
  big.mutable_application_failure_info()->mutable_details()->add_payloads()->set_data(
      std::string(50'000, 'd'));
  ASSERT_GT(big.ByteSizeLong(), kStoredFailureBytesMax);
  const failure::Failure stored = FailureToStore(big);
  EXPECT_EQ(stored.message(), kFailureExceedsLimitMessage);
  // The stand-in's own fields are a few dozen bytes over the cause's budget.
  EXPECT_LE(stored.ByteSizeLong(), kStoredFailureBytesMax + 64);
  EXPECT_EQ(stored.cause().message().substr(0, 10), std::string(10, 'm'));
  EXPECT_FALSE(stored.cause().application_failure_info().has_details());
}

TEST(StoredFailure, TruncationKeepsWholeUtf8Characters) {
  // "é" is two bytes (C3 A9): a cut after an odd number of bytes must not split one.
  failure::Failure f;
  std::string accents;
  for (int i = 0; i < 50; ++i) accents += "\xC3\xA9";
  f.set_message(accents);
  for (size_t limit = 1; limit < 20; ++limit) {
    const failure::Failure cut = TruncateFailure(f, limit, kStoredFailureCauseDepthMax);
    EXPECT_EQ(cut.message().size() % 2, 0u) << limit;
    EXPECT_LE(cut.message().size(), limit);
    failure::Failure parsed;
    EXPECT_TRUE(parsed.ParseFromString(cut.SerializeAsString())) << limit;
  }
}

TEST(StoredFailure, TruncateStopsAtTheDepthGiven) {
  const failure::Failure f = Chain(5, "level");
  EXPECT_EQ(FailureCauseDepth(TruncateFailure(f, 1'000, 3)), 3);
  EXPECT_EQ(FailureCauseDepth(TruncateFailure(f, 1'000, 100)), 4);
  EXPECT_EQ(FailureCauseDepth(TruncateFailure(f, 1'000, 0)), 0);
}

// Update outcomes and continued failures: only the depth is bounded; a large but shallow
// failure is kept whole, as Temporal keeps it.
TEST(StoredFailure, WithinDepthKeepsALargeShallowFailureAndCutsADeepChain) {
  failure::Failure large = Chain(kStoredFailureCauseDepthMax + 1, std::string(10'000, 'y'));
  ASSERT_GT(large.ByteSizeLong(), kStoredFailureBytesMax);
  EXPECT_EQ(FailureWithinDepth(large).SerializeAsString(), large.SerializeAsString());

  const failure::Failure deep = Chain(kStoredFailureCauseDepthMax + 2, "z");
  const failure::Failure kept = FailureWithinDepth(deep);
  EXPECT_EQ(kept.message(), kFailureExceedsLimitMessage);
  EXPECT_LE(FailureCauseDepth(kept), kStoredFailureCauseDepthMax);
  EXPECT_EQ(kept.cause().message(), "z 0");
  EXPECT_EQ(kept.cause().application_failure_info().type(), "Level0");
}

}  // namespace
}  // namespace eon::history
