#include "cli/server_command.h"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "persistence/postgres_store.h"
#include "persistence/sqlite_store.h"
#include "server/server.h"

namespace eon::cli {
namespace {

constexpr const char* kUsage =
    R"(Start Eon's development server: server, database and web UI in one process.

Usage:
  eon server start-dev [flags]

Flags:
  -p, --port int              Port for the frontend gRPC service (default 7233)
      --ip string             IP address to bind the frontend service to (default "127.0.0.1")
  -f, --db-filename string    File in which to persist Eon state (by default, state is in memory)
      --database string       The database: a SQLite file, or PostgreSQL as
                              postgresql://user:password@host:port/database (the schema is
                              created or migrated at start)
  -n, --namespace strings     Namespaces to create at start; "default" always exists (repeatable)
      --log-level string      debug, info, warn, error or never (default "info")
      --log-format string     text or json: one line (or JSON object) per message with level,
                              time, component, namespace, workflow id and run id (default "text")
      --metrics-port int      Port for /metrics in the Prometheus text format (default 9233;
                              0 picks a free port). A port you name must be free; when the
                              default one is taken, the server starts without metrics
      --tls-cert-path file    Serve gRPC over TLS with this PEM certificate (chain) ...
      --tls-key-path file     ... and this PEM private key. Changed files are picked up within
                              5 s; SIGHUP checks the files at once and logs what it found
      --tls-client-ca-path file  Require client certificates signed by this PEM CA bundle (mTLS)
      --auth-config file      Authorization: JWKS for JWT bearer tokens and API keys with their
                              permissions (JSON; see README, "Running it securely"). Off without it
      --namespace-rps n       Requests per second allowed per namespace (default: no limit)
      --caller-rps n          Requests per second allowed per caller (default: no limit)
      --max-parked-polls-per-queue n  Long polls that may wait on one task queue at once; one
                              more is refused with RESOURCE_EXHAUSTED (default 1000)
      --audit-log file        Append the audit log (namespace and search attribute changes,
                              terminations, deletions, resets, refused calls) as JSON lines
      --ui-port int           Port for the web UI and the HTTP API under /api/v1 (default 8233;
                              0 picks a free port). A port you name must be free; when the
                              default one is taken, the server starts without the UI
      --headless              Disable the web UI (and the HTTP API on the UI port)
      --http-port int         Port for the HTTP API alone, as Temporal's 7243 (default: off)
      --time-skipping         Serve Temporal's TestService: while no test holds the lock and
                              nothing runs, time jumps to the next timer (for tests)
      --history-count-limit n       Events after which a workflow is terminated (51200)
      --history-size-limit bytes    History size after which a workflow is terminated (52428800)
      --payload-size-limit bytes    Largest payload set in one request or command (2097152)
      --pending-activities-limit n  Pending activities per workflow (2000)
      --pending-children-limit n    Pending child workflows per workflow (2000)
      --pending-signals-limit n     Pending signals and cancels to other workflows (2000)
      --task-failures-before-parking n
                              Failures in a row after which an outbox task (a dispatch, a
                              visibility write, a child start...) is parked until
                              `eon admin parked-tasks retry` (10, about 5 minutes of backoff)
      --num-shards n          History shards of a new database (default 4). Fixed when the
                              database is created: an existing one must have this many
      --sync-normal           Trade power-loss durability for speed (SQLite synchronous=NORMAL);
                              a kill -9 still loses nothing
  -h, --help                  Show this help
)";

bool ParsePort(const std::string& text, int* port) {
  char* end = nullptr;
  long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || value < 0 || value > 65535) return false;
  *port = static_cast<int>(value);
  return true;
}

bool ParseRate(const std::string& text, double* out) {
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(value > 0) || value > 1e9) return false;
  *out = value;
  return true;
}

bool ParsePositive(const std::string& text, int64_t* out) {
  char* end = nullptr;
  long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || value <= 0 || value > (int64_t{1} << 40)) return false;
  *out = value;
  return true;
}

constexpr std::chrono::seconds kShutdownGrace{10};

int Fail(const std::string& message) {
  std::fprintf(stderr, "Error: %s\n", message.c_str());
  return 1;
}

}  // namespace

int ServerStartDev(int argc, char** argv) {
  server::ServerOptions options;
  options.metrics_port = 9233;
  options.ui_port = 8233;
  bool headless = false;
  log::Level level = log::Level::kInfo;
  log::Format format = log::Format::kText;
  std::vector<std::string> args(argv, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    std::string value;
    bool has_inline = false;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_inline = true;
    }
    auto next = [&](std::string* out) -> bool {
      if (has_inline) {
        *out = value;
        return true;
      }
      if (i + 1 >= args.size()) return false;
      *out = args[++i];
      return true;
    };
    std::string v;
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (arg == "-p" || arg == "--port") {
      if (!next(&v) || !ParsePort(v, &options.port))
        return Fail("--port needs a port number (0-65535)");
    } else if (arg == "--ip") {
      if (!next(&v) || v.empty()) return Fail("--ip needs an address");
      options.ip = v;
    } else if (arg == "-f" || arg == "--db-filename" || arg == "--database") {
      if (!next(&v) || v.empty()) return Fail(arg + " needs a file name or a PostgreSQL URL");
      options.db_path = v;
    } else if (arg == "-n" || arg == "--namespace") {
      if (!next(&v) || v.empty()) return Fail("--namespace needs a name");
      options.namespaces.push_back(v);
    } else if (arg == "--log-level") {
      if (!next(&v) || !log::ParseLevel(v, &level)) {
        return Fail("--log-level must be one of debug, info, warn, error, never");
      }
    } else if (arg == "--log-format") {
      if (!next(&v) || !log::ParseFormat(v, &format))
        return Fail("--log-format must be text or json");
    } else if (arg == "--metrics-port") {
      if (!next(&v) || !ParsePort(v, &options.metrics_port))
        return Fail("--metrics-port needs a port number (0-65535)");
      options.metrics_port_required = true;
    } else if (arg == "--tls-cert-path" || arg == "--tls-key-path" ||
               arg == "--tls-client-ca-path" || arg == "--auth-config" || arg == "--audit-log") {
      if (!next(&v) || v.empty()) return Fail(arg + " needs a file name");
      if (arg == "--tls-cert-path") options.tls_cert_path = v;
      if (arg == "--tls-key-path") options.tls_key_path = v;
      if (arg == "--tls-client-ca-path") options.tls_client_ca_path = v;
      if (arg == "--auth-config") options.auth_config_path = v;
      if (arg == "--audit-log") options.audit_log_path = v;
    } else if (arg == "--max-parked-polls-per-queue") {
      int64_t n = 0;
      if (!next(&v) || !ParsePositive(v, &n) || n > 1'000'000)
        return Fail(arg + " needs a whole number from 1 to 1000000");
      options.parked_polls_per_queue_max = static_cast<int>(n);
    } else if (arg == "--namespace-rps" || arg == "--caller-rps") {
      double rate = 0;
      if (!next(&v) || !ParseRate(v, &rate)) return Fail(arg + " needs a positive number");
      (arg == "--namespace-rps" ? options.namespace_rps : options.caller_rps) = rate;
    } else if (arg == "--ui-port") {
      if (!next(&v) || !ParsePort(v, &options.ui_port))
        return Fail("--ui-port needs a port number (0-65535)");
      options.ui_port_required = true;
    } else if (arg == "--http-port") {
      if (!next(&v) || !ParsePort(v, &options.http_port))
        return Fail("--http-port needs a port number (0-65535)");
    } else if (arg == "--headless") {
      headless = true;
    } else if (arg == "--history-count-limit" || arg == "--history-size-limit" ||
               arg == "--payload-size-limit" || arg == "--pending-activities-limit" ||
               arg == "--pending-children-limit" || arg == "--pending-signals-limit") {
      int64_t n = 0;
      if (!next(&v) || !ParsePositive(v, &n)) return Fail(arg + " needs a positive whole number");
      if (arg == "--history-count-limit") options.history_count_limit = n;
      if (arg == "--history-size-limit") options.history_size_limit_bytes = n;
      if (arg == "--payload-size-limit") options.blob_size_limit_bytes = n;
      if (arg == "--pending-activities-limit")
        options.pending_activities_limit = static_cast<int>(n);
      if (arg == "--pending-children-limit") options.pending_children_limit = static_cast<int>(n);
      if (arg == "--pending-signals-limit") options.pending_signals_limit = static_cast<int>(n);
    } else if (arg == "--time-skipping") {
      options.time_skipping = true;
    } else if (arg == "--task-failures-before-parking") {
      int64_t n = 0;
      if (!next(&v) || !ParsePositive(v, &n) || n > 1000)
        return Fail("--task-failures-before-parking needs a whole number from 1 to 1000");
      options.task_failures_before_parking = static_cast<int>(n);
    } else if (arg == "--num-shards") {
      int64_t n = 0;
      if (!next(&v) || !ParsePositive(v, &n) || n > 16384)
        return Fail("--num-shards needs a whole number from 1 to 16384");
      options.shard_count = static_cast<int32_t>(n);
    } else if (arg == "--sync-normal") {
      options.synchronous_full = false;
    } else {
      return Fail("unknown flag " + args[i] + " for \"eon server start-dev\" (see --help)");
    }
  }
  log::SetLevel(level);
  log::SetFormat(format);
  if (headless) options.ui_port = -1;

  // Signals are taken synchronously by this thread; every other thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto started = server::Server::Start(options);
  if (!started.ok()) return Fail(started.status().message());
  auto& server = *started;
  std::printf("Eon server is listening on %s (gRPC)\n", server->address().c_str());
  if (server->ui_port() != 0)
    std::printf("Web UI: http://%s:%d (HTTP API: http://%s:%d/api/v1)\n", options.ip.c_str(),
                server->ui_port(), options.ip.c_str(), server->ui_port());
  if (server->http_port() != 0)
    std::printf("HTTP API: http://%s:%d/api/v1\n", options.ip.c_str(), server->http_port());
  if (server->metrics_port() != 0)
    std::printf("Metrics: http://%s:%d/metrics\n", options.ip.c_str(), server->metrics_port());
  std::printf("Database: %s\n", options.db_path == ":memory:"
                                    ? "in memory (use --db-filename to keep state)"
                                    : persistence::RedactPassword(options.db_path).c_str());
  std::fflush(stdout);

  int signal_number = 0;
  for (;;) {
    sigwait(&signals, &signal_number);
    if (signal_number != SIGHUP) break;
    // The certificate files are watched; SIGHUP says at once whether the new ones are usable.
    Status tls = server::CheckTlsFiles(options);
    if (options.tls_cert_path.empty())
      LOG_INFO("SIGHUP: no TLS files to reload");
    else if (tls.ok())
      LOG_INFO("SIGHUP: the TLS files are valid; new connections use them within "
               << options.tls_refresh_interval_s << " s");
    else
      LOG_ERROR("SIGHUP: " << tls.message()
                           << "; new TLS connections fail until the files are fixed");
  }
  LOG_INFO("received " << (signal_number == SIGINT ? "SIGINT" : "SIGTERM") << ", shutting down");
  std::string stats = server->StatsLine();
  // Everything acknowledged is already durable, so a stop that hangs (a bug, reported with the
  // step it hangs in) may end the process without losing anything.
  std::thread watchdog([&server] {
    std::this_thread::sleep_for(kShutdownGrace);
    std::fprintf(stderr, "Error: shutdown did not finish within %lld s (stuck in: %s); exiting\n",
                 static_cast<long long>(kShutdownGrace.count()), server->ShutdownStep());
    std::fflush(stderr);
    std::_Exit(0);
  });
  watchdog.detach();
  server->Shutdown();
  LOG_INFO("stats: " << stats);
  std::printf("Eon server stopped.\n");
  return 0;
}

constexpr const char* kAdminDbUsage =
    R"(Apply or inspect the database schema.

Usage:
  eon admin db migrate --database DB   Create the schema, or migrate it to this eon's version
  eon admin db status --database DB    Print the schema version of a PostgreSQL database

DB is a SQLite file or postgresql://user:password@host:port/database. Migrations are
idempotent: one that was interrupted runs again. `eon server start-dev --database` migrates at
start too.
)";

int AdminDb(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help") {
    std::fputs(kAdminDbUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 1 : 0;
  }
  const std::string verb = args[0];
  if (verb != "migrate" && verb != "status") {
    return Fail("unknown command \"admin db " + verb + "\"; try migrate or status");
  }
  std::string database;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--database" && i + 1 < args.size()) {
      database = args[++i];
    } else if (args[i].rfind("--database=", 0) == 0) {
      database = args[i].substr(11);
    } else {
      return Fail("unknown flag " + args[i] + " for \"eon admin db " + verb + "\" (see --help)");
    }
  }
  if (database.empty()) return Fail("--database is required (a SQLite file or a PostgreSQL URL)");
  log::SetLevel(log::Level::kWarn);
  const bool postgres = persistence::IsPostgresUrl(database);
  if (verb == "status") {
    if (!postgres)
      return Fail("status reads PostgreSQL databases; a SQLite file is migrated when opened");
    auto version = persistence::PostgresDatabaseSchemaVersion(database);
    if (!version.ok()) return Fail(version.status().message());
    const int latest = persistence::PostgresSchemaVersion();
    std::printf("schema version %d (this eon: %d)%s\n", *version, latest,
                *version == latest  ? ""
                : *version < latest ? "; run eon admin db migrate"
                                    : "; the database is newer than this eon");
    return 0;
  }
  Status opened = postgres ? persistence::PostgresStore::Open({.url = database}).status()
                           : persistence::SqliteStore::Open({.path = database}).status();
  if (!opened.ok()) return Fail(opened.message());
  if (postgres) {
    std::printf("schema version %d\n", persistence::PostgresSchemaVersion());
  } else {
    std::printf("migrated %s\n", database.c_str());
  }
  return 0;
}

}  // namespace eon::cli
