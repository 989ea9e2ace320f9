// metrics: what the server is doing, in the Prometheus text format at /metrics.
//
// One process-wide registry (like a Prometheus client library's default registry): every layer
// records into it through the calls below, without a handle threaded through its constructor.
// Names and labels follow the Temporal server's where one exists (common/metrics/metric_defs.go:
// `service_requests`, `service_latency`, `persistence_latency`, ...; labels `operation`,
// `namespace`, `taskqueue`, `task_type`), so dashboards built for Temporal mostly work.
// Latencies are histograms in seconds. Gauges that describe state (backlogs, parked polls) are
// computed when scraped, by collectors the owners register.
//
// Thread-safe. Never throws.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace prometheus {
class Exposer;
}  // namespace prometheus

namespace eon::metrics {

using Seconds = std::chrono::duration<double>;

// --- frontend (src/frontend/rpc.cc) ---
// A call arrived: service_requests{operation,namespace} and service_pending_requests.
void RequestStarted(std::string_view operation, std::string_view ns);
// It ended: service_latency; for an error service_error_with_type{error_type} and, for
// unexpected errors (INTERNAL, UNKNOWN, UNAVAILABLE, DATA_LOSS), service_errors; refusals also
// count in service_errors_resource_exhausted, service_errors_unauthorized (UNAUTHENTICATED) and
// service_errors_authorize_failed (PERMISSION_DENIED), as Temporal does.
void RequestFinished(std::string_view operation, std::string_view ns, StatusCode code,
                     Seconds latency);

// Temporal's error_type label value for a status code, e.g. "serviceerror_NotFound".
std::string ErrorTypeName(StatusCode code);

// --- persistence ---
// persistence_requests, persistence_latency and persistence_errors by operation.
void PersistenceCall(std::string_view operation, Seconds latency, bool ok);
// persistence_group_commit_batch_size: jobs that shared one transaction and one fsync.
void GroupCommit(int64_t jobs);

// Times a persistence call from construction to destruction.
class PersistenceTimer {
 public:
  explicit PersistenceTimer(const char* operation)
      : operation_(operation), start_(std::chrono::steady_clock::now()) {}
  ~PersistenceTimer();
  void Failed() { ok_ = false; }
  PersistenceTimer(const PersistenceTimer&) = delete;
  PersistenceTimer& operator=(const PersistenceTimer&) = delete;

 private:
  const char* operation_;
  std::chrono::steady_clock::time_point start_;
  bool ok_ = true;
};

// --- history ---
// cache_requests and cache_miss{operation="HistoryCacheGetOrCreate"}: the mutable-state cache.
void CacheLookup(bool hit);
// A run closed: workflow_success, workflow_failed, workflow_timeout, workflow_terminate,
// workflow_cancel or workflow_continued_as_new, by namespace. `status` is a
// temporal.api.enums.v1.WorkflowExecutionStatus value.
void WorkflowClosed(std::string_view ns, int status);

// --- matching ---
// task_schedule_to_start_latency{namespace,taskqueue,task_type} where task_type is "Workflow"
// or "Activity": from the task's scheduling to its delivery to a poller.
void ScheduleToStart(std::string_view ns, std::string_view task_queue, std::string_view task_type,
                     Seconds latency);
// poll_success / poll_timeouts{namespace,taskqueue,task_type}.
void PollEnded(std::string_view ns, std::string_view task_queue, std::string_view task_type,
               bool got_task);

// --- scrape-time gauges ---
struct GaugeSample {
  std::string name;  // e.g. approximate_backlog_count
  std::string help;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};
using Collector = std::function<void(std::vector<GaugeSample>& out)>;
// Runs `collector` at every scrape until the returned id is passed to RemoveCollector, which
// waits for a scrape under way. Samples of the same name from several collectors are merged.
uint64_t AddCollector(Collector collector);
void RemoveCollector(uint64_t id);

// Counts by name with labels, for the odd Eon-only counter (rate limits, auth denials).
void Count(const std::string& name, const std::string& help,
           const std::vector<std::pair<std::string, std::string>>& labels, double by = 1);

// Every metric in the text exposition format (what /metrics answers).
std::string RenderText();

// The /metrics HTTP endpoint. Stops serving when destroyed.
class Endpoint {
 public:
  // Listens on ip:port (0: any free port). Fails with UNAVAILABLE naming the address when the
  // port cannot be had.
  static Result<std::unique_ptr<Endpoint>> Start(const std::string& ip, int port);
  ~Endpoint();
  int port() const { return port_; }

 private:
  Endpoint() = default;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

}  // namespace eon::metrics
