// PostgreSQL's own cases; the contract every store keeps is tested in store_test.cc.
#include "persistence/postgres_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <thread>

#include "persistence/postgres_db.h"
#include "persistence/store_test_backends.h"

namespace eon::persistence {
namespace {

TEST(PostgresStore, ABadConnectionStringIsOneClearError) {
  for (const char* url : {"not a url", "postgresql://eon:s3cret@[::1/db", "host=localhost port"}) {
    auto store = PostgresStore::Open({.url = url});
    ASSERT_FALSE(store.ok()) << url;
    EXPECT_EQ(store.status().code(), StatusCode::INVALID_ARGUMENT) << store.status().message();
    EXPECT_NE(store.status().message().find("bad PostgreSQL connection string"), std::string::npos)
        << store.status().message();
    EXPECT_EQ(store.status().message().find("s3cret"), std::string::npos)
        << store.status().message();
  }
}

TEST(PostgresStore, AnUnreachableServerIsUnavailableAndTheMessageHidesThePassword) {
  // Port 1 on loopback: nothing listens there, so the connection is refused at once.
  auto store = PostgresStore::Open({.url = "postgresql://eon:s3cret@127.0.0.1:1/eon"});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::UNAVAILABLE) << store.status().message();
  EXPECT_NE(store.status().message().find("cannot connect to PostgreSQL"), std::string::npos)
      << store.status().message();
  EXPECT_EQ(store.status().message().find("s3cret"), std::string::npos) << store.status().message();
  auto version = PostgresDatabaseSchemaVersion("postgresql://eon@127.0.0.1:1/eon");
  EXPECT_EQ(version.status().code(), StatusCode::UNAVAILABLE);
}

TEST(PostgresStore, TellsAPostgresUrlFromASqlitePath) {
  EXPECT_TRUE(IsPostgresUrl("postgresql://u:p@h:5432/db"));
  EXPECT_TRUE(IsPostgresUrl("postgres://h/db"));
  EXPECT_FALSE(IsPostgresUrl("eon.db"));
  EXPECT_FALSE(IsPostgresUrl("/var/lib/eon/postgresql://x"));
  EXPECT_EQ(RedactPassword("postgresql://eon:s3cret@db:5432/eon"),
            "postgresql://eon:***@db:5432/eon");
  EXPECT_EQ(RedactPassword("postgresql://eon@db/eon"), "postgresql://eon@db/eon");
  EXPECT_EQ(RedactPassword("eon.db"), "eon.db");
}

class PostgresServerTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    backend_ = MakeStoreBackend("postgres", &why);
    if (!backend_) {
      if (std::getenv("CI")) FAIL() << "no PostgreSQL under CI: " << why;
      GTEST_SKIP() << why;
    }
  }
  std::unique_ptr<StoreBackend> backend_;
};

TEST_F(PostgresServerTest, ReportsItsSchemaVersion) {
  auto before = PostgresDatabaseSchemaVersion(backend_->database());
  ASSERT_TRUE(before.ok()) << before.status().message();
  EXPECT_EQ(*before, 0);
  auto store = backend_->Open(0);
  ASSERT_TRUE(store.ok()) << store.status().message();
  auto after = PostgresDatabaseSchemaVersion(backend_->database());
  ASSERT_TRUE(after.ok()) << after.status().message();
  EXPECT_EQ(*after, PostgresSchemaVersion());
  // A database from a newer eon is refused, not written to.
  store->reset();
  ASSERT_TRUE(backend_->Exec("UPDATE schema_version SET version = 999").ok());
  auto newer = backend_->Open(0);
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.status().code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(newer.status().message().find("newer than this eon"), std::string::npos);
}

// The server drops every connection of the store (a restart, a failover): the write that meets
// the broken connection fails with UNAVAILABLE, never a crash, and the store reconnects.
TEST_F(PostgresServerTest, ReconnectsAfterTheServerDropsItsConnections) {
  // A name of its own, so that only this store's connections are dropped (other tests share the
  // server).
  const std::string name = "eon_drop_" + std::to_string(::getpid());
  auto opened = PostgresStore::Open({.url = backend_->database() + "&application_name=" + name});
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  auto& store = *opened;
  auto ranges = store->AcquireShards();
  ASSERT_TRUE(ranges.ok());
  ASSERT_TRUE(store
                  ->CreateNamespace([] {
                    eon::v1::NamespaceRecord r;
                    r.mutable_info()->set_id("a");
                    r.mutable_info()->set_name("a");
                    return r;
                  }())
                  .ok());
  ASSERT_TRUE(store->ListNamespaces().ok());
  ASSERT_TRUE(backend_
                  ->Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                         "application_name = '" +
                         name + "'")
                  .ok());
  eon::v1::NamespaceRecord b;
  b.mutable_info()->set_id("b");
  b.mutable_info()->set_name("b");
  Status first = store->CreateNamespace(b);
  EXPECT_TRUE(first.ok() || first.code() == StatusCode::UNAVAILABLE) << first.message();
  Status again = store->CreateNamespace(b);
  EXPECT_TRUE(again.ok() || (first.ok() && again.code() == StatusCode::ALREADY_EXISTS))
      << again.message();
  // Reads: a pooled connection that broke is dropped; a retry gets a fresh one.
  auto listed = store->ListNamespaces();
  if (!listed.ok()) {
    EXPECT_EQ(listed.status().code(), StatusCode::UNAVAILABLE) << listed.status().message();
    listed = store->ListNamespaces();
  }
  ASSERT_TRUE(listed.ok()) << listed.status().message();
  EXPECT_EQ(listed->size(), 2u);
}

// A group transaction that PostgreSQL undoes for a deadlock (SQLSTATE 40P01; a serialization
// failure, 40001, takes the same path) is run again by the committer, and the write it carried
// commits: its caller never hears of the conflict.
TEST_F(PostgresServerTest, RunsABatchAgainAfterADeadlock) {
  const std::string name = "eon_deadlock_" + std::to_string(::getpid());
  auto opened = PostgresStore::Open({.url = backend_->database() + "&application_name=" + name});
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  auto& store = *opened;
  auto ranges = store->AcquireShards();
  ASSERT_TRUE(ranges.ok());
  ExecutionWrite write;
  write.shard_id = 0;
  write.range_id = (*ranges)[0];
  write.state.set_namespace_id("ns");
  write.state.set_workflow_id("wf-deadlock");
  write.state.set_run_id("run-1");
  write.state.set_create_request_id("req-1");
  temporal::api::history::v1::HistoryEvent event;
  event.set_event_id(1);
  write.new_events.push_back(event);
  std::vector<StoredTask> created;
  ASSERT_TRUE(store->CommitExecution(write, &created).ok());

  // Another session holds the execution's row, and waits 60 s before it looks for deadlocks
  // (the store's writer waits PostgreSQL's default 1 s), so the store's transaction is the one
  // PostgreSQL undoes.
  auto other = PgConnection::Connect(backend_->database());
  ASSERT_TRUE(other.ok()) << other.status().message();
  ASSERT_TRUE((*other)
                  ->Exec("SET deadlock_timeout = '60s'; BEGIN; UPDATE executions SET db_version = "
                         "db_version WHERE workflow_id = 'wf-deadlock'")
                  .ok());
  auto update = std::make_shared<ExecutionWrite>(write);
  update->expected_db_version = 1;
  update->new_events[0].set_event_id(2);
  std::promise<Status> done;
  store->CommitExecutionAsync(
      update, [&done](Status status, std::vector<StoredTask>) { done.set_value(status); });
  // The writer took the shard row (the fence) and now waits for the execution's row.
  auto watcher = PgConnection::Connect(backend_->database());
  ASSERT_TRUE(watcher.ok());
  bool waiting = false;
  for (int i = 0; i < 300 && !waiting; ++i) {
    auto rows = (*watcher)->Query(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE NOT "
        "l.granted AND a.application_name = $1",
        {std::string_view(name)});
    ASSERT_TRUE(rows.ok()) << rows.status().message();
    waiting = rows->Int(0, 0) > 0;
    if (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(waiting) << "the store's writer never waited for the row";
  // Now this session waits for the shard row the writer holds: a deadlock, which PostgreSQL
  // breaks by undoing the writer's transaction; this statement then goes through.
  auto stolen = (*other)->Query("UPDATE shards SET range_id = range_id WHERE shard_id = 0");
  ASSERT_TRUE(stolen.ok()) << stolen.status().message();
  ASSERT_TRUE((*other)->Exec("COMMIT").ok());

  auto outcome = done.get_future();
  ASSERT_EQ(outcome.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  Status status = outcome.get();
  EXPECT_TRUE(status.ok()) << status.message();
  auto stored = store->GetExecution({"ns", "wf-deadlock", "run-1"});
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  EXPECT_EQ(stored->db_version, 2);
  auto history = store->ReadHistory("ns", "run-1", 1, 10);
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->events.size(), 2u);
}

// A node paused in the middle of a transaction (SIGSTOP) holds its row locks, the shard row's
// among them. Its connection's idle_in_transaction_session_timeout makes PostgreSQL end that
// session, so the node taking the shard over waits that long and no longer; the paused session
// then finds its connection gone, and nothing it wrote in that transaction is kept.
TEST_F(PostgresServerTest, APausedTransactionLosesItsLocksAfterTheIdleTimeout) {
  auto opened = backend_->Open(0);
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  auto& store = *opened;
  ASSERT_TRUE(store->AcquireShards().ok());
  EXPECT_GT(PostgresOptions{}.idle_in_transaction_timeout_ms, 0);

  auto paused = PgConnection::Connect(backend_->database(), 10,
                                      /*idle_in_transaction_timeout_ms=*/300);
  ASSERT_TRUE(paused.ok()) << paused.status().message();
  ASSERT_TRUE((*paused)
                  ->Exec("BEGIN; UPDATE shards SET range_id = range_id + 1000 WHERE shard_id = 0")
                  .ok());
  // The paused session sends nothing more. Taking the shard waits for its row lock, which
  // PostgreSQL releases when it ends the idle session.
  std::future<Result<int64_t>> taken =
      std::async(std::launch::async, [&] { return store->AcquireShard(0); });
  ASSERT_EQ(taken.wait_for(std::chrono::seconds(30)), std::future_status::ready)
      << "the shard row stayed locked by the idle transaction";
  auto range = taken.get();
  ASSERT_TRUE(range.ok()) << range.status().message();
  EXPECT_LT(*range, 1000) << "the idle transaction's update was kept";
  Status after = (*paused)->Exec("COMMIT");
  EXPECT_FALSE(after.ok()) << "the paused session's transaction outlived the idle timeout";
}

}  // namespace
}  // namespace eon::persistence
