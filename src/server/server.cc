#include "server/server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <netdb.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

#include "cluster/membership.h"
#include "cluster/node_client.h"
#include "cluster/routing.h"
#include "common/clock.h"
#include "common/env.h"
#include "common/executor.h"
#include "common/log.h"
#include "common/metrics.h"
#include "frontend/admin_service.h"
#include "frontend/batch_service.h"
#include "frontend/rpc.h"
#include "frontend/schedule_service.h"
#include "frontend/security.h"
#include "frontend/test_service.h"
#include "frontend/visibility_service.h"
#include "frontend/workflow_service.h"
#include "history/history_engine.h"
#include "matching/local_matching.h"
#include "matching/matching_engine.h"
#include "namespaces/registry.h"
#include "persistence/postgres_store.h"
#include "persistence/sqlite_store.h"
#include "server/http_server.h"
#include "visibility/visibility.h"
#include "worker/batch_records.h"
#include "worker/scheduler.h"

namespace eon::server {

namespace {

// How often the history engine compares the shards it holds with the ones it owns, besides
// when membership changes (a shard lost to a node with a stale view is taken back by then).
constexpr auto kOwnershipRecheckInterval = std::chrono::seconds(1);

// A port that was free on `ip` a moment ago, for `--internal-port 0`: the node's membership row
// names its internal address before the internal server (which needs the roles built first)
// binds it, and the others must be told the port it will really have. If another process takes
// the port in between, binding it fails and the server stops with a clear message.
Result<int> PickFreePort(const std::string& ip) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
  addrinfo* found = nullptr;
  if (getaddrinfo(ip.c_str(), "0", &hints, &found) != 0 || found == nullptr) {
    return InvalidArgument("--ip " + ip + " is not a numeric IP address");
  }
  int port = 0;
  int fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
  if (fd >= 0 && bind(fd, found->ai_addr, found->ai_addrlen) == 0) {
    sockaddr_storage bound{};
    socklen_t length = sizeof(bound);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) == 0) {
      port = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                         : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    }
  }
  if (fd >= 0) close(fd);
  freeaddrinfo(found);
  if (port == 0) return Unavailable("cannot find a free port on " + ip + " (--internal-port 0)");
  return port;
}

bool IsWildcard(const std::string& ip) { return ip == "0.0.0.0" || ip == "::" || ip == "[::]"; }

bool IsLoopback(const std::string& ip) {
  return ip.rfind("127.", 0) == 0 || ip == "::1" || ip == "localhost";
}

// "host:port", with an IPv6 address in brackets.
std::string HostPort(const std::string& host, int port) {
  const bool v6 = host.find(':') != std::string::npos && host.front() != '[';
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// What the other nodes dial for this node's internal port: the --internal-address given
// ("host" takes the internal port), or the bound ip with it.
std::string AdvertisedAddress(const std::string& ip, int internal_port,
                              const std::string& advertise) {
  if (advertise.empty()) return HostPort(ip, internal_port);
  const bool has_port = advertise.front() == '[' ? advertise.find("]:") != std::string::npos
                                                 : advertise.find(':') != std::string::npos;
  return has_port ? advertise : HostPort(advertise, internal_port);
}

struct X509Free {
  void operator()(X509* certificate) const { X509_free(certificate); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

// The first PEM certificate in `path`; null if there is none. `*opened` says whether the file
// could be read at all, so callers can tell the two failures apart in their messages.
X509Ptr ReadPemCertificate(const std::string& path, bool* opened) {
  BIO* bio = BIO_new_file(path.c_str(), "r");
  *opened = bio != nullptr;
  if (!bio) return nullptr;
  X509Ptr certificate(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  return certificate;
}

// A certificate (chain) and its private key: both readable PEM, and the key the certificate's.
Status CheckKeyPair(const std::string& cert_path, const std::string& key_path) {
  bool opened = false;
  X509Ptr cert = ReadPemCertificate(cert_path, &opened);
  if (!opened) return InvalidArgument("cannot read the TLS certificate " + cert_path);
  if (!cert)
    return InvalidArgument("the TLS certificate " + cert_path + " is not a PEM certificate");
  BIO* key_bio = BIO_new_file(key_path.c_str(), "r");
  if (!key_bio) return InvalidArgument("cannot read the TLS key " + key_path);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  BIO_free(key_bio);
  bool matches = key && X509_check_private_key(cert.get(), key) == 1;
  EVP_PKEY_free(key);
  if (!matches)
    return InvalidArgument("the TLS key " + key_path +
                           " is not a PEM private key for the certificate " + cert_path);
  return Status::Ok();
}

// A CA bundle (`what` names it in messages): readable, with at least one PEM certificate.
Status CheckCaBundle(const std::string& path, const std::string& what) {
  bool opened = false;
  X509Ptr ca = ReadPemCertificate(path, &opened);
  if (!opened) return InvalidArgument("cannot read the " + what + " " + path);
  if (!ca) return InvalidArgument("the " + what + " " + path + " holds no PEM certificate");
  return Status::Ok();
}

Status CheckInternalTlsFiles(const ServerOptions& options) {
  const bool any = !options.internal_tls_cert_path.empty() ||
                   !options.internal_tls_key_path.empty() || !options.internal_tls_ca_path.empty();
  if (!any) {
    if (!options.internal_tls_server_name.empty())
      return InvalidArgument(
          "--internal-tls-server-name needs --internal-tls-cert-path, --internal-tls-key-path "
          "and --internal-tls-ca-path");
    return Status::Ok();
  }
  if (options.internal_tls_cert_path.empty() || options.internal_tls_key_path.empty() ||
      options.internal_tls_ca_path.empty())
    return InvalidArgument(
        "mTLS between nodes needs all of --internal-tls-cert-path, --internal-tls-key-path and "
        "--internal-tls-ca-path");
  if (options.internal_port < 0)
    return InvalidArgument("--internal-tls-cert-path needs --internal-port");
  EON_RETURN_IF_ERROR(CheckKeyPair(options.internal_tls_cert_path, options.internal_tls_key_path));
  return CheckCaBundle(options.internal_tls_ca_path, "internal CA");
}

}  // namespace

Status CheckInternalAddress(const ServerOptions& options) {
  if (options.internal_port < 0 || !options.internal_advertise.empty() || !IsWildcard(options.ip))
    return Status::Ok();
  return InvalidArgument("--ip " + options.ip +
                         " binds every interface, which other nodes cannot dial: set "
                         "--internal-address to the host (or host:port) they reach this node's "
                         "internal port at");
}

Status CheckTlsFiles(const ServerOptions& options) {
  EON_RETURN_IF_ERROR(CheckInternalTlsFiles(options));
  if (options.tls_cert_path.empty() != options.tls_key_path.empty())
    return InvalidArgument(
        "TLS needs both a certificate (--tls-cert-path) and a key "
        "(--tls-key-path)");
  if (options.tls_cert_path.empty()) {
    if (!options.tls_client_ca_path.empty())
      return InvalidArgument("--tls-client-ca-path needs --tls-cert-path and --tls-key-path");
    return Status::Ok();
  }
  EON_RETURN_IF_ERROR(CheckKeyPair(options.tls_cert_path, options.tls_key_path));
  if (!options.tls_client_ca_path.empty())
    return CheckCaBundle(options.tls_client_ca_path, "client CA");
  return Status::Ok();
}

namespace {

// Server credentials from a certificate, its key and (mTLS) the CA that signs the clients'
// certificates; plaintext without a certificate.
std::shared_ptr<grpc::ServerCredentials> Credentials(const std::string& cert_path,
                                                     const std::string& key_path,
                                                     const std::string& client_ca_path,
                                                     int refresh_interval_s) {
  if (cert_path.empty()) return grpc::InsecureServerCredentials();
  // The provider re-reads the files every refresh interval, so renewed certificates are used
  // for new connections without a restart.
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      key_path, cert_path, client_ca_path, static_cast<unsigned>(refresh_interval_s));
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_identity_key_cert_pairs();
  if (!client_ca_path.empty()) {
    tls.watch_root_certs();
    tls.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(tls);
}

class ServerImpl final : public Server {
 public:
  explicit ServerImpl(const ServerOptions& options) : options_(options) {}
  ~ServerImpl() override { Shutdown(); }

  Status Init() {
    if (persistence::IsPostgresUrl(options_.db_path)) {
      persistence::PostgresOptions store_options;
      store_options.url = options_.db_path;
      store_options.shard_count = options_.shard_count;
      EON_ASSIGN_OR_RETURN(store_, persistence::PostgresStore::Open(store_options));
    } else {
      persistence::SqliteOptions store_options;
      store_options.path = options_.db_path;
      store_options.synchronous_full = options_.synchronous_full;
      store_options.shard_count = options_.shard_count;
      EON_ASSIGN_OR_RETURN(store_, persistence::SqliteStore::Open(store_options));
    }
    if (options_.time_skipping) {
      auto skippable = std::make_unique<SkippableClock>();
      skippable_clock_ = skippable.get();
      clock_ = std::move(skippable);
    } else {
      clock_ = std::make_unique<SystemClock>();
    }
    env_ = std::make_unique<RealEnv>(*clock_);
    EON_RETURN_IF_ERROR(StartMembership());
    namespaces_ = std::make_unique<namespaces::Registry>(*store_, *clock_);
    EON_RETURN_IF_ERROR(namespaces_->Load());
    EON_RETURN_IF_ERROR(namespaces_->Ensure("default"));
    for (const auto& name : options_.namespaces) EON_RETURN_IF_ERROR(namespaces_->Ensure(name));

    scheduler_ = std::make_unique<ThreadDeadlineScheduler>();
    request_executor_ = env_->NewExecutor("requests", options_.request_threads);
    task_executor_ = env_->NewExecutor("tasks", options_.task_threads);
    matching::MatchingOptions matching_options;
    matching_options.clock = clock_.get();
    // Another node may have written a queue's backlog before the queue moved here.
    matching_options.shared_backlogs = ownership_ != nullptr;
    matching_ = std::make_unique<matching::MatchingEngine>(*store_, *scheduler_,
                                                           std::move(matching_options));
    EON_RETURN_IF_ERROR(matching_->Recover());
    local_matching_ =
        std::make_unique<matching::LocalMatching>(*matching_, *request_executor_, scheduler_.get());
    // Several nodes: history and the frontend reach task queues through routing_matching_, and
    // matching reaches history through routing_history_, each picking this node or the owner
    // per call. A lone node wires the local roles directly.
    const bool clustered = ownership_ != nullptr && options_.internal_port >= 0;
    matching::MatchingService* matching_service = local_matching_.get();
    if (clustered) {
      cluster::NodeClientOptions client_options;
      client_options.tls_cert_path = options_.internal_tls_cert_path;
      client_options.tls_key_path = options_.internal_tls_key_path;
      client_options.tls_ca_path = options_.internal_tls_ca_path;
      client_options.tls_server_name = options_.internal_tls_server_name;
      client_options.tls_refresh_interval_s = options_.tls_refresh_interval_s;
      node_clients_ =
          std::make_unique<cluster::NodeClients>(ownership_->self().name, client_options);
      routing_matching_ = std::make_unique<cluster::RoutingMatching>(*local_matching_,
                                                                     *ownership_, *node_clients_);
      matching_service = routing_matching_.get();
    }
    history::EngineOptions engine_options;
    engine_options.history_count_limit = options_.history_count_limit;
    engine_options.history_count_warn = options_.history_count_limit / 5;
    engine_options.history_size_limit_bytes = options_.history_size_limit_bytes;
    engine_options.history_size_warn_bytes = options_.history_size_limit_bytes / 5;
    engine_options.blob_size_limit_bytes = options_.blob_size_limit_bytes;
    engine_options.pending_activities_max = options_.pending_activities_limit;
    engine_options.pending_children_max = options_.pending_children_limit;
    engine_options.pending_external_requests_max = options_.pending_signals_limit;
    engine_options.task_failures_before_parking = options_.task_failures_before_parking;
    history_ = std::make_unique<history::HistoryEngine>(*store_, *env_, *matching_service,
                                                        *task_executor_, engine_options);
    cluster::ShardOf shard_of = [engine = history_.get()](const std::string& ns,
                                                          const std::string& workflow_id) {
      return engine->ShardFor(ns, workflow_id);
    };
    if (clustered) {
      routing_history_ = std::make_unique<cluster::RoutingHistory>(
          *history_, *ownership_, shard_of,
          [engine = history_.get()] { return engine->shard_count(); }, *node_clients_);
      local_matching_->SetHistory(*routing_history_);
      // Outbox tasks that act on another execution reach the owner of its shard.
      history_->SetCrossExecutionService(*routing_history_);
    } else {
      local_matching_->SetHistory(*history_);
    }
    if (skippable_clock_) history_->EnableTimeSkipping(*skippable_clock_);
    // Under time skipping a retention timer would be the next thing to skip to and would delete
    // what a test is about to read; test servers keep closed runs.
    if (!options_.time_skipping)
      history_->SetRetention([registry = namespaces_.get()](const std::string& id) -> Duration {
        auto ns = registry->ById(id);
        return ns.ok() ? FromProtoDuration((*ns)->config().workflow_execution_retention_ttl())
                       : Duration(0);
      });
    history_->SetNamespaceNames([registry = namespaces_.get()](const std::string& id) {
      auto ns = registry->ById(id);
      return ns.ok() ? (*ns)->info().name() : std::string();
    });
    if (ownership_) history_->SetOwnership(*ownership_, kOwnershipRecheckInterval);
    EON_RETURN_IF_ERROR(history_->Start());
    if (membership_) {
      membership_subscription_ = membership_->Subscribe([this] {
        history_->OwnershipChanged();
        matching_->ReleaseQueues([this](const matching::QueueId& queue) {
          return ownership_->OwnsQueue(queue.namespace_id, queue.name);
        });
      });
      // A change between the first heartbeat and the subscription is not missed.
      history_->OwnershipChanged();
    }
    worker::SchedulerOptions scheduler_options;
    if (ownership_) {
      scheduler_options.runs_here = [history = history_.get()](const std::string& namespace_id,
                                                               const std::string& schedule_id) {
        return history->HoldsShardOf(namespace_id, schedule_id);
      };
    }
    // With several nodes, a schedule's workflow is started (and terminated or cancelled by its
    // overlap policy) on the owner of the workflow's shard, and the parked-task admin calls cover
    // every node.
    history::HistoryService& routed_history =
        routing_history_ ? static_cast<history::HistoryService&>(*routing_history_) : *history_;
    scheduler_role_ =
        std::make_unique<worker::Scheduler>(*store_, *clock_, routed_history, scheduler_options);
    EON_RETURN_IF_ERROR(scheduler_role_->Start());

    EON_RETURN_IF_ERROR(CheckTlsFiles(options_));
    frontend::SecurityOptions security;
    security.auth_config_path = options_.auth_config_path;
    security.namespace_rps = options_.namespace_rps;
    security.caller_rps = options_.caller_rps;
    security.audit_log_path = options_.audit_log_path;
    security.parked_polls_per_queue_max = options_.parked_polls_per_queue_max;
    EON_ASSIGN_OR_RETURN(security_, frontend::SecurityGate::Create(security, *clock_));

    router_ = std::make_unique<frontend::RpcRouter>(*request_executor_);
    router_->SetGate(security_.get());
    workflow_service_ = frontend::RegisterWorkflowService(
        *router_, *namespaces_, *history_, *matching_service, *scheduler_, FrontendLimits());

    visibility_ = std::make_unique<visibility::Visibility>(*store_);
    visibility_service_ = frontend::RegisterVisibilityService(*router_, *namespaces_, *visibility_);
    admin_service_ = frontend::RegisterAdminService(*router_, routed_history);
    batch_records_ = std::make_unique<worker::BatchRecords>(*store_);
    EON_ASSIGN_OR_RETURN(batch_service_,
                         frontend::RegisterBatchService(*router_, *clock_, *batch_records_));
    schedule_service_ = frontend::RegisterScheduleService(*router_, *namespaces_, *scheduler_role_);
    if (history_->time_skipper()) {
      test_service_ = frontend::RegisterTestService(*router_, *history_->time_skipper(), *clock_);
    }

    if (clustered) {
      // The internal port serves what other nodes forward: the same handlers, never forwarded
      // again, plus the node-to-node calls. It is up before this node forwards anything.
      internal_router_ = frontend::RpcRouter::InternalCopyOf(*router_);
      cluster::RegisterInternalService(*internal_router_, *history_, *local_matching_,
                                       *routing_matching_);
      grpc::ServerBuilder internal_builder;
      internal_builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
      internal_builder.SetMaxReceiveMessageSize(128 * 1024 * 1024);
      int internal_bound = 0;
      std::string internal_listen = options_.ip + ":" + std::to_string(internal_port_);
      internal_builder.AddListeningPort(
          internal_listen,
          Credentials(options_.internal_tls_cert_path, options_.internal_tls_key_path,
                      options_.internal_tls_ca_path, options_.tls_refresh_interval_s),
          &internal_bound);
      internal_builder.RegisterCallbackGenericService(internal_router_.get());
      internal_server_ = internal_builder.BuildAndStart();
      if (!internal_server_ || internal_bound == 0) {
        return Unavailable("cannot listen on " + internal_listen +
                           " (--internal-port): the port is in use or the address is not "
                           "available");
      }
      // What the others dial (--internal-address), as the membership row says.
      internal_address_ =
          membership_ ? ownership_->self().internal_address : HostPort(options_.ip, internal_bound);
      if (options_.internal_tls_cert_path.empty() && !IsLoopback(options_.ip)) {
        LOG_WARN("the internal port " << internal_listen
                                      << " is plaintext and unauthenticated: whoever reaches it "
                                         "can act as a node. --internal-tls-cert-path, "
                                         "--internal-tls-key-path and --internal-tls-ca-path "
                                         "turn on mTLS between nodes");
      }
      forwarder_ = std::make_unique<cluster::ClusterForwarder>(*ownership_, *namespaces_,
                                                               shard_of, *node_clients_);
      router_->SetForwarder(forwarder_.get());
    }

    // HTTP first: once the gRPC port answers (what clients and tests wait for), the UI does too,
    // and a UI port that cannot be had stops the server before it serves anything.
    EON_RETURN_IF_ERROR(StartHttp());

    grpc::ServerBuilder builder;
    // Another process on the port must make us fail, not share it.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.SetMaxReceiveMessageSize(128 * 1024 * 1024);
    int bound_port = 0;
    std::string listen = options_.ip + ":" + std::to_string(options_.port);
    builder.AddListeningPort(
        listen,
        Credentials(options_.tls_cert_path, options_.tls_key_path, options_.tls_client_ca_path,
                    options_.tls_refresh_interval_s),
        &bound_port);
    builder.RegisterCallbackGenericService(router_.get());
    grpc_server_ = builder.BuildAndStart();
    if (!grpc_server_ || bound_port == 0) {
      return Unavailable("cannot listen on " + listen +
                         ": the port is in use or the address is not available");
    }
    address_ = options_.ip + ":" + std::to_string(bound_port);
    return StartMetrics();
  }

  // Several nodes (issue 15): with an internal port and a database other processes can reach,
  // this node heartbeats a membership row and owns what rendezvous hashing gives it. A lone
  // node (no internal port, or an in-memory database) owns everything, as before.
  Status StartMembership() {
    internal_port_ = options_.internal_port;
    if (options_.ownership) {
      ownership_ = options_.ownership.get();
      return Status::Ok();
    }
    if (options_.internal_port < 0 || options_.db_path == ":memory:") return Status::Ok();
    // The others must be told the port this node will listen on, not 0.
    if (internal_port_ == 0) {
      EON_ASSIGN_OR_RETURN(internal_port_, PickFreePort(options_.ip));
    }
    EON_RETURN_IF_ERROR(CheckInternalAddress(options_));
    cluster::Node self{options_.node_name,
                       AdvertisedAddress(options_.ip, internal_port_, options_.internal_advertise)};
    EON_ASSIGN_OR_RETURN(membership_, cluster::Membership::Start(*store_, *env_, self));
    ownership_ = membership_.get();
    return Status::Ok();
  }

  Status StartHttp() {
    if (options_.ui_port >= 0) {
      auto ui = HttpServer::Start(options_.ip, options_.ui_port, *router_, /*serve_ui=*/true);
      if (ui.ok()) {
        ui_server_ = std::move(ui).value();
      } else if (options_.ui_port_required) {
        return ui.status();
      } else {
        LOG_WARN(ui.status().message() << "; this server serves no web UI"
                                       << " (--ui-port picks another port)");
      }
    }
    if (options_.http_port >= 0) {
      EON_ASSIGN_OR_RETURN(http_server_, HttpServer::Start(options_.ip, options_.http_port,
                                                           *router_, /*serve_ui=*/false));
    }
    return Status::Ok();
  }

  Status StartMetrics() {
    if (options_.metrics_port < 0) return Status::Ok();
    auto endpoint = metrics::Endpoint::Start(options_.ip, options_.metrics_port);
    if (!endpoint.ok()) {
      if (options_.metrics_port_required) return endpoint.status();
      LOG_WARN(endpoint.status().message() << "; this server serves no metrics"
                                           << " (--metrics-port picks another port)");
      return Status::Ok();
    }
    metrics_endpoint_ = std::move(endpoint).value();
    // Backlog and parked polls per task queue, read when scraped.
    metrics_collector_ = metrics::AddCollector([this](std::vector<metrics::GaugeSample>& out) {
      auto now = clock_->Now();
      for (const auto& queue : matching_->Stats()) {
        auto ns = namespaces_->ById(queue.queue.namespace_id);
        std::vector<std::pair<std::string, std::string>> labels{
            {"namespace", ns.ok() ? (*ns)->info().name() : queue.queue.namespace_id},
            {"taskqueue", queue.queue.name},
            {"task_type",
             queue.queue.kind == eon::v1::TASK_QUEUE_KIND_WORKFLOW ? "Workflow" : "Activity"}};
        double age = 0;
        if (queue.oldest_task_created && queue.backlog_count > 0) {
          age = std::max(
              0.0, std::chrono::duration<double>(now - FromTimestamp(*queue.oldest_task_created))
                       .count());
        }
        out.push_back({"approximate_backlog_count", "Tasks waiting in a task queue's backlog.",
                       labels, static_cast<double>(queue.backlog_count)});
        out.push_back({"approximate_backlog_age_seconds",
                       "Age of the oldest task in a task queue's backlog.", labels, age});
        out.push_back({"pending_polls", "Long polls parked on a task queue, waiting for a task.",
                       labels, static_cast<double>(queue.parked_polls)});
      }
      // Several nodes: how many history shards this node holds now (all of them on a lone node).
      int32_t held = 0;
      for (int32_t shard = 0; shard < history_->shard_count(); ++shard) {
        if (history_->HoldsShard(shard)) ++held;
      }
      out.push_back({"eon_history_shards_held",
                     "History shards this node holds now.",
                     {},
                     static_cast<double>(held)});
      // Only ever grows; above 0 means matching lost track of a task (see AuditBacklogs).
      out.push_back({"matching_backlog_faults",
                     "Backlog tasks matching's guard found left behind while pollers waited.",
                     {},
                     static_cast<double>(matching_->backlog_fault_count())});
    });
    return Status::Ok();
  }

  std::string address() const override { return address_; }
  std::string internal_address() const override { return internal_address_; }
  int metrics_port() const override { return metrics_endpoint_ ? metrics_endpoint_->port() : 0; }
  int ui_port() const override { return ui_server_ ? ui_server_->port() : 0; }
  int http_port() const override { return http_server_ ? http_server_->port() : 0; }
  int shard_count() const override { return history_ ? history_->shard_count() : 0; }
  const char* ShutdownStep() const override { return step_.load(); }

  frontend::FrontendOptions FrontendLimits() const {
    frontend::FrontendOptions options;
    options.blob_size_limit_bytes = options_.blob_size_limit_bytes;
    if (auto shards = store_->ShardCount(); shards.ok()) options.shard_count = *shards;
    return options;
  }

  void Shutdown() override {
    if (stopped_) return;
    stopped_ = true;
    if (metrics_collector_) metrics::RemoveCollector(metrics_collector_);
    metrics_endpoint_.reset();
    step_ = "stopping the HTTP servers";
    if (ui_server_) ui_server_->Stop();
    if (http_server_) http_server_->Stop();
    if (grpc_server_) {
      // Parked long polls are cancelled by the deadline; they answer at once.
      step_ = "stopping the gRPC server";
      grpc_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
      step_ = "waiting for gRPC calls to finish";
      grpc_server_->Wait();
    }
    if (internal_server_) {
      step_ = "stopping the internal gRPC server";
      internal_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
      internal_server_->Wait();
    }
    if (membership_subscription_) membership_->Unsubscribe(membership_subscription_);
    step_ = "stopping the scheduler";
    if (scheduler_role_) scheduler_role_->Stop();
    step_ = "stopping the history queues";
    if (history_) history_->Stop();
    step_ = "draining the request threads";
    request_executor_.reset();
    step_ = "draining the task threads";
    task_executor_.reset();
    step_ = "closing the store";
    workflow_service_.reset();
    test_service_.reset();
    visibility_service_.reset();
    schedule_service_.reset();
    admin_service_.reset();
    batch_service_.reset();
    internal_router_.reset();
    router_.reset();
    forwarder_.reset();
    scheduler_role_.reset();
    security_.reset();
    routing_history_.reset();
    history_.reset();
    routing_matching_.reset();
    node_clients_.reset();
    local_matching_.reset();
    matching_.reset();
    scheduler_.reset();
    namespaces_.reset();
    step_ = "leaving the cluster";
    membership_.reset();  // deletes this node's row: the others take its shards at once
    ownership_ = nullptr;
    store_.reset();
  }

  std::string StatsLine() override {
    std::string line;
    int64_t total = 0;
    if (router_) {
      std::lock_guard lock(router_->counters().mutex);
      for (const auto& [method, count] : router_->counters().by_method) {
        line += " " + method + "=" + std::to_string(count);
        total += count;
      }
    }
    std::string db;
    if (store_) {
      auto stats = store_->Stats();
      db = "db_write_transactions=" + std::to_string(stats.write_transactions) +
           " execution_writes=" + std::to_string(stats.execution_writes);
    }
    return db + " rpcs=" + std::to_string(total) + line;
  }

 private:
  const ServerOptions options_;
  std::unique_ptr<Clock> clock_;
  SkippableClock* skippable_clock_ = nullptr;  // clock_, when time skipping
  std::unique_ptr<RealEnv> env_;               // over clock_; outlives the roles
  bool stopped_ = false;
  std::atomic<const char*> step_{"not started"};
  std::string address_;
  std::string internal_address_;
  int internal_port_ = -1;  // options_.internal_port, or the port picked for 0
  std::unique_ptr<persistence::Store> store_;
  std::unique_ptr<namespaces::Registry> namespaces_;
  std::unique_ptr<cluster::Membership> membership_;  // cluster mode only
  int membership_subscription_ = 0;                  // 0: none
  // Who owns what: membership_, or options_.ownership; null for a lone node (it owns all).
  cluster::Ownership* ownership_ = nullptr;
  std::unique_ptr<DeadlineScheduler> scheduler_;
  std::unique_ptr<Executor> request_executor_;
  std::unique_ptr<Executor> task_executor_;
  std::unique_ptr<matching::MatchingEngine> matching_;
  std::unique_ptr<matching::LocalMatching> local_matching_;  // over matching_ and history_
  std::unique_ptr<history::HistoryEngine> history_;
  // Several nodes only (null for a lone node): the client to the other nodes, the routing
  // decorators over the local roles, the edge's forwarder and the internal port's server.
  std::unique_ptr<cluster::NodeClients> node_clients_;
  std::unique_ptr<cluster::RoutingMatching> routing_matching_;  // over local_matching_
  std::unique_ptr<cluster::RoutingHistory> routing_history_;    // over history_
  std::unique_ptr<cluster::ClusterForwarder> forwarder_;
  std::unique_ptr<frontend::RpcRouter> internal_router_;  // the internal port's handlers
  std::unique_ptr<grpc::Server> internal_server_;
  std::unique_ptr<worker::Scheduler> scheduler_role_;  // the worker role: schedules
  std::unique_ptr<worker::BatchRecords> batch_records_;
  std::unique_ptr<visibility::Visibility> visibility_;
  std::unique_ptr<frontend::SecurityGate> security_;  // outlives router_'s serving
  std::unique_ptr<frontend::RpcRouter> router_;
  std::unique_ptr<frontend::ServiceHandle> workflow_service_;
  std::unique_ptr<frontend::ServiceHandle> test_service_;
  std::unique_ptr<frontend::ServiceHandle> visibility_service_;
  std::unique_ptr<frontend::ServiceHandle> admin_service_;
  std::unique_ptr<frontend::ServiceHandle> batch_service_;
  std::unique_ptr<frontend::ServiceHandle> schedule_service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<HttpServer> ui_server_;    // stopped before router_ goes
  std::unique_ptr<HttpServer> http_server_;  // stopped before router_ goes
  std::unique_ptr<metrics::Endpoint> metrics_endpoint_;
  uint64_t metrics_collector_ = 0;  // 0: none registered
};

}  // namespace

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  auto server = std::make_unique<ServerImpl>(options);
  Status started = server->Init();
  if (!started.ok()) return started;
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace eon::server
