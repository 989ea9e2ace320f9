// frontend: Eon's own operator calls (service eon.v1.AdminService, messages in
// proto/eon/v1/admin.proto), served on the same port as Temporal's services:
//   ListParkedTasks   the outbox tasks parked after failing again and again, with their errors;
//   RetryParkedTasks  runs them again (`eon admin parked-tasks list|retry`).
#pragma once

#include <memory>

#include "frontend/rpc.h"
#include "frontend/workflow_service.h"
#include "history/history_service.h"

namespace eon::frontend {

constexpr const char* kAdminService = "eon.v1.AdminService";

std::unique_ptr<ServiceHandle> RegisterAdminService(RpcRouter& router,
                                                    history::HistoryService& history);

}  // namespace eon::frontend
