#include "persistence/postgres_db.h"

#include <libpq-fe.h>

#include <cstring>

namespace eon::persistence {
namespace {

constexpr Oid kBoolOid = 16;
constexpr Oid kFloat4Oid = 700;
constexpr Oid kFloat8Oid = 701;

uint64_t BigEndian(const char* data, int length) {
  uint64_t value = 0;
  for (int i = 0; i < length; ++i) value = (value << 8) | static_cast<unsigned char>(data[i]);
  return value;
}

std::string Trimmed(const char* message) {
  std::string out = message ? message : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  for (char& c : out) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  return out;
}

void IgnoreNotice(void*, const char*) {}

}  // namespace

std::string RedactPassword(const std::string& database) {
  const size_t scheme = database.find("://");
  if (scheme == std::string::npos) return database;
  const size_t start = scheme + 3;
  const size_t at = database.find('@', start);
  const size_t slash = database.find('/', start);
  if (at == std::string::npos || (slash != std::string::npos && slash < at)) return database;
  const size_t colon = database.find(':', start);
  if (colon == std::string::npos || colon > at) return database;
  return database.substr(0, colon + 1) + "***" + database.substr(at);
}

Status PgError(std::string_view sqlstate, std::string message) {
  const std::string_view cls = sqlstate.substr(0, std::min<size_t>(2, sqlstate.size()));
  if (cls == "23") return Aborted(std::move(message));
  if (sqlstate == "40001" || sqlstate == "40P01") return Unavailable(std::move(message));
  if (cls == "53") return ResourceExhausted(std::move(message));
  if (sqlstate == "22021" || sqlstate == "22P05" || sqlstate == "22001") {
    return InvalidArgument(std::move(message));
  }
  if (cls == "08" || cls == "57") return Unavailable(std::move(message));
  return Internal(std::move(message));
}

bool IsRetryableConflict(const Status& status) {
  const std::string& m = status.message();
  auto ends_with = [&m](std::string_view tail) {
    return m.size() >= tail.size() && m.compare(m.size() - tail.size(), tail.size(), tail) == 0;
  };
  return status.code() == StatusCode::UNAVAILABLE && (ends_with("[40001]") || ends_with("[40P01]"));
}

PgRows::PgRows(pg_result* result) : result_(result) {}
PgRows::~PgRows() {
  if (result_) PQclear(result_);
}
PgRows::PgRows(PgRows&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }

int PgRows::size() const { return PQntuples(result_); }

int64_t PgRows::affected() const {
  const char* n = PQcmdTuples(result_);
  return n && *n ? std::strtoll(n, nullptr, 10) : 0;
}

bool PgRows::IsNull(int row, int column) const { return PQgetisnull(result_, row, column); }

int64_t PgRows::Int(int row, int column) const {
  if (PQgetisnull(result_, row, column)) return 0;
  const char* data = PQgetvalue(result_, row, column);
  const int length = PQgetlength(result_, row, column);
  if (PQftype(result_, column) == kBoolOid) return length > 0 && data[0] != 0;
  if (length != 2 && length != 4 && length != 8) return 0;
  // Sign-extend from the column's width.
  const uint64_t raw = BigEndian(data, length);
  if (length == 8) return static_cast<int64_t>(raw);
  if (length == 4) return static_cast<int32_t>(static_cast<uint32_t>(raw));
  return static_cast<int16_t>(static_cast<uint16_t>(raw));
}

double PgRows::Double(int row, int column) const {
  if (PQgetisnull(result_, row, column)) return 0;
  const char* data = PQgetvalue(result_, row, column);
  const Oid type = PQftype(result_, column);
  if (type == kFloat8Oid && PQgetlength(result_, row, column) == 8) {
    uint64_t raw = BigEndian(data, 8);
    double out;
    std::memcpy(&out, &raw, sizeof out);
    return out;
  }
  if (type == kFloat4Oid && PQgetlength(result_, row, column) == 4) {
    uint32_t raw = static_cast<uint32_t>(BigEndian(data, 4));
    float out;
    std::memcpy(&out, &raw, sizeof out);
    return out;
  }
  return static_cast<double>(Int(row, column));
}

std::string_view PgRows::Bytes(int row, int column) const {
  if (PQgetisnull(result_, row, column)) return {};
  return {PQgetvalue(result_, row, column), static_cast<size_t>(PQgetlength(result_, row, column))};
}

Result<std::unique_ptr<PgConnection>> PgConnection::Connect(const std::string& conninfo,
                                                            int connect_timeout_seconds,
                                                            int idle_in_transaction_timeout_ms) {
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &parse_error);
  if (!parsed) {
    std::string why = parse_error ? Trimmed(parse_error) : "out of memory";
    // libpq quotes the string it could not parse; never its password.
    for (size_t at = why.find(conninfo); !conninfo.empty() && at != std::string::npos;
         at = why.find(conninfo, at + 1)) {
      why.replace(at, conninfo.size(), RedactPassword(conninfo));
    }
    if (parse_error) PQfreemem(parse_error);
    return InvalidArgument("bad PostgreSQL connection string: " + why +
                           " (expected postgresql://user:password@host:port/database)");
  }
  PQconninfoFree(parsed);
  const std::string timeout = std::to_string(connect_timeout_seconds);
  // Later keywords win: the string's own settings override these defaults.
  const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {timeout.c_str(), "eon", conninfo.c_str(), nullptr};
  pg_conn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (!conn) return ResourceExhausted("out of memory connecting to PostgreSQL");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string why = Trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    return Unavailable("cannot connect to PostgreSQL: " + why);
  }
  PQsetNoticeProcessor(conn, IgnoreNotice, nullptr);
  auto out = std::unique_ptr<PgConnection>(new PgConnection(conn));
  // Names, time stamps and sort order must not depend on the server's locale or zone.
  EON_RETURN_IF_ERROR(out->Exec("SET client_encoding = 'UTF8'; SET TIME ZONE 'UTC'"));
  if (idle_in_transaction_timeout_ms > 0) {
    EON_RETURN_IF_ERROR(out->Exec("SET idle_in_transaction_session_timeout = " +
                                  std::to_string(idle_in_transaction_timeout_ms)));
  }
  return out;
}

PgConnection::PgConnection(pg_conn* conn) : conn_(conn) {}
PgConnection::~PgConnection() { PQfinish(conn_); }

bool PgConnection::healthy() const {
  return !broken_ && PQstatus(conn_) == CONNECTION_OK &&
         PQtransactionStatus(conn_) != PQTRANS_UNKNOWN;
}

bool PgConnection::in_failed_transaction() const {
  return PQtransactionStatus(conn_) == PQTRANS_INERROR;
}

Status PgConnection::ResultStatus(pg_result* result, std::string_view what) {
  if (!result) {
    return Unavailable("lost the connection to PostgreSQL (" + std::string(what) +
                       "): " + Trimmed(PQerrorMessage(conn_)));
  }
  ExecStatusType status = PQresultStatus(result);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return Status::Ok();
  const char* sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  std::string message =
      "PostgreSQL: " + (primary ? Trimmed(primary) : Trimmed(PQresultErrorMessage(result)));
  if (!sqlstate) {
    // No SQLSTATE: libpq's own error (the connection broke mid-statement).
    return Unavailable(message);
  }
  return PgError(sqlstate, message + " [" + sqlstate + "]");
}

Status PgConnection::Exec(std::string_view sql) {
  EON_RETURN_IF_ERROR(FlushDeferred());
  pg_result* result = PQexec(conn_, std::string(sql).c_str());
  Status status = ResultStatus(result, "running a statement");
  if (result) PQclear(result);
  return status;
}

namespace {

// A statement's parameters in libpq's form: text for numbers and strings, binary for bytes.
struct Marshalled {
  std::vector<std::string> storage;
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
};

// Fills `out` (storage owned by it, so it outlives the views in `params`).
void Marshal(const std::vector<PgParam>& params, Marshalled& out) {
  const size_t n = params.size();
  out.storage.assign(n, std::string());
  out.values.assign(n, nullptr);
  out.lengths.assign(n, 0);
  out.formats.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const PgParam& p = params[i];
    if (std::holds_alternative<std::monostate>(p)) continue;
    if (const auto* v = std::get_if<int64_t>(&p)) {
      out.storage[i] = std::to_string(*v);
    } else if (const auto* d = std::get_if<double>(&p)) {
      char buffer[64];
      std::snprintf(buffer, sizeof buffer, "%.17g", *d);
      out.storage[i] = buffer;
    } else if (const auto* s = std::get_if<std::string_view>(&p)) {
      out.storage[i] = std::string(*s);
    } else {
      out.storage[i] = std::string(std::get<PgBytes>(p).bytes);
      out.formats[i] = 1;
    }
  }
  // Pointers only once the strings stop moving.
  for (size_t i = 0; i < n; ++i) {
    if (std::holds_alternative<std::monostate>(params[i])) continue;
    out.values[i] = out.storage[i].c_str();
    out.lengths[i] = static_cast<int>(out.storage[i].size());
  }
}

}  // namespace

Result<std::string> PgConnection::PreparedName(const std::string& sql, int param_count,
                                               bool prepare) {
  auto found = prepared_.find(sql);
  if (found != prepared_.end()) return found->second;
  if (!prepare || prepared_.size() >= kPreparedStatementsMax) return std::string();
  std::string name = "eon" + std::to_string(prepared_.size());
  pg_result* made = PQprepare(conn_, name.c_str(), sql.c_str(), param_count, nullptr);
  Status status = ResultStatus(made, "preparing a statement");
  if (made) PQclear(made);
  EON_RETURN_IF_ERROR(status);
  prepared_.emplace(sql, name);
  return name;
}

Result<PgRows> PgConnection::Query(const std::string& sql, const std::vector<PgParam>& params,
                                   bool prepare) {
  EON_RETURN_IF_ERROR(FlushDeferred());
  const int n = static_cast<int>(params.size());
  Marshalled m;
  Marshal(params, m);
  EON_ASSIGN_OR_RETURN(std::string name, PreparedName(sql, n, prepare));
  pg_result* result = nullptr;
  if (!name.empty()) {
    result = PQexecPrepared(conn_, name.c_str(), n, m.values.data(), m.lengths.data(),
                            m.formats.data(), /*resultFormat=*/1);
  } else {
    result = PQexecParams(conn_, sql.c_str(), n, nullptr, m.values.data(), m.lengths.data(),
                          m.formats.data(), /*resultFormat=*/1);
  }
  Status status = ResultStatus(result, "running a statement");
  if (!status.ok()) {
    if (result) PQclear(result);
    return status;
  }
  return PgRows(result);
}

void PgConnection::BeginPipeline() { pipeline_.clear(); }

void PgConnection::Defer(std::string sql) { deferred_.push_back(std::move(sql)); }

Status PgConnection::FlushDeferred() {
  if (deferred_.empty()) return Status::Ok();
  std::string script;
  for (const std::string& sql : deferred_) script += sql + ";";
  deferred_.clear();
  pg_result* result = PQexec(conn_, script.c_str());
  Status status = ResultStatus(result, "running a statement");
  if (result) PQclear(result);
  return status;
}

void PgConnection::Send(const std::string& sql, const std::vector<PgParam>& params, bool prepare) {
  Marshalled m;
  Marshal(params, m);
  Queued queued;
  queued.prepare = prepare;
  queued.sql = sql;
  queued.values = std::move(m.storage);
  queued.formats = std::move(m.formats);
  queued.is_null.resize(params.size());
  for (size_t i = 0; i < params.size(); ++i)
    queued.is_null[i] = std::holds_alternative<std::monostate>(params[i]);
  pipeline_.push_back(std::move(queued));
}

Result<std::vector<Result<PgRows>>> PgConnection::EndPipeline() {
  // The deferred statements go first, unprepared; their answers are not the caller's.
  const size_t deferred_count = deferred_.size();
  std::vector<Queued> queued;
  for (std::string& sql : deferred_) queued.push_back({.sql = std::move(sql), .prepare = false});
  deferred_.clear();
  for (Queued& q : pipeline_) queued.push_back(std::move(q));
  pipeline_.clear();
  // New statements are prepared first, outside the pipeline (once per connection).
  std::vector<std::string> names(queued.size());
  for (size_t i = 0; i < queued.size(); ++i) {
    EON_ASSIGN_OR_RETURN(
        names[i],
        PreparedName(queued[i].sql, static_cast<int>(queued[i].values.size()), queued[i].prepare));
  }
  if (PQenterPipelineMode(conn_) != 1) {
    return Unavailable("PostgreSQL: cannot enter pipeline mode: " + Trimmed(PQerrorMessage(conn_)));
  }
  // A pipeline that went wrong leaves the connection in a state not worth recovering: it is
  // reported unhealthy, and its owner drops it and connects afresh.
  auto broken = [this](const std::string& what) -> Status {
    broken_ = true;
    return Unavailable("lost the connection to PostgreSQL (" + what +
                       "): " + Trimmed(PQerrorMessage(conn_)));
  };
  for (size_t i = 0; i < queued.size(); ++i) {
    const Queued& q = queued[i];
    const int n = static_cast<int>(q.values.size());
    std::vector<const char*> values(n, nullptr);
    std::vector<int> lengths(n, 0);
    for (int k = 0; k < n; ++k) {
      if (q.is_null[k]) continue;
      values[k] = q.values[k].c_str();
      lengths[k] = static_cast<int>(q.values[k].size());
    }
    const int sent =
        names[i].empty()
            ? PQsendQueryParams(conn_, q.sql.c_str(), n, nullptr, values.data(), lengths.data(),
                                q.formats.data(), /*resultFormat=*/1)
            : PQsendQueryPrepared(conn_, names[i].c_str(), n, values.data(), lengths.data(),
                                  q.formats.data(), /*resultFormat=*/1);
    if (sent != 1) {
      PQpipelineSync(conn_);
      return broken("sending a statement");
    }
  }
  if (PQpipelineSync(conn_) != 1) return broken("sending a pipeline");
  std::vector<Result<PgRows>> out;
  out.reserve(queued.size());
  for (size_t i = 0; i < queued.size(); ++i) {
    pg_result* result = PQgetResult(conn_);
    if (!result) return broken("reading a pipeline's answers");
    if (PQresultStatus(result) == PGRES_PIPELINE_ABORTED) {
      PQclear(result);
      out.push_back(Aborted("PostgreSQL skipped the statement after an earlier one failed"));
    } else {
      Status status = ResultStatus(result, "running a statement");
      if (status.ok()) {
        out.push_back(PgRows(result));
      } else {
        PQclear(result);
        out.push_back(std::move(status));
      }
    }
    // Each statement's answers end with a null result.
    if (pg_result* extra = PQgetResult(conn_)) {
      PQclear(extra);
      return broken("reading a pipeline's answers (more than one result)");
    }
  }
  pg_result* sync = PQgetResult(conn_);
  const bool synced = sync && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  if (sync) PQclear(sync);
  if (!synced) return broken("reading a pipeline's end");
  if (PQexitPipelineMode(conn_) != 1) return broken("leaving pipeline mode");
  for (size_t i = 0; i < deferred_count; ++i) {
    if (!out[i].ok()) return out[i].status();
  }
  if (deferred_count == 0) return out;
  std::vector<Result<PgRows>> callers;
  callers.reserve(out.size() - deferred_count);
  for (size_t i = deferred_count; i < out.size(); ++i) callers.push_back(std::move(out[i]));
  return callers;
}

}  // namespace eon::persistence
