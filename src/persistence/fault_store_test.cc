#include "persistence/fault_store.h"

#include <gtest/gtest.h>

#include <random>

#include "persistence/sqlite_store.h"

namespace eon::persistence {
namespace {

using namespace std::chrono_literals;

ExecutionWrite NewExecution(const std::string& workflow_id, int64_t range_id) {
  ExecutionWrite write;
  write.shard_id = 0;
  write.range_id = range_id;
  write.state.set_namespace_id("ns");
  write.state.set_workflow_id(workflow_id);
  write.state.set_run_id("run-" + workflow_id);
  return write;
}

struct Fixture {
  Fixture() {
    SqliteOptions options;
    options.committer_thread = false;
    options.shard_count = 1;
    auto opened = SqliteStore::Open(options);
    EXPECT_TRUE(opened.ok());
    sqlite = std::move(*opened);
    faults = std::make_unique<FaultStore>(
        *sqlite, [this] { return random(); }, [this](Duration d) { slept += d; },
        [this] { ++crashes_heard; });
    auto ranges = faults->AcquireShards();
    EXPECT_TRUE(ranges.ok());
    range_id = ranges.ok() ? (*ranges)[0] : 0;
  }
  bool Exists(const std::string& workflow_id) {
    return sqlite->GetExecution({"ns", workflow_id, "run-" + workflow_id}).ok();
  }

  std::mt19937_64 random{42};
  Duration slept{};
  int crashes_heard = 0;
  int64_t range_id = 0;
  std::unique_ptr<SqliteStore> sqlite;
  std::unique_ptr<FaultStore> faults;
};

TEST(FaultStore, AFailedWriteAnswersAsSqliteWouldAndWritesNothing) {
  Fixture f;
  f.faults->set_options({.write_failure_per_mille = 1000});
  for (int i = 0; i < 20; ++i) {
    Status status =
        f.faults->CommitExecution(NewExecution("wf-" + std::to_string(i), f.range_id), nullptr);
    ASSERT_FALSE(status.ok());
    EXPECT_TRUE(status.code() == StatusCode::UNAVAILABLE ||
                status.code() == StatusCode::RESOURCE_EXHAUSTED)
        << status.message();
    EXPECT_FALSE(f.Exists("wf-" + std::to_string(i)));
  }
  EXPECT_EQ(f.faults->stats().writes_failed, 20);
}

TEST(FaultStore, ASlowWriteLetsTimePassAndLands) {
  Fixture f;
  f.faults->set_options({.write_delay_per_mille = 1000, .write_delay_max = 2s});
  ASSERT_TRUE(f.faults->CommitExecution(NewExecution("wf", f.range_id), nullptr).ok());
  EXPECT_TRUE(f.Exists("wf"));
  EXPECT_GT(f.slept.count(), 0);
  EXPECT_LE(f.slept, 2s);
}

TEST(FaultStore, ACrashBetweenTwoWritesKeepsTheFirstAndNeverAnswersTheTail) {
  Fixture f;
  f.faults->CrashAfterWrites(1);
  bool answered_ok = false;
  f.faults->CommitExecutionAsync(
      std::make_shared<const ExecutionWrite>(NewExecution("before", f.range_id)),
      [&](Status status, std::vector<StoredTask>) { answered_ok = status.ok(); });
  EXPECT_TRUE(answered_ok);
  EXPECT_EQ(f.crashes_heard, 0);
  // The crash point: the tail is lost or lands, but its caller never hears a success.
  bool tail_ok = true;
  f.faults->CommitExecutionAsync(
      std::make_shared<const ExecutionWrite>(NewExecution("tail", f.range_id)),
      [&](Status status, std::vector<StoredTask>) { tail_ok = status.ok(); });
  EXPECT_FALSE(tail_ok);
  EXPECT_EQ(f.crashes_heard, 1);
  EXPECT_TRUE(f.faults->crashed());
  EXPECT_EQ(f.Exists("tail"), f.faults->stats().tails_landed == 1);
  // The dead process can do nothing more.
  EXPECT_EQ(f.faults->CommitExecution(NewExecution("after", f.range_id), nullptr).code(),
            StatusCode::UNAVAILABLE);
  EXPECT_EQ(f.faults->GetExecution({"ns", "before", "run-before"}).status().code(),
            StatusCode::UNAVAILABLE);
  EXPECT_FALSE(f.Exists("after"));
  // A new process over the same database finds what was answered.
  f.faults->Restart();
  EXPECT_TRUE(f.faults->GetExecution({"ns", "before", "run-before"}).ok());
}

}  // namespace
}  // namespace eon::persistence
