// Resetting a workflow (Temporal's ResetWorkflowExecution): a new run whose history is a copy of
// a base run's history up to a workflow task, that task failed with cause RESET_WORKFLOW, the
// signals the base run received after that point, and a new workflow task. Internal to
// src/history; HistoryEngine::ResetWorkflowExecution (history/reset.cc) writes it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "history/mutable_state.h"

namespace eon::history {

// What a reset run is made from, besides the base run's history.
struct ResetSpec {
  std::string new_run_id;
  std::string request_id;  // the reset's; becomes the new run's create request id
  std::string reason;
  // The id of the event that ends the workflow task to reset to (WorkflowTaskCompleted,
  // WorkflowTaskFailed, WorkflowTaskTimedOut, or WorkflowTaskStarted): the new run keeps the
  // events before it.
  int64_t workflow_task_finish_event_id = 0;
  bool reapply_signals = true;
  // Events written to the base run by the reset itself (its termination flushes buffered
  // signals): their signals are reapplied too.
  std::vector<hist::HistoryEvent> base_closing_events;
};

// Fills the fresh update `run` (its `now` set) with the reset run's first update: state rebuilt
// by replaying `base_history` (the base run's events from id 1, in order) up to the reset point,
// then WorkflowTaskFailed (RESET_WORKFLOW), the reapplied signals and WorkflowTaskScheduled,
// with the tasks that dispatch what is pending (activities, timers, the workflow task).
// INVALID_ARGUMENT (Temporal's rules) when the finish event id is out of the run's range or no
// workflow task is pending just before it; INVALID_ARGUMENT too when child workflows or
// requests to other workflows are pending at that point (Eon does not carry them over yet).
Status BuildResetRun(const eon::v1::ExecutionState& base,
                     const std::vector<hist::HistoryEvent>& base_history, const ResetSpec& spec,
                     Mutation& run);

}  // namespace eon::history
