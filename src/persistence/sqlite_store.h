// The Store on embedded SQLite (WAL, synchronous=FULL): the default backend.
//
// One connection writes. Writes queue up and a committer thread runs everything queued in one
// transaction (group commit: one fsync for many updates), each job inside its own savepoint so
// one failed condition does not undo its neighbours. Reads use a second connection on a file
// database (WAL lets them run beside a commit) and the write connection for ":memory:".
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "persistence/group_commit.h"
#include "persistence/sqlite_db.h"
#include "persistence/store.h"

namespace eon::persistence {

struct SqliteOptions {
  std::string path = ":memory:";
  // Shards of a database it creates. 0: 4 for a new database, and whatever an existing one
  // has. Otherwise an existing database must have this many (FAILED_PRECONDITION if not: the
  // count is fixed when the database is created, as Temporal's numHistoryShards).
  int32_t shard_count = 0;
  bool synchronous_full = true;     // false: synchronous=NORMAL (survives kill -9, not power loss)
  int group_commit_jobs_max = 512;  // jobs in one transaction
  // false: no committer thread; every write commits on the caller's thread before the call
  // returns (its continuation too), one transaction each. For the simulator, where no thread
  // of the store may run beside a step.
  bool committer_thread = true;
};

class SqliteStore final : public GroupCommitStore<SqliteDb> {
 public:
  // Opens or creates the database and applies the schema migrations. FAILED_PRECONDITION when
  // the file exists but is not an Eon database.
  static Result<std::unique_ptr<SqliteStore>> Open(const SqliteOptions& options);
  ~SqliteStore() override;

  Result<int32_t> ShardCount() override;
  Result<std::vector<int64_t>> AcquireShards() override;
  Result<int64_t> AcquireShard(int32_t shard_id) override;
  Status PutMember(const MemberRow& row) override;
  Status DeleteMember(const std::string& name) override;
  Result<std::vector<MemberRow>> ListMembers() override;
  Status CreateNamespace(const eon::v1::NamespaceRecord& record) override;
  Status UpdateNamespace(const eon::v1::NamespaceRecord& record) override;
  Status DeleteExecution(const ExecutionKey& key) override;
  Status DeleteNamespaceData(const std::string& namespace_id) override;
  Result<std::vector<eon::v1::NamespaceRecord>> ListNamespaces() override;
  Result<CurrentExecution> GetCurrentExecution(const std::string& namespace_id,
                                               const std::string& workflow_id) override;
  Result<StoredExecution> GetExecution(const ExecutionKey& key) override;
  Result<HistoryPage> ReadHistory(const std::string& namespace_id, const std::string& run_id,
                                  int64_t first_event_id, int max_events) override;
  Result<std::vector<StoredTask>> LoadTransferTasks(int32_t shard_id, int64_t after_task_id,
                                                    int limit) override;
  Result<std::vector<StoredTask>> LoadTimerTasks(int32_t shard_id, TimePoint until,
                                                 TimePoint after_time, int64_t after_task_id,
                                                 int limit) override;
  Status DeleteTasks(const std::vector<StoredTask>& tasks) override;
  Status ParkTask(const ParkedTask& parked) override;
  Status UnparkTasks(const std::vector<int64_t>& task_ids) override;
  Result<std::vector<ParkedTask>> LoadParkedTasks() override;
  Status PutBatchOperation(const std::string& namespace_name, const std::string& job_id,
                           const std::string& record) override;
  Status DeleteBatchOperation(const std::string& namespace_name,
                              const std::string& job_id) override;
  Result<std::vector<std::pair<std::string, std::string>>> LoadBatchOperations() override;
  Result<std::optional<TimePoint>> NextTimerTime() override;
  Status AddQueueTask(const std::string& namespace_id, const std::string& queue, int kind,
                      int64_t task_id, const eon::v1::QueueTask& task) override;
  Result<int64_t> MaxQueueTaskId() override;
  Result<std::vector<QueueTaskRecord>> LoadQueueTasks(const std::string& namespace_id,
                                                      const std::string& queue, int kind,
                                                      int64_t after_task_id, int limit) override;
  Result<std::vector<QueueName>> ListBackloggedQueues() override;
  Status DeleteQueueTask(const std::string& namespace_id, const std::string& queue, int kind,
                         int64_t task_id) override;
  Status UpsertVisibility(const VisibilityRow& row) override;
  Result<std::vector<std::string>> ListVisibility(const std::string& namespace_id,
                                                  const VisibilityFilter& filter, int limit,
                                                  int64_t offset) override;
  Result<std::vector<std::pair<int64_t, int64_t>>> CountVisibility(
      const std::string& namespace_id, const VisibilityFilter& filter) override;
  Result<std::map<std::string, int>> SearchAttributes(const std::string& namespace_id) override;
  Status AddSearchAttribute(const std::string& namespace_id, const std::string& name,
                            int type) override;
  Status RemoveSearchAttribute(const std::string& namespace_id, const std::string& name) override;
  Status CreateSchedule(const eon::v1::ScheduleRecord& record,
                        const ScheduleListing& listing) override;
  Result<StoredSchedule> GetSchedule(const std::string& namespace_id,
                                     const std::string& schedule_id) override;
  Status UpdateSchedule(const eon::v1::ScheduleRecord& record, const ScheduleListing& listing,
                        int64_t expected_db_version) override;
  Status DeleteSchedule(const std::string& namespace_id, const std::string& schedule_id) override;
  Result<std::vector<StoredSchedule>> LoadSchedules() override;
  Result<std::vector<std::string>> ListSchedules(const std::string& namespace_id,
                                                 const VisibilityFilter& filter, int limit,
                                                 int64_t offset) override;

 private:
  using Job = GroupCommitter<SqliteDb>::Job;

  SqliteStore(SqliteOptions options, std::unique_ptr<SqliteDb> writer,
              std::unique_ptr<SqliteDb> reader);
  Status Migrate();
  // Runs `job` in the next group transaction and waits for its commit.
  Status Write(Job job) { return committer_.Write(std::move(job)); }
  // Runs `fn` on the read connection under its lock.
  template <typename Fn>
  auto Read(Fn&& fn);
  // One group transaction (GroupCommitter::RunBatch).
  Status RunBatch(const std::vector<Job*>& jobs, std::vector<Status>& results);
  GroupCommitter<SqliteDb>& committer() override { return committer_; }
  Status ApplyExecutionWrite(SqliteDb& db, const ExecutionWrite& write,
                             std::vector<StoredTask>* created) override;

  const SqliteOptions options_;

  std::mutex writer_mutex_;  // guards writer_ (and the reader too, for ":memory:")
  std::unique_ptr<SqliteDb> writer_;
  std::mutex reader_mutex_;           // guards reader_
  std::unique_ptr<SqliteDb> reader_;  // null for ":memory:"

  // Last, so that its thread stops before the connections close.
  GroupCommitter<SqliteDb> committer_;
};

}  // namespace eon::persistence
