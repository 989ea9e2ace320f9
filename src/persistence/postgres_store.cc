#include "persistence/postgres_store.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "common/barrier.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/parse.h"
#include "persistence/records.h"
#include "persistence/sql_filter.h"

namespace eon::persistence {
namespace {

// Versioned migrations: migration i brings the schema from version i to i + 1. Each runs in one
// transaction with the version bump, and every statement is idempotent (IF NOT EXISTS), so a
// migration that was interrupted halfway (on a database whose DDL is not transactional) runs
// again. Types: BIGINT for numbers, TEXT, BYTEA for serialized records, JSONB for search
// attributes.
const char* const kPostgresMigrations[] = {
    // 1: the foundation.
    R"sql(
CREATE TABLE IF NOT EXISTS cluster_metadata (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shards (
  shard_id INTEGER PRIMARY KEY,
  range_id BIGINT NOT NULL,
  next_task_seq BIGINT NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS namespaces (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  data BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS executions (
  namespace_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  shard_id INTEGER NOT NULL,
  db_version BIGINT NOT NULL,
  state BYTEA NOT NULL,
  PRIMARY KEY (namespace_id, workflow_id, run_id));
CREATE TABLE IF NOT EXISTS current_executions (
  namespace_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  status INTEGER NOT NULL,
  create_request_id TEXT NOT NULL,
  PRIMARY KEY (namespace_id, workflow_id));
CREATE TABLE IF NOT EXISTS history_events (
  namespace_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  event_id BIGINT NOT NULL,
  data BYTEA NOT NULL,
  PRIMARY KEY (namespace_id, run_id, event_id));
CREATE TABLE IF NOT EXISTS tasks (
  task_id BIGINT PRIMARY KEY,
  shard_id INTEGER NOT NULL,
  category INTEGER NOT NULL,
  visibility_ns BIGINT NOT NULL,
  data BYTEA NOT NULL);
CREATE INDEX IF NOT EXISTS tasks_by_time ON tasks (shard_id, category, visibility_ns, task_id);
CREATE INDEX IF NOT EXISTS tasks_by_due_time ON tasks (category, visibility_ns);
CREATE TABLE IF NOT EXISTS parked_tasks (
  task_id BIGINT PRIMARY KEY,
  failures INTEGER NOT NULL,
  last_error TEXT NOT NULL,
  parked_time_ns BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS task_queue_tasks (
  task_id BIGINT PRIMARY KEY,
  namespace_id TEXT NOT NULL,
  task_queue TEXT NOT NULL,
  kind INTEGER NOT NULL,
  data BYTEA NOT NULL);
CREATE INDEX IF NOT EXISTS task_queue_tasks_by_queue
  ON task_queue_tasks (namespace_id, task_queue, kind, task_id);
CREATE TABLE IF NOT EXISTS batch_operations (
  seq BIGSERIAL PRIMARY KEY,
  namespace TEXT NOT NULL,
  job_id TEXT NOT NULL,
  record BYTEA NOT NULL,
  UNIQUE (namespace, job_id));
)sql",
    // 2: visibility, the registry of custom search attributes, and schedules (whose listings
    // share visibility's columns, so the list-filter language runs over both).
    R"sql(
CREATE TABLE IF NOT EXISTS visibility (
  namespace_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  workflow_type TEXT NOT NULL,
  status INTEGER NOT NULL,
  start_time_ns BIGINT NOT NULL,
  close_time_ns BIGINT,
  execution_time_ns BIGINT,
  execution_duration_ns BIGINT,
  task_queue TEXT NOT NULL,
  history_length BIGINT NOT NULL,
  history_size_bytes BIGINT NOT NULL,
  state_transition_count BIGINT NOT NULL,
  parent_workflow_id TEXT,
  parent_run_id TEXT,
  root_workflow_id TEXT,
  root_run_id TEXT,
  search_attributes JSONB NOT NULL,
  info BYTEA NOT NULL,
  PRIMARY KEY (namespace_id, run_id));
CREATE INDEX IF NOT EXISTS visibility_by_start
  ON visibility (namespace_id, start_time_ns DESC, run_id DESC);
CREATE INDEX IF NOT EXISTS visibility_by_status
  ON visibility (namespace_id, status, start_time_ns DESC);
CREATE INDEX IF NOT EXISTS visibility_by_workflow_id ON visibility (namespace_id, workflow_id);
CREATE INDEX IF NOT EXISTS visibility_by_type
  ON visibility (namespace_id, workflow_type, start_time_ns DESC);
CREATE INDEX IF NOT EXISTS visibility_by_attributes
  ON visibility USING GIN (search_attributes jsonb_path_ops);
CREATE TABLE IF NOT EXISTS search_attributes (
  namespace_id TEXT NOT NULL,
  name TEXT NOT NULL,
  type INTEGER NOT NULL,
  PRIMARY KEY (namespace_id, name));
CREATE TABLE IF NOT EXISTS schedules (
  namespace_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  workflow_type TEXT NOT NULL,
  status INTEGER NOT NULL DEFAULT 1,
  start_time_ns BIGINT NOT NULL,
  close_time_ns BIGINT,
  execution_time_ns BIGINT,
  execution_duration_ns BIGINT,
  task_queue TEXT NOT NULL DEFAULT '',
  history_length BIGINT NOT NULL DEFAULT 0,
  history_size_bytes BIGINT NOT NULL DEFAULT 0,
  state_transition_count BIGINT NOT NULL DEFAULT 0,
  parent_workflow_id TEXT,
  parent_run_id TEXT,
  root_workflow_id TEXT,
  root_run_id TEXT,
  search_attributes JSONB NOT NULL,
  info BYTEA NOT NULL,
  db_version BIGINT NOT NULL,
  record BYTEA NOT NULL,
  PRIMARY KEY (namespace_id, run_id));
)sql",
    // 3: membership (cluster/membership.h): one row per node sharing the database, live while
    // its lease has not expired.
    R"sql(
CREATE TABLE IF NOT EXISTS cluster_members (
  name TEXT PRIMARY KEY,
  internal_address TEXT NOT NULL,
  lease_expiry_ns BIGINT NOT NULL);
)sql",
};
constexpr int kPostgresSchemaVersion = sizeof(kPostgresMigrations) / sizeof(kPostgresMigrations[0]);
// Rows in one multi-row INSERT (each row binds at most 5 values; PostgreSQL allows 65535).
constexpr size_t kRowsPerInsertMax = 1000;
// Multi-row INSERTs of up to this many rows are prepared and kept; longer ones are one-off.
constexpr size_t kPreparedRowsMax = 16;

PgParam Int(int64_t v) { return PgParam(v); }
PgParam Text(const std::string& s) { return PgParam(std::string_view(s)); }
PgParam Blob(const std::string& s) { return PgParam(PgBytes(s)); }

// "{1,2,3}": an array parameter in PostgreSQL's text form.
std::string IdArray(const std::vector<int64_t>& ids) {
  std::string out = "{";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(ids[i]);
  }
  return out + "}";
}

// `rows` rows of `per_row` placeholders numbered from `first`, where a row's slot k is
// `shared[k]` (a fixed parameter number, shared by every row) or the next fresh number (-1).
std::string ValuesRows(size_t rows, const std::vector<int>& shared, int first) {
  std::string out;
  int next = first;
  for (size_t r = 0; r < rows; ++r) {
    out += r ? ", (" : "(";
    for (size_t k = 0; k < shared.size(); ++k) {
      if (k) out += ", ";
      out += '$' + std::to_string(shared[k] >= 0 ? shared[k] : next++);
    }
    out += ')';
  }
  return out;
}

// Brings the schema up to kPostgresSchemaVersion. Every step is safe to run again and beside
// another node doing the same: the version row is locked while a migration runs.
Status MigrateSchema(PgConnection& db) {
  EON_ASSIGN_OR_RETURN(auto schema, db.Query("SELECT current_schema()::text"));
  if (schema.size() != 1 || schema.IsNull(0, 0)) {
    return FailedPrecondition(
        "the PostgreSQL database has no schema to create tables in (search_path names none "
        "that exists)");
  }
  EON_ASSIGN_OR_RETURN(auto tables,
                       db.Query("SELECT table_name::text FROM information_schema.tables "
                                "WHERE table_schema = current_schema()"));
  bool has_version = false;
  for (int i = 0; i < tables.size(); ++i) has_version |= tables.Bytes(i, 0) == "schema_version";
  if (tables.size() > 0 && !has_version) {
    return FailedPrecondition("the PostgreSQL database (schema " + schema.Text(0, 0) +
                              ") is not an Eon database: it holds other tables and no "
                              "schema_version; give Eon a database of its own");
  }
  // Two nodes starting on an empty database may both create the table; the loser retries.
  Status created;
  for (int attempt = 0; attempt < 3; ++attempt) {
    created = db.Exec(
        "CREATE TABLE IF NOT EXISTS schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), "
        "version INTEGER NOT NULL); "
        "INSERT INTO schema_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING");
    if (created.ok()) break;
  }
  EON_RETURN_IF_ERROR(created);
  for (;;) {
    EON_RETURN_IF_ERROR(db.Exec("BEGIN"));
    auto version_rows = db.Query("SELECT version FROM schema_version WHERE id = 1 FOR UPDATE");
    if (!version_rows.ok() || version_rows->size() != 1) {
      db.Exec("ROLLBACK");
      return version_rows.ok() ? FailedPrecondition("schema_version has no row")
                               : version_rows.status();
    }
    const int version = static_cast<int>(version_rows->Int(0, 0));
    if (version > kPostgresSchemaVersion) {
      db.Exec("ROLLBACK");
      return FailedPrecondition("the PostgreSQL database has schema version " +
                                std::to_string(version) + ", newer than this eon understands (" +
                                std::to_string(kPostgresSchemaVersion) + "); upgrade eon");
    }
    if (version == kPostgresSchemaVersion) return db.Exec("COMMIT");
    Status applied = db.Exec(kPostgresMigrations[version]);
    if (applied.ok()) {
      applied = db.Query("UPDATE schema_version SET version = $1 WHERE id = 1", {Int(version + 1)})
                    .status();
    }
    if (applied.ok()) applied = db.Exec("COMMIT");
    if (!applied.ok()) {
      db.Exec("ROLLBACK");
      return Internal("schema migration " + std::to_string(version + 1) +
                      " failed: " + applied.message());
    }
    LOG_INFO("PostgreSQL schema migrated to version " << version + 1);
  }
}

}  // namespace

bool IsPostgresUrl(const std::string& database) {
  return database.rfind("postgresql://", 0) == 0 || database.rfind("postgres://", 0) == 0;
}

int PostgresSchemaVersion() { return kPostgresSchemaVersion; }

Result<int> PostgresDatabaseSchemaVersion(const std::string& url) {
  EON_ASSIGN_OR_RETURN(auto db, PgConnection::Connect(url));
  EON_ASSIGN_OR_RETURN(auto exists, db->Query("SELECT to_regclass('schema_version') IS NOT NULL"));
  if (exists.size() != 1 || exists.Int(0, 0) == 0) return 0;
  EON_ASSIGN_OR_RETURN(auto rows, db->Query("SELECT version FROM schema_version WHERE id = 1"));
  return rows.size() == 1 ? static_cast<int>(rows.Int(0, 0)) : 0;
}

Result<std::unique_ptr<PostgresStore>> PostgresStore::Open(const PostgresOptions& options) {
  EON_ASSIGN_OR_RETURN(auto writer,
                       PgConnection::Connect(options.url, options.connect_timeout_seconds,
                                             options.idle_in_transaction_timeout_ms));
  EON_RETURN_IF_ERROR(MigrateSchema(*writer));
  // The shard count and cluster id are written once, by whoever creates the database.
  const int32_t wanted =
      options.shard_count > 0 ? options.shard_count : kDefaultShardCountForNewStore;
  const std::string wanted_text = std::to_string(wanted);
  const std::string cluster_id = NewUuid();
  EON_RETURN_IF_ERROR(writer
                          ->Query("INSERT INTO cluster_metadata (key, value) VALUES "
                                  "('shard_count', $1), ('cluster_id', $2) "
                                  "ON CONFLICT (key) DO NOTHING",
                                  {Text(wanted_text), Text(cluster_id)})
                          .status());
  EON_ASSIGN_OR_RETURN(
      auto rows, writer->Query("SELECT value FROM cluster_metadata WHERE key = 'shard_count'"));
  auto shards = rows.size() == 1 ? ParseNumber<int32_t>(rows.Text(0, 0)) : std::nullopt;
  if (!shards || *shards <= 0) return Internal("cluster_metadata has no valid shard_count");
  if (options.shard_count > 0 && *shards != options.shard_count) {
    return FailedPrecondition("the PostgreSQL database was created with " +
                              std::to_string(*shards) + " shards and cannot be opened with " +
                              std::to_string(options.shard_count) +
                              ": the shard count is fixed when the database is created");
  }
  auto store = std::unique_ptr<PostgresStore>(new PostgresStore(options));
  store->shard_count_ = *shards;
  store->writer_ = std::move(writer);
  store->committer_.Start();
  return store;
}

PostgresStore::PostgresStore(PostgresOptions options)
    : options_(std::move(options)),
      committer_(options_.group_commit_jobs_max, /*own_thread=*/true,
                 [this](const std::vector<Job*>& jobs, std::vector<Status>& results) {
                   return RunBatch(jobs, results);
                 }) {}

PostgresStore::~PostgresStore() { committer_.Stop(); }

template <typename Fn>
auto PostgresStore::Read(Fn&& fn) -> decltype(fn(std::declval<PgConnection&>())) {
  std::unique_ptr<PgConnection> conn;
  {
    std::unique_lock lock(pool_mutex_);
    pool_ready_.wait(lock, [&] {
      return !idle_readers_.empty() || readers_open_ < options_.read_connections_max;
    });
    if (!idle_readers_.empty()) {
      conn = std::move(idle_readers_.back());
      idle_readers_.pop_back();
    } else {
      ++readers_open_;
    }
  }
  if (!conn) {
    auto made = Connect();
    if (!made.ok()) {
      {
        std::lock_guard lock(pool_mutex_);
        --readers_open_;
      }
      pool_ready_.notify_one();
      return made.status();
    }
    conn = std::move(*made);
  }
  auto out = fn(*conn);
  {
    std::lock_guard lock(pool_mutex_);
    if (conn->healthy()) {
      idle_readers_.push_back(std::move(conn));
    } else {
      --readers_open_;  // dropped; the next reader connects afresh
    }
  }
  pool_ready_.notify_one();
  return out;
}

Result<std::unique_ptr<PgConnection>> PostgresStore::Connect() const {
  return PgConnection::Connect(options_.url, options_.connect_timeout_seconds,
                               options_.idle_in_transaction_timeout_ms);
}

Status PostgresStore::RunBatch(const std::vector<Job*>& jobs, std::vector<Status>& results) {
  for (int attempt = 1;; ++attempt) {
    bool conflict = false;
    Status txn = RunBatchOnce(jobs, results, &conflict);
    if (!conflict || attempt == kConflictAttemptsMax) return txn;
    metrics::Count("eon_db_conflict_retries_total",
                   "Group transactions run again after a serialization failure or deadlock.", {});
    LOG_WARN("group commit of " << jobs.size() << " jobs met a conflict (" << txn.message()
                                << "); running it again (attempt " << attempt + 1 << " of "
                                << kConflictAttemptsMax << ")");
    std::fill(results.begin(), results.end(), Status());
    // A short pause, longer each time, lets the other transaction finish.
    std::this_thread::sleep_for(std::chrono::milliseconds(5 * attempt));
  }
}

Status PostgresStore::RunBatchOnce(const std::vector<Job*>& jobs, std::vector<Status>& results,
                                   bool* conflict) {
  if (!writer_ || !writer_->healthy()) {
    writer_.reset();
    EON_ASSIGN_OR_RETURN(writer_, Connect());
  }
  PgConnection& db = *writer_;
  // BEGIN and the savepoints ride on each job's first round trip (PgConnection::Defer).
  db.Defer("BEGIN");
  db.Defer("SAVEPOINT job");
  Status txn;
  bool release = false;  // the savepoint holds a job that succeeded
  for (size_t i = 0; txn.ok() && i < jobs.size(); ++i) {
    if (release) {
      db.Defer("RELEASE SAVEPOINT job");
      db.Defer("SAVEPOINT job");
    }
    results[i] = (*jobs[i])(db);
    release = results[i].ok();
    if (IsRetryableConflict(results[i])) {
      // The whole transaction runs again (on CockroachDB the conflict has undone all of it).
      *conflict = true;
      txn = results[i];
      break;
    }
    if (!release) {
      // A job that failed before it sent anything leaves its savepoint unsent: sent now, so the
      // rollback undoes this job only.
      txn = db.FlushDeferred();
      if (txn.ok()) txn = db.Exec("ROLLBACK TO SAVEPOINT job");
    }
  }
  if (txn.ok() && db.in_failed_transaction()) txn = Internal("the transaction was aborted");
  if (txn.ok()) txn = db.Exec("COMMIT");
  if (IsRetryableConflict(txn)) *conflict = true;
  // The same counter as SQLite's commit hook (eon bench reads it as db_tx/wf).
  if (txn.ok())
    metrics::Count("eon_db_commits_total", "Write transactions committed to the database.", {});
  if (!txn.ok()) {
    db.DiscardDeferred();
    if (db.healthy()) db.Exec("ROLLBACK");
    if (!*conflict)
      LOG_ERROR("group commit of " << jobs.size() << " jobs failed: " << txn.message());
  }
  return txn;
}

Result<int32_t> PostgresStore::ShardCount() { return shard_count_; }

namespace {
// Takes one shard: its range_id goes up by one (1 for a new row), which fences out whoever held
// it before. Returns the new range_id.
Result<int64_t> BumpRangeId(PgConnection& db, int32_t shard_id) {
  EON_ASSIGN_OR_RETURN(
      auto rows, db.Query("INSERT INTO shards (shard_id, range_id) VALUES ($1, 1) "
                          "ON CONFLICT (shard_id) DO UPDATE SET range_id = shards.range_id + 1 "
                          "RETURNING range_id",
                          {Int(shard_id)}));
  if (rows.size() != 1) return Internal("shard upsert returned no row");
  return rows.Int(0, 0);
}
}  // namespace

Result<std::vector<int64_t>> PostgresStore::AcquireShards() {
  std::vector<int64_t> range_ids(shard_count_);
  EON_RETURN_IF_ERROR(Write([&](PgConnection& db) -> Status {
    for (int32_t shard = 0; shard < shard_count_; ++shard) {
      EON_ASSIGN_OR_RETURN(range_ids[shard], BumpRangeId(db, shard));
    }
    return Status::Ok();
  }));
  return range_ids;
}

Result<int64_t> PostgresStore::AcquireShard(int32_t shard_id) {
  if (shard_id < 0 || shard_id >= shard_count_)
    return InvalidArgument("no shard " + std::to_string(shard_id));
  int64_t range_id = 0;
  EON_RETURN_IF_ERROR(Write([&](PgConnection& db) -> Status {
    EON_ASSIGN_OR_RETURN(range_id, BumpRangeId(db, shard_id));
    return Status::Ok();
  }));
  return range_id;
}

Status PostgresStore::PutMember(const MemberRow& row) {
  return Write([&](PgConnection& db) -> Status {
    return db
        .Query(
            "INSERT INTO cluster_members (name, internal_address, lease_expiry_ns) "
            "VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET "
            "internal_address = excluded.internal_address, "
            "lease_expiry_ns = excluded.lease_expiry_ns",
            {Text(row.name), Text(row.internal_address), Int(row.lease_expiry_ns)})
        .status();
  });
}

Status PostgresStore::DeleteMember(const std::string& name) {
  return Write([&](PgConnection& db) -> Status {
    return db.Query("DELETE FROM cluster_members WHERE name = $1", {Text(name)}).status();
  });
}

Result<std::vector<MemberRow>> PostgresStore::ListMembers() {
  return Read([](PgConnection& db) -> Result<std::vector<MemberRow>> {
    EON_ASSIGN_OR_RETURN(auto rows, db.Query("SELECT name, internal_address, lease_expiry_ns "
                                             "FROM cluster_members ORDER BY name"));
    std::vector<MemberRow> out;
    for (int i = 0; i < rows.size(); ++i) {
      out.push_back({std::string(rows.Text(i, 0)), std::string(rows.Text(i, 1)), rows.Int(i, 2)});
    }
    return out;
  });
}

Status PostgresStore::CreateNamespace(const eon::v1::NamespaceRecord& record) {
  EON_ASSIGN_OR_RETURN(auto blob, SerializeRecord(record, "namespace"));
  return Write([&](PgConnection& db) -> Status {
    EON_ASSIGN_OR_RETURN(
        auto rows, db.Query("INSERT INTO namespaces (id, name, data) VALUES "
                            "($1, $2, $3) ON CONFLICT DO NOTHING",
                            {Text(record.info().id()), Text(record.info().name()), Blob(blob)}));
    if (rows.affected() == 0) return AlreadyExists("Namespace already exists.");
    return Status::Ok();
  });
}

Status PostgresStore::UpdateNamespace(const eon::v1::NamespaceRecord& record) {
  EON_ASSIGN_OR_RETURN(auto blob, SerializeRecord(record, "namespace"));
  return Write([&](PgConnection& db) -> Status {
    EON_ASSIGN_OR_RETURN(auto read, db.Query("SELECT data FROM namespaces WHERE id = $1 FOR UPDATE",
                                             {Text(record.info().id())}));
    if (read.size() == 0) return NotFound("namespace " + record.info().name() + " is gone");
    EON_ASSIGN_OR_RETURN(auto stored,
                         ParseStored<eon::v1::NamespaceRecord>(read.Bytes(0, 0), "namespace"));
    if (stored.record_version() != record.record_version() - 1) {
      return Aborted("namespace " + record.info().name() + " was changed concurrently");
    }
    EON_ASSIGN_OR_RETURN(auto rows, db.Query("UPDATE namespaces SET data = $1 WHERE id = $2",
                                             {Blob(blob), Text(record.info().id())}));
    if (rows.affected() != 1) return NotFound("namespace " + record.info().name() + " is gone");
    return Status::Ok();
  });
}

Status PostgresStore::DeleteNamespaceData(const std::string& namespace_id) {
  return Write([&](PgConnection& db) -> Status {
    for (const char* table : {"executions", "current_executions", "history_events", "visibility",
                              "task_queue_tasks", "search_attributes", "schedules"}) {
      EON_RETURN_IF_ERROR(db.Query(std::string("DELETE FROM ") + table + " WHERE namespace_id = $1",
                                   {Text(namespace_id)})
                              .status());
    }
    return db.Query("DELETE FROM namespaces WHERE id = $1", {Text(namespace_id)}).status();
  });
}

Status PostgresStore::DeleteExecution(const ExecutionKey& key) {
  return Write([&](PgConnection& db) -> Status {
    EON_RETURN_IF_ERROR(db.Query("DELETE FROM executions WHERE namespace_id = $1 AND "
                                 "workflow_id = $2 AND run_id = $3",
                                 {Text(key.namespace_id), Text(key.workflow_id), Text(key.run_id)})
                            .status());
    for (const char* table : {"history_events", "visibility"}) {
      EON_RETURN_IF_ERROR(
          db.Query(std::string("DELETE FROM ") + table + " WHERE namespace_id = $1 AND run_id = $2",
                   {Text(key.namespace_id), Text(key.run_id)})
              .status());
    }
    return db
        .Query(
            "DELETE FROM current_executions WHERE namespace_id = $1 AND workflow_id = $2 "
            "AND run_id = $3",
            {Text(key.namespace_id), Text(key.workflow_id), Text(key.run_id)})
        .status();
  });
}

Result<std::vector<eon::v1::NamespaceRecord>> PostgresStore::ListNamespaces() {
  return Read([](PgConnection& db) -> Result<std::vector<eon::v1::NamespaceRecord>> {
    EON_ASSIGN_OR_RETURN(auto rows, db.Query("SELECT data FROM namespaces ORDER BY name"));
    std::vector<eon::v1::NamespaceRecord> out;
    for (int i = 0; i < rows.size(); ++i) {
      EON_ASSIGN_OR_RETURN(auto record,
                           ParseStored<eon::v1::NamespaceRecord>(rows.Bytes(i, 0), "namespace"));
      out.push_back(std::move(record));
    }
    return out;
  });
}

Result<CurrentExecution> PostgresStore::GetCurrentExecution(const std::string& namespace_id,
                                                            const std::string& workflow_id) {
  metrics::PersistenceTimer timer("GetCurrentExecution");
  return Read([&](PgConnection& db) -> Result<CurrentExecution> {
    EON_ASSIGN_OR_RETURN(
        auto rows, db.Query("SELECT run_id, status, create_request_id FROM current_executions "
                            "WHERE namespace_id = $1 AND workflow_id = $2",
                            {Text(namespace_id), Text(workflow_id)}));
    if (rows.size() == 0) return NotFound("workflow not found for ID: " + workflow_id);
    CurrentExecution current;
    current.run_id = rows.Text(0, 0);
    current.status = static_cast<temporal::api::enums::v1::WorkflowExecutionStatus>(rows.Int(0, 1));
    current.create_request_id = rows.Text(0, 2);
    return current;
  });
}

Result<StoredExecution> PostgresStore::GetExecution(const ExecutionKey& key) {
  metrics::PersistenceTimer timer("GetWorkflowExecution");
  return Read([&](PgConnection& db) -> Result<StoredExecution> {
    EON_ASSIGN_OR_RETURN(
        auto rows, db.Query("SELECT db_version, state FROM executions WHERE namespace_id = $1 "
                            "AND workflow_id = $2 AND run_id = $3",
                            {Text(key.namespace_id), Text(key.workflow_id), Text(key.run_id)}));
    if (rows.size() == 0) {
      return NotFound("workflow execution not found: " + key.workflow_id + "/" + key.run_id);
    }
    StoredExecution out;
    out.db_version = rows.Int(0, 0);
    EON_ASSIGN_OR_RETURN(out.state,
                         ParseStored<eon::v1::ExecutionState>(rows.Bytes(0, 1), "execution"));
    return out;
  });
}

// The task rows of one execution write, `rows` of them from the write's task `first`: their ids
// are computed by PostgreSQL from the shard row the fence just moved (the fence's answer is not
// needed before they are sent): (next_task_seq - $2 + k) * $3 + $1, k the task's index in the
// write, $2 the write's task count, $3 the shard count.
std::string TaskRowsInsert(size_t rows) {
  std::string sql =
      "INSERT INTO tasks (task_id, shard_id, category, visibility_ns, data) SELECT "
      "(s.next_task_seq - $2::BIGINT + v.k) * $3::BIGINT + $1::INTEGER, $1::INTEGER, v.c, v.t, "
      "v.d FROM shards s, (VALUES ";
  int next = 4;
  for (size_t r = 0; r < rows; ++r) {
    if (r) sql += ", ";
    sql += "($" + std::to_string(next) + "::BIGINT, $" + std::to_string(next + 1) + "::INTEGER, $" +
           std::to_string(next + 2) + "::BIGINT, $" + std::to_string(next + 3) + "::BYTEA)";
    next += 4;
  }
  return sql + ") AS v(k, c, t, d) WHERE s.shard_id = $1::INTEGER";
}

namespace {
// Writes a run's listing row, unless the row holds a later state already (a higher
// state_transition_count: two writes of one run may arrive out of order). A run's workflow id,
// type and start time never change, so an update does not SET them. Parameters:
// VisibilityParams.
constexpr const char* kVisibilityUpsert =
    "INSERT INTO visibility (namespace_id, run_id, workflow_id, workflow_type, status, "
    "start_time_ns, close_time_ns, execution_time_ns, execution_duration_ns, task_queue, "
    "history_length, history_size_bytes, state_transition_count, parent_workflow_id, "
    "parent_run_id, root_workflow_id, root_run_id, search_attributes, info) VALUES ($1, "
    "$2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) "
    "ON CONFLICT (namespace_id, run_id) DO UPDATE SET status = EXCLUDED.status, "
    "close_time_ns = EXCLUDED.close_time_ns, execution_time_ns = EXCLUDED.execution_time_ns, "
    "execution_duration_ns = EXCLUDED.execution_duration_ns, task_queue = "
    "EXCLUDED.task_queue, history_length = EXCLUDED.history_length, history_size_bytes "
    "= EXCLUDED.history_size_bytes, state_transition_count = "
    "EXCLUDED.state_transition_count, parent_workflow_id = EXCLUDED.parent_workflow_id, "
    "parent_run_id = EXCLUDED.parent_run_id, root_workflow_id = "
    "EXCLUDED.root_workflow_id, root_run_id = EXCLUDED.root_run_id, search_attributes = "
    "EXCLUDED.search_attributes, info = EXCLUDED.info "
    "WHERE EXCLUDED.state_transition_count >= visibility.state_transition_count";

// kVisibilityUpsert's parameters (they point into `row`).
std::vector<PgParam> VisibilityParams(const VisibilityRow& row) {
  return {Text(row.namespace_id),
          Text(row.run_id),
          Text(row.workflow_id),
          Text(row.workflow_type),
          Int(row.status),
          Int(row.start_time_ns),
          PgOptional(row.close_time_ns),
          PgOptional(row.execution_time_ns),
          PgOptional(row.execution_duration_ns),
          Text(row.task_queue),
          Int(row.history_length),
          Int(row.history_size_bytes),
          Int(row.state_transition_count),
          PgOptional(row.parent_workflow_id),
          PgOptional(row.parent_run_id),
          PgOptional(row.root_workflow_id),
          PgOptional(row.root_run_id),
          Text(row.search_attributes_json),
          Blob(row.info)};
}

}  // namespace

Status PostgresStore::ApplyExecutionWrite(PgConnection& db, const ExecutionWrite& write,
                                          std::vector<StoredTask>* created) {
  const auto& state = write.state;
  EON_ASSIGN_OR_RETURN(auto state_blob, SerializeRecord(state, "execution"));
  if (write.shard_id < 0 || write.shard_id >= shard_count_) {
    return InvalidArgument("shard " + std::to_string(write.shard_id) + " does not exist");
  }
  const auto task_count = static_cast<int64_t>(write.new_tasks.size());
  const std::string& ns = state.namespace_id();
  const bool new_run = write.expected_db_version == 0;
  // Every statement of the write goes in one pipeline (one round trip, with the batch's
  // savepoint): none needs an earlier one's answer to be sent. The answers are then checked in
  // order, and the first that fails fails the write, as if the statements had run one by one;
  // whatever ran after it is undone with the job's savepoint.
  std::vector<std::string> event_blobs(write.new_events.size());
  for (size_t i = 0; i < write.new_events.size(); ++i) {
    EON_ASSIGN_OR_RETURN(event_blobs[i], SerializeRecord(write.new_events[i], "history event"));
  }
  std::vector<std::string> task_blobs(write.new_tasks.size());
  for (size_t i = 0; i < write.new_tasks.size(); ++i) {
    EON_ASSIGN_OR_RETURN(task_blobs[i], SerializeRecord(write.new_tasks[i].task, "task"));
  }
  db.BeginPipeline();
  // The fence, the shard row's lock for the rest of the transaction, and the task ids.
  db.Send(
      "UPDATE shards SET next_task_seq = next_task_seq + $3 "
      "WHERE shard_id = $1 AND range_id = $2 RETURNING next_task_seq",
      {Int(write.shard_id), Int(write.range_id), Int(task_count)});
  if (new_run) {
    // A new run: the workflow id must point where the caller saw it point.
    db.Send(
        "SELECT run_id FROM current_executions WHERE namespace_id = $1 "
        "AND workflow_id = $2",
        {Text(ns), Text(state.workflow_id())});
    db.Send(
        "INSERT INTO executions (namespace_id, workflow_id, run_id, "
        "shard_id, db_version, state) VALUES ($1, $2, $3, $4, 1, $5)",
        {Text(ns), Text(state.workflow_id()), Text(state.run_id()), Int(write.shard_id),
         Blob(state_blob)});
    db.Send(
        "INSERT INTO current_executions (namespace_id, workflow_id, run_id, status, "
        "create_request_id) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (namespace_id, "
        "workflow_id) DO UPDATE SET run_id = EXCLUDED.run_id, status = EXCLUDED.status, "
        "create_request_id = EXCLUDED.create_request_id",
        {Text(ns), Text(state.workflow_id()), Text(state.run_id()),
         Int(static_cast<int64_t>(state.status())), Text(state.create_request_id())});
  } else {
    db.Send(
        "UPDATE executions SET db_version = $1, state = $2 WHERE namespace_id = $3 AND "
        "workflow_id = $4 AND run_id = $5 AND db_version = $6",
        {Int(write.expected_db_version + 1), Blob(state_blob), Text(ns), Text(state.workflow_id()),
         Text(state.run_id()), Int(write.expected_db_version)});
    db.Send(
        "UPDATE current_executions SET status = $1 WHERE namespace_id = $2 AND "
        "workflow_id = $3 AND run_id = $4 AND status <> $1",
        {Int(static_cast<int64_t>(state.status())), Text(ns), Text(state.workflow_id()),
         Text(state.run_id())});
  }
  // History events, many rows per INSERT.
  size_t event_inserts = 0;
  for (size_t start = 0; start < write.new_events.size(); start += kRowsPerInsertMax) {
    const size_t rows = std::min(kRowsPerInsertMax, write.new_events.size() - start);
    std::vector<PgParam> params = {Text(ns), Text(state.run_id())};
    for (size_t i = 0; i < rows; ++i) {
      params.push_back(Int(write.new_events[start + i].event_id()));
      params.push_back(Blob(event_blobs[start + i]));
    }
    db.Send("INSERT INTO history_events (namespace_id, run_id, event_id, data) VALUES " +
                ValuesRows(rows, {1, 2, -1, -1}, 3),
            params, rows <= kPreparedRowsMax);
    ++event_inserts;
  }
  // Tasks, under the ids the fence hands out.
  for (size_t start = 0; start < write.new_tasks.size(); start += kRowsPerInsertMax) {
    const size_t rows = std::min(kRowsPerInsertMax, write.new_tasks.size() - start);
    std::vector<PgParam> params = {Int(write.shard_id), Int(task_count), Int(shard_count_)};
    for (size_t i = 0; i < rows; ++i) {
      const NewTask& task = write.new_tasks[start + i];
      const int64_t visibility_ns = task.category == TaskCategory::kTimer
                                        ? ToUnixNanos(FromTimestamp(task.task.fire_time()))
                                        : 0;
      params.push_back(Int(static_cast<int64_t>(start + i)));
      params.push_back(Int(static_cast<int64_t>(task.category)));
      params.push_back(Int(visibility_ns));
      params.push_back(Blob(task_blobs[start + i]));
    }
    db.Send(TaskRowsInsert(rows), params, rows <= kPreparedRowsMax);
  }
  if (write.visibility) db.Send(kVisibilityUpsert, VisibilityParams(*write.visibility));
  EON_ASSIGN_OR_RETURN(auto answers, db.EndPipeline());

  size_t at = 0;
  auto& fence = answers[at++];
  EON_RETURN_IF_ERROR(fence.status());
  if (fence->size() != 1) return ShardOwnershipLost(write.shard_id, write.range_id);
  const int64_t first_seq = fence->Int(0, 0) - task_count;
  if (new_run) {
    auto& current = answers[at++];
    EON_RETURN_IF_ERROR(current.status());
    std::string current_run = current->size() ? current->Text(0, 0) : std::string();
    if (current_run != write.expected_current_run_id) {
      return Aborted("the current run of workflow " + state.workflow_id() + " changed");
    }
    EON_RETURN_IF_ERROR(answers[at++].status());
    EON_RETURN_IF_ERROR(answers[at++].status());
  } else {
    auto& updated = answers[at++];
    EON_RETURN_IF_ERROR(updated.status());
    if (updated->affected() != 1) {
      return Aborted("workflow execution " + state.workflow_id() + " was changed concurrently");
    }
    EON_RETURN_IF_ERROR(answers[at++].status());
  }
  for (size_t i = 0; i < event_inserts; ++i) {
    const Status inserted = answers[at++].status();
    if (inserted.code() == StatusCode::ABORTED) {
      return Aborted("history events of run " + state.run_id() +
                     " already written: " + inserted.message());
    }
    EON_RETURN_IF_ERROR(inserted);
  }
  for (; at < answers.size(); ++at) EON_RETURN_IF_ERROR(answers[at].status());
  for (size_t i = 0; i < write.new_tasks.size(); ++i) {
    const int64_t task_id = (first_seq + static_cast<int64_t>(i)) * shard_count_ + write.shard_id;
    created->push_back(
        {write.shard_id, write.new_tasks[i].category, task_id, write.new_tasks[i].task});
  }
  return Status::Ok();
}

Result<HistoryPage> PostgresStore::ReadHistory(const std::string& namespace_id,
                                               const std::string& run_id, int64_t first_event_id,
                                               int max_events) {
  metrics::PersistenceTimer timer("ReadHistoryBranch");
  return Read([&](PgConnection& db) -> Result<HistoryPage> {
    EON_ASSIGN_OR_RETURN(auto rows,
                         db.Query("SELECT data FROM history_events WHERE namespace_id = $1 AND "
                                  "run_id = $2 AND event_id >= $3 ORDER BY event_id LIMIT $4",
                                  {Text(namespace_id), Text(run_id), Int(first_event_id),
                                   Int(static_cast<int64_t>(max_events) + 1)}));
    HistoryPage page;
    for (int i = 0; i < rows.size(); ++i) {
      EON_ASSIGN_OR_RETURN(auto event, ParseStored<temporal::api::history::v1::HistoryEvent>(
                                           rows.Bytes(i, 0), "history event"));
      if (static_cast<int>(page.events.size()) == max_events) {
        page.next_event_id = event.event_id();
        break;
      }
      page.events.push_back(std::move(event));
    }
    return page;
  });
}

namespace {
Result<std::vector<StoredTask>> ReadTasks(const PgRows& rows, int32_t shard_id,
                                          TaskCategory category) {
  std::vector<StoredTask> out;
  for (int i = 0; i < rows.size(); ++i) {
    StoredTask task;
    task.shard_id = shard_id;
    task.category = category;
    task.task_id = rows.Int(i, 0);
    EON_ASSIGN_OR_RETURN(task.task, ParseStored<eon::v1::HistoryTask>(rows.Bytes(i, 1), "task"));
    out.push_back(std::move(task));
  }
  return out;
}
}  // namespace

Result<std::vector<StoredTask>> PostgresStore::LoadTransferTasks(int32_t shard_id,
                                                                 int64_t after_task_id, int limit) {
  metrics::PersistenceTimer timer("GetTransferTasks");
  return Read([&](PgConnection& db) -> Result<std::vector<StoredTask>> {
    EON_ASSIGN_OR_RETURN(
        auto rows, db.Query("SELECT task_id, data FROM tasks WHERE shard_id = $1 AND "
                            "category = $2 AND visibility_ns = 0 AND task_id > $3 "
                            "ORDER BY task_id LIMIT $4",
                            {Int(shard_id), Int(static_cast<int64_t>(TaskCategory::kTransfer)),
                             Int(after_task_id), Int(limit)}));
    return ReadTasks(rows, shard_id, TaskCategory::kTransfer);
  });
}

Result<std::vector<StoredTask>> PostgresStore::LoadTimerTasks(int32_t shard_id, TimePoint until,
                                                              TimePoint after_time,
                                                              int64_t after_task_id, int limit) {
  metrics::PersistenceTimer timer("GetTimerTasks");
  return Read([&](PgConnection& db) -> Result<std::vector<StoredTask>> {
    EON_ASSIGN_OR_RETURN(
        auto rows,
        db.Query("SELECT task_id, data FROM tasks WHERE shard_id = $1 AND category = $2 AND "
                 "visibility_ns <= $3 AND (visibility_ns, task_id) > ($4, $5) "
                 "ORDER BY visibility_ns, task_id LIMIT $6",
                 {Int(shard_id), Int(static_cast<int64_t>(TaskCategory::kTimer)),
                  Int(ToUnixNanos(until)), Int(ToUnixNanos(after_time)), Int(after_task_id),
                  Int(limit)}));
    return ReadTasks(rows, shard_id, TaskCategory::kTimer);
  });
}

Result<std::optional<TimePoint>> PostgresStore::NextTimerTime() {
  return Read([&](PgConnection& db) -> Result<std::optional<TimePoint>> {
    EON_ASSIGN_OR_RETURN(
        auto rows, db.Query("SELECT MIN(visibility_ns) FROM tasks WHERE category = $1 AND NOT "
                            "EXISTS (SELECT 1 FROM parked_tasks p WHERE p.task_id = tasks.task_id)",
                            {Int(static_cast<int64_t>(TaskCategory::kTimer))}));
    if (rows.size() == 0 || rows.IsNull(0, 0)) return std::optional<TimePoint>();
    return std::optional<TimePoint>(FromUnixNanos(rows.Int(0, 0)));
  });
}

Status PostgresStore::DeleteTasks(const std::vector<StoredTask>& tasks) {
  metrics::PersistenceTimer timer("CompleteHistoryTasks");
  if (tasks.empty()) return Status::Ok();
  std::vector<int64_t> ids;
  for (const auto& task : tasks) ids.push_back(task.task_id);
  const std::string array = IdArray(ids);
  return Write([&](PgConnection& db) -> Status {
    EON_RETURN_IF_ERROR(
        db.Query("DELETE FROM tasks WHERE task_id = ANY ($1::BIGINT[])", {Text(array)}).status());
    return db.Query("DELETE FROM parked_tasks WHERE task_id = ANY ($1::BIGINT[])", {Text(array)})
        .status();
  });
}

Status PostgresStore::ParkTask(const ParkedTask& parked) {
  return Write([&](PgConnection& db) -> Status {
    return db
        .Query(
            "INSERT INTO parked_tasks (task_id, failures, last_error, parked_time_ns) VALUES "
            "($1, $2, $3, $4) ON CONFLICT (task_id) DO UPDATE SET failures = "
            "EXCLUDED.failures, last_error = EXCLUDED.last_error, parked_time_ns = "
            "EXCLUDED.parked_time_ns",
            {Int(parked.task.task_id), Int(parked.failures), Text(parked.last_error),
             Int(ToUnixNanos(parked.parked_time))})
        .status();
  });
}

Status PostgresStore::UnparkTasks(const std::vector<int64_t>& task_ids) {
  if (task_ids.empty()) return Status::Ok();
  const std::string array = IdArray(task_ids);
  return Write([&](PgConnection& db) -> Status {
    return db.Query("DELETE FROM parked_tasks WHERE task_id = ANY ($1::BIGINT[])", {Text(array)})
        .status();
  });
}

Result<std::vector<ParkedTask>> PostgresStore::LoadParkedTasks() {
  return Read([&](PgConnection& db) -> Result<std::vector<ParkedTask>> {
    // A mark whose task is gone (deleted with its execution) is not listed.
    EON_ASSIGN_OR_RETURN(auto rows,
                         db.Query("SELECT t.task_id, t.shard_id, t.category, t.data, p.failures, "
                                  "p.last_error, p.parked_time_ns FROM parked_tasks p JOIN tasks t "
                                  "ON t.task_id = p.task_id ORDER BY p.task_id"));
    std::vector<ParkedTask> out;
    for (int i = 0; i < rows.size(); ++i) {
      ParkedTask parked;
      parked.task.task_id = rows.Int(i, 0);
      parked.task.shard_id = static_cast<int32_t>(rows.Int(i, 1));
      parked.task.category = rows.Int(i, 2) == static_cast<int64_t>(TaskCategory::kTimer)
                                 ? TaskCategory::kTimer
                                 : TaskCategory::kTransfer;
      EON_ASSIGN_OR_RETURN(parked.task.task,
                           ParseStored<eon::v1::HistoryTask>(rows.Bytes(i, 3), "task"));
      parked.failures = static_cast<int>(rows.Int(i, 4));
      parked.last_error = rows.Text(i, 5);
      parked.parked_time = FromUnixNanos(rows.Int(i, 6));
      out.push_back(std::move(parked));
    }
    return out;
  });
}

Status PostgresStore::PutBatchOperation(const std::string& namespace_name,
                                        const std::string& job_id, const std::string& record) {
  return Write([&](PgConnection& db) -> Status {
    // An update keeps the row (and its place in the order).
    return db
        .Query(
            "INSERT INTO batch_operations (namespace, job_id, record) VALUES ($1, $2, $3) "
            "ON CONFLICT (namespace, job_id) DO UPDATE SET record = EXCLUDED.record",
            {Text(namespace_name), Text(job_id), Blob(record)})
        .status();
  });
}

Status PostgresStore::DeleteBatchOperation(const std::string& namespace_name,
                                           const std::string& job_id) {
  return Write([&](PgConnection& db) -> Status {
    EON_ASSIGN_OR_RETURN(auto rows,
                         db.Query("DELETE FROM batch_operations WHERE namespace = $1 AND "
                                  "job_id = $2",
                                  {Text(namespace_name), Text(job_id)}));
    if (rows.affected() == 0) return NotFound("batch operation " + job_id + " not found");
    return Status::Ok();
  });
}

Result<std::vector<std::pair<std::string, std::string>>> PostgresStore::LoadBatchOperations() {
  return Read([&](PgConnection& db) -> Result<std::vector<std::pair<std::string, std::string>>> {
    EON_ASSIGN_OR_RETURN(auto rows,
                         db.Query("SELECT namespace, record FROM batch_operations ORDER BY seq"));
    std::vector<std::pair<std::string, std::string>> out;
    for (int i = 0; i < rows.size(); ++i) out.emplace_back(rows.Text(i, 0), rows.Text(i, 1));
    return out;
  });
}

Status PostgresStore::AddQueueTask(const std::string& namespace_id, const std::string& queue,
                                   int kind, int64_t task_id, const eon::v1::QueueTask& task) {
  metrics::PersistenceTimer timer("CreateTasks");
  EON_ASSIGN_OR_RETURN(auto blob, SerializeRecord(task, "queue task"));
  return Write([&](PgConnection& db) -> Status {
    return db
        .Query(
            "INSERT INTO task_queue_tasks (task_id, namespace_id, task_queue, kind, data) "
            "VALUES ($1, $2, $3, $4, $5)",
            {Int(task_id), Text(namespace_id), Text(queue), Int(kind), Blob(blob)})
        .status();
  });
}

Result<int64_t> PostgresStore::MaxQueueTaskId() {
  return Read([&](PgConnection& db) -> Result<int64_t> {
    EON_ASSIGN_OR_RETURN(auto rows,
                         db.Query("SELECT COALESCE(MAX(task_id), 0) FROM task_queue_tasks"));
    if (rows.size() != 1) return Internal("no max task id");
    return rows.Int(0, 0);
  });
}

Result<std::vector<QueueTaskRecord>> PostgresStore::LoadQueueTasks(const std::string& namespace_id,
                                                                   const std::string& queue,
                                                                   int kind, int64_t after_task_id,
                                                                   int limit) {
  metrics::PersistenceTimer timer("GetTasks");
  return Read([&](PgConnection& db) -> Result<std::vector<QueueTaskRecord>> {
    EON_ASSIGN_OR_RETURN(
        auto rows,
        db.Query("SELECT task_id, data FROM task_queue_tasks WHERE namespace_id = $1 "
                 "AND task_queue = $2 AND kind = $3 AND task_id > $4 "
                 "ORDER BY task_id LIMIT $5",
                 {Text(namespace_id), Text(queue), Int(kind), Int(after_task_id), Int(limit)}));
    std::vector<QueueTaskRecord> out;
    for (int i = 0; i < rows.size(); ++i) {
      QueueTaskRecord record;
      record.task_id = rows.Int(i, 0);
      EON_ASSIGN_OR_RETURN(record.task,
                           ParseStored<eon::v1::QueueTask>(rows.Bytes(i, 1), "queue task"));
      out.push_back(std::move(record));
    }
    return out;
  });
}

Result<std::vector<Store::QueueName>> PostgresStore::ListBackloggedQueues() {
  return Read([&](PgConnection& db) -> Result<std::vector<QueueName>> {
    EON_ASSIGN_OR_RETURN(
        auto rows,
        db.Query("SELECT DISTINCT namespace_id, task_queue, kind FROM task_queue_tasks"));
    std::vector<QueueName> out;
    for (int i = 0; i < rows.size(); ++i) {
      out.push_back({rows.Text(i, 0), rows.Text(i, 1), static_cast<int>(rows.Int(i, 2))});
    }
    return out;
  });
}

Status PostgresStore::DeleteQueueTask(const std::string& namespace_id, const std::string& queue,
                                      int kind, int64_t task_id) {
  metrics::PersistenceTimer timer("CompleteTask");
  return Write([&](PgConnection& db) -> Status {
    return db.Query("DELETE FROM task_queue_tasks WHERE task_id = $1", {Int(task_id)}).status();
  });
}

Status PostgresStore::UpsertVisibility(const VisibilityRow& row) {
  metrics::PersistenceTimer timer("UpsertWorkflowExecution");
  return Write([&](PgConnection& db) -> Status {
    return db.Query(kVisibilityUpsert, VisibilityParams(row)).status();
  });
}

namespace {
// The filter's values as parameters (they point into `filter`).
void AppendFilterParams(const SqlFilter& filter, std::vector<PgParam>* params) {
  for (const auto& value : filter.params) {
    if (const auto* i = std::get_if<int64_t>(&value)) {
      params->push_back(*i);
    } else if (const auto* d = std::get_if<double>(&value)) {
      params->push_back(*d);
    } else {
      params->push_back(std::string_view(std::get<std::string>(value)));
    }
  }
}

// `info` of a listing table's matching rows (visibility or schedules: the same columns).
Result<std::vector<std::string>> ListInfo(PgConnection& db, const char* table,
                                          const std::string& namespace_id,
                                          const VisibilityFilter& filter, int limit,
                                          int64_t offset) {
  EON_ASSIGN_OR_RETURN(SqlFilter sql, RenderPostgresFilter(filter, 2));
  std::vector<PgParam> params = {Text(namespace_id)};
  AppendFilterParams(sql, &params);
  const int next = static_cast<int>(params.size()) + 1;
  params.push_back(Int(limit));
  params.push_back(Int(offset));
  // Filters differ per call: run unprepared rather than fill the statement cache.
  EON_ASSIGN_OR_RETURN(
      auto rows,
      db.Query("SELECT info FROM " + std::string(table) + " WHERE namespace_id = $1 AND (" +
                   sql.where + ") ORDER BY " + sql.order_by + " LIMIT $" + std::to_string(next) +
                   " OFFSET $" + std::to_string(next + 1),
               params, /*prepare=*/false));
  std::vector<std::string> out;
  for (int i = 0; i < rows.size(); ++i) out.push_back(rows.Text(i, 0));
  return out;
}
}  // namespace

Result<std::vector<std::string>> PostgresStore::ListVisibility(const std::string& namespace_id,
                                                               const VisibilityFilter& filter,
                                                               int limit, int64_t offset) {
  metrics::PersistenceTimer timer("ListWorkflowExecutions");
  return Read([&](PgConnection& db) -> Result<std::vector<std::string>> {
    return ListInfo(db, "visibility", namespace_id, filter, limit, offset);
  });
}

Result<std::vector<std::pair<int64_t, int64_t>>> PostgresStore::CountVisibility(
    const std::string& namespace_id, const VisibilityFilter& filter) {
  metrics::PersistenceTimer timer("CountWorkflowExecutions");
  EON_ASSIGN_OR_RETURN(SqlFilter rendered, RenderPostgresFilter(filter, 2));
  return Read([&](PgConnection& db) -> Result<std::vector<std::pair<int64_t, int64_t>>> {
    std::string group = rendered.group_by.empty() ? "0" : rendered.group_by;
    std::string sql = "SELECT " + group +
                      ", COUNT(*) FROM visibility WHERE namespace_id = $1 AND (" + rendered.where +
                      ")";
    if (!rendered.group_by.empty()) sql += " GROUP BY " + rendered.group_by;
    std::vector<PgParam> params = {Text(namespace_id)};
    AppendFilterParams(rendered, &params);
    EON_ASSIGN_OR_RETURN(auto rows, db.Query(sql, params, /*prepare=*/false));
    std::vector<std::pair<int64_t, int64_t>> out;
    for (int i = 0; i < rows.size(); ++i) out.emplace_back(rows.Int(i, 0), rows.Int(i, 1));
    return out;
  });
}

Result<std::map<std::string, int>> PostgresStore::SearchAttributes(
    const std::string& namespace_id) {
  return Read([&](PgConnection& db) -> Result<std::map<std::string, int>> {
    EON_ASSIGN_OR_RETURN(auto rows, db.Query("SELECT name, type FROM search_attributes WHERE "
                                             "namespace_id = $1",
                                             {Text(namespace_id)}));
    std::map<std::string, int> out;
    for (int i = 0; i < rows.size(); ++i) out[rows.Text(i, 0)] = static_cast<int>(rows.Int(i, 1));
    return out;
  });
}

Status PostgresStore::AddSearchAttribute(const std::string& namespace_id, const std::string& name,
                                         int type) {
  return Write([&](PgConnection& db) -> Status {
    EON_ASSIGN_OR_RETURN(auto rows,
                         db.Query("INSERT INTO search_attributes (namespace_id, name, type) "
                                  "VALUES ($1, $2, $3) ON CONFLICT (namespace_id, name) DO "
                                  "UPDATE SET type = search_attributes.type RETURNING type",
                                  {Text(namespace_id), Text(name), Int(type)}));
    if (rows.size() == 1 && rows.Int(0, 0) == type) return Status::Ok();
    return AlreadyExists("search attribute " + name + " already exists with another type");
  });
}

Status PostgresStore::RemoveSearchAttribute(const std::string& namespace_id,
                                            const std::string& name) {
  return Write([&](PgConnection& db) -> Status {
    EON_ASSIGN_OR_RETURN(auto rows, db.Query("DELETE FROM search_attributes WHERE "
                                             "namespace_id = $1 AND name = $2",
                                             {Text(namespace_id), Text(name)}));
    if (rows.affected() == 0) return NotFound("search attribute " + name + " does not exist");
    return Status::Ok();
  });
}

Status PostgresStore::CreateSchedule(const eon::v1::ScheduleRecord& record,
                                     const ScheduleListing& listing) {
  EON_ASSIGN_OR_RETURN(auto blob, SerializeRecord(record, "schedule"));
  return Write([&](PgConnection& db) -> Status {
    EON_ASSIGN_OR_RETURN(
        auto rows,
        db.Query("INSERT INTO schedules (namespace_id, run_id, workflow_id, workflow_type, "
                 "start_time_ns, search_attributes, info, db_version, record) "
                 "VALUES ($1, $2, $2, $3, $4, $5, $6, 1, $7) ON CONFLICT DO NOTHING",
                 {Text(record.namespace_id()), Text(record.schedule_id()),
                  Text(listing.workflow_type), Int(listing.create_time_ns),
                  Text(listing.search_attributes_json), Blob(listing.info), Blob(blob)}));
    if (rows.affected() == 0) return AlreadyExists("schedule " + record.schedule_id() + " exists");
    return Status::Ok();
  });
}

Result<StoredSchedule> PostgresStore::GetSchedule(const std::string& namespace_id,
                                                  const std::string& schedule_id) {
  return Read([&](PgConnection& db) -> Result<StoredSchedule> {
    EON_ASSIGN_OR_RETURN(auto rows, db.Query("SELECT db_version, record FROM schedules WHERE "
                                             "namespace_id = $1 AND run_id = $2",
                                             {Text(namespace_id), Text(schedule_id)}));
    if (rows.size() == 0) return NotFound("schedule not found");
    StoredSchedule out;
    out.db_version = rows.Int(0, 0);
    EON_ASSIGN_OR_RETURN(out.record,
                         ParseStored<eon::v1::ScheduleRecord>(rows.Bytes(0, 1), "schedule"));
    return out;
  });
}

Status PostgresStore::UpdateSchedule(const eon::v1::ScheduleRecord& record,
                                     const ScheduleListing& listing, int64_t expected_db_version) {
  EON_ASSIGN_OR_RETURN(auto blob, SerializeRecord(record, "schedule"));
  return Write([&](PgConnection& db) -> Status {
    EON_ASSIGN_OR_RETURN(
        auto rows,
        db.Query(
            "UPDATE schedules SET workflow_type = $1, start_time_ns = $2, "
            "search_attributes = $3, info = $4, record = $5, db_version = db_version + 1 "
            "WHERE namespace_id = $6 AND run_id = $7 AND db_version = $8",
            {Text(listing.workflow_type), Int(listing.create_time_ns),
             Text(listing.search_attributes_json), Blob(listing.info), Blob(blob),
             Text(record.namespace_id()), Text(record.schedule_id()), Int(expected_db_version)}));
    if (rows.affected() == 1) return Status::Ok();
    EON_ASSIGN_OR_RETURN(auto exists,
                         db.Query("SELECT 1 FROM schedules WHERE namespace_id = $1 AND run_id = $2",
                                  {Text(record.namespace_id()), Text(record.schedule_id())}));
    if (exists.size() == 0) return NotFound("schedule not found");
    return Aborted("schedule " + record.schedule_id() + " changed concurrently");
  });
}

Status PostgresStore::DeleteSchedule(const std::string& namespace_id,
                                     const std::string& schedule_id) {
  return Write([&](PgConnection& db) -> Status {
    EON_ASSIGN_OR_RETURN(auto rows,
                         db.Query("DELETE FROM schedules WHERE namespace_id = $1 AND run_id = $2",
                                  {Text(namespace_id), Text(schedule_id)}));
    if (rows.affected() == 0) return NotFound("schedule not found");
    return Status::Ok();
  });
}

Result<std::vector<StoredSchedule>> PostgresStore::LoadSchedules() {
  return Read([&](PgConnection& db) -> Result<std::vector<StoredSchedule>> {
    EON_ASSIGN_OR_RETURN(auto rows, db.Query("SELECT db_version, record FROM schedules"));
    std::vector<StoredSchedule> out;
    for (int i = 0; i < rows.size(); ++i) {
      StoredSchedule s;
      s.db_version = rows.Int(i, 0);
      EON_ASSIGN_OR_RETURN(s.record,
                           ParseStored<eon::v1::ScheduleRecord>(rows.Bytes(i, 1), "schedule"));
      out.push_back(std::move(s));
    }
    return out;
  });
}

Result<std::vector<std::string>> PostgresStore::ListSchedules(const std::string& namespace_id,
                                                              const VisibilityFilter& filter,
                                                              int limit, int64_t offset) {
  return Read([&](PgConnection& db) -> Result<std::vector<std::string>> {
    return ListInfo(db, "schedules", namespace_id, filter, limit, offset);
  });
}

}  // namespace eon::persistence
