#include "cli/server_command.h"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "cli/fail.h"
#include "cli/server_settings.h"
#include "common/log.h"
#include "persistence/postgres_store.h"
#include "persistence/sqlite_store.h"
#include "server/server.h"

namespace eon::cli {
namespace {

constexpr const char* kServerUsage =
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

constexpr const char* kStartUsage =
    R"(Start an Eon server for production: on PostgreSQL (one or several nodes) or a SQLite file.
For development, `eon server start-dev` has in-memory state, the web UI and friendlier defaults.

Usage:
  eon server start --database DB [flags]
  eon server start --config eon.yaml [flags]

Flags:
      --config file           Read settings from this YAML file: a mapping whose keys are the flags
                              below without "--" (port: 7233, namespace: [a, b]). Flags given on
                              the command line override the file's; an unknown key is an error
      --database string       Required. postgresql://user:password@host:port/database, or a
                              SQLite file. The schema is created or migrated at start (or ahead
                              of time with `eon admin db migrate`)
      --ip string             IP address to bind every listener to (default "127.0.0.1"; 0.0.0.0
                              for all interfaces)
  -p, --port int              Port for the frontend gRPC service (default 7233)
      --internal-port int     Port for node-to-node gRPC when several nodes share one database
                              (default: none, a lone node)
      --internal-address host[:port]  The address other nodes dial for this node's internal
                              port (default: --ip with --internal-port; required when --ip binds
                              every interface, such as 0.0.0.0)
      --internal-tls-cert-path file  mTLS between nodes: this node's PEM certificate (chain) ...
      --internal-tls-key-path file   ... and its PEM private key, presented to the other nodes,
      --internal-tls-ca-path file    ... and the PEM CA bundle that signed every node's
                              certificate. All three or none; without them the internal port is
                              plaintext and unauthenticated (bind it on a private network)
      --internal-tls-server-name string  The name the other nodes' certificates carry (default:
                              the host dialed)
      --node-name string      This node's name among the nodes of one database: 1 to 64 letters,
                              digits, '-', '_' or '.' (default: the host name)
      --num-shards n          History shards of a new database, 1 to 16384 (default 4). Fixed
                              when the database is created: a server started with another count
                              on an existing database refuses to start. Without the flag, the
                              database's own count
  -n, --namespace strings     Namespaces to create at start; "default" always exists (repeatable)
      --metrics-port int|off  Port for /metrics in the Prometheus text format (default 9233, which
                              must be free; 0 picks a free port; off serves none)
      --ui-port int|off       Port for the web UI and the HTTP API under /api/v1 (default off; 0
                              picks a free port)
      --http-port int         Port for the HTTP API alone, as Temporal's 7243 (default off)
      --log-level string      debug, info, warn, error or never (default "info")
      --log-format string     text or json (default "text")
      --tls-cert-path file    Serve gRPC over TLS with this PEM certificate (chain) ...
      --tls-key-path file     ... and this PEM private key (re-read when they change; SIGHUP
                              checks them at once)
      --tls-client-ca-path file  Require client certificates signed by this PEM CA bundle (mTLS)
      --auth-config file      Authorization: JWKS for JWT bearer tokens and API keys with their
                              permissions (JSON; see README, "Running it securely"). Off without it
      --audit-log file        Append the audit log as JSON lines
      --namespace-rps n       Requests per second allowed per namespace (default: no limit)
      --caller-rps n          Requests per second allowed per caller (default: no limit)
      --max-parked-polls-per-queue n  Long polls that may wait on one task queue (default 1000)
      --history-count-limit n       Events after which a workflow is terminated (51200)
      --history-size-limit bytes    History size after which a workflow is terminated (52428800)
      --payload-size-limit bytes    Largest payload set in one request or command (2097152)
      --pending-activities-limit n  Pending activities per workflow (2000)
      --pending-children-limit n    Pending child workflows per workflow (2000)
      --pending-signals-limit n     Pending signals and cancels to other workflows (2000)
      --task-failures-before-parking n  Failures in a row after which an outbox task is parked
                              until `eon admin parked-tasks retry` (default 10)
  -h, --help                  Show this help

A setting that is unknown, malformed, out of range or missing stops the server before it opens
anything, with one line on stderr naming the setting, and exit code 1. Example eon.yaml:

  database: postgresql://eon:secret@db.internal:5432/eon
  ip: 0.0.0.0
  port: 7233
  internal-port: 7234
  internal-address: eon-1.internal
  internal-tls-cert-path: /etc/eon/eon-1.pem
  internal-tls-key-path: /etc/eon/eon-1.key
  internal-tls-ca-path: /etc/eon/nodes-ca.pem
  node-name: eon-1
  num-shards: 64
  metrics-port: 9233
  log-format: json
  namespace: [orders, billing]

See docs/operations.md for one and three nodes, upgrades, backups and choosing --num-shards.
)";

constexpr std::chrono::seconds kShutdownGrace{10};

int RunServer(ServerCommand command, int argc, char** argv) {
  auto parsed = ParseServerSettings(command, std::vector<std::string>(argv, argv + argc));
  if (!parsed.ok()) return Fail(parsed.status().message());
  if (parsed->help) {
    std::fputs(command == ServerCommand::kStart ? kStartUsage : kServerUsage, stdout);
    return 0;
  }
  const server::ServerOptions& options = parsed->options;
  log::SetLevel(parsed->log_level);
  log::SetFormat(parsed->log_format);

  // Signals are taken synchronously by this thread; every other thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  // Checked before anything is opened, so a bad file is the only line printed.
  if (Status tls = server::CheckTlsFiles(options); !tls.ok()) return Fail(tls.message());
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
  if (command == ServerCommand::kStart) {
    // The internal address actually bound (--internal-port 0 picks one), as the others see it.
    const std::string internal = server->internal_address();
    std::printf("Node: %s%s\n", options.node_name.c_str(),
                internal.empty() ? "" : (" (internal address " + internal + ")").c_str());
    // Fixed when the database was created (--num-shards, or the default then).
    std::printf("History shards: %d\n", server->shard_count());
  }
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

}  // namespace

int ServerStart(int argc, char** argv) { return RunServer(ServerCommand::kStart, argc, argv); }

int ServerStartDev(int argc, char** argv) {
  return RunServer(ServerCommand::kStartDev, argc, argv);
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
