// The C++ SDK against a live `eon server start-dev`: client calls, the worker, every workflow
// feature, activities, payloads, the replayer. Each test starts its own server (each test is
// its own process under ctest), so tests can run in parallel.
//
// Note: GCC 12 miscompiles aggregate temporaries inside co_await expressions (see workflow.h),
// so options are built with the builder types, and lists in statements of their own.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "eon/sdk/sdk.h"
#include "eon/sdk/testing.h"
#include "temporal/api/enums/v1/event_type.pb.h"
#include "temporal/api/enums/v1/failed_cause.pb.h"

namespace eon::sdk {
namespace {

using namespace std::chrono_literals;
using testing::TestEnvironment;
using testing::TestEnvironmentOptions;
using testing::UniqueName;
namespace enums = temporal::api::enums::v1;

// --- helpers ---------------------------------------------------------------------------------

// This build's eon, whatever EON_BIN says.
TestEnvironmentOptions EnvOptions(bool time_skipping) {
  TestEnvironmentOptions options;
  options.eon_binary = EON_BINARY;
  options.time_skipping = time_skipping;
  return options;
}

class SdkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Real time: these tests check timeouts and retries as they happen.
    auto env = TestEnvironment::Start(EnvOptions(/*time_skipping=*/false));
    ASSERT_TRUE(env.ok()) << env.error().ToString();
    env_ = std::move(env).value();
    client_ = std::make_unique<Client>(env_->client());
    queue_ = env_->task_queue();
  }
  void TearDown() override {
    for (auto& w : workers_) w->shutdown();
    workers_.clear();
  }

  // Starts a worker on queue_ (or `queue`) after `setup` registered what it runs.
  Worker& StartWorker(const std::function<void(Worker&)>& setup, WorkerOptions options = {}) {
    if (options.task_queue.empty()) options.task_queue = queue_;
    workers_.push_back(std::make_unique<Worker>(*client_, options));
    setup(*workers_.back());
    auto started = workers_.back()->start();
    EXPECT_TRUE(started.ok()) << (started.ok() ? "" : started.error().ToString());
    return *workers_.back();
  }
  StartWorkflowOptions Start(const std::string& id) { return env_->workflow_options(id); }
  // The events of a run, by type.
  std::vector<temporal::api::history::v1::HistoryEvent> Events(const WorkflowHandle& handle,
                                                               enums::EventType type) {
    std::vector<temporal::api::history::v1::HistoryEvent> out;
    auto history = handle.fetch_history();
    EXPECT_TRUE(history.ok());
    if (!history.ok()) return out;
    for (const auto& e : history->events()) {
      if (e.event_type() == type) out.push_back(e);
    }
    return out;
  }

  std::unique_ptr<TestEnvironment> env_;
  std::unique_ptr<Client> client_;
  std::string queue_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

// Waits (up to 20 s) for `predicate`.
bool Eventually(const std::function<bool()>& predicate) {
  for (int i = 0; i < 2000; ++i) {
    if (predicate()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return predicate();
}

// --- workflows and activities used below -----------------------------------------------------

std::string Compose(std::string greeting, std::string name) { return greeting + ", " + name + "!"; }

Task<std::string> Greeting(WorkflowContext& ctx, std::string name) {
  co_return co_await ctx.execute_activity<std::string>(
      "Compose", ActivityOptions().start_to_close(10s), std::string("Hello"), name);
}

struct InfoView {
  std::string workflow_id, workflow_type, task_queue, ns;
  int attempt = 0;
  bool replaying = true;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(InfoView, workflow_id, workflow_type, task_queue, ns, attempt,
                                   replaying)

Task<InfoView> Info(WorkflowContext& ctx) {
  const auto& info = ctx.info();
  co_return InfoView{info.workflow_id, info.workflow_type, info.task_queue,
                     info.ns,          info.attempt,       ctx.is_replaying()};
}

TEST_F(SdkTest, ExecutesAWorkflowThatCallsAnActivity) {
  StartWorker([](Worker& w) {
    w.register_workflow("Greeting", Greeting);
    w.register_workflow("Info", Info);
    w.register_activity("Compose", Compose);
  });
  auto result =
      client_->execute_workflow<std::string>("Greeting", Start("greet-1"), std::string("World"));
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(result.value(), "Hello, World!");

  auto info = client_->execute_workflow<InfoView>("Info", Start("info-1"));
  ASSERT_TRUE(info.ok()) << info.error().ToString();
  EXPECT_EQ(info->workflow_id, "info-1");
  EXPECT_EQ(info->workflow_type, "Info");
  EXPECT_EQ(info->task_queue, queue_);
  EXPECT_EQ(info->ns, "default");
  EXPECT_EQ(info->attempt, 1);
  EXPECT_FALSE(info->replaying);
}

// --- activities: retries, timeouts, heartbeats, cancellation, async completion -------------

std::atomic<int> flaky_calls{0};
int Flaky(ActivityContext& ctx) {
  ++flaky_calls;
  if (ctx.info().attempt < 3) throw std::runtime_error("not yet");
  return ctx.info().attempt;
}
std::atomic<int> fatal_calls{0};
int Fatal() {
  ++fatal_calls;
  throw ApplicationError("card declined", "CardDeclined", /*non_retryable=*/true);
}
std::string Slow(ActivityContext& ctx) {
  ctx.wait_canceled(3s);
  return "slow";
}

Task<std::string> RetriesAndTimeouts(WorkflowContext& ctx) {
  RetryPolicy fast;
  fast.initial_interval(50ms);
  fast.maximum_attempts(5);
  int attempt =
      co_await ctx.execute_activity<int>("Flaky", ActivityOptions().start_to_close(5s).retry(fast));
  std::string out = "attempt=" + std::to_string(attempt);
  try {
    co_await ctx.execute_activity<int>("Fatal", ActivityOptions().start_to_close(5s).retry(fast));
  } catch (const ActivityError& e) {
    try {
      std::rethrow_exception(e.cause());
    } catch (const ApplicationError& cause) {
      out += " fatal=" + cause.type() + ":" + cause.what();
    }
  }
  RetryPolicy once;
  once.maximum_attempts(1);
  try {
    co_await ctx.execute_activity<std::string>("Slow",
                                               ActivityOptions().start_to_close(300ms).retry(once));
  } catch (const ActivityError& e) {
    try {
      std::rethrow_exception(e.cause());
    } catch (const TimeoutError& cause) {
      out += " timeout=" + enums::TimeoutType_Name(cause.timeout_type());
    }
  }
  // The other three timeouts.
  auto timeout_of = [](std::exception_ptr error) -> std::string {
    try {
      std::rethrow_exception(error);
    } catch (const ActivityError& e) {
      try {
        std::rethrow_exception(e.cause());
      } catch (const TimeoutError& cause) {
        return enums::TimeoutType_Name(cause.timeout_type());
      } catch (...) {
      }
    } catch (...) {
    }
    return "other";
  };
  auto silent = ctx.execute_activity<std::string>(
      "Slow", ActivityOptions().start_to_close(10s).heartbeat(300ms).retry(once));
  auto unpolled = ctx.execute_activity<std::string>("Slow", ActivityOptions()
                                                                .task_queue("nobody-polls-this")
                                                                .schedule_to_start(300ms)
                                                                .start_to_close(5s)
                                                                .retry(once));
  auto overall = ctx.execute_activity<std::string>(
      "Slow", ActivityOptions().schedule_to_close(400ms).retry(fast));
  for (auto* f : {&silent, &unpolled, &overall}) {
    try {
      co_await *f;
    } catch (...) {
      out += " " + timeout_of(std::current_exception());
    }
  }
  co_return out;
}

TEST_F(SdkTest, ActivityRetriesNonRetryableErrorsAndTimeouts) {
  StartWorker([](Worker& w) {
    w.register_workflow("RetriesAndTimeouts", RetriesAndTimeouts);
    w.register_activity("Flaky", Flaky);
    w.register_activity("Fatal", Fatal);
    w.register_activity("Slow", Slow);
  });
  auto result = client_->execute_workflow<std::string>("RetriesAndTimeouts", Start("retries"));
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(result.value(),
            "attempt=3 fatal=CardDeclined:card declined timeout=TIMEOUT_TYPE_START_TO_CLOSE "
            "TIMEOUT_TYPE_HEARTBEAT TIMEOUT_TYPE_SCHEDULE_TO_START TIMEOUT_TYPE_SCHEDULE_TO_CLOSE");
  EXPECT_EQ(flaky_calls.load(), 3);
  EXPECT_EQ(fatal_calls.load(), 1);
}

std::atomic<bool> progress_activity_canceled{false};
int Progress(ActivityContext& ctx) {
  int start = ctx.heartbeat_details<int>().value_or(0);
  for (int i = start; i < 6; ++i) {
    ctx.heartbeat(i);
    if (i == 3 && ctx.info().attempt == 1) throw std::runtime_error("crash at 3");
  }
  return start;
}
std::string WaitForCancel(ActivityContext& ctx) {
  for (int i = 0; i < 200; ++i) {
    ctx.heartbeat(i);
    if (ctx.wait_canceled(50ms)) {
      progress_activity_canceled = true;
      ctx.throw_if_canceled();
    }
  }
  return "not canceled";
}

Task<std::string> HeartbeatsAndCancel(WorkflowContext& ctx) {
  RetryPolicy fast;
  fast.initial_interval(50ms);
  int resumed_from = co_await ctx.execute_activity<int>(
      "Progress", ActivityOptions().start_to_close(5s).heartbeat(2s).retry(fast));
  auto scope = ctx.new_scope();
  auto waiting = ctx.execute_activity<std::string>(
      "WaitForCancel", ActivityOptions()
                           .start_to_close(20s)
                           .heartbeat(1s)
                           .cancellation(ActivityCancellationType::kWaitCancellationCompleted)
                           .scope(scope));
  co_await ctx.sleep(500ms);
  scope->cancel();
  std::string outcome;
  try {
    outcome = co_await waiting;
  } catch (const ActivityError& e) {
    try {
      std::rethrow_exception(e.cause());
    } catch (const CanceledError&) {
      outcome = "canceled";
    }
  }
  co_return "resumed_from=" + std::to_string(resumed_from) + " " + outcome;
}

TEST_F(SdkTest, HeartbeatDetailsCarryOverAndCancellationReachesTheActivity) {
  StartWorker([](Worker& w) {
    w.register_workflow("HeartbeatsAndCancel", HeartbeatsAndCancel);
    w.register_activity("Progress", Progress);
    w.register_activity("WaitForCancel", WaitForCancel);
  });
  auto handle = client_->start_workflow("HeartbeatsAndCancel", Start("heartbeats")).value();
  auto result = handle.result<std::string>();
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(result.value(), "resumed_from=3 canceled");
  EXPECT_TRUE(progress_activity_canceled.load());
  // WAIT_CANCELLATION_COMPLETED: the activity's own Canceled event closed it.
  EXPECT_EQ(Events(handle, enums::EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED).size(), 1u);
  EXPECT_EQ(Events(handle, enums::EVENT_TYPE_ACTIVITY_TASK_CANCELED).size(), 1u);
}

// TRY_CANCEL reports canceled at once and asks the server; ABANDON only reports.
Task<std::string> CancellationTypes(WorkflowContext& ctx) {
  std::string out;
  for (auto type : {ActivityCancellationType::kTryCancel, ActivityCancellationType::kAbandon}) {
    auto scope = ctx.new_scope();
    auto running = ctx.execute_activity<std::string>(
        "WaitForCancel",
        ActivityOptions().start_to_close(5s).heartbeat(1s).cancellation(type).scope(scope));
    co_await ctx.sleep(300ms);
    scope->cancel();
    try {
      co_await running;
      out += "completed ";
    } catch (const ActivityError&) {
      out += "canceled ";
    }
  }
  co_return out;
}

TEST_F(SdkTest, ActivityCancellationTypes) {
  StartWorker([](Worker& w) {
    w.register_workflow("CancellationTypes", CancellationTypes);
    w.register_activity("WaitForCancel", WaitForCancel);
  });
  auto handle = client_->start_workflow("CancellationTypes", Start("cancel-types")).value();
  auto result = handle.result<std::string>();
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(result.value(), "canceled canceled ");
  // Only TRY_CANCEL told the server.
  EXPECT_EQ(Events(handle, enums::EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED).size(), 1u);
}

std::mutex token_mu;
std::string async_token;
std::string CompleteLater(ActivityContext& ctx) {
  {
    std::lock_guard lock(token_mu);
    async_token = ctx.task_token();
  }
  ctx.complete_async();
  return "";
}
Task<std::string> AsyncCompletion(WorkflowContext& ctx) {
  co_return co_await ctx.execute_activity<std::string>("CompleteLater",
                                                       ActivityOptions().start_to_close(30s));
}

TEST_F(SdkTest, ActivitiesCanBeCompletedAsynchronouslyByTaskToken) {
  StartWorker([](Worker& w) {
    w.register_workflow("AsyncCompletion", AsyncCompletion);
    w.register_activity("CompleteLater", CompleteLater);
  });
  auto handle = client_->start_workflow("AsyncCompletion", Start("async")).value();
  std::string token;
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard lock(token_mu);
    token = async_token;
    return !token.empty();
  }));
  auto bad = client_->complete_activity("not a token", std::string("x"));
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(client_->complete_activity(token, std::string("done elsewhere")).ok());
  auto result = handle.result<std::string>();
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(result.value(), "done elsewhere");
}

// --- local activities, side effects, determinism under replay ------------------------------

std::atomic<int> local_calls{0};
int LocalStep(int x) {
  if (++local_calls == 1) throw std::runtime_error("first try fails");
  return x * 10;
}
std::atomic<int> side_effect_calls{0};

Task<nlohmann::json> Deterministic(WorkflowContext& ctx) {
  RetryPolicy fast;
  fast.initial_interval(20ms);
  int local = co_await ctx.execute_local_activity<int>(
      "LocalStep", LocalActivityOptions().start_to_close(5s).retry(fast), 4);
  int effect = ctx.side_effect<int>([] { return 100 + side_effect_calls++; });
  uint64_t random = ctx.random();
  std::string uuid = ctx.uuid();
  auto before = ctx.now();
  // Recorded in history now, compared with what the replays compute below.
  ctx.upsert_memo({{"random", std::to_string(random)}, {"uuid", uuid}});
  co_await ctx.sleep(200ms);
  auto after = ctx.now();
  co_await ctx.sleep(50ms);
  co_return nlohmann::json{
      {"local", local},
      {"effect", effect},
      {"random", std::to_string(random)},
      {"uuid", uuid},
      {"slept_ms", std::chrono::duration_cast<std::chrono::milliseconds>(after - before).count()}};
}

TEST_F(SdkTest, LocalActivitiesSideEffectsAndRandomnessReplayFromHistory) {
  // No cache: every workflow task replays the history from the start.
  WorkerOptions options;
  options.max_cached_workflows = 0;
  StartWorker(
      [](Worker& w) {
        w.register_workflow("Deterministic", Deterministic);
        w.register_activity("LocalStep", LocalStep);
      },
      options);
  auto handle = client_->start_workflow("Deterministic", Start("deterministic")).value();
  auto result = handle.result<nlohmann::json>();
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(result.value()["local"], 40);
  EXPECT_EQ(result.value()["effect"], 100);
  EXPECT_GE(result.value()["slept_ms"].get<int64_t>(), 200);
  EXPECT_EQ(local_calls.load(), 2);        // one failure, one success, never re-run on replay
  EXPECT_EQ(side_effect_calls.load(), 1);  // recorded once, replayed twice
  auto description = handle.describe().value();
  const auto& memo = description.workflow_execution_info().memo().fields();
  EXPECT_EQ(client_->converter().Decode<std::string>(memo.at("random")),
            result.value()["random"].get<std::string>());
  EXPECT_EQ(client_->converter().Decode<std::string>(memo.at("uuid")),
            result.value()["uuid"].get<std::string>());
  auto markers = Events(handle, enums::EVENT_TYPE_MARKER_RECORDED);
  ASSERT_EQ(markers.size(), 2u);
  EXPECT_EQ(markers[0].marker_recorded_event_attributes().marker_name(), "core_local_activity");
  EXPECT_EQ(markers[1].marker_recorded_event_attributes().marker_name(), "core_side_effect");
}

// --- timers, conditions, signals, queries, updates ------------------------------------------

Task<std::string> Conditions(WorkflowContext& ctx) {
  bool go = false;
  ctx.set_signal_handler("go", [&go]() { go = true; });
  bool early = co_await ctx.wait_condition([&go] { return go; }, 100ms);
  bool later = co_await ctx.wait_condition([&go] { return go; }, 30s);
  co_return std::string(early ? "early " : "timed-out ") + (later ? "signaled" : "timed-out");
}

TEST_F(SdkTest, WaitConditionTimesOutOrWakesOnSignal) {
  StartWorker([](Worker& w) { w.register_workflow("Conditions", Conditions); });
  auto handle = client_->start_workflow("Conditions", Start("conditions")).value();
  // Wait for the first (100 ms) timer to fire before signaling.
  ASSERT_TRUE(
      Eventually([&] { return Events(handle, enums::EVENT_TYPE_TIMER_FIRED).size() == 1; }));
  ASSERT_TRUE(handle.signal("go").ok());
  auto result = handle.result<std::string>();
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(result.value(), "timed-out signaled");
  // The second timer was canceled once the condition held.
  EXPECT_EQ(Events(handle, enums::EVENT_TYPE_TIMER_CANCELED).size(), 1u);
}

Task<int> Account(WorkflowContext& ctx, int initial) {
  int total = initial;
  bool done = false;
  ctx.set_signal_handler("add", [&total](int amount) { total += amount; });
  ctx.set_signal_handler("done", [&done]() { done = true; });
  ctx.set_query_handler("total", [&total]() { return total; });
  ctx.set_update_handler(
      "set",
      [&total](int value) {
        int previous = total;
        total = value;
        return previous;
      },
      [](int value) {
        if (value < 0) throw ApplicationError("the total cannot be negative", "Invalid");
      });
  // An asynchronous update handler: waits for a timer before answering.
  ctx.set_update_handler("slow_double", [&ctx, &total]() -> Task<int> {
    co_await ctx.sleep(50ms);
    total *= 2;
    co_return total;
  });
  // A coroutine signal handler, and a spawned coroutine.
  int pending = 0;
  ctx.set_signal_handler("add_later", [&ctx, &total, &pending](int amount) -> Task<void> {
    ++pending;
    co_await ctx.sleep(20ms);
    total += amount;
    --pending;
  });
  auto bonus = ctx.spawn([](WorkflowContext& c) -> Task<int> {
    co_await c.sleep(10ms);
    co_return 1000;
  }(ctx));
  co_await ctx.wait_condition([&done, &pending] { return done && pending == 0; });
  co_return total + co_await bonus;
}

void CheckAccount(const Client& client, const WorkflowHandle& handle);

TEST_F(SdkTest, SignalsQueriesAndUpdatesWithValidators) {
  StartWorker([](Worker& w) { w.register_workflow("Account", Account); });
  auto handle = client_->start_workflow("Account", Start("account"), 1).value();
  CheckAccount(*client_, handle);
  // A rejected update leaves no Accepted event; the two accepted ones do.
  EXPECT_EQ(Events(handle, enums::EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED).size(), 2u);
}

// Without a cache every task replays the whole history: accepted updates, signals and queries
// must come out the same.
TEST_F(SdkTest, SignalsQueriesAndUpdatesReplayWithoutACache) {
  WorkerOptions options;
  options.max_cached_workflows = 0;
  StartWorker([](Worker& w) { w.register_workflow("Account", Account); }, options);
  auto handle = client_->start_workflow("Account", Start("account-replayed"), 1).value();
  CheckAccount(*client_, handle);
}

void CheckAccount(const Client&, const WorkflowHandle& handle) {
  ASSERT_TRUE(handle.signal("add", 5).ok());
  ASSERT_TRUE(handle.signal("add", 6).ok());
  ASSERT_TRUE(Eventually([&] {
    auto total = handle.query<int>("total");
    return total.ok() && total.value() == 12;
  }));
  auto previous = handle.update<int>("set", 100);
  ASSERT_TRUE(previous.ok()) << previous.error().ToString();
  EXPECT_EQ(previous.value(), 12);
  auto rejected = handle.update<int>("set", -1);
  ASSERT_FALSE(rejected.ok());
  ASSERT_TRUE(rejected.error().failure.has_value());
  EXPECT_EQ(rejected.error().failure->message(), "the total cannot be negative");
  auto doubled = handle.update<int>("slow_double");
  ASSERT_TRUE(doubled.ok()) << doubled.error().ToString();
  EXPECT_EQ(doubled.value(), 200);
  auto unknown = handle.query<int>("nope");
  EXPECT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(unknown.error().message.find("nope"), std::string::npos) << unknown.error().message;
  ASSERT_TRUE(handle.signal("add_later", 7).ok());
  ASSERT_TRUE(handle.signal("done").ok());
  auto result = handle.result<int>();
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(result.value(), 207 + 1000);
}

TEST_F(SdkTest, SignalWithStartDeliversTheSignalFirst) {
  StartWorker([](Worker& w) { w.register_workflow("Account", Account); });
  auto conv = client_->converter();
  auto handle = client_->signal_with_start_payloads("Account", Start("sws"), conv.EncodeAll(10),
                                                    "add", conv.EncodeAll(5));
  ASSERT_TRUE(handle.ok()) << handle.error().ToString();
  auto again = client_->signal_with_start_payloads("Account", Start("sws"), conv.EncodeAll(10),
                                                   "add", conv.EncodeAll(1));
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_EQ(again->run_id(), handle->run_id());  // the running workflow got the signal
  ASSERT_TRUE(handle->signal("done").ok());
  auto result = handle->result<int>();
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(result.value(), 10 + 5 + 1 + 1000);  // 1000: the spawned bonus
}

// --- children, continue-as-new, cancellation -------------------------------------------------

Task<int> Child(WorkflowContext& ctx, int x) {
  if (x < 0) throw ApplicationError("negative input", "BadInput", true);
  co_await ctx.sleep(10ms);
  co_return x * 2;
}

Task<std::string> Parent(WorkflowContext& ctx) {
  auto child = ctx.start_child_workflow<int>("Child", ChildWorkflowOptions().id("child-a"), 21);
  std::string run_id = co_await child.started;
  int doubled = co_await child.result;
  std::string failure;
  try {
    co_await ctx.execute_child_workflow<int>("Child", ChildWorkflowOptions().id("child-b"), -1);
  } catch (const ChildWorkflowError& e) {
    try {
      std::rethrow_exception(e.cause());
    } catch (const ApplicationError& cause) {
      failure = cause.type();
    }
  }
  co_return std::to_string(doubled) + " " + failure + " " + (run_id.empty() ? "no-run" : "run");
}

TEST_F(SdkTest, ChildWorkflowsReturnResultsAndFailures) {
  StartWorker([](Worker& w) {
    w.register_workflow("Parent", Parent);
    w.register_workflow("Child", Child);
  });
  auto result = client_->execute_workflow<std::string>("Parent", Start("parent"));
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(result.value(), "42 BadInput run");
  auto child = client_->get_handle("child-a").describe();
  ASSERT_TRUE(child.ok());
  EXPECT_EQ(child->workflow_execution_info().parent_execution().workflow_id(), "parent");
}

Task<int> WaitForAdd(WorkflowContext& ctx, int base);
Task<void> Forever(WorkflowContext& ctx);

Task<std::string> Coordinator(WorkflowContext& ctx) {
  auto adder = ctx.start_child_workflow<int>("WaitForAdd", ChildWorkflowOptions().id("adder"), 5);
  co_await adder.started;
  co_await ctx.signal_external_workflow("adder", "", "add", 7);
  int sum = co_await adder.result;

  auto scope = ctx.new_scope();
  auto forever = ctx.start_child_workflow<void>(
      "Forever", ChildWorkflowOptions().id("forever-child").scope(scope));
  co_await forever.started;
  scope->cancel();
  std::string child_outcome = "completed";
  try {
    co_await forever.result;
  } catch (const ChildWorkflowError& e) {
    try {
      std::rethrow_exception(e.cause());
    } catch (const CanceledError&) {
      child_outcome = "canceled";
    }
  }
  co_await ctx.cancel_external_workflow("victim");
  std::string missing = "signaled";
  try {
    co_await ctx.signal_external_workflow("no-such-workflow", "", "add", 1);
  } catch (const ApplicationError& e) {
    missing = e.type();
  }
  co_return std::to_string(sum) + " " + child_outcome + " " + missing;
}

TEST_F(SdkTest, ChildCancellationAndSignalsAndCancelsToOtherWorkflows) {
  StartWorker([](Worker& w) {
    w.register_workflow("Coordinator", Coordinator);
    w.register_workflow("WaitForAdd", WaitForAdd);
    w.register_workflow("Forever", Forever);
  });
  auto victim = client_->start_workflow("Forever", Start("victim")).value();
  auto result = client_->execute_workflow<std::string>("Coordinator", Start("coordinator"));
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(result.value(), "12 canceled ExternalWorkflowExecutionNotFound");
  auto victim_result = victim.result<void>();
  ASSERT_FALSE(victim_result.ok());
  ASSERT_TRUE(victim_result.error().failure.has_value());
  EXPECT_TRUE(victim_result.error().failure->has_canceled_failure_info());
}

// Handlers can end the run: continue-as-new or a failure thrown from a signal handler.
Task<int> Restartable(WorkflowContext& ctx, int generation) {
  if (generation > 0) co_return generation;
  ctx.set_signal_handler("restart", [&ctx](int next) { ctx.continue_as_new(next); });
  ctx.set_signal_handler("fail", [&ctx](std::string why) -> Task<void> {
    co_await ctx.sleep(1ms);
    throw ApplicationError(why, "Refused");
  });
  co_await ctx.wait_condition([] { return false; });
  co_return -1;
}

TEST_F(SdkTest, SignalHandlersCanContinueAsNewOrFailTheWorkflow) {
  StartWorker([](Worker& w) { w.register_workflow("Restartable", Restartable); });
  auto restarted = client_->start_workflow("Restartable", Start("restartable"), 0).value();
  ASSERT_TRUE(restarted.signal("restart", 7).ok());
  auto generation = restarted.result<int>();
  ASSERT_TRUE(generation.ok()) << generation.error().ToString();
  EXPECT_EQ(generation.value(), 7);

  auto failing = client_->start_workflow("Restartable", Start("failing"), 0).value();
  ASSERT_TRUE(failing.signal("fail", std::string("no more")).ok());
  auto failed = failing.result<int>();
  ASSERT_FALSE(failed.ok());
  ASSERT_TRUE(failed.error().failure.has_value());
  EXPECT_EQ(failed.error().failure->message(), "no more");
  EXPECT_EQ(failed.error().failure->application_failure_info().type(), "Refused");
}

Task<int> Countdown(WorkflowContext& ctx, int n, int steps) {
  if (n > 0) ctx.continue_as_new(n - 1, steps + 1);
  co_return steps;
}

TEST_F(SdkTest, ContinueAsNewIsFollowedByResult) {
  StartWorker([](Worker& w) { w.register_workflow("Countdown", Countdown); });
  auto handle = client_->start_workflow("Countdown", Start("countdown"), 3, 0).value();
  auto result = handle.result<int>();
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(result.value(), 3);
  // The handle follows the chain; a handle pinned to the first run sees where it continued.
  auto first = client_->get_handle("countdown", handle.run_id());
  EXPECT_EQ(Events(first, enums::EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW).size(), 1u);
  EXPECT_EQ(Events(handle, enums::EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW).size(), 0u);
  EXPECT_NE(handle.describe()->workflow_execution_info().execution().run_id(), handle.run_id());
}

std::atomic<int> cleanup_calls{0};
void Cleanup() { ++cleanup_calls; }

Task<std::string> Cancellable(WorkflowContext& ctx) {
  // A scope of its own: canceling it cancels only its timer.
  auto scope = ctx.new_scope();
  auto timer = ctx.sleep(1h, scope);
  co_await ctx.sleep(10ms);
  scope->cancel();
  try {
    co_await timer;
  } catch (const CanceledError&) {
  }
  std::exception_ptr canceled;
  try {
    co_await ctx.sleep(1h);  // until the workflow is canceled
  } catch (const CanceledError&) {
    canceled = std::current_exception();
  }
  // Clean up in a scope the cancellation does not reach, then end as canceled. (C++ allows no
  // co_await inside a catch block.)
  co_await ctx.execute_activity<void>(
      "Cleanup", ActivityOptions().start_to_close(5s).scope(ctx.detached_scope()));
  if (canceled) std::rethrow_exception(canceled);
  co_return "not canceled";
}

TEST_F(SdkTest, CancellationScopesAndWorkflowCancellation) {
  StartWorker([](Worker& w) {
    w.register_workflow("Cancellable", Cancellable);
    w.register_activity("Cleanup", Cleanup);
  });
  auto handle = client_->start_workflow("Cancellable", Start("cancellable")).value();
  ASSERT_TRUE(
      Eventually([&] { return Events(handle, enums::EVENT_TYPE_TIMER_STARTED).size() == 3; }));
  ASSERT_TRUE(handle.cancel("test").ok());
  auto result = handle.result<std::string>();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, grpc::StatusCode::ABORTED);
  ASSERT_TRUE(result.error().failure.has_value());
  EXPECT_TRUE(result.error().failure->has_canceled_failure_info());
  EXPECT_EQ(cleanup_calls.load(), 1);
  EXPECT_EQ(Events(handle, enums::EVENT_TYPE_TIMER_CANCELED).size(), 2u);
  EXPECT_EQ(Events(handle, enums::EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED).size(), 1u);
}

Task<void> Upserts(WorkflowContext& ctx) {
  ctx.upsert_search_attributes({{"CustomKeywordField", "gold"}});
  ctx.upsert_memo({{"note", "hello"}});
  co_await ctx.sleep(1ms);
}

TEST_F(SdkTest, SearchAttributeAndMemoUpserts) {
  // Only registered search attributes may be set (as on a Temporal server).
  std::string created = env_->cli(
      "operator search-attribute create --namespace default --name CustomKeywordField --type "
      "Keyword");
  ASSERT_EQ(created.find("rror"), std::string::npos) << created;
  StartWorker([](Worker& w) { w.register_workflow("Upserts", Upserts); });
  auto handle = client_->start_workflow("Upserts", Start("upserts")).value();
  ASSERT_TRUE(handle.result<void>().ok());
  auto d = handle.describe().value();
  const auto& info = d.workflow_execution_info();
  EXPECT_EQ(
      FromPayload<std::string>(info.search_attributes().indexed_fields().at("CustomKeywordField")),
      "gold");
  EXPECT_EQ(client_->converter().Decode<std::string>(info.memo().fields().at("note")), "hello");
}

// --- payloads --------------------------------------------------------------------------------

Task<Bytes> EchoBytes(WorkflowContext&, Bytes in) { co_return Bytes{in.data + "!"}; }
Task<temporal::api::common::v1::WorkflowExecution> EchoProto(
    WorkflowContext&, temporal::api::common::v1::WorkflowExecution in) {
  in.set_run_id("changed");
  co_return in;
}
Task<std::optional<int>> Nothing(WorkflowContext&) { co_return std::nullopt; }

// XORs the data and marks the encoding; Decode reverses it.
class XorCodec : public PayloadCodec {
 public:
  Payload Encode(const Payload& p) const override {
    Payload out;
    out.set_data(Xor(p.SerializeAsString()));
    (*out.mutable_metadata())["encoding"] = "binary/xor";
    return out;
  }
  Payload Decode(const Payload& p) const override {
    auto it = p.metadata().find("encoding");
    if (it == p.metadata().end() || it->second != "binary/xor") return p;
    Payload out;
    if (!out.ParseFromString(Xor(p.data()))) throw PayloadError("xor: bad payload");
    return out;
  }

 private:
  static std::string Xor(std::string s) {
    for (auto& c : s) c = static_cast<char>(c ^ 0x5a);
    return s;
  }
};

TEST_F(SdkTest, BinaryProtobufAndNullPayloadsRoundTrip) {
  StartWorker([](Worker& w) {
    w.register_workflow("EchoBytes", EchoBytes);
    w.register_workflow("EchoProto", EchoProto);
    w.register_workflow("Nothing", Nothing);
  });
  auto bytes = client_->execute_workflow<Bytes>("EchoBytes", Start("bytes"),
                                                Bytes{std::string("\x00\x01\xff", 3)});
  ASSERT_TRUE(bytes.ok()) << bytes.error().ToString();
  EXPECT_EQ(bytes->data, std::string("\x00\x01\xff!", 4));
  temporal::api::common::v1::WorkflowExecution execution;
  execution.set_workflow_id("w");
  auto proto = client_->execute_workflow<temporal::api::common::v1::WorkflowExecution>(
      "EchoProto", Start("proto"), execution);
  ASSERT_TRUE(proto.ok()) << proto.error().ToString();
  EXPECT_EQ(proto->workflow_id(), "w");
  EXPECT_EQ(proto->run_id(), "changed");
  auto started = client_->get_handle("proto").fetch_history().value();
  const auto& input = started.events(0).workflow_execution_started_event_attributes().input();
  EXPECT_EQ(input.payloads(0).metadata().at("encoding"), "json/protobuf");
  EXPECT_EQ(input.payloads(0).metadata().at("messageType"),
            "temporal.api.common.v1.WorkflowExecution");
  auto nothing = client_->execute_workflow<std::optional<int>>("Nothing", Start("nothing"));
  ASSERT_TRUE(nothing.ok()) << nothing.error().ToString();
  EXPECT_FALSE(nothing->has_value());
}

TEST_F(SdkTest, APayloadCodecEncodesEverythingStored) {
  ClientOptions options;
  options.address = env_->address();
  options.codec = std::make_shared<XorCodec>();
  client_ = std::make_unique<Client>(Client::Connect(options).value());
  StartWorker([](Worker& w) {
    w.register_workflow("Greeting", Greeting);
    w.register_activity("Compose", Compose);
  });
  auto handle = client_->start_workflow("Greeting", Start("codec"), std::string("secret")).value();
  auto result = handle.result<std::string>();
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(result.value(), "Hello, secret!");
  auto history = handle.fetch_history().value();
  std::string all = history.SerializeAsString();
  EXPECT_EQ(all.find("secret"), std::string::npos) << "a payload was stored unencoded";
  const auto& input = history.events(0).workflow_execution_started_event_attributes().input();
  EXPECT_EQ(input.payloads(0).metadata().at("encoding"), "binary/xor");
}

// --- client errors ---------------------------------------------------------------------------

Task<void> Forever(WorkflowContext& ctx) {
  co_await ctx.wait_condition([] { return false; });
}

TEST_F(SdkTest, ClientReportsErrorsWithTheirCodes) {
  StartWorker([](Worker& w) { w.register_workflow("Forever", Forever); });
  auto handle = client_->start_workflow("Forever", Start("forever")).value();
  auto duplicate = client_->start_workflow("Forever", Start("forever"));
  ASSERT_FALSE(duplicate.ok());
  EXPECT_EQ(duplicate.error().code, grpc::StatusCode::ALREADY_EXISTS);

  auto missing = client_->get_handle("no-such-workflow").describe();
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, grpc::StatusCode::NOT_FOUND);

  auto no_id = client_->start_workflow("Forever", StartWorkflowOptions{});
  ASSERT_FALSE(no_id.ok());
  EXPECT_EQ(no_id.error().code, grpc::StatusCode::INVALID_ARGUMENT);

  ASSERT_TRUE(handle.terminate("enough").ok());
  auto result = handle.result<void>();
  ASSERT_FALSE(result.ok());
  ASSERT_TRUE(result.error().failure.has_value());
  EXPECT_TRUE(result.error().failure->has_terminated_failure_info());

  ASSERT_TRUE(Eventually([&] {
    auto count = client_->count_workflows("WorkflowType = 'Forever'");
    return count.ok() && count.value() == 1;
  }));
  std::vector<WorkflowExecutionInfo> listed;
  ASSERT_TRUE(Eventually([&] {
    auto page = client_->list_workflows("ExecutionStatus = 'Terminated'");
    if (page.ok()) listed = page.value();
    return listed.size() == 1;
  }));
  EXPECT_EQ(listed.at(0).execution().workflow_id(), "forever");
  auto bad_query = client_->list_workflows("ExecutionStatus = ");
  ASSERT_FALSE(bad_query.ok());
  EXPECT_EQ(bad_query.error().code, grpc::StatusCode::INVALID_ARGUMENT);

  ClientOptions closed;
  closed.address = "127.0.0.1:1";
  closed.rpc_timeout = 2s;
  auto unreachable = Client::Connect(closed);
  ASSERT_FALSE(unreachable.ok());
  EXPECT_EQ(unreachable.error().code, grpc::StatusCode::UNAVAILABLE);

  // TLS against a plaintext server fails cleanly; a certificate without its key is refused.
  ClientOptions tls;
  tls.address = env_->address();
  tls.rpc_timeout = 2s;
  tls.tls = TlsOptions{};
  auto handshake = Client::Connect(tls);
  ASSERT_FALSE(handshake.ok());
  EXPECT_EQ(handshake.error().code, grpc::StatusCode::UNAVAILABLE);
  tls.tls->client_cert_pem = "-----BEGIN CERTIFICATE-----";
  auto half = Client::Connect(tls);
  ASSERT_FALSE(half.ok());
  EXPECT_EQ(half.error().code, grpc::StatusCode::INVALID_ARGUMENT);
}

// --- the worker: concurrency, cache, shutdown -------------------------------------------------

std::atomic<int> running_now{0};
std::atomic<int> running_max{0};
int Busy(int i) {
  int now = ++running_now;
  int seen = running_max.load();
  while (now > seen && !running_max.compare_exchange_weak(seen, now)) {
  }
  std::this_thread::sleep_for(200ms);
  --running_now;
  return i;
}

Task<int> FanOut(WorkflowContext& ctx, int n) {
  std::vector<Future<int>> futures;
  for (int i = 0; i < n; ++i) {
    futures.push_back(ctx.execute_activity<int>("Busy", ActivityOptions().start_to_close(10s), i));
  }
  int sum = 0;
  for (auto& f : futures) sum += co_await f;
  co_return sum;
}

TEST_F(SdkTest, WorkerBoundsActivityConcurrency) {
  WorkerOptions options;
  options.max_concurrent_activities = 2;
  StartWorker(
      [](Worker& w) {
        w.register_workflow("FanOut", FanOut);
        w.register_activity("Busy", Busy);
      },
      options);
  auto result = client_->execute_workflow<int>("FanOut", Start("fanout"), 6);
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(result.value(), 15);
  EXPECT_EQ(running_max.load(), 2);
}

Task<int> WaitForAdd(WorkflowContext& ctx, int base) {
  std::optional<int> added;
  ctx.set_signal_handler("add", [&added](int x) { added = x; });
  ctx.set_query_handler("base", [base]() { return base; });
  co_await ctx.wait_condition([&added] { return added.has_value(); });
  co_return base + *added;
}

TEST_F(SdkTest, StickyCacheKeepsRunsAndEvictsTheLeastRecentlyUsed) {
  WorkerOptions options;
  options.max_cached_workflows = 1;
  auto& worker =
      StartWorker([](Worker& w) { w.register_workflow("WaitForAdd", WaitForAdd); }, options);
  auto a = client_->start_workflow("WaitForAdd", Start("cache-a"), 1).value();
  ASSERT_TRUE(Eventually([&] { return worker.cached_workflows() == 1; }));
  auto b = client_->start_workflow("WaitForAdd", Start("cache-b"), 2).value();
  ASSERT_TRUE(
      Eventually([&] { return Events(b, enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED).size() == 1; }));
  // a is evicted for b (the worker trims its cache just after the server took b's task).
  EXPECT_TRUE(Eventually([&] { return worker.cached_workflows() == 1; }))
      << worker.cached_workflows();
  // A query for the evicted run is answered by replaying its history.
  auto base = a.query<int>("base");
  ASSERT_TRUE(base.ok()) << base.error().ToString();
  EXPECT_EQ(base.value(), 1);
  // Both still finish: a is rebuilt from its full history.
  ASSERT_TRUE(a.signal("add", 10).ok());
  ASSERT_TRUE(b.signal("add", 20).ok());
  EXPECT_EQ(a.result<int>().value(), 11);
  EXPECT_EQ(b.result<int>().value(), 22);
}

std::atomic<int> shutdown_activity_calls{0};
std::string Lingering(ActivityContext& ctx) {
  ++shutdown_activity_calls;
  if (ctx.info().attempt == 1) {
    // Runs until the worker's shutdown cancels it.
    while (!ctx.wait_canceled(20ms)) {
    }
    throw CanceledError("stopped by shutdown");
  }
  return "attempt " + std::to_string(ctx.info().attempt);
}
Task<std::string> LingeringWorkflow(WorkflowContext& ctx) {
  RetryPolicy fast;
  fast.initial_interval(50ms);
  co_return co_await ctx.execute_activity<std::string>(
      "Lingering", ActivityOptions().start_to_close(30s).retry(fast));
}

TEST_F(SdkTest, ShutdownHandsBackActivitiesAfterTheGracePeriod) {
  WorkerOptions options;
  options.graceful_shutdown_timeout = 100ms;
  auto register_all = [](Worker& w) {
    w.register_workflow("LingeringWorkflow", LingeringWorkflow);
    w.register_activity("Lingering", Lingering);
  };
  auto& first = StartWorker(register_all, options);
  auto handle = client_->start_workflow("LingeringWorkflow", Start("lingering")).value();
  ASSERT_TRUE(Eventually([] { return shutdown_activity_calls.load() == 1; }));
  auto begin = std::chrono::steady_clock::now();
  first.shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 5s);
  EXPECT_EQ(first.cached_workflows(), 0u);
  // A new worker picks up the retry (and the workflow, handed back from the sticky queue).
  StartWorker(register_all, options);
  auto result = handle.result<std::string>();
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(result.value(), "attempt 2");
}

TEST_F(SdkTest, WorkerRejectsBadOptionsAndUnknownNamespaces) {
  Worker no_queue(*client_, WorkerOptions{});
  auto started = no_queue.start();
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().code, grpc::StatusCode::INVALID_ARGUMENT);

  ClientOptions other;
  other.address = env_->address();
  other.ns = "no-such-namespace";
  auto client = Client::Connect(other).value();
  WorkerOptions options;
  options.task_queue = queue_;
  Worker worker(client, options);
  auto result = worker.start();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, grpc::StatusCode::NOT_FOUND);
}

TEST_F(SdkTest, UnregisteredWorkflowTypeFailsTheTaskWithAClearMessage) {
  StartWorker([](Worker& w) { w.register_workflow("Greeting", Greeting); });
  auto handle = client_->start_workflow("Unknown", Start("unknown")).value();
  ASSERT_TRUE(
      Eventually([&] { return !Events(handle, enums::EVENT_TYPE_WORKFLOW_TASK_FAILED).empty(); }));
  auto failed = Events(handle, enums::EVENT_TYPE_WORKFLOW_TASK_FAILED)[0]
                    .workflow_task_failed_event_attributes();
  EXPECT_NE(failed.failure().message().find("Unknown is not registered"), std::string::npos)
      << failed.failure().message();
}

Task<std::string> SleepThenGreet(WorkflowContext& ctx, std::string name) {
  co_await ctx.sleep(1s);
  co_return co_await ctx.execute_activity<std::string>(
      "Compose", ActivityOptions().start_to_close(10s), std::string("Hello again"), name);
}

TEST_F(SdkTest, WorkerRidesOutAServerCrash) {
  StartWorker([](Worker& w) {
    w.register_workflow("SleepThenGreet", SleepThenGreet);
    w.register_activity("Compose", Compose);
  });
  auto handle =
      client_->start_workflow("SleepThenGreet", Start("crash"), std::string("Ada")).value();
  ASSERT_TRUE(
      Eventually([&] { return Events(handle, enums::EVENT_TYPE_TIMER_STARTED).size() == 1; }));
  // The caller is already waiting for the result when the server dies.
  auto waiting = std::async(std::launch::async, [&] { return handle.result<std::string>(); });
  std::this_thread::sleep_for(100ms);
  // kill -9 while the timer runs; same port and database.
  ASSERT_TRUE(env_->crash_and_restart_server().ok());
  // The same client and worker reconnect on their own.
  auto result = waiting.get();
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(result.value(), "Hello again, Ada!");
  EXPECT_EQ(Events(handle, enums::EVENT_TYPE_ACTIVITY_TASK_SCHEDULED).size(), 1u);
}

int Double(int x) { return 2 * x; }
Task<int> CallsDoubleWithText(WorkflowContext& ctx) {
  RetryPolicy retry;
  retry.initial_interval(10ms);
  co_return co_await ctx.execute_activity<int>(
      "Double", ActivityOptions().start_to_close(5s).retry(retry), std::string("not a number"));
}

TEST_F(SdkTest, ArgumentsThatDoNotDecodeGiveClearErrors) {
  auto logged = std::make_shared<std::pair<std::mutex, std::vector<std::string>>>();
  WorkerOptions options;
  options.log = [logged](const std::string& line) {
    std::lock_guard lock(logged->first);
    logged->second.push_back(line);
  };
  StartWorker(
      [](Worker& w) {
        w.register_workflow("Greeting", Greeting);
        w.register_workflow("CallsDoubleWithText", CallsDoubleWithText);
        w.register_activity("Double", Double);
      },
      options);
  // A workflow argument of the wrong type fails the workflow task (a fixed worker can retry).
  auto handle = client_->start_workflow("Greeting", Start("bad-input"), 42).value();
  ASSERT_TRUE(
      Eventually([&] { return !Events(handle, enums::EVENT_TYPE_WORKFLOW_TASK_FAILED).empty(); }));
  auto failed = Events(handle, enums::EVENT_TYPE_WORKFLOW_TASK_FAILED)[0]
                    .workflow_task_failed_event_attributes();
  EXPECT_NE(failed.failure().message().find("cannot read payload 42"), std::string::npos)
      << failed.failure().message();
  ASSERT_TRUE(handle.terminate("bad input").ok());
  {
    std::lock_guard lock(logged->first);
    ASSERT_FALSE(logged->second.empty());
    EXPECT_NE(logged->second[0].find("workflow task of bad-input (Greeting) failed: cannot read"),
              std::string::npos)
        << logged->second[0];
  }

  // An activity argument of the wrong type fails the activity at once, without retries.
  auto result = client_->execute_workflow<int>("CallsDoubleWithText", Start("bad-activity-input"));
  ASSERT_FALSE(result.ok());
  ASSERT_TRUE(result.error().failure.has_value());
  EXPECT_EQ(RootCauseMessage(*result.error().failure).find("cannot read payload"), 0u)
      << RootCauseMessage(*result.error().failure);
  auto history = client_->get_handle("bad-activity-input").fetch_history().value();
  int attempts = 0;
  for (const auto& e : history.events()) {
    if (e.event_type() == enums::EVENT_TYPE_ACTIVITY_TASK_FAILED) {
      EXPECT_EQ(
          e.activity_task_failed_event_attributes().failure().application_failure_info().type(),
          "PayloadError");
      ++attempts;
    }
  }
  EXPECT_EQ(attempts, 1);
}

Task<int64_t> Month(WorkflowContext& ctx) {
  auto before = ctx.now();
  co_await ctx.sleep(std::chrono::hours(24 * 30));
  co_await ctx.execute_activity<std::string>("Compose", ActivityOptions().start_to_close(10s),
                                             std::string("Hi"), std::string("later"));
  co_return std::chrono::duration_cast<std::chrono::hours>(ctx.now() - before).count();
}

TEST(TimeSkipping, AMonthLongSleepFinishesInMoments) {
  // The testing library's default environment skips time.
  auto env = TestEnvironment::Start(EnvOptions(/*time_skipping=*/true)).value();
  Worker& worker = env->new_worker();
  worker.register_workflow("Month", Month);
  worker.register_activity("Compose", Compose);
  ASSERT_TRUE(worker.start().ok());
  auto begin = std::chrono::steady_clock::now();
  auto hours = env->client().execute_workflow<int64_t>("Month", env->workflow_options("month"));
  ASSERT_TRUE(hours.ok()) << hours.error().ToString();
  EXPECT_GE(*hours, 24 * 30);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 20s);

  // Without --time-skipping on the server, the option says what is wrong.
  auto plain = TestEnvironment::Start(EnvOptions(/*time_skipping=*/false)).value();
  ClientOptions options;
  options.address = plain->address();
  options.time_skipping = true;
  auto other = Client::Connect(options).value();
  auto result = other.get_handle("anything").result<int>();
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("--time-skipping"), std::string::npos)
      << result.error().message;
}

// --- versioning, nondeterminism, the replayer ------------------------------------------------

std::string StepA() { return "A"; }
std::string StepB() { return "B"; }

Task<std::string> V1(WorkflowContext& ctx) {
  co_return co_await ctx.execute_activity<std::string>("StepA",
                                                       ActivityOptions().start_to_close(5s));
}
// A patched version: old runs keep taking A, new runs take B.
Task<std::string> V2(WorkflowContext& ctx) {
  if (ctx.patched("use-b")) {
    co_return co_await ctx.execute_activity<std::string>("StepB",
                                                         ActivityOptions().start_to_close(5s));
  }
  co_return co_await ctx.execute_activity<std::string>("StepA",
                                                       ActivityOptions().start_to_close(5s));
}
// Once no run predates the patch.
Task<std::string> V3(WorkflowContext& ctx) {
  ctx.deprecate_patch("use-b");
  co_return co_await ctx.execute_activity<std::string>("StepB",
                                                       ActivityOptions().start_to_close(5s));
}
// The same change without a patch: not deterministic.
Task<std::string> Unpatched(WorkflowContext& ctx) {
  co_return co_await ctx.execute_activity<std::string>("StepB",
                                                       ActivityOptions().start_to_close(5s));
}

TEST_F(SdkTest, PatchesAndTheReplayerCatchNondeterminism) {
  auto run = [&](const std::string& id, auto fn) {
    Worker worker(*client_, [&] {
      WorkerOptions o;
      o.task_queue = queue_;
      return o;
    }());
    worker.register_workflow("Versioned", fn);
    worker.register_activity("StepA", StepA);
    worker.register_activity("StepB", StepB);
    worker.start().value();
    auto handle = client_->start_workflow("Versioned", Start(id)).value();
    EXPECT_TRUE(handle.result<std::string>().ok());
    worker.shutdown();
    return handle.fetch_history().value();
  };
  History v1_history = run("v1", V1);
  History v2_history = run("v2", V2);

  auto replay = [](auto fn, const History& history) {
    Replayer replayer;
    replayer.register_workflow("Versioned", fn);
    return replayer.replay(history);
  };
  EXPECT_TRUE(replay(V1, v1_history).ok());
  EXPECT_TRUE(replay(V2, v1_history).ok()) << "the patch keeps old runs on A";
  EXPECT_TRUE(replay(V2, v2_history).ok());
  EXPECT_TRUE(replay(V3, v2_history).ok()) << "a deprecated patch replays new runs";

  auto broken = replay(Unpatched, v1_history);
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().code, grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(
      broken.error().message.find("SCHEDULE_ACTIVITY_TASK(activity_type=StepB, activity_id=1)"),
      std::string::npos)
      << broken.error().message;
  EXPECT_NE(
      broken.error().message.find("ACTIVITY_TASK_SCHEDULED(activity_type=StepA, activity_id=1)"),
      std::string::npos)
      << broken.error().message;

  // The same through the JSON that `eon workflow show --output json` prints.
  std::string json = env_->cli("workflow show --workflow-id v1 --output json");
  auto parsed = Replayer::HistoryFromJson(json);
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString() << "\n" << json;
  EXPECT_EQ(parsed->events_size(), v1_history.events_size());
  EXPECT_TRUE(replay(V1, parsed.value()).ok());
  EXPECT_FALSE(replay(Unpatched, parsed.value()).ok());
  EXPECT_FALSE(Replayer::HistoryFromJson("{not json").ok());
}

Task<std::string> WaitThenA(WorkflowContext& ctx) {
  bool go = false;
  ctx.set_signal_handler("go", [&go]() { go = true; });
  auto a =
      co_await ctx.execute_activity<std::string>("StepA", ActivityOptions().start_to_close(5s));
  co_await ctx.wait_condition([&go] { return go; });
  co_return a;
}
Task<std::string> WaitThenB(WorkflowContext& ctx) {
  bool go = false;
  ctx.set_signal_handler("go", [&go]() { go = true; });
  auto b =
      co_await ctx.execute_activity<std::string>("StepB", ActivityOptions().start_to_close(5s));
  co_await ctx.wait_condition([&go] { return go; });
  co_return b;
}

TEST_F(SdkTest, ALiveWorkerReportsNondeterminismAsAWorkflowTaskFailure) {
  auto& first = StartWorker([](Worker& w) {
    w.register_workflow("Changing", WaitThenA);
    w.register_activity("StepA", StepA);
  });
  auto handle = client_->start_workflow("Changing", Start("changing")).value();
  ASSERT_TRUE(Eventually(
      [&] { return Events(handle, enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED).size() == 2; }));
  first.shutdown();
  StartWorker([](Worker& w) {
    w.register_workflow("Changing", WaitThenB);
    w.register_activity("StepB", StepB);
  });
  ASSERT_TRUE(handle.signal("go").ok());
  ASSERT_TRUE(
      Eventually([&] { return !Events(handle, enums::EVENT_TYPE_WORKFLOW_TASK_FAILED).empty(); }));
  auto failed = Events(handle, enums::EVENT_TYPE_WORKFLOW_TASK_FAILED)[0]
                    .workflow_task_failed_event_attributes();
  EXPECT_EQ(failed.cause(), enums::WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR);
  EXPECT_NE(failed.failure().message().find("nondeterminism: the code issued "
                                            "SCHEDULE_ACTIVITY_TASK(activity_type=StepB"),
            std::string::npos)
      << failed.failure().message();
  ASSERT_TRUE(handle.terminate("done").ok());
}

}  // namespace
}  // namespace eon::sdk
