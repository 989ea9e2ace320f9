// The worker against a real server: eager activities (handed back in the workflow task's reply,
// and not when turned off), and local activities that outlive the workflow task timeout (the
// workflow-task heartbeat) or their own start-to-close and schedule-to-close timeouts.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "eon/sdk/sdk.h"
#include "eon/sdk/testing.h"

namespace eon::sdk {
namespace {

using namespace std::chrono_literals;
using testing::TestEnvironment;
using testing::TestEnvironmentOptions;
namespace enums = temporal::api::enums::v1;

std::unique_ptr<TestEnvironment> StartRealTimeEnv() {
  TestEnvironmentOptions options;
  options.eon_binary = EON_BINARY;
  // Real time: local activities sleep in the worker, which the server cannot skip.
  options.time_skipping = false;
  auto env = TestEnvironment::Start(options);
  EXPECT_TRUE(env.ok()) << env.error().ToString();
  return env.ok() ? std::move(env).value() : nullptr;
}

int CountEvents(const History& history, enums::EventType type) {
  int n = 0;
  for (const auto& e : history.events()) n += e.event_type() == type ? 1 : 0;
  return n;
}

// --- eager activities -------------------------------------------------------------------------

std::string Shout(std::string word) { return word + "!"; }

Task<std::string> ShoutTwice(WorkflowContext& ctx, std::string word, bool eager_dispatch) {
  auto options =
      ActivityOptions().start_to_close(std::chrono::seconds(30)).eager_dispatch(eager_dispatch);
  auto once = co_await ctx.execute_activity<std::string>("Shout", options, word);
  co_return co_await ctx.execute_activity<std::string>("Shout", options, once);
}

struct EagerRun {
  std::string result;
  size_t eager_received = 0;
  int activities_started = 0;
};

EagerRun RunShoutTwice(bool worker_eager, bool eager_dispatch) {
  EagerRun run;
  auto env = StartRealTimeEnv();
  if (!env) return run;
  WorkerOptions options;
  options.eager_activities = worker_eager;
  Worker& worker = env->new_worker(options);
  worker.register_workflow("ShoutTwice", ShoutTwice);
  worker.register_activity("Shout", Shout);
  EXPECT_TRUE(worker.start().ok());
  auto handle = env->client().start_workflow("ShoutTwice", env->workflow_options("shout"),
                                             std::string("hey"), eager_dispatch);
  EXPECT_TRUE(handle.ok()) << handle.error().ToString();
  if (!handle.ok()) return run;
  auto result = handle->result<std::string>();
  EXPECT_TRUE(result.ok()) << result.error().ToString();
  run.result = result.value_or("");
  run.eager_received = worker.eager_activities_received();
  auto history = handle->fetch_history();
  EXPECT_TRUE(history.ok());
  if (history.ok()) {
    run.activities_started = CountEvents(*history, enums::EVENT_TYPE_ACTIVITY_TASK_STARTED);
  }
  return run;
}

TEST(EagerActivities, AnActivityOnTheWorkersOwnQueueComesBackInTheTaskReply) {
  auto run = RunShoutTwice(/*worker_eager=*/true, /*eager_dispatch=*/true);
  EXPECT_EQ(run.result, "hey!!");
  EXPECT_EQ(run.activities_started, 2);
  // Both activities were scheduled with free slots on an idle worker: both came back eagerly.
  EXPECT_EQ(run.eager_received, 2u);
}

TEST(EagerActivities, TurnedOffOnTheWorkerEveryActivityGoesThroughTheQueue) {
  auto run = RunShoutTwice(/*worker_eager=*/false, /*eager_dispatch=*/true);
  EXPECT_EQ(run.result, "hey!!");
  EXPECT_EQ(run.activities_started, 2);
  EXPECT_EQ(run.eager_received, 0u);
}

TEST(EagerActivities, TurnedOffForTheActivityItGoesThroughTheQueue) {
  auto run = RunShoutTwice(/*worker_eager=*/true, /*eager_dispatch=*/false);
  EXPECT_EQ(run.result, "hey!!");
  EXPECT_EQ(run.eager_received, 0u);
}

// --- local activities -------------------------------------------------------------------------

std::atomic<int> slow_attempts{0};

// Sleeps `ms` unless canceled first (then throws CanceledError, as a cancelled activity does).
std::string SlowEcho(ActivityContext& ctx, std::string text, int ms) {
  ++slow_attempts;
  if (ctx.wait_canceled(std::chrono::milliseconds(ms))) throw CanceledError("canceled");
  return text;
}

Task<std::string> LongLocalActivity(WorkflowContext& ctx, int sleep_ms) {
  co_return co_await ctx.execute_local_activity<std::string>(
      "SlowEcho", LocalActivityOptions().start_to_close(std::chrono::seconds(60)),
      std::string("done"), sleep_ms);
}

TEST(LocalActivities, OneThatOutlivesTheWorkflowTaskTimeoutKeepsTheTaskAlive) {
  auto env = StartRealTimeEnv();
  ASSERT_TRUE(env);
  Worker& worker = env->new_worker();
  worker.register_workflow("LongLocalActivity", LongLocalActivity);
  worker.register_activity("SlowEcho", SlowEcho);
  ASSERT_TRUE(worker.start().ok());
  slow_attempts = 0;
  auto options = env->workflow_options("long-local");
  options.task_timeout = 2s;  // heartbeats at 1.6 s
  auto handle = env->client().start_workflow("LongLocalActivity", options, 5000);
  ASSERT_TRUE(handle.ok()) << handle.error().ToString();
  auto result = handle->result<std::string>();
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(*result, "done");
  EXPECT_EQ(slow_attempts.load(), 1) << "the local activity ran again";

  // The heartbeats: workflow tasks completed while it ran, before its marker.
  auto history = handle->fetch_history();
  ASSERT_TRUE(history.ok()) << history.error().ToString();
  int completed_before_marker = 0;
  bool marker = false;
  for (const auto& e : history->events()) {
    if (e.event_type() == enums::EVENT_TYPE_MARKER_RECORDED) {
      marker = true;
      break;
    }
    if (e.event_type() == enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED) ++completed_before_marker;
  }
  EXPECT_TRUE(marker);
  EXPECT_GE(completed_before_marker, 2) << "no workflow-task heartbeat";

  // The history replays: the marker that came tasks later resolves the same local activity.
  Replayer replayer;
  replayer.register_workflow("LongLocalActivity", LongLocalActivity);
  auto replayed = replayer.replay(*history, "long-local");
  EXPECT_TRUE(replayed.ok()) << replayed.error().ToString();
}

Task<std::string> TimedOutLocalActivities(WorkflowContext& ctx) {
  std::string report;
  auto describe = [](const std::exception_ptr& error) -> std::string {
    try {
      std::rethrow_exception(error);
    } catch (const ActivityError& e) {
      try {
        std::rethrow_exception(e.cause());
      } catch (const TimeoutError& timeout) {
        return enums::TimeoutType_Name(timeout.timeout_type());
      } catch (...) {
        return "ActivityError with another cause";
      }
    } catch (...) {
      return "not an ActivityError";
    }
  };
  // Each attempt outlives its start-to-close (0.5 s): two attempts, then the timeout.
  RetryPolicy two_attempts = RetryPolicy().maximum_attempts(2).initial_interval(
      std::chrono::milliseconds(100));
  try {
    co_await ctx.execute_local_activity<std::string>(
        "SlowEcho",
        LocalActivityOptions().start_to_close(std::chrono::milliseconds(500)).retry(two_attempts),
        std::string("late"), 10'000);
    report += "completed;";
  } catch (...) {
    report += describe(std::current_exception()) + ";";
  }
  // The whole activity outlives its schedule-to-close (1 s) within one attempt.
  try {
    co_await ctx.execute_local_activity<std::string>(
        "SlowEcho",
        LocalActivityOptions()
            .start_to_close(std::chrono::seconds(30))
            .schedule_to_close(std::chrono::seconds(1)),
        std::string("late"), 10'000);
    report += "completed";
  } catch (...) {
    report += describe(std::current_exception());
  }
  co_return report;
}

TEST(LocalActivities, TheirStartToCloseAndScheduleToCloseTimeoutsHold) {
  auto env = StartRealTimeEnv();
  ASSERT_TRUE(env);
  Worker& worker = env->new_worker();
  worker.register_workflow("TimedOutLocalActivities", TimedOutLocalActivities);
  worker.register_activity("SlowEcho", SlowEcho);
  ASSERT_TRUE(worker.start().ok());
  slow_attempts = 0;
  auto started = std::chrono::steady_clock::now();
  auto result = env->client().execute_workflow<std::string>(
      "TimedOutLocalActivities", env->workflow_options("timed-out-local"));
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(*result, "TIMEOUT_TYPE_START_TO_CLOSE;TIMEOUT_TYPE_SCHEDULE_TO_CLOSE");
  EXPECT_EQ(slow_attempts.load(), 3);  // two attempts of the first, one of the second
  // Neither waited for its 10 s sleep.
  EXPECT_LT(std::chrono::steady_clock::now() - started, 9s);
}

}  // namespace
}  // namespace eon::sdk
