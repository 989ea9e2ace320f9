// Workflow reset (Temporal's ResetWorkflowExecution, service/history/ndc/workflow_resetter.go):
// the state rebuilt from a base run's history up to a workflow task, and the one transaction
// that terminates the current run and creates the reset run.
#include "history/reset.h"

#include <chrono>
#include <thread>

#include "common/ids.h"
#include "common/log.h"
#include "history/history_engine.h"
#include "history/mutable_state_cache.h"

namespace eon::history {

using persistence::ExecutionKey;

namespace {

// Temporal's identities for what the server itself writes.
constexpr char kIdentityHistoryService[] = "history-service";
constexpr char kIdentityResetter[] = "history-resetter";
constexpr int kSignalRequestIdsMax = 100;  // as EngineOptions::signal_request_ids_max
// How long a reset waits for the base run's commits in flight to become durable.
constexpr auto kDurableWaitMax = std::chrono::seconds(10);

// Applies one event of the base run's history to the state being rebuilt. Only what a reset
// run needs is rebuilt: what is pending (workflow task, activities, timers, children, requests
// to other workflows, updates) and what events change (search attributes, memo, signals).
void Replay(const hist::HistoryEvent& e, eon::v1::ExecutionState& s) {
  switch (e.event_type()) {
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: {
      const auto& a = e.workflow_execution_started_event_attributes();
      *s.mutable_memo() = a.memo();
      *s.mutable_search_attributes() = a.search_attributes();
      break;
    }
    case enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED: {
      const auto& a = e.workflow_task_scheduled_event_attributes();
      auto* wft = s.mutable_workflow_task();
      wft->Clear();
      wft->set_scheduled_event_id(e.event_id());
      wft->set_attempt(a.attempt() > 0 ? a.attempt() : 1);
      *wft->mutable_scheduled_time() = e.event_time();
      *wft->mutable_start_to_close_timeout() = s.task_timeout();
      wft->set_task_queue(s.task_queue());
      break;
    }
    case enums::EVENT_TYPE_WORKFLOW_TASK_STARTED: {
      const auto& a = e.workflow_task_started_event_attributes();
      auto* wft = s.mutable_workflow_task();
      wft->set_started_event_id(e.event_id());
      *wft->mutable_started_time() = e.event_time();
      wft->set_request_id(a.request_id());
      wft->set_identity(a.identity());
      break;
    }
    case enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
      s.set_previous_started_event_id(
          e.workflow_task_completed_event_attributes().started_event_id());
      s.clear_workflow_task();
      break;
    case enums::EVENT_TYPE_WORKFLOW_TASK_FAILED:
    case enums::EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
      s.clear_workflow_task();
      break;
    case enums::EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: {
      const auto& a = e.activity_task_scheduled_event_attributes();
      eon::v1::ActivityInfo& info = (*s.mutable_activities())[e.event_id()];
      info.set_scheduled_event_id(e.event_id());
      info.set_activity_id(a.activity_id());
      *info.mutable_activity_type() = a.activity_type();
      info.set_task_queue(a.task_queue().name());
      *info.mutable_header() = a.header();
      *info.mutable_input() = a.input();
      // Unset means "no timeout" in ActivityInfo (has_...() tells), so only positive ones are
      // copied.
      auto positive = [](const google::protobuf::Duration& d) {
        return FromProtoDuration(d).count() > 0;
      };
      if (positive(a.schedule_to_close_timeout())) {
        *info.mutable_schedule_to_close_timeout() = a.schedule_to_close_timeout();
      }
      if (positive(a.schedule_to_start_timeout())) {
        *info.mutable_schedule_to_start_timeout() = a.schedule_to_start_timeout();
      }
      if (positive(a.start_to_close_timeout())) {
        *info.mutable_start_to_close_timeout() = a.start_to_close_timeout();
      }
      if (positive(a.heartbeat_timeout()))
        *info.mutable_heartbeat_timeout() = a.heartbeat_timeout();
      *info.mutable_retry_policy() = a.retry_policy();
      info.set_attempt(1);
      break;
    }
    case enums::EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED: {
      const auto& a = e.activity_task_cancel_requested_event_attributes();
      auto it = s.mutable_activities()->find(a.scheduled_event_id());
      if (it != s.mutable_activities()->end()) {
        it->second.set_cancel_requested(true);
        it->second.set_cancel_requested_event_id(e.event_id());
      }
      break;
    }
    case enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
      s.mutable_activities()->erase(
          e.activity_task_completed_event_attributes().scheduled_event_id());
      break;
    case enums::EVENT_TYPE_ACTIVITY_TASK_FAILED:
      s.mutable_activities()->erase(e.activity_task_failed_event_attributes().scheduled_event_id());
      break;
    case enums::EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
      s.mutable_activities()->erase(
          e.activity_task_timed_out_event_attributes().scheduled_event_id());
      break;
    case enums::EVENT_TYPE_ACTIVITY_TASK_CANCELED:
      s.mutable_activities()->erase(
          e.activity_task_canceled_event_attributes().scheduled_event_id());
      break;
    case enums::EVENT_TYPE_TIMER_STARTED: {
      const auto& a = e.timer_started_event_attributes();
      eon::v1::TimerInfo& timer = (*s.mutable_timers())[a.timer_id()];
      timer.set_timer_id(a.timer_id());
      timer.set_started_event_id(e.event_id());
      *timer.mutable_expiry_time() =
          ToTimestamp(FromTimestamp(e.event_time()) + FromProtoDuration(a.start_to_fire_timeout()));
      break;
    }
    case enums::EVENT_TYPE_TIMER_FIRED:
      s.mutable_timers()->erase(e.timer_fired_event_attributes().timer_id());
      break;
    case enums::EVENT_TYPE_TIMER_CANCELED:
      s.mutable_timers()->erase(e.timer_canceled_event_attributes().timer_id());
      break;
    case enums::EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: {
      const auto& a = e.start_child_workflow_execution_initiated_event_attributes();
      auto& child = (*s.mutable_children())[e.event_id()];
      child.set_initiated_event_id(e.event_id());
      child.set_workflow_id(a.workflow_id());
      child.set_workflow_type(a.workflow_type().name());
      break;
    }
    case enums::EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED:
      s.mutable_children()->erase(
          e.start_child_workflow_execution_failed_event_attributes().initiated_event_id());
      break;
    case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED:
      s.mutable_children()->erase(
          e.child_workflow_execution_completed_event_attributes().initiated_event_id());
      break;
    case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED:
      s.mutable_children()->erase(
          e.child_workflow_execution_failed_event_attributes().initiated_event_id());
      break;
    case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED:
      s.mutable_children()->erase(
          e.child_workflow_execution_canceled_event_attributes().initiated_event_id());
      break;
    case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT:
      s.mutable_children()->erase(
          e.child_workflow_execution_timed_out_event_attributes().initiated_event_id());
      break;
    case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED:
      s.mutable_children()->erase(
          e.child_workflow_execution_terminated_event_attributes().initiated_event_id());
      break;
    case enums::EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
    case enums::EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
      (*s.mutable_external_requests())[e.event_id()].set_initiated_event_id(e.event_id());
      break;
    case enums::EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED:
      s.mutable_external_requests()->erase(
          e.external_workflow_execution_signaled_event_attributes().initiated_event_id());
      break;
    case enums::EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED:
      s.mutable_external_requests()->erase(
          e.signal_external_workflow_execution_failed_event_attributes().initiated_event_id());
      break;
    case enums::EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
      s.mutable_external_requests()->erase(
          e.external_workflow_execution_cancel_requested_event_attributes().initiated_event_id());
      break;
    case enums::EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED:
      s.mutable_external_requests()->erase(
          e.request_cancel_external_workflow_execution_failed_event_attributes()
              .initiated_event_id());
      break;
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: {
      s.set_signal_count(s.signal_count() + 1);
      const std::string& request_id = e.workflow_execution_signaled_event_attributes().request_id();
      if (!request_id.empty()) {
        s.add_signal_request_ids(request_id);
        if (s.signal_request_ids_size() > kSignalRequestIdsMax) {
          s.mutable_signal_request_ids()->DeleteSubrange(0, 1);
        }
      }
      break;
    }
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
      s.set_cancel_requested(true);
      break;
    case enums::EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
      for (const auto& [name, value] : e.upsert_workflow_search_attributes_event_attributes()
                                           .search_attributes()
                                           .indexed_fields()) {
        (*s.mutable_search_attributes()->mutable_indexed_fields())[name] = value;
      }
      break;
    case enums::EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
      for (const auto& [name, value] :
           e.workflow_properties_modified_event_attributes().upserted_memo().fields()) {
        (*s.mutable_memo()->mutable_fields())[name] = value;
      }
      break;
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: {
      const auto& a = e.workflow_execution_update_accepted_event_attributes();
      auto& update = (*s.mutable_updates())[a.protocol_instance_id()];
      update.set_update_id(a.protocol_instance_id());
      *update.mutable_request() = a.accepted_request();
      update.set_stage(eon::v1::UpdateInfo::STAGE_ACCEPTED);
      update.set_accepted_event_id(e.event_id());
      break;
    }
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED: {
      const auto& a = e.workflow_execution_update_completed_event_attributes();
      auto& update = (*s.mutable_updates())[a.meta().update_id()];
      update.set_update_id(a.meta().update_id());
      update.set_stage(eon::v1::UpdateInfo::STAGE_COMPLETED);
      *update.mutable_outcome() = a.outcome();
      update.clear_request();
      break;
    }
    default:
      break;  // markers and the rest change nothing a reset run needs
  }
}

void ReapplySignal(const hist::HistoryEvent& signaled, Mutation& run) {
  auto& event = run.AddEvent(enums::EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED);
  *event.mutable_workflow_execution_signaled_event_attributes() =
      signaled.workflow_execution_signaled_event_attributes();
  *event.mutable_links() = signaled.links();
  run.state.set_signal_count(run.state.signal_count() + 1);
}

}  // namespace

Status BuildResetRun(const eon::v1::ExecutionState& base,
                     const std::vector<hist::HistoryEvent>& base_history, const ResetSpec& spec,
                     Mutation& run) {
  const int64_t finish = spec.workflow_task_finish_event_id;
  if (finish <= 1 || finish >= base.next_event_id()) {
    return InvalidArgument("Workflow task finish ID must be > 1 && <= workflow last event ID (" +
                           std::to_string(base.next_event_id() - 1) + "); got " +
                           std::to_string(finish) + ".");
  }
  if (static_cast<int64_t>(base_history.size()) < finish - 1) {
    return Internal("history of run " + base.run_id() + " has " +
                    std::to_string(base_history.size()) + " events, fewer than its state says");
  }
  auto& s = run.state;
  s.Clear();
  // What the run was started with stays: the copied WorkflowExecutionStarted says the same.
  s.set_namespace_id(base.namespace_id());
  s.set_workflow_id(base.workflow_id());
  s.set_run_id(spec.new_run_id);
  s.set_first_execution_run_id(base.first_execution_run_id());
  s.set_workflow_type(base.workflow_type());
  s.set_task_queue(base.task_queue());
  s.set_status(enums::WORKFLOW_EXECUTION_STATUS_RUNNING);
  *s.mutable_start_time() = base.start_time();
  *s.mutable_execution_time() = base.execution_time();
  *s.mutable_execution_timeout() = base.execution_timeout();
  *s.mutable_run_timeout() = base.run_timeout();
  *s.mutable_task_timeout() = base.task_timeout();
  if (base.has_execution_expiration_time()) {
    *s.mutable_execution_expiration_time() = base.execution_expiration_time();
  }
  if (base.has_retry_policy()) *s.mutable_retry_policy() = base.retry_policy();
  s.set_attempt(base.attempt());
  s.set_cron_schedule(base.cron_schedule());
  if (base.has_parent()) *s.mutable_parent() = base.parent();
  s.set_create_request_id(spec.request_id.empty() ? NewUuid() : spec.request_id);

  for (int64_t i = 0; i < finish - 1; ++i) {
    const auto& event = base_history[i];
    if (event.event_id() != i + 1) {
      return Internal("history of run " + base.run_id() + " has event " +
                      std::to_string(event.event_id()) + " at position " + std::to_string(i + 1));
    }
    Replay(event, s);
    run.events.push_back(event);
  }
  s.set_next_event_id(finish);
  run.changed = true;

  if (s.workflow_task().scheduled_event_id() == 0) {
    return InvalidArgument(
        "Can only reset workflow to event ID in range [WorkflowTaskScheduled +1, "
        "WorkflowTaskStarted + 1]: " +
        std::to_string(finish) +
        " (the event id must be that of a WorkflowTaskStarted, WorkflowTaskCompleted, "
        "WorkflowTaskFailed or WorkflowTaskTimedOut event).");
  }
  if (!s.children().empty()) {
    return InvalidArgument("WorkflowResetter encountered pending child workflows: " +
                           std::to_string(s.children_size()) +
                           " child workflow(s) are pending at event " + std::to_string(finish) +
                           "; Eon cannot carry them over yet. Reset to an earlier or later point.");
  }
  if (!s.external_requests().empty()) {
    return InvalidArgument("Signals or cancel requests to other workflows are pending at event " +
                           std::to_string(finish) +
                           "; Eon cannot carry them over yet. Reset to an earlier or later point.");
  }

  // The workflow task of the reset point fails (started first, if it was only scheduled).
  auto* wft = s.mutable_workflow_task();
  if (wft->started_event_id() == 0) {
    auto& started = run.AddEvent(enums::EVENT_TYPE_WORKFLOW_TASK_STARTED);
    auto* a = started.mutable_workflow_task_started_event_attributes();
    a->set_scheduled_event_id(wft->scheduled_event_id());
    a->set_identity(kIdentityHistoryService);
    a->set_request_id(NewUuid());
    wft->set_started_event_id(started.event_id());
  }
  auto& failed = run.AddEvent(enums::EVENT_TYPE_WORKFLOW_TASK_FAILED);
  auto* f = failed.mutable_workflow_task_failed_event_attributes();
  f->set_scheduled_event_id(wft->scheduled_event_id());
  f->set_started_event_id(wft->started_event_id());
  f->set_cause(enums::WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW);
  f->mutable_failure()->set_message(spec.reason);
  f->mutable_failure()->mutable_reset_workflow_failure_info();
  f->set_identity(kIdentityHistoryService);
  f->set_base_run_id(base.run_id());
  f->set_new_run_id(spec.new_run_id);
  s.clear_workflow_task();

  // What was pending at the reset point starts over in the new run (Temporal's
  // failInflightActivity: an activity not started is scheduled again, now). Activity attempts
  // are never started in a history Eon wrote (ActivityTaskStarted comes with the close event).
  for (auto& [id, info] : *s.mutable_activities()) {
    *info.mutable_scheduled_time() = ToTimestamp(run.now);
    *info.mutable_current_attempt_scheduled_time() = ToTimestamp(run.now);
    run.AddTransfer(eon::v1::HISTORY_TASK_TYPE_DISPATCH_ACTIVITY_TASK, id, 1, info.task_queue());
    run.AddActivityScheduleTimeouts(info);
  }
  for (const auto& [timer_id, timer] : s.timers()) {
    run.AddTimer(eon::v1::HISTORY_TASK_TYPE_USER_TIMER, FromTimestamp(timer.expiry_time()),
                 timer.started_event_id(), 0);
  }

  if (spec.reapply_signals) {
    for (size_t i = finish - 1; i < base_history.size(); ++i) {
      if (base_history[i].event_type() == enums::EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) {
        ReapplySignal(base_history[i], run);
      }
    }
    for (const auto& event : spec.base_closing_events) {
      if (event.event_type() == enums::EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) {
        ReapplySignal(event, run);
      }
    }
  }

  run.ScheduleWorkflowTask(1);
  const Duration run_timeout = FromProtoDuration(s.run_timeout());
  if (run_timeout.count() > 0) {
    run.AddTimer(eon::v1::HISTORY_TASK_TYPE_WORKFLOW_RUN_TIMEOUT,
                 FromTimestamp(s.execution_time()) + run_timeout, 0, 0);
  }
  run.UpdateVisibility();
  return Status::Ok();
}

Result<std::string> HistoryEngine::ResetWorkflowExecution(
    const std::string& namespace_id, const wfs::ResetWorkflowExecutionRequest& request) {
  const auto& execution = request.workflow_execution();
  if (execution.workflow_id().empty()) return InvalidArgument("WorkflowId is not set on request.");
  ResetSpec spec;
  spec.request_id = request.request_id();
  spec.reason = request.reason();
  spec.workflow_task_finish_event_id = request.workflow_task_finish_event_id();
  switch (request.reset_reapply_type()) {
    case enums::RESET_REAPPLY_TYPE_UNSPECIFIED:
    case enums::RESET_REAPPLY_TYPE_ALL_ELIGIBLE:
    case enums::RESET_REAPPLY_TYPE_SIGNAL:
      break;
    case enums::RESET_REAPPLY_TYPE_NONE:
      spec.reapply_signals = false;
      break;
    default:
      return InvalidArgument("unknown reset reapply type: " +
                             std::to_string(request.reset_reapply_type()));
  }
  for (int type : request.reset_reapply_exclude_types()) {
    if (!enums::ResetReapplyExcludeType_IsValid(type)) {
      return InvalidArgument("unknown reset reapply exclude type: " + std::to_string(type));
    }
    if (type == enums::RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL) spec.reapply_signals = false;
  }

  std::lock_guard lock(LockFor(namespace_id, execution.workflow_id()));
  EON_ASSIGN_OR_RETURN(std::string current_run_id,
                       CurrentRunId(namespace_id, execution.workflow_id()));
  const ExecutionKey current{namespace_id, execution.workflow_id(), current_run_id};
  const ExecutionKey base{namespace_id, execution.workflow_id(),
                          execution.run_id().empty() ? current_run_id : execution.run_id()};
  EON_ASSIGN_OR_RETURN(auto current_state, LoadForUpdate(current));
  if (!spec.request_id.empty() && current_state.state.create_request_id() == spec.request_id) {
    return current_run_id;  // a retried reset: this run is the one it made
  }
  EON_ASSIGN_OR_RETURN(auto base_state, LoadForUpdate(base));
  // The base run's history is read from the store: wait until its commits in flight are there.
  const auto wait_until = std::chrono::steady_clock::now() + kDurableWaitMax;
  while (true) {
    auto durable = cache_->GetDurable(base);
    if (!durable || durable->db_version == base_state.db_version) break;
    if (std::chrono::steady_clock::now() > wait_until) {
      return Unavailable("workflow " + base.workflow_id + " is busy committing; retry the reset");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::vector<hist::HistoryEvent> history;
  const int64_t next_event_id = base_state.state.next_event_id();
  for (int64_t first = 1; first < next_event_id;) {
    EON_ASSIGN_OR_RETURN(auto page, store_.ReadHistory(namespace_id, base.run_id, first,
                                                       options_.history_page_size_max));
    if (page.events.empty()) break;
    for (auto& event : page.events) history.push_back(std::move(event));
    first = history.back().event_id() + 1;
    if (page.next_event_id == 0) break;
  }
  spec.new_run_id = NewRunId(clock_.Now());

  if (!IsRunning(current_state.state)) {
    Mutation run{{}, clock_.Now()};
    EON_RETURN_IF_ERROR(BuildResetRun(base_state.state, history, spec, run));
    persistence::ExecutionWrite write = NewRunWrite(std::move(run), current_run_id);
    EON_RETURN_IF_ERROR(Commit(write, /*busy_before=*/0));
    return spec.new_run_id;
  }
  // One transaction: the current run is terminated and the reset run created.
  EON_RETURN_IF_ERROR(MutateLocked(
      current,
      [&](Mutation& m) -> Status {
        if (!IsRunning(m.state)) return WorkflowClosed();
        const size_t events_before = m.events.size();
        m.Terminate(spec.reason.empty() ? "Workflow reset" : spec.reason, nullptr,
                    kIdentityResetter);
        // A reset run goes on in its place: the parent hears from it, not from this one.
        std::erase_if(m.tasks, [](const persistence::NewTask& t) {
          return t.task.type() == eon::v1::HISTORY_TASK_TYPE_RECORD_CHILD_CLOSED;
        });
        if (current.run_id == base.run_id) {
          spec.base_closing_events.assign(m.events.begin() + events_before, m.events.end());
        }
        Mutation run{{}, m.now};
        EON_RETURN_IF_ERROR(BuildResetRun(base_state.state, history, spec, run));
        m.prepared_run = std::make_shared<persistence::ExecutionWrite>(
            NewRunWrite(std::move(run), current.run_id));
        return Status::Ok();
      },
      nullptr));
  LOG_INFO("workflow " << base.workflow_id << " reset from run " << base.run_id << " at event "
                       << spec.workflow_task_finish_event_id << " to run " << spec.new_run_id);
  return spec.new_run_id;
}

}  // namespace eon::history
