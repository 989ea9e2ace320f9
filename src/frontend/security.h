// security: who may call what, how often, and the record of what they did. The CallGate the
// gRPC edge passes every call through (see rpc.h), in Temporal's shape:
//
// - Claim mapper: the "authorization: Bearer <token>" header becomes Claims. A token is an API
//   key from the auth config (a static secret mapped to a subject and permissions) or a JWT
//   verified against the config's JWKS file (RS256, ES256). Permissions use Temporal's claim
//   form, "<namespace>:<role>" with roles read(er), write(r), worker and admin;
//   "temporal-system:<role>" (or "system:<role>") holds across every namespace.
// - Authorizer: each operation needs an access level (AccessFor): read-only calls need reader,
//   worker polls and task answers need worker, starts, signals, cancels, terminations and resets
//   need writer, namespace and search-attribute administration need admin. Roles nest:
//   admin > writer > worker > reader. (Temporal's default authorizer makes polls need writer
//   and has no worker tier in between; the worker role here lets a worker's credential poll
//   and answer tasks without starting or terminating workflows.) GetSystemInfo and health
//   checks need nothing, as in Temporal. A call without a valid credential is refused with
//   UNAUTHENTICATED, one whose credential lacks the role with PERMISSION_DENIED; both are
//   logged and audited.
// - Rate limits: a token bucket per namespace and one per caller (subject, else peer address);
//   an exhausted one refuses the call with RESOURCE_EXHAUSTED and Temporal's
//   ResourceExhaustedFailure detail (cause RPS_LIMIT).
// - Parked polls: at most parked_polls_per_queue_max polls wait on one task queue at once
//   (Temporal caps concurrent polls per namespace the same way); one more is refused with
//   RESOURCE_EXHAUSTED and ResourceExhaustedFailure (cause CONCURRENT_LIMIT).
// - Audit: namespace and search-attribute administration, terminate, delete and reset calls,
//   and every refused call, one JSON line each, with who made it.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "frontend/jwt.h"
#include "frontend/rpc.h"

namespace eon::frontend {

// Role bits, as Temporal's authorization.Role.
enum Role : uint32_t { kRoleWorker = 1, kRoleReader = 2, kRoleWriter = 4, kRoleAdmin = 8 };

struct Claims {
  std::string subject;
  std::string auth_type;                    // "jwt" or "api-key"
  uint32_t system = 0;                      // roles in every namespace
  std::map<std::string, uint32_t> namespaces;  // roles by namespace name
};

enum class Access { kNone, kRead, kWorker, kWrite, kAdmin };
// The access `operation` (a method's short name) needs. Unknown operations need admin.
Access AccessFor(std::string_view operation);
// Whether `claims` grant `access` in namespace `ns` ("" for cluster-wide calls: system roles
// only).
bool Allows(const Claims& claims, Access access, std::string_view ns);
// Adds one "<namespace>:<role>" permission to `claims`; false (and nothing added) when it is
// not of that form.
bool AddPermission(std::string_view permission, Claims* claims);

struct SecurityOptions {
  // JSON: {"jwks_path": "...", "permissions_claim": "permissions", "audience": "...",
  //        "api_keys": [{"key": "...", "subject": "...", "permissions": ["ns:role", ...]}]}
  // "" turns authorization off.
  std::string auth_config_path;
  double namespace_rps = 0;  // requests per second per namespace; 0: no limit
  double caller_rps = 0;     // requests per second per caller; 0: no limit
  std::string audit_log_path;  // JSON lines appended; "" writes audit lines to the log only
  // Long polls parked at once on one task queue (workflow and activity queues apart); past it a
  // poll is refused with RESOURCE_EXHAUSTED (cause CONCURRENT_LIMIT). 0: no cap.
  int parked_polls_per_queue_max = 1'000;
};

// A token bucket: `rate_per_s` tokens a second, at most `burst` saved.
class TokenBucket {
 public:
  TokenBucket(double rate_per_s, double burst, std::chrono::steady_clock::time_point now)
      : rate_per_s_(rate_per_s), burst_(burst), tokens_(burst), last_(now) {}
  bool Take(std::chrono::steady_clock::time_point now);

 private:
  double rate_per_s_;
  double burst_;
  double tokens_;
  std::chrono::steady_clock::time_point last_;
};

class SecurityGate final : public CallGate {
 public:
  // Reads the auth config and the JWKS it names; INVALID_ARGUMENT naming the file and what is
  // wrong with it.
  static Result<std::unique_ptr<SecurityGate>> Create(const SecurityOptions& options,
                                                      const Clock& clock);
  ~SecurityGate() override;

  Status Admit(CallInfo& call, const google::protobuf::Message& request) override;
  void Finished(const CallInfo& call, const google::protobuf::Message& request,
                const Status& status) override;

  // The claims a header carries (the claim mapper). UNAUTHENTICATED when it carries none.
  Result<Claims> Authenticate(std::string_view authorization) const;

 private:
  explicit SecurityGate(const SecurityOptions& options, const Clock& clock)
      : options_(options), clock_(clock) {}
  Status Authorize(CallInfo& call);
  Status Limit(const CallInfo& call);
  Status TakePollSlot(CallInfo& call, const google::protobuf::Message& request);
  void Audit(const CallInfo& call, const Status& status);

  struct ApiKey {
    std::string key;
    Claims claims;
  };

  const SecurityOptions options_;
  const Clock& clock_;
  bool authorization_on_ = false;
  std::unique_ptr<JwtVerifier> jwt_;  // null: no JWTs accepted
  std::string permissions_claim_ = "permissions";
  std::string audience_;  // "" : not checked
  std::vector<ApiKey> api_keys_;

  // Buckets are made on first use and kept: namespaces and callers are few (bounded by
  // kBucketsMax; past it the oldest half is dropped, which only forgives).
  static constexpr size_t kBucketsMax = 10'000;
  std::mutex buckets_mutex_;
  std::map<std::string, TokenBucket> namespace_buckets_;  // guarded by buckets_mutex_
  std::map<std::string, TokenBucket> caller_buckets_;     // guarded by buckets_mutex_

  std::mutex polls_mutex_;
  std::map<std::string, int> parked_polls_;  // by namespace, queue and type; guarded by polls_mutex_

  std::mutex audit_mutex_;
  FILE* audit_file_ = nullptr;  // guarded by audit_mutex_
};

}  // namespace eon::frontend
