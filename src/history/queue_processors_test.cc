// A task that keeps failing is retried with exponential backoff, then parked where an operator
// sees it and can retry it; a handler that throws counts as a failure, not a crash.
#include "history/queue_processors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "common/test_wait.h"
#include "persistence/sqlite_store.h"

namespace eon::history {
namespace {

using namespace std::chrono_literals;

class FlakyHandler final : public TaskHandler {
 public:
  void ProcessTransferTask(const persistence::StoredTask&, std::function<void()> on_settled,
                           Done done) override {
    int call = ++calls;
    if (call <= fail_first.load()) {
      if (throw_instead) throw std::runtime_error("handler threw on call " + std::to_string(call));
      return done(Unavailable("poisoned execution, call " + std::to_string(call)));
    }
    on_settled();
    done(Status::Ok());
  }
  void ProcessTimerTask(const persistence::StoredTask&, Done done) override {
    done(Status::Ok());
  }

  std::atomic<int> calls{0};
  std::atomic<int> fail_first{1'000'000};
  bool throw_instead = false;
};

using test_support::WaitFor;

persistence::StoredTask TransferTask(int64_t id) {
  persistence::StoredTask task;
  task.category = persistence::TaskCategory::kTransfer;
  task.task_id = id;
  task.task.set_workflow_id("poisoned");
  return task;
}

struct Fixture {
  explicit Fixture(const std::string& path = ":memory:")
      : clock(TimePoint(std::chrono::hours(24 * 365 * 50))), env(clock), executor("test-tasks", 2) {
    auto opened = persistence::SqliteStore::Open({.path = path});
    EXPECT_TRUE(opened.ok());
    store = std::move(*opened);
    TaskRetryOptions retry;
    retry.retry_delay_initial = 1s;
    retry.retry_delay_max = 4s;
    retry.failures_before_parking = 4;
    processors = std::make_unique<QueueProcessors>(handler, *store, env, executor, 4,
                                                   std::chrono::seconds(10), retry);
    EXPECT_TRUE(processors->Start().ok());
  }
  ~Fixture() { processors->Stop(); }

  // Advances the clock and waits for the handler to have been called `calls` times and for that
  // call's failure to have been handled (its retry scheduled from the clock as it was then), so
  // the next Advance cannot overtake it.
  bool AdvanceUntilCalls(Duration by, int calls) {
    clock.Advance(by);
    processors->ClockChanged();
    return WaitFor([&] { return handler.calls.load() >= calls && processors->Idle(); });
  }

  FlakyHandler handler;
  ManualClock clock;
  RealEnv env;
  ThreadPool executor;
  std::unique_ptr<persistence::SqliteStore> store;
  std::unique_ptr<QueueProcessors> processors;
};

TEST(QueueProcessors, BacksOffExponentiallyThenParksAndRetriesOnRequest) {
  Fixture f;
  f.processors->Add({TransferTask(7)});
  ASSERT_TRUE(WaitFor([&] { return f.handler.calls.load() == 1 && f.processors->Idle(); }));
  // Not again before the first delay (1 s) has passed.
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(f.handler.calls.load(), 1);
  ASSERT_TRUE(f.AdvanceUntilCalls(1s, 2));
  // The second delay is 2 s: 1 s is not enough.
  f.clock.Advance(1s);
  f.processors->ClockChanged();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(f.handler.calls.load(), 2);
  ASSERT_TRUE(f.AdvanceUntilCalls(1s, 3));
  ASSERT_TRUE(f.AdvanceUntilCalls(4s, 4));
  // The fourth failure parks it: no more calls however much time passes.
  ASSERT_TRUE(WaitFor([&] { return f.processors->Parked().size() == 1; }));
  f.clock.Advance(1h);
  f.processors->ClockChanged();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(f.handler.calls.load(), 4);
  auto parked = f.processors->Parked();
  ASSERT_EQ(parked.size(), 1u);
  EXPECT_EQ(parked[0].task.task_id, 7);
  EXPECT_EQ(parked[0].failures, 4);
  EXPECT_NE(parked[0].last_error.find("poisoned execution, call 4"), std::string::npos);
  EXPECT_TRUE(f.processors->Idle());

  // The operator fixed the cause and retries: it runs at once and succeeds.
  f.handler.fail_first = 0;
  EXPECT_EQ(f.processors->RetryParked({99}), 0);  // no such parked task
  EXPECT_EQ(f.processors->RetryParked({}), 1);
  ASSERT_TRUE(WaitFor([&] { return f.handler.calls.load() == 5; }));
  EXPECT_TRUE(f.processors->Parked().empty());
}

TEST(QueueProcessors, AHandlerThatThrowsIsRetriedNotFatal) {
  Fixture f;
  f.handler.throw_instead = true;
  f.handler.fail_first = 1;
  f.processors->Add({TransferTask(8)});
  // Idle: the throw has been recorded and its retry scheduled from the clock as it is now (the
  // clock must not move before that, or the retry is due a second later than the test waits).
  ASSERT_TRUE(WaitFor([&] { return f.handler.calls.load() == 1 && f.processors->Idle(); }));
  ASSERT_TRUE(f.AdvanceUntilCalls(1s, 2));
  EXPECT_TRUE(f.processors->Parked().empty());
}

// The parked mark is stored: after a restart the task is listed as parked and not run, until an
// operator retries it.
TEST(QueueProcessors, AParkedTaskStaysParkedThroughARestartUntilRetried) {
  auto dir =
      std::filesystem::temp_directory_path() / ("eon-queue-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "parked.db").string();
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);

  int64_t task_id = 0;
  {
    Fixture f(path);
    int64_t range = (*f.store->AcquireShards())[0];
    persistence::ExecutionWrite write;
    write.range_id = range;
    write.state.set_namespace_id("ns");
    write.state.set_workflow_id("poisoned");
    write.state.set_run_id("run");
    write.state.set_create_request_id("req");
    persistence::NewTask task;
    task.task.set_type(eon::v1::HISTORY_TASK_TYPE_DISPATCH_WORKFLOW_TASK);
    task.task.set_workflow_id("poisoned");
    write.new_tasks.push_back(task);
    std::vector<persistence::StoredTask> created;
    ASSERT_TRUE(f.store->CommitExecution(write, &created).ok());
    ASSERT_EQ(created.size(), 1u);
    task_id = created[0].task_id;
    f.processors->Add(created);
    ASSERT_TRUE(WaitFor([&] { return f.handler.calls.load() == 1 && f.processors->Idle(); }));
    ASSERT_TRUE(f.AdvanceUntilCalls(1s, 2));
    ASSERT_TRUE(f.AdvanceUntilCalls(2s, 3));
    ASSERT_TRUE(f.AdvanceUntilCalls(4s, 4));
    ASSERT_TRUE(WaitFor([&] { return f.processors->Parked().size() == 1; }));
    // A task is listed as parked only once its mark is stored.
    ASSERT_EQ(f.store->LoadParkedTasks()->size(), 1u);
  }
  // The restart: a new store and processors on the same file. Start re-reads the outbox.
  Fixture f(path);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(f.handler.calls.load(), 0) << "a parked task ran again after the restart";
  auto parked = f.processors->Parked();
  ASSERT_EQ(parked.size(), 1u);
  EXPECT_EQ(parked[0].task.task_id, task_id);
  EXPECT_EQ(parked[0].task.task.workflow_id(), "poisoned");
  EXPECT_EQ(parked[0].failures, 4);
  EXPECT_NE(parked[0].last_error.find("poisoned execution, call 4"), std::string::npos);
  EXPECT_TRUE(f.processors->Idle());

  f.handler.fail_first = 0;
  EXPECT_EQ(f.processors->RetryParked({task_id}), 1);
  ASSERT_TRUE(WaitFor([&] { return f.handler.calls.load() == 1; }));
  EXPECT_TRUE(f.processors->Parked().empty());
  // Done: the task and its mark are deleted (in the next delete batch).
  ASSERT_TRUE(WaitFor([&] {
    return f.store->LoadParkedTasks()->empty() && f.store->LoadTransferTasks(0, 0, 10)->empty();
  }));
}

// Answers transfer tasks only when the test says so, as the engine answers once a commit is
// durable.
class DeferredHandler final : public TaskHandler {
 public:
  struct Pending {
    int64_t task_id;
    std::function<void()> on_settled;
    Done done;
  };
  void ProcessTransferTask(const persistence::StoredTask& task, std::function<void()> on_settled,
                           Done done) override {
    std::lock_guard lock(mutex);
    pending.push_back({task.task_id, std::move(on_settled), std::move(done)});
  }
  void ProcessTimerTask(const persistence::StoredTask&, Done done) override {
    done(Status::Ok());
  }
  size_t PendingCount() {
    std::lock_guard lock(mutex);
    return pending.size();
  }
  std::vector<Pending> Take() {
    std::lock_guard lock(mutex);
    return std::move(pending);
  }

  std::mutex mutex;
  std::vector<Pending> pending;
};

// A task whose handler has not answered yet holds no executor thread (one thread takes all three
// tasks), counts as in flight until it answers, and an answer that comes later from another
// thread is handled like one given at once: success settles it, failure schedules its retry.
TEST(QueueProcessors, ATaskWaitingForItsAnswerHoldsNoThread) {
  ManualClock clock(TimePoint(std::chrono::hours(24 * 365 * 50)));
  RealEnv env(clock);
  ThreadPool executor("test-tasks", 1);
  auto store = persistence::SqliteStore::Open({.path = ":memory:"});
  ASSERT_TRUE(store.ok());
  DeferredHandler handler;
  TaskRetryOptions retry;
  retry.retry_delay_initial = 1s;
  QueueProcessors processors(handler, **store, env, executor, 4, 10s, retry);
  ASSERT_TRUE(processors.Start().ok());

  processors.Add({TransferTask(1), TransferTask(2), TransferTask(3)});
  ASSERT_TRUE(WaitFor([&] { return handler.PendingCount() == 3; }));
  EXPECT_FALSE(processors.Idle());
  auto pending = handler.Take();
  std::thread answerer([&] {
    pending[0].on_settled();
    pending[0].done(Status::Ok());
    pending[1].on_settled();
    pending[1].done(Status::Ok());
    pending[2].done(Unavailable("the commit failed"));
  });
  answerer.join();
  EXPECT_TRUE(processors.Idle());
  // The failed one runs again after its backoff, and only it.
  clock.Advance(1s);
  processors.ClockChanged();
  ASSERT_TRUE(WaitFor([&] { return handler.PendingCount() == 1; }));
  auto retried = handler.Take();
  EXPECT_EQ(retried[0].task_id, 3);
  retried[0].done(Status::Ok());  // answered before the processors go (they wait for it)
  processors.Stop();
}

}  // namespace
}  // namespace eon::history
