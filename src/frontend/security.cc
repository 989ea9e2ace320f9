#include "frontend/security.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "common/log.h"
#include "common/metrics.h"
#include "temporal/api/errordetails/v1/message.pb.h"

namespace eon::frontend {
namespace {

using Json = nlohmann::json;

// Temporal's method metadata (common/api/metadata.go), with a worker tier for the calls a
// worker makes. Everything not listed needs admin.
const std::unordered_map<std::string_view, Access>& AccessTable() {
  static const auto* table = new std::unordered_map<std::string_view, Access>{
      // Health checks: open to all.
      {"GetSystemInfo", Access::kNone},
      {"Check", Access::kNone},
      // Read-only.
      {"DescribeNamespace", Access::kRead},
      {"ListNamespaces", Access::kRead},
      {"GetClusterInfo", Access::kRead},
      {"GetSearchAttributes", Access::kRead},
      {"ListSearchAttributes", Access::kRead},
      {"GetWorkflowExecutionHistory", Access::kRead},
      {"GetWorkflowExecutionHistoryReverse", Access::kRead},
      {"DescribeWorkflowExecution", Access::kRead},
      {"DescribeTaskQueue", Access::kRead},
      {"ListTaskQueuePartitions", Access::kRead},
      {"QueryWorkflow", Access::kRead},
      {"ListWorkflowExecutions", Access::kRead},
      {"ListOpenWorkflowExecutions", Access::kRead},
      {"ListClosedWorkflowExecutions", Access::kRead},
      {"ListArchivedWorkflowExecutions", Access::kRead},
      {"ScanWorkflowExecutions", Access::kRead},
      {"CountWorkflowExecutions", Access::kRead},
      {"PollWorkflowExecutionUpdate", Access::kRead},
      {"DescribeSchedule", Access::kRead},
      {"ListSchedules", Access::kRead},
      {"ListScheduleMatchingTimes", Access::kRead},
      {"GetWorkerBuildIdCompatibility", Access::kRead},
      {"GetWorkerVersioningRules", Access::kRead},
      {"GetWorkerTaskReachability", Access::kRead},
      {"DescribeBatchOperation", Access::kRead},
      {"ListBatchOperations", Access::kRead},
      // Time skipping (TestService): tests read the clock and wait on it.
      {"GetCurrentTime", Access::kRead},
      {"LockTimeSkipping", Access::kWrite},
      {"UnlockTimeSkipping", Access::kWrite},
      {"Sleep", Access::kRead},
      {"SleepUntil", Access::kRead},
      {"UnlockTimeSkippingWithSleep", Access::kWrite},
      // A worker's calls.
      {"PollWorkflowTaskQueue", Access::kWorker},
      {"PollActivityTaskQueue", Access::kWorker},
      {"PollNexusTaskQueue", Access::kWorker},
      {"RespondWorkflowTaskCompleted", Access::kWorker},
      {"RespondWorkflowTaskFailed", Access::kWorker},
      {"RespondQueryTaskCompleted", Access::kWorker},
      {"RecordActivityTaskHeartbeat", Access::kWorker},
      {"RecordActivityTaskHeartbeatById", Access::kWorker},
      {"RespondActivityTaskCompleted", Access::kWorker},
      {"RespondActivityTaskCompletedById", Access::kWorker},
      {"RespondActivityTaskFailed", Access::kWorker},
      {"RespondActivityTaskFailedById", Access::kWorker},
      {"RespondActivityTaskCanceled", Access::kWorker},
      {"RespondActivityTaskCanceledById", Access::kWorker},
      {"RespondNexusTaskCompleted", Access::kWorker},
      {"RespondNexusTaskFailed", Access::kWorker},
      {"ResetStickyTaskQueue", Access::kWorker},
      {"ShutdownWorker", Access::kWorker},
      {"RecordWorkerHeartbeat", Access::kWorker},
      // Writes.
      {"StartWorkflowExecution", Access::kWrite},
      {"SignalWorkflowExecution", Access::kWrite},
      {"SignalWithStartWorkflowExecution", Access::kWrite},
      {"RequestCancelWorkflowExecution", Access::kWrite},
      {"TerminateWorkflowExecution", Access::kWrite},
      {"DeleteWorkflowExecution", Access::kWrite},
      {"ResetWorkflowExecution", Access::kWrite},
      {"UpdateWorkflowExecution", Access::kWrite},
      {"ExecuteMultiOperation", Access::kWrite},
      {"CreateSchedule", Access::kWrite},
      {"UpdateSchedule", Access::kWrite},
      {"PatchSchedule", Access::kWrite},
      {"DeleteSchedule", Access::kWrite},
      {"StartBatchOperation", Access::kWrite},
      {"StopBatchOperation", Access::kWrite},
      {"UpdateWorkerBuildIdCompatibility", Access::kWrite},
      {"UpdateWorkerVersioningRules", Access::kWrite},
      {"UpdateWorkflowExecutionOptions", Access::kWrite},
      // Administration.
      {"RegisterNamespace", Access::kAdmin},
      {"UpdateNamespace", Access::kAdmin},
      {"DeprecateNamespace", Access::kAdmin},
      {"DeleteNamespace", Access::kAdmin},
      {"AddSearchAttributes", Access::kAdmin},
      {"RemoveSearchAttributes", Access::kAdmin},
  };
  return *table;
}

// Operations recorded in the audit log even when they succeed.
bool Audited(std::string_view operation) {
  return operation == "RegisterNamespace" || operation == "UpdateNamespace" ||
         operation == "DeprecateNamespace" || operation == "DeleteNamespace" ||
         operation == "AddSearchAttributes" || operation == "RemoveSearchAttributes" ||
         operation == "TerminateWorkflowExecution" || operation == "DeleteWorkflowExecution" ||
         operation == "ResetWorkflowExecution";
}

uint32_t RoleFor(std::string_view name) {
  std::string lower(name);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "read" || lower == "reader") return kRoleReader;
  if (lower == "write" || lower == "writer") return kRoleWriter;
  if (lower == "worker") return kRoleWorker;
  if (lower == "admin") return kRoleAdmin;
  return 0;
}

// The roles that grant `access`: a role grants its own level and those below it.
uint32_t RolesGranting(Access access) {
  switch (access) {
    case Access::kNone:
      return ~0u;
    case Access::kRead:
      return kRoleReader | kRoleWorker | kRoleWriter | kRoleAdmin;
    case Access::kWorker:
      return kRoleWorker | kRoleWriter | kRoleAdmin;
    case Access::kWrite:
      return kRoleWriter | kRoleAdmin;
    case Access::kAdmin:
      return kRoleAdmin;
  }
  return kRoleAdmin;
}

Status ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  *out = text.str();
  return Status::Ok();
}

Status RateLimited(const std::string& message, temporal::api::enums::v1::ResourceExhaustedScope scope) {
  temporal::api::errordetails::v1::ResourceExhaustedFailure detail;
  detail.set_cause(temporal::api::enums::v1::RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT);
  detail.set_scope(scope);
  return Status(StatusCode::RESOURCE_EXHAUSTED, message).WithDetail(detail);
}

std::string Now() {
  auto now = std::chrono::system_clock::now();
  std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return stamp;
}

}  // namespace

Access AccessFor(std::string_view operation) {
  const auto& table = AccessTable();
  auto it = table.find(operation);
  return it == table.end() ? Access::kAdmin : it->second;
}

bool Allows(const Claims& claims, Access access, std::string_view ns) {
  if (access == Access::kNone) return true;
  uint32_t roles = claims.system;
  if (!ns.empty()) {
    auto it = claims.namespaces.find(std::string(ns));
    if (it != claims.namespaces.end()) roles |= it->second;
  }
  return (roles & RolesGranting(access)) != 0;
}

bool AddPermission(std::string_view permission, Claims* claims) {
  auto colon = permission.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  uint32_t role = RoleFor(permission.substr(colon + 1));
  if (role == 0) return false;
  std::string_view ns = permission.substr(0, colon);
  if (ns == "temporal-system" || ns == "system")
    claims->system |= role;
  else
    claims->namespaces[std::string(ns)] |= role;
  return true;
}

bool TokenBucket::Take(std::chrono::steady_clock::time_point now) {
  double elapsed_s = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  tokens_ = std::min(burst_, tokens_ + std::max(0.0, elapsed_s) * rate_per_s_);
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

Result<std::unique_ptr<SecurityGate>> SecurityGate::Create(const SecurityOptions& options,
                                                           const Clock& clock) {
  std::unique_ptr<SecurityGate> gate(new SecurityGate(options, clock));
  if (!options.audit_log_path.empty()) {
    gate->audit_file_ = std::fopen(options.audit_log_path.c_str(), "a");
    if (gate->audit_file_ == nullptr)
      return InvalidArgument("cannot open the audit log " + options.audit_log_path);
  }
  if (options.auth_config_path.empty()) return gate;
  gate->authorization_on_ = true;
  const std::string& path = options.auth_config_path;
  std::string text;
  EON_RETURN_IF_ERROR(ReadFile(path, &text));
  Json config = Json::parse(text, nullptr, false);
  if (config.is_discarded() || !config.is_object())
    return InvalidArgument("the auth config " + path + " is not a JSON object");
  if (config.contains("permissions_claim")) {
    if (!config["permissions_claim"].is_string())
      return InvalidArgument(path + ": permissions_claim must be a string");
    gate->permissions_claim_ = config["permissions_claim"].get<std::string>();
  }
  if (config.contains("audience")) {
    if (!config["audience"].is_string())
      return InvalidArgument(path + ": audience must be a string");
    gate->audience_ = config["audience"].get<std::string>();
  }
  if (config.contains("jwks_path")) {
    if (!config["jwks_path"].is_string())
      return InvalidArgument(path + ": jwks_path must be a string");
    std::string jwks;
    EON_RETURN_IF_ERROR(ReadFile(config["jwks_path"].get<std::string>(), &jwks));
    auto verifier = JwtVerifier::FromJwks(jwks);
    if (!verifier.ok())
      return InvalidArgument(config["jwks_path"].get<std::string>() + ": " +
                             verifier.status().message());
    gate->jwt_ = std::move(verifier).value();
  }
  if (config.contains("api_keys")) {
    if (!config["api_keys"].is_array()) return InvalidArgument(path + ": api_keys must be a list");
    for (const auto& entry : config["api_keys"]) {
      if (!entry.is_object() || !entry.contains("key") || !entry["key"].is_string() ||
          entry["key"].get<std::string>().size() < 16)
        return InvalidArgument(path + ": every api_keys entry needs a \"key\" of 16 or more "
                                      "characters");
      ApiKey key;
      key.key = entry["key"].get<std::string>();
      key.claims.auth_type = "api-key";
      key.claims.subject = entry.value("subject", std::string("api-key"));
      if (entry.contains("permissions") && entry["permissions"].is_array()) {
        for (const auto& permission : entry["permissions"]) {
          if (!permission.is_string() ||
              !AddPermission(permission.get<std::string>(), &key.claims))
            return InvalidArgument(path + ": permission " + permission.dump() +
                                   " is not \"<namespace>:<reader|writer|worker|admin>\"");
        }
      }
      gate->api_keys_.push_back(std::move(key));
    }
  }
  if (!gate->jwt_ && gate->api_keys_.empty())
    return InvalidArgument(path + " names neither a jwks_path nor api_keys: nobody could call");
  return gate;
}

SecurityGate::~SecurityGate() {
  if (audit_file_) std::fclose(audit_file_);
}

Result<Claims> SecurityGate::Authenticate(std::string_view authorization) const {
  if (authorization.empty()) return Unauthenticated("no authorization header (Bearer token)");
  if (authorization.size() > kJwtLengthMax) return Unauthenticated("the authorization header is too long");
  auto space = authorization.find(' ');
  if (space == std::string_view::npos)
    return Unauthenticated("the authorization header is not \"Bearer <token>\"");
  std::string scheme(authorization.substr(0, space));
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "bearer")
    return Unauthenticated("the authorization header is not \"Bearer <token>\"");
  std::string_view token = authorization.substr(space + 1);
  for (const auto& key : api_keys_) {
    if (key.key.size() == token.size() &&
        CRYPTO_memcmp(key.key.data(), token.data(), token.size()) == 0)
      return key.claims;
  }
  if (!jwt_) return Unauthenticated("the token is not a known API key");
  EON_ASSIGN_OR_RETURN(std::string payload_text, jwt_->Verify(token, clock_.Now()));
  Json payload = Json::parse(payload_text, nullptr, false);
  Claims claims;
  claims.auth_type = "jwt";
  auto sub = payload.find("sub");
  if (sub == payload.end() || !sub->is_string())
    return Unauthenticated("the token has no \"sub\" claim");
  claims.subject = sub->get<std::string>();
  if (!audience_.empty()) {
    auto aud = payload.find("aud");
    bool match = aud != payload.end() && ((aud->is_string() && *aud == audience_) ||
                                          (aud->is_array() && std::find(aud->begin(), aud->end(),
                                                                        audience_) != aud->end()));
    if (!match) return Unauthenticated("the token is not for audience \"" + audience_ + "\"");
  }
  auto permissions = payload.find(permissions_claim_);
  if (permissions != payload.end() && permissions->is_array()) {
    for (const auto& permission : *permissions) {
      if (permission.is_string()) AddPermission(permission.get<std::string>(), &claims);
    }
  }
  return claims;
}

Status SecurityGate::Authorize(CallInfo& call) {
  Access access = AccessFor(call.operation);
  if (access == Access::kNone) return Status::Ok();
  auto claims = Authenticate(call.authorization);
  if (!claims.ok()) return claims.status();
  call.caller = claims->auth_type + ":" + claims->subject;
  if (Allows(*claims, access, call.target.ns)) return Status::Ok();
  static const char* kNames[] = {"none", "reader", "worker", "writer", "admin"};
  return Status(StatusCode::PERMISSION_DENIED,
                "Request unauthorized: " + call.operation + " needs the " +
                    kNames[static_cast<int>(access)] + " role" +
                    (call.target.ns.empty() ? std::string(" for the cluster")
                                            : " in namespace " + call.target.ns));
}

Status SecurityGate::Limit(const CallInfo& call) {
  if (options_.namespace_rps <= 0 && options_.caller_rps <= 0) return Status::Ok();
  if (AccessFor(call.operation) == Access::kNone) return Status::Ok();
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(buckets_mutex_);
  auto take = [&](std::map<std::string, TokenBucket>& buckets, const std::string& key,
                  double rate) {
    auto it = buckets.find(key);
    if (it == buckets.end()) {
      if (buckets.size() >= kBucketsMax) buckets.clear();
      // A second's worth of burst, as Temporal's namespace limiter allows.
      it = buckets.emplace(key, TokenBucket(rate, std::max(1.0, rate), now)).first;
    }
    return it->second.Take(now);
  };
  if (options_.namespace_rps > 0 && !call.target.ns.empty() &&
      !take(namespace_buckets_, call.target.ns, options_.namespace_rps)) {
    metrics::Count("rate_limited_requests", "Calls refused by a rate limit.",
                   {{"namespace", call.target.ns}, {"limit", "namespace"}});
    return RateLimited("namespace rate limit exceeded",
                       temporal::api::enums::v1::RESOURCE_EXHAUSTED_SCOPE_NAMESPACE);
  }
  if (options_.caller_rps > 0) {
    std::string caller = call.caller.empty() ? call.peer : call.caller;
    // A peer address carries the client's port: per caller means per host without a credential.
    if (call.caller.empty()) {
      auto colon = caller.rfind(':');
      if (colon != std::string::npos) caller = caller.substr(0, colon);
    }
    if (!take(caller_buckets_, caller, options_.caller_rps)) {
      metrics::Count("rate_limited_requests", "Calls refused by a rate limit.",
                     {{"namespace", call.target.ns}, {"limit", "caller"}});
      return RateLimited("caller rate limit exceeded",
                         temporal::api::enums::v1::RESOURCE_EXHAUSTED_SCOPE_SYSTEM);
    }
  }
  return Status::Ok();
}

Status SecurityGate::TakePollSlot(CallInfo& call, const google::protobuf::Message& request) {
  if (options_.parked_polls_per_queue_max <= 0) return Status::Ok();
  if (call.operation != "PollWorkflowTaskQueue" && call.operation != "PollActivityTaskQueue")
    return Status::Ok();
  const auto* field = request.GetDescriptor()->FindFieldByName("task_queue");
  if (field == nullptr || field->type() != google::protobuf::FieldDescriptor::TYPE_MESSAGE)
    return Status::Ok();
  const auto& queue = request.GetReflection()->GetMessage(request, field);
  const auto* name = queue.GetDescriptor()->FindFieldByName("name");
  std::string key = call.target.ns + '\x1f' + call.operation + '\x1f' +
                    (name ? queue.GetReflection()->GetString(queue, name) : std::string());
  std::lock_guard lock(polls_mutex_);
  int& parked = parked_polls_[key];
  if (parked >= options_.parked_polls_per_queue_max) {
    if (parked == 0) parked_polls_.erase(key);
    temporal::api::errordetails::v1::ResourceExhaustedFailure detail;
    detail.set_cause(temporal::api::enums::v1::RESOURCE_EXHAUSTED_CAUSE_CONCURRENT_LIMIT);
    detail.set_scope(temporal::api::enums::v1::RESOURCE_EXHAUSTED_SCOPE_NAMESPACE);
    return Status(StatusCode::RESOURCE_EXHAUSTED,
                  "task queue concurrent poller limit exceeded (" +
                      std::to_string(options_.parked_polls_per_queue_max) +
                      " polls already wait on it)")
        .WithDetail(detail);
  }
  ++parked;
  call.poll_slot = std::move(key);
  return Status::Ok();
}

Status SecurityGate::Admit(CallInfo& call, const google::protobuf::Message& request) {
  if (call.caller.empty() && !call.peer_subject.empty()) call.caller = "tls:" + call.peer_subject;
  if (authorization_on_) {
    Status authorized = Authorize(call);
    if (!authorized.ok()) {
      LOG_WARN("refused " << call.operation << " from " << call.peer << ": "
                          << authorized.message());
      return authorized;  // audited by Finished
    }
  }
  EON_RETURN_IF_ERROR(Limit(call));
  return TakePollSlot(call, request);
}

void SecurityGate::Finished(const CallInfo& call, const google::protobuf::Message& request,
                            const Status& status) {
  if (!call.poll_slot.empty()) {
    std::lock_guard lock(polls_mutex_);
    auto it = parked_polls_.find(call.poll_slot);
    if (it != parked_polls_.end() && --it->second <= 0) parked_polls_.erase(it);
  }
  bool refused = status.code() == StatusCode::UNAUTHENTICATED ||
                 status.code() == StatusCode::PERMISSION_DENIED;
  if (Audited(call.operation) || refused) Audit(call, status);
}

void SecurityGate::Audit(const CallInfo& call, const Status& status) {
  Json line = {{"ts", Now()},
               {"operation", call.operation},
               {"caller", call.caller.empty() ? "anonymous" : call.caller},
               {"peer", call.peer},
               {"result", status.ok() ? "ok" : metrics::ErrorTypeName(status.code())}};
  if (!call.peer_subject.empty()) line["tls_subject"] = call.peer_subject;
  if (!call.target.ns.empty()) line["namespace"] = call.target.ns;
  if (!call.target.workflow_id.empty()) line["workflow_id"] = call.target.workflow_id;
  if (!call.target.run_id.empty()) line["run_id"] = call.target.run_id;
  if (!status.ok()) line["message"] = status.message();
  std::string text = line.dump(-1, ' ', false, Json::error_handler_t::replace);
  LOG_INFO("audit: " << text);
  std::lock_guard lock(audit_mutex_);
  if (audit_file_) {
    std::fprintf(audit_file_, "%s\n", text.c_str());
    std::fflush(audit_file_);
  }
}

}  // namespace eon::frontend
