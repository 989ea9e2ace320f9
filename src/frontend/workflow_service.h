// frontend: the public API. Validates requests, resolves namespaces, and routes each
// WorkflowService call to history or matching. Owns nothing durable.
#pragma once

#include <memory>
#include <string>

#include "common/clock.h"
#include "common/executor.h"
#include "frontend/rpc.h"
#include "history/history_service.h"
#include "matching/matching_service.h"
#include "namespaces/registry.h"

namespace eon::frontend {

struct FrontendOptions {
  std::string server_version = "1.0.0";
  std::chrono::milliseconds long_poll_max{60'000};  // task queue polls
  // GetWorkflowExecutionHistory and update waits (history.longPollExpirationInterval).
  std::chrono::milliseconds history_poll_max{20'000};
  std::chrono::milliseconds long_poll_margin{1'000};  // task queue and history polls answer this
                                                      // long before the caller's deadline
  size_t id_length_max = 1'000;                       // workflow id, activity id, names
  int64_t blob_size_limit_bytes = 2 << 20;            // payloads in one request
  int32_t shard_count = 4;                            // reported by GetClusterInfo
};

// Keeps registered handlers alive; destroy only after the server stopped serving.
class ServiceHandle {
 public:
  virtual ~ServiceHandle() = default;
};

// Registers the WorkflowService handlers on `router`.
std::unique_ptr<ServiceHandle> RegisterWorkflowService(
    RpcRouter& router, namespaces::Registry& namespaces, history::HistoryService& history,
    matching::MatchingService& matching, DeadlineScheduler& scheduler, FrontendOptions options);

}  // namespace eon::frontend
