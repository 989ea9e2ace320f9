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
                                                            int connect_timeout_seconds) {
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
  return out;
}

PgConnection::PgConnection(pg_conn* conn) : conn_(conn) {}
PgConnection::~PgConnection() { PQfinish(conn_); }

bool PgConnection::healthy() const {
  return PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) != PQTRANS_UNKNOWN;
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
  pg_result* result = PQexec(conn_, std::string(sql).c_str());
  Status status = ResultStatus(result, "running a statement");
  if (result) PQclear(result);
  return status;
}

Result<PgRows> PgConnection::Query(const std::string& sql, const std::vector<PgParam>& params,
                                   bool prepare) {
  const int n = static_cast<int>(params.size());
  std::vector<std::string> text(params.size());
  std::vector<const char*> values(params.size(), nullptr);
  std::vector<int> lengths(params.size(), 0);
  std::vector<int> formats(params.size(), 0);
  for (int i = 0; i < n; ++i) {
    const PgParam& p = params[i];
    if (std::holds_alternative<std::monostate>(p)) continue;
    if (const auto* v = std::get_if<int64_t>(&p)) {
      text[i] = std::to_string(*v);
    } else if (const auto* d = std::get_if<double>(&p)) {
      char buffer[64];
      std::snprintf(buffer, sizeof buffer, "%.17g", *d);
      text[i] = buffer;
    } else if (const auto* s = std::get_if<std::string_view>(&p)) {
      text[i] = std::string(*s);
    } else {
      const auto& bytes = std::get<PgBytes>(p).bytes;
      values[i] = bytes.data() ? bytes.data() : "";
      lengths[i] = static_cast<int>(bytes.size());
      formats[i] = 1;
      continue;
    }
    values[i] = text[i].c_str();
    lengths[i] = static_cast<int>(text[i].size());
  }
  pg_result* result = nullptr;
  auto found = prepared_.find(sql);
  if (found == prepared_.end() && prepare && prepared_.size() < kPreparedStatementsMax) {
    std::string name = "eon" + std::to_string(prepared_.size());
    pg_result* made = PQprepare(conn_, name.c_str(), sql.c_str(), n, nullptr);
    Status status = ResultStatus(made, "preparing a statement");
    if (made) PQclear(made);
    EON_RETURN_IF_ERROR(status);
    found = prepared_.emplace(sql, std::move(name)).first;
  }
  if (found != prepared_.end()) {
    result = PQexecPrepared(conn_, found->second.c_str(), n, values.data(), lengths.data(),
                            formats.data(), /*resultFormat=*/1);
  } else {
    result = PQexecParams(conn_, sql.c_str(), n, nullptr, values.data(), lengths.data(),
                          formats.data(), /*resultFormat=*/1);
  }
  Status status = ResultStatus(result, "running a statement");
  if (!status.ok()) {
    if (result) PQclear(result);
    return status;
  }
  return PgRows(result);
}

}  // namespace eon::persistence
