#include "history/commands.h"

#include <set>

#include "common/cron.h"
#include "common/ids.h"
#include "visibility/search_attributes.h"
#include "temporal/api/protocol/v1/message.pb.h"
#include "temporal/api/update/v1/message.pb.h"

namespace eon::history {
namespace {

namespace command = temporal::api::command::v1;

class CommandApplier {
 public:
  CommandApplier(Mutation& m, const wfs::RespondWorkflowTaskCompletedRequest& request,
                 int64_t completed_event_id, const CommandLimits& limits)
      : m_(m), request_(request), completed_id_(completed_event_id), limits_(limits) {}

  CommandOutcome Run() {
    for (const auto& c : request_.commands()) {
      if (out_.closed) {
        Fail(enums::WORKFLOW_TASK_FAILED_CAUSE_BAD_COMPLETE_WORKFLOW_EXECUTION_ATTRIBUTES,
             "A command that closes the workflow must be the last one.");
        break;
      }
      Apply(c);
      if (!out_.ok()) break;
    }
    if (out_.ok()) UnreferencedMessages();
    // A closed workflow has no activities left to hand out.
    if (out_.closed) out_.eager_activities.clear();
    return std::move(out_);
  }

 private:
  void Fail(enums::WorkflowTaskFailedCause cause, std::string message) {
    out_.cause = cause;
    out_.message = std::move(message);
  }

  // Fails the task with BAD_SEARCH_ATTRIBUTES (Temporal's cause) unless `attributes` may be set.
  bool SearchAttributesValid(const temporal::api::common::v1::SearchAttributes& attributes) {
    Status valid =
        visibility::ValidateSearchAttributes(attributes, limits_.search_attribute_types);
    if (valid.ok()) return true;
    Fail(enums::WORKFLOW_TASK_FAILED_CAUSE_BAD_SEARCH_ATTRIBUTES, valid.message());
    return false;
  }

  void Apply(const command::Command& c) {
    // Payloads beyond the limit fail the task, whatever the command (the size of the command
    // is dominated by them).
    const int64_t size = static_cast<int64_t>(c.ByteSizeLong());
    if (size > limits_.blob_size_limit_bytes) {
      return Fail(enums::WORKFLOW_TASK_FAILED_CAUSE_PAYLOADS_TOO_LARGE,
                  std::string(enums::CommandType_Name(c.command_type())) + " of " +
                      std::to_string(size) + " bytes exceeds the payload size limit of " +
                      std::to_string(limits_.blob_size_limit_bytes) + " bytes.");
    }
    switch (c.command_type()) {
      case enums::COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK:
        return ScheduleActivity(c.schedule_activity_task_command_attributes());
      case enums::COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK:
        return RequestCancelActivity(c.request_cancel_activity_task_command_attributes());
      case enums::COMMAND_TYPE_START_TIMER:
        return StartTimer(c.start_timer_command_attributes());
      case enums::COMMAND_TYPE_CANCEL_TIMER:
        return CancelTimer(c.cancel_timer_command_attributes());
      case enums::COMMAND_TYPE_RECORD_MARKER:
        return RecordMarker(c.record_marker_command_attributes());
      case enums::COMMAND_TYPE_PROTOCOL_MESSAGE:
        return ProtocolMessage(c.protocol_message_command_attributes().message_id());
      case enums::COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION:
        return StartChild(c.start_child_workflow_execution_command_attributes());
      case enums::COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION:
        return SignalExternal(c.signal_external_workflow_execution_command_attributes());
      case enums::COMMAND_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION:
        return CancelExternal(c.request_cancel_external_workflow_execution_command_attributes());
      case enums::COMMAND_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
        return UpsertSearchAttributes(c.upsert_workflow_search_attributes_command_attributes());
      case enums::COMMAND_TYPE_MODIFY_WORKFLOW_PROPERTIES:
        return ModifyProperties(c.modify_workflow_properties_command_attributes());
      case enums::COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION:
      case enums::COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION:
      case enums::COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION:
      case enums::COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION:
        return CloseWorkflow(c);
      default:
        return Fail(enums::WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND,
                    "Eon does not implement command " +
                        std::string(enums::CommandType_Name(c.command_type())) + " yet.");
    }
  }

  // Other namespaces are not served yet: a child or target must be in the workflow's own.
  bool SameNamespace(const std::string& name, enums::WorkflowTaskFailedCause cause) {
    if (name.empty() || name == limits_.namespace_name) return true;
    Fail(cause,
         "Eon runs child workflows and external signals and cancels in the workflow's own "
         "namespace only (" +
             limits_.namespace_name + "), not in " + name + ".");
    return false;
  }

  void StartChild(const command::StartChildWorkflowExecutionCommandAttributes& a) {
    constexpr auto kBad = enums::WORKFLOW_TASK_FAILED_CAUSE_BAD_START_CHILD_EXECUTION_ATTRIBUTES;
    if (!SameNamespace(a.namespace_(), kBad)) return;
    if (a.workflow_id().empty())
      return Fail(kBad, "WorkflowId is not set on StartChildWorkflowExecutionCommand.");
    if (a.workflow_type().name().empty()) {
      return Fail(kBad, "WorkflowType is not set on StartChildWorkflowExecutionCommand.");
    }
    if (m_.state.children_size() >= limits_.pending_children_max) {
      return Fail(enums::WORKFLOW_TASK_FAILED_CAUSE_PENDING_CHILD_WORKFLOWS_LIMIT_EXCEEDED,
                  "The workflow has " + std::to_string(m_.state.children_size()) +
                      " pending child workflows, the limit.");
    }
    Status policy = ValidateRetryPolicy(a.retry_policy());
    if (!policy.ok()) return Fail(kBad, policy.message());
    if (!a.cron_schedule().empty()) {
      auto schedule = CronSchedule::Parse(a.cron_schedule());
      if (!schedule.ok()) return Fail(kBad, schedule.status().message());
    }
    if (a.has_search_attributes() && !SearchAttributesValid(a.search_attributes())) return;
    auto& event = m_.AddEvent(enums::EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED);
    auto* e = event.mutable_start_child_workflow_execution_initiated_event_attributes();
    e->set_namespace_(limits_.namespace_name);
    e->set_namespace_id(m_.state.namespace_id());
    e->set_workflow_id(a.workflow_id());
    *e->mutable_workflow_type() = a.workflow_type();
    e->mutable_task_queue()->set_name(a.task_queue().name().empty() ? m_.state.task_queue()
                                                                    : a.task_queue().name());
    e->mutable_task_queue()->set_kind(enums::TASK_QUEUE_KIND_NORMAL);
    *e->mutable_input() = a.input();
    *e->mutable_workflow_execution_timeout() = a.workflow_execution_timeout();
    *e->mutable_workflow_run_timeout() = a.workflow_run_timeout();
    *e->mutable_workflow_task_timeout() = a.workflow_task_timeout();
    e->set_parent_close_policy(a.parent_close_policy() == enums::PARENT_CLOSE_POLICY_UNSPECIFIED
                                   ? enums::PARENT_CLOSE_POLICY_TERMINATE
                                   : a.parent_close_policy());
    e->set_control(a.control());
    e->set_workflow_task_completed_event_id(completed_id_);
    e->set_workflow_id_reuse_policy(a.workflow_id_reuse_policy());
    if (a.has_retry_policy()) *e->mutable_retry_policy() = a.retry_policy();
    e->set_cron_schedule(a.cron_schedule());
    *e->mutable_header() = a.header();
    *e->mutable_memo() = a.memo();
    *e->mutable_search_attributes() = a.search_attributes();
    *e->mutable_priority() = a.priority();

    eon::v1::ChildInfo& child = (*m_.state.mutable_children())[event.event_id()];
    child.set_initiated_event_id(event.event_id());
    child.set_workflow_id(a.workflow_id());
    child.set_workflow_type(a.workflow_type().name());
    child.set_namespace_id(m_.state.namespace_id());
    child.set_namespace_(limits_.namespace_name);
    child.set_parent_close_policy(e->parent_close_policy());
    m_.AddTransferTask(eon::v1::HISTORY_TASK_TYPE_START_CHILD, event.event_id());
  }

  void SignalExternal(const command::SignalExternalWorkflowExecutionCommandAttributes& a) {
    constexpr auto kBad =
        enums::WORKFLOW_TASK_FAILED_CAUSE_BAD_SIGNAL_WORKFLOW_EXECUTION_ATTRIBUTES;
    if (!SameNamespace(a.namespace_(), kBad)) return;
    if (a.execution().workflow_id().empty()) {
      return Fail(kBad, "WorkflowId is not set on SignalExternalWorkflowExecutionCommand.");
    }
    if (a.signal_name().empty()) {
      return Fail(kBad, "SignalName is not set on SignalExternalWorkflowExecutionCommand.");
    }
    if (m_.state.external_requests_size() >= limits_.pending_external_requests_max) {
      return Fail(enums::WORKFLOW_TASK_FAILED_CAUSE_PENDING_SIGNALS_LIMIT_EXCEEDED,
                  "The workflow has too many pending signals to other workflows.");
    }
    auto& event = m_.AddEvent(enums::EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED);
    auto* e = event.mutable_signal_external_workflow_execution_initiated_event_attributes();
    e->set_workflow_task_completed_event_id(completed_id_);
    e->set_namespace_(limits_.namespace_name);
    e->set_namespace_id(m_.state.namespace_id());
    *e->mutable_workflow_execution() = a.execution();
    e->set_signal_name(a.signal_name());
    *e->mutable_input() = a.input();
    e->set_control(a.control());
    e->set_child_workflow_only(a.child_workflow_only());
    *e->mutable_header() = a.header();
    AddExternal(event.event_id(), /*cancel=*/false, a.execution(), a.child_workflow_only(),
                a.control())
        .set_signal_name(a.signal_name());
    auto& request = (*m_.state.mutable_external_requests())[event.event_id()];
    *request.mutable_input() = a.input();
    *request.mutable_header() = a.header();
  }

  void CancelExternal(const command::RequestCancelExternalWorkflowExecutionCommandAttributes& a) {
    constexpr auto kBad =
        enums::WORKFLOW_TASK_FAILED_CAUSE_BAD_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_ATTRIBUTES;
    if (!SameNamespace(a.namespace_(), kBad)) return;
    if (a.workflow_id().empty()) {
      return Fail(kBad, "WorkflowId is not set on RequestCancelExternalWorkflowExecutionCommand.");
    }
    if (m_.state.external_requests_size() >= limits_.pending_external_requests_max) {
      return Fail(enums::WORKFLOW_TASK_FAILED_CAUSE_PENDING_REQUEST_CANCEL_LIMIT_EXCEEDED,
                  "The workflow has too many pending cancel requests to other workflows.");
    }
    auto& event =
        m_.AddEvent(enums::EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED);
    auto* e = event.mutable_request_cancel_external_workflow_execution_initiated_event_attributes();
    e->set_workflow_task_completed_event_id(completed_id_);
    e->set_namespace_(limits_.namespace_name);
    e->set_namespace_id(m_.state.namespace_id());
    e->mutable_workflow_execution()->set_workflow_id(a.workflow_id());
    e->mutable_workflow_execution()->set_run_id(a.run_id());
    e->set_control(a.control());
    e->set_child_workflow_only(a.child_workflow_only());
    e->set_reason(a.reason());
    common::WorkflowExecution target;
    target.set_workflow_id(a.workflow_id());
    target.set_run_id(a.run_id());
    AddExternal(event.event_id(), /*cancel=*/true, target, a.child_workflow_only(), a.control())
        .set_reason(a.reason());
  }

  eon::v1::ExternalRequest& AddExternal(int64_t initiated_id, bool cancel,
                                        const common::WorkflowExecution& target,
                                        bool child_workflow_only, const std::string& control) {
    auto& request = (*m_.state.mutable_external_requests())[initiated_id];
    request.set_initiated_event_id(initiated_id);
    request.set_cancel(cancel);
    request.set_namespace_id(m_.state.namespace_id());
    request.set_namespace_(limits_.namespace_name);
    request.set_workflow_id(target.workflow_id());
    request.set_run_id(target.run_id());
    request.set_control(control);
    request.set_child_workflow_only(child_workflow_only);
    m_.AddTransferTask(cancel ? eon::v1::HISTORY_TASK_TYPE_CANCEL_EXTERNAL
                              : eon::v1::HISTORY_TASK_TYPE_SIGNAL_EXTERNAL,
                       initiated_id);
    return request;
  }

  // An update's acceptance or response, in command order (so its event sits among the others).
  void ProtocolMessage(const std::string& message_id) {
    constexpr auto kBad = enums::WORKFLOW_TASK_FAILED_CAUSE_BAD_UPDATE_WORKFLOW_EXECUTION_MESSAGE;
    const temporal::api::protocol::v1::Message* message = nullptr;
    for (const auto& candidate : request_.messages()) {
      if (candidate.id() == message_id) message = &candidate;
    }
    if (!message)
      return Fail(kBad, "ProtocolMessageCommand names message " + message_id +
                            ", which the completion does not carry.");
    used_messages_.insert(message_id);
    auto it = m_.state.mutable_updates()->find(message->protocol_instance_id());
    if (it == m_.state.mutable_updates()->end()) {
      return Fail(kBad, "Message " + message_id + " is for update " +
                            message->protocol_instance_id() +
                            ", which this workflow does not have.");
    }
    auto& update = it->second;
    temporal::api::update::v1::Acceptance acceptance;
    temporal::api::update::v1::Response response;
    if (message->body().UnpackTo(&acceptance)) {
      auto& event = m_.AddEvent(enums::EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED);
      auto* e = event.mutable_workflow_execution_update_accepted_event_attributes();
      e->set_protocol_instance_id(update.update_id());
      e->set_accepted_request_message_id(acceptance.accepted_request_message_id());
      e->set_accepted_request_sequencing_event_id(
          acceptance.accepted_request_sequencing_event_id());
      *e->mutable_accepted_request() =
          acceptance.has_accepted_request() ? acceptance.accepted_request() : update.request();
      update.set_stage(eon::v1::UpdateInfo::STAGE_ACCEPTED);
      update.set_accepted_event_id(event.event_id());
    } else if (message->body().UnpackTo(&response)) {
      if (update.stage() != eon::v1::UpdateInfo::STAGE_ACCEPTED) {
        return Fail(kBad, "Update " + update.update_id() + " is completed before it was accepted.");
      }
      auto& event = m_.AddEvent(enums::EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED);
      auto* e = event.mutable_workflow_execution_update_completed_event_attributes();
      *e->mutable_meta() = response.meta();
      e->set_accepted_event_id(update.accepted_event_id());
      *e->mutable_outcome() = response.outcome();
      if (response.outcome().has_failure()) {
        *e->mutable_outcome()->mutable_failure() = FailureWithinDepth(response.outcome().failure());
      }
      update.set_stage(eon::v1::UpdateInfo::STAGE_COMPLETED);
      *update.mutable_outcome() = e->outcome();
      update.clear_request();  // kept for deduplication only
    } else {
      return Fail(kBad, "Message " + message_id + " has an unexpected body (" +
                            message->body().type_url() + ") for a ProtocolMessageCommand.");
    }
    out_.updates_changed = true;
  }

  // Messages no command named: rejections. And updates the worker got but did not answer are
  // rejected for it, as Temporal does.
  void UnreferencedMessages() {
    for (const auto& message : request_.messages()) {
      if (used_messages_.count(message.id())) continue;
      auto it = m_.state.mutable_updates()->find(message.protocol_instance_id());
      temporal::api::update::v1::Rejection rejection;
      if (it == m_.state.mutable_updates()->end() || !message.body().UnpackTo(&rejection)) continue;
      Reject(it->second, rejection.failure());
    }
    for (auto& [id, update] : *m_.state.mutable_updates()) {
      if (update.stage() != eon::v1::UpdateInfo::STAGE_SENT) continue;
      failure::Failure why;
      why.set_message(
          "Workflow Update is rejected because it wasn't processed by worker. "
          "Probably, Workflow Update is not supported by the worker.");
      why.set_source("Server");
      why.mutable_application_failure_info()->set_type("UnprocessedUpdate");
      why.mutable_application_failure_info()->set_non_retryable(true);
      Reject(update, why);
    }
  }

  void Reject(eon::v1::UpdateInfo& update, const failure::Failure& why) {
    update.set_stage(eon::v1::UpdateInfo::STAGE_REJECTED);
    *update.mutable_outcome()->mutable_failure() = FailureWithinDepth(why);
    update.clear_request();
    m_.changed = true;
    out_.updates_changed = true;
  }

  void ScheduleActivity(command::ScheduleActivityTaskCommandAttributes a) {
    if (m_.state.activities_size() >= limits_.pending_activities_max) {
      return Fail(enums::WORKFLOW_TASK_FAILED_CAUSE_PENDING_ACTIVITIES_LIMIT_EXCEEDED,
                  "The workflow has " + std::to_string(m_.state.activities_size()) +
                      " pending activities, the limit.");
    }
    std::string problem = PrepareScheduleActivity(m_.state, a);
    if (!problem.empty()) {
      return Fail(enums::WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_ACTIVITY_ATTRIBUTES, problem);
    }
    auto& event = m_.AddEvent(enums::EVENT_TYPE_ACTIVITY_TASK_SCHEDULED);
    auto* e = event.mutable_activity_task_scheduled_event_attributes();
    e->set_activity_id(a.activity_id());
    *e->mutable_activity_type() = a.activity_type();
    *e->mutable_task_queue() = a.task_queue();
    *e->mutable_header() = a.header();
    *e->mutable_input() = a.input();
    *e->mutable_schedule_to_close_timeout() = a.schedule_to_close_timeout();
    *e->mutable_schedule_to_start_timeout() = a.schedule_to_start_timeout();
    *e->mutable_start_to_close_timeout() = a.start_to_close_timeout();
    *e->mutable_heartbeat_timeout() = a.heartbeat_timeout();
    e->set_workflow_task_completed_event_id(completed_id_);
    *e->mutable_retry_policy() = a.retry_policy();
    *e->mutable_priority() = a.priority();

    const int64_t id = event.event_id();
    eon::v1::ActivityInfo& info = (*m_.state.mutable_activities())[id];
    info.set_scheduled_event_id(id);
    info.set_activity_id(a.activity_id());
    *info.mutable_activity_type() = a.activity_type();
    info.set_task_queue(a.task_queue().name());
    *info.mutable_header() = a.header();
    *info.mutable_input() = a.input();
    // Unset means "no timeout": only set ones are copied, so has_...() tells.
    if (a.has_schedule_to_close_timeout()) {
      *info.mutable_schedule_to_close_timeout() = a.schedule_to_close_timeout();
    }
    if (a.has_schedule_to_start_timeout()) {
      *info.mutable_schedule_to_start_timeout() = a.schedule_to_start_timeout();
    }
    if (a.has_start_to_close_timeout()) {
      *info.mutable_start_to_close_timeout() = a.start_to_close_timeout();
    }
    if (a.has_heartbeat_timeout()) *info.mutable_heartbeat_timeout() = a.heartbeat_timeout();
    *info.mutable_retry_policy() = a.retry_policy();
    *info.mutable_scheduled_time() = event.event_time();
    *info.mutable_current_attempt_scheduled_time() = event.event_time();
    info.set_attempt(1);

    // Eager dispatch: the worker completing this task takes the activity in the response, if
    // it asked and the activity runs on the workflow's own task queue.
    if (a.request_eager_execution() && a.task_queue().name() == m_.state.task_queue() &&
        static_cast<int>(out_.eager_activities.size()) < limits_.eager_activities_max) {
      // It starts after it was scheduled, never at the same instant, so a schedule-to-close
      // timeout falls due before a start-to-close of the same length (as in Temporal).
      TimePoint started = limits_.clock ? limits_.clock->Now() : m_.now;
      started = std::max(started, m_.now + Duration(1));
      m_.StartActivity(info, NewUuid(), request_.identity(), started);
      out_.eager_activities.push_back(id);
    } else {
      m_.AddTransfer(eon::v1::HISTORY_TASK_TYPE_DISPATCH_ACTIVITY_TASK, id, 1,
                     a.task_queue().name());
    }
    m_.AddActivityScheduleTimeouts(info);
  }

  void RequestCancelActivity(const command::RequestCancelActivityTaskCommandAttributes& a) {
    const int64_t scheduled_id = a.scheduled_event_id();
    auto it = m_.state.mutable_activities()->find(scheduled_id);
    if (it == m_.state.mutable_activities()->end()) {
      return Fail(enums::WORKFLOW_TASK_FAILED_CAUSE_BAD_REQUEST_CANCEL_ACTIVITY_ATTRIBUTES,
                  "There is no pending activity with scheduled event id " +
                      std::to_string(scheduled_id) + " to cancel.");
    }
    auto& requested = m_.AddEvent(enums::EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED);
    auto* r = requested.mutable_activity_task_cancel_requested_event_attributes();
    r->set_scheduled_event_id(scheduled_id);
    r->set_workflow_task_completed_event_id(completed_id_);
    // Kept by value: the next AddEvent may move the events, and `requested` with them.
    const int64_t requested_id = requested.event_id();
    auto& info = it->second;
    if (info.has_started_time()) {
      // The worker learns of it from its next heartbeat and answers Canceled.
      info.set_cancel_requested(true);
      info.set_cancel_requested_event_id(requested_id);
      return;
    }
    // Not running (waiting to start, or between attempts): canceled at once.
    auto& canceled = m_.AddEvent(enums::EVENT_TYPE_ACTIVITY_TASK_CANCELED);
    auto* c = canceled.mutable_activity_task_canceled_event_attributes();
    c->set_scheduled_event_id(scheduled_id);
    c->set_latest_cancel_requested_event_id(requested_id);
    c->set_identity(request_.identity());
    m_.state.mutable_activities()->erase(it);
    out_.new_events_for_workflow = true;
  }

  void StartTimer(const command::StartTimerCommandAttributes& a) {
    if (a.timer_id().empty()) {
      return Fail(enums::WORKFLOW_TASK_FAILED_CAUSE_BAD_START_TIMER_ATTRIBUTES,
                  "TimerId is not set on StartTimerCommand.");
    }
    const Duration fire_after = FromProtoDuration(a.start_to_fire_timeout());
    if (fire_after.count() <= 0) {
      return Fail(enums::WORKFLOW_TASK_FAILED_CAUSE_BAD_START_TIMER_ATTRIBUTES,
                  "A valid StartToFireTimeout is not set on StartTimerCommand (timer " +
                      a.timer_id() + ").");
    }
    if (m_.state.timers().count(a.timer_id())) {
      return Fail(enums::WORKFLOW_TASK_FAILED_CAUSE_START_TIMER_DUPLICATE_ID,
                  "Timer ID " + a.timer_id() + " is already in use by a pending timer.");
    }
    auto& event = m_.AddEvent(enums::EVENT_TYPE_TIMER_STARTED);
    auto* e = event.mutable_timer_started_event_attributes();
    e->set_timer_id(a.timer_id());
    *e->mutable_start_to_fire_timeout() = a.start_to_fire_timeout();
    e->set_workflow_task_completed_event_id(completed_id_);
    eon::v1::TimerInfo& timer = (*m_.state.mutable_timers())[a.timer_id()];
    timer.set_timer_id(a.timer_id());
    timer.set_started_event_id(event.event_id());
    *timer.mutable_expiry_time() = ToTimestamp(m_.now + fire_after);
    m_.AddTimer(eon::v1::HISTORY_TASK_TYPE_USER_TIMER, m_.now + fire_after, event.event_id(), 0);
  }

  void CancelTimer(const command::CancelTimerCommandAttributes& a) {
    auto it = m_.state.mutable_timers()->find(a.timer_id());
    if (it == m_.state.mutable_timers()->end()) {
      return Fail(enums::WORKFLOW_TASK_FAILED_CAUSE_BAD_CANCEL_TIMER_ATTRIBUTES,
                  "There is no pending timer with ID " + a.timer_id() + " to cancel.");
    }
    const int64_t started_id = it->second.started_event_id();
    if (it->second.fired()) {
      // It fired while this task ran: its TimerFired waits in the buffer and is dropped, so the
      // workflow sees one outcome only.
      auto* buffered = m_.state.mutable_buffered_events();
      for (int i = 0; i < buffered->size(); ++i) {
        const auto& e = buffered->Get(i);
        if (e.event_type() == enums::EVENT_TYPE_TIMER_FIRED &&
            e.timer_fired_event_attributes().started_event_id() == started_id) {
          buffered->DeleteSubrange(i, 1);
          break;
        }
      }
    }
    auto& event = m_.AddEvent(enums::EVENT_TYPE_TIMER_CANCELED);
    auto* e = event.mutable_timer_canceled_event_attributes();
    e->set_timer_id(a.timer_id());
    e->set_started_event_id(started_id);
    e->set_workflow_task_completed_event_id(completed_id_);
    e->set_identity(request_.identity());
    m_.state.mutable_timers()->erase(it);
  }

  void RecordMarker(const command::RecordMarkerCommandAttributes& a) {
    if (a.marker_name().empty()) {
      return Fail(enums::WORKFLOW_TASK_FAILED_CAUSE_BAD_RECORD_MARKER_ATTRIBUTES,
                  "MarkerName is not set on RecordMarkerCommand.");
    }
    auto& event = m_.AddEvent(enums::EVENT_TYPE_MARKER_RECORDED);
    auto* e = event.mutable_marker_recorded_event_attributes();
    e->set_marker_name(a.marker_name());
    *e->mutable_details() = a.details();
    e->set_workflow_task_completed_event_id(completed_id_);
    *e->mutable_header() = a.header();
    if (a.has_failure()) *e->mutable_failure() = a.failure();
  }

  void UpsertSearchAttributes(const command::UpsertWorkflowSearchAttributesCommandAttributes& a) {
    if (a.search_attributes().indexed_fields().empty()) {
      return Fail(enums::WORKFLOW_TASK_FAILED_CAUSE_BAD_SEARCH_ATTRIBUTES,
                  "SearchAttributes are not set on UpsertWorkflowSearchAttributesCommand.");
    }
    if (!SearchAttributesValid(a.search_attributes())) return;
    auto& event = m_.AddEvent(enums::EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES);
    auto* e = event.mutable_upsert_workflow_search_attributes_event_attributes();
    e->set_workflow_task_completed_event_id(completed_id_);
    *e->mutable_search_attributes() = a.search_attributes();
    MergeFields(a.search_attributes().indexed_fields(),
                m_.state.mutable_search_attributes()->mutable_indexed_fields());
    m_.UpdateVisibility();
  }

  void ModifyProperties(const command::ModifyWorkflowPropertiesCommandAttributes& a) {
    if (a.upserted_memo().fields().empty()) {
      return Fail(enums::WORKFLOW_TASK_FAILED_CAUSE_BAD_MODIFY_WORKFLOW_PROPERTIES_ATTRIBUTES,
                  "UpsertedMemo is not set on ModifyWorkflowPropertiesCommand.");
    }
    auto& event = m_.AddEvent(enums::EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED);
    auto* e = event.mutable_workflow_properties_modified_event_attributes();
    e->set_workflow_task_completed_event_id(completed_id_);
    *e->mutable_upserted_memo() = a.upserted_memo();
    MergeFields(a.upserted_memo().fields(), m_.state.mutable_memo()->mutable_fields());
    m_.UpdateVisibility();
  }

  // Upserts payload fields; a field whose new value is empty (no data) is removed, as in
  // Temporal.
  static void MergeFields(const google::protobuf::Map<std::string, common::Payload>& from,
                          google::protobuf::Map<std::string, common::Payload>* into) {
    for (const auto& [name, value] : from) {
      if (value.data().empty() || value.data() == "null") {
        into->erase(name);
      } else {
        (*into)[name] = value;
      }
    }
  }

  void CloseWorkflow(const command::Command& c) {
    if (!m_.state.buffered_events().empty()) {
      // New events came in while the task ran: the workflow must see them first. The SDKs
      // match this exact message.
      return Fail(enums::WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND, "UnhandledCommand");
    }
    enums::WorkflowExecutionStatus status;
    int64_t event_id;
    enums::RetryState retry_state;
    switch (c.command_type()) {
      case enums::COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION: {
        const auto& result = c.complete_workflow_execution_command_attributes().result();
        std::string next_run_id = m_.PlanNextRun(enums::WORKFLOW_EXECUTION_STATUS_COMPLETED,
                                                 nullptr, &result, &retry_state);
        auto& event = m_.AddEvent(enums::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED);
        auto* e = event.mutable_workflow_execution_completed_event_attributes();
        *e->mutable_result() = result;
        e->set_workflow_task_completed_event_id(completed_id_);
        e->set_new_execution_run_id(next_run_id);
        status = enums::WORKFLOW_EXECUTION_STATUS_COMPLETED;
        event_id = event.event_id();
        break;
      }
      case enums::COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION: {
        const auto& why = c.fail_workflow_execution_command_attributes().failure();
        std::string next_run_id =
            m_.PlanNextRun(enums::WORKFLOW_EXECUTION_STATUS_FAILED, &why, nullptr, &retry_state);
        auto& event = m_.AddEvent(enums::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED);
        auto* e = event.mutable_workflow_execution_failed_event_attributes();
        *e->mutable_failure() = why;
        e->set_retry_state(retry_state);
        e->set_workflow_task_completed_event_id(completed_id_);
        e->set_new_execution_run_id(next_run_id);
        status = enums::WORKFLOW_EXECUTION_STATUS_FAILED;
        event_id = event.event_id();
        break;
      }
      case enums::COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION: {
        if (!ContinueAsNew(c.continue_as_new_workflow_execution_command_attributes(), &event_id)) {
          return;
        }
        status = enums::WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW;
        break;
      }
      default: {
        auto& event = m_.AddEvent(enums::EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED);
        auto* e = event.mutable_workflow_execution_canceled_event_attributes();
        *e->mutable_details() = c.cancel_workflow_execution_command_attributes().details();
        e->set_workflow_task_completed_event_id(completed_id_);
        status = enums::WORKFLOW_EXECUTION_STATUS_CANCELED;
        event_id = event.event_id();
        break;
      }
    }
    m_.Close(status, event_id);
    out_.closed = true;
  }

  // Writes WorkflowExecutionContinuedAsNew and plans the new run. False when invalid.
  bool ContinueAsNew(const command::ContinueAsNewWorkflowExecutionCommandAttributes& a,
                     int64_t* event_id) {
    const auto& s = m_.state;
    RunSpec next;
    next.namespace_id = s.namespace_id();
    next.workflow_id = s.workflow_id();
    next.run_id = NewRunId(m_.now);
    next.workflow_type =
        a.workflow_type().name().empty() ? s.workflow_type() : a.workflow_type().name();
    next.task_queue = a.task_queue().name().empty() ? s.task_queue() : a.task_queue().name();
    next.input = a.input();
    next.header = a.header();
    next.execution_timeout = FromProtoDuration(s.execution_timeout());
    next.run_timeout =
        a.has_workflow_run_timeout() && FromProtoDuration(a.workflow_run_timeout()).count() > 0
            ? FromProtoDuration(a.workflow_run_timeout())
            : FromProtoDuration(s.run_timeout());
    next.task_timeout =
        a.has_workflow_task_timeout() && FromProtoDuration(a.workflow_task_timeout()).count() > 0
            ? FromProtoDuration(a.workflow_task_timeout())
            : FromProtoDuration(s.task_timeout());
    if (s.has_execution_expiration_time()) {
      next.execution_expiration = FromTimestamp(s.execution_expiration_time());
    }
    next.memo = a.has_memo() ? a.memo() : s.memo();
    if (a.has_search_attributes() && !SearchAttributesValid(a.search_attributes())) return false;
    next.search_attributes =
        a.has_search_attributes() ? a.search_attributes() : s.search_attributes();
    if (a.has_retry_policy()) {
      Status valid = ValidateRetryPolicy(a.retry_policy());
      if (!valid.ok()) {
        Fail(enums::WORKFLOW_TASK_FAILED_CAUSE_BAD_CONTINUE_AS_NEW_ATTRIBUTES, valid.message());
        return false;
      }
      next.retry_policy = a.retry_policy();
    } else if (s.has_retry_policy()) {
      next.retry_policy = s.retry_policy();
    }
    next.cron_schedule = a.cron_schedule().empty() ? s.cron_schedule() : a.cron_schedule();
    next.identity = request_.identity();
    next.first_execution_run_id = s.first_execution_run_id();
    next.continued_execution_run_id = s.run_id();
    next.initiator = enums::CONTINUE_AS_NEW_INITIATOR_WORKFLOW;
    if (s.has_parent()) next.parent = s.parent();
    if (a.has_last_completion_result()) next.last_completion_result = a.last_completion_result();
    if (a.has_failure()) next.continued_failure = a.failure();
    next.first_workflow_task_backoff = FromProtoDuration(a.backoff_start_interval());
    if (next.first_workflow_task_backoff.count() < 0) {
      Fail(enums::WORKFLOW_TASK_FAILED_CAUSE_BAD_CONTINUE_AS_NEW_ATTRIBUTES,
           "BackoffStartInterval cannot be negative.");
      return false;
    }

    auto& event = m_.AddEvent(enums::EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW);
    auto* e = event.mutable_workflow_execution_continued_as_new_event_attributes();
    e->set_new_execution_run_id(next.run_id);
    e->mutable_workflow_type()->set_name(next.workflow_type);
    e->mutable_task_queue()->set_name(next.task_queue);
    e->mutable_task_queue()->set_kind(enums::TASK_QUEUE_KIND_NORMAL);
    *e->mutable_input() = next.input;
    *e->mutable_workflow_run_timeout() = ToProtoDuration(next.run_timeout);
    *e->mutable_workflow_task_timeout() = ToProtoDuration(next.task_timeout);
    e->set_workflow_task_completed_event_id(completed_id_);
    *e->mutable_backoff_start_interval() = a.backoff_start_interval();
    e->set_initiator(next.initiator);
    if (a.has_failure()) *e->mutable_failure() = FailureWithinDepth(a.failure());
    if (a.has_last_completion_result())
      *e->mutable_last_completion_result() = a.last_completion_result();
    *e->mutable_header() = next.header;
    *e->mutable_memo() = next.memo;
    *e->mutable_search_attributes() = next.search_attributes;
    *event_id = event.event_id();
    m_.next_run = std::move(next);
    return true;
  }

  Mutation& m_;
  const wfs::RespondWorkflowTaskCompletedRequest& request_;
  const int64_t completed_id_;
  const CommandLimits& limits_;
  CommandOutcome out_;
  std::set<std::string> used_messages_;  // protocol messages a command named
};

}  // namespace

CommandOutcome ApplyCommands(Mutation& m, const wfs::RespondWorkflowTaskCompletedRequest& request,
                             int64_t completed_event_id, const CommandLimits& limits) {
  return CommandApplier(m, request, completed_event_id, limits).Run();
}

}  // namespace eon::history
