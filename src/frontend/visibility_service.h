// frontend: listings of workflows (ListWorkflowExecutions, CountWorkflowExecutions,
// ScanWorkflowExecutions, the older List{Open,Closed}WorkflowExecutions, GetSearchAttributes),
// ListSchedules, and the OperatorService's search attribute registry and DeleteNamespace. The
// work is done by the owners: visibility::Visibility (queries, listings, search attributes) and
// namespaces::Registry (deletion); this file maps requests and responses.
#pragma once

#include <memory>

#include "frontend/rpc.h"
#include "frontend/workflow_service.h"
#include "namespaces/registry.h"
#include "visibility/visibility.h"

namespace eon::frontend {

std::unique_ptr<ServiceHandle> RegisterVisibilityService(RpcRouter& router,
                                                         namespaces::Registry& namespaces,
                                                         visibility::Visibility& visibility);

}  // namespace eon::frontend
