#include "persistence/sqlite_db.h"

#include <algorithm>
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
constexpr const char* kGatheringVfsName = "eon-gathering";
// The default VFS uses a handful of method tables (one per locking style); room for all.
constexpr int kMethodTablesMax = 16;

// A copy of a base method table whose xSync counts; `base` is the original. The file keeps its
// base layout (the copy only replaces its pMethods), so every other method runs unchanged.
struct CountingMethods {
  sqlite3_io_methods methods;  // first member: a file's pMethods points here
  const sqlite3_io_methods* base;
};

sqlite3_vfs* base_vfs = nullptr;
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

// The write-ahead log of a connection that syncs it at every commit (synchronous=FULL), with
// its writes gathered: SQLite writes each frame of a commit as two calls (a 24-byte header, then
// the page), so a commit of 40 pages made 80 pwrite calls, the server's most frequent system
// call under load. This file keeps a run of contiguous writes in memory and writes it with one
// call before anything that must see it: the commit's xSync (so the sync covers every frame),
// any read, size query, truncation or file control, a write elsewhere, a run over kMaxRun
// bytes, and close.
//
// Why readers never miss a frame: another connection learns of new frames only from the
// wal-index header, which SQLite updates after the commit's frames are written and, with
// synchronous=FULL, synced; the sync writes the run first. With synchronous=NORMAL there is no
// sync at a commit, so such a connection keeps SQLite's own writes (OpenOptions).
// A crash loses what is gathered, as it would lose writes not yet made: nothing of a commit
// that was not yet synced, which SQLite's recovery discards anyway.
struct GatheredWal {
  sqlite3_file header;  // first member: header.pMethods is kGatheredMethods
  sqlite3_file* base;   // the counted file (CountingOpen), in the same allocation, after this
  std::string* run;     // bytes not yet written, which belong at run_offset
  sqlite3_int64 run_offset;
};

constexpr size_t kMaxRun = 4 << 20;

GatheredWal* Gathered(sqlite3_file* file) { return reinterpret_cast<GatheredWal*>(file); }

// The most one write of the default VFS takes: it writes only the low 17 bits of a length (a
// write of exactly 128 KiB writes nothing and fails as SQLITE_FULL).
constexpr size_t kMaxWrite = 124 << 10;

int WriteRun(GatheredWal* wal) {
  const std::string& run = *wal->run;
  int rc = SQLITE_OK;
  for (size_t at = 0; rc == SQLITE_OK && at < run.size(); at += kMaxWrite) {
    const size_t amount = std::min(kMaxWrite, run.size() - at);
    rc = wal->base->pMethods->xWrite(wal->base, run.data() + at, static_cast<int>(amount),
                                     wal->run_offset + static_cast<sqlite3_int64>(at));
  }
  wal->run->clear();
  return rc;
}

int GatheredClose(sqlite3_file* file) {
  GatheredWal* wal = Gathered(file);
  int written = WriteRun(wal);
  int rc = wal->base->pMethods->xClose(wal->base);
  delete wal->run;
  wal->run = nullptr;
  return written != SQLITE_OK ? written : rc;
}

int GatheredRead(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  GatheredWal* wal = Gathered(file);
  if (int rc = WriteRun(wal); rc != SQLITE_OK) return rc;
  return wal->base->pMethods->xRead(wal->base, out, amount, offset);
}

int GatheredWrite(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  GatheredWal* wal = Gathered(file);
  std::string& run = *wal->run;
  const bool follows =
      !run.empty() && offset == wal->run_offset + static_cast<sqlite3_int64>(run.size());
  if (!follows) {
    if (int rc = WriteRun(wal); rc != SQLITE_OK) return rc;
    wal->run_offset = offset;
  }
  run.append(static_cast<const char*>(data), static_cast<size_t>(amount));
  return run.size() >= kMaxRun ? WriteRun(wal) : SQLITE_OK;
}

int GatheredTruncate(sqlite3_file* file, sqlite3_int64 size) {
  GatheredWal* wal = Gathered(file);
  if (int rc = WriteRun(wal); rc != SQLITE_OK) return rc;
  return wal->base->pMethods->xTruncate(wal->base, size);
}

int GatheredSync(sqlite3_file* file, int flags) {
  GatheredWal* wal = Gathered(file);
  if (int rc = WriteRun(wal); rc != SQLITE_OK) return rc;
  return wal->base->pMethods->xSync(wal->base, flags);  // counted there
}

int GatheredFileSize(sqlite3_file* file, sqlite3_int64* size) {
  GatheredWal* wal = Gathered(file);
  if (int rc = WriteRun(wal); rc != SQLITE_OK) return rc;
  return wal->base->pMethods->xFileSize(wal->base, size);
}

int GatheredFileControl(sqlite3_file* file, int op, void* arg) {
  GatheredWal* wal = Gathered(file);
  if (int rc = WriteRun(wal); rc != SQLITE_OK) return rc;
  return wal->base->pMethods->xFileControl(wal->base, op, arg);
}

// The rest only pass through (a log file takes no locks and maps no shared memory of its own).
int GatheredLock(sqlite3_file* f, int level) {
  return Gathered(f)->base->pMethods->xLock(Gathered(f)->base, level);
}
int GatheredUnlock(sqlite3_file* f, int level) {
  return Gathered(f)->base->pMethods->xUnlock(Gathered(f)->base, level);
}
int GatheredCheckReservedLock(sqlite3_file* f, int* out) {
  return Gathered(f)->base->pMethods->xCheckReservedLock(Gathered(f)->base, out);
}
int GatheredSectorSize(sqlite3_file* f) {
  return Gathered(f)->base->pMethods->xSectorSize(Gathered(f)->base);
}
int GatheredDeviceCharacteristics(sqlite3_file* f) {
  return Gathered(f)->base->pMethods->xDeviceCharacteristics(Gathered(f)->base);
}

const sqlite3_io_methods kGatheredMethods = {
    1,  // iVersion: no shared memory or memory mapping for a log file
    GatheredClose,
    GatheredRead,
    GatheredWrite,
    GatheredTruncate,
    GatheredSync,
    GatheredFileSize,
    GatheredLock,
    GatheredUnlock,
    GatheredCheckReservedLock,
    GatheredFileControl,
    GatheredSectorSize,
    GatheredDeviceCharacteristics,
};

int CountingOpen(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags,
                 int* out_flags) {
  int rc = base_vfs->xOpen(base_vfs, name, file, flags, out_flags);
  if (rc == SQLITE_OK && file->pMethods != nullptr)
    file->pMethods = CountingTableFor(file->pMethods);
  return rc;
}

// As CountingOpen, and a write-ahead log opened as a GatheredWal over a counted file.
int GatheringOpen(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags,
                  int* out_flags) {
  if ((flags & SQLITE_OPEN_WAL) == 0) return CountingOpen(vfs, name, file, flags, out_flags);
  GatheredWal* wal = Gathered(file);
  wal->header.pMethods = nullptr;  // SQLite closes only a file whose open succeeded
  wal->base = reinterpret_cast<sqlite3_file*>(wal + 1);
  int rc = CountingOpen(vfs, name, wal->base, flags, out_flags);
  if (rc != SQLITE_OK) return rc;
  if (wal->base->pMethods == nullptr) return SQLITE_CANTOPEN;
  wal->run = new std::string();
  wal->run_offset = 0;
  wal->header.pMethods = &kGatheredMethods;
  return SQLITE_OK;
}

// The name of a VFS that wraps the default one, registered on first use; nullptr (the default
// VFS) if SQLite has none. `gather`: the one whose logs are GatheredWal files.
const char* WrappingVfs(bool gather) {
  static sqlite3_vfs counting, gathering;
  static const bool registered = [] {
    base_vfs = sqlite3_vfs_find(nullptr);
    if (base_vfs == nullptr) return false;
    counting = *base_vfs;
    counting.pNext = nullptr;
    counting.zName = kCountingVfsName;
    counting.xOpen = CountingOpen;
    gathering = counting;
    gathering.zName = kGatheringVfsName;
    gathering.xOpen = GatheringOpen;
    gathering.szOsFile = static_cast<int>(sizeof(GatheredWal)) + base_vfs->szOsFile;
    return sqlite3_vfs_register(&counting, 0) == SQLITE_OK &&
           sqlite3_vfs_register(&gathering, 0) == SQLITE_OK;
  }();
  if (!registered) return nullptr;
  return gather ? kGatheringVfsName : kCountingVfsName;
}

int CountCommit(void*) {
  metrics::Count(kCommitsMetric, kCommitsHelp, {});
  return 0;  // let it commit
}

}  // namespace

Result<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path, OpenOptions options) {
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, WrappingVfs(options.gather_wal_writes));
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

Status SqliteDb::Run(const std::string& sql) {
  EON_ASSIGN_OR_RETURN(auto stmt, Prepare(sql));
  Status status = stmt->Run();
  if (status.ok()) return status;
  return Status(status.code(), status.message() + " (in: " + sql.substr(0, 80) + ")");
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
