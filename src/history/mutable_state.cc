#include "history/mutable_state.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "common/cron.h"
#include "common/ids.h"
#include "common/json_depth.h"
#include "visibility/query.h"

namespace eon::history {

namespace {

constexpr auto kDefaultRetryInitialInterval = std::chrono::seconds(1);
constexpr double kDefaultRetryBackoffCoefficient = 2.0;
constexpr int kDefaultRetryMaximumIntervalFactor = 100;

}  // namespace

bool IsRunning(const eon::v1::ExecutionState& state) {
  return state.status() == enums::WORKFLOW_EXECUTION_STATUS_RUNNING;
}

temporal::api::taskqueue::v1::TaskQueue WorkflowTaskQueue(const eon::v1::ExecutionState& state,
                                                          const std::string& queue) {
  temporal::api::taskqueue::v1::TaskQueue out;
  out.set_name(queue);
  if (queue == state.task_queue() || queue.empty()) {
    out.set_name(state.task_queue());
    out.set_kind(enums::TASK_QUEUE_KIND_NORMAL);
  } else {
    out.set_kind(enums::TASK_QUEUE_KIND_STICKY);
    out.set_normal_name(state.task_queue());
  }
  return out;
}

temporal::api::workflow::v1::WorkflowExecutionInfo ExecutionInfo(const eon::v1::ExecutionState& s) {
  temporal::api::workflow::v1::WorkflowExecutionInfo info;
  info.mutable_execution()->set_workflow_id(s.workflow_id());
  info.mutable_execution()->set_run_id(s.run_id());
  info.mutable_type()->set_name(s.workflow_type());
  *info.mutable_start_time() = s.start_time();
  if (s.has_close_time()) *info.mutable_close_time() = s.close_time();
  info.set_status(s.status());
  info.set_history_length(s.next_event_id() - 1);
  *info.mutable_execution_time() = s.execution_time();
  *info.mutable_memo() = s.memo();
  *info.mutable_search_attributes() = s.search_attributes();
  info.set_task_queue(s.task_queue());
  info.set_state_transition_count(s.state_transition_count());
  info.set_history_size_bytes(s.history_size_bytes());
  info.set_first_run_id(s.first_execution_run_id());
  if (s.has_parent()) {
    info.set_parent_namespace_id(s.parent().namespace_id());
    info.mutable_parent_execution()->set_workflow_id(s.parent().workflow_id());
    info.mutable_parent_execution()->set_run_id(s.parent().run_id());
    info.mutable_root_execution()->set_workflow_id(s.parent().root_workflow_id());
    info.mutable_root_execution()->set_run_id(s.parent().root_run_id());
  } else {
    info.mutable_root_execution()->set_workflow_id(s.workflow_id());
    info.mutable_root_execution()->set_run_id(s.run_id());
  }
  if (s.has_close_time()) {
    *info.mutable_execution_duration() =
        ToProtoDuration(FromTimestamp(s.close_time()) - FromTimestamp(s.execution_time()));
  }
  return info;
}

nlohmann::json SearchAttributesJson(const temporal::api::common::v1::SearchAttributes& fields,
                                    const std::map<std::string, int>& types) {
  // Search attribute payloads hold JSON (json/plain); Datetime values become nanoseconds so
  // that comparisons in SQL are numeric. A value that is not JSON is left out.
  nlohmann::json attributes = nlohmann::json::object();
  for (const auto& [name, payload] : fields.indexed_fields()) {
    // Values are checked when set; one nested too deep for the recursive dump is left out all
    // the same (rows written before the check).
    if (JsonNestingDepth(payload.data(), kJsonNestingMax) > kJsonNestingMax) continue;
    auto value = nlohmann::json::parse(payload.data(), nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) continue;
    auto type = types.find(name);
    // A system attribute Eon stores in the JSON column (scheduled runs carry it).
    const bool system_datetime = name == "TemporalScheduledStartTime";
    // Older SDKs send every value as a list; a one-value list of a single-valued type is its
    // value.
    if (type != types.end() && type->second != enums::INDEXED_VALUE_TYPE_KEYWORD_LIST &&
        value.is_array() && value.size() == 1) {
      value = nlohmann::json(value[0]);
    }
    if ((system_datetime ||
         (type != types.end() && type->second == enums::INDEXED_VALUE_TYPE_DATETIME)) &&
        value.is_string()) {
      auto nanos = visibility::ParseRfc3339Nanos(value.get<std::string>());
      if (!nanos.ok()) continue;
      value = *nanos;
    }
    attributes[name] = std::move(value);
  }
  return attributes;
}

persistence::VisibilityRow VisibilityRowOf(const eon::v1::ExecutionState& s,
                                           const std::map<std::string, int>& types) {
  persistence::VisibilityRow row;
  row.namespace_id = s.namespace_id();
  row.run_id = s.run_id();
  row.workflow_id = s.workflow_id();
  row.workflow_type = s.workflow_type();
  row.status = s.status();
  row.start_time_ns = ToUnixNanos(FromTimestamp(s.start_time()));
  row.execution_time_ns = ToUnixNanos(FromTimestamp(s.execution_time()));
  if (s.has_close_time()) {
    row.close_time_ns = ToUnixNanos(FromTimestamp(s.close_time()));
    row.execution_duration_ns = *row.close_time_ns - *row.execution_time_ns;
  }
  row.task_queue = s.task_queue();
  row.history_length = s.next_event_id() - 1;
  row.history_size_bytes = s.history_size_bytes();
  row.state_transition_count = s.state_transition_count();
  if (s.has_parent()) {
    row.parent_workflow_id = s.parent().workflow_id();
    row.parent_run_id = s.parent().run_id();
    row.root_workflow_id = s.parent().root_workflow_id();
    row.root_run_id = s.parent().root_run_id();
  }
  row.search_attributes_json = SearchAttributesJson(s.search_attributes(), types).dump();
  row.info = ExecutionInfo(s).SerializeAsString();
  return row;
}

int64_t BusyCount(const eon::v1::ExecutionState& state) {
  if (!IsRunning(state)) return 0;
  int64_t busy = state.workflow_task().scheduled_event_id() != 0 ? 1 : 0;
  for (const auto& [id, activity] : state.activities()) {
    if (!activity.awaiting_retry()) ++busy;
  }
  return busy;
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
  *s->mutable_task_queue() = WorkflowTaskQueue(state, wft.task_queue());
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
RetryDecision DecideRetry(const common::RetryPolicy& given, int32_t attempt,
                          const failure::Failure& f, TimePoint now,
                          std::optional<TimePoint> deadline) {
  const common::RetryPolicy policy = WithRetryDefaults(given);
  RetryDecision decision;
  if (IsNonRetryable(policy, f)) {
    decision.state = enums::RETRY_STATE_NON_RETRYABLE_FAILURE;
    return decision;
  }
  if (policy.maximum_attempts() > 0 && attempt >= policy.maximum_attempts()) {
    decision.state = enums::RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED;
    return decision;
  }
  Duration initial = FromProtoDuration(policy.initial_interval());
  Duration maximum = FromProtoDuration(policy.maximum_interval());
  double nanos = static_cast<double>(initial.count()) *
                 std::pow(policy.backoff_coefficient(), std::max(attempt - 1, 0));
  Duration backoff = nanos >= static_cast<double>(maximum.count())
                         ? maximum
                         : Duration(static_cast<int64_t>(nanos));
  if (f.has_application_failure_info() && f.application_failure_info().has_next_retry_delay()) {
    backoff = FromProtoDuration(f.application_failure_info().next_retry_delay());
  }
  if (deadline && now + backoff >= *deadline) {
    decision.state = enums::RETRY_STATE_TIMEOUT;
    return decision;
  }
  decision.retry = true;
  decision.state = enums::RETRY_STATE_IN_PROGRESS;
  decision.delay = backoff;
  return decision;
}

bool ShouldRetry(const eon::v1::ActivityInfo& info, const failure::Failure& f, TimePoint now,
                 enums::RetryState* retry_state, Duration* delay) {
  if (info.cancel_requested()) {
    *retry_state = enums::RETRY_STATE_CANCEL_REQUESTED;
    return false;
  }
  std::optional<TimePoint> deadline;
  if (info.has_schedule_to_close_timeout()) {
    deadline =
        FromTimestamp(info.scheduled_time()) + FromProtoDuration(info.schedule_to_close_timeout());
  }
  RetryDecision decision = DecideRetry(info.retry_policy(), info.attempt(), f, now, deadline);
  *retry_state = decision.state;
  *delay = decision.delay;
  return decision.retry;
}

void Mutation::InitRun(const RunSpec& spec, const RunDefaults& defaults) {
  auto& s = state;
  s.Clear();
  s.set_namespace_id(spec.namespace_id);
  s.set_workflow_id(spec.workflow_id);
  s.set_run_id(spec.run_id);
  s.set_first_execution_run_id(spec.first_execution_run_id.empty() ? spec.run_id
                                                                   : spec.first_execution_run_id);
  s.set_workflow_type(spec.workflow_type);
  s.set_task_queue(spec.task_queue);
  s.set_status(enums::WORKFLOW_EXECUTION_STATUS_RUNNING);
  *s.mutable_start_time() = ToTimestamp(now);
  const TimePoint execution_time = now + spec.first_workflow_task_backoff;
  *s.mutable_execution_time() = ToTimestamp(execution_time);
  s.set_create_request_id(spec.request_id.empty() ? NewUuid() : spec.request_id);
  s.set_next_event_id(1);
  s.set_attempt(spec.attempt);
  s.set_cron_schedule(spec.cron_schedule);
  if (spec.retry_policy) *s.mutable_retry_policy() = WithRetryDefaults(*spec.retry_policy);

  // Timeouts: the execution timeout spans every run; a run ends by its own timeout or the
  // execution's, whichever is first; a workflow task by its own (capped by the run's).
  std::optional<TimePoint> expiration = spec.execution_expiration;
  if (!expiration && spec.execution_timeout.count() > 0) {
    expiration = execution_time + spec.execution_timeout;
  }
  *s.mutable_execution_timeout() = ToProtoDuration(spec.execution_timeout);
  Duration run_timeout = spec.run_timeout;
  if (expiration) {
    Duration left = *expiration - execution_time;
    if (run_timeout.count() == 0 || run_timeout > left) run_timeout = left;
    *s.mutable_execution_expiration_time() = ToTimestamp(*expiration);
  }
  *s.mutable_run_timeout() = ToProtoDuration(run_timeout);
  Duration task_timeout = spec.task_timeout;
  if (task_timeout.count() <= 0) task_timeout = defaults.default_task_timeout;
  task_timeout = std::min(task_timeout, defaults.max_task_timeout);
  if (run_timeout.count() > 0) task_timeout = std::min(task_timeout, run_timeout);
  *s.mutable_task_timeout() = ToProtoDuration(task_timeout);
  *s.mutable_memo() = spec.memo;
  *s.mutable_search_attributes() = spec.search_attributes;

  auto& started = AddEvent(enums::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
  auto* a = started.mutable_workflow_execution_started_event_attributes();
  a->mutable_workflow_type()->set_name(spec.workflow_type);
  a->mutable_task_queue()->set_name(spec.task_queue);
  a->mutable_task_queue()->set_kind(enums::TASK_QUEUE_KIND_NORMAL);
  *a->mutable_header() = spec.header;
  *a->mutable_input() = spec.input;
  *a->mutable_workflow_execution_timeout() = s.execution_timeout();
  *a->mutable_workflow_run_timeout() = s.run_timeout();
  *a->mutable_workflow_task_timeout() = s.task_timeout();
  a->set_continued_execution_run_id(spec.continued_execution_run_id);
  a->set_initiator(spec.initiator);
  if (spec.continued_failure) {
    *a->mutable_continued_failure() = FailureWithinDepth(*spec.continued_failure);
  }
  if (spec.last_completion_result) {
    *a->mutable_last_completion_result() = *spec.last_completion_result;
  }
  a->set_original_execution_run_id(spec.run_id);
  a->set_identity(spec.identity);
  a->set_first_execution_run_id(s.first_execution_run_id());
  if (s.has_retry_policy()) *a->mutable_retry_policy() = s.retry_policy();
  a->set_attempt(spec.attempt);
  if (expiration) *a->mutable_workflow_execution_expiration_time() = ToTimestamp(*expiration);
  a->set_cron_schedule(spec.cron_schedule);
  if (spec.first_workflow_task_backoff.count() > 0) {
    *a->mutable_first_workflow_task_backoff() = ToProtoDuration(spec.first_workflow_task_backoff);
  }
  *a->mutable_memo() = spec.memo;
  *a->mutable_search_attributes() = spec.search_attributes;
  a->set_workflow_id(spec.workflow_id);
  if (spec.parent) {
    *s.mutable_parent() = *spec.parent;
    a->set_parent_workflow_namespace(spec.parent->namespace_());
    a->set_parent_workflow_namespace_id(spec.parent->namespace_id());
    a->mutable_parent_workflow_execution()->set_workflow_id(spec.parent->workflow_id());
    a->mutable_parent_workflow_execution()->set_run_id(spec.parent->run_id());
    a->set_parent_initiated_event_id(spec.parent->initiated_event_id());
    a->mutable_root_workflow_execution()->set_workflow_id(spec.parent->root_workflow_id());
    a->mutable_root_workflow_execution()->set_run_id(spec.parent->root_run_id());
  }  // a top-level workflow leaves root_workflow_execution unset, as Temporal does

  UpdateVisibility();
  if (spec.first_workflow_task_backoff.count() > 0) {
    s.set_workflow_task_backoff(true);
    AddTimer(eon::v1::HISTORY_TASK_TYPE_WORKFLOW_BACKOFF, execution_time, 0, 0);
  }
  if (run_timeout.count() > 0) {
    AddTimer(eon::v1::HISTORY_TASK_TYPE_WORKFLOW_RUN_TIMEOUT, execution_time + run_timeout, 0, 0);
  }
}

std::string Mutation::PlanNextRun(enums::WorkflowExecutionStatus closing,
                                  const failure::Failure* why, const common::Payloads* result,
                                  enums::RetryState* retry_state) {
  *retry_state = enums::RETRY_STATE_RETRY_POLICY_NOT_SET;
  RunSpec next;
  next.namespace_id = state.namespace_id();
  next.workflow_id = state.workflow_id();
  next.run_id = NewRunId(now);
  next.workflow_type = state.workflow_type();
  next.task_queue = state.task_queue();
  next.inherit_input = true;
  next.execution_timeout = FromProtoDuration(state.execution_timeout());
  next.run_timeout = FromProtoDuration(state.run_timeout());
  next.task_timeout = FromProtoDuration(state.task_timeout());
  if (state.has_execution_expiration_time()) {
    next.execution_expiration = FromTimestamp(state.execution_expiration_time());
  }
  next.memo = state.memo();
  next.search_attributes = state.search_attributes();
  if (state.has_retry_policy()) next.retry_policy = state.retry_policy();
  next.cron_schedule = state.cron_schedule();
  next.first_execution_run_id = state.first_execution_run_id();
  next.continued_execution_run_id = state.run_id();
  if (state.has_parent()) next.parent = state.parent();

  const bool failed = closing == enums::WORKFLOW_EXECUTION_STATUS_FAILED ||
                      closing == enums::WORKFLOW_EXECUTION_STATUS_TIMED_OUT;
  if (failed && state.has_retry_policy()) {
    RetryDecision decision =
        DecideRetry(state.retry_policy(), state.attempt(), *why, now,
                    state.has_execution_expiration_time()
                        ? std::optional<TimePoint>(FromTimestamp(state.execution_expiration_time()))
                        : std::nullopt);
    *retry_state = decision.state;
    if (decision.retry) {
      next.attempt = state.attempt() + 1;
      next.initiator = enums::CONTINUE_AS_NEW_INITIATOR_RETRY;
      next.continued_failure = *why;
      next.first_workflow_task_backoff = decision.delay;
      std::string run_id = next.run_id;
      next_run = std::move(next);
      return run_id;
    }
  }
  if (!state.cron_schedule().empty()) {
    auto schedule = CronSchedule::Parse(state.cron_schedule());
    if (!schedule.ok()) return "";
    // The next time after this run's start that is not already past, as Temporal does.
    TimePoint fire = schedule->Next(FromTimestamp(state.execution_time()));
    while (fire != TimePoint::max() && fire < now) fire = schedule->Next(fire);
    if (fire == TimePoint::max()) return "";
    if (state.has_execution_expiration_time() &&
        fire >= FromTimestamp(state.execution_expiration_time())) {
      return "";
    }
    next.initiator = enums::CONTINUE_AS_NEW_INITIATOR_CRON_SCHEDULE;
    next.first_workflow_task_backoff = fire - now;
    if (why) next.continued_failure = *why;
    if (result) next.last_completion_result = *result;
    std::string run_id = next.run_id;
    next_run = std::move(next);
    return run_id;
  }
  return "";
}

}  // namespace eon::history
