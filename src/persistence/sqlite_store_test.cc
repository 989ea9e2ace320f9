#include "persistence/sqlite_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "persistence/sqlite_db.h"

namespace eon::persistence {
namespace {

namespace enums = temporal::api::enums::v1;

std::string TempPath(const std::string& name) {
  auto dir =
      std::filesystem::temp_directory_path() / ("eon-store-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = dir / name;
  std::filesystem::remove(path);
  std::filesystem::remove(path.string() + "-wal");
  std::filesystem::remove(path.string() + "-shm");
  return path.string();
}

ExecutionWrite NewRun(const std::string& workflow_id, const std::string& run_id, int64_t range_id) {
  ExecutionWrite write;
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

TEST(SqliteStore, CreatesAndReadsAnExecutionWithItsEventsAndTasks) {
  auto store = SqliteStore::Open({});
  ASSERT_TRUE(store.ok()) << store.status().message();
  auto ranges = (*store)->AcquireShards();
  ASSERT_TRUE(ranges.ok());
  std::vector<StoredTask> created;
  ASSERT_TRUE((*store)->CommitExecution(NewRun("wf", "run1", (*ranges)[0]), &created).ok());
  ASSERT_EQ(created.size(), 1u);
  EXPECT_GT(created[0].task_id, 0);

  auto current = (*store)->GetCurrentExecution("ns", "wf");
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(current->run_id, "run1");
  EXPECT_EQ(current->create_request_id, "req-run1");
  auto stored = (*store)->GetExecution({"ns", "wf", "run1"});
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->db_version, 1);
  auto history = (*store)->ReadHistory("ns", "run1", 1, 10);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->events.size(), 1u);
  EXPECT_EQ(history->events[0].event_type(), enums::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
  auto tasks = (*store)->LoadTransferTasks(0, 0, 10);
  ASSERT_TRUE(tasks.ok());
  ASSERT_EQ(tasks->size(), 1u);
  EXPECT_EQ((*tasks)[0].task.workflow_id(), "wf");
}

TEST(SqliteStore, RejectsAStaleVersionAndWritesNothingOfIt) {
  auto store = SqliteStore::Open({});
  ASSERT_TRUE(store.ok());
  int64_t range = (*(*store)->AcquireShards())[0];
  ASSERT_TRUE((*store)->CommitExecution(NewRun("wf", "run1", range), nullptr).ok());

  ExecutionWrite update = NewRun("wf", "run1", range);
  update.expected_db_version = 1;
  update.new_events[0].set_event_id(2);
  ASSERT_TRUE((*store)->CommitExecution(update, nullptr).ok());

  ExecutionWrite stale = NewRun("wf", "run1", range);
  stale.expected_db_version = 1;  // already moved to 2
  stale.new_events[0].set_event_id(3);
  Status status = (*store)->CommitExecution(stale, nullptr);
  EXPECT_EQ(status.code(), StatusCode::ABORTED);
  auto history = (*store)->ReadHistory("ns", "run1", 1, 10);
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->events.size(), 2u);  // event 3 was rolled back with its savepoint
  auto tasks = (*store)->LoadTransferTasks(0, 0, 10);
  EXPECT_EQ(tasks->size(), 2u);
}

TEST(SqliteStore, FencesAWriterThatLostTheShard) {
  auto store = SqliteStore::Open({});
  ASSERT_TRUE(store.ok());
  int64_t old_range = (*(*store)->AcquireShards())[0];
  int64_t new_range = (*(*store)->AcquireShards())[0];
  EXPECT_GT(new_range, old_range);
  Status fenced = (*store)->CommitExecution(NewRun("wf", "run1", old_range), nullptr);
  EXPECT_EQ(fenced.code(), StatusCode::ABORTED);
  EXPECT_TRUE(IsShardOwnershipLost(fenced)) << "told apart from a version conflict";
  EXPECT_TRUE((*store)->CommitExecution(NewRun("wf", "run1", new_range), nullptr).ok());
}

TEST(SqliteStore, RequiresTheExpectedCurrentRunForANewRun) {
  auto store = SqliteStore::Open({});
  ASSERT_TRUE(store.ok());
  int64_t range = (*(*store)->AcquireShards())[0];
  ASSERT_TRUE((*store)->CommitExecution(NewRun("wf", "run1", range), nullptr).ok());
  Status conflict = (*store)->CommitExecution(NewRun("wf", "run2", range), nullptr);
  EXPECT_EQ(conflict.code(), StatusCode::ABORTED);
  EXPECT_FALSE(IsShardOwnershipLost(conflict));
  ExecutionWrite second = NewRun("wf", "run2", range);
  second.expected_current_run_id = "run1";
  EXPECT_TRUE((*store)->CommitExecution(second, nullptr).ok());
  EXPECT_EQ((*store)->GetCurrentExecution("ns", "wf")->run_id, "run2");
}

TEST(SqliteStore, ParkedMarksSurviveAReopenAndADatabaseFromVersion3GetsTheirTable) {
  std::string path = TempPath("parked.db");
  int64_t task_id = 0;
  {
    auto store = SqliteStore::Open({.path = path});
    ASSERT_TRUE(store.ok()) << store.status().message();
    int64_t range = (*(*store)->AcquireShards())[0];
    std::vector<StoredTask> created;
    ASSERT_TRUE((*store)->CommitExecution(NewRun("wf", "run1", range), &created).ok());
    ASSERT_EQ(created.size(), 1u);
    task_id = created[0].task_id;
  }
  {
    // Make it a database written by a version-3 eon: no parked_tasks table.
    auto db = SqliteDb::Open(path);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Exec("DROP TABLE parked_tasks").ok());
    ASSERT_TRUE(
        (*db)->Exec("UPDATE cluster_metadata SET value = '3' WHERE key = 'schema_version'").ok());
  }
  {
    auto store = SqliteStore::Open({.path = path});
    ASSERT_TRUE(store.ok()) << store.status().message();
    EXPECT_TRUE((*store)->LoadParkedTasks()->empty());
    auto tasks = (*store)->LoadTransferTasks(0, 0, 10);
    ASSERT_TRUE(tasks.ok());
    ASSERT_EQ(tasks->size(), 1u);
    ParkedTask parked{(*tasks)[0], 10, "poisoned", FromUnixNanos(1'700'000'000'000'000'000)};
    ASSERT_TRUE((*store)->ParkTask(parked).ok());
    parked.failures = 11;  // parked again: the mark is replaced
    ASSERT_TRUE((*store)->ParkTask(parked).ok());
  }
  auto store = SqliteStore::Open({.path = path});
  ASSERT_TRUE(store.ok()) << store.status().message();
  auto parked = (*store)->LoadParkedTasks();
  ASSERT_TRUE(parked.ok()) << parked.status().message();
  ASSERT_EQ(parked->size(), 1u);
  EXPECT_EQ((*parked)[0].task.task_id, task_id);
  EXPECT_EQ((*parked)[0].task.task.workflow_id(), "wf");
  EXPECT_EQ((*parked)[0].task.category, TaskCategory::kTransfer);
  EXPECT_EQ((*parked)[0].failures, 11);
  EXPECT_EQ((*parked)[0].last_error, "poisoned");
  EXPECT_EQ(ToUnixNanos((*parked)[0].parked_time), 1'700'000'000'000'000'000);
  // The task itself stays in the outbox; unparking removes only the mark.
  EXPECT_EQ((*store)->LoadTransferTasks(0, 0, 10)->size(), 1u);
  ASSERT_TRUE((*store)->UnparkTasks({task_id, 12345}).ok());
  EXPECT_TRUE((*store)->LoadParkedTasks()->empty());
  EXPECT_EQ((*store)->LoadTransferTasks(0, 0, 10)->size(), 1u);
  // A done task takes its mark with it.
  ASSERT_TRUE((*store)->ParkTask((*parked)[0]).ok());
  ASSERT_TRUE((*store)->DeleteTasks({(*parked)[0].task}).ok());
  EXPECT_TRUE((*store)->LoadParkedTasks()->empty());
}

TEST(SqliteStore, KeepsEverythingAcrossAReopen) {
  std::string path = TempPath("reopen.db");
  {
    auto store = SqliteStore::Open({.path = path});
    ASSERT_TRUE(store.ok()) << store.status().message();
    int64_t range = (*(*store)->AcquireShards())[0];
    ASSERT_TRUE((*store)->CommitExecution(NewRun("wf", "run1", range), nullptr).ok());
    eon::v1::QueueTask queued;
    queued.set_workflow_id("wf");
    EXPECT_EQ(*(*store)->MaxQueueTaskId(), 0);
    ASSERT_TRUE((*store)->AddQueueTask("ns", "queue", 1, 7, queued).ok());
    EXPECT_FALSE((*store)->AddQueueTask("ns", "other", 1, 7, queued).ok()) << "id 7 is taken";
  }
  auto store = SqliteStore::Open({.path = path});
  ASSERT_TRUE(store.ok()) << store.status().message();
  EXPECT_EQ((*store)->GetCurrentExecution("ns", "wf")->run_id, "run1");
  EXPECT_EQ((*store)->LoadTransferTasks(0, 0, 10)->size(), 1u);
  auto backlog = (*store)->LoadQueueTasks("ns", "queue", 1, 0, 10);
  ASSERT_TRUE(backlog.ok());
  ASSERT_EQ(backlog->size(), 1u);
  EXPECT_EQ((*backlog)[0].task.workflow_id(), "wf");
  EXPECT_EQ((*backlog)[0].task_id, 7);
  EXPECT_EQ(*(*store)->MaxQueueTaskId(), 7);
  EXPECT_EQ((*store)->ListBackloggedQueues()->size(), 1u);
}

TEST(SqliteStore, FixesTheShardCountWhenTheDatabaseIsCreated) {
  std::string path = TempPath("shards.db");
  {
    auto created = SqliteStore::Open({.path = path, .shard_count = 8});
    ASSERT_TRUE(created.ok()) << created.status().message();
    EXPECT_EQ(*(*created)->ShardCount(), 8);
    auto range_ids = (*created)->AcquireShards();
    ASSERT_TRUE(range_ids.ok());
    EXPECT_EQ(range_ids->size(), 8u);
  }
  {
    auto any = SqliteStore::Open({.path = path});  // 0: whatever the database has
    ASSERT_TRUE(any.ok()) << any.status().message();
    EXPECT_EQ(*(*any)->ShardCount(), 8);
  }
  auto other = SqliteStore::Open({.path = path, .shard_count = 4});
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(other.status().message().find("created with 8 shards"), std::string::npos)
      << other.status().message();
  auto fresh = SqliteStore::Open({.path = TempPath("default-shards.db")});
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(*(*fresh)->ShardCount(), 4);
}

TEST(SqliteStore, RefusesAFileThatIsNotAnEonDatabase) {
  std::string path = TempPath("not-a-db.txt");
  {
    std::ofstream out(path);
    for (int i = 0; i < 200; ++i) out << "hello, this is not a database\n";
  }
  auto store = SqliteStore::Open({.path = path});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(store.status().message().find("not an Eon database"), std::string::npos);
}

TEST(SqliteStore, RefusesAnotherProgramsSqliteDatabase) {
  std::string path = TempPath("other.db");
  {
    auto db = SqliteDb::Open(path);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Exec("CREATE TABLE customers (id INTEGER)").ok());
  }
  auto store = SqliteStore::Open({.path = path});
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("not an Eon database"), std::string::npos);
}

TEST(SqliteStore, GroupsConcurrentWritesIntoFewerTransactions) {
  std::string path = TempPath("group.db");
  auto store = SqliteStore::Open({.path = path});
  ASSERT_TRUE(store.ok());
  int64_t range = (*(*store)->AcquireShards())[0];
  int64_t before = (*store)->Stats().write_transactions;
  constexpr int kThreads = 16;
  constexpr int kWritesPerThread = 20;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWritesPerThread; ++i) {
        std::string id = std::to_string(t) + "-" + std::to_string(i);
        if (!(*store)->CommitExecution(NewRun("wf" + id, "run" + id, range), nullptr).ok())
          ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  int64_t transactions = (*store)->Stats().write_transactions - before;
  EXPECT_EQ((*store)->Stats().execution_writes, kThreads * kWritesPerThread);
  // Every write committed, in fewer transactions than writes (and so fewer fsyncs).
  EXPECT_LT(transactions, kThreads * kWritesPerThread);
}

}  // namespace
}  // namespace eon::persistence

namespace eon::persistence {
namespace {

TEST(SqliteStore, NamespaceUpdatesApplyOnlyOverTheVersionTheyWereMadeFrom) {
  auto store = SqliteStore::Open({});
  ASSERT_TRUE(store.ok()) << store.status().message();
  eon::v1::NamespaceRecord record;
  record.mutable_info()->set_id("ns-1");
  record.mutable_info()->set_name("orders");
  ASSERT_TRUE((*store)->CreateNamespace(record).ok());
  // Two updates made from version 0: the first wins, the second is refused.
  eon::v1::NamespaceRecord first = record;
  first.mutable_info()->set_description("first");
  first.set_record_version(1);
  eon::v1::NamespaceRecord second = record;
  second.mutable_info()->set_description("second");
  second.set_record_version(1);
  ASSERT_TRUE((*store)->UpdateNamespace(first).ok());
  Status refused = (*store)->UpdateNamespace(second);
  EXPECT_EQ(refused.code(), StatusCode::ABORTED) << refused.message();
  auto all = (*store)->ListNamespaces();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].info().description(), "first");
}

}  // namespace
}  // namespace eon::persistence


namespace eon::persistence {
namespace {

// A full disk is told apart from a lost condition ("changed concurrently") and from a bug.
TEST(SqliteDb, AFullDatabaseIsResourceExhausted) {
  auto db = SqliteDb::Open(":memory:");
  ASSERT_TRUE(db.ok()) << db.status().message();
  ASSERT_TRUE((*db)->Exec("CREATE TABLE t (b BLOB)").ok());
  ASSERT_TRUE((*db)->Exec("PRAGMA max_page_count = 8").ok());
  Status full = (*db)->Exec("INSERT INTO t VALUES (zeroblob(1000000))");
  EXPECT_EQ(full.code(), StatusCode::RESOURCE_EXHAUSTED) << full.message();
  EXPECT_NE(full.message().find("disk is full"), std::string::npos) << full.message();
  auto stmt = (*db)->Prepare("INSERT INTO t VALUES (zeroblob(1000000))");
  ASSERT_TRUE(stmt.ok());
  EXPECT_EQ((*stmt)->Run().code(), StatusCode::RESOURCE_EXHAUSTED);
}

}  // namespace
}  // namespace eon::persistence

namespace eon::persistence {
namespace {

TEST(SqliteStore, BatchOperationRecordsAreReplacedInPlaceAndSurviveAReopen) {
  std::string path = TempPath("batch.db");
  {
    auto store = SqliteStore::Open({.path = path});
    ASSERT_TRUE(store.ok()) << store.status().message();
    ASSERT_TRUE((*store)->PutBatchOperation("default", "job-1", "running").ok());
    ASSERT_TRUE((*store)->PutBatchOperation("other", "job-1", "elsewhere").ok());
    ASSERT_TRUE((*store)->PutBatchOperation("default", "job-2", "second").ok());
    // An update keeps the job's place in the order.
    ASSERT_TRUE((*store)->PutBatchOperation("default", "job-1", "completed").ok());
    ASSERT_TRUE((*store)->DeleteBatchOperation("other", "job-1").ok());
    EXPECT_EQ((*store)->DeleteBatchOperation("other", "job-1").code(), StatusCode::NOT_FOUND);
  }
  auto store = SqliteStore::Open({.path = path});
  ASSERT_TRUE(store.ok()) << store.status().message();
  auto records = (*store)->LoadBatchOperations();
  ASSERT_TRUE(records.ok()) << records.status().message();
  using Record = std::pair<std::string, std::string>;
  EXPECT_EQ(*records,
            (std::vector<Record>{{"default", "completed"}, {"default", "second"}}));
}

}  // namespace
}  // namespace eon::persistence
