// Batch operations (WorkflowService's StartBatchOperation, DescribeBatchOperation,
// ListBatchOperations, StopBatchOperation): terminate, cancel or signal every workflow a list
// query (or a list of executions) names.
//
// Each operation on one workflow is the ordinary call (TerminateWorkflowExecution, ...), run in
// process through RpcRouter::Invoke, so it is validated, audited and durable exactly as if a
// client had made it. Unlike Temporal (which runs a batch as a system workflow and answers at
// once), StartBatchOperation answers when every operation has been made, so once it returns
// success a kill -9 loses none of them; a batch therefore takes at most
// kBatchExecutionsMax workflows (a query that matches more is refused, naming the count).
// The jobs' records (for Describe and List) are stored (worker/batch_records.h) when a job
// starts and when it ends, so they survive a restart; a job that a restart interrupted is
// recorded as failed when the server starts again.
#pragma once

#include <memory>

#include "common/clock.h"
#include "frontend/rpc.h"
#include "frontend/workflow_service.h"
#include "worker/batch_records.h"

namespace eon::frontend {

constexpr int64_t kBatchExecutionsMax = 1'000;
constexpr size_t kBatchJobsKept = 1'000;  // the oldest finished job records are dropped first

// Loads the stored job records first; fails if they cannot be read.
Result<std::unique_ptr<ServiceHandle>> RegisterBatchService(RpcRouter& router, const Clock& clock,
                                                            worker::BatchRecords& records);

}  // namespace eon::frontend
