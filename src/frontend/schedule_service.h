// frontend: the schedule calls of the WorkflowService (CreateSchedule, DescribeSchedule,
// UpdateSchedule, PatchSchedule, DeleteSchedule, ListScheduleMatchingTimes), resolved to a
// namespace and handed to the worker role's scheduler. ListSchedules is a listing
// (visibility_service.h).
#pragma once

#include <memory>

#include "frontend/rpc.h"
#include "frontend/workflow_service.h"
#include "namespaces/registry.h"
#include "worker/scheduler.h"

namespace eon::frontend {

std::unique_ptr<ServiceHandle> RegisterScheduleService(RpcRouter& router,
                                                       namespaces::Registry& namespaces,
                                                       worker::Scheduler& scheduler);

}  // namespace eon::frontend
