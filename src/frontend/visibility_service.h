// frontend: listings of workflows (ListWorkflowExecutions, CountWorkflowExecutions,
// ScanWorkflowExecutions, GetSearchAttributes) and the OperatorService's search attribute
// registry. Queries are translated to parameterised SQL (visibility/query.h) over the
// visibility table, which the history outbox keeps up to date.
#pragma once

#include <memory>

#include "frontend/rpc.h"
#include "frontend/workflow_service.h"
#include "namespaces/registry.h"
#include "persistence/store.h"

namespace eon::frontend {

std::unique_ptr<ServiceHandle> RegisterVisibilityService(RpcRouter& router,
                                                         namespaces::Registry& namespaces,
                                                         persistence::Store& store);

}  // namespace eon::frontend
