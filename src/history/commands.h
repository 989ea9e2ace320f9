// The commands of a completed workflow task, applied to the update being built. Each command is
// validated as it is applied; the first invalid one stops the run and names Temporal's
// WorkflowTaskFailedCause (the engine then drops the whole update and fails the task instead).
#pragma once

#include <string>
#include <vector>

#include "history/mutable_state.h"

namespace eon::history {

struct CommandLimits {
  int eager_activities_max = 8;
  // Pending work one execution may hold; beyond it the command fails the workflow task.
  int pending_activities_max = 2'000;
  int pending_children_max = 2'000;
  int pending_external_requests_max = 2'000;  // signals and cancels to other workflows
  int64_t blob_size_limit_bytes = 2 << 20;    // payloads of one command
  // The namespace the workflow runs in (children and external targets default to it).
  std::string namespace_name;
  // Reads the time an eager activity's first attempt starts (after it was scheduled).
  const Clock* clock = nullptr;
};

struct CommandOutcome {
  enums::WorkflowTaskFailedCause cause = enums::WORKFLOW_TASK_FAILED_CAUSE_UNSPECIFIED;
  std::string message;                    // why the task failed, when it did
  bool closed = false;                    // a command closed the workflow
  bool new_events_for_workflow = false;   // the workflow must get a task to see them
  bool updates_changed = false;           // an update was accepted, completed or rejected
  std::vector<int64_t> eager_activities;  // started at once, returned in the response
  bool ok() const { return cause == enums::WORKFLOW_TASK_FAILED_CAUSE_UNSPECIFIED; }
};

// REQUIRES: the WorkflowTaskCompleted event is written; `completed_event_id` is its id.
CommandOutcome ApplyCommands(Mutation& m, const wfs::RespondWorkflowTaskCompletedRequest& request,
                             int64_t completed_event_id, const CommandLimits& limits);

}  // namespace eon::history
