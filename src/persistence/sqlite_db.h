// A thin RAII layer over one SQLite connection: prepared statements cached by SQL text, typed
// binds and column reads, errors as Status. Not thread-safe: the owner serializes use.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/status.h"

namespace eon::persistence {

class SqliteDb;

// A prepared statement borrowed from the connection's cache; reset when it goes out of scope.
class Statement {
 public:
  Statement(SqliteDb& db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Makes the statement ready to run again with new bindings.
  void Reset();
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, std::string_view text);
  Statement& BindBlob(int index, std::string_view bytes);
  Statement& BindDouble(int index, double value);
  Statement& BindNull(int index);
  Statement& BindOptional(int index, const std::optional<int64_t>& value) {
    return value ? Bind(index, *value) : BindNull(index);
  }
  Statement& BindOptional(int index, const std::optional<std::string>& value) {
    return value ? Bind(index, std::string_view(*value)) : BindNull(index);
  }

  // Steps once: true with a row, false when done; errors go to status().
  bool Step();
  // Steps to the end (for statements without rows).
  Status Run();
  const Status& status() const { return status_; }

  int64_t ColumnInt(int column) const { return sqlite3_column_int64(stmt_, column); }
  std::string ColumnText(int column) const;
  std::string_view ColumnBlob(int column) const;
  sqlite3_stmt* raw() const { return stmt_; }

 private:
  SqliteDb& db_;
  sqlite3_stmt* stmt_;
  Status status_;
};

class SqliteDb {
 public:
  struct OpenOptions {
    // The write-ahead log's writes of a commit reach the file as one call at its sync
    // (sqlite_db.cc, GatheredWal). Only for a connection that runs synchronous=FULL: without a
    // sync at each commit, other connections could look for frames not yet written.
    bool gather_wal_writes = false;
  };
  // Opens (creating if missing) the database at `path`; ":memory:" for a private in-memory one.
  static Result<std::unique_ptr<SqliteDb>> Open(const std::string& path, OpenOptions options);
  static Result<std::unique_ptr<SqliteDb>> Open(const std::string& path) {
    return Open(path, OpenOptions{});
  }
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  Status Exec(std::string_view sql);
  // Runs one statement without rows, prepared at its first run and kept: for those run many
  // times (a transaction's BEGIN, SAVEPOINT, RELEASE, COMMIT), which Exec would parse each time.
  Status Run(const std::string& sql);
  // The returned statement is valid until the next Prepare of the same SQL text.
  Result<std::unique_ptr<Statement>> Prepare(const std::string& sql);
  int64_t Changes() const { return sqlite3_changes64(db_); }
  Status Error(std::string_view what) const;
  sqlite3* raw() { return db_; }

 private:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

}  // namespace eon::persistence
