// The Store on PostgreSQL 15 (libpq), for production and for several nodes on one database.
// The same contract as SqliteStore (persistence/store.h): one transaction per execution update,
// the shard's range_id checked on every execution write, db_version conditions, task ids
// assigned inside the transaction.
//
// Writes: one connection, owned by a committer thread, runs everything queued in one transaction
// (group commit: one WAL flush for many updates), each job inside a savepoint so a failed
// condition undoes only its own job. A batch whose COMMIT fails (lost connection, serialization
// failure, disk full) fails every job in it with that cause; the committer reconnects for the
// next batch. Reads: a small pool of autocommit connections beside it.
//
// Fencing and task ids: an execution write starts with
//   UPDATE shards SET next_task_seq = next_task_seq + n WHERE shard_id = $ AND range_id = $
// which fails the write (ABORTED) when the shard's range_id moved, and holds the shard row's lock
// until the transaction ends, so a node taking the shard over (AcquireShards bumps range_id)
// waits for it and is never overtaken. The n task ids are seq * shard_count + shard_id: unique
// across shards, and within a shard increasing in commit order (the row lock orders them), which
// the outbox readers rely on (they page by task id).
//
// Schema: versioned migrations (`schema_version` table), each in its own transaction with the
// version bump and written with IF NOT EXISTS, so one interrupted halfway runs again. Portable
// SQL only (no advisory locks, LISTEN/NOTIFY or PL/pgSQL), see docs/architecture.md.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "persistence/group_commit.h"
#include "persistence/postgres_db.h"
#include "persistence/store.h"

namespace eon::persistence {

struct PostgresOptions {
  // A libpq connection string: postgresql://user:password@host:port/database[?options].
  std::string url;
  // As SqliteOptions::shard_count: 0 takes what the database has (4 for a new one); otherwise
  // an existing database must have this many (FAILED_PRECONDITION if not).
  int32_t shard_count = 0;
  int group_commit_jobs_max = 512;  // jobs in one transaction
  int read_connections_max = 4;     // the read pool's size
  int connect_timeout_seconds = 10;
  // A node paused in the middle of a transaction (SIGSTOP, a frozen VM) holds that
  // transaction's row locks, among them a shard's, which the node taking the shard over must
  // update: PostgreSQL ends such a session after this long idle in its transaction. Shorter
  // than a node's lease (5 s), so a takeover waits on it no longer than on the lease. Eon's own
  // transactions send their statements back to back. 0: the database's own setting.
  int idle_in_transaction_timeout_ms = 4'000;
};

// Whether `database` names a PostgreSQL database (a postgresql:// or postgres:// URL) rather
// than a SQLite file.
bool IsPostgresUrl(const std::string& database);

// The schema version this eon writes, and the version a database has (0: none yet), for
// `eon admin db status`.
int PostgresSchemaVersion();
Result<int> PostgresDatabaseSchemaVersion(const std::string& url);

class PostgresStore final : public GroupCommitStore<PgConnection> {
 public:
  // Connects, applies the schema migrations and checks the shard count. INVALID_ARGUMENT for a
  // bad URL, UNAVAILABLE when the server cannot be reached, FAILED_PRECONDITION when the
  // database holds other tables or a newer schema.
  static Result<std::unique_ptr<PostgresStore>> Open(const PostgresOptions& options);
  ~PostgresStore() override;

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
  using Job = GroupCommitter<PgConnection>::Job;

  explicit PostgresStore(PostgresOptions options);
  // Runs `job` in the next group transaction and waits for its commit.
  Status Write(Job job) { return committer_.Write(std::move(job)); }
  // Runs `fn` on a pooled read connection.
  template <typename Fn>
  auto Read(Fn&& fn) -> decltype(fn(std::declval<PgConnection&>()));
  // One group transaction (GroupCommitter::RunBatch), on writer_; run again from the start (up
  // to kConflictAttemptsMax times) when PostgreSQL undid it for a serialization failure or a
  // deadlock, which every job may meet through no fault of its own. Rerunning is safe: nothing
  // of the undone attempt stays, and every job's writes are conditional.
  Status RunBatch(const std::vector<Job*>& jobs, std::vector<Status>& results);
  // One attempt; *conflict tells that it failed for a serialization failure or a deadlock.
  Status RunBatchOnce(const std::vector<Job*>& jobs, std::vector<Status>& results, bool* conflict);
  static constexpr int kConflictAttemptsMax = 5;
  GroupCommitter<PgConnection>& committer() override { return committer_; }
  // A new connection with this store's settings.
  Result<std::unique_ptr<PgConnection>> Connect() const;
  Status ApplyExecutionWrite(PgConnection& db, const ExecutionWrite& write,
                             std::vector<StoredTask>* created) override;

  const PostgresOptions options_;
  int32_t shard_count_ = 0;

  std::unique_ptr<PgConnection> writer_;  // the committer's; reconnected when it breaks

  std::mutex pool_mutex_;
  std::condition_variable pool_ready_;
  std::vector<std::unique_ptr<PgConnection>> idle_readers_;  // guarded by pool_mutex_
  int readers_open_ = 0;                                     // guarded by pool_mutex_

  // Last, so that its thread stops before the connections close.
  GroupCommitter<PgConnection> committer_;
};

}  // namespace eon::persistence
