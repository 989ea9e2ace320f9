// frontend: Temporal's TestService (time skipping), served by `eon server start-dev
// --time-skipping` for the SDKs' time-skipping test environments.
#pragma once

#include <memory>

#include "frontend/rpc.h"
#include "frontend/workflow_service.h"
#include "history/time_skipper.h"

namespace eon::frontend {

std::unique_ptr<ServiceHandle> RegisterTestService(RpcRouter& router, history::TimeSkipper& skipper,
                                                   const Clock& clock);

}  // namespace eon::frontend
