#include "history/mutable_state.h"

#include <algorithm>
#include <cmath>

namespace eon::history {

namespace {

constexpr auto kDefaultRetryInitialInterval = std::chrono::seconds(1);
constexpr double kDefaultRetryBackoffCoefficient = 2.0;
constexpr int kDefaultRetryMaximumIntervalFactor = 100;

}  // namespace

bool IsRunning(const eon::v1::ExecutionState& state) {
  return state.status() == enums::WORKFLOW_EXECUTION_STATUS_RUNNING;
}

Status WorkflowClosed() { return NotFound("workflow execution already completed"); }

std::string TimeoutName(enums::TimeoutType type) {
  switch (type) {
    case enums::TIMEOUT_TYPE_START_TO_CLOSE:
      return "StartToClose";
    case enums::TIMEOUT_TYPE_SCHEDULE_TO_START:
      return "ScheduleToStart";
    case enums::TIMEOUT_TYPE_SCHEDULE_TO_CLOSE:
      return "ScheduleToClose";
    case enums::TIMEOUT_TYPE_HEARTBEAT:
      return "Heartbeat";
    default:
      return "unknown";
  }
}

// A retried workflow task gets more time from its fourth attempt on, as in Temporal: 5 s,
// doubling, at most 10 minutes more.
Duration WorkflowTaskTimeout(const eon::v1::WorkflowTaskInfo& wft) {
  Duration timeout = FromProtoDuration(wft.start_to_close_timeout());
  if (wft.attempt() <= 3) return timeout;
  constexpr Duration kExtraMax = std::chrono::minutes(10);
  int doublings = std::min(wft.attempt() - 4, 16);
  Duration extra =
      std::min<Duration>(std::chrono::seconds(5) * (int64_t{1} << doublings), kExtraMax);
  return timeout + extra;
}

// The Scheduled and Started events of a started transient workflow task, which are not stored
// yet: the poller needs them at the end of the history it reads.
void AppendTransientWorkflowTaskEvents(const eon::v1::ExecutionState& state,
                                       hist::History* history) {
  const auto& wft = state.workflow_task();
  if (!wft.transient() || wft.started_event_id() == 0 || !IsRunning(state)) return;
  auto* scheduled = history->add_events();
  scheduled->set_event_id(wft.scheduled_event_id());
  scheduled->set_event_type(enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
  *scheduled->mutable_event_time() = wft.scheduled_time();
  auto* s = scheduled->mutable_workflow_task_scheduled_event_attributes();
  s->mutable_task_queue()->set_name(state.task_queue());
  s->mutable_task_queue()->set_kind(enums::TASK_QUEUE_KIND_NORMAL);
  *s->mutable_start_to_close_timeout() = wft.start_to_close_timeout();
  s->set_attempt(wft.attempt());
  auto* started = history->add_events();
  started->set_event_id(wft.started_event_id());
  started->set_event_type(enums::EVENT_TYPE_WORKFLOW_TASK_STARTED);
  *started->mutable_event_time() = wft.started_time();
  auto* a = started->mutable_workflow_task_started_event_attributes();
  a->set_scheduled_event_id(wft.scheduled_event_id());
  a->set_identity(wft.identity());
  a->set_request_id(wft.request_id());
}

// The retry policy with Temporal's defaults filled in.
common::RetryPolicy WithRetryDefaults(const common::RetryPolicy& given) {
  common::RetryPolicy policy = given;
  if (!policy.has_initial_interval() || FromProtoDuration(policy.initial_interval()).count() == 0) {
    *policy.mutable_initial_interval() = ToProtoDuration(kDefaultRetryInitialInterval);
  }
  if (policy.backoff_coefficient() == 0)
    policy.set_backoff_coefficient(kDefaultRetryBackoffCoefficient);
  if (!policy.has_maximum_interval() || FromProtoDuration(policy.maximum_interval()).count() == 0) {
    *policy.mutable_maximum_interval() = ToProtoDuration(
        FromProtoDuration(policy.initial_interval()) * kDefaultRetryMaximumIntervalFactor);
  }
  return policy;
}

Status ValidateRetryPolicy(const common::RetryPolicy& policy) {
  if (FromProtoDuration(policy.initial_interval()).count() < 0) {
    return InvalidArgument("InitialInterval cannot be negative on retry policy.");
  }
  if (policy.backoff_coefficient() != 0 && policy.backoff_coefficient() < 1) {
    return InvalidArgument("BackoffCoefficient cannot be less than 1 on retry policy.");
  }
  if (FromProtoDuration(policy.maximum_interval()).count() < 0) {
    return InvalidArgument("MaximumInterval cannot be negative on retry policy.");
  }
  if (policy.has_maximum_interval() && FromProtoDuration(policy.maximum_interval()).count() > 0 &&
      FromProtoDuration(policy.maximum_interval()) < FromProtoDuration(policy.initial_interval())) {
    return InvalidArgument("MaximumInterval cannot be less than InitialInterval on retry policy.");
  }
  if (policy.maximum_attempts() < 0) {
    return InvalidArgument("MaximumAttempts cannot be negative on retry policy.");
  }
  return Status::Ok();
}

bool IsNonRetryable(const common::RetryPolicy& policy, const failure::Failure& f) {
  std::string type;
  if (f.has_application_failure_info()) {
    if (f.application_failure_info().non_retryable()) return true;
    type = f.application_failure_info().type();
  } else if (f.has_timeout_failure_info()) {
    // Only start-to-close and heartbeat timeouts are retried.
    auto t = f.timeout_failure_info().timeout_type();
    if (t != enums::TIMEOUT_TYPE_START_TO_CLOSE && t != enums::TIMEOUT_TYPE_HEARTBEAT) return true;
    type = "TemporalTimeout:" + std::string(enums::TimeoutType_Name(t));
  } else if (f.has_canceled_failure_info() || f.has_terminated_failure_info()) {
    return true;
  }
  for (const auto& non_retryable : policy.non_retryable_error_types()) {
    if (non_retryable == type) return true;
  }
  return false;
}

// Checks a ScheduleActivityTask command and fills in Temporal's defaults. Returns the failure
// message (empty when valid).
std::string PrepareScheduleActivity(
    const eon::v1::ExecutionState& state,
    temporal::api::command::v1::ScheduleActivityTaskCommandAttributes& a) {
  if (a.activity_id().empty()) return "ActivityId is not set on ScheduleActivityTaskCommand.";
  if (a.activity_type().name().empty())
    return "ActivityType is not set on ScheduleActivityTaskCommand.";
  for (const auto& [id, activity] : state.activities()) {
    if (activity.activity_id() == a.activity_id()) {
      return "Activity ID " + a.activity_id() + " is already in use by a pending activity.";
    }
  }
  if (a.task_queue().name().empty()) a.mutable_task_queue()->set_name(state.task_queue());
  a.mutable_task_queue()->set_kind(enums::TASK_QUEUE_KIND_NORMAL);
  Duration schedule_to_close = FromProtoDuration(a.schedule_to_close_timeout());
  Duration schedule_to_start = FromProtoDuration(a.schedule_to_start_timeout());
  Duration start_to_close = FromProtoDuration(a.start_to_close_timeout());
  Duration heartbeat = FromProtoDuration(a.heartbeat_timeout());
  if (schedule_to_close.count() < 0 || schedule_to_start.count() < 0 ||
      start_to_close.count() < 0 || heartbeat.count() < 0) {
    return "A valid timeout may not be negative on ScheduleActivityTaskCommand.";
  }
  const Duration run_timeout = FromProtoDuration(state.run_timeout());
  if (run_timeout.count() > 0 &&
      (schedule_to_close.count() == 0 || schedule_to_close > run_timeout)) {
    if (schedule_to_close.count() > 0 || start_to_close.count() > 0)
      schedule_to_close = run_timeout;
  }
  if (schedule_to_close.count() > 0) {
    schedule_to_start = schedule_to_start.count() > 0
                            ? std::min(schedule_to_start, schedule_to_close)
                            : schedule_to_close;
    start_to_close = start_to_close.count() > 0 ? std::min(start_to_close, schedule_to_close)
                                                : schedule_to_close;
  } else if (start_to_close.count() > 0) {
    // No overall bound: schedule-to-close stays unset (unlimited retries in time).
  } else {
    return "A valid StartToClose or ScheduleToCloseTimeout is not set on "
           "ScheduleActivityTaskCommand.";
  }
  if (heartbeat.count() > 0) heartbeat = std::min(heartbeat, start_to_close);
  // Zero means "no timeout": such a field is left unset, so has_...() tells.
  a.clear_schedule_to_close_timeout();
  a.clear_schedule_to_start_timeout();
  a.clear_start_to_close_timeout();
  a.clear_heartbeat_timeout();
  if (schedule_to_close.count() > 0)
    *a.mutable_schedule_to_close_timeout() = ToProtoDuration(schedule_to_close);
  if (schedule_to_start.count() > 0)
    *a.mutable_schedule_to_start_timeout() = ToProtoDuration(schedule_to_start);
  if (start_to_close.count() > 0)
    *a.mutable_start_to_close_timeout() = ToProtoDuration(start_to_close);
  if (heartbeat.count() > 0) *a.mutable_heartbeat_timeout() = ToProtoDuration(heartbeat);
  Status policy = ValidateRetryPolicy(a.retry_policy());
  if (!policy.ok()) return policy.message();
  *a.mutable_retry_policy() = WithRetryDefaults(a.retry_policy());
  return "";
}

wfs::PollActivityTaskQueueResponse ActivityTaskResponse(const eon::v1::ExecutionState& s,
                                                        const eon::v1::ActivityInfo& info) {
  wfs::PollActivityTaskQueueResponse response;
  eon::v1::TaskToken token;
  token.set_kind(eon::v1::TASK_QUEUE_KIND_ACTIVITY);
  token.set_namespace_id(s.namespace_id());
  token.set_workflow_id(s.workflow_id());
  token.set_run_id(s.run_id());
  token.set_scheduled_event_id(info.scheduled_event_id());
  token.set_attempt(info.attempt());
  token.set_activity_id(info.activity_id());
  response.set_task_token(token.SerializeAsString());
  response.mutable_workflow_type()->set_name(s.workflow_type());
  response.mutable_workflow_execution()->set_workflow_id(s.workflow_id());
  response.mutable_workflow_execution()->set_run_id(s.run_id());
  *response.mutable_activity_type() = info.activity_type();
  response.set_activity_id(info.activity_id());
  *response.mutable_header() = info.header();
  *response.mutable_input() = info.input();
  if (info.has_heartbeat_details())
    *response.mutable_heartbeat_details() = info.heartbeat_details();
  *response.mutable_scheduled_time() = info.scheduled_time();
  *response.mutable_current_attempt_scheduled_time() = info.current_attempt_scheduled_time();
  *response.mutable_started_time() = info.started_time();
  response.set_attempt(info.attempt());
  *response.mutable_schedule_to_close_timeout() = info.schedule_to_close_timeout();
  *response.mutable_start_to_close_timeout() = info.start_to_close_timeout();
  *response.mutable_heartbeat_timeout() = info.heartbeat_timeout();
  *response.mutable_retry_policy() = info.retry_policy();
  return response;
}

// Finds the started activity a token names; NOT_FOUND when the token is stale.
Result<eon::v1::ActivityInfo*> StartedActivity(eon::v1::ExecutionState& state,
                                               const eon::v1::TaskToken& token) {
  if (!IsRunning(state)) return WorkflowClosed();
  auto it = state.mutable_activities()->find(token.scheduled_event_id());
  if (it == state.mutable_activities()->end() || it->second.attempt() != token.attempt() ||
      !it->second.has_started_time()) {
    return NotFound(
        "invalid activityID or activity already timed out or invoking workflow is completed");
  }
  return &it->second;
}

// Decides whether a failed attempt is retried; fills `retry_state` and `delay`.
bool ShouldRetry(const eon::v1::ActivityInfo& info, const failure::Failure& f, TimePoint now,
                 enums::RetryState* retry_state, Duration* delay) {
  const auto& policy = info.retry_policy();
  if (info.cancel_requested()) {
    *retry_state = enums::RETRY_STATE_CANCEL_REQUESTED;
    return false;
  }
  if (IsNonRetryable(policy, f)) {
    *retry_state = enums::RETRY_STATE_NON_RETRYABLE_FAILURE;
    return false;
  }
  if (policy.maximum_attempts() > 0 && info.attempt() >= policy.maximum_attempts()) {
    *retry_state = enums::RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED;
    return false;
  }
  Duration initial = FromProtoDuration(policy.initial_interval());
  Duration maximum = FromProtoDuration(policy.maximum_interval());
  double factor = std::pow(policy.backoff_coefficient(), info.attempt() - 1);
  double nanos = static_cast<double>(initial.count()) * factor;
  Duration backoff = nanos >= static_cast<double>(maximum.count())
                         ? maximum
                         : Duration(static_cast<int64_t>(nanos));
  if (f.has_application_failure_info() && f.application_failure_info().has_next_retry_delay()) {
    backoff = FromProtoDuration(f.application_failure_info().next_retry_delay());
  }
  if (info.has_schedule_to_close_timeout()) {
    TimePoint deadline =
        FromTimestamp(info.scheduled_time()) + FromProtoDuration(info.schedule_to_close_timeout());
    if (now + backoff >= deadline) {
      *retry_state = enums::RETRY_STATE_TIMEOUT;
      return false;
    }
  }
  *retry_state = enums::RETRY_STATE_IN_PROGRESS;
  *delay = backoff;
  return true;
}
}  // namespace eon::history
