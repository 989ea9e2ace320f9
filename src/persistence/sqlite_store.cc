#include "persistence/sqlite_store.h"

#include <filesystem>

#include "common/barrier.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/parse.h"
#include "persistence/records.h"
#include "persistence/sql_filter.h"

namespace eon::persistence {
namespace {

constexpr const char* kDatabaseMarker = "eon";

// Versioned migrations: migration i brings the schema from version i to i + 1. Each is applied
// in its own transaction together with the version bump, and is written to be idempotent.
const char* const kSqliteMigrations[] = {
    // 1: the foundation.
    R"sql(
CREATE TABLE IF NOT EXISTS shards (
  shard_id INTEGER PRIMARY KEY,
  range_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS namespaces (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS executions (
  namespace_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  shard_id INTEGER NOT NULL,
  db_version INTEGER NOT NULL,
  state BLOB NOT NULL,
  PRIMARY KEY (namespace_id, workflow_id, run_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS current_executions (
  namespace_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  status INTEGER NOT NULL,
  create_request_id TEXT NOT NULL,
  PRIMARY KEY (namespace_id, workflow_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history_events (
  namespace_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  event_id INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (namespace_id, run_id, event_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tasks (
  task_id INTEGER PRIMARY KEY AUTOINCREMENT,
  shard_id INTEGER NOT NULL,
  category INTEGER NOT NULL,
  visibility_ns INTEGER NOT NULL,
  data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS tasks_by_time ON tasks (shard_id, category, visibility_ns, task_id);
CREATE TABLE IF NOT EXISTS task_queue_tasks (
  task_id INTEGER PRIMARY KEY AUTOINCREMENT,
  namespace_id TEXT NOT NULL,
  task_queue TEXT NOT NULL,
  kind INTEGER NOT NULL,
  data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS task_queue_tasks_by_queue
  ON task_queue_tasks (namespace_id, task_queue, kind, task_id);
)sql",
    // 2: visibility (the columns the list-filter language reaches, see visibility/query.h) and
    // the registry of custom search attributes.
    R"sql(
CREATE TABLE IF NOT EXISTS visibility (
  namespace_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  workflow_type TEXT NOT NULL,
  status INTEGER NOT NULL,
  start_time_ns INTEGER NOT NULL,
  close_time_ns INTEGER,
  execution_time_ns INTEGER,
  execution_duration_ns INTEGER,
  task_queue TEXT NOT NULL,
  history_length INTEGER NOT NULL,
  history_size_bytes INTEGER NOT NULL,
  state_transition_count INTEGER NOT NULL,
  parent_workflow_id TEXT,
  parent_run_id TEXT,
  root_workflow_id TEXT,
  root_run_id TEXT,
  search_attributes TEXT NOT NULL,
  info BLOB NOT NULL,
  PRIMARY KEY (namespace_id, run_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS visibility_by_start
  ON visibility (namespace_id, start_time_ns DESC, run_id DESC);
CREATE INDEX IF NOT EXISTS visibility_by_status
  ON visibility (namespace_id, status, start_time_ns DESC);
CREATE INDEX IF NOT EXISTS visibility_by_workflow_id ON visibility (namespace_id, workflow_id);
CREATE INDEX IF NOT EXISTS visibility_by_type
  ON visibility (namespace_id, workflow_type, start_time_ns DESC);
CREATE TABLE IF NOT EXISTS search_attributes (
  namespace_id TEXT NOT NULL,
  name TEXT NOT NULL,
  type INTEGER NOT NULL,
  PRIMARY KEY (namespace_id, name)) WITHOUT ROWID;
)sql",
    // 3: schedules. The record, and its listing in the columns of `visibility` (so that the
    // list-filter language translates to the same SQL): workflow_id and run_id hold the schedule
    // id.
    R"sql(
CREATE TABLE IF NOT EXISTS schedules (
  namespace_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  workflow_type TEXT NOT NULL,
  status INTEGER NOT NULL DEFAULT 1,
  start_time_ns INTEGER NOT NULL,
  close_time_ns INTEGER,
  execution_time_ns INTEGER,
  execution_duration_ns INTEGER,
  task_queue TEXT NOT NULL DEFAULT '',
  history_length INTEGER NOT NULL DEFAULT 0,
  history_size_bytes INTEGER NOT NULL DEFAULT 0,
  state_transition_count INTEGER NOT NULL DEFAULT 0,
  parent_workflow_id TEXT,
  parent_run_id TEXT,
  root_workflow_id TEXT,
  root_run_id TEXT,
  search_attributes TEXT NOT NULL,
  info BLOB NOT NULL,
  db_version INTEGER NOT NULL,
  record BLOB NOT NULL,
  PRIMARY KEY (namespace_id, run_id)) WITHOUT ROWID;
)sql",
    // 4: parked outbox tasks (history/queue_processors.h): a mark beside the task, so a parked
    // task stays aside through a restart.
    R"sql(
CREATE TABLE IF NOT EXISTS parked_tasks (
  task_id INTEGER PRIMARY KEY,
  failures INTEGER NOT NULL,
  last_error TEXT NOT NULL,
  parked_time_ns INTEGER NOT NULL);
)sql",
    // 5: batch operations' records (frontend/batch_service.h), so Describe and List survive a
    // restart. seq keeps the order they were started in.
    R"sql(
CREATE TABLE IF NOT EXISTS batch_operations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  namespace TEXT NOT NULL,
  job_id TEXT NOT NULL,
  record BLOB NOT NULL,
  UNIQUE (namespace, job_id));
)sql",
    // 6: membership (cluster/membership.h): one row per node sharing the database, live while
    // its lease has not expired.
    R"sql(
CREATE TABLE IF NOT EXISTS cluster_members (
  name TEXT PRIMARY KEY,
  internal_address TEXT NOT NULL,
  lease_expiry_ns INTEGER NOT NULL);
)sql",
};
constexpr int kSqliteSchemaVersion = sizeof(kSqliteMigrations) / sizeof(kSqliteMigrations[0]);

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const SqliteOptions& options) {
  const bool in_memory = options.path == ":memory:";
  if (!in_memory) {
    std::error_code ec;
    auto parent = std::filesystem::path(options.path).parent_path();
    if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
      return FailedPrecondition("the folder of database file " + options.path + " does not exist");
    }
  }
  // The writer syncs its log at every commit when synchronous=FULL (set below), so it may gather
  // the log's writes (SqliteDb::OpenOptions; an in-memory database has no log).
  EON_ASSIGN_OR_RETURN(
      auto writer, SqliteDb::Open(options.path, {.gather_wal_writes = options.synchronous_full}));
  // The first statement that reads the file tells whether it is a database at all.
  Status probe = writer->Exec("SELECT count(*) FROM sqlite_master");
  if (!probe.ok()) {
    return FailedPrecondition(options.path + " is not an Eon database (" + probe.message() + ")");
  }
  EON_RETURN_IF_ERROR(writer->Exec("PRAGMA busy_timeout = 5000"));
  // Each job of a group commit runs in a savepoint (RunBatch), whose undo records (the statement
  // journal) grow past SQLite's 64 KiB spill threshold in a busy batch: on disk, that was a temp
  // file created, written page by page and deleted for every commit, about 40% of the server's
  // pwrite calls under load. In memory they hold the pages one job changes (the journal starts
  // over at each job's RELEASE), a few hundred KiB for a large job.
  EON_RETURN_IF_ERROR(writer->Exec("PRAGMA temp_store = MEMORY"));
  if (!in_memory) {
    EON_RETURN_IF_ERROR(writer->Exec("PRAGMA journal_mode = WAL"));
    EON_RETURN_IF_ERROR(writer->Exec(options.synchronous_full ? "PRAGMA synchronous = FULL"
                                                              : "PRAGMA synchronous = NORMAL"));
  }
  std::unique_ptr<SqliteDb> reader;
  auto store = std::unique_ptr<SqliteStore>(new SqliteStore(options, std::move(writer), nullptr));
  EON_RETURN_IF_ERROR(store->Migrate());
  if (!in_memory) {
    EON_ASSIGN_OR_RETURN(store->reader_, SqliteDb::Open(options.path));
    EON_RETURN_IF_ERROR(store->reader_->Exec("PRAGMA busy_timeout = 5000"));
    EON_RETURN_IF_ERROR(store->reader_->Exec("PRAGMA temp_store = MEMORY"));
  }
  if (options.shard_count > 0) {
    EON_ASSIGN_OR_RETURN(int32_t shards, store->ShardCount());
    if (shards != options.shard_count) {
      return FailedPrecondition(options.path + " was created with " + std::to_string(shards) +
                                " shards and cannot be opened with " +
                                std::to_string(options.shard_count) +
                                ": the shard count is fixed when the database is created");
    }
  }
  store->committer_.Start();
  return store;
}

SqliteStore::SqliteStore(SqliteOptions options, std::unique_ptr<SqliteDb> writer,
                         std::unique_ptr<SqliteDb> reader)
    : options_(std::move(options)),
      writer_(std::move(writer)),
      reader_(std::move(reader)),
      committer_(options_.group_commit_jobs_max, options_.committer_thread,
                 [this](const std::vector<Job*>& jobs, std::vector<Status>& results) {
                   return RunBatch(jobs, results);
                 }) {}

SqliteStore::~SqliteStore() { committer_.Stop(); }

Status SqliteStore::Migrate() {
  std::lock_guard lock(writer_mutex_);
  SqliteDb& db = *writer_;
  int table_count = 0;
  bool has_metadata = false;
  {
    EON_ASSIGN_OR_RETURN(auto stmt,
                         db.Prepare("SELECT name FROM sqlite_master WHERE type = 'table'"));
    while (stmt->Step()) {
      ++table_count;
      if (stmt->ColumnText(0) == "cluster_metadata") has_metadata = true;
    }
    EON_RETURN_IF_ERROR(stmt->status());
  }
  int version = 0;
  if (table_count > 0) {
    std::string marker;
    if (has_metadata) {
      EON_ASSIGN_OR_RETURN(auto stmt, db.Prepare("SELECT key, value FROM cluster_metadata"));
      while (stmt->Step()) {
        std::string key = stmt->ColumnText(0);
        if (key == "database") marker = stmt->ColumnText(1);
        if (key == "schema_version") {
          auto parsed = ParseNumber<int>(stmt->ColumnText(1));
          if (!parsed) return FailedPrecondition("the database's schema_version is not a number");
          version = *parsed;
        }
      }
      EON_RETURN_IF_ERROR(stmt->status());
    }
    if (marker != kDatabaseMarker) {
      return FailedPrecondition(options_.path +
                                " is not an Eon database (it holds other SQLite tables)");
    }
    if (version > kSqliteSchemaVersion) {
      return FailedPrecondition(options_.path + " has schema version " + std::to_string(version) +
                                ", newer than this eon understands (" +
                                std::to_string(kSqliteSchemaVersion) + "); upgrade eon");
    }
  } else {
    EON_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
    Status created = db.Exec(
        "CREATE TABLE cluster_metadata (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO cluster_metadata VALUES ('database', 'eon'), ('schema_version', '0');");
    if (created.ok()) {
      EON_ASSIGN_OR_RETURN(auto stmt, db.Prepare("INSERT INTO cluster_metadata VALUES (?, ?)"));
      const int32_t shards =
          options_.shard_count > 0 ? options_.shard_count : kDefaultShardCountForNewStore;
      created = stmt->Bind(1, "shard_count").Bind(2, std::to_string(shards)).Run();
    }
    if (created.ok()) {
      EON_ASSIGN_OR_RETURN(auto stmt, db.Prepare("INSERT INTO cluster_metadata VALUES (?, ?)"));
      created = stmt->Bind(1, "cluster_id").Bind(2, NewUuid()).Run();
    }
    if (!created.ok()) {
      db.Exec("ROLLBACK");
      return created;
    }
    EON_RETURN_IF_ERROR(db.Exec("COMMIT"));
  }
  for (int v = version; v < kSqliteSchemaVersion; ++v) {
    EON_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
    Status applied = db.Exec(kSqliteMigrations[v]);
    if (applied.ok()) {
      EON_ASSIGN_OR_RETURN(
          auto stmt,
          db.Prepare("UPDATE cluster_metadata SET value = ? WHERE key = 'schema_version'"));
      applied = stmt->Bind(1, std::to_string(v + 1)).Run();
    }
    if (!applied.ok()) {
      db.Exec("ROLLBACK");
      return Internal("schema migration " + std::to_string(v + 1) +
                      " failed: " + applied.message());
    }
    EON_RETURN_IF_ERROR(db.Exec("COMMIT"));
    LOG_INFO("database schema migrated to version " << v + 1);
  }
  return Status::Ok();
}

template <typename Fn>
auto SqliteStore::Read(Fn&& fn) {
  if (reader_) {
    std::lock_guard lock(reader_mutex_);
    return fn(*reader_);
  }
  std::lock_guard lock(writer_mutex_);
  return fn(*writer_);
}

Status SqliteStore::RunBatch(const std::vector<Job*>& jobs, std::vector<Status>& results) {
  std::lock_guard lock(writer_mutex_);
  SqliteDb& db = *writer_;
  Status txn = db.Run("BEGIN IMMEDIATE");
  for (size_t i = 0; txn.ok() && i < jobs.size(); ++i) {
    txn = db.Run("SAVEPOINT job");
    if (!txn.ok()) break;
    results[i] = (*jobs[i])(db);
    txn = results[i].ok() ? db.Run("RELEASE job") : db.Exec("ROLLBACK TO job; RELEASE job");
  }
  if (txn.ok()) txn = db.Run("COMMIT");
  if (!txn.ok()) {
    db.Exec("ROLLBACK");
    LOG_ERROR("group commit of " << jobs.size() << " jobs failed: " << txn.message());
  }
  return txn;
}

Result<int32_t> SqliteStore::ShardCount() {
  return Read([](SqliteDb& db) -> Result<int32_t> {
    EON_ASSIGN_OR_RETURN(
        auto stmt, db.Prepare("SELECT value FROM cluster_metadata WHERE key = 'shard_count'"));
    if (!stmt->Step()) return Internal("cluster_metadata has no shard_count");
    auto parsed = ParseNumber<int32_t>(stmt->ColumnText(0));
    if (!parsed || *parsed <= 0) return Internal("cluster_metadata has a bad shard_count");
    return *parsed;
  });
}

namespace {
// Takes one shard: its range_id goes up by one (1 for a new row), which fences out whoever held
// it before. Returns the new range_id.
Result<int64_t> BumpRangeId(SqliteDb& db, int32_t shard_id) {
  EON_ASSIGN_OR_RETURN(
      auto up,
      db.Prepare("INSERT INTO shards (shard_id, range_id) VALUES (?, 1) "
                 "ON CONFLICT (shard_id) DO UPDATE SET range_id = range_id + 1 RETURNING range_id"));
  up->Bind(1, shard_id);
  if (!up->Step())
    return up->status().ok() ? Internal("shard upsert returned no row") : up->status();
  return up->ColumnInt(0);
}
}  // namespace

Result<std::vector<int64_t>> SqliteStore::AcquireShards() {
  EON_ASSIGN_OR_RETURN(int32_t shard_count, ShardCount());
  std::vector<int64_t> range_ids(shard_count);
  EON_RETURN_IF_ERROR(Write([&](SqliteDb& db) -> Status {
    for (int32_t shard = 0; shard < shard_count; ++shard) {
      EON_ASSIGN_OR_RETURN(range_ids[shard], BumpRangeId(db, shard));
    }
    return Status::Ok();
  }));
  return range_ids;
}

Result<int64_t> SqliteStore::AcquireShard(int32_t shard_id) {
  EON_ASSIGN_OR_RETURN(int32_t shard_count, ShardCount());
  if (shard_id < 0 || shard_id >= shard_count)
    return InvalidArgument("no shard " + std::to_string(shard_id));
  int64_t range_id = 0;
  EON_RETURN_IF_ERROR(Write([&](SqliteDb& db) -> Status {
    EON_ASSIGN_OR_RETURN(range_id, BumpRangeId(db, shard_id));
    return Status::Ok();
  }));
  return range_id;
}

Status SqliteStore::PutMember(const MemberRow& row) {
  return Write([&](SqliteDb& db) -> Status {
    EON_ASSIGN_OR_RETURN(
        auto up, db.Prepare("INSERT INTO cluster_members (name, internal_address, lease_expiry_ns) "
                            "VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                            "internal_address = excluded.internal_address, "
                            "lease_expiry_ns = excluded.lease_expiry_ns"));
    up->Bind(1, row.name).Bind(2, row.internal_address).Bind(3, row.lease_expiry_ns);
    up->Step();
    return up->status();
  });
}

Status SqliteStore::DeleteMember(const std::string& name) {
  return Write([&](SqliteDb& db) -> Status {
    EON_ASSIGN_OR_RETURN(auto del, db.Prepare("DELETE FROM cluster_members WHERE name = ?"));
    del->Bind(1, name);
    del->Step();
    return del->status();
  });
}

Result<std::vector<MemberRow>> SqliteStore::ListMembers() {
  return Read([](SqliteDb& db) -> Result<std::vector<MemberRow>> {
    EON_ASSIGN_OR_RETURN(auto stmt, db.Prepare("SELECT name, internal_address, lease_expiry_ns "
                                               "FROM cluster_members ORDER BY name"));
    std::vector<MemberRow> out;
    while (stmt->Step()) {
      out.push_back({stmt->ColumnText(0), stmt->ColumnText(1), stmt->ColumnInt(2)});
    }
    EON_RETURN_IF_ERROR(stmt->status());
    return out;
  });
}

Status SqliteStore::CreateNamespace(const eon::v1::NamespaceRecord& record) {
  return Write([&](SqliteDb& db) -> Status {
    EON_ASSIGN_OR_RETURN(
        auto stmt,
        db.Prepare(
            "INSERT INTO namespaces (id, name, data) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"));
    EON_ASSIGN_OR_RETURN(auto blob, SerializeRecord(record, "namespace"));
    EON_RETURN_IF_ERROR(
        stmt->Bind(1, record.info().id()).Bind(2, record.info().name()).BindBlob(3, blob).Run());
    if (db.Changes() == 0) return AlreadyExists("Namespace already exists.");
    return Status::Ok();
  });
}

Status SqliteStore::UpdateNamespace(const eon::v1::NamespaceRecord& record) {
  return Write([&](SqliteDb& db) -> Status {
    {
      EON_ASSIGN_OR_RETURN(auto read, db.Prepare("SELECT data FROM namespaces WHERE id = ?"));
      read->Bind(1, record.info().id());
      if (!read->Step()) {
        EON_RETURN_IF_ERROR(read->status());
        return NotFound("namespace " + record.info().name() + " is gone");
      }
      EON_ASSIGN_OR_RETURN(auto stored,
                           ParseStored<eon::v1::NamespaceRecord>(read->ColumnBlob(0), "namespace"));
      if (stored.record_version() != record.record_version() - 1) {
        return Aborted("namespace " + record.info().name() + " was changed concurrently");
      }
    }
    EON_ASSIGN_OR_RETURN(auto stmt, db.Prepare("UPDATE namespaces SET data = ? WHERE id = ?"));
    EON_ASSIGN_OR_RETURN(auto blob, SerializeRecord(record, "namespace"));
    EON_RETURN_IF_ERROR(stmt->BindBlob(1, blob).Bind(2, record.info().id()).Run());
    if (db.Changes() != 1) return NotFound("namespace " + record.info().name() + " is gone");
    return Status::Ok();
  });
}

Status SqliteStore::DeleteNamespaceData(const std::string& namespace_id) {
  return Write([&](SqliteDb& db) -> Status {
    for (const char* table : {"executions", "current_executions", "history_events", "visibility",
                              "task_queue_tasks", "search_attributes", "schedules"}) {
      EON_ASSIGN_OR_RETURN(
          auto stmt, db.Prepare(std::string("DELETE FROM ") + table + " WHERE namespace_id = ?"));
      EON_RETURN_IF_ERROR(stmt->Bind(1, namespace_id).Run());
    }
    EON_ASSIGN_OR_RETURN(auto stmt, db.Prepare("DELETE FROM namespaces WHERE id = ?"));
    return stmt->Bind(1, namespace_id).Run();
  });
}

Status SqliteStore::DeleteExecution(const ExecutionKey& key) {
  return Write([&](SqliteDb& db) -> Status {
    static const char* const kDeletes[] = {
        "DELETE FROM executions WHERE namespace_id = ?1 AND workflow_id = ?2 AND run_id = ?3",
        "DELETE FROM history_events WHERE namespace_id = ?1 AND run_id = ?3 AND ?2 = ?2",
        "DELETE FROM visibility WHERE namespace_id = ?1 AND run_id = ?3 AND ?2 = ?2",
        "DELETE FROM current_executions WHERE namespace_id = ?1 AND workflow_id = ?2 AND "
        "run_id = ?3",
    };
    for (const char* sql : kDeletes) {
      EON_ASSIGN_OR_RETURN(auto stmt, db.Prepare(sql));
      EON_RETURN_IF_ERROR(
          stmt->Bind(1, key.namespace_id).Bind(2, key.workflow_id).Bind(3, key.run_id).Run());
    }
    return Status::Ok();
  });
}

Result<std::vector<eon::v1::NamespaceRecord>> SqliteStore::ListNamespaces() {
  return Read([](SqliteDb& db) -> Result<std::vector<eon::v1::NamespaceRecord>> {
    EON_ASSIGN_OR_RETURN(auto stmt, db.Prepare("SELECT data FROM namespaces ORDER BY name"));
    std::vector<eon::v1::NamespaceRecord> out;
    while (stmt->Step()) {
      EON_ASSIGN_OR_RETURN(auto record,
                           ParseStored<eon::v1::NamespaceRecord>(stmt->ColumnBlob(0), "namespace"));
      out.push_back(std::move(record));
    }
    EON_RETURN_IF_ERROR(stmt->status());
    return out;
  });
}

Result<CurrentExecution> SqliteStore::GetCurrentExecution(const std::string& namespace_id,
                                                          const std::string& workflow_id) {
  metrics::PersistenceTimer timer("GetCurrentExecution");
  return Read([&](SqliteDb& db) -> Result<CurrentExecution> {
    EON_ASSIGN_OR_RETURN(
        auto stmt, db.Prepare("SELECT run_id, status, create_request_id FROM current_executions "
                              "WHERE namespace_id = ? AND workflow_id = ?"));
    stmt->Bind(1, namespace_id).Bind(2, workflow_id);
    if (!stmt->Step()) {
      EON_RETURN_IF_ERROR(stmt->status());
      return NotFound("workflow not found for ID: " + workflow_id);
    }
    CurrentExecution current;
    current.run_id = stmt->ColumnText(0);
    current.status =
        static_cast<temporal::api::enums::v1::WorkflowExecutionStatus>(stmt->ColumnInt(1));
    current.create_request_id = stmt->ColumnText(2);
    return current;
  });
}

Result<StoredExecution> SqliteStore::GetExecution(const ExecutionKey& key) {
  metrics::PersistenceTimer timer("GetWorkflowExecution");
  return Read([&](SqliteDb& db) -> Result<StoredExecution> {
    EON_ASSIGN_OR_RETURN(auto stmt,
                         db.Prepare("SELECT db_version, state FROM executions "
                                    "WHERE namespace_id = ? AND workflow_id = ? AND run_id = ?"));
    stmt->Bind(1, key.namespace_id).Bind(2, key.workflow_id).Bind(3, key.run_id);
    if (!stmt->Step()) {
      EON_RETURN_IF_ERROR(stmt->status());
      return NotFound("workflow execution not found: " + key.workflow_id + "/" + key.run_id);
    }
    StoredExecution out;
    out.db_version = stmt->ColumnInt(0);
    EON_ASSIGN_OR_RETURN(out.state,
                         ParseStored<eon::v1::ExecutionState>(stmt->ColumnBlob(1), "execution"));
    return out;
  });
}

namespace {
// Writes a run's listing row, unless the row holds a later state already (a higher
// state_transition_count: two writes of one run may arrive out of order). A run's id, type and
// start time never change, so an update leaves them (and the three indexes keyed by them) alone:
// SQLite rewrites an index only when its columns are SET.
Status WriteVisibilityRow(SqliteDb& db, const VisibilityRow& row) {
  EON_ASSIGN_OR_RETURN(
      auto stmt,
      db.Prepare(
          "INSERT INTO visibility (namespace_id, run_id, workflow_id, "
          "workflow_type, status, start_time_ns, close_time_ns, execution_time_ns, "
          "execution_duration_ns, task_queue, history_length, history_size_bytes, "
          "state_transition_count, parent_workflow_id, parent_run_id, root_workflow_id, "
          "root_run_id, search_attributes, info) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
          "ON CONFLICT (namespace_id, run_id) DO UPDATE SET status = excluded.status, "
          "close_time_ns = excluded.close_time_ns, execution_time_ns = excluded.execution_time_ns, "
          "execution_duration_ns = excluded.execution_duration_ns, task_queue = "
          "excluded.task_queue, history_length = excluded.history_length, "
          "history_size_bytes = excluded.history_size_bytes, state_transition_count = "
          "excluded.state_transition_count, parent_workflow_id = "
          "excluded.parent_workflow_id, parent_run_id = excluded.parent_run_id, "
          "root_workflow_id = excluded.root_workflow_id, root_run_id = "
          "excluded.root_run_id, search_attributes = excluded.search_attributes, info = "
          "excluded.info WHERE excluded.state_transition_count >= "
          "visibility.state_transition_count"));
  return stmt->Bind(1, row.namespace_id)
      .Bind(2, row.run_id)
      .Bind(3, row.workflow_id)
      .Bind(4, row.workflow_type)
      .Bind(5, row.status)
      .Bind(6, row.start_time_ns)
      .BindOptional(7, row.close_time_ns)
      .BindOptional(8, row.execution_time_ns)
      .BindOptional(9, row.execution_duration_ns)
      .Bind(10, row.task_queue)
      .Bind(11, row.history_length)
      .Bind(12, row.history_size_bytes)
      .Bind(13, row.state_transition_count)
      .BindOptional(14, row.parent_workflow_id)
      .BindOptional(15, row.parent_run_id)
      .BindOptional(16, row.root_workflow_id)
      .BindOptional(17, row.root_run_id)
      .Bind(18, row.search_attributes_json)
      .BindBlob(19, row.info)
      .Run();
}

}  // namespace

Status SqliteStore::ApplyExecutionWrite(SqliteDb& db, const ExecutionWrite& write,
                                        std::vector<StoredTask>* created) {
  const auto& state = write.state;
  EON_ASSIGN_OR_RETURN(auto state_blob, SerializeRecord(state, "execution"));
  {
    EON_ASSIGN_OR_RETURN(auto stmt, db.Prepare("SELECT range_id FROM shards WHERE shard_id = ?"));
    stmt->Bind(1, write.shard_id);
    if (!stmt->Step() || stmt->ColumnInt(0) != write.range_id) {
      EON_RETURN_IF_ERROR(stmt->status());
      return ShardOwnershipLost(write.shard_id, write.range_id);
    }
  }
  if (write.expected_db_version == 0) {
    // A new run: the workflow id must point where the caller saw it point.
    {
      EON_ASSIGN_OR_RETURN(
          auto stmt,
          db.Prepare(
              "SELECT run_id FROM current_executions WHERE namespace_id = ? AND workflow_id = ?"));
      stmt->Bind(1, state.namespace_id()).Bind(2, state.workflow_id());
      std::string current = stmt->Step() ? stmt->ColumnText(0) : std::string();
      EON_RETURN_IF_ERROR(stmt->status());
      if (current != write.expected_current_run_id) {
        return Aborted("the current run of workflow " + state.workflow_id() + " changed");
      }
    }
    EON_ASSIGN_OR_RETURN(auto insert,
                         db.Prepare("INSERT INTO executions (namespace_id, workflow_id, run_id, "
                                    "shard_id, db_version, state) "
                                    "VALUES (?, ?, ?, ?, 1, ?)"));
    EON_RETURN_IF_ERROR(insert->Bind(1, state.namespace_id())
                            .Bind(2, state.workflow_id())
                            .Bind(3, state.run_id())
                            .Bind(4, write.shard_id)
                            .BindBlob(5, state_blob)
                            .Run());
    EON_ASSIGN_OR_RETURN(
        auto current,
        db.Prepare(
            "INSERT INTO current_executions (namespace_id, workflow_id, run_id, status, "
            "create_request_id) VALUES (?, ?, ?, ?, ?) ON CONFLICT (namespace_id, workflow_id) DO "
            "UPDATE SET run_id = excluded.run_id, status = excluded.status, "
            "create_request_id = excluded.create_request_id"));
    EON_RETURN_IF_ERROR(current->Bind(1, state.namespace_id())
                            .Bind(2, state.workflow_id())
                            .Bind(3, state.run_id())
                            .Bind(4, static_cast<int64_t>(state.status()))
                            .Bind(5, state.create_request_id())
                            .Run());
  } else {
    EON_ASSIGN_OR_RETURN(
        auto update,
        db.Prepare("UPDATE executions SET db_version = ?, state = ? "
                   "WHERE namespace_id = ? AND workflow_id = ? AND run_id = ? AND db_version = ?"));
    EON_RETURN_IF_ERROR(update->Bind(1, write.expected_db_version + 1)
                            .BindBlob(2, state_blob)
                            .Bind(3, state.namespace_id())
                            .Bind(4, state.workflow_id())
                            .Bind(5, state.run_id())
                            .Bind(6, write.expected_db_version)
                            .Run());
    if (db.Changes() != 1) {
      return Aborted("workflow execution " + state.workflow_id() + " was changed concurrently");
    }
    EON_ASSIGN_OR_RETURN(
        auto current,
        db.Prepare("UPDATE current_executions SET status = ? "
                   "WHERE namespace_id = ? AND workflow_id = ? AND run_id = ? AND status != ?"));
    EON_RETURN_IF_ERROR(current->Bind(1, static_cast<int64_t>(state.status()))
                            .Bind(2, state.namespace_id())
                            .Bind(3, state.workflow_id())
                            .Bind(4, state.run_id())
                            .Bind(5, static_cast<int64_t>(state.status()))
                            .Run());
  }
  if (!write.new_events.empty()) {
    EON_ASSIGN_OR_RETURN(auto insert, db.Prepare("INSERT INTO history_events (namespace_id, "
                                                 "run_id, event_id, data) VALUES (?, ?, ?, ?)"));
    for (const auto& event : write.new_events) {
      EON_ASSIGN_OR_RETURN(auto blob, SerializeRecord(event, "history event"));
      Status s = insert->Bind(1, state.namespace_id())
                     .Bind(2, state.run_id())
                     .Bind(3, event.event_id())
                     .BindBlob(4, blob)
                     .Run();
      if (!s.ok())
        return Aborted("history event " + std::to_string(event.event_id()) +
                       " already written: " + s.message());
      insert->Reset();
    }
  }
  if (!write.new_tasks.empty()) {
    EON_ASSIGN_OR_RETURN(
        auto insert,
        db.Prepare(
            "INSERT INTO tasks (shard_id, category, visibility_ns, data) VALUES (?, ?, ?, ?) "
            "RETURNING task_id"));
    for (const auto& task : write.new_tasks) {
      int64_t visibility_ns = task.category == TaskCategory::kTimer
                                  ? ToUnixNanos(FromTimestamp(task.task.fire_time()))
                                  : 0;
      EON_ASSIGN_OR_RETURN(auto blob, SerializeRecord(task.task, "task"));
      insert->Bind(1, write.shard_id)
          .Bind(2, static_cast<int64_t>(task.category))
          .Bind(3, visibility_ns)
          .BindBlob(4, blob);
      if (!insert->Step())
        return insert->status().ok() ? Internal("task insert returned no id") : insert->status();
      created->push_back({write.shard_id, task.category, insert->ColumnInt(0), task.task});
      EON_RETURN_IF_ERROR(insert->Run());
      insert->Reset();
    }
  }
  if (write.visibility) EON_RETURN_IF_ERROR(WriteVisibilityRow(db, *write.visibility));
  return Status::Ok();
}

Result<HistoryPage> SqliteStore::ReadHistory(const std::string& namespace_id,
                                             const std::string& run_id, int64_t first_event_id,
                                             int max_events) {
  metrics::PersistenceTimer timer("ReadHistoryBranch");
  return Read([&](SqliteDb& db) -> Result<HistoryPage> {
    EON_ASSIGN_OR_RETURN(auto stmt, db.Prepare("SELECT data FROM history_events WHERE namespace_id "
                                               "= ? AND run_id = ? AND event_id >= ? "
                                               "ORDER BY event_id LIMIT ?"));
    stmt->Bind(1, namespace_id).Bind(2, run_id).Bind(3, first_event_id).Bind(4, max_events + 1);
    HistoryPage page;
    while (stmt->Step()) {
      EON_ASSIGN_OR_RETURN(auto event, ParseStored<temporal::api::history::v1::HistoryEvent>(
                                           stmt->ColumnBlob(0), "history event"));
      if (static_cast<int>(page.events.size()) == max_events) {
        page.next_event_id = event.event_id();
        break;
      }
      page.events.push_back(std::move(event));
    }
    EON_RETURN_IF_ERROR(stmt->status());
    return page;
  });
}

namespace {
Result<std::vector<StoredTask>> ReadTasks(Statement& stmt, int32_t shard_id,
                                          TaskCategory category) {
  std::vector<StoredTask> out;
  while (stmt.Step()) {
    StoredTask task;
    task.shard_id = shard_id;
    task.category = category;
    task.task_id = stmt.ColumnInt(0);
    EON_ASSIGN_OR_RETURN(task.task, ParseStored<eon::v1::HistoryTask>(stmt.ColumnBlob(1), "task"));
    out.push_back(std::move(task));
  }
  EON_RETURN_IF_ERROR(stmt.status());
  return out;
}
}  // namespace

Result<std::vector<StoredTask>> SqliteStore::LoadTransferTasks(int32_t shard_id,
                                                               int64_t after_task_id, int limit) {
  metrics::PersistenceTimer timer("GetTransferTasks");
  return Read([&](SqliteDb& db) -> Result<std::vector<StoredTask>> {
    EON_ASSIGN_OR_RETURN(
        auto stmt,
        db.Prepare("SELECT task_id, data FROM tasks WHERE shard_id = ? AND category = ? AND "
                   "visibility_ns = 0 AND task_id > ? ORDER BY task_id LIMIT ?"));
    stmt->Bind(1, shard_id)
        .Bind(2, static_cast<int64_t>(TaskCategory::kTransfer))
        .Bind(3, after_task_id)
        .Bind(4, limit);
    return ReadTasks(*stmt, shard_id, TaskCategory::kTransfer);
  });
}

Result<std::vector<StoredTask>> SqliteStore::LoadTimerTasks(int32_t shard_id, TimePoint until,
                                                            TimePoint after_time,
                                                            int64_t after_task_id, int limit) {
  metrics::PersistenceTimer timer("GetTimerTasks");
  return Read([&](SqliteDb& db) -> Result<std::vector<StoredTask>> {
    EON_ASSIGN_OR_RETURN(
        auto stmt,
        db.Prepare("SELECT task_id, data FROM tasks WHERE shard_id = ? AND category = ? AND "
                   "visibility_ns <= ? AND (visibility_ns > ? OR (visibility_ns = ? AND "
                   "task_id > ?)) ORDER BY visibility_ns, task_id LIMIT ?"));
    const int64_t after_ns = ToUnixNanos(after_time);
    stmt->Bind(1, shard_id)
        .Bind(2, static_cast<int64_t>(TaskCategory::kTimer))
        .Bind(3, ToUnixNanos(until))
        .Bind(4, after_ns)
        .Bind(5, after_ns)
        .Bind(6, after_task_id)
        .Bind(7, limit);
    return ReadTasks(*stmt, shard_id, TaskCategory::kTimer);
  });
}

Result<std::optional<TimePoint>> SqliteStore::NextTimerTime() {
  return Read([&](SqliteDb& db) -> Result<std::optional<TimePoint>> {
    EON_ASSIGN_OR_RETURN(
        auto stmt,
        db.Prepare("SELECT MIN(visibility_ns) FROM tasks WHERE category = ? AND task_id NOT IN "
                   "(SELECT task_id FROM parked_tasks)"));
    stmt->Bind(1, static_cast<int64_t>(TaskCategory::kTimer));
    if (!stmt->Step()) {
      EON_RETURN_IF_ERROR(stmt->status());
      return std::optional<TimePoint>();
    }
    if (sqlite3_column_type(stmt->raw(), 0) == SQLITE_NULL) return std::optional<TimePoint>();
    return std::optional<TimePoint>(FromUnixNanos(stmt->ColumnInt(0)));
  });
}

Status SqliteStore::DeleteTasks(const std::vector<StoredTask>& tasks) {
  metrics::PersistenceTimer timer("CompleteHistoryTasks");
  if (tasks.empty()) return Status::Ok();
  return Write([&](SqliteDb& db) -> Status {
    EON_ASSIGN_OR_RETURN(auto stmt, db.Prepare("DELETE FROM tasks WHERE task_id = ?"));
    EON_ASSIGN_OR_RETURN(auto unpark, db.Prepare("DELETE FROM parked_tasks WHERE task_id = ?"));
    for (const auto& task : tasks) {
      stmt->Bind(1, task.task_id);
      EON_RETURN_IF_ERROR(stmt->Run());
      stmt->Reset();
      unpark->Bind(1, task.task_id);
      EON_RETURN_IF_ERROR(unpark->Run());
      unpark->Reset();
    }
    return Status::Ok();
  });
}

Status SqliteStore::ParkTask(const ParkedTask& parked) {
  return Write([&](SqliteDb& db) -> Status {
    EON_ASSIGN_OR_RETURN(auto stmt, db.Prepare("INSERT OR REPLACE INTO parked_tasks (task_id, "
                                               "failures, last_error, parked_time_ns) VALUES "
                                               "(?, ?, ?, ?)"));
    return stmt->Bind(1, parked.task.task_id)
        .Bind(2, static_cast<int64_t>(parked.failures))
        .Bind(3, parked.last_error)
        .Bind(4, ToUnixNanos(parked.parked_time))
        .Run();
  });
}

Status SqliteStore::UnparkTasks(const std::vector<int64_t>& task_ids) {
  if (task_ids.empty()) return Status::Ok();
  return Write([&](SqliteDb& db) -> Status {
    EON_ASSIGN_OR_RETURN(auto stmt, db.Prepare("DELETE FROM parked_tasks WHERE task_id = ?"));
    for (int64_t id : task_ids) {
      stmt->Bind(1, id);
      EON_RETURN_IF_ERROR(stmt->Run());
      stmt->Reset();
    }
    return Status::Ok();
  });
}

Result<std::vector<ParkedTask>> SqliteStore::LoadParkedTasks() {
  return Read([&](SqliteDb& db) -> Result<std::vector<ParkedTask>> {
    // A mark whose task is gone (deleted with its execution) is not listed.
    EON_ASSIGN_OR_RETURN(
        auto stmt, db.Prepare("SELECT t.task_id, t.shard_id, t.category, t.data, p.failures, "
                              "p.last_error, p.parked_time_ns FROM parked_tasks p JOIN tasks t "
                              "ON t.task_id = p.task_id ORDER BY p.task_id"));
    std::vector<ParkedTask> out;
    while (stmt->Step()) {
      ParkedTask parked;
      parked.task.task_id = stmt->ColumnInt(0);
      parked.task.shard_id = static_cast<int32_t>(stmt->ColumnInt(1));
      parked.task.category = stmt->ColumnInt(2) == static_cast<int64_t>(TaskCategory::kTimer)
                                 ? TaskCategory::kTimer
                                 : TaskCategory::kTransfer;
      EON_ASSIGN_OR_RETURN(parked.task.task,
                           ParseStored<eon::v1::HistoryTask>(stmt->ColumnBlob(3), "task"));
      parked.failures = static_cast<int>(stmt->ColumnInt(4));
      parked.last_error = stmt->ColumnText(5);
      parked.parked_time = FromUnixNanos(stmt->ColumnInt(6));
      out.push_back(std::move(parked));
    }
    EON_RETURN_IF_ERROR(stmt->status());
    return out;
  });
}

Status SqliteStore::PutBatchOperation(const std::string& namespace_name, const std::string& job_id,
                                      const std::string& record) {
  return Write([&](SqliteDb& db) -> Status {
    // An update keeps the row (and its place in the order).
    EON_ASSIGN_OR_RETURN(auto stmt, db.Prepare("INSERT INTO batch_operations (namespace, job_id, "
                                               "record) VALUES (?, ?, ?) ON CONFLICT (namespace, "
                                               "job_id) DO UPDATE SET record = excluded.record"));
    return stmt->Bind(1, namespace_name).Bind(2, job_id).BindBlob(3, record).Run();
  });
}

Status SqliteStore::DeleteBatchOperation(const std::string& namespace_name,
                                         const std::string& job_id) {
  return Write([&](SqliteDb& db) -> Status {
    EON_ASSIGN_OR_RETURN(
        auto stmt, db.Prepare("DELETE FROM batch_operations WHERE namespace = ? AND job_id = ?"));
    EON_RETURN_IF_ERROR(stmt->Bind(1, namespace_name).Bind(2, job_id).Run());
    if (db.Changes() == 0) return NotFound("batch operation " + job_id + " not found");
    return Status::Ok();
  });
}

Result<std::vector<std::pair<std::string, std::string>>> SqliteStore::LoadBatchOperations() {
  return Read([&](SqliteDb& db) -> Result<std::vector<std::pair<std::string, std::string>>> {
    EON_ASSIGN_OR_RETURN(auto stmt,
                         db.Prepare("SELECT namespace, record FROM batch_operations ORDER BY seq"));
    std::vector<std::pair<std::string, std::string>> out;
    while (stmt->Step()) out.emplace_back(stmt->ColumnText(0), stmt->ColumnBlob(1));
    EON_RETURN_IF_ERROR(stmt->status());
    return out;
  });
}

Status SqliteStore::AddQueueTask(const std::string& namespace_id, const std::string& queue,
                                 int kind, int64_t task_id, const eon::v1::QueueTask& task) {
  metrics::PersistenceTimer timer("CreateTasks");
  return Write([&](SqliteDb& db) -> Status {
    EON_ASSIGN_OR_RETURN(auto blob, SerializeRecord(task, "queue task"));
    EON_ASSIGN_OR_RETURN(auto stmt, db.Prepare("INSERT INTO task_queue_tasks (task_id, "
                                               "namespace_id, task_queue, kind, data) VALUES "
                                               "(?, ?, ?, ?, ?)"));
    return stmt->Bind(1, task_id)
        .Bind(2, namespace_id)
        .Bind(3, queue)
        .Bind(4, kind)
        .BindBlob(5, blob)
        .Run();
  });
}

Result<int64_t> SqliteStore::MaxQueueTaskId() {
  return Read([&](SqliteDb& db) -> Result<int64_t> {
    EON_ASSIGN_OR_RETURN(auto stmt,
                         db.Prepare("SELECT COALESCE(MAX(task_id), 0) FROM task_queue_tasks"));
    if (!stmt->Step()) return stmt->status().ok() ? Internal("no max task id") : stmt->status();
    return stmt->ColumnInt(0);
  });
}

Result<std::vector<QueueTaskRecord>> SqliteStore::LoadQueueTasks(const std::string& namespace_id,
                                                                 const std::string& queue, int kind,
                                                                 int64_t after_task_id, int limit) {
  metrics::PersistenceTimer timer("GetTasks");
  return Read([&](SqliteDb& db) -> Result<std::vector<QueueTaskRecord>> {
    EON_ASSIGN_OR_RETURN(
        auto stmt,
        db.Prepare(
            "SELECT task_id, data FROM task_queue_tasks WHERE namespace_id = ? AND task_queue = ? "
            "AND kind = ? AND task_id > ? ORDER BY task_id LIMIT ?"));
    stmt->Bind(1, namespace_id).Bind(2, queue).Bind(3, kind).Bind(4, after_task_id).Bind(5, limit);
    std::vector<QueueTaskRecord> out;
    while (stmt->Step()) {
      QueueTaskRecord record;
      record.task_id = stmt->ColumnInt(0);
      EON_ASSIGN_OR_RETURN(record.task,
                           ParseStored<eon::v1::QueueTask>(stmt->ColumnBlob(1), "queue task"));
      out.push_back(std::move(record));
    }
    EON_RETURN_IF_ERROR(stmt->status());
    return out;
  });
}

Result<std::vector<Store::QueueName>> SqliteStore::ListBackloggedQueues() {
  return Read([&](SqliteDb& db) -> Result<std::vector<QueueName>> {
    EON_ASSIGN_OR_RETURN(
        auto stmt,
        db.Prepare("SELECT DISTINCT namespace_id, task_queue, kind FROM task_queue_tasks"));
    std::vector<QueueName> out;
    while (stmt->Step()) {
      out.push_back(
          {stmt->ColumnText(0), stmt->ColumnText(1), static_cast<int>(stmt->ColumnInt(2))});
    }
    EON_RETURN_IF_ERROR(stmt->status());
    return out;
  });
}

Status SqliteStore::DeleteQueueTask(const std::string& namespace_id, const std::string& queue,
                                    int kind, int64_t task_id) {
  metrics::PersistenceTimer timer("CompleteTask");
  return Write([&](SqliteDb& db) -> Status {
    EON_ASSIGN_OR_RETURN(auto stmt, db.Prepare("DELETE FROM task_queue_tasks WHERE task_id = ?"));
    return stmt->Bind(1, task_id).Run();
  });
}

Status SqliteStore::UpsertVisibility(const VisibilityRow& row) {
  metrics::PersistenceTimer timer("UpsertWorkflowExecution");
  return Write([&](SqliteDb& db) { return WriteVisibilityRow(db, row); });
}

namespace {
void BindFilter(Statement& stmt, int first_index, const SqlFilter& filter) {
  int index = first_index;
  for (const auto& value : filter.params) {
    if (const auto* i = std::get_if<int64_t>(&value))
      stmt.Bind(index, *i);
    else if (const auto* d = std::get_if<double>(&value))
      stmt.BindDouble(index, *d);
    else
      stmt.Bind(index, std::get<std::string>(value));
    ++index;
  }
}

// `info` of a listing table's matching rows (visibility or schedules: the same columns).
Result<std::vector<std::string>> ListInfo(SqliteDb& db, const char* table,
                                          const std::string& namespace_id,
                                          const SqlFilter& filter, int limit,
                                          int64_t offset) {
  EON_ASSIGN_OR_RETURN(
      auto stmt,
      db.Prepare("SELECT info FROM " + std::string(table) + " WHERE namespace_id = ? AND (" +
                 filter.where + ") ORDER BY " + filter.order_by + " LIMIT ? OFFSET ?"));
  stmt->Bind(1, namespace_id);
  BindFilter(*stmt, 2, filter);
  const int next = 2 + static_cast<int>(filter.params.size());
  stmt->Bind(next, static_cast<int64_t>(limit)).Bind(next + 1, offset);
  std::vector<std::string> out;
  while (stmt->Step()) out.emplace_back(stmt->ColumnBlob(0));
  EON_RETURN_IF_ERROR(stmt->status());
  return out;
}
}  // namespace

Result<std::vector<std::string>> SqliteStore::ListVisibility(const std::string& namespace_id,
                                                             const VisibilityFilter& filter,
                                                             int limit, int64_t offset) {
  metrics::PersistenceTimer timer("ListWorkflowExecutions");
  EON_ASSIGN_OR_RETURN(SqlFilter sql, RenderSqliteFilter(filter));
  return Read([&](SqliteDb& db) -> Result<std::vector<std::string>> {
    return ListInfo(db, "visibility", namespace_id, sql, limit, offset);
  });
}

Result<std::vector<std::pair<int64_t, int64_t>>> SqliteStore::CountVisibility(
    const std::string& namespace_id, const VisibilityFilter& filter) {
  metrics::PersistenceTimer timer("CountWorkflowExecutions");
  EON_ASSIGN_OR_RETURN(SqlFilter rendered, RenderSqliteFilter(filter));
  return Read([&](SqliteDb& db) -> Result<std::vector<std::pair<int64_t, int64_t>>> {
    std::string group = rendered.group_by.empty() ? "0" : rendered.group_by;
    std::string sql = "SELECT " + group +
                      ", COUNT(*) FROM visibility WHERE namespace_id = ? AND (" + rendered.where +
                      ")";
    if (!rendered.group_by.empty()) sql += " GROUP BY " + rendered.group_by;
    EON_ASSIGN_OR_RETURN(auto stmt, db.Prepare(sql));
    stmt->Bind(1, namespace_id);
    BindFilter(*stmt, 2, rendered);
    std::vector<std::pair<int64_t, int64_t>> out;
    while (stmt->Step()) out.emplace_back(stmt->ColumnInt(0), stmt->ColumnInt(1));
    EON_RETURN_IF_ERROR(stmt->status());
    return out;
  });
}

Result<std::map<std::string, int>> SqliteStore::SearchAttributes(const std::string& namespace_id) {
  return Read([&](SqliteDb& db) -> Result<std::map<std::string, int>> {
    EON_ASSIGN_OR_RETURN(
        auto stmt, db.Prepare("SELECT name, type FROM search_attributes WHERE namespace_id = ?"));
    stmt->Bind(1, namespace_id);
    std::map<std::string, int> out;
    while (stmt->Step()) out[stmt->ColumnText(0)] = static_cast<int>(stmt->ColumnInt(1));
    EON_RETURN_IF_ERROR(stmt->status());
    return out;
  });
}

Status SqliteStore::AddSearchAttribute(const std::string& namespace_id, const std::string& name,
                                       int type) {
  return Write([&](SqliteDb& db) -> Status {
    EON_ASSIGN_OR_RETURN(auto stmt, db.Prepare("SELECT type FROM search_attributes WHERE "
                                               "namespace_id = ? AND name = ?"));
    stmt->Bind(1, namespace_id).Bind(2, name);
    if (stmt->Step()) {
      if (stmt->ColumnInt(0) == type) return Status::Ok();
      return AlreadyExists("search attribute " + name + " already exists with another type");
    }
    EON_RETURN_IF_ERROR(stmt->status());
    EON_ASSIGN_OR_RETURN(auto insert, db.Prepare("INSERT INTO search_attributes VALUES (?, ?, ?)"));
    return insert->Bind(1, namespace_id).Bind(2, name).Bind(3, static_cast<int64_t>(type)).Run();
  });
}

Status SqliteStore::RemoveSearchAttribute(const std::string& namespace_id,
                                          const std::string& name) {
  return Write([&](SqliteDb& db) -> Status {
    EON_ASSIGN_OR_RETURN(auto stmt, db.Prepare("DELETE FROM search_attributes WHERE "
                                               "namespace_id = ? AND name = ?"));
    EON_RETURN_IF_ERROR(stmt->Bind(1, namespace_id).Bind(2, name).Run());
    if (db.Changes() == 0) return NotFound("search attribute " + name + " does not exist");
    return Status::Ok();
  });
}

Status SqliteStore::CreateSchedule(const eon::v1::ScheduleRecord& record,
                                   const ScheduleListing& listing) {
  return Write([&](SqliteDb& db) -> Status {
    EON_ASSIGN_OR_RETURN(auto blob, SerializeRecord(record, "schedule"));
    EON_ASSIGN_OR_RETURN(
        auto stmt,
        db.Prepare("INSERT INTO schedules (namespace_id, run_id, workflow_id, workflow_type, "
                   "start_time_ns, search_attributes, info, db_version, record) "
                   "VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, 1, ?7) ON CONFLICT DO NOTHING"));
    EON_RETURN_IF_ERROR(stmt->Bind(1, record.namespace_id())
                            .Bind(2, record.schedule_id())
                            .Bind(3, listing.workflow_type)
                            .Bind(4, listing.create_time_ns)
                            .Bind(5, listing.search_attributes_json)
                            .BindBlob(6, listing.info)
                            .BindBlob(7, blob)
                            .Run());
    if (db.Changes() == 0) return AlreadyExists("schedule " + record.schedule_id() + " exists");
    return Status::Ok();
  });
}

Result<StoredSchedule> SqliteStore::GetSchedule(const std::string& namespace_id,
                                                const std::string& schedule_id) {
  return Read([&](SqliteDb& db) -> Result<StoredSchedule> {
    EON_ASSIGN_OR_RETURN(auto stmt, db.Prepare("SELECT db_version, record FROM schedules "
                                               "WHERE namespace_id = ? AND run_id = ?"));
    stmt->Bind(1, namespace_id).Bind(2, schedule_id);
    if (!stmt->Step()) {
      EON_RETURN_IF_ERROR(stmt->status());
      return NotFound("schedule not found");
    }
    StoredSchedule out;
    out.db_version = stmt->ColumnInt(0);
    EON_ASSIGN_OR_RETURN(out.record,
                         ParseStored<eon::v1::ScheduleRecord>(stmt->ColumnBlob(1), "schedule"));
    return out;
  });
}

Status SqliteStore::UpdateSchedule(const eon::v1::ScheduleRecord& record,
                                   const ScheduleListing& listing, int64_t expected_db_version) {
  return Write([&](SqliteDb& db) -> Status {
    EON_ASSIGN_OR_RETURN(auto blob, SerializeRecord(record, "schedule"));
    EON_ASSIGN_OR_RETURN(
        auto stmt,
        db.Prepare("UPDATE schedules SET workflow_type = ?, start_time_ns = ?, "
                   "search_attributes = ?, info = ?, record = ?, db_version = db_version + 1 "
                   "WHERE namespace_id = ? AND run_id = ? AND db_version = ?"));
    EON_RETURN_IF_ERROR(stmt->Bind(1, listing.workflow_type)
                            .Bind(2, listing.create_time_ns)
                            .Bind(3, listing.search_attributes_json)
                            .BindBlob(4, listing.info)
                            .BindBlob(5, blob)
                            .Bind(6, record.namespace_id())
                            .Bind(7, record.schedule_id())
                            .Bind(8, expected_db_version)
                            .Run());
    if (db.Changes() == 1) return Status::Ok();
    EON_ASSIGN_OR_RETURN(auto exists, db.Prepare("SELECT 1 FROM schedules WHERE namespace_id = ? "
                                                 "AND run_id = ?"));
    exists->Bind(1, record.namespace_id()).Bind(2, record.schedule_id());
    if (!exists->Step()) {
      EON_RETURN_IF_ERROR(exists->status());
      return NotFound("schedule not found");
    }
    return Aborted("schedule " + record.schedule_id() + " changed concurrently");
  });
}

Status SqliteStore::DeleteSchedule(const std::string& namespace_id,
                                   const std::string& schedule_id) {
  return Write([&](SqliteDb& db) -> Status {
    EON_ASSIGN_OR_RETURN(auto stmt,
                         db.Prepare("DELETE FROM schedules WHERE namespace_id = ? AND run_id = ?"));
    EON_RETURN_IF_ERROR(stmt->Bind(1, namespace_id).Bind(2, schedule_id).Run());
    if (db.Changes() == 0) return NotFound("schedule not found");
    return Status::Ok();
  });
}

Result<std::vector<StoredSchedule>> SqliteStore::LoadSchedules() {
  return Read([&](SqliteDb& db) -> Result<std::vector<StoredSchedule>> {
    EON_ASSIGN_OR_RETURN(auto stmt, db.Prepare("SELECT db_version, record FROM schedules"));
    std::vector<StoredSchedule> out;
    while (stmt->Step()) {
      StoredSchedule s;
      s.db_version = stmt->ColumnInt(0);
      EON_ASSIGN_OR_RETURN(s.record,
                           ParseStored<eon::v1::ScheduleRecord>(stmt->ColumnBlob(1), "schedule"));
      out.push_back(std::move(s));
    }
    EON_RETURN_IF_ERROR(stmt->status());
    return out;
  });
}

Result<std::vector<std::string>> SqliteStore::ListSchedules(const std::string& namespace_id,
                                                            const VisibilityFilter& filter,
                                                            int limit, int64_t offset) {
  EON_ASSIGN_OR_RETURN(SqlFilter sql, RenderSqliteFilter(filter));
  return Read([&](SqliteDb& db) -> Result<std::vector<std::string>> {
    return ListInfo(db, "schedules", namespace_id, sql, limit, offset);
  });
}

}  // namespace eon::persistence
