#include "common/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <exception>
#include <map>
#include <mutex>

#include "common/process_stats.h"

namespace eon::metrics {
namespace {

using Labels = std::map<std::string, std::string>;

// Seconds, from 1 ms to 10 min (Temporal's millisecond timer buckets, in seconds).
const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 600};
const prometheus::Histogram::BucketBoundaries kCountBuckets = {1,  2,   5,   10,  20,
                                                               50, 100, 200, 500, 1000};

// Gauges computed at scrape time from the registered collectors.
class CollectorSet final : public prometheus::Collectable {
 public:
  uint64_t Add(Collector collector) {
    std::lock_guard lock(mutex_);
    collectors_[next_id_] = std::move(collector);
    return next_id_++;
  }
  void Remove(uint64_t id) {
    std::lock_guard lock(mutex_);  // a scrape holds it while it runs the collectors
    collectors_.erase(id);
  }
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<GaugeSample> samples;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [id, collector] : collectors_) collector(samples);
    }
    std::map<std::string, prometheus::MetricFamily> families;
    for (auto& sample : samples) {
      auto& family = families[sample.name];
      family.name = sample.name;
      family.help = sample.help;
      family.type = prometheus::MetricType::Gauge;
      prometheus::ClientMetric metric;
      for (auto& [name, value] : sample.labels) metric.label.push_back({name, value});
      metric.gauge.value = sample.value;
      family.metric.push_back(std::move(metric));
    }
    std::vector<prometheus::MetricFamily> out;
    for (auto& [name, family] : families) out.push_back(std::move(family));
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::map<uint64_t, Collector> collectors_;  // guarded by mutex_
  uint64_t next_id_ = 1;                      // guarded by mutex_
};

struct Families {
  explicit Families(prometheus::Registry& r)
      : service_requests(prometheus::BuildCounter()
                             .Name("service_requests")
                             .Help("RPC requests received, by operation and namespace.")
                             .Register(r)),
        service_pending_requests(prometheus::BuildGauge()
                                     .Name("service_pending_requests")
                                     .Help("RPCs in progress (parked long polls included).")
                                     .Register(r)),
        service_errors(prometheus::BuildCounter()
                           .Name("service_errors")
                           .Help("Unexpected RPC errors (internal, unknown, unavailable).")
                           .Register(r)),
        service_error_with_type(prometheus::BuildCounter()
                                    .Name("service_error_with_type")
                                    .Help("RPC errors of every kind, by error_type.")
                                    .Register(r)),
        service_errors_resource_exhausted(prometheus::BuildCounter()
                                              .Name("service_errors_resource_exhausted")
                                              .Help("RPCs refused by a rate or size limit.")
                                              .Register(r)),
        service_errors_unauthorized(prometheus::BuildCounter()
                                        .Name("service_errors_unauthorized")
                                        .Help("RPCs refused for want of a valid credential.")
                                        .Register(r)),
        service_errors_authorize_failed(prometheus::BuildCounter()
                                            .Name("service_errors_authorize_failed")
                                            .Help("RPCs refused by the authorizer.")
                                            .Register(r)),
        service_latency(prometheus::BuildHistogram()
                            .Name("service_latency")
                            .Help("RPC latency in seconds, by operation and namespace.")
                            .Register(r)),
        persistence_requests(prometheus::BuildCounter()
                                 .Name("persistence_requests")
                                 .Help("Database calls, by operation.")
                                 .Register(r)),
        persistence_errors(prometheus::BuildCounter()
                               .Name("persistence_errors")
                               .Help("Database calls that failed, by operation.")
                               .Register(r)),
        persistence_latency(prometheus::BuildHistogram()
                                .Name("persistence_latency")
                                .Help("Database call latency in seconds, by operation.")
                                .Register(r)),
        group_commit(prometheus::BuildHistogram()
                         .Name("persistence_group_commit_batch_size")
                         .Help("Writes that shared one transaction and one fsync.")
                         .Register(r)),
        cache_requests(prometheus::BuildCounter()
                           .Name("cache_requests")
                           .Help("Mutable-state cache lookups.")
                           .Register(r)),
        cache_miss(prometheus::BuildCounter()
                       .Name("cache_miss")
                       .Help("Mutable-state cache lookups that went to the database.")
                       .Register(r)),
        schedule_to_start(prometheus::BuildHistogram()
                              .Name("task_schedule_to_start_latency")
                              .Help("Seconds from a workflow or activity task's scheduling to its "
                                    "delivery to a poller, by task queue.")
                              .Register(r)),
        poll_success(prometheus::BuildCounter()
                         .Name("poll_success")
                         .Help("Polls answered with a task.")
                         .Register(r)),
        poll_timeouts(prometheus::BuildCounter()
                          .Name("poll_timeouts")
                          .Help("Polls answered empty.")
                          .Register(r)) {
    const char* closes[][2] = {{"workflow_success", "Workflow runs completed."},
                               {"workflow_failed", "Workflow runs failed."},
                               {"workflow_timeout", "Workflow runs timed out."},
                               {"workflow_terminate", "Workflow runs terminated."},
                               {"workflow_cancel", "Workflow runs canceled."},
                               {"workflow_continued_as_new", "Workflow runs continued as new."}};
    for (auto& [name, help] : closes)
      workflow_closed[name] = &prometheus::BuildCounter().Name(name).Help(help).Register(r);
  }

  prometheus::Family<prometheus::Counter>& service_requests;
  prometheus::Family<prometheus::Gauge>& service_pending_requests;
  prometheus::Family<prometheus::Counter>& service_errors;
  prometheus::Family<prometheus::Counter>& service_error_with_type;
  prometheus::Family<prometheus::Counter>& service_errors_resource_exhausted;
  prometheus::Family<prometheus::Counter>& service_errors_unauthorized;
  prometheus::Family<prometheus::Counter>& service_errors_authorize_failed;
  prometheus::Family<prometheus::Histogram>& service_latency;
  prometheus::Family<prometheus::Counter>& persistence_requests;
  prometheus::Family<prometheus::Counter>& persistence_errors;
  prometheus::Family<prometheus::Histogram>& persistence_latency;
  prometheus::Family<prometheus::Histogram>& group_commit;
  prometheus::Family<prometheus::Counter>& cache_requests;
  prometheus::Family<prometheus::Counter>& cache_miss;
  prometheus::Family<prometheus::Histogram>& schedule_to_start;
  prometheus::Family<prometheus::Counter>& poll_success;
  prometheus::Family<prometheus::Counter>& poll_timeouts;
  std::map<std::string, prometheus::Family<prometheus::Counter>*> workflow_closed;
};

// The process's own cost, under the names of Prometheus's process collector where one exists;
// `eon bench --address` reads them.
void CollectProcess(std::vector<GaugeSample>& out) {
  const ProcessStats stats = OwnProcessStats();
  out.push_back({"process_cpu_seconds_total",
                 "User and system CPU time of the server, seconds.",
                 {},
                 stats.cpu_seconds});
  out.push_back({"process_resident_memory_bytes",
                 "Resident memory of the server, bytes.",
                 {},
                 static_cast<double>(stats.rss_bytes)});
  const char* help = "Context switches of the server's threads (getrusage), by kind.";
  out.push_back({"eon_process_context_switches_total",
                 help,
                 {{"kind", "voluntary"}},
                 static_cast<double>(stats.voluntary_switches)});
  out.push_back({"eon_process_context_switches_total",
                 help,
                 {{"kind", "involuntary"}},
                 static_cast<double>(stats.involuntary_switches)});
}

struct State {
  State() { collectors->Add(CollectProcess); }
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<CollectorSet> collectors = std::make_shared<CollectorSet>();
  Families families{*registry};
  std::mutex counters_mutex;
  // Eon-only counters made on first use, by name.
  std::map<std::string, prometheus::Family<prometheus::Counter>*> counters;  // guarded
};

// Built on first use and never destroyed, so recording during static destruction is safe.
State& Get() {
  static State* state = new State();
  return *state;
}

}  // namespace

std::string ErrorTypeName(StatusCode code) {
  switch (code) {
    case StatusCode::CANCELLED:
      return "serviceerror_Canceled";
    case StatusCode::UNKNOWN:
      return "serviceerror_Unknown";
    case StatusCode::INVALID_ARGUMENT:
      return "serviceerror_InvalidArgument";
    case StatusCode::DEADLINE_EXCEEDED:
      return "serviceerror_DeadlineExceeded";
    case StatusCode::NOT_FOUND:
      return "serviceerror_NotFound";
    case StatusCode::ALREADY_EXISTS:
      return "serviceerror_AlreadyExists";
    case StatusCode::PERMISSION_DENIED:
      return "serviceerror_PermissionDenied";
    case StatusCode::RESOURCE_EXHAUSTED:
      return "serviceerror_ResourceExhausted";
    case StatusCode::FAILED_PRECONDITION:
      return "serviceerror_FailedPrecondition";
    case StatusCode::ABORTED:
      return "serviceerror_Aborted";
    case StatusCode::OUT_OF_RANGE:
      return "serviceerror_OutOfRange";
    case StatusCode::UNIMPLEMENTED:
      return "serviceerror_Unimplemented";
    case StatusCode::INTERNAL:
      return "serviceerror_Internal";
    case StatusCode::UNAVAILABLE:
      return "serviceerror_Unavailable";
    case StatusCode::DATA_LOSS:
      return "serviceerror_DataLoss";
    case StatusCode::UNAUTHENTICATED:
      return "serviceerror_Unauthenticated";
    default:
      return "serviceerror_Other";
  }
}

void RequestStarted(std::string_view operation, std::string_view ns) {
  auto& f = Get().families;
  Labels labels{{"operation", std::string(operation)}, {"namespace", std::string(ns)}};
  f.service_requests.Add(labels).Increment();
  f.service_pending_requests.Add({{"operation", std::string(operation)}}).Increment();
}

void RequestFinished(std::string_view operation, std::string_view ns, StatusCode code,
                     Seconds latency) {
  auto& f = Get().families;
  Labels labels{{"operation", std::string(operation)}, {"namespace", std::string(ns)}};
  f.service_pending_requests.Add({{"operation", std::string(operation)}}).Decrement();
  f.service_latency.Add(labels, kLatencyBuckets).Observe(latency.count());
  if (code == StatusCode::OK) return;
  Labels typed = labels;
  typed["error_type"] = ErrorTypeName(code);
  f.service_error_with_type.Add(typed).Increment();
  switch (code) {
    case StatusCode::INTERNAL:
    case StatusCode::UNKNOWN:
    case StatusCode::UNAVAILABLE:
    case StatusCode::DATA_LOSS:
      f.service_errors.Add(labels).Increment();
      break;
    case StatusCode::RESOURCE_EXHAUSTED:
      f.service_errors_resource_exhausted.Add(labels).Increment();
      break;
    case StatusCode::UNAUTHENTICATED:
      f.service_errors_unauthorized.Add(labels).Increment();
      break;
    case StatusCode::PERMISSION_DENIED:
      f.service_errors_authorize_failed.Add(labels).Increment();
      break;
    default:
      break;
  }
}

void PersistenceCall(std::string_view operation, Seconds latency, bool ok) {
  auto& f = Get().families;
  Labels labels{{"operation", std::string(operation)}};
  f.persistence_requests.Add(labels).Increment();
  f.persistence_latency.Add(labels, kLatencyBuckets).Observe(latency.count());
  if (!ok) f.persistence_errors.Add(labels).Increment();
}

PersistenceTimer::~PersistenceTimer() {
  PersistenceCall(operation_, std::chrono::steady_clock::now() - start_, ok_);
}

void GroupCommit(int64_t jobs) {
  Get().families.group_commit.Add({}, kCountBuckets).Observe(static_cast<double>(jobs));
}

void CacheLookup(bool hit) {
  auto& f = Get().families;
  Labels labels{{"operation", "HistoryCacheGetOrCreate"}};
  f.cache_requests.Add(labels).Increment();
  if (!hit) f.cache_miss.Add(labels).Increment();
}

void WorkflowClosed(std::string_view ns, int status) {
  // temporal.api.enums.v1.WorkflowExecutionStatus: 2 completed, 3 failed, 4 canceled,
  // 5 terminated, 6 continued as new, 7 timed out.
  const char* name = nullptr;
  switch (status) {
    case 2:
      name = "workflow_success";
      break;
    case 3:
      name = "workflow_failed";
      break;
    case 4:
      name = "workflow_cancel";
      break;
    case 5:
      name = "workflow_terminate";
      break;
    case 6:
      name = "workflow_continued_as_new";
      break;
    case 7:
      name = "workflow_timeout";
      break;
    default:
      return;
  }
  Get().families.workflow_closed.at(name)->Add({{"namespace", std::string(ns)}}).Increment();
}

void ScheduleToStart(std::string_view ns, std::string_view task_queue, std::string_view task_type,
                     Seconds latency) {
  Get()
      .families.schedule_to_start
      .Add({{"namespace", std::string(ns)},
            {"taskqueue", std::string(task_queue)},
            {"task_type", std::string(task_type)}},
           kLatencyBuckets)
      .Observe(std::max(0.0, latency.count()));
}

void PollEnded(std::string_view ns, std::string_view task_queue, std::string_view task_type,
               bool got_task) {
  auto& f = Get().families;
  Labels labels{{"namespace", std::string(ns)},
                {"taskqueue", std::string(task_queue)},
                {"task_type", std::string(task_type)}};
  (got_task ? f.poll_success : f.poll_timeouts).Add(labels).Increment();
}

uint64_t AddCollector(Collector collector) { return Get().collectors->Add(std::move(collector)); }

void RemoveCollector(uint64_t id) { Get().collectors->Remove(id); }

void Count(const std::string& name, const std::string& help,
           const std::vector<std::pair<std::string, std::string>>& labels, double by) {
  State& state = Get();
  prometheus::Family<prometheus::Counter>* family;
  {
    std::lock_guard lock(state.counters_mutex);
    auto& slot = state.counters[name];
    if (slot == nullptr)
      slot = &prometheus::BuildCounter().Name(name).Help(help).Register(*state.registry);
    family = slot;
  }
  family->Add(Labels(labels.begin(), labels.end())).Increment(by);
}

std::string RenderText() {
  State& state = Get();
  auto families = state.registry->Collect();
  for (auto& family : state.collectors->Collect()) families.push_back(std::move(family));
  return prometheus::TextSerializer().Serialize(families);
}

Result<std::unique_ptr<Endpoint>> Endpoint::Start(const std::string& ip, int port) {
  std::string address = ip + ":" + std::to_string(port);
  // civetweb takes "[::1]:port" for IPv6.
  if (ip.find(':') != std::string::npos) address = "[" + ip + "]:" + std::to_string(port);
  std::unique_ptr<Endpoint> endpoint(new Endpoint());
  try {
    // prometheus-cpp reports a port it cannot bind by throwing; nothing else here throws.
    endpoint->exposer_ = std::make_unique<prometheus::Exposer>(address, 2);
  } catch (const std::exception& e) {
    return Unavailable("cannot serve metrics on " + address + ": " + e.what());
  }
  endpoint->exposer_->RegisterCollectable(Get().registry);
  endpoint->exposer_->RegisterCollectable(Get().collectors);
  auto ports = endpoint->exposer_->GetListeningPorts();
  endpoint->port_ = ports.empty() ? port : ports.front();
  return endpoint;
}

Endpoint::~Endpoint() = default;

}  // namespace eon::metrics
