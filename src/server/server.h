// server: wires the roles of one Eon process together (store, namespaces, matching, history,
// frontend) and runs the gRPC server. `eon server start-dev` is a thin layer over this.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace eon::server {

struct ServerOptions {
  std::string ip = "127.0.0.1";
  int port = 7233;
  std::string db_path = ":memory:";
  std::vector<std::string> namespaces;  // registered at start if missing; "default" always is
  bool synchronous_full = true;
  bool time_skipping = false;  // serve TestService and skip time when idle (tests only)
  // Limits (Temporal's defaults).
  int64_t history_count_limit = 51'200;
  int64_t history_size_limit_bytes = 50 << 20;
  int64_t blob_size_limit_bytes = 2 << 20;
  int pending_activities_limit = 2'000;
  int pending_children_limit = 2'000;
  int pending_signals_limit = 2'000;  // signals and cancel requests to other workflows
  int request_threads = 16;
  int task_threads = 4;
};

class Server {
 public:
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options);
  virtual ~Server() = default;
  // The address actually bound, "ip:port".
  virtual std::string address() const = 0;
  // Stops serving: parked polls are answered, in-flight calls finish, the store is closed.
  virtual void Shutdown() = 0;
  // The step Shutdown is in, for a report when it takes too long.
  virtual const char* ShutdownStep() const = 0;
  // Counters for the operator (RPCs by method, database transactions).
  virtual std::string StatsLine() = 0;
};

}  // namespace eon::server
