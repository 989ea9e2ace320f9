#include "common/sim_env.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace eon {
namespace {

using namespace std::chrono_literals;

const TimePoint kStart{std::chrono::seconds(1'800'000'000)};

// The order in which ten closures posted at once run, and the UUIDs made meanwhile.
std::string OrderOf(uint64_t seed) {
  SimEnv env(seed, kStart);
  std::string order;
  for (int i = 0; i < 10; ++i) env.Post([&order, i] { order += std::to_string(i); });
  while (env.Step()) {
  }
  return order + "/" + NewUuid();
}

TEST(SimEnv, OneSeedIsOneOrderAndAnotherSeedAnother) {
  EXPECT_EQ(OrderOf(7), OrderOf(7));
  EXPECT_NE(OrderOf(7), OrderOf(8));
  // Outside a SimEnv, UUIDs are random again.
  EXPECT_NE(NewUuid(), NewUuid());
}

TEST(SimEnv, TimeJumpsToTheNextClosureDueAndSleepsInsideAStep) {
  SimEnv env(1, kStart);
  std::vector<int64_t> seen;
  auto elapsed = [&] {
    return std::chrono::duration_cast<std::chrono::seconds>(env.clock().Now() - kStart).count();
  };
  env.PostAt(kStart + 30s, [&] { seen.push_back(elapsed()); });
  env.PostAt(kStart + 10s, [&] {
    seen.push_back(elapsed());
    env.Sleep(5s);  // a slow write
    seen.push_back(elapsed());
  });
  auto id = env.PostAt(kStart + 20s, [&] { seen.push_back(-1); });
  EXPECT_TRUE(env.Cancel(id));
  while (env.Step()) {
  }
  EXPECT_EQ(seen, (std::vector<int64_t>{10, 15, 30}));
  // The steady clock moves with virtual time.
  EXPECT_EQ(
      std::chrono::duration_cast<std::chrono::seconds>(env.SteadyNow() - SteadyTime()).count(), 30);
}

TEST(SimEnv, AOneThreadExecutorKeepsItsOrderAndDeadlinesFireOnVirtualTime) {
  SimEnv env(3, kStart);
  auto executor = env.NewExecutor("one", 1);
  std::string order;
  for (int i = 0; i < 5; ++i) executor->Submit([&order, i] { order += std::to_string(i); });
  bool fired = false;
  env.deadlines().At(env.SteadyNow() + 2s, [&] { fired = true; });
  auto cancelled = env.deadlines().At(env.SteadyNow() + 1s, [&] { ADD_FAILURE(); });
  EXPECT_TRUE(env.deadlines().Cancel(cancelled));
  while (env.Step()) {
  }
  EXPECT_EQ(order, "01234");
  EXPECT_TRUE(fired);
  EXPECT_EQ(env.clock().Now(), kStart + 2s);
}

TEST(SimEnv, ALoopRunsWhenDueAndWhenWokenAndStopsWhenDestroyed) {
  SimEnv env(5, kStart);
  std::vector<int64_t> runs;
  auto loop = env.StartLoop(
      "test",
      [&] {
        runs.push_back(
            std::chrono::duration_cast<std::chrono::seconds>(env.clock().Now() - kStart).count());
        return Duration(10s);
      },
      200ms);
  env.PostAt(kStart + 3s, [&] { loop->Wake(); });
  env.PostAt(kStart + 25s, [&] { loop.reset(); });
  while (env.Step()) {
  }
  // At 0, woken at 3, then every 10 s from there until destroyed at 25.
  EXPECT_EQ(runs, (std::vector<int64_t>{0, 3, 13, 23}));
  EXPECT_EQ(env.pending(), 0u);
}

}  // namespace
}  // namespace eon
