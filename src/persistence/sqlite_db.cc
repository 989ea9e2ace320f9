#include "persistence/sqlite_db.h"

#include <mutex>

#include "common/metrics.h"

namespace eon::persistence {

Statement::~Statement() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  status_ = Status::Ok();
}

Statement& Statement::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::Bind(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::BindDouble(int index, double value) {
  sqlite3_bind_double(stmt_, index, value);
  return *this;
}

Statement& Statement::BindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Statement& Statement::BindBlob(int index, std::string_view bytes) {
  sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  return *this;
}

bool Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) status_ = db_.Error("step");
  return false;
}

Status Statement::Run() {
  while (Step()) {
  }
  return status_;
}

std::string Statement::ColumnText(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

std::string_view Statement::ColumnBlob(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  if (data == nullptr) return {};
  return {static_cast<const char*>(data), static_cast<size_t>(sqlite3_column_bytes(stmt_, column))};
}

namespace {

// What the database costs in durability work, for /metrics and `eon bench`: every committed
// write transaction (a commit hook on each connection) and every xSync, each one an fsync or
// fdatasync (a VFS that wraps the default one and counts its files' syncs).
constexpr const char* kCommitsMetric = "eon_db_commits_total";
constexpr const char* kCommitsHelp = "Write transactions committed to the database.";
constexpr const char* kSyncsMetric = "eon_db_fsyncs_total";
constexpr const char* kSyncsHelp = "fsync (or fdatasync) calls SQLite made on its files.";
constexpr const char* kCountingVfsName = "eon-counting";
// The default VFS uses a handful of method tables (one per locking style); room for all.
constexpr int kMethodTablesMax = 16;

// A copy of a base method table whose xSync counts; `base` is the original. The file keeps its
// base layout (the copy only replaces its pMethods), so every other method runs unchanged.
struct CountingMethods {
  sqlite3_io_methods methods;  // first member: a file's pMethods points here
  const sqlite3_io_methods* base;
};

sqlite3_vfs* base_vfs = nullptr;
sqlite3_vfs counting_vfs;
std::mutex tables_mutex;
CountingMethods tables[kMethodTablesMax];  // guarded by tables_mutex; entries never change
int table_count = 0;                       // guarded by tables_mutex

int CountingSync(sqlite3_file* file, int flags) {
  metrics::Count(kSyncsMetric, kSyncsHelp, {});
  return reinterpret_cast<const CountingMethods*>(file->pMethods)->base->xSync(file, flags);
}

const sqlite3_io_methods* CountingTableFor(const sqlite3_io_methods* base) {
  std::lock_guard lock(tables_mutex);
  for (int i = 0; i < table_count; ++i) {
    if (tables[i].base == base) return &tables[i].methods;
  }
  if (table_count == kMethodTablesMax) return base;  // uncounted rather than wrong
  CountingMethods& table = tables[table_count++];
  table.methods = *base;
  table.methods.xSync = CountingSync;
  table.base = base;
  return &table.methods;
}

int CountingOpen(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags,
                 int* out_flags) {
  int rc = base_vfs->xOpen(base_vfs, name, file, flags, out_flags);
  if (rc == SQLITE_OK && file->pMethods != nullptr)
    file->pMethods = CountingTableFor(file->pMethods);
  return rc;
}

// The counting VFS's name, registered on first use; nullptr (the default VFS) if SQLite has none.
const char* CountingVfs() {
  static const char* name = []() -> const char* {
    base_vfs = sqlite3_vfs_find(nullptr);
    if (base_vfs == nullptr) return nullptr;
    counting_vfs = *base_vfs;
    counting_vfs.pNext = nullptr;
    counting_vfs.zName = kCountingVfsName;
    counting_vfs.xOpen = CountingOpen;
    if (sqlite3_vfs_register(&counting_vfs, 0) != SQLITE_OK) return nullptr;
    return kCountingVfsName;
  }();
  return name;
}

int CountCommit(void*) {
  metrics::Count(kCommitsMetric, kCommitsHelp, {});
  return 0;  // let it commit
}

}  // namespace

Result<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path) {
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, CountingVfs());
  if (rc != SQLITE_OK) {
    std::string message = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    sqlite3_close(raw);
    return Unavailable("cannot open database " + path + ": " + message);
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_commit_hook(raw, CountCommit, nullptr);
  return std::unique_ptr<SqliteDb>(new SqliteDb(raw));
}

SqliteDb::~SqliteDb() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

namespace {

// One status per kind of failure, so callers and clients can tell them apart: a full disk is
// not "changed concurrently", and an I/O error is not a bug.
Status Classified(int result_code, std::string message) {
  switch (result_code & 0xff) {
    case SQLITE_NOTADB:
      return FailedPrecondition(message);
    case SQLITE_FULL:
      return ResourceExhausted("the database's disk is full (" + message + ")");
    case SQLITE_IOERR:
      return Unavailable("database I/O error (" + message + ")");
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Unavailable("the database is busy (" + message + ")");
    case SQLITE_CORRUPT:
      return Internal("the database file is corrupt (" + message + ")");
    case SQLITE_CONSTRAINT:
      return Internal("database constraint failed (" + message + ")");
    default:
      return Internal(message);
  }
}

}  // namespace

Status SqliteDb::Error(std::string_view what) const {
  return Classified(sqlite3_extended_errcode(db_),
                    std::string("sqlite ") + std::string(what) + ": " + sqlite3_errmsg(db_));
}

Status SqliteDb::Exec(std::string_view sql) {
  std::string copy(sql);
  char* error = nullptr;
  int rc = sqlite3_exec(db_, copy.c_str(), nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string message = error ? error : sqlite3_errstr(rc);
  sqlite3_free(error);
  return Classified(rc, "sqlite: " + message + " (in: " + copy.substr(0, 80) + ")");
}

Result<std::unique_ptr<Statement>> SqliteDb::Prepare(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                           SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
      return Error("prepare (" + sql.substr(0, 60) + ")");
    }
    it = statements_.emplace(sql, stmt).first;
  }
  return std::make_unique<Statement>(*this, it->second);
}

}  // namespace eon::persistence
