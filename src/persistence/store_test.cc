// The store conformance suite: every test runs on each Store implementation (SQLite and
// PostgreSQL, see store_test_backends.h), so the two keep one contract (persistence/store.h).
#include "persistence/store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <set>
#include <thread>

#include "persistence/store_test_backends.h"
#include "visibility/query.h"

namespace eon::persistence {
namespace {

namespace enums = temporal::api::enums::v1;

ExecutionWrite NewRun(const std::string& workflow_id, const std::string& run_id, int64_t range_id,
                      int32_t shard_id = 0) {
  ExecutionWrite write;
  write.shard_id = shard_id;
  write.range_id = range_id;
  write.state.set_namespace_id("ns");
  write.state.set_workflow_id(workflow_id);
  write.state.set_run_id(run_id);
  write.state.set_status(enums::WORKFLOW_EXECUTION_STATUS_RUNNING);
  write.state.set_create_request_id("req-" + run_id);
  temporal::api::history::v1::HistoryEvent event;
  event.set_event_id(1);
  event.set_event_type(enums::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
  write.new_events.push_back(event);
  NewTask task;
  task.task.set_type(eon::v1::HISTORY_TASK_TYPE_DISPATCH_WORKFLOW_TASK);
  task.task.set_workflow_id(workflow_id);
  write.new_tasks.push_back(task);
  return write;
}

// An update of `run_id` from `version` that appends event `event_id`.
ExecutionWrite Update(const std::string& workflow_id, const std::string& run_id, int64_t range_id,
                      int64_t version, int64_t event_id) {
  ExecutionWrite write = NewRun(workflow_id, run_id, range_id);
  write.expected_db_version = version;
  write.new_events[0].set_event_id(event_id);
  write.new_events[0].set_event_type(enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
  return write;
}

class StoreTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string why;
    backend_ = MakeStoreBackend(GetParam(), &why);
    if (!backend_) {
      if (std::getenv("CI")) FAIL() << "no " << GetParam() << " store under CI: " << why;
      GTEST_SKIP() << why;
    }
    auto opened = backend_->Open();
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    store_ = std::move(*opened);
  }
  // Closes the store and opens the same database again.
  void Reopen(int32_t shard_count = 0) {
    store_.reset();
    auto opened = backend_->Open(shard_count);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    store_ = std::move(*opened);
  }
  int64_t Range(int shard = 0) {
    auto ranges = store_->AcquireShards();
    EXPECT_TRUE(ranges.ok()) << ranges.status().message();
    return ranges.ok() ? (*ranges)[shard] : 0;
  }
  size_t HistoryLength(const std::string& run_id) {
    auto history = store_->ReadHistory("ns", run_id, 1, 100);
    EXPECT_TRUE(history.ok()) << history.status().message();
    return history.ok() ? history->events.size() : 0;
  }

  std::unique_ptr<StoreBackend> backend_;
  std::unique_ptr<Store> store_;
};

INSTANTIATE_TEST_SUITE_P(Stores, StoreTest, testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

// Taking one shard fences out the writer that held it, and only that shard.
TEST_P(StoreTest, AcquireShardFencesOutThePreviousOwnerOfThatShardOnly) {
  auto ranges = store_->AcquireShards();
  ASSERT_TRUE(ranges.ok()) << ranges.status().message();
  auto taken = store_->AcquireShard(0);
  ASSERT_TRUE(taken.ok()) << taken.status().message();
  EXPECT_GT(*taken, (*ranges)[0]);
  Status stale = store_->CommitExecution(NewRun("wf", "run1", (*ranges)[0]), nullptr);
  EXPECT_TRUE(IsShardOwnershipLost(stale)) << stale.message();
  EXPECT_TRUE(store_->CommitExecution(NewRun("wf", "run1", *taken), nullptr).ok());
  if (ranges->size() > 1) {
    EXPECT_TRUE(store_->CommitExecution(NewRun("wf2", "run2", (*ranges)[1], 1), nullptr).ok());
  }
  EXPECT_EQ(store_->AcquireShard(-1).status().code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(store_->AcquireShard(static_cast<int32_t>(ranges->size())).status().code(),
            StatusCode::INVALID_ARGUMENT);
}

TEST_P(StoreTest, MembershipRowsAreReplacedByNameAndSurviveAReopen) {
  auto none = store_->ListMembers();
  ASSERT_TRUE(none.ok()) << none.status().message();
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE(store_->PutMember({"b", "127.0.0.1:2", 20}).ok());
  ASSERT_TRUE(store_->PutMember({"a", "127.0.0.1:1", 10}).ok());
  ASSERT_TRUE(store_->PutMember({"b", "127.0.0.1:3", 30}).ok());
  Reopen();
  auto members = store_->ListMembers();
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(members->size(), 2u);
  EXPECT_EQ((*members)[0], (MemberRow{"a", "127.0.0.1:1", 10}));
  EXPECT_EQ((*members)[1], (MemberRow{"b", "127.0.0.1:3", 30}));
  ASSERT_TRUE(store_->DeleteMember("a").ok());
  ASSERT_TRUE(store_->DeleteMember("nobody").ok());
  EXPECT_EQ(store_->ListMembers()->size(), 1u);
}

TEST_P(StoreTest, CreatesAndReadsAnExecutionWithItsEventsAndTasks) {
  std::vector<StoredTask> created;
  ASSERT_TRUE(store_->CommitExecution(NewRun("wf", "run1", Range()), &created).ok());
  ASSERT_EQ(created.size(), 1u);
  EXPECT_GT(created[0].task_id, 0);

  auto current = store_->GetCurrentExecution("ns", "wf");
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(current->run_id, "run1");
  EXPECT_EQ(current->create_request_id, "req-run1");
  EXPECT_EQ(current->status, enums::WORKFLOW_EXECUTION_STATUS_RUNNING);
  auto stored = store_->GetExecution({"ns", "wf", "run1"});
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->db_version, 1);
  EXPECT_EQ(stored->state.create_request_id(), "req-run1");
  auto history = store_->ReadHistory("ns", "run1", 1, 10);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->events.size(), 1u);
  EXPECT_EQ(history->events[0].event_type(), enums::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
  auto tasks = store_->LoadTransferTasks(0, 0, 10);
  ASSERT_TRUE(tasks.ok());
  ASSERT_EQ(tasks->size(), 1u);
  EXPECT_EQ((*tasks)[0].task.workflow_id(), "wf");
  EXPECT_EQ((*tasks)[0].task_id, created[0].task_id);
  EXPECT_EQ(store_->GetCurrentExecution("ns", "nope").status().code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(store_->GetExecution({"ns", "wf", "nope"}).status().code(), StatusCode::NOT_FOUND);
}

TEST_P(StoreTest, RejectsAStaleVersionAndWritesNothingOfIt) {
  int64_t range = Range();
  ASSERT_TRUE(store_->CommitExecution(NewRun("wf", "run1", range), nullptr).ok());
  ASSERT_TRUE(store_->CommitExecution(Update("wf", "run1", range, 1, 2), nullptr).ok());
  Status status = store_->CommitExecution(Update("wf", "run1", range, 1, 3), nullptr);
  EXPECT_EQ(status.code(), StatusCode::ABORTED) << status.message();
  EXPECT_EQ(HistoryLength("run1"), 2u);  // event 3 was rolled back with its savepoint
  EXPECT_EQ(store_->LoadTransferTasks(0, 0, 10)->size(), 2u);
  EXPECT_EQ(store_->GetExecution({"ns", "wf", "run1"})->db_version, 2);
}

TEST_P(StoreTest, AnEventWrittenTwiceAbortsTheWholeUpdate) {
  int64_t range = Range();
  ASSERT_TRUE(store_->CommitExecution(NewRun("wf", "run1", range), nullptr).ok());
  ExecutionWrite again = Update("wf", "run1", range, 1, 1);  // event 1 exists
  Status status = store_->CommitExecution(again, nullptr);
  EXPECT_EQ(status.code(), StatusCode::ABORTED) << status.message();
  EXPECT_EQ(store_->GetExecution({"ns", "wf", "run1"})->db_version, 1);
  EXPECT_EQ(store_->LoadTransferTasks(0, 0, 10)->size(), 1u);
}

TEST_P(StoreTest, FencesAWriterThatLostTheShard) {
  int64_t old_range = Range();
  int64_t new_range = Range();
  EXPECT_GT(new_range, old_range);
  Status fenced = store_->CommitExecution(NewRun("wf", "run1", old_range), nullptr);
  EXPECT_EQ(fenced.code(), StatusCode::ABORTED);
  EXPECT_TRUE(IsShardOwnershipLost(fenced)) << "told apart from a version conflict";
  EXPECT_EQ(store_->GetCurrentExecution("ns", "wf").status().code(), StatusCode::NOT_FOUND);
  ASSERT_TRUE(store_->CommitExecution(NewRun("wf", "run1", new_range), nullptr).ok());
  // An update by the old owner is fenced too, though its version condition holds.
  EXPECT_TRUE(
      IsShardOwnershipLost(store_->CommitExecution(Update("wf", "run1", old_range, 1, 2), nullptr)));
  EXPECT_EQ(HistoryLength("run1"), 1u);
}

TEST_P(StoreTest, RequiresTheExpectedCurrentRunForANewRun) {
  int64_t range = Range();
  ASSERT_TRUE(store_->CommitExecution(NewRun("wf", "run1", range), nullptr).ok());
  Status conflict = store_->CommitExecution(NewRun("wf", "run2", range), nullptr);
  EXPECT_EQ(conflict.code(), StatusCode::ABORTED);
  EXPECT_FALSE(IsShardOwnershipLost(conflict));
  ExecutionWrite second = NewRun("wf", "run2", range);
  second.expected_current_run_id = "run1";
  EXPECT_TRUE(store_->CommitExecution(second, nullptr).ok());
  EXPECT_EQ(store_->GetCurrentExecution("ns", "wf")->run_id, "run2");
}

TEST_P(StoreTest, ANewRunCommitsWithTheUpdateThatMadeItOrNotAtAll) {
  int64_t range = Range();
  ASSERT_TRUE(store_->CommitExecution(NewRun("wf", "run1", range), nullptr).ok());
  // Continue-as-new: run1 closes and run2 becomes current, in one transaction.
  ExecutionWrite close = Update("wf", "run1", range, 1, 2);
  close.state.set_status(enums::WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW);
  ExecutionWrite next = NewRun("wf", "run2", range);
  next.expected_current_run_id = "run1";
  close.new_run = std::make_shared<const ExecutionWrite>(next);
  std::vector<StoredTask> created;
  ASSERT_TRUE(store_->CommitExecution(close, &created).ok());
  EXPECT_EQ(created.size(), 2u);
  EXPECT_EQ(store_->GetCurrentExecution("ns", "wf")->run_id, "run2");

  // A new run whose condition fails takes the update with it.
  ExecutionWrite close2 = Update("wf", "run2", range, 1, 2);
  close2.state.set_status(enums::WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW);
  ExecutionWrite bad = NewRun("wf", "run3", range);
  bad.expected_current_run_id = "run1";  // it is run2
  close2.new_run = std::make_shared<const ExecutionWrite>(bad);
  EXPECT_EQ(store_->CommitExecution(close2, nullptr).code(), StatusCode::ABORTED);
  EXPECT_EQ(store_->GetExecution({"ns", "wf", "run2"})->db_version, 1);
  EXPECT_EQ(store_->GetExecution({"ns", "wf", "run3"}).status().code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(HistoryLength("run2"), 1u);
  EXPECT_EQ(store_->GetCurrentExecution("ns", "wf")->run_id, "run2");
}

TEST_P(StoreTest, TheCurrentRowFollowsTheStatusOfItsRun) {
  int64_t range = Range();
  ASSERT_TRUE(store_->CommitExecution(NewRun("wf", "run1", range), nullptr).ok());
  ExecutionWrite done = Update("wf", "run1", range, 1, 2);
  done.state.set_status(enums::WORKFLOW_EXECUTION_STATUS_COMPLETED);
  ASSERT_TRUE(store_->CommitExecution(done, nullptr).ok());
  EXPECT_EQ(store_->GetCurrentExecution("ns", "wf")->status,
            enums::WORKFLOW_EXECUTION_STATUS_COMPLETED);
}

TEST_P(StoreTest, AFailedWriteInAGroupFailsOnlyItself) {
  int64_t range = Range();
  constexpr int kRuns = 20;
  for (int i = 0; i < kRuns; ++i) {
    ASSERT_TRUE(store_
                    ->CommitExecution(
                        NewRun("wf" + std::to_string(i), "run" + std::to_string(i), range), nullptr)
                    .ok());
  }
  // Submitted together (they share transactions as the committer finds them queued); every
  // third one is conditioned on a version its run does not have.
  std::vector<std::promise<Status>> outcomes(kRuns);
  for (int i = 0; i < kRuns; ++i) {
    const std::string n = std::to_string(i);
    auto write =
        std::make_shared<ExecutionWrite>(Update("wf" + n, "run" + n, range, i % 3 == 0 ? 7 : 1, 2));
    store_->CommitExecutionAsync(write, [&outcomes, i](Status status, std::vector<StoredTask>) {
      outcomes[i].set_value(std::move(status));
    });
  }
  for (int i = 0; i < kRuns; ++i) {
    Status status = outcomes[i].get_future().get();
    const std::string n = std::to_string(i);
    if (i % 3 == 0) {
      EXPECT_EQ(status.code(), StatusCode::ABORTED) << i << ": " << status.message();
      EXPECT_EQ(HistoryLength("run" + n), 1u) << i;
    } else {
      EXPECT_TRUE(status.ok()) << i << ": " << status.message();
      EXPECT_EQ(HistoryLength("run" + n), 2u) << i;
    }
  }
  EXPECT_EQ(store_->LoadTransferTasks(0, 0, 100)->size(), kRuns + kRuns - (kRuns + 2) / 3);
}

TEST_P(StoreTest, AsyncWritesCommitInOrderAndALaterOneMayBuildOnAnEarlierOne) {
  int64_t range = Range();
  ASSERT_TRUE(store_->CommitExecution(NewRun("wf", "run1", range), nullptr).ok());
  std::promise<Status> first, second, third;
  store_->CommitExecutionAsync(std::make_shared<ExecutionWrite>(Update("wf", "run1", range, 1, 2)),
                               [&](Status s, std::vector<StoredTask>) { first.set_value(s); });
  store_->CommitExecutionAsync(std::make_shared<ExecutionWrite>(Update("wf", "run1", range, 2, 3)),
                               [&](Status s, std::vector<StoredTask>) { second.set_value(s); });
  // Built on a version an earlier write was to make but never will: refused.
  store_->CommitExecutionAsync(std::make_shared<ExecutionWrite>(Update("wf", "run1", range, 9, 4)),
                               [&](Status s, std::vector<StoredTask>) { third.set_value(s); });
  EXPECT_TRUE(first.get_future().get().ok());
  EXPECT_TRUE(second.get_future().get().ok());
  EXPECT_EQ(third.get_future().get().code(), StatusCode::ABORTED);
  EXPECT_EQ(store_->GetExecution({"ns", "wf", "run1"})->db_version, 3);
  EXPECT_EQ(HistoryLength("run1"), 3u);
}

TEST_P(StoreTest, TaskIdsAreUniqueAndIncreaseInCommitOrderWithinAShard) {
  Reopen();  // default shard count: 4
  auto ranges = store_->AcquireShards();
  ASSERT_TRUE(ranges.ok());
  ASSERT_EQ(ranges->size(), 4u);
  std::set<int64_t> all;
  std::map<int32_t, int64_t> last;
  for (int i = 0; i < 12; ++i) {
    const int32_t shard = i % 4;
    ExecutionWrite write =
        NewRun("wf" + std::to_string(i), "run" + std::to_string(i), (*ranges)[shard], shard);
    write.new_tasks.push_back(write.new_tasks[0]);  // two tasks
    std::vector<StoredTask> created;
    ASSERT_TRUE(store_->CommitExecution(write, &created).ok());
    ASSERT_EQ(created.size(), 2u);
    for (const auto& task : created) {
      EXPECT_EQ(task.shard_id, shard);
      EXPECT_TRUE(all.insert(task.task_id).second) << "task id " << task.task_id << " reused";
      EXPECT_GT(task.task_id, last[shard]);
      last[shard] = task.task_id;
    }
  }
  for (int32_t shard = 0; shard < 4; ++shard) {
    auto tasks = store_->LoadTransferTasks(shard, 0, 100);
    ASSERT_TRUE(tasks.ok());
    EXPECT_EQ(tasks->size(), 6u);
    // Paging by task id: the page after the third task holds the other three.
    auto rest = store_->LoadTransferTasks(shard, (*tasks)[2].task_id, 100);
    ASSERT_TRUE(rest.ok());
    EXPECT_EQ(rest->size(), 3u);
  }
}

TEST_P(StoreTest, TimerTasksComeDueInTimeOrderAndPage) {
  int64_t range = Range();
  ExecutionWrite write = NewRun("wf", "run1", range);
  write.new_tasks.clear();
  for (int64_t second : {30, 10, 20, 20}) {
    NewTask timer;
    timer.category = TaskCategory::kTimer;
    timer.task.set_workflow_id("wf");
    *timer.task.mutable_fire_time() = ToTimestamp(FromUnixNanos(second * 1'000'000'000));
    write.new_tasks.push_back(timer);
  }
  ASSERT_TRUE(store_->CommitExecution(write, nullptr).ok());
  auto next = store_->NextTimerTime();
  ASSERT_TRUE(next.ok());
  ASSERT_TRUE(next->has_value());
  EXPECT_EQ(ToUnixNanos(**next), 10'000'000'000);
  EXPECT_TRUE(store_->LoadTransferTasks(0, 0, 10)->empty());

  const TimePoint until = FromUnixNanos(25'000'000'000);
  auto due = store_->LoadTimerTasks(0, until, FromUnixNanos(0), 0, 2);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->size(), 2u);
  EXPECT_EQ(ToUnixNanos(FromTimestamp((*due)[0].task.fire_time())), 10'000'000'000);
  EXPECT_EQ(ToUnixNanos(FromTimestamp((*due)[1].task.fire_time())), 20'000'000'000);
  auto rest = store_->LoadTimerTasks(0, until, FromTimestamp((*due)[1].task.fire_time()),
                                     (*due)[1].task_id, 10);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 1u);  // the other at 20 s; 30 s is not due
  EXPECT_EQ(ToUnixNanos(FromTimestamp((*rest)[0].task.fire_time())), 20'000'000'000);

  // Done tasks go; a parked one no longer counts for the next timer.
  ASSERT_TRUE(store_->DeleteTasks({(*due)[0]}).ok());
  ASSERT_TRUE(store_->ParkTask({(*due)[1], 3, "boom", FromUnixNanos(1)}).ok());
  ASSERT_TRUE(store_->ParkTask({(*rest)[0], 3, "boom", FromUnixNanos(1)}).ok());
  EXPECT_EQ(ToUnixNanos(**store_->NextTimerTime()), 30'000'000'000);
  EXPECT_EQ(store_->LoadParkedTasks()->size(), 2u);
}

TEST_P(StoreTest, ParkedMarksSurviveAReopenAndGoWithTheirTask) {
  std::vector<StoredTask> created;
  ASSERT_TRUE(store_->CommitExecution(NewRun("wf", "run1", Range()), &created).ok());
  ASSERT_EQ(created.size(), 1u);
  const int64_t task_id = created[0].task_id;
  ParkedTask parked{created[0], 10, "poisoned", FromUnixNanos(1'700'000'000'000'000'000)};
  ASSERT_TRUE(store_->ParkTask(parked).ok());
  parked.failures = 11;  // parked again: the mark is replaced
  ASSERT_TRUE(store_->ParkTask(parked).ok());
  Reopen();
  auto marks = store_->LoadParkedTasks();
  ASSERT_TRUE(marks.ok()) << marks.status().message();
  ASSERT_EQ(marks->size(), 1u);
  EXPECT_EQ((*marks)[0].task.task_id, task_id);
  EXPECT_EQ((*marks)[0].task.task.workflow_id(), "wf");
  EXPECT_EQ((*marks)[0].task.category, TaskCategory::kTransfer);
  EXPECT_EQ((*marks)[0].failures, 11);
  EXPECT_EQ((*marks)[0].last_error, "poisoned");
  EXPECT_EQ(ToUnixNanos((*marks)[0].parked_time), 1'700'000'000'000'000'000);
  // The task itself stays in the outbox; unparking removes only the mark.
  EXPECT_EQ(store_->LoadTransferTasks(0, 0, 10)->size(), 1u);
  ASSERT_TRUE(store_->UnparkTasks({task_id, 12345}).ok());
  EXPECT_TRUE(store_->LoadParkedTasks()->empty());
  EXPECT_EQ(store_->LoadTransferTasks(0, 0, 10)->size(), 1u);
  // A done task takes its mark with it.
  ASSERT_TRUE(store_->ParkTask((*marks)[0]).ok());
  ASSERT_TRUE(store_->DeleteTasks({(*marks)[0].task}).ok());
  EXPECT_TRUE(store_->LoadParkedTasks()->empty());
  EXPECT_TRUE(store_->LoadTransferTasks(0, 0, 10)->empty());
}

TEST_P(StoreTest, KeepsEverythingAcrossAReopen) {
  ASSERT_TRUE(store_->CommitExecution(NewRun("wf", "run1", Range()), nullptr).ok());
  eon::v1::QueueTask queued;
  queued.set_workflow_id("wf");
  EXPECT_EQ(*store_->MaxQueueTaskId(), 0);
  ASSERT_TRUE(store_->AddQueueTask("ns", "queue", 1, 7, queued).ok());
  EXPECT_FALSE(store_->AddQueueTask("ns", "other", 1, 7, queued).ok()) << "id 7 is taken";
  Reopen();
  EXPECT_EQ(store_->GetCurrentExecution("ns", "wf")->run_id, "run1");
  EXPECT_EQ(store_->LoadTransferTasks(0, 0, 10)->size(), 1u);
  auto backlog = store_->LoadQueueTasks("ns", "queue", 1, 0, 10);
  ASSERT_TRUE(backlog.ok());
  ASSERT_EQ(backlog->size(), 1u);
  EXPECT_EQ((*backlog)[0].task.workflow_id(), "wf");
  EXPECT_EQ((*backlog)[0].task_id, 7);
  EXPECT_EQ(*store_->MaxQueueTaskId(), 7);
  auto queues = store_->ListBackloggedQueues();
  ASSERT_TRUE(queues.ok());
  ASSERT_EQ(queues->size(), 1u);
  EXPECT_EQ((*queues)[0].queue, "queue");
  EXPECT_EQ((*queues)[0].kind, 1);
  ASSERT_TRUE(store_->DeleteQueueTask("ns", "queue", 1, 7).ok());
  EXPECT_TRUE(store_->LoadQueueTasks("ns", "queue", 1, 0, 10)->empty());
  EXPECT_TRUE(store_->ListBackloggedQueues()->empty());
}

TEST_P(StoreTest, FixesTheShardCountWhenTheDatabaseIsCreated) {
  // The fixture's store created the database with the default count, 4.
  EXPECT_EQ(*store_->ShardCount(), 4);
  store_.reset();
  auto other = backend_->Open(8);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(other.status().message().find("created with 4 shards"), std::string::npos)
      << other.status().message();
  Reopen(4);
  auto range_ids = store_->AcquireShards();
  ASSERT_TRUE(range_ids.ok());
  EXPECT_EQ(range_ids->size(), 4u);
  Reopen(0);  // 0: whatever the database has
  EXPECT_EQ(*store_->ShardCount(), 4);
}

TEST_P(StoreTest, GroupsConcurrentWritesIntoFewerTransactions) {
  int64_t range = Range();
  int64_t before = store_->Stats().write_transactions;
  constexpr int kThreads = 16;
  constexpr int kWritesPerThread = 20;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWritesPerThread; ++i) {
        std::string id = std::to_string(t) + "-" + std::to_string(i);
        if (!store_->CommitExecution(NewRun("wf" + id, "run" + id, range), nullptr).ok())
          ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  int64_t transactions = store_->Stats().write_transactions - before;
  EXPECT_EQ(store_->Stats().execution_writes, kThreads * kWritesPerThread);
  // Every write committed, in fewer transactions than writes (and so fewer fsyncs).
  EXPECT_LT(transactions, kThreads * kWritesPerThread);
  EXPECT_EQ(store_->LoadTransferTasks(0, 0, 1000)->size(), kThreads * kWritesPerThread);
}

TEST_P(StoreTest, NamespaceUpdatesApplyOnlyOverTheVersionTheyWereMadeFrom) {
  eon::v1::NamespaceRecord record;
  record.mutable_info()->set_id("ns-1");
  record.mutable_info()->set_name("orders");
  ASSERT_TRUE(store_->CreateNamespace(record).ok());
  EXPECT_EQ(store_->CreateNamespace(record).code(), StatusCode::ALREADY_EXISTS);
  // Two updates made from version 0: the first wins, the second is refused.
  eon::v1::NamespaceRecord first = record;
  first.mutable_info()->set_description("first");
  first.set_record_version(1);
  eon::v1::NamespaceRecord second = record;
  second.mutable_info()->set_description("second");
  second.set_record_version(1);
  ASSERT_TRUE(store_->UpdateNamespace(first).ok());
  Status refused = store_->UpdateNamespace(second);
  EXPECT_EQ(refused.code(), StatusCode::ABORTED) << refused.message();
  auto all = store_->ListNamespaces();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].info().description(), "first");
}

TEST_P(StoreTest, BatchOperationRecordsAreReplacedInPlaceAndSurviveAReopen) {
  ASSERT_TRUE(store_->PutBatchOperation("default", "job-1", "running").ok());
  ASSERT_TRUE(store_->PutBatchOperation("other", "job-1", "elsewhere").ok());
  ASSERT_TRUE(store_->PutBatchOperation("default", "job-2", "second").ok());
  // An update keeps the job's place in the order.
  ASSERT_TRUE(store_->PutBatchOperation("default", "job-1", "completed").ok());
  ASSERT_TRUE(store_->DeleteBatchOperation("other", "job-1").ok());
  EXPECT_EQ(store_->DeleteBatchOperation("other", "job-1").code(), StatusCode::NOT_FOUND);
  Reopen();
  auto records = store_->LoadBatchOperations();
  ASSERT_TRUE(records.ok()) << records.status().message();
  using Record = std::pair<std::string, std::string>;
  EXPECT_EQ(*records, (std::vector<Record>{{"default", "completed"}, {"default", "second"}}));
}

TEST_P(StoreTest, DeletesARunAndANamespacesData) {
  int64_t range = Range();
  ASSERT_TRUE(store_->CommitExecution(NewRun("wf", "run1", range), nullptr).ok());
  ASSERT_TRUE(store_->CommitExecution(NewRun("wf2", "run2", range), nullptr).ok());
  ASSERT_TRUE(store_->DeleteExecution({"ns", "wf", "run1"}).ok());
  EXPECT_EQ(store_->GetExecution({"ns", "wf", "run1"}).status().code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(store_->GetCurrentExecution("ns", "wf").status().code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(HistoryLength("run1"), 0u);
  EXPECT_TRUE(store_->GetExecution({"ns", "wf2", "run2"}).ok());

  eon::v1::NamespaceRecord record;
  record.mutable_info()->set_id("ns");
  record.mutable_info()->set_name("orders");
  ASSERT_TRUE(store_->CreateNamespace(record).ok());
  ASSERT_TRUE(store_->AddSearchAttribute("ns", "CustomerId", 2).ok());
  ASSERT_TRUE(store_->DeleteNamespaceData("ns").ok());
  EXPECT_EQ(store_->GetExecution({"ns", "wf2", "run2"}).status().code(), StatusCode::NOT_FOUND);
  EXPECT_TRUE(store_->ListNamespaces()->empty());
  EXPECT_TRUE(store_->SearchAttributes("ns")->empty());
}

TEST_P(StoreTest, SearchAttributesAreRegisteredOncePerNameAndType) {
  ASSERT_TRUE(store_->AddSearchAttribute("ns", "CustomerId", 2).ok());
  EXPECT_TRUE(store_->AddSearchAttribute("ns", "CustomerId", 2).ok()) << "the same again is fine";
  EXPECT_EQ(store_->AddSearchAttribute("ns", "CustomerId", 3).code(), StatusCode::ALREADY_EXISTS);
  ASSERT_TRUE(store_->AddSearchAttribute("other", "CustomerId", 3).ok());
  auto attributes = store_->SearchAttributes("ns");
  ASSERT_TRUE(attributes.ok());
  EXPECT_EQ(*attributes, (std::map<std::string, int>{{"CustomerId", 2}}));
  ASSERT_TRUE(store_->RemoveSearchAttribute("ns", "CustomerId").ok());
  EXPECT_EQ(store_->RemoveSearchAttribute("ns", "CustomerId").code(), StatusCode::NOT_FOUND);
  EXPECT_TRUE(store_->SearchAttributes("ns")->empty());
  EXPECT_EQ(store_->SearchAttributes("other")->size(), 1u);
}

TEST_P(StoreTest, SchedulesAreVersionedRecords) {
  eon::v1::ScheduleRecord record;
  record.set_namespace_id("ns");
  record.set_schedule_id("nightly");
  ScheduleListing listing;
  listing.workflow_type = "Report";
  listing.create_time_ns = 5;
  listing.info = "listing-1";
  ASSERT_TRUE(store_->CreateSchedule(record, listing).ok());
  EXPECT_EQ(store_->CreateSchedule(record, listing).code(), StatusCode::ALREADY_EXISTS);
  auto stored = store_->GetSchedule("ns", "nightly");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->db_version, 1);
  EXPECT_EQ(stored->record.schedule_id(), "nightly");
  ASSERT_TRUE(store_->UpdateSchedule(record, listing, 1).ok());
  EXPECT_EQ(store_->UpdateSchedule(record, listing, 1).code(), StatusCode::ABORTED);
  EXPECT_EQ(store_->GetSchedule("ns", "nightly")->db_version, 2);
  eon::v1::ScheduleRecord missing = record;
  missing.set_schedule_id("gone");
  EXPECT_EQ(store_->UpdateSchedule(missing, listing, 1).code(), StatusCode::NOT_FOUND);
  Reopen();
  EXPECT_EQ(store_->LoadSchedules()->size(), 1u);
  ASSERT_TRUE(store_->DeleteSchedule("ns", "nightly").ok());
  EXPECT_EQ(store_->DeleteSchedule("ns", "nightly").code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(store_->GetSchedule("ns", "nightly").status().code(), StatusCode::NOT_FOUND);
}

// A migration that was interrupted after its tables were made but before the version moved on
// (possible where DDL is not transactional) runs again, and one that made only some of its
// tables finishes them; nothing stored is lost.
TEST_P(StoreTest, AnInterruptedMigrationRunsAgain) {
  ASSERT_TRUE(store_->CommitExecution(NewRun("wf", "run1", Range()), nullptr).ok());
  ASSERT_TRUE(store_->PutBatchOperation("default", "job-1", "running").ok());
  store_.reset();
  if (backend_->kind() == "sqlite") {
    ASSERT_TRUE(
        backend_->Exec("UPDATE cluster_metadata SET value = '3' WHERE key = 'schema_version'")
            .ok());
    ASSERT_TRUE(backend_->Exec("DROP TABLE parked_tasks").ok());
  } else {
    ASSERT_TRUE(backend_->Exec("UPDATE schema_version SET version = 1").ok());
    ASSERT_TRUE(backend_->Exec("DROP TABLE schedules").ok());
  }
  Reopen();
  EXPECT_EQ(store_->GetCurrentExecution("ns", "wf")->run_id, "run1");
  EXPECT_EQ(store_->LoadBatchOperations()->size(), 1u);
  EXPECT_TRUE(store_->LoadParkedTasks()->empty());
  EXPECT_TRUE(store_->LoadSchedules()->empty());
  auto tasks = store_->LoadTransferTasks(0, 0, 10);
  ASSERT_TRUE(tasks.ok());
  ASSERT_EQ(tasks->size(), 1u);
  EXPECT_TRUE(store_->ParkTask({(*tasks)[0], 1, "x", FromUnixNanos(0)}).ok());
}

TEST_P(StoreTest, RefusesADatabaseOfAnotherProgram) {
  store_.reset();
  std::string why;
  auto other = MakeStoreBackend(GetParam(), &why);
  ASSERT_NE(other, nullptr) << why;
  ASSERT_TRUE(other->Exec("CREATE TABLE customers (id INTEGER)").ok());
  auto refused = other->Open(0);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(refused.status().message().find("not an Eon database"), std::string::npos)
      << refused.status().message();
}

}  // namespace
}  // namespace eon::persistence

namespace eon::persistence {
namespace {

constexpr int64_t kSecondNs = 1'000'000'000;
constexpr int64_t kT0 = 1'704'067'200 * kSecondNs;  // 2024-01-01T00:00:00Z

VisibilityRow Listing(const std::string& run, const std::string& type, int status,
                      int64_t start_offset_s, const std::string& search_attributes) {
  VisibilityRow row;
  row.namespace_id = "ns";
  row.run_id = run;
  row.workflow_id = "wf-" + run;
  row.workflow_type = type;
  row.status = status;
  row.start_time_ns = kT0 + start_offset_s * kSecondNs;
  if (status != 1) row.close_time_ns = row.start_time_ns + kSecondNs;
  row.task_queue = "q";
  row.search_attributes_json = search_attributes;
  row.info = "info-" + run;
  return row;
}

// The query language over both stores: the same parsed filter, each store's SQL, the same rows.
TEST_P(StoreTest, ListsAndCountsWorkflowsWithTheQueryLanguage) {
  for (const auto& row : {
           Listing("r1", "Order", 1, 10,
                   R"({"Tier":"gold","Amount":5,"Score":1.5,"Vip":true,)"
                   R"("Due":1704067200000000000,"Tags":["a","b"],"Note":"it's here"})"),
           Listing("r2", "Order", 2, 20,
                   R"({"Tier":"silver","Amount":10,"Vip":false,"Tags":["b"]})"),
           Listing("r3", "Payment", 2, 30, R"({"Tier":"gold","Amount":-3,"Score":2.5})"),
           Listing("r4", "Payment", 1, 40, R"({})"),
       }) {
    ASSERT_TRUE(store_->UpsertVisibility(row).ok());
  }
  VisibilityRow elsewhere = Listing("r9", "Order", 1, 50, R"({"Tier":"gold"})");
  elsewhere.namespace_id = "other";
  ASSERT_TRUE(store_->UpsertVisibility(elsewhere).ok());
  // An upsert replaces the row.
  VisibilityRow replaced = Listing("r4", "Payment", 1, 40, R"({"Tier":"bronze"})");
  ASSERT_TRUE(store_->UpsertVisibility(replaced).ok());

  namespace enums = temporal::api::enums::v1;
  const std::map<std::string, int> attributes = {
      {"Tier", enums::INDEXED_VALUE_TYPE_KEYWORD}, {"Amount", enums::INDEXED_VALUE_TYPE_INT},
      {"Score", enums::INDEXED_VALUE_TYPE_DOUBLE}, {"Vip", enums::INDEXED_VALUE_TYPE_BOOL},
      {"Due", enums::INDEXED_VALUE_TYPE_DATETIME}, {"Tags", enums::INDEXED_VALUE_TYPE_KEYWORD_LIST},
      {"Note", enums::INDEXED_VALUE_TYPE_TEXT}};
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"", {"r4", "r3", "r2", "r1"}},
      {"WorkflowType = 'Order'", {"r2", "r1"}},
      {"ExecutionStatus = 'Running'", {"r4", "r1"}},
      {"Tier = 'gold'", {"r3", "r1"}},
      {"Tier != 'gold'", {"r4", "r2"}},
      {"Tier IN ('silver', 'bronze')", {"r4", "r2"}},
      {"Tier STARTS_WITH 'go'", {"r3", "r1"}},
      {"Tier NOT STARTS_WITH 'go'", {"r4", "r2"}},
      {"Amount > 0", {"r2", "r1"}},
      {"Amount BETWEEN -5 AND 5", {"r3", "r1"}},
      {"Score >= 2", {"r3"}},
      {"Vip = true", {"r1"}},
      {"Vip = false", {"r2"}},
      {"Due = '2024-01-01T00:00:00Z'", {"r1"}},
      {"Tags = 'b'", {"r2", "r1"}},
      {"Tags != 'a'", {"r2"}},
      {"Tags IN ('a', 'z')", {"r1"}},
      {"Tags STARTS_WITH 'b'", {"r2", "r1"}},
      {R"(Note = "it's here")", {"r1"}},
      {"Amount IS NULL", {"r4"}},
      {"Score IS NOT NULL", {"r3", "r1"}},
      {"NOT (Tier = 'gold') AND WorkflowType = 'Payment'", {"r4"}},
      {"Tier = 'gold' OR Amount = 10", {"r3", "r2", "r1"}},
      {"StartTime > '2024-01-01T00:00:25Z'", {"r4", "r3"}},
      {"ORDER BY Amount ASC", {"r4", "r3", "r1", "r2"}},
      {"ORDER BY Amount DESC", {"r2", "r1", "r3", "r4"}},
      {"WorkflowId = 'wf-r3'", {"r3"}},
  };
  for (const auto& [query, expected] : cases) {
    auto filter = visibility::ParseQuery(query, attributes);
    ASSERT_TRUE(filter.ok()) << query << ": " << filter.status().message();
    auto listed = store_->ListVisibility("ns", *filter, 100, 0);
    ASSERT_TRUE(listed.ok()) << query << ": " << listed.status().message();
    std::vector<std::string> runs;
    for (const auto& info : *listed) runs.push_back(info.substr(5));
    EXPECT_EQ(runs, expected) << query;
    auto counted = store_->CountVisibility("ns", *filter);
    ASSERT_TRUE(counted.ok()) << query << ": " << counted.status().message();
    ASSERT_EQ(counted->size(), 1u) << query;
    EXPECT_EQ((*counted)[0].second, static_cast<int64_t>(expected.size())) << query;
  }
  // Paging.
  auto all = visibility::ParseQuery("", attributes);
  auto page = store_->ListVisibility("ns", *all, 2, 1);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(*page, (std::vector<std::string>{"info-r3", "info-r2"}));
  // GROUP BY ExecutionStatus.
  auto grouped = visibility::ParseQuery("GROUP BY ExecutionStatus", attributes);
  ASSERT_TRUE(grouped.ok()) << grouped.status().message();
  auto groups = store_->CountVisibility("ns", *grouped);
  ASSERT_TRUE(groups.ok()) << groups.status().message();
  std::map<int64_t, int64_t> by_status(groups->begin(), groups->end());
  EXPECT_EQ(by_status, (std::map<int64_t, int64_t>{{1, 2}, {2, 2}}));
}

// A run's listing row may go with its execution write: in the same transaction (a write that
// is refused writes no row), and never over the row of a later state, however it comes.
TEST_P(StoreTest, AListingRowGoesWithItsExecutionWriteAndNeverBackwards) {
  const int64_t range = Range();
  auto all = visibility::ParseQuery("", {});
  ASSERT_TRUE(all.ok());
  auto listed = [&] {
    auto rows = store_->ListVisibility("ns", *all, 100, 0);
    EXPECT_TRUE(rows.ok()) << rows.status().message();
    return rows.ok() ? *rows : std::vector<std::string>{};
  };
  auto row = [](int status, int64_t transitions, const std::string& info) {
    VisibilityRow r = Listing("run1", "Order", status, 10, "{}");
    r.state_transition_count = transitions;
    r.info = info;
    return r;
  };
  ExecutionWrite start = NewRun("wf-run1", "run1", range);
  start.visibility = row(1, 1, "started");
  ASSERT_TRUE(store_->CommitExecution(start, nullptr).ok());
  EXPECT_EQ(listed(), std::vector<std::string>{"started"});

  ExecutionWrite stale = Update("wf-run1", "run1", range, /*version=*/5, /*event_id=*/2);
  stale.visibility = row(2, 2, "refused");
  EXPECT_EQ(store_->CommitExecution(stale, nullptr).code(), StatusCode::ABORTED);
  EXPECT_EQ(listed(), std::vector<std::string>{"started"});

  ExecutionWrite close = Update("wf-run1", "run1", range, /*version=*/1, /*event_id=*/2);
  close.visibility = row(2, 3, "closed");
  ASSERT_TRUE(store_->CommitExecution(close, nullptr).ok());
  EXPECT_EQ(listed(), std::vector<std::string>{"closed"});
  // An upsert of an earlier state that arrives late leaves the row of the later one.
  ASSERT_TRUE(store_->UpsertVisibility(row(1, 2, "late")).ok());
  EXPECT_EQ(listed(), std::vector<std::string>{"closed"});
  ASSERT_TRUE(store_->UpsertVisibility(row(2, 3, "same state again")).ok());
  EXPECT_EQ(listed(), std::vector<std::string>{"same state again"});
}

// A run's workflow id, type and start time never change, so an update of its row leaves them
// as they were written first (and the indexes keyed by them untouched); the rest follows.
TEST_P(StoreTest, AListingRowUpdateKeepsTheRunsIdTypeAndStart) {
  ASSERT_TRUE(store_->UpsertVisibility(Listing("r1", "Order", 1, 10, "{}")).ok());
  VisibilityRow closed = Listing("r1", "Order", 2, 10, "{}");
  closed.workflow_id = "renamed";
  closed.workflow_type = "Payment";
  closed.start_time_ns += 100 * kSecondNs;
  closed.state_transition_count = 1;
  closed.info = "info-r1 closed";
  ASSERT_TRUE(store_->UpsertVisibility(closed).ok());
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"WorkflowType = 'Order' AND ExecutionStatus = 'Completed'", {"info-r1 closed"}},
      {"WorkflowId = 'wf-r1'", {"info-r1 closed"}},
      {"StartTime = '2024-01-01T00:00:10Z'", {"info-r1 closed"}},
      {"WorkflowType = 'Payment'", {}},
      {"WorkflowId = 'renamed'", {}},
      {"ExecutionStatus = 'Running'", {}},
  };
  for (const auto& [query, expected] : cases) {
    auto filter = visibility::ParseQuery(query, {});
    ASSERT_TRUE(filter.ok()) << query << ": " << filter.status().message();
    auto listed = store_->ListVisibility("ns", *filter, 100, 0);
    ASSERT_TRUE(listed.ok()) << query << ": " << listed.status().message();
    EXPECT_EQ(*listed, expected) << query;
  }
}

TEST_P(StoreTest, ListsSchedulesWithTheQueryLanguage) {
  for (const auto& [id, type] : std::vector<std::pair<std::string, std::string>>{
           {"nightly", "Report"}, {"hourly", "Sync"}}) {
    eon::v1::ScheduleRecord record;
    record.set_namespace_id("ns");
    record.set_schedule_id(id);
    ScheduleListing listing;
    listing.workflow_type = type;
    listing.create_time_ns = kT0;
    listing.search_attributes_json = R"({"TemporalSchedulePaused":false})";
    listing.info = "listing-" + id;
    ASSERT_TRUE(store_->CreateSchedule(record, listing).ok());
  }
  auto filter = visibility::ParseQuery("WorkflowType = 'Sync'", {});
  ASSERT_TRUE(filter.ok()) << filter.status().message();
  auto listed = store_->ListSchedules("ns", *filter, 10, 0);
  ASSERT_TRUE(listed.ok()) << listed.status().message();
  EXPECT_EQ(*listed, std::vector<std::string>{"listing-hourly"});
  auto all = visibility::ParseQuery("", {});
  EXPECT_EQ(store_->ListSchedules("ns", *all, 10, 0)->size(), 2u);
}

}  // namespace
}  // namespace eon::persistence
