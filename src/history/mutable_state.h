// The state of one execution and the update being built on it: helpers shared by the
// history engine's operations and its command handling. Internal to src/history.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/assert.h"
#include "common/clock.h"
#include "common/status.h"
#include "eon/v1/state.pb.h"
#include "history/stored_failure.h"
#include "persistence/store.h"
#include "temporal/api/command/v1/message.pb.h"
#include "temporal/api/workflow/v1/message.pb.h"
#include "temporal/api/workflowservice/v1/request_response.pb.h"

namespace eon::history {

namespace common = temporal::api::common::v1;
namespace enums = temporal::api::enums::v1;
namespace hist = temporal::api::history::v1;
namespace failure = temporal::api::failure::v1;
namespace wfs = temporal::api::workflowservice::v1;

bool IsRunning(const eon::v1::ExecutionState& state);
// Workflow tasks and activities of a run that are in flight (not waiting on a timer): while any
// is, time skipping waits.
int64_t BusyCount(const eon::v1::ExecutionState& state);
// NOT_FOUND, as Temporal answers anything aimed at a closed workflow.
Status WorkflowClosed();
std::string TimeoutName(enums::TimeoutType type);
// The start-to-close timeout of a workflow task attempt (longer for late retries).
Duration WorkflowTaskTimeout(const eon::v1::WorkflowTaskInfo& wft);
// What describe and listings say of a run.
temporal::api::workflow::v1::WorkflowExecutionInfo ExecutionInfo(const eon::v1::ExecutionState& s);
// Search attributes as the JSON of a listing's `search_attributes` column: name -> value, with
// Datetime values (custom ones by `types`, and TemporalScheduledStartTime) as nanoseconds.
nlohmann::json SearchAttributesJson(const temporal::api::common::v1::SearchAttributes& fields,
                                    const std::map<std::string, int>& types);
// The run's visibility row. `types`: the namespace's custom search attributes (name ->
// IndexedValueType), which say how values are stored (Datetime as nanoseconds).
persistence::VisibilityRow VisibilityRowOf(const eon::v1::ExecutionState& s,
                                           const std::map<std::string, int>& types);
// The TaskQueue message of the queue a workflow task goes to (normal, or a sticky one).
temporal::api::taskqueue::v1::TaskQueue WorkflowTaskQueue(const eon::v1::ExecutionState& state,
                                                          const std::string& queue);
// Appends the made-up Scheduled/Started events of a started transient workflow task.
void AppendTransientWorkflowTaskEvents(const eon::v1::ExecutionState& state,
                                       hist::History* history);
// The retry policy with Temporal's defaults filled in, and its validation.
common::RetryPolicy WithRetryDefaults(const common::RetryPolicy& given);
Status ValidateRetryPolicy(const common::RetryPolicy& policy);
bool IsNonRetryable(const common::RetryPolicy& policy, const failure::Failure& f);
// Decides whether a failed activity attempt is retried; fills `retry_state` and `delay`.
bool ShouldRetry(const eon::v1::ActivityInfo& info, const failure::Failure& f, TimePoint now,
                 enums::RetryState* retry_state, Duration* delay);
// Checks a ScheduleActivityTask command and fills in Temporal's defaults. Returns the failure
// message (empty when valid).
std::string PrepareScheduleActivity(
    const eon::v1::ExecutionState& state,
    temporal::api::command::v1::ScheduleActivityTaskCommandAttributes& a);
// The poll answer for a started activity attempt.
wfs::PollActivityTaskQueueResponse ActivityTaskResponse(const eon::v1::ExecutionState& s,
                                                        const eon::v1::ActivityInfo& info);
// The started activity a token names; NOT_FOUND when the token is stale.
Result<eon::v1::ActivityInfo*> StartedActivity(eon::v1::ExecutionState& state,
                                               const eon::v1::TaskToken& token);

// Everything a new run starts from: a start request, a continue-as-new, a retry or a cron run.
struct RunSpec {
  std::string namespace_id;
  std::string workflow_id;
  std::string run_id;
  std::string workflow_type;
  std::string task_queue;
  common::Payloads input;
  common::Header header;
  Duration execution_timeout{};
  Duration run_timeout{};
  Duration task_timeout{};
  std::optional<TimePoint> execution_expiration;  // carried from run to run
  common::Memo memo;
  common::SearchAttributes search_attributes;
  std::optional<common::RetryPolicy> retry_policy;
  std::string cron_schedule;
  std::string identity;
  std::string request_id;
  int32_t attempt = 1;
  std::string first_execution_run_id;  // "" = this run is the first
  std::string continued_execution_run_id;
  enums::ContinueAsNewInitiator initiator = enums::CONTINUE_AS_NEW_INITIATOR_UNSPECIFIED;
  std::optional<failure::Failure> continued_failure;
  std::optional<common::Payloads> last_completion_result;
  Duration first_workflow_task_backoff{};
  // Retry and cron runs start from the first run's input and header, which the engine reads
  // from its WorkflowExecutionStarted event.
  bool inherit_input = false;
  std::optional<eon::v1::ParentInfo> parent;  // for a child workflow
};

struct RunDefaults {
  Duration default_task_timeout = std::chrono::seconds(10);
  Duration max_task_timeout = std::chrono::seconds(120);
};

struct RetryDecision {
  bool retry = false;
  enums::RetryState state = enums::RETRY_STATE_RETRY_POLICY_NOT_SET;
  Duration delay{};
};
// Whether attempt `attempt`, failed with `f` at `now`, is retried under `policy` (defaults
// filled in), given an overall `deadline`.
RetryDecision DecideRetry(const common::RetryPolicy& policy, int32_t attempt,
                          const failure::Failure& f, TimePoint now,
                          std::optional<TimePoint> deadline);

// One update of one execution, being built: a copy of the state plus what the transaction
// will write (events, tasks). Nothing here touches the store.
struct Mutation {
  eon::v1::ExecutionState state;
  TimePoint now;
  std::vector<hist::HistoryEvent> events;
  std::vector<persistence::NewTask> tasks;
  bool changed = false;
  // A run created in the same transaction (continue-as-new, retry, cron).
  std::optional<RunSpec> next_run;
  // A run prepared whole, written in the same transaction as its first update (a reset's run,
  // history/reset.cc). The workflow id's current run moves to it.
  std::shared_ptr<persistence::ExecutionWrite> prepared_run;

  bool WorkflowTaskStarted() const { return state.workflow_task().started_event_id() != 0; }

  // Appends an event to the history now. The reference is good only until the next AddEvent,
  // which may move the events (keep what a later event needs, such as an id, by value).
  hist::HistoryEvent& AddEvent(enums::EventType type) {
    changed = true;
    auto& event = events.emplace_back();
    event.set_event_id(state.next_event_id());
    state.set_next_event_id(state.next_event_id() + 1);
    *event.mutable_event_time() = ToTimestamp(now);
    event.set_event_type(type);
    return event;
  }

  // An event that is not the workflow task's own: while a workflow task runs it is buffered and
  // written after that task's completion.
  hist::HistoryEvent& AddExternalEvent(enums::EventType type) {
    if (!WorkflowTaskStarted()) {
      // Something new happened: a retried workflow task is an ordinary one again.
      if (state.workflow_task().transient()) MakeWorkflowTaskNormal();
      return AddEvent(type);
    }
    changed = true;
    auto& event = *state.add_buffered_events();
    *event.mutable_event_time() = ToTimestamp(now);
    event.set_event_type(type);
    return event;
  }

  // Writes the buffered events, giving them ids and fixing up the activity started ids they
  // refer to (unknown while buffered). As Temporal does, completions go after the other events.
  // Returns whether anything was written.
  bool FlushBuffered() {
    if (state.buffered_events().empty()) return false;
    std::vector<hist::HistoryEvent> buffered(state.buffered_events().begin(),
                                             state.buffered_events().end());
    state.clear_buffered_events();
    std::stable_partition(buffered.begin(), buffered.end(),
                          [](const hist::HistoryEvent& e) { return !IsCompletionEvent(e); });
    std::map<int64_t, int64_t> started_ids;  // scheduled id -> started event id
    auto fix = [&](auto* attrs) {
      auto it = started_ids.find(attrs->scheduled_event_id());
      if (it != started_ids.end()) attrs->set_started_event_id(it->second);
    };
    std::map<int64_t, int64_t> child_started_ids;  // initiated id -> started event id
    auto fix_child = [&](auto* attrs) {
      auto it = child_started_ids.find(attrs->initiated_event_id());
      if (it != child_started_ids.end()) attrs->set_started_event_id(it->second);
    };
    for (auto& event : buffered) {
      event.set_event_id(state.next_event_id());
      state.set_next_event_id(state.next_event_id() + 1);
      switch (event.event_type()) {
        case enums::EVENT_TYPE_TIMER_FIRED:
          state.mutable_timers()->erase(event.timer_fired_event_attributes().timer_id());
          break;
        case enums::EVENT_TYPE_ACTIVITY_TASK_STARTED:
          started_ids[event.activity_task_started_event_attributes().scheduled_event_id()] =
              event.event_id();
          break;
        case enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
          fix(event.mutable_activity_task_completed_event_attributes());
          break;
        case enums::EVENT_TYPE_ACTIVITY_TASK_FAILED:
          fix(event.mutable_activity_task_failed_event_attributes());
          break;
        case enums::EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
          fix(event.mutable_activity_task_timed_out_event_attributes());
          break;
        case enums::EVENT_TYPE_ACTIVITY_TASK_CANCELED:
          fix(event.mutable_activity_task_canceled_event_attributes());
          break;
        case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED: {
          int64_t initiated =
              event.child_workflow_execution_started_event_attributes().initiated_event_id();
          child_started_ids[initiated] = event.event_id();
          auto it = state.mutable_children()->find(initiated);
          if (it != state.mutable_children()->end())
            it->second.set_started_event_id(event.event_id());
          break;
        }
        case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED:
          fix_child(event.mutable_child_workflow_execution_completed_event_attributes());
          break;
        case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED:
          fix_child(event.mutable_child_workflow_execution_failed_event_attributes());
          break;
        case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED:
          fix_child(event.mutable_child_workflow_execution_canceled_event_attributes());
          break;
        case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT:
          fix_child(event.mutable_child_workflow_execution_timed_out_event_attributes());
          break;
        case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED:
          fix_child(event.mutable_child_workflow_execution_terminated_event_attributes());
          break;
        default:
          break;
      }
      events.push_back(std::move(event));
    }
    changed = true;
    return true;
  }

  static bool IsCompletionEvent(const hist::HistoryEvent& event) {
    switch (event.event_type()) {
      case enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
      case enums::EVENT_TYPE_ACTIVITY_TASK_FAILED:
      case enums::EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
      case enums::EVENT_TYPE_ACTIVITY_TASK_CANCELED:
      case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED:
      case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED:
      case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED:
      case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT:
      case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED:
        return true;
      default:
        return false;
    }
  }

  void AddTransfer(eon::v1::HistoryTaskType type, int64_t event_id, int32_t attempt,
                   const std::string& task_queue) {
    AddTransferTask(type, event_id).set_task_queue(task_queue);
    tasks.back().task.set_attempt(attempt);
  }

  // A transfer task that acts on another execution: the caller fills in its target.
  eon::v1::HistoryTask& AddTransferTask(eon::v1::HistoryTaskType type, int64_t event_id) {
    auto& task = tasks.emplace_back();
    task.category = persistence::TaskCategory::kTransfer;
    Fill(task.task, type, event_id, 0);
    changed = true;
    return task.task;
  }

  void AddTimer(eon::v1::HistoryTaskType type, TimePoint when, int64_t event_id, int32_t attempt,
                enums::TimeoutType timeout_type = enums::TIMEOUT_TYPE_UNSPECIFIED) {
    auto& task = tasks.emplace_back();
    task.category = persistence::TaskCategory::kTimer;
    Fill(task.task, type, event_id, attempt);
    task.task.set_timeout_type(timeout_type);
    *task.task.mutable_fire_time() = ToTimestamp(when);
    changed = true;
  }

  void Fill(eon::v1::HistoryTask& task, eon::v1::HistoryTaskType type, int64_t event_id,
            int32_t attempt) const {
    task.set_type(type);
    task.set_namespace_id(state.namespace_id());
    task.set_workflow_id(state.workflow_id());
    task.set_run_id(state.run_id());
    task.set_event_id(event_id);
    task.set_attempt(attempt);
  }

  // Writes ActivityTaskStarted for a closing activity, as Temporal does: only when it closes
  // (buffered with its close event while a workflow task runs). Returns its event id, or 0 while
  // buffered (fixed up at flush).
  int64_t AddActivityStarted(const eon::v1::ActivityInfo& info) {
    auto& event = AddExternalEvent(enums::EVENT_TYPE_ACTIVITY_TASK_STARTED);
    *event.mutable_event_time() = info.started_time();
    auto* a = event.mutable_activity_task_started_event_attributes();
    a->set_scheduled_event_id(info.scheduled_event_id());
    a->set_identity(info.identity());
    a->set_request_id(info.request_id());
    a->set_attempt(info.attempt());
    if (info.has_last_failure()) *a->mutable_last_failure() = info.last_failure();
    return event.event_id();
  }

  hist::HistoryEvent& AddWorkflowTaskScheduledEvent(int32_t attempt) {
    auto& event = AddEvent(enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
    auto* attrs = event.mutable_workflow_task_scheduled_event_attributes();
    *attrs->mutable_task_queue() = WorkflowTaskQueue(state, state.workflow_task().task_queue());
    *attrs->mutable_start_to_close_timeout() = state.task_timeout();
    attrs->set_attempt(attempt);
    return event;
  }

  // Ends an activity for good: ActivityTaskStarted (if an attempt started) and its close event,
  // which `fill` completes (given the started event's id, 0 while buffered). Both are buffered
  // while a workflow task runs; the workflow gets a task to see them.
  template <typename Fill>
  void CloseActivity(const eon::v1::ActivityInfo& info, enums::EventType close_type, Fill fill) {
    const int64_t started_id = info.has_started_time() ? AddActivityStarted(info) : 0;
    auto& event = AddExternalEvent(close_type);
    fill(event, started_id);
    state.mutable_activities()->erase(info.scheduled_event_id());
    EnsureWorkflowTask();
  }

  // Arms the timeouts of an activity scheduled now: schedule-to-close, and schedule-to-start
  // (also when it equals schedule-to-close: at the same instant schedule-to-start wins) unless
  // it started already (eagerly, in the same commit).
  void AddActivityScheduleTimeouts(const eon::v1::ActivityInfo& info) {
    if (info.has_schedule_to_close_timeout()) {
      AddTimer(eon::v1::HISTORY_TASK_TYPE_ACTIVITY_TIMEOUT,
               now + FromProtoDuration(info.schedule_to_close_timeout()), info.scheduled_event_id(),
               0, enums::TIMEOUT_TYPE_SCHEDULE_TO_CLOSE);
    }
    if (info.has_schedule_to_start_timeout() && !info.has_started_time()) {
      AddTimer(eon::v1::HISTORY_TASK_TYPE_ACTIVITY_TIMEOUT,
               now + FromProtoDuration(info.schedule_to_start_timeout()), info.scheduled_event_id(),
               1, enums::TIMEOUT_TYPE_SCHEDULE_TO_START);
    }
  }

  // Records an activity attempt started at `started` (no event: ActivityTaskStarted is
  // written when it closes) and arms its start-to-close and heartbeat timeouts.
  void StartActivity(eon::v1::ActivityInfo& info, const std::string& request_id,
                     const std::string& identity, TimePoint started) {
    *info.mutable_started_time() = ToTimestamp(started);
    info.clear_last_heartbeat_time();
    info.set_request_id(request_id);
    info.set_identity(identity);
    changed = true;
    if (info.has_start_to_close_timeout()) {
      AddTimer(eon::v1::HISTORY_TASK_TYPE_ACTIVITY_TIMEOUT,
               started + FromProtoDuration(info.start_to_close_timeout()),
               info.scheduled_event_id(), info.attempt(), enums::TIMEOUT_TYPE_START_TO_CLOSE);
    }
    if (info.has_heartbeat_timeout()) {
      AddTimer(eon::v1::HISTORY_TASK_TYPE_ACTIVITY_TIMEOUT,
               started + FromProtoDuration(info.heartbeat_timeout()), info.scheduled_event_id(),
               info.attempt(), enums::TIMEOUT_TYPE_HEARTBEAT);
    }
  }

  // Ends a failed attempt and schedules the next after `delay` on a durable timer. No event:
  // the attempt count and last failure live in mutable state and go to the next attempt. The
  // failure is kept bounded in size and depth, as Temporal keeps it (stored_failure.h).
  void RetryActivity(eon::v1::ActivityInfo& info, const failure::Failure& why, Duration delay) {
    info.set_attempt(info.attempt() + 1);
    *info.mutable_last_failure() = FailureToStore(why);
    *info.mutable_current_attempt_scheduled_time() = ToTimestamp(now + delay);
    info.clear_started_time();
    info.clear_request_id();
    info.set_awaiting_retry(true);
    changed = true;
    AddTimer(eon::v1::HISTORY_TASK_TYPE_ACTIVITY_RETRY, now + delay, info.scheduled_event_id(),
             info.attempt());
    if (info.has_schedule_to_start_timeout()) {  // each attempt must start in time
      AddTimer(eon::v1::HISTORY_TASK_TYPE_ACTIVITY_TIMEOUT,
               now + delay + FromProtoDuration(info.schedule_to_start_timeout()),
               info.scheduled_event_id(), info.attempt(), enums::TIMEOUT_TYPE_SCHEDULE_TO_START);
    }
  }

  // Schedules the next workflow task. A retry (attempt > 1) is transient: no event yet.
  // With a sticky worker the task goes to its sticky queue, and moves to the normal queue if
  // that worker does not take it within the sticky schedule-to-start timeout.
  void ScheduleWorkflowTask(int32_t attempt) {
    auto* wft = state.mutable_workflow_task();
    wft->Clear();
    wft->set_attempt(attempt);
    *wft->mutable_scheduled_time() = ToTimestamp(now);
    *wft->mutable_start_to_close_timeout() = state.task_timeout();
    const bool sticky = !state.sticky_task_queue().empty();
    wft->set_task_queue(sticky ? state.sticky_task_queue() : state.task_queue());
    if (attempt > 1) {
      wft->set_transient(true);
      wft->set_scheduled_event_id(state.next_event_id());
      changed = true;
    } else {
      wft->set_scheduled_event_id(AddWorkflowTaskScheduledEvent(attempt).event_id());
    }
    AddTransfer(eon::v1::HISTORY_TASK_TYPE_DISPATCH_WORKFLOW_TASK, wft->scheduled_event_id(),
                attempt, wft->task_queue());
    if (sticky) {
      AddTimer(eon::v1::HISTORY_TASK_TYPE_WORKFLOW_TASK_TIMEOUT,
               now + FromProtoDuration(state.sticky_schedule_to_start_timeout()),
               wft->scheduled_event_id(), attempt, enums::TIMEOUT_TYPE_SCHEDULE_TO_START);
    }
  }

  bool WorkflowTaskIsSticky() const {
    return state.workflow_task().task_queue() != state.task_queue();
  }
  void ClearSticky() {
    state.clear_sticky_task_queue();
    state.clear_sticky_schedule_to_start_timeout();
    changed = true;
  }

  // Turns a scheduled (not started) transient workflow task into an ordinary first attempt, its
  // Scheduled event written now, before the new event that made it ordinary.
  void MakeWorkflowTaskNormal() {
    auto* wft = state.mutable_workflow_task();
    // Event ids are durable: a wrong one would corrupt the history for good.
    EON_RELEASE_ASSERT(
        wft->started_event_id() == 0 && wft->scheduled_event_id() == state.next_event_id(),
        "transient task of " << state.workflow_id() << " is not the next event");
    AddWorkflowTaskScheduledEvent(1);
    wft->set_attempt(1);
    wft->set_transient(false);
  }

  // Writes the Scheduled and Started events of a transient workflow task that completes.
  void WriteTransientWorkflowTaskEvents() {
    auto* wft = state.mutable_workflow_task();
    EON_RELEASE_ASSERT(wft->transient() && wft->scheduled_event_id() == state.next_event_id(),
                       "transient task of " << state.workflow_id() << " is not the next event");
    auto& scheduled = AddWorkflowTaskScheduledEvent(wft->attempt());
    *scheduled.mutable_event_time() = wft->scheduled_time();
    auto& started = AddEvent(enums::EVENT_TYPE_WORKFLOW_TASK_STARTED);
    *started.mutable_event_time() = wft->started_time();
    auto* attrs = started.mutable_workflow_task_started_event_attributes();
    attrs->set_scheduled_event_id(wft->scheduled_event_id());
    attrs->set_identity(wft->identity());
    attrs->set_request_id(wft->request_id());
    EON_RELEASE_ASSERT(started.event_id() == wft->started_event_id(),
                       "started event id of " << state.workflow_id() << " moved");
    wft->set_transient(false);
  }

  // Schedules a workflow task unless one is pending already.
  void EnsureWorkflowTask() {
    if (state.workflow_task().scheduled_event_id() == 0 && IsRunning(state) &&
        !state.workflow_task_backoff()) {
      ScheduleWorkflowTask(1);
    }
  }

  // Fills this (fresh) update with a new run: its state and WorkflowExecutionStarted event, its
  // run timeout and, for a backoff, the timer that lets its first workflow task be scheduled.
  // The caller then adds any first signal and calls ScheduleFirstWorkflowTask.
  void InitRun(const RunSpec& spec, const RunDefaults& defaults);
  void ScheduleFirstWorkflowTask() {
    if (!state.workflow_task_backoff()) ScheduleWorkflowTask(1);
  }

  // What follows a run that closes: a retry (for a failure or timeout, under its retry policy)
  // or the next cron run. Sets next_run and returns its run id ("" for none); `retry_state`
  // says what became of the retry policy.
  std::string PlanNextRun(enums::WorkflowExecutionStatus closing, const failure::Failure* why,
                          const common::Payloads* result, enums::RetryState* retry_state);

  // Closes the run. Its children get their parent close policy applied; its parent (when this
  // is a child whose chain ends here) learns how it ended. REQUIRES: next_run planned first.
  // The run's listing row is to be written again (start, close, search attributes, memo).
  void UpdateVisibility() { AddTransferTask(eon::v1::HISTORY_TASK_TYPE_UPSERT_VISIBILITY, 0); }

  void Close(enums::WorkflowExecutionStatus status, int64_t completion_event_id) {
    UpdateVisibility();
    state.set_status(status);
    *state.mutable_close_time() = ToTimestamp(now);
    state.set_completion_event_id(completion_event_id);
    if (next_run) state.set_new_execution_run_id(next_run->run_id);
    for (const auto& [initiated_id, child] : state.children()) {
      if (child.parent_close_policy() == enums::PARENT_CLOSE_POLICY_ABANDON ||
          child.run_id().empty()) {
        continue;  // abandoned, or not started (its start is then skipped)
      }
      auto& task = AddTransferTask(eon::v1::HISTORY_TASK_TYPE_PARENT_CLOSE_POLICY, initiated_id);
      task.set_target_namespace_id(child.namespace_id());
      task.set_target_workflow_id(child.workflow_id());
      task.set_target_run_id(child.run_id());
      task.set_parent_close_policy(child.parent_close_policy());
    }
    if (state.has_parent() && !next_run) {
      auto& task =
          AddTransferTask(eon::v1::HISTORY_TASK_TYPE_RECORD_CHILD_CLOSED, completion_event_id);
      task.set_target_namespace_id(state.parent().namespace_id());
      task.set_target_workflow_id(state.parent().workflow_id());
      task.set_target_run_id(state.parent().run_id());
    }
    state.clear_activities();
    state.clear_timers();
    state.clear_children();
    state.clear_external_requests();
    state.clear_workflow_task();
    changed = true;
  }

  // Terminates the run: fails a started workflow task (FORCE_CLOSE_COMMAND) or writes what was
  // buffered, then WorkflowExecutionTerminated. REQUIRES: the run is running.
  void Terminate(const std::string& reason, const common::Payloads* details,
                 const std::string& identity) {
    if (WorkflowTaskStarted()) {
      FailWorkflowTask(enums::WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND, nullptr, identity,
                       /*reschedule=*/false);
    } else {
      FlushBuffered();
    }
    auto& event = AddEvent(enums::EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED);
    auto* a = event.mutable_workflow_execution_terminated_event_attributes();
    a->set_reason(reason);
    if (details) *a->mutable_details() = *details;
    a->set_identity(identity);
    Close(enums::WORKFLOW_EXECUTION_STATUS_TERMINATED, event.event_id());
  }

  // Ends the running workflow task as failed, writing its failure (for the first attempt) and
  // the buffered events, and schedules the next attempt unless `reschedule` is false.
  void FailWorkflowTask(enums::WorkflowTaskFailedCause cause, const failure::Failure* why,
                        const std::string& identity, bool reschedule) {
    const auto wft = state.workflow_task();
    const bool was_sticky = WorkflowTaskIsSticky();
    if (!wft.transient()) {  // a transient attempt's failure is not recorded, as in Temporal
      auto& event = AddEvent(enums::EVENT_TYPE_WORKFLOW_TASK_FAILED);
      auto* attrs = event.mutable_workflow_task_failed_event_attributes();
      attrs->set_scheduled_event_id(wft.scheduled_event_id());
      attrs->set_started_event_id(wft.started_event_id());
      attrs->set_cause(cause);
      if (why) *attrs->mutable_failure() = *why;
      attrs->set_identity(identity);
    }
    EndWorkflowTaskAndRetry(wft.attempt(), reschedule, was_sticky);
  }

  // After a failed or timed-out workflow task: writes what was buffered and schedules the next
  // attempt. New events make the next task an ordinary first attempt again.
  // A task that failed on a sticky queue is the sticky worker's trouble, not the workflow's:
  // stickiness ends and the attempt count stays, as in Temporal.
  void EndWorkflowTaskAndRetry(int32_t failed_attempt, bool reschedule, bool was_sticky) {
    state.clear_workflow_task();
    changed = true;
    if (was_sticky) ClearSticky();
    bool wrote_new_events = FlushBuffered();
    if (!reschedule) return;
    if (wrote_new_events) {
      ScheduleWorkflowTask(1);
    } else {
      ScheduleWorkflowTask(was_sticky ? failed_attempt : failed_attempt + 1);
    }
  }
};

}  // namespace eon::history
