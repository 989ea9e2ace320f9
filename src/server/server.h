// server: wires the roles of one Eon process together (store, namespaces, matching, history,
// frontend) and runs the gRPC server. `eon server start-dev` is a thin layer over this.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cluster/ownership.h"
#include "common/status.h"

namespace eon::server {

struct ServerOptions {
  std::string ip = "127.0.0.1";
  int port = 7233;
  // A SQLite file (":memory:" for none) or a PostgreSQL URL (postgresql://user:pw@host:port/db).
  std::string db_path = ":memory:";
  std::vector<std::string> namespaces;  // registered at start if missing; "default" always is
  bool synchronous_full = true;
  // History shards of a new database (0: the store's default); an existing database must have
  // this many (it is fixed at creation).
  int32_t shard_count = 0;
  bool time_skipping = false;  // serve TestService and skip time when idle (tests only)
  // Limits (Temporal's defaults).
  int64_t history_count_limit = 51'200;
  int64_t history_size_limit_bytes = 50 << 20;
  int64_t blob_size_limit_bytes = 2 << 20;
  int pending_activities_limit = 2'000;
  int pending_children_limit = 2'000;
  int pending_signals_limit = 2'000;  // signals and cancel requests to other workflows
  // Failures in a row after which an outbox task is parked until an operator retries it.
  int task_failures_before_parking = 10;
  // /metrics in the Prometheus text format, on `ip`: -1 serves none; 0 any free port.
  int metrics_port = -1;
  // A port the user named must be had, or Start fails. The default one may be busy (another
  // server on this machine has it): that is a warning, and this server serves no metrics.
  bool metrics_port_required = false;
  // The web UI and the HTTP API on `ip`: -1 serves none; 0 any free port. A named UI port must be
  // had; the default one may be busy (a warning, and no UI), as the metrics port.
  int ui_port = -1;
  bool ui_port_required = false;
  // The HTTP API alone (Temporal's 7243), for tools that expect it apart from the UI: -1 none.
  int http_port = -1;
  // TLS for gRPC: the server's certificate chain and private key (PEM files); both empty:
  // plaintext. Changed files are picked up within tls_refresh_interval_s, without a restart.
  std::string tls_cert_path;
  std::string tls_key_path;
  // With a CA bundle (PEM), clients must present a certificate it signed (mTLS).
  std::string tls_client_ca_path;
  int tls_refresh_interval_s = 5;
  // Authorization (see frontend/security.h): the auth config file; "" lets everyone in.
  std::string auth_config_path;
  double namespace_rps = 0;  // requests per second per namespace; 0: no limit
  double caller_rps = 0;     // requests per second per caller; 0: no limit
  std::string audit_log_path;  // audit lines appended here too ("" : the log only)
  int parked_polls_per_queue_max = 1'000;  // long polls waiting on one task queue; 0: no cap
  // Several nodes on one database (issue 15): this node's name among them, and the port of its
  // internal gRPC server, which other nodes forward calls to (-1: none, a lone node).
  std::string node_name = "local";
  int internal_port = -1;
  // The address the other nodes dial for this node's internal port: "host" (with the internal
  // port) or "host:port" (a port mapped elsewhere). "": `ip` with the internal port, which is
  // refused when `ip` binds every interface (0.0.0.0, ::): the others cannot dial that.
  std::string internal_advertise;
  // mTLS between nodes: all three files, or none (plaintext, unauthenticated: anyone who can
  // reach the internal port can act as a node). This node's certificate (chain) and key, which
  // its internal server and its calls to other nodes present, and the CA bundle that signed
  // every node's certificate: the internal server admits only callers with a certificate it
  // signed, and calls trust only servers with one. Changed files are picked up within
  // tls_refresh_interval_s, as the frontend's.
  std::string internal_tls_cert_path;
  std::string internal_tls_key_path;
  std::string internal_tls_ca_path;
  // The name the other nodes' certificates are checked for; "": the host of the address dialed.
  std::string internal_tls_server_name;
  // Who owns which shard and task queue; null: this node owns everything (cluster::SingleNode).
  std::shared_ptr<cluster::Ownership> ownership;
  int request_threads = 16;
  int task_threads = 4;
};

// INVALID_ARGUMENT when the other nodes could not dial this node's internal port: `ip` binds
// every interface and no internal_advertise names the address.
Status CheckInternalAddress(const ServerOptions& options);

// Reads the TLS files (the frontend's and the internal port's) and checks that each certificate
// and key are PEM and belong together and that each CA bundle holds a certificate;
// INVALID_ARGUMENT naming the file or the missing flag otherwise.
Status CheckTlsFiles(const ServerOptions& options);

class Server {
 public:
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options);
  virtual ~Server() = default;
  // The address actually bound, "ip:port".
  virtual std::string address() const = 0;
  // The internal port's address actually bound, "ip:port" ("" when it serves none).
  virtual std::string internal_address() const = 0;
  // The port /metrics is served on, or 0 when it is not.
  virtual int metrics_port() const = 0;
  // The ports of the web UI and of the HTTP API alone, or 0 when not served.
  virtual int ui_port() const = 0;
  virtual int http_port() const = 0;
  // The number of history shards, fixed when the database was created.
  virtual int shard_count() const = 0;
  // Stops serving: parked polls are answered, in-flight calls finish, the store is closed.
  virtual void Shutdown() = 0;
  // The step Shutdown is in, for a report when it takes too long.
  virtual const char* ShutdownStep() const = 0;
  // Counters for the operator (RPCs by method, database transactions).
  virtual std::string StatsLine() = 0;
};

}  // namespace eon::server
