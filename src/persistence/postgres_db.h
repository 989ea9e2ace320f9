// A thin RAII layer over one libpq connection: parameterized statements (prepared once per
// connection and cached by SQL text), rows read in binary, errors as Status. Not thread-safe:
// the owner serializes use.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "common/status.h"

struct pg_conn;
struct pg_result;

namespace eon::persistence {

// A statement parameter. std::monostate is SQL NULL; Bytes goes to a BYTEA column (sent in
// binary), everything else is sent as text and typed by the column it meets.
struct PgBytes {
  explicit PgBytes(std::string_view b) : bytes(b) {}
  std::string_view bytes;
};
using PgParam = std::variant<std::monostate, int64_t, double, std::string_view, PgBytes>;

inline PgParam PgOptional(const std::optional<int64_t>& v) {
  return v ? PgParam(*v) : PgParam(std::monostate{});
}
inline PgParam PgOptional(const std::optional<std::string>& v) {
  return v ? PgParam(std::string_view(*v)) : PgParam(std::monostate{});
}

// The rows of one statement, columns read in PostgreSQL's binary format.
class PgRows {
 public:
  explicit PgRows(pg_result* result);
  ~PgRows();
  PgRows(PgRows&& other) noexcept;
  PgRows& operator=(PgRows&&) = delete;
  PgRows(const PgRows&) = delete;

  int size() const;
  // Rows an UPDATE, INSERT or DELETE touched.
  int64_t affected() const;
  bool IsNull(int row, int column) const;
  // BIGINT, INTEGER, SMALLINT (and BOOLEAN as 0/1).
  int64_t Int(int row, int column) const;
  double Double(int row, int column) const;
  // TEXT or BYTEA, as stored.
  std::string_view Bytes(int row, int column) const;
  std::string Text(int row, int column) const { return std::string(Bytes(row, column)); }

 private:
  pg_result* result_;
};

class PgConnection {
 public:
  // Connects with a libpq connection string (postgresql://user:password@host:port/db?opts or
  // "key=value ..."). INVALID_ARGUMENT when the string does not parse, UNAVAILABLE when the
  // server cannot be reached or refuses; the message names the cause, never the password.
  // A connection that takes longer than `connect_timeout_seconds` fails (the string's own
  // connect_timeout wins). With `idle_in_transaction_timeout_ms` > 0 the server ends this
  // session when it sits in an open transaction that long without a statement (this process
  // paused mid-transaction), so the row locks it holds do not block the others for longer.
  static Result<std::unique_ptr<PgConnection>> Connect(const std::string& conninfo,
                                                       int connect_timeout_seconds = 10,
                                                       int idle_in_transaction_timeout_ms = 0);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs one or more statements without parameters (schema scripts, BEGIN, COMMIT, ...).
  Status Exec(std::string_view sql);
  // Runs one statement with $1.. parameters. Statements are prepared on first use and kept
  // (up to kPreparedStatementsMax per connection); `prepare` false runs it unprepared (for
  // SQL built per call, such as visibility filters).
  Result<PgRows> Query(const std::string& sql, const std::vector<PgParam>& params = {},
                       bool prepare = true);
  // libpq's pipeline mode: statements sent back to back and answered together, one round trip
  // for all of them (the writer's savepoint and an execution write's statements). Between
  // BeginPipeline and EndPipeline only Send may be called. Inside a transaction, a statement
  // that fails aborts it, and PostgreSQL skips the statements after it (they answer ABORTED);
  // the owner then rolls back (to a savepoint), as after a failed Query.
  void BeginPipeline();
  // Queues one statement with $1.. parameters, prepared as Query prepares (the parameters are
  // copied; nothing is sent yet).
  void Send(const std::string& sql, const std::vector<PgParam>& params = {}, bool prepare = true);
  // Statements without parameters (BEGIN, SAVEPOINT ...) to run before the next statement: at the
  // head of the next pipeline, or before the next Query or Exec, so they cost no round trip of
  // their own. A failure of one is the failure of the pipeline, Query or Exec that carried it.
  void Defer(std::string sql);
  // Runs the deferred statements now (one round trip), if any.
  Status FlushDeferred();
  // Forgets the deferred statements (before a ROLLBACK, which makes them moot).
  void DiscardDeferred() { deferred_.clear(); }
  // Sends what was queued and waits for every answer: each statement's rows or error, in the
  // order sent. A broken connection (or a failure to send) fails the whole pipeline.
  Result<std::vector<Result<PgRows>>> EndPipeline();
  // Whether the connection is still usable; a broken one is dropped by its owner.
  bool healthy() const;
  // Inside a transaction that a failed statement aborted (only ROLLBACK [TO] works).
  bool in_failed_transaction() const;
  static constexpr size_t kPreparedStatementsMax = 256;

 private:
  explicit PgConnection(pg_conn* conn);
  Status ResultStatus(pg_result* result, std::string_view what);
  // The statement name `sql` is prepared under, preparing it first if it is new (and there is
  // room); "" runs it unprepared.
  Result<std::string> PreparedName(const std::string& sql, int param_count, bool prepare);

  // One statement queued by Send: its SQL and its parameters, owned.
  struct Queued {
    std::string sql;
    std::vector<std::string> values;
    std::vector<bool> is_null;
    std::vector<int> formats;
    bool prepare = true;
  };

  pg_conn* conn_;
  std::unordered_map<std::string, std::string> prepared_;  // SQL text -> statement name
  std::vector<Queued> pipeline_;
  std::vector<std::string> deferred_;
  bool broken_ = false;  // a pipeline failed midway: the owner must drop this connection
};

// `database` with the password of a URL's user:password@ replaced by "***" (for messages).
std::string RedactPassword(const std::string& database);

// The Status for a PostgreSQL error with SQLSTATE `sqlstate`: unique and other constraint
// violations ABORTED (a lost condition), serialization failures and deadlocks UNAVAILABLE
// (retryable), a full disk or too many connections RESOURCE_EXHAUSTED, bad text (invalid UTF-8,
// NUL bytes) INVALID_ARGUMENT, lost connections UNAVAILABLE, the rest INTERNAL.
Status PgError(std::string_view sqlstate, std::string message);

// Whether `status` is PostgreSQL's serialization failure or deadlock (SQLSTATE 40001, 40P01, as
// PgError words them): the transaction was undone, and running it again may well succeed.
bool IsRetryableConflict(const Status& status);

}  // namespace eon::persistence
