// Unit tests of the matching engine: sync match, the durable backlog, long-poll deadlines and
// cancellation, requeue and recovery after a restart, the guard, limits and expiry, and a
// concurrent stress run. matching_simulation_test.cc interleaves the same calls from a seed.
#include "matching/matching_engine.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/executor.h"
#include "persistence/sqlite_store.h"

namespace eon::matching {
namespace {

using namespace std::chrono_literals;
using std::chrono::steady_clock;

constexpr auto kWorkflowKind = eon::v1::TASK_QUEUE_KIND_WORKFLOW;
constexpr auto kActivityKind = eon::v1::TASK_QUEUE_KIND_ACTIVITY;

// A poll parked on the engine. Its answer (task or nothing) arrives through `answer`; `calls`
// counts how often deliver ran (it must run exactly once).
struct ParkedPoll {
  MatchingEngine::PollId id = 0;
  std::shared_future<std::optional<MatchedTask>> answer;
  std::shared_ptr<std::atomic<int>> calls;

  bool Answered(std::chrono::milliseconds within = 0ms) const {
    return answer.wait_for(within) == std::future_status::ready;
  }
};

eon::v1::QueueTask Task(int64_t scheduled_event_id, const std::string& workflow_id = "wf") {
  eon::v1::QueueTask task;
  task.set_namespace_id("ns");
  task.set_workflow_id(workflow_id);
  task.set_run_id("run-" + workflow_id);
  task.set_scheduled_event_id(scheduled_event_id);
  task.set_attempt(1);
  return task;
}

class MatchingEngineTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(Open(":memory:")); }
  void TearDown() override {
    Close();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  void Open(const std::string& path, MatchingOptions options = {}) {
    persistence::SqliteOptions store_options;
    store_options.path = path;
    store_options.synchronous_full = false;
    auto store = persistence::SqliteStore::Open(store_options);
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(*store);
    scheduler_ = std::make_unique<ThreadDeadlineScheduler>();
    matching_ = std::make_unique<MatchingEngine>(*store_, *scheduler_, options);
    Status recovered = matching_->Recover();
    ASSERT_TRUE(recovered.ok()) << recovered.message();
  }

  // Destroys the engine (answering its parked polls), the scheduler and the store, in the
  // order the server does.
  void Close() {
    matching_.reset();
    scheduler_.reset();
    store_.reset();
  }

  // A file database in a directory of this test's own.
  std::string FileDb() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    static std::atomic<int> counter{0};
    dir_ = (std::filesystem::temp_directory_path() /
            ("eon-matching-test-" + std::to_string(::getpid()) + "-" + info->name() + "-" +
             std::to_string(counter++)))
               .string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    return dir_ + "/eon.db";
  }

  ParkedPoll Poll(const QueueId& queue, std::chrono::milliseconds deadline = 10s,
                  PollerInfo poller = {"worker", ""}) {
    auto promise = std::make_shared<std::promise<std::optional<MatchedTask>>>();
    ParkedPoll parked;
    parked.answer = promise->get_future().share();
    parked.calls = std::make_shared<std::atomic<int>>(0);
    auto id = matching_->Poll(queue, poller, steady_clock::now() + deadline,
                              [promise, calls = parked.calls](std::optional<MatchedTask> task) {
                                if (calls->fetch_add(1) == 0) promise->set_value(std::move(task));
                              });
    EXPECT_TRUE(id.ok()) << id.status().message();
    parked.id = id.ok() ? *id : 0;
    return parked;
  }

  // Polls a queue that is expected to hold a task already: the answer comes inside Poll.
  std::optional<MatchedTask> PollNow(const QueueId& queue) {
    ParkedPoll poll = Poll(queue);
    if (!poll.Answered()) {
      ADD_FAILURE() << "the queue had no task waiting";
      matching_->CancelPoll(poll.id);
      return std::nullopt;
    }
    return poll.answer.get();
  }

  std::vector<persistence::QueueTaskRecord> Backlog(const QueueId& queue) {
    auto loaded = store_->LoadQueueTasks(queue.namespace_id, queue.name, queue.kind, 0, 1000);
    EXPECT_TRUE(loaded.ok()) << loaded.status().message();
    return loaded.ok() ? *loaded : std::vector<persistence::QueueTaskRecord>{};
  }

  // Options whose clocks move only with Advance, and whose guard runs only when called.
  MatchingOptions FakeTimeOptions() {
    MatchingOptions options;
    options.backlog_audit_interval = 0ms;
    options.steady_now = [this] { return SteadyTime(std::chrono::nanoseconds(steady_ns_.load())); };
    options.clock = &clock_;
    return options;
  }
  void Advance(std::chrono::nanoseconds by) {
    steady_ns_ += by.count();
    clock_.Advance(by);
  }

  const QueueId queue_{"ns", "tq", kWorkflowKind};
  ManualClock clock_{TimePoint(std::chrono::seconds(1'700'000'000))};
  std::atomic<int64_t> steady_ns_{std::chrono::nanoseconds(1000s).count()};
  std::string dir_;
  std::unique_ptr<persistence::SqliteStore> store_;
  std::unique_ptr<DeadlineScheduler> scheduler_;
  std::unique_ptr<MatchingEngine> matching_;
};

TEST_F(MatchingEngineTest, SyncMatchHandsTheTaskToAParkedPollWithoutWritingTheBacklog) {
  ParkedPoll poll = Poll(queue_);
  EXPECT_FALSE(poll.Answered());

  std::atomic<int> settled{0};
  ASSERT_TRUE(matching_->AddTask(queue_, Task(2), [&] { ++settled; }).ok());

  ASSERT_TRUE(poll.Answered(5s));
  std::optional<MatchedTask> matched = poll.answer.get();
  ASSERT_TRUE(matched.has_value());
  EXPECT_EQ(matched->task.scheduled_event_id(), 2);
  EXPECT_EQ(matched->task.workflow_id(), "wf");
  EXPECT_EQ(matched->queue, queue_);
  EXPECT_EQ(matched->backlog_task_id, 0);
  EXPECT_TRUE(Backlog(queue_).empty());
  // Not settled until the poller recorded it.
  EXPECT_EQ(settled.load(), 0);

  matching_->Done(*matched);
  EXPECT_EQ(settled.load(), 1);
  EXPECT_EQ(poll.calls->load(), 1);
  EXPECT_TRUE(Backlog(queue_).empty());
}

TEST_F(MatchingEngineTest, TaskWithoutPollerGoesToTheDurableBacklogAndIsDeletedWhenDone) {
  bool settled_before_return = false;
  std::atomic<int> settled{0};
  ASSERT_TRUE(matching_->AddTask(queue_, Task(2), [&] { ++settled; }).ok());
  settled_before_return = settled.load() == 1;
  EXPECT_TRUE(settled_before_return) << "a backlogged task is settled before AddTask returns";

  auto backlog = Backlog(queue_);
  ASSERT_EQ(backlog.size(), 1u);
  EXPECT_GT(backlog[0].task_id, 0);
  EXPECT_EQ(backlog[0].task.scheduled_event_id(), 2);
  EXPECT_EQ(backlog[0].task.run_id(), "run-wf");

  // A later poll is answered at once, inside Poll.
  std::optional<MatchedTask> matched = PollNow(queue_);
  ASSERT_TRUE(matched.has_value());
  EXPECT_EQ(matched->task.scheduled_event_id(), 2);
  EXPECT_EQ(matched->backlog_task_id, backlog[0].task_id);
  EXPECT_FALSE(matched->on_settled) << "a backlog task has nothing left to settle";
  // Still in the database until the poller is done with it.
  EXPECT_EQ(Backlog(queue_).size(), 1u);

  matching_->Done(*matched);
  EXPECT_TRUE(Backlog(queue_).empty());
  EXPECT_EQ(settled.load(), 1);
}

TEST_F(MatchingEngineTest, BacklogIsServedInFifoOrder) {
  for (int64_t id = 1; id <= 5; ++id)
    ASSERT_TRUE(matching_->AddTask(queue_, Task(id), nullptr).ok());
  ASSERT_EQ(Backlog(queue_).size(), 5u);
  for (int64_t id = 1; id <= 5; ++id) {
    std::optional<MatchedTask> matched = PollNow(queue_);
    ASSERT_TRUE(matched.has_value());
    EXPECT_EQ(matched->task.scheduled_event_id(), id);
    matching_->Done(*matched);
  }
  EXPECT_TRUE(Backlog(queue_).empty());
  // Empty now: the next poll parks.
  ParkedPoll poll = Poll(queue_, 10s);
  EXPECT_FALSE(poll.Answered());
  matching_->CancelPoll(poll.id);
}

TEST_F(MatchingEngineTest, BacklogLargerThanMemoryIsRefilledFromTheDatabaseInOrder) {
  Close();
  ASSERT_NO_FATAL_FAILURE(Open(":memory:", MatchingOptions{.backlog_in_memory_tasks_max = 2}));
  for (int64_t id = 1; id <= 7; ++id)
    ASSERT_TRUE(matching_->AddTask(queue_, Task(id), nullptr).ok());
  for (int64_t id = 1; id <= 7; ++id) {
    std::optional<MatchedTask> matched = PollNow(queue_);
    ASSERT_TRUE(matched.has_value()) << "task " << id;
    EXPECT_EQ(matched->task.scheduled_event_id(), id);
    matching_->Done(*matched);
  }
  EXPECT_TRUE(Backlog(queue_).empty());
}

TEST_F(MatchingEngineTest, QueuesAreSeparatedByNamespaceNameAndKind) {
  ASSERT_TRUE(matching_->AddTask(queue_, Task(2), nullptr).ok());
  ParkedPoll activity = Poll({"ns", "tq", kActivityKind}, 10s);
  ParkedPoll other_queue = Poll({"ns", "other", kWorkflowKind}, 10s);
  ParkedPoll other_ns = Poll({"ns2", "tq", kWorkflowKind}, 10s);
  EXPECT_FALSE(activity.Answered());
  EXPECT_FALSE(other_queue.Answered());
  EXPECT_FALSE(other_ns.Answered());
  std::optional<MatchedTask> matched = PollNow(queue_);
  ASSERT_TRUE(matched.has_value());
  matching_->Done(*matched);
  for (const auto* poll : {&activity, &other_queue, &other_ns}) matching_->CancelPoll(poll->id);
}

TEST_F(MatchingEngineTest, OldestParkedPollGetsTheFirstTask) {
  ParkedPoll first = Poll(queue_);
  ParkedPoll second = Poll(queue_);
  ASSERT_TRUE(matching_->AddTask(queue_, Task(10), nullptr).ok());
  ASSERT_TRUE(first.Answered(5s));
  EXPECT_FALSE(second.Answered());
  ASSERT_TRUE(matching_->AddTask(queue_, Task(11), nullptr).ok());
  ASSERT_TRUE(second.Answered(5s));
  auto a = first.answer.get();
  auto b = second.answer.get();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->task.scheduled_event_id(), 10);
  EXPECT_EQ(b->task.scheduled_event_id(), 11);
  matching_->Done(*a);
  matching_->Done(*b);
}

TEST_F(MatchingEngineTest, PollIsAnsweredWithNothingAtItsDeadline) {
  auto started = steady_clock::now();
  ParkedPoll poll = Poll(queue_, 100ms);
  ASSERT_TRUE(poll.Answered(5s)) << "the deadline never answered the poll";
  EXPECT_GE(steady_clock::now() - started, 100ms);
  EXPECT_FALSE(poll.answer.get().has_value());
  EXPECT_EQ(poll.calls->load(), 1);

  // The expired poll no longer takes tasks: this one goes to the backlog.
  ASSERT_TRUE(matching_->AddTask(queue_, Task(2), nullptr).ok());
  EXPECT_EQ(Backlog(queue_).size(), 1u);
  EXPECT_EQ(poll.calls->load(), 1);
}

TEST_F(MatchingEngineTest, CancelPollAnswersWithNothingOnce) {
  ParkedPoll poll = Poll(queue_, 10s);
  EXPECT_FALSE(poll.Answered());
  matching_->CancelPoll(poll.id);
  ASSERT_TRUE(poll.Answered());
  EXPECT_FALSE(poll.answer.get().has_value());
  matching_->CancelPoll(poll.id);  // no-op
  EXPECT_EQ(poll.calls->load(), 1);

  std::atomic<int> settled{0};
  ASSERT_TRUE(matching_->AddTask(queue_, Task(2), [&] { ++settled; }).ok());
  EXPECT_EQ(settled.load(), 1) << "went to the backlog, not to the cancelled poll";
  EXPECT_EQ(Backlog(queue_).size(), 1u);
  EXPECT_EQ(poll.calls->load(), 1);
}

TEST_F(MatchingEngineTest, ShutdownWorkerAnswersOnlyThatWorkersPolls) {
  ParkedPoll leaving = Poll(queue_, 10s, {"worker-a", "key-a"});
  ParkedPoll staying = Poll(queue_, 10s, {"worker-b", "key-b"});
  matching_->ShutdownWorker("ns", "", "", "key-a");
  ASSERT_TRUE(leaving.Answered());
  EXPECT_FALSE(leaving.answer.get().has_value());
  EXPECT_FALSE(staying.Answered());

  ASSERT_TRUE(matching_->AddTask(queue_, Task(2), nullptr).ok());
  ASSERT_TRUE(staying.Answered(5s));
  auto matched = staying.answer.get();
  ASSERT_TRUE(matched.has_value());
  matching_->Done(*matched);
  EXPECT_EQ(leaving.calls->load(), 1);
}

TEST_F(MatchingEngineTest, RequeueOfASyncMatchedTaskWritesItToTheBacklog) {
  ParkedPoll poll = Poll(queue_);
  std::atomic<int> settled{0};
  ASSERT_TRUE(matching_->AddTask(queue_, Task(2), [&] { ++settled; }).ok());
  ASSERT_TRUE(poll.Answered(5s));
  std::optional<MatchedTask> matched = poll.answer.get();
  ASSERT_TRUE(matched.has_value());
  ASSERT_EQ(matched->backlog_task_id, 0);
  EXPECT_TRUE(Backlog(queue_).empty());

  matching_->Requeue(*matched);
  auto backlog = Backlog(queue_);
  ASSERT_EQ(backlog.size(), 1u);
  EXPECT_EQ(backlog[0].task.scheduled_event_id(), 2);
  EXPECT_EQ(settled.load(), 1) << "durable in the backlog: the producer may forget it";

  std::optional<MatchedTask> again = PollNow(queue_);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->task.scheduled_event_id(), 2);
  EXPECT_EQ(again->backlog_task_id, backlog[0].task_id);
  matching_->Done(*again);
  EXPECT_TRUE(Backlog(queue_).empty());
  EXPECT_EQ(settled.load(), 1) << "settled exactly once";
}

TEST_F(MatchingEngineTest, RequeuedTaskGoesBeforeOlderBacklogAndToAWaitingPoller) {
  // Requeued to the front of the queue.
  ASSERT_TRUE(matching_->AddTask(queue_, Task(1), nullptr).ok());
  ASSERT_TRUE(matching_->AddTask(queue_, Task(2), nullptr).ok());
  std::optional<MatchedTask> first = PollNow(queue_);
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->task.scheduled_event_id(), 1);
  matching_->Requeue(*first);
  std::optional<MatchedTask> again = PollNow(queue_);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->task.scheduled_event_id(), 1);
  EXPECT_EQ(again->backlog_task_id, first->backlog_task_id) << "not written twice";
  std::optional<MatchedTask> second = PollNow(queue_);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->task.scheduled_event_id(), 2);

  // Straight to a parked poller.
  ParkedPoll waiting = Poll(queue_);
  EXPECT_FALSE(waiting.Answered());
  matching_->Requeue(*second);
  ASSERT_TRUE(waiting.Answered(5s));
  auto handed = waiting.answer.get();
  ASSERT_TRUE(handed.has_value());
  EXPECT_EQ(handed->task.scheduled_event_id(), 2);
  matching_->Done(*again);
  matching_->Done(*handed);
  EXPECT_TRUE(Backlog(queue_).empty());
}

TEST_F(MatchingEngineTest, RequeuedTaskIsNotDeliveredTwiceWhenTheBacklogSpillsToTheDatabase) {
  Close();
  ASSERT_NO_FATAL_FAILURE(Open(":memory:", MatchingOptions{.backlog_in_memory_tasks_max = 2}));
  // Task 1 is sync-matched; while its poller works, tasks 2..4 arrive (4 only in the database).
  ParkedPoll poll = Poll(queue_);
  ASSERT_TRUE(matching_->AddTask(queue_, Task(1), nullptr).ok());
  ASSERT_TRUE(poll.Answered(5s));
  std::optional<MatchedTask> first = poll.answer.get();
  ASSERT_TRUE(first.has_value());
  for (int64_t id = 2; id <= 4; ++id)
    ASSERT_TRUE(matching_->AddTask(queue_, Task(id), nullptr).ok());
  // Its poller could not take it: it goes back, to the front.
  matching_->Requeue(*first);

  std::vector<MatchedTask> taken;  // nobody is Done yet: the pollers are still recording
  std::vector<int64_t> order;
  for (;;) {
    ParkedPoll next = Poll(queue_, 10s);
    if (!next.Answered()) {
      matching_->CancelPoll(next.id);
      break;
    }
    auto matched = next.answer.get();
    ASSERT_TRUE(matched.has_value());
    order.push_back(matched->task.scheduled_event_id());
    taken.push_back(std::move(*matched));
    ASSERT_LE(order.size(), 10u);
  }
  EXPECT_EQ(order, (std::vector<int64_t>{1, 2, 3, 4}));
  for (const auto& task : taken) matching_->Done(task);
}

TEST_F(MatchingEngineTest, RecoverReloadsTheBacklogAfterARestart) {
  const std::string path = FileDb();
  Close();
  ASSERT_NO_FATAL_FAILURE(Open(path));
  const QueueId activities{"ns", "tq", kActivityKind};
  for (int64_t id = 1; id <= 3; ++id)
    ASSERT_TRUE(matching_->AddTask(queue_, Task(id), nullptr).ok());
  ASSERT_TRUE(matching_->AddTask(activities, Task(7), nullptr).ok());
  // The first one is taken and recorded before the restart: it must not come back.
  std::optional<MatchedTask> taken = PollNow(queue_);
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->task.scheduled_event_id(), 1);
  matching_->Done(*taken);

  Close();
  ASSERT_NO_FATAL_FAILURE(Open(path));
  for (int64_t id = 2; id <= 3; ++id) {
    std::optional<MatchedTask> matched = PollNow(queue_);
    ASSERT_TRUE(matched.has_value());
    EXPECT_EQ(matched->task.scheduled_event_id(), id);
    EXPECT_GT(matched->backlog_task_id, 0);
    matching_->Done(*matched);
  }
  std::optional<MatchedTask> activity = PollNow(activities);
  ASSERT_TRUE(activity.has_value());
  EXPECT_EQ(activity->task.scheduled_event_id(), 7);
  matching_->Done(*activity);
  EXPECT_TRUE(Backlog(queue_).empty());
  EXPECT_TRUE(Backlog(activities).empty());
}

TEST_F(MatchingEngineTest, RecoverOfABacklogLargerThanMemoryKeepsOrder) {
  const std::string path = FileDb();
  Close();
  ASSERT_NO_FATAL_FAILURE(Open(path, MatchingOptions{.backlog_in_memory_tasks_max = 2}));
  for (int64_t id = 1; id <= 5; ++id)
    ASSERT_TRUE(matching_->AddTask(queue_, Task(id), nullptr).ok());
  Close();
  ASSERT_NO_FATAL_FAILURE(Open(path, MatchingOptions{.backlog_in_memory_tasks_max = 2}));
  for (int64_t id = 1; id <= 5; ++id) {
    std::optional<MatchedTask> matched = PollNow(queue_);
    ASSERT_TRUE(matched.has_value()) << "task " << id;
    EXPECT_EQ(matched->task.scheduled_event_id(), id);
    matching_->Done(*matched);
  }
  EXPECT_TRUE(Backlog(queue_).empty());
}

TEST_F(MatchingEngineTest, DestroyingTheEngineAnswersParkedPolls) {
  ParkedPoll poll = Poll(queue_, 10s);
  matching_.reset();
  ASSERT_TRUE(poll.Answered());
  EXPECT_FALSE(poll.answer.get().has_value());
  EXPECT_EQ(poll.calls->load(), 1);
}

// The guard: a backlog row matching does not know of (here written behind its back) is left
// alone until the queue's pollers have waited for it backlog_fault_age; then it is counted as a
// fault and handed to a poller.
TEST_F(MatchingEngineTest, GuardDispatchesABacklogTaskMatchingLostTrackOf) {
  Close();
  ASSERT_NO_FATAL_FAILURE(Open(":memory:", FakeTimeOptions()));
  ParkedPoll poll = Poll(queue_, 1h);
  ASSERT_TRUE(store_->AddQueueTask("ns", "tq", kWorkflowKind, 1'000, Task(5)).ok());

  matching_->AuditBacklogs();  // first seen now
  Advance(5s);
  matching_->AuditBacklogs();
  EXPECT_FALSE(poll.Answered()) << "dispatched before it was backlog_fault_age old";
  EXPECT_EQ(matching_->backlog_fault_count(), 0);

  Advance(6s);
  matching_->AuditBacklogs();
  ASSERT_TRUE(poll.Answered()) << "the guard did not dispatch the lost task";
  auto matched = poll.answer.get();
  ASSERT_TRUE(matched.has_value());
  EXPECT_EQ(matched->task.scheduled_event_id(), 5);
  EXPECT_EQ(matched->backlog_task_id, 1'000);
  EXPECT_EQ(matching_->backlog_fault_count(), 1);
  matching_->Done(*matched);
  EXPECT_TRUE(Backlog(queue_).empty());
  matching_->AuditBacklogs();
  EXPECT_EQ(matching_->backlog_fault_count(), 1);
}

TEST_F(MatchingEngineTest, GuardWaitsForPollersThatWaitedTheWholeTime) {
  Close();
  ASSERT_NO_FATAL_FAILURE(Open(":memory:", FakeTimeOptions()));
  ASSERT_TRUE(store_->AddQueueTask("ns", "tq", kWorkflowKind, 1'000, Task(5)).ok());
  ParkedPoll first = Poll(queue_, 1h);
  matching_->AuditBacklogs();
  Advance(8s);
  matching_->CancelPoll(first.id);  // the pollers' wait breaks off
  ParkedPoll second = Poll(queue_, 1h);
  matching_->AuditBacklogs();
  Advance(8s);
  matching_->AuditBacklogs();
  EXPECT_FALSE(second.Answered()) << "pollers have waited only 8 s without a break";
  EXPECT_EQ(matching_->backlog_fault_count(), 0);
  Advance(3s);
  matching_->AuditBacklogs();
  ASSERT_TRUE(second.Answered());
  EXPECT_EQ(matching_->backlog_fault_count(), 1);
  auto matched = second.answer.get();
  ASSERT_TRUE(matched.has_value());
  matching_->Done(*matched);
}

TEST_F(MatchingEngineTest, GuardLeavesTasksThatArePolledOrBeingRecordedAlone) {
  Close();
  ASSERT_NO_FATAL_FAILURE(Open(":memory:", FakeTimeOptions()));
  for (int64_t id = 1; id <= 3; ++id)
    ASSERT_TRUE(matching_->AddTask(queue_, Task(id), nullptr).ok());
  std::vector<MatchedTask> taken;
  for (int i = 0; i < 3; ++i) {
    auto matched = PollNow(queue_);
    ASSERT_TRUE(matched.has_value());
    taken.push_back(std::move(*matched));
  }
  ParkedPoll waiting = Poll(queue_, 1h);
  for (int i = 0; i < 4; ++i) {
    matching_->AuditBacklogs();
    Advance(6s);
  }
  EXPECT_FALSE(waiting.Answered()) << "a task being recorded was handed out again";
  EXPECT_EQ(matching_->backlog_fault_count(), 0);
  for (const auto& task : taken) matching_->Done(task);
  EXPECT_TRUE(Backlog(queue_).empty());
  matching_->CancelPoll(waiting.id);
}

TEST_F(MatchingEngineTest, PollsPastTheQueueLimitAreRefusedWithResourceExhausted) {
  Close();
  MatchingOptions options;
  options.parked_polls_per_queue_max = 2;
  ASSERT_NO_FATAL_FAILURE(Open(":memory:", options));
  ParkedPoll a = Poll(queue_, 1h);
  ParkedPoll b = Poll(queue_, 1h);
  bool delivered = false;
  auto refused = matching_->Poll(queue_, {"worker", ""}, steady_clock::now() + 1h,
                                 [&](std::optional<MatchedTask>) { delivered = true; });
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(refused.status().message().find("\"tq\""), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("at most 2"), std::string::npos)
      << refused.status().message();
  EXPECT_FALSE(delivered);
  // Another queue has its own limit; a freed place can be taken again.
  ParkedPoll other = Poll({"ns", "tq", kActivityKind}, 1h);
  EXPECT_FALSE(other.Answered());
  matching_->CancelPoll(a.id);
  ParkedPoll c = Poll(queue_, 1h);
  EXPECT_FALSE(c.Answered());
  // The parked ones still get tasks.
  ASSERT_TRUE(matching_->AddTask(queue_, Task(2), nullptr).ok());
  ASSERT_TRUE(b.Answered(5s));
  auto matched = b.answer.get();
  ASSERT_TRUE(matched.has_value());
  matching_->Done(*matched);
  for (const auto* poll : {&other, &c}) matching_->CancelPoll(poll->id);
}

// A sticky task carries an expire_time (its sticky schedule-to-start deadline, when history's
// timer moves it to the normal queue). Past it, matching drops the task instead of handing it
// out, and a restart does not reload it.
TEST_F(MatchingEngineTest, ExpiredTasksAreDroppedNotHandedOut) {
  const std::string path = FileDb();
  Close();
  ASSERT_NO_FATAL_FAILURE(Open(path, FakeTimeOptions()));
  const QueueId sticky{"ns", "worker-1-sticky", kWorkflowKind};
  auto expiring = [&](int64_t id) {
    auto task = Task(id);
    *task.mutable_expire_time() = ToTimestamp(clock_.Now() + 5s);
    return task;
  };
  ParkedPoll once = Poll(sticky, 10ms);  // the sticky worker polled: AddTask takes its tasks
  ASSERT_TRUE(once.Answered(5s));
  ASSERT_TRUE(matching_->AddTask(sticky, expiring(1), nullptr, /*sticky=*/true).ok());
  ASSERT_TRUE(matching_->AddTask(sticky, expiring(2), nullptr, /*sticky=*/true).ok());
  ASSERT_TRUE(matching_->AddTask(sticky, Task(3), nullptr, /*sticky=*/true).ok());
  ASSERT_EQ(Backlog(sticky).size(), 3u);

  clock_.Advance(6s);
  std::optional<MatchedTask> matched = PollNow(sticky);
  ASSERT_TRUE(matched.has_value());
  EXPECT_EQ(matched->task.scheduled_event_id(), 3) << "expired tasks were handed out";
  matching_->Done(*matched);
  EXPECT_TRUE(Backlog(sticky).empty()) << "expired tasks were not deleted";

  // Expired while the server was down: a restart drops them.
  ASSERT_TRUE(matching_->AddTask(sticky, expiring(4), nullptr, /*sticky=*/false).ok());
  ASSERT_EQ(Backlog(sticky).size(), 1u);
  Close();
  clock_.Advance(6s);
  ASSERT_NO_FATAL_FAILURE(Open(path, FakeTimeOptions()));
  EXPECT_TRUE(Backlog(sticky).empty());
}

TEST_F(MatchingEngineTest, IdleEmptyQueuesAreForgotten) {
  Close();
  ASSERT_NO_FATAL_FAILURE(Open(":memory:", FakeTimeOptions()));
  const QueueId sticky{"ns", "worker-1-sticky", kWorkflowKind};
  ParkedPoll poll = Poll(sticky, 1h);
  ASSERT_TRUE(matching_->AddTask(queue_, Task(1), nullptr).ok());  // a backlog: kept
  EXPECT_EQ(matching_->queue_count(), 2);
  matching_->CancelPoll(poll.id);
  Advance(4min);
  matching_->AuditBacklogs();
  EXPECT_EQ(matching_->queue_count(), 2) << "forgotten before idle_queue_forget";
  Advance(2min);
  matching_->AuditBacklogs();
  EXPECT_EQ(matching_->queue_count(), 1) << "the idle sticky queue was kept";
  std::optional<MatchedTask> matched = PollNow(queue_);
  ASSERT_TRUE(matched.has_value());
  matching_->Done(*matched);
}

// Many adders and pollers at once on a queue whose memory holds 2 tasks: every task is handed
// out exactly once, nothing is left in the backlog, and the guard never had to step in.
TEST_F(MatchingEngineTest, ConcurrentAddsAndPollsHandEveryTaskOutOnce) {
  Close();
  MatchingOptions options;
  options.backlog_in_memory_tasks_max = 2;
  options.backlog_audit_interval = 0ms;
  ASSERT_NO_FATAL_FAILURE(Open(":memory:", options));
  constexpr int kAdders = 6, kTasksPerAdder = 200, kPollers = 4;
  constexpr int kTasks = kAdders * kTasksPerAdder;
  std::mutex mutex;
  std::vector<int> handed(kTasks + 1, 0);
  std::atomic<int> done{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int a = 0; a < kAdders; ++a) {
    threads.emplace_back([&, a] {
      for (int i = 0; i < kTasksPerAdder; ++i) {
        if (!matching_->AddTask(queue_, Task(a * kTasksPerAdder + i + 1), nullptr).ok())
          failed = true;
      }
    });
  }
  for (int p = 0; p < kPollers; ++p) {
    threads.emplace_back([&, p] {
      std::mt19937 rng(p);
      const auto give_up = steady_clock::now() + 60s;
      while (done.load() < kTasks && steady_clock::now() < give_up) {
        ParkedPoll poll = Poll(queue_, 100ms);
        auto matched = poll.answer.get();
        if (!matched) continue;
        {
          std::lock_guard lock(mutex);
          ++handed[matched->task.scheduled_event_id()];
        }
        if (rng() % 20 == 0) {  // its caller left: back to the queue
          {
            std::lock_guard lock(mutex);
            --handed[matched->task.scheduled_event_id()];
          }
          matching_->Requeue(*matched);
          continue;
        }
        if (rng() % 4 == 0) std::this_thread::sleep_for(1ms);  // let a backlog build up
        matching_->Done(*matched);
        ++done;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_FALSE(failed.load());
  EXPECT_EQ(done.load(), kTasks);
  int wrong = 0;
  for (int n = 1; n <= kTasks; ++n) wrong += handed[n] == 1 ? 0 : 1;
  EXPECT_EQ(wrong, 0) << "tasks not handed out exactly once";
  EXPECT_TRUE(Backlog(queue_).empty());
  EXPECT_EQ(matching_->backlog_fault_count(), 0);
}

}  // namespace
}  // namespace eon::matching
