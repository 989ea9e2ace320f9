// The SDK's second pass: handler lifetimes (workflow classes, dangling handlers diagnosed), the
// replayer with the execution's own workflow id, query timeouts, Result's accessors, the
// client's no-throw encoding, typed signal-with-start, when_all / when_any, failure chains,
// and the testing library itself (TestEnvironment, ActivityEnvironment). Run under
// AddressSanitizer, HandlerLifetime.* is the check that a query on a completed workflow reads
// no freed memory.
#include <gtest/gtest.h>

#include <thread>

#include "eon/sdk/sdk.h"
#include "eon/sdk/testing.h"

namespace eon::sdk {
namespace {

using namespace std::chrono_literals;
using testing::ActivityEnvironment;
using testing::TestEnvironment;
using testing::TestEnvironmentOptions;

std::unique_ptr<TestEnvironment> StartEnv(bool time_skipping = true) {
  TestEnvironmentOptions options;
  options.eon_binary = EON_BINARY;
  options.time_skipping = time_skipping;
  auto env = TestEnvironment::Start(options);
  EXPECT_TRUE(env.ok()) << env.error().ToString();
  return env.ok() ? std::move(env).value() : nullptr;
}

// --- handler lifetimes -----------------------------------------------------------------------

class Counter {
 public:
  explicit Counter(WorkflowContext& ctx) {
    ctx.set_signal_handler("add", [this](int n) { count_ += n; });
    ctx.set_query_handler("count", [this]() { return count_; });
    ctx.set_update_handler("add_and_get", [this](int n) {
      count_ += n;
      return count_;
    });
  }
  Task<std::string> run(WorkflowContext& ctx, int target) {
    label_ = "counted to " + std::to_string(target);
    co_await ctx.wait_condition([this, target] { return count_ >= target; });
    co_return label_;
  }

 private:
  int count_ = 0;
  std::string label_;
};

// The natural free-function form: a handler over a local, by reference.
Task<int> LocalCounter(WorkflowContext& ctx, int target) {
  int count = 0;
  std::string label = "locals";  // heap-free but on the coroutine frame
  ctx.set_signal_handler("add", [&count](int n) { count += n; });
  ctx.set_query_handler("count",
                        [&count, &label]() { return label + ":" + std::to_string(count); });
  ctx.set_query_handler("fixed", [target]() { return target; });  // by value: always fine
  co_await ctx.wait_condition([&count, target] { return count >= target; });
  co_return count;
}

TEST(HandlerLifetime, AWorkflowClassAnswersQueriesAfterItCompleted) {
  auto env = StartEnv();
  ASSERT_TRUE(env);
  Worker& worker = env->new_worker();
  worker.register_workflow<Counter>("Counter");
  ASSERT_TRUE(worker.start().ok());
  auto handle = env->client().start_workflow("Counter", env->workflow_options("counter"), 5);
  ASSERT_TRUE(handle.ok()) << handle.error().ToString();
  ASSERT_TRUE(handle->signal("add", 2).ok());
  auto updated = handle->update<int>("add_and_get", 3);
  ASSERT_TRUE(updated.ok()) << updated.error().ToString();
  EXPECT_EQ(*updated, 5);
  auto result = handle->result<std::string>();
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(*result, "counted to 5");
  // Completed: the query replays the run to its end; the object's state is still there.
  for (int i = 0; i < 3; ++i) {
    auto count = handle->query<int>("count");
    ASSERT_TRUE(count.ok()) << count.error().ToString();
    EXPECT_EQ(*count, 5);
  }
}

TEST(HandlerLifetime, AHandlerOverLocalsIsDiagnosedOnceTheFunctionReturned) {
  auto env = StartEnv();
  ASSERT_TRUE(env);
  Worker& worker = env->new_worker();
  worker.register_workflow("LocalCounter", LocalCounter);
  ASSERT_TRUE(worker.start().ok());
  auto handle = env->client().start_workflow("LocalCounter", env->workflow_options("local"), 3);
  ASSERT_TRUE(handle.ok()) << handle.error().ToString();
  ASSERT_TRUE(handle->signal("add", 1).ok());
  // While the function runs, its locals are alive and the handler reads them.
  std::string running;
  for (int i = 0; i < 200 && running != "locals:1"; ++i) {
    auto count = handle->query<std::string>("count");
    if (count.ok()) running = *count;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(running, "locals:1");
  ASSERT_TRUE(handle->signal("add", 2).ok());
  auto result = handle->result<int>();
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(*result, 3);
  // Returned: the handler would read freed memory; it is not called and the query says why.
  auto dangling = handle->query<std::string>("count");
  ASSERT_FALSE(dangling.ok());
  EXPECT_EQ(dangling.error().code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(dangling.error().message.find("captured locals"), std::string::npos)
      << dangling.error().message;
  // A handler that captured by value still answers.
  auto fixed = handle->query<int>("fixed");
  ASSERT_TRUE(fixed.ok()) << fixed.error().ToString();
  EXPECT_EQ(*fixed, 3);
}

// --- the replayer ----------------------------------------------------------------------------

std::string Echo(std::string s) { return s; }

// Derives a decision from its own workflow id (as a child id or a signal target would).
Task<std::string> Named(WorkflowContext& ctx) {
  std::string id = ctx.info().workflow_id;
  co_return co_await ctx.execute_activity<std::string>(
      "Echo", ActivityOptions().start_to_close(10s).activity_id("for-" + id), id);
}

TEST(Replayer, ReplaysWithTheExecutionsWorkflowIdAndReportsEachHistory) {
  auto env = StartEnv();
  ASSERT_TRUE(env);
  Worker& worker = env->new_worker();
  worker.register_workflow("Named", Named);
  worker.register_activity("Echo", Echo);
  ASSERT_TRUE(worker.start().ok());
  for (const char* id : {"named-1", "named-2"}) {
    auto result = env->client().execute_workflow<std::string>("Named", env->workflow_options(id));
    ASSERT_TRUE(result.ok()) << result.error().ToString();
    EXPECT_EQ(*result, id);
  }
  Replayer replayer;
  replayer.register_workflow("Named", Named);
  auto first = Replayer::Fetch(env->client(), "named-1");
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_EQ(first->workflow_id, "named-1");
  // The id comes from the fetch, or from the started event when none is given.
  EXPECT_TRUE(replayer.replay(*first).ok());
  EXPECT_TRUE(replayer.replay(first->history).ok());
  auto wrong = replayer.replay(first->history, "someone-else");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, grpc::StatusCode::FAILED_PRECONDITION);

  auto second = Replayer::Fetch(env->client(), "named-2");
  ASSERT_TRUE(second.ok());
  WorkflowHistory mislabeled = *first;
  mislabeled.workflow_id = "named-2";
  auto reports = replayer.replay_all({*first, *second, mislabeled});
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(reports[0].workflow_id, "named-1");
  EXPECT_FALSE(reports[0].run_id.empty());
  EXPECT_TRUE(reports[0].result.ok());
  EXPECT_TRUE(reports[1].result.ok());
  EXPECT_EQ(reports[2].workflow_id, "named-2");
  ASSERT_FALSE(reports[2].result.ok());
  EXPECT_EQ(reports[2].result.error().code, grpc::StatusCode::FAILED_PRECONDITION);
}

// --- the client ------------------------------------------------------------------------------

TEST(Client, AQueryWithNoWorkerFailsAfterTheRpcTimeout) {
  auto env = StartEnv(/*time_skipping=*/false);
  ASSERT_TRUE(env);
  auto handle = env->client().start_workflow("NobodyRunsThis", env->workflow_options("q"));
  ASSERT_TRUE(handle.ok());
  ClientOptions options;
  options.address = env->address();
  options.rpc_timeout = 1s;
  auto client = Client::Connect(options).value();
  auto begin = std::chrono::steady_clock::now();
  auto answer = client.get_handle("q").query<int>("anything");
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(answer.error().code, grpc::StatusCode::DEADLINE_EXCEEDED) << answer.error().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 8s);
  // A timeout of its own, on the call.
  begin = std::chrono::steady_clock::now();
  auto own = env->client().get_handle("q").query_payloads("anything", {}, 500ms);
  ASSERT_FALSE(own.ok());
  EXPECT_EQ(own.error().code, grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 5s);
}

TEST(Client, AnArgumentThatDoesNotEncodeIsAnErrorNotAnException) {
  auto env = StartEnv(/*time_skipping=*/false);
  ASSERT_TRUE(env);
  std::string not_utf8("\xff");
  Result<WorkflowHandle> started = Error{};
  EXPECT_NO_THROW(started =
                      env->client().start_workflow("Any", env->workflow_options("enc"), not_utf8));
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(started.error().message.find("encoded"), std::string::npos) << started.error().message;
  auto handle = env->client().get_handle("enc");
  EXPECT_EQ(handle.signal("s", not_utf8).error().code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(handle.query<int>("q", not_utf8).error().code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(handle.update<int>("u", not_utf8).error().code, grpc::StatusCode::INVALID_ARGUMENT);
}

Task<int> Adder(WorkflowContext& ctx, int start) {
  int total = start;
  int signals = 0;
  ctx.set_signal_handler("add", [&total, &signals](int n, std::string) {
    total += n;
    ++signals;
  });
  co_await ctx.wait_condition([&signals] { return signals >= 2; });
  co_return total;
}

TEST(Client, TypedSignalWithStart) {
  auto env = StartEnv();
  ASSERT_TRUE(env);
  Worker& worker = env->new_worker();
  worker.register_workflow("Adder", Adder);
  ASSERT_TRUE(worker.start().ok());
  auto first = env->client().signal_with_start("Adder", env->workflow_options("adder"), "add",
                                               std::make_tuple(5, std::string("a")), 100);
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  auto second = env->client().signal_with_start("Adder", env->workflow_options("adder"), "add",
                                                std::make_tuple(7, std::string("b")), 100);
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  EXPECT_EQ(first->run_id(), second->run_id()) << "the second call only signals";
  auto result = first->result<int>();
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(*result, 112);
}

// --- when_all / when_any, retry policies inside co_await, failure chains ----------------------

int Square(int x) { return x * x; }
void Refuse(std::string why) { throw ApplicationError("refused: " + why, "Refused", true); }

Task<std::string> Combinators(WorkflowContext& ctx) {
  auto opts = ActivityOptions().start_to_close(10s);
  std::vector<int> squares = co_await when_all(ctx.execute_activity<int>("Square", opts, 2),
                                               ctx.execute_activity<int>("Square", opts, 3));
  auto slow = ctx.sleep(std::chrono::hours(1));
  auto fast = ctx.sleep(1ms);
  size_t first = co_await when_any(slow, fast);
  std::string out = std::to_string(squares[0]) + "," + std::to_string(squares[1]) +
                    " first=" + std::to_string(first);
  try {
    // The builders may be written inside the co_await, on GCC 12 too.
    co_await ctx.execute_activity<void>(
        "Refuse",
        ActivityOptions().start_to_close(10s).retry(
            RetryPolicy().initial_interval(10ms).maximum_attempts(3).non_retryable("Other")),
        std::string("no"));
  } catch (const ActivityError& e) {
    auto refused = FindApplicationError(e, "Refused");
    out += refused ? " found=" + refused->type() : " found=none";
    out +=
        FindApplicationError(std::current_exception(), "Missing") ? " missing=yes" : " missing=no";
  }
  co_return out;
}

TEST(Workflow, WhenAllWhenAnyAndFailureChains) {
  auto env = StartEnv();
  ASSERT_TRUE(env);
  Worker& worker = env->new_worker();
  worker.register_workflow("Combinators", Combinators);
  worker.register_activity("Square", Square);
  worker.register_activity("Refuse", Refuse);
  ASSERT_TRUE(worker.start().ok());
  auto result = env->client().execute_workflow<std::string>("Combinators",
                                                            env->workflow_options("combinators"));
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(*result, "4,9 first=1 found=Refused missing=no");
}

// --- Result ----------------------------------------------------------------------------------

TEST(Result, AccessorsThatNeitherThrowNorAbort) {
  Result<std::string> good(std::string("v"));
  Result<std::string> bad(Error{grpc::StatusCode::NOT_FOUND, "gone", std::nullopt});
  EXPECT_EQ(*good, "v");
  EXPECT_EQ(good->size(), 1u);
  EXPECT_EQ(good.value_or("x"), "v");
  EXPECT_EQ(bad.value_or("x"), "x");
  ASSERT_NE(good.get(), nullptr);
  EXPECT_EQ(bad.get(), nullptr);
  EXPECT_EQ(good.error().code, grpc::StatusCode::OK);  // no error: code OK, not an exception
  EXPECT_TRUE(good.error().message.empty());
  EXPECT_EQ(bad.error().code, grpc::StatusCode::NOT_FOUND);
  Result<void> fine;
  EXPECT_EQ(fine.error().code, grpc::StatusCode::OK);
  EXPECT_EQ(std::move(good).value_or("y"), "v");
  EXPECT_DEATH((void)*bad, "value\\(\\) called on an error result: NOT_FOUND: gone");
}

TEST(FindApplicationError, WalksTheCauseChain) {
  Failure leaf = ApplicationError("declined", "CardDeclined").failure();
  Failure mid;
  mid.set_message("activity failed");
  mid.mutable_activity_failure_info()->mutable_activity_type()->set_name("Charge");
  *mid.mutable_cause() = leaf;
  Failure top;
  top.set_message("child failed");
  top.mutable_child_workflow_execution_failure_info();
  *top.mutable_cause() = mid;
  auto found = FindApplicationError(top, "CardDeclined");
  ASSERT_TRUE(found.has_value());
  EXPECT_STREQ(found->what(), "declined");
  EXPECT_FALSE(FindApplicationError(top, "Other").has_value());
  EXPECT_FALSE(FindApplicationError(std::exception_ptr(), "CardDeclined").has_value());
  EXPECT_FALSE(FindApplicationError(std::make_exception_ptr(std::runtime_error("x")), "x"));
}

// --- ActivityEnvironment ---------------------------------------------------------------------

int CountSlowly(ActivityContext& ctx, int to) {
  int from = ctx.heartbeat_details<int>().value_or(0);
  for (int i = from; i < to; ++i) {
    ctx.heartbeat(i + 1);
    ctx.throw_if_canceled();
  }
  return to;
}

std::string WaitForCancelAndSayAttempt(ActivityContext& ctx) {
  while (!ctx.wait_canceled(10ms)) {
  }
  return "canceled on attempt " + std::to_string(ctx.info().attempt);
}

TEST(ActivityEnvironment, RecordsHeartbeatsAndInjectsCancellation) {
  ActivityEnvironment env;
  EXPECT_EQ(env.run<int>(CountSlowly, 4), 4);
  ASSERT_EQ(env.heartbeats().size(), 4u) << "every heartbeat is recorded, none throttled";
  EXPECT_EQ(env.last_heartbeat<int>(), 4);

  // Resuming from the last attempt's details.
  ActivityEnvironment resumed;
  resumed.set_heartbeat_details(8);
  EXPECT_EQ(resumed.run<int>(CountSlowly, 10), 10);
  EXPECT_EQ(resumed.heartbeats().size(), 2u);

  // The server answers the third heartbeat with a cancellation.
  ActivityEnvironment canceled;
  canceled.cancel_on_heartbeat(3);
  EXPECT_THROW(canceled.run<int>(CountSlowly, 100), CanceledError);
  EXPECT_EQ(canceled.heartbeats().size(), 3u);

  // Cancellation from another thread wakes a waiting activity; info() is the test's.
  ActivityEnvironment waiting;
  waiting.info().attempt = 3;
  std::thread canceler([&] {
    std::this_thread::sleep_for(50ms);
    waiting.cancel();
  });
  EXPECT_EQ(waiting.run<std::string>(WaitForCancelAndSayAttempt), "canceled on attempt 3");
  canceler.join();
}

}  // namespace
}  // namespace eon::sdk
