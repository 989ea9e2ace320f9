#include "history/history_engine.h"

#include <algorithm>
#include <cmath>

#include "common/ids.h"
#include "common/log.h"
#include "history/mutable_state_cache.h"
#include "history/queue_processors.h"
#include "temporal/api/errordetails/v1/message.pb.h"

namespace eon::history {

namespace common = temporal::api::common::v1;
namespace enums = temporal::api::enums::v1;
namespace hist = temporal::api::history::v1;
namespace failure = temporal::api::failure::v1;
using persistence::ExecutionKey;
using persistence::StoredExecution;

namespace {

constexpr auto kDefaultRetryInitialInterval = std::chrono::seconds(1);
constexpr double kDefaultRetryBackoffCoefficient = 2.0;
constexpr int kDefaultRetryMaximumIntervalFactor = 100;

uint64_t Fnv1a(std::string_view a, std::string_view b) {
  uint64_t hash = 14695981039346656037ULL;
  auto mix = [&](std::string_view s) {
    for (unsigned char c : s) {
      hash ^= c;
      hash *= 1099511628211ULL;
    }
  };
  mix(a);
  mix(std::string_view("\x1f", 1));
  mix(b);
  return hash;
}

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

wfs::PollActivityTaskQueueResponse ActivityTaskResponse(const eon::v1::ExecutionState& s,
                                                        const eon::v1::ActivityInfo& info);

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

}  // namespace

// One update of one execution, being built: a copy of the state plus what the transaction
// will write.
struct HistoryEngine::Mutation {
  eon::v1::ExecutionState state;
  TimePoint now;
  std::vector<hist::HistoryEvent> events;
  std::vector<persistence::NewTask> tasks;
  bool changed = false;

  bool WorkflowTaskStarted() const { return state.workflow_task().started_event_id() != 0; }

  // Appends an event to the history now.
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
    for (auto& event : buffered) {
      event.set_event_id(state.next_event_id());
      state.set_next_event_id(state.next_event_id() + 1);
      switch (event.event_type()) {
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
    auto& task = tasks.emplace_back();
    task.category = persistence::TaskCategory::kTransfer;
    Fill(task.task, type, event_id, attempt);
    task.task.set_task_queue(task_queue);
    changed = true;
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
    attrs->mutable_task_queue()->set_name(state.task_queue());
    attrs->mutable_task_queue()->set_kind(enums::TASK_QUEUE_KIND_NORMAL);
    *attrs->mutable_start_to_close_timeout() = state.task_timeout();
    attrs->set_attempt(attempt);
    return event;
  }

  // Records an activity attempt started (no event: ActivityTaskStarted is written when it
  // closes) and arms its start-to-close and heartbeat timeouts.
  void StartActivity(eon::v1::ActivityInfo& info, const std::string& request_id,
                     const std::string& identity) {
    *info.mutable_started_time() = ToTimestamp(now);
    info.clear_last_heartbeat_time();
    info.set_request_id(request_id);
    info.set_identity(identity);
    changed = true;
    if (info.has_start_to_close_timeout()) {
      AddTimer(eon::v1::HISTORY_TASK_TYPE_ACTIVITY_TIMEOUT,
               now + FromProtoDuration(info.start_to_close_timeout()), info.scheduled_event_id(),
               info.attempt(), enums::TIMEOUT_TYPE_START_TO_CLOSE);
    }
    if (info.has_heartbeat_timeout()) {
      AddTimer(eon::v1::HISTORY_TASK_TYPE_ACTIVITY_TIMEOUT,
               now + FromProtoDuration(info.heartbeat_timeout()), info.scheduled_event_id(),
               info.attempt(), enums::TIMEOUT_TYPE_HEARTBEAT);
    }
  }

  // Ends a failed attempt and schedules the next after `delay` on a durable timer. No event:
  // the attempt count and last failure live in mutable state and go to the next attempt.
  void RetryActivity(eon::v1::ActivityInfo& info, const failure::Failure& why, Duration delay) {
    info.set_attempt(info.attempt() + 1);
    *info.mutable_last_failure() = why;
    *info.mutable_current_attempt_scheduled_time() = ToTimestamp(now + delay);
    info.clear_started_time();
    info.clear_request_id();
    changed = true;
    AddTimer(eon::v1::HISTORY_TASK_TYPE_ACTIVITY_RETRY, now + delay, info.scheduled_event_id(),
             info.attempt());
  }

  // Schedules the next workflow task. A retry (attempt > 1) is transient: no event yet.
  void ScheduleWorkflowTask(int32_t attempt) {
    auto* wft = state.mutable_workflow_task();
    wft->Clear();
    wft->set_attempt(attempt);
    *wft->mutable_scheduled_time() = ToTimestamp(now);
    *wft->mutable_start_to_close_timeout() = state.task_timeout();
    wft->set_task_queue(state.task_queue());
    if (attempt > 1) {
      wft->set_transient(true);
      wft->set_scheduled_event_id(state.next_event_id());
      changed = true;
    } else {
      wft->set_scheduled_event_id(AddWorkflowTaskScheduledEvent(attempt).event_id());
    }
    AddTransfer(eon::v1::HISTORY_TASK_TYPE_DISPATCH_WORKFLOW_TASK, wft->scheduled_event_id(),
                attempt, state.task_queue());
  }

  // Turns a scheduled (not started) transient workflow task into an ordinary first attempt, its
  // Scheduled event written now, before the new event that made it ordinary.
  void MakeWorkflowTaskNormal() {
    auto* wft = state.mutable_workflow_task();
    assert(wft->started_event_id() == 0 && wft->scheduled_event_id() == state.next_event_id());
    AddWorkflowTaskScheduledEvent(1);
    wft->set_attempt(1);
    wft->set_transient(false);
  }

  // Writes the Scheduled and Started events of a transient workflow task that completes.
  void WriteTransientWorkflowTaskEvents() {
    auto* wft = state.mutable_workflow_task();
    assert(wft->transient() && wft->scheduled_event_id() == state.next_event_id());
    auto& scheduled = AddWorkflowTaskScheduledEvent(wft->attempt());
    *scheduled.mutable_event_time() = wft->scheduled_time();
    auto& started = AddEvent(enums::EVENT_TYPE_WORKFLOW_TASK_STARTED);
    *started.mutable_event_time() = wft->started_time();
    auto* attrs = started.mutable_workflow_task_started_event_attributes();
    attrs->set_scheduled_event_id(wft->scheduled_event_id());
    attrs->set_identity(wft->identity());
    attrs->set_request_id(wft->request_id());
    assert(started.event_id() == wft->started_event_id());
    wft->set_transient(false);
  }

  // Schedules a workflow task unless one is pending already.
  void EnsureWorkflowTask() {
    if (state.workflow_task().scheduled_event_id() == 0 && IsRunning(state))
      ScheduleWorkflowTask(1);
  }

  void Close(enums::WorkflowExecutionStatus status, int64_t completion_event_id) {
    state.set_status(status);
    *state.mutable_close_time() = ToTimestamp(now);
    state.set_completion_event_id(completion_event_id);
    state.clear_activities();
    state.clear_workflow_task();
    changed = true;
  }

  // Ends the running workflow task as failed, writing its failure (for the first attempt) and
  // the buffered events, and schedules the next attempt unless `reschedule` is false.
  void FailWorkflowTask(enums::WorkflowTaskFailedCause cause, const failure::Failure* why,
                        const std::string& identity, bool reschedule) {
    const auto wft = state.workflow_task();
    if (!wft.transient()) {  // a transient attempt's failure is not recorded, as in Temporal
      auto& event = AddEvent(enums::EVENT_TYPE_WORKFLOW_TASK_FAILED);
      auto* attrs = event.mutable_workflow_task_failed_event_attributes();
      attrs->set_scheduled_event_id(wft.scheduled_event_id());
      attrs->set_started_event_id(wft.started_event_id());
      attrs->set_cause(cause);
      if (why) *attrs->mutable_failure() = *why;
      attrs->set_identity(identity);
    }
    EndWorkflowTaskAndRetry(wft.attempt(), reschedule);
  }

  // After a failed or timed-out workflow task: writes what was buffered and schedules the next
  // attempt. New events make the next task an ordinary first attempt again.
  void EndWorkflowTaskAndRetry(int32_t failed_attempt, bool reschedule) {
    state.clear_workflow_task();
    changed = true;
    bool wrote_new_events = FlushBuffered();
    if (reschedule) ScheduleWorkflowTask(wrote_new_events ? 1 : failed_attempt + 1);
  }
};

HistoryEngine::HistoryEngine(persistence::Store& store, Clock& clock,
                             matching::MatchingEngine& matching, Executor& task_executor,
                             EngineOptions options)
    : store_(store),
      clock_(clock),
      matching_(matching),
      task_executor_(task_executor),
      options_(options),
      cache_(std::make_unique<MutableStateCache>(options.mutable_state_cache_max)) {}

HistoryEngine::~HistoryEngine() { Stop(); }

Status HistoryEngine::Start() {
  EON_ASSIGN_OR_RETURN(shard_count_, store_.ShardCount());
  EON_ASSIGN_OR_RETURN(range_ids_, store_.AcquireShards());
  processors_ = std::make_unique<QueueProcessors>(*this, store_, clock_, task_executor_,
                                                  shard_count_, options_.timer_lookahead);
  return processors_->Start();
}

void HistoryEngine::Stop() {
  if (processors_) processors_->Stop();
}

int32_t HistoryEngine::ShardFor(const std::string& namespace_id,
                                const std::string& workflow_id) const {
  return static_cast<int32_t>(Fnv1a(namespace_id, workflow_id) %
                              static_cast<uint64_t>(shard_count_));
}

std::mutex& HistoryEngine::LockFor(const std::string& namespace_id,
                                   const std::string& workflow_id) {
  return execution_locks_[Fnv1a(namespace_id, workflow_id) % execution_locks_.size()];
}

Result<StoredExecution> HistoryEngine::Load(const ExecutionKey& key) {
  if (auto cached = cache_->Get(key)) return std::move(*cached);
  EON_ASSIGN_OR_RETURN(auto stored, store_.GetExecution(key));
  cache_->Put(key, stored);
  return stored;
}

Status HistoryEngine::Commit(persistence::ExecutionWrite& write) {
  std::vector<persistence::StoredTask> created;
  Status committed = store_.CommitExecution(write, &created);
  ExecutionKey key{write.state.namespace_id(), write.state.workflow_id(), write.state.run_id()};
  if (!committed.ok()) {
    cache_->Erase(key);
    LOG_WARN("commit of workflow " << key.workflow_id << " failed: " << committed.message());
    if (committed.code() == StatusCode::ABORTED) {
      return Unavailable("workflow " + key.workflow_id + " changed concurrently; retry");
    }
    return committed;
  }
  cache_->Put(key, StoredExecution{write.state, write.expected_db_version + 1});
  if (processors_) processors_->Add(created);
  NotifyWatchers(key.namespace_id, key.run_id);
  return Status::Ok();
}

Status HistoryEngine::MutateLocked(const ExecutionKey& key, const MutateFn& fn,
                                   StoredExecution* after) {
  EON_ASSIGN_OR_RETURN(auto stored, Load(key));
  Mutation m{stored.state, clock_.Now()};
  EON_RETURN_IF_ERROR(fn(m));
  if (!m.changed) {
    if (after) *after = std::move(stored);
    return Status::Ok();
  }
  persistence::ExecutionWrite write;
  write.shard_id = ShardFor(key.namespace_id, key.workflow_id);
  write.range_id = range_ids_[write.shard_id];
  write.expected_db_version = stored.db_version;
  for (const auto& event : m.events)
    m.state.set_history_size_bytes(m.state.history_size_bytes() + event.ByteSizeLong());
  m.state.set_state_transition_count(m.state.state_transition_count() + 1);
  write.state = std::move(m.state);
  write.new_events = std::move(m.events);
  write.new_tasks = std::move(m.tasks);
  EON_RETURN_IF_ERROR(Commit(write));
  if (after) *after = StoredExecution{std::move(write.state), stored.db_version + 1};
  return Status::Ok();
}

Status HistoryEngine::Mutate(const ExecutionKey& key, const MutateFn& fn, StoredExecution* after) {
  std::lock_guard lock(LockFor(key.namespace_id, key.workflow_id));
  return MutateLocked(key, fn, after);
}

Result<std::string> HistoryEngine::CurrentRunId(const std::string& namespace_id,
                                                const std::string& workflow_id) {
  auto current = store_.GetCurrentExecution(namespace_id, workflow_id);
  if (!current.ok()) {
    if (current.status().code() == StatusCode::NOT_FOUND) {
      temporal::api::errordetails::v1::NotFoundFailure detail;
      return NotFound("workflow not found for ID: " + workflow_id).WithDetail(detail);
    }
    return current.status();
  }
  return current->run_id;
}

Result<ExecutionKey> HistoryEngine::ResolveKey(const std::string& namespace_id,
                                               const std::string& workflow_id,
                                               const std::string& run_id) {
  if (workflow_id.empty()) return InvalidArgument("WorkflowId is not set on request.");
  if (!run_id.empty()) return ExecutionKey{namespace_id, workflow_id, run_id};
  EON_ASSIGN_OR_RETURN(std::string current, CurrentRunId(namespace_id, workflow_id));
  return ExecutionKey{namespace_id, workflow_id, current};
}

// ---------------------------------------------------------------------------------------------
// Start

Result<StartResult> HistoryEngine::StartWorkflowExecution(
    const std::string& namespace_id, const wfs::StartWorkflowExecutionRequest& request) {
  const std::string& workflow_id = request.workflow_id();
  std::lock_guard lock(LockFor(namespace_id, workflow_id));
  std::string expected_current;
  auto current = store_.GetCurrentExecution(namespace_id, workflow_id);
  if (current.ok()) {
    if (!request.request_id().empty() && current->create_request_id == request.request_id()) {
      // A retried request, answered as Temporal does.
      return StartResult{current->run_id, true, current->status};
    }
    if (current->status == enums::WORKFLOW_EXECUTION_STATUS_RUNNING) {
      temporal::api::errordetails::v1::WorkflowExecutionAlreadyStartedFailure detail;
      detail.set_start_request_id(current->create_request_id);
      detail.set_run_id(current->run_id);
      return AlreadyExists("Workflow execution is already running. WorkflowId: " + workflow_id +
                           ", RunId: " + current->run_id + ".")
          .WithDetail(detail);
    }
    // Reuse policies (ALLOW_DUPLICATE is the default) come with the workflow semantics issue.
    if (request.workflow_id_reuse_policy() == enums::WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE) {
      temporal::api::errordetails::v1::WorkflowExecutionAlreadyStartedFailure detail;
      detail.set_start_request_id(current->create_request_id);
      detail.set_run_id(current->run_id);
      return AlreadyExists(
                 "Workflow execution already finished and WorkflowIdReusePolicy is "
                 "REJECT_DUPLICATE. WorkflowId: " +
                 workflow_id + ", RunId: " + current->run_id + ".")
          .WithDetail(detail);
    }
    expected_current = current->run_id;
  } else if (current.status().code() != StatusCode::NOT_FOUND) {
    return current.status();
  }

  const TimePoint now = clock_.Now();
  Mutation m{{}, now};
  auto& s = m.state;
  s.set_namespace_id(namespace_id);
  s.set_workflow_id(workflow_id);
  s.set_run_id(NewUuid());
  s.set_first_execution_run_id(s.run_id());
  s.set_workflow_type(request.workflow_type().name());
  s.set_task_queue(request.task_queue().name());
  s.set_status(enums::WORKFLOW_EXECUTION_STATUS_RUNNING);
  *s.mutable_start_time() = ToTimestamp(now);
  *s.mutable_execution_time() = ToTimestamp(now);
  s.set_create_request_id(request.request_id().empty() ? NewUuid() : request.request_id());
  s.set_next_event_id(1);
  *s.mutable_execution_timeout() = request.workflow_execution_timeout();
  Duration run_timeout = FromProtoDuration(request.workflow_run_timeout());
  Duration execution_timeout = FromProtoDuration(request.workflow_execution_timeout());
  if (run_timeout.count() == 0 ||
      (execution_timeout.count() > 0 && run_timeout > execution_timeout)) {
    run_timeout = execution_timeout;
  }
  *s.mutable_run_timeout() = ToProtoDuration(run_timeout);
  Duration task_timeout = FromProtoDuration(request.workflow_task_timeout());
  if (task_timeout.count() <= 0) task_timeout = options_.default_workflow_task_timeout;
  task_timeout = std::min(task_timeout, options_.max_workflow_task_timeout);
  if (run_timeout.count() > 0) task_timeout = std::min(task_timeout, run_timeout);
  *s.mutable_task_timeout() = ToProtoDuration(task_timeout);
  if (execution_timeout.count() > 0) {
    *s.mutable_execution_expiration_time() = ToTimestamp(now + execution_timeout);
  }
  *s.mutable_memo() = request.memo();
  *s.mutable_search_attributes() = request.search_attributes();

  auto& started = m.AddEvent(enums::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
  auto* attrs = started.mutable_workflow_execution_started_event_attributes();
  *attrs->mutable_workflow_type() = request.workflow_type();
  attrs->mutable_task_queue()->set_name(request.task_queue().name());
  attrs->mutable_task_queue()->set_kind(enums::TASK_QUEUE_KIND_NORMAL);
  *attrs->mutable_header() = request.header();
  *attrs->mutable_input() = request.input();
  *attrs->mutable_workflow_execution_timeout() = s.execution_timeout();
  *attrs->mutable_workflow_run_timeout() = s.run_timeout();
  *attrs->mutable_workflow_task_timeout() = s.task_timeout();
  attrs->set_original_execution_run_id(s.run_id());
  attrs->set_first_execution_run_id(s.run_id());
  attrs->set_identity(request.identity());
  attrs->set_attempt(1);
  if (s.has_execution_expiration_time()) {
    *attrs->mutable_workflow_execution_expiration_time() = s.execution_expiration_time();
  }
  if (request.has_retry_policy()) *attrs->mutable_retry_policy() = request.retry_policy();
  attrs->set_cron_schedule(request.cron_schedule());
  *attrs->mutable_memo() = request.memo();
  *attrs->mutable_search_attributes() = request.search_attributes();
  attrs->set_workflow_id(workflow_id);
  m.ScheduleWorkflowTask(1);

  persistence::ExecutionWrite write;
  write.shard_id = ShardFor(namespace_id, workflow_id);
  write.range_id = range_ids_[write.shard_id];
  write.expected_db_version = 0;
  write.expected_current_run_id = expected_current;
  for (const auto& event : m.events)
    s.set_history_size_bytes(s.history_size_bytes() + event.ByteSizeLong());
  s.set_state_transition_count(1);
  write.state = std::move(m.state);
  write.new_events = std::move(m.events);
  write.new_tasks = std::move(m.tasks);
  std::string run_id = write.state.run_id();
  EON_RETURN_IF_ERROR(Commit(write));
  return StartResult{run_id, true, enums::WORKFLOW_EXECUTION_STATUS_RUNNING};
}

// ---------------------------------------------------------------------------------------------
// Workflow tasks

Result<wfs::PollWorkflowTaskQueueResponse> HistoryEngine::RecordWorkflowTaskStarted(
    const eon::v1::QueueTask& task, const std::string& poll_request_id,
    const std::string& identity) {
  ExecutionKey key{task.namespace_id(), task.workflow_id(), task.run_id()};
  std::lock_guard lock(LockFor(key.namespace_id, key.workflow_id));
  StoredExecution after;
  EON_RETURN_IF_ERROR(MutateLocked(
      key,
      [&](Mutation& m) -> Status {
        if (!IsRunning(m.state)) return WorkflowClosed();
        auto* wft = m.state.mutable_workflow_task();
        if (wft->scheduled_event_id() != task.scheduled_event_id()) {
          return NotFound("workflow task not found (it moved on)");
        }
        if (wft->started_event_id() != 0) {
          if (wft->request_id() == poll_request_id) return Status::Ok();  // a retried poll
          return NotFound("workflow task already started");
        }
        if (wft->transient()) {
          // No event: its id is reserved, and the poller gets the event made up (below).
          wft->set_started_event_id(wft->scheduled_event_id() + 1);
          *wft->mutable_started_time() = ToTimestamp(m.now);
          m.changed = true;
        } else {
          auto& event = m.AddEvent(enums::EVENT_TYPE_WORKFLOW_TASK_STARTED);
          auto* attrs = event.mutable_workflow_task_started_event_attributes();
          attrs->set_scheduled_event_id(wft->scheduled_event_id());
          attrs->set_identity(identity);
          attrs->set_request_id(poll_request_id);
          attrs->set_history_size_bytes(m.state.history_size_bytes());
          wft->set_started_event_id(event.event_id());
          *wft->mutable_started_time() = event.event_time();
        }
        wft->set_request_id(poll_request_id);
        wft->set_identity(identity);
        m.AddTimer(eon::v1::HISTORY_TASK_TYPE_WORKFLOW_TASK_TIMEOUT,
                   m.now + WorkflowTaskTimeout(*wft), wft->scheduled_event_id(), wft->attempt(),
                   enums::TIMEOUT_TYPE_START_TO_CLOSE);
        return Status::Ok();
      },
      &after));

  const auto& s = after.state;
  const auto& wft = s.workflow_task();
  wfs::PollWorkflowTaskQueueResponse response;
  eon::v1::TaskToken token;
  token.set_kind(eon::v1::TASK_QUEUE_KIND_WORKFLOW);
  token.set_namespace_id(s.namespace_id());
  token.set_workflow_id(s.workflow_id());
  token.set_run_id(s.run_id());
  token.set_scheduled_event_id(wft.scheduled_event_id());
  token.set_started_event_id(wft.started_event_id());
  token.set_attempt(wft.attempt());
  response.set_task_token(token.SerializeAsString());
  response.mutable_workflow_execution()->set_workflow_id(s.workflow_id());
  response.mutable_workflow_execution()->set_run_id(s.run_id());
  response.mutable_workflow_type()->set_name(s.workflow_type());
  response.set_previous_started_event_id(s.previous_started_event_id());
  response.set_started_event_id(wft.started_event_id());
  response.set_attempt(wft.attempt());
  response.mutable_workflow_execution_task_queue()->set_name(s.task_queue());
  response.mutable_workflow_execution_task_queue()->set_kind(enums::TASK_QUEUE_KIND_NORMAL);
  *response.mutable_scheduled_time() = wft.scheduled_time();
  *response.mutable_started_time() = wft.started_time();
  EON_ASSIGN_OR_RETURN(auto page, store_.ReadHistory(s.namespace_id(), s.run_id(), 1,
                                                     options_.history_page_size_max));
  for (auto& event : page.events) {
    if (event.event_id() > wft.started_event_id()) break;
    *response.mutable_history()->add_events() = std::move(event);
  }
  if (page.next_event_id != 0 && page.next_event_id <= wft.started_event_id()) {
    eon::v1::HistoryPageToken next;
    next.set_run_id(s.run_id());
    next.set_next_event_id(page.next_event_id);
    response.set_next_page_token(next.SerializeAsString());
  } else {
    AppendTransientWorkflowTaskEvents(s, response.mutable_history());
  }
  return response;
}

namespace {

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

}  // namespace

Result<wfs::RespondWorkflowTaskCompletedResponse> HistoryEngine::RespondWorkflowTaskCompleted(
    const eon::v1::TaskToken& token, const wfs::RespondWorkflowTaskCompletedRequest& request) {
  ExecutionKey key{token.namespace_id(), token.workflow_id(), token.run_id()};
  Status command_error;
  std::vector<int64_t> eager_activities;  // scheduled ids of activities started in the response
  StoredExecution after;
  EON_RETURN_IF_ERROR(Mutate(
      key,
      [&](Mutation& m) -> Status {
        eager_activities.clear();
        if (!IsRunning(m.state)) return WorkflowClosed();
        const auto wft = m.state.workflow_task();
        if (wft.scheduled_event_id() != token.scheduled_event_id() ||
            wft.started_event_id() != token.started_event_id() || wft.started_event_id() == 0) {
          return NotFound("Workflow task not found.");
        }
        const Mutation before = m;

        if (wft.transient()) m.WriteTransientWorkflowTaskEvents();
        auto& completed = m.AddEvent(enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
        auto* c = completed.mutable_workflow_task_completed_event_attributes();
        c->set_scheduled_event_id(wft.scheduled_event_id());
        c->set_started_event_id(wft.started_event_id());
        c->set_identity(request.identity());
        c->set_binary_checksum(request.binary_checksum());
        *c->mutable_sdk_metadata() = request.sdk_metadata();
        *c->mutable_metering_metadata() = request.metering_metadata();
        const int64_t completed_id = completed.event_id();
        m.state.set_previous_started_event_id(wft.started_event_id());
        m.state.clear_workflow_task();

        // Commands: validated as they are applied; the first invalid one fails the whole task.
        enums::WorkflowTaskFailedCause cause = enums::WORKFLOW_TASK_FAILED_CAUSE_UNSPECIFIED;
        bool new_events_for_workflow = false;  // the commands made events the workflow must see
        std::string message;
        bool closed = false;
        for (const auto& command : request.commands()) {
          if (closed) {
            cause = enums::WORKFLOW_TASK_FAILED_CAUSE_BAD_COMPLETE_WORKFLOW_EXECUTION_ATTRIBUTES;
            message = "Workflow closing command must be the last one.";
            break;
          }
          switch (command.command_type()) {
            case enums::COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK: {
              auto a = command.schedule_activity_task_command_attributes();
              message = PrepareScheduleActivity(m.state, a);
              if (!message.empty()) {
                cause = enums::WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_ACTIVITY_ATTRIBUTES;
                break;
              }
              auto& event = m.AddEvent(enums::EVENT_TYPE_ACTIVITY_TASK_SCHEDULED);
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
              e->set_workflow_task_completed_event_id(completed_id);
              *e->mutable_retry_policy() = a.retry_policy();
              *e->mutable_priority() = a.priority();
              eon::v1::ActivityInfo info;
              info.set_scheduled_event_id(event.event_id());
              info.set_activity_id(a.activity_id());
              *info.mutable_activity_type() = a.activity_type();
              info.set_task_queue(a.task_queue().name());
              *info.mutable_header() = a.header();
              *info.mutable_input() = a.input();
              if (a.has_schedule_to_close_timeout())
                *info.mutable_schedule_to_close_timeout() = a.schedule_to_close_timeout();
              if (a.has_schedule_to_start_timeout())
                *info.mutable_schedule_to_start_timeout() = a.schedule_to_start_timeout();
              if (a.has_start_to_close_timeout())
                *info.mutable_start_to_close_timeout() = a.start_to_close_timeout();
              if (a.has_heartbeat_timeout())
                *info.mutable_heartbeat_timeout() = a.heartbeat_timeout();
              *info.mutable_retry_policy() = a.retry_policy();
              *info.mutable_scheduled_time() = event.event_time();
              *info.mutable_current_attempt_scheduled_time() = event.event_time();
              info.set_attempt(1);
              (*m.state.mutable_activities())[event.event_id()] = info;
              // Eager dispatch: the worker that completes this task takes the activity in the
              // response, if it asked and the activity runs on its own task queue.
              if (a.request_eager_execution() && a.task_queue().name() == m.state.task_queue() &&
                  static_cast<int>(eager_activities.size()) < options_.eager_activities_max) {
                m.StartActivity((*m.state.mutable_activities())[event.event_id()], NewUuid(),
                                request.identity());
                eager_activities.push_back(event.event_id());
              } else {
                m.AddTransfer(eon::v1::HISTORY_TASK_TYPE_DISPATCH_ACTIVITY_TASK, event.event_id(),
                              1, a.task_queue().name());
              }
              if (a.has_schedule_to_close_timeout()) {
                m.AddTimer(eon::v1::HISTORY_TASK_TYPE_ACTIVITY_TIMEOUT,
                           m.now + FromProtoDuration(a.schedule_to_close_timeout()),
                           event.event_id(), 0, enums::TIMEOUT_TYPE_SCHEDULE_TO_CLOSE);
              }
              if (a.has_schedule_to_start_timeout() &&
                  (!a.has_schedule_to_close_timeout() ||
                   FromProtoDuration(a.schedule_to_start_timeout()) <
                       FromProtoDuration(a.schedule_to_close_timeout()))) {
                m.AddTimer(eon::v1::HISTORY_TASK_TYPE_ACTIVITY_TIMEOUT,
                           m.now + FromProtoDuration(a.schedule_to_start_timeout()),
                           event.event_id(), 1, enums::TIMEOUT_TYPE_SCHEDULE_TO_START);
              }
              break;
            }
            case enums::COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK: {
              const int64_t scheduled_id =
                  command.request_cancel_activity_task_command_attributes().scheduled_event_id();
              auto it = m.state.mutable_activities()->find(scheduled_id);
              if (it == m.state.mutable_activities()->end()) {
                cause = enums::WORKFLOW_TASK_FAILED_CAUSE_BAD_REQUEST_CANCEL_ACTIVITY_ATTRIBUTES;
                message = "There is no pending activity with scheduled event id " +
                          std::to_string(scheduled_id) + " to cancel.";
                break;
              }
              auto& requested = m.AddEvent(enums::EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED);
              auto* r = requested.mutable_activity_task_cancel_requested_event_attributes();
              r->set_scheduled_event_id(scheduled_id);
              r->set_workflow_task_completed_event_id(completed_id);
              auto& info = it->second;
              if (info.has_started_time()) {
                // The worker learns of it from its next heartbeat and answers Canceled.
                info.set_cancel_requested(true);
                info.set_cancel_requested_event_id(requested.event_id());
                break;
              }
              // Not running (waiting to start or between attempts): canceled at once.
              auto& canceled = m.AddEvent(enums::EVENT_TYPE_ACTIVITY_TASK_CANCELED);
              auto* c = canceled.mutable_activity_task_canceled_event_attributes();
              c->set_scheduled_event_id(scheduled_id);
              c->set_latest_cancel_requested_event_id(requested.event_id());
              c->set_identity(request.identity());
              m.state.mutable_activities()->erase(it);
              new_events_for_workflow = true;
              break;
            }
            case enums::COMMAND_TYPE_RECORD_MARKER: {
              const auto& r = command.record_marker_command_attributes();
              if (r.marker_name().empty()) {
                cause = enums::WORKFLOW_TASK_FAILED_CAUSE_BAD_RECORD_MARKER_ATTRIBUTES;
                message = "MarkerName is not set on RecordMarkerCommand.";
                break;
              }
              auto& event = m.AddEvent(enums::EVENT_TYPE_MARKER_RECORDED);
              auto* e = event.mutable_marker_recorded_event_attributes();
              e->set_marker_name(r.marker_name());
              *e->mutable_details() = r.details();
              e->set_workflow_task_completed_event_id(completed_id);
              *e->mutable_header() = r.header();
              if (r.has_failure()) *e->mutable_failure() = r.failure();
              break;
            }
            case enums::COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION:
            case enums::COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION: {
              if (!m.state.buffered_events().empty()) {
                // New events came in while the task ran: the workflow must see them first.
                // The SDKs match this exact message.
                cause = enums::WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND;
                message = "UnhandledCommand";
                break;
              }
              bool complete =
                  command.command_type() == enums::COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION;
              auto& event = m.AddEvent(complete ? enums::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
                                                : enums::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED);
              if (complete) {
                auto* e = event.mutable_workflow_execution_completed_event_attributes();
                *e->mutable_result() =
                    command.complete_workflow_execution_command_attributes().result();
                e->set_workflow_task_completed_event_id(completed_id);
              } else {
                auto* e = event.mutable_workflow_execution_failed_event_attributes();
                *e->mutable_failure() =
                    command.fail_workflow_execution_command_attributes().failure();
                e->set_retry_state(enums::RETRY_STATE_RETRY_POLICY_NOT_SET);
                e->set_workflow_task_completed_event_id(completed_id);
              }
              m.Close(complete ? enums::WORKFLOW_EXECUTION_STATUS_COMPLETED
                               : enums::WORKFLOW_EXECUTION_STATUS_FAILED,
                      event.event_id());
              closed = true;
              break;
            }
            default:
              cause = enums::WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND;
              message = "Eon does not implement command " +
                        std::string(enums::CommandType_Name(command.command_type())) + " yet.";
              break;
          }
          if (cause != enums::WORKFLOW_TASK_FAILED_CAUSE_UNSPECIFIED) break;
        }

        if (cause != enums::WORKFLOW_TASK_FAILED_CAUSE_UNSPECIFIED) {
          // All or nothing: drop what the commands did and fail the task instead.
          m = before;
          failure::Failure why;
          why.set_message(message);
          // With UNHANDLED_COMMAND the buffered events get written and the next task is attempt 1.
          m.FailWorkflowTask(cause, &why, request.identity(), /*reschedule=*/true);
          command_error = InvalidArgument(message);
          eager_activities.clear();
          return Status::Ok();
        }
        if (closed) return Status::Ok();
        const bool flushed = m.FlushBuffered();
        if (flushed || new_events_for_workflow || request.force_create_new_workflow_task()) {
          m.ScheduleWorkflowTask(1);
        }
        return Status::Ok();
      },
      &after));
  if (!command_error.ok()) return command_error;
  wfs::RespondWorkflowTaskCompletedResponse response;
  for (int64_t scheduled_id : eager_activities) {
    *response.add_activity_tasks() =
        ActivityTaskResponse(after.state, after.state.activities().at(scheduled_id));
  }
  return response;
}

Status HistoryEngine::RespondWorkflowTaskFailed(
    const eon::v1::TaskToken& token, const wfs::RespondWorkflowTaskFailedRequest& request) {
  ExecutionKey key{token.namespace_id(), token.workflow_id(), token.run_id()};
  return Mutate(key, [&](Mutation& m) -> Status {
    if (!IsRunning(m.state)) return WorkflowClosed();
    const auto& wft = m.state.workflow_task();
    if (wft.scheduled_event_id() != token.scheduled_event_id() ||
        wft.started_event_id() != token.started_event_id() || wft.started_event_id() == 0) {
      return NotFound("Workflow task not found.");
    }
    m.FailWorkflowTask(request.cause(), &request.failure(), request.identity(),
                       /*reschedule=*/true);
    return Status::Ok();
  });
}

// ---------------------------------------------------------------------------------------------
// Activities

Result<wfs::PollActivityTaskQueueResponse> HistoryEngine::RecordActivityTaskStarted(
    const eon::v1::QueueTask& task, const std::string& poll_request_id,
    const std::string& identity) {
  ExecutionKey key{task.namespace_id(), task.workflow_id(), task.run_id()};
  StoredExecution after;
  EON_RETURN_IF_ERROR(Mutate(
      key,
      [&](Mutation& m) -> Status {
        if (!IsRunning(m.state)) return WorkflowClosed();
        auto it = m.state.mutable_activities()->find(task.scheduled_event_id());
        if (it == m.state.mutable_activities()->end() || it->second.attempt() != task.attempt()) {
          return NotFound("activity task not found (it moved on)");
        }
        auto& info = it->second;
        if (info.has_started_time()) {
          if (info.request_id() == poll_request_id) return Status::Ok();
          return NotFound("activity task already started");
        }
        m.StartActivity(info, poll_request_id, identity);
        return Status::Ok();
      },
      &after));
  return ActivityTaskResponse(after.state, after.state.activities().at(task.scheduled_event_id()));
}

namespace {

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

}  // namespace

namespace {
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
}  // namespace

Status HistoryEngine::RespondActivityTaskCompleted(const eon::v1::TaskToken& token,
                                                   const common::Payloads& result,
                                                   const std::string& identity) {
  ExecutionKey key{token.namespace_id(), token.workflow_id(), token.run_id()};
  return Mutate(key, [&](Mutation& m) -> Status {
    EON_ASSIGN_OR_RETURN(auto* info, StartedActivity(m.state, token));
    const int64_t started_id = m.AddActivityStarted(*info);
    auto& event = m.AddExternalEvent(enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED);
    auto* a = event.mutable_activity_task_completed_event_attributes();
    *a->mutable_result() = result;
    a->set_scheduled_event_id(info->scheduled_event_id());
    a->set_started_event_id(started_id);
    a->set_identity(identity);
    m.state.mutable_activities()->erase(info->scheduled_event_id());
    m.EnsureWorkflowTask();
    return Status::Ok();
  });
}

Status HistoryEngine::RespondActivityTaskFailed(const eon::v1::TaskToken& token,
                                                const failure::Failure& f,
                                                const common::Payloads* last_heartbeat,
                                                const std::string& identity) {
  ExecutionKey key{token.namespace_id(), token.workflow_id(), token.run_id()};
  return Mutate(key, [&](Mutation& m) -> Status {
    EON_ASSIGN_OR_RETURN(auto* info, StartedActivity(m.state, token));
    if (last_heartbeat) *info->mutable_heartbeat_details() = *last_heartbeat;
    enums::RetryState retry_state;
    Duration delay{};
    if (ShouldRetry(*info, f, m.now, &retry_state, &delay)) {
      m.RetryActivity(*info, f, delay);
      return Status::Ok();
    }
    const int64_t started_id = m.AddActivityStarted(*info);
    auto& event = m.AddExternalEvent(enums::EVENT_TYPE_ACTIVITY_TASK_FAILED);
    auto* a = event.mutable_activity_task_failed_event_attributes();
    *a->mutable_failure() = f;
    a->set_scheduled_event_id(info->scheduled_event_id());
    a->set_started_event_id(started_id);
    a->set_identity(identity);
    a->set_retry_state(retry_state);
    m.state.mutable_activities()->erase(info->scheduled_event_id());
    m.EnsureWorkflowTask();
    return Status::Ok();
  });
}

Status HistoryEngine::RespondActivityTaskCanceled(const eon::v1::TaskToken& token,
                                                  const common::Payloads& details,
                                                  const std::string& identity) {
  ExecutionKey key{token.namespace_id(), token.workflow_id(), token.run_id()};
  return Mutate(key, [&](Mutation& m) -> Status {
    EON_ASSIGN_OR_RETURN(auto* info, StartedActivity(m.state, token));
    const int64_t started_id = m.AddActivityStarted(*info);
    auto& event = m.AddExternalEvent(enums::EVENT_TYPE_ACTIVITY_TASK_CANCELED);
    auto* a = event.mutable_activity_task_canceled_event_attributes();
    *a->mutable_details() = details;
    a->set_latest_cancel_requested_event_id(info->cancel_requested_event_id());
    a->set_scheduled_event_id(info->scheduled_event_id());
    a->set_started_event_id(started_id);
    a->set_identity(identity);
    m.state.mutable_activities()->erase(info->scheduled_event_id());
    m.EnsureWorkflowTask();
    return Status::Ok();
  });
}

Result<eon::v1::TaskToken> HistoryEngine::ActivityTokenById(const std::string& namespace_id,
                                                            const std::string& workflow_id,
                                                            const std::string& run_id,
                                                            const std::string& activity_id) {
  if (activity_id.empty()) return InvalidArgument("ActivityId is not set on request.");
  EON_ASSIGN_OR_RETURN(auto key, ResolveKey(namespace_id, workflow_id, run_id));
  auto stored = Load(key);
  if (!stored.ok()) {
    if (stored.status().code() != StatusCode::NOT_FOUND) return stored.status();
    return NotFound("workflow execution not found for workflow ID \"" + key.workflow_id +
                    "\" and run ID \"" + key.run_id + "\"")
        .WithDetail(temporal::api::errordetails::v1::NotFoundFailure());
  }
  if (!IsRunning(stored->state)) return WorkflowClosed();
  for (const auto& [scheduled_id, info] : stored->state.activities()) {
    if (info.activity_id() != activity_id) continue;
    eon::v1::TaskToken token;
    token.set_kind(eon::v1::TASK_QUEUE_KIND_ACTIVITY);
    token.set_namespace_id(namespace_id);
    token.set_workflow_id(key.workflow_id);
    token.set_run_id(key.run_id);
    token.set_scheduled_event_id(scheduled_id);
    token.set_attempt(info.attempt());
    token.set_activity_id(activity_id);
    return token;
  }
  return NotFound("cannot find pending activity with ActivityID " + activity_id +
                  ", check workflow execution history for more details");
}

Result<bool> HistoryEngine::RecordActivityTaskHeartbeat(const eon::v1::TaskToken& token,
                                                        const common::Payloads& details,
                                                        const std::string& identity) {
  ExecutionKey key{token.namespace_id(), token.workflow_id(), token.run_id()};
  bool cancel_requested = false;
  EON_RETURN_IF_ERROR(Mutate(key, [&](Mutation& m) -> Status {
    EON_ASSIGN_OR_RETURN(auto* info, StartedActivity(m.state, token));
    *info->mutable_heartbeat_details() = details;
    *info->mutable_last_heartbeat_time() = ToTimestamp(m.now);
    cancel_requested = info->cancel_requested();
    m.changed = true;
    return Status::Ok();
  }));
  return cancel_requested;
}

// ---------------------------------------------------------------------------------------------
// Terminate, describe, history

Status HistoryEngine::TerminateWorkflowExecution(
    const std::string& namespace_id, const wfs::TerminateWorkflowExecutionRequest& request) {
  const auto& execution = request.workflow_execution();
  EON_ASSIGN_OR_RETURN(auto key,
                       ResolveKey(namespace_id, execution.workflow_id(), execution.run_id()));
  std::lock_guard lock(LockFor(key.namespace_id, key.workflow_id));
  auto stored = Load(key);
  if (!stored.ok() && stored.status().code() == StatusCode::NOT_FOUND) {
    return NotFound("workflow execution not found for workflow ID \"" + key.workflow_id +
                    "\" and run ID \"" + key.run_id + "\"")
        .WithDetail(temporal::api::errordetails::v1::NotFoundFailure());
  }
  return MutateLocked(
      key,
      [&](Mutation& m) -> Status {
        if (!IsRunning(m.state)) return WorkflowClosed();
        if (!request.first_execution_run_id().empty() &&
            request.first_execution_run_id() != m.state.first_execution_run_id()) {
          return NotFound("workflow execution not found for the given first execution run id");
        }
        if (m.WorkflowTaskStarted()) {
          m.FailWorkflowTask(enums::WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND, nullptr,
                             request.identity(), /*reschedule=*/false);
        } else {
          m.FlushBuffered();
        }
        auto& event = m.AddEvent(enums::EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED);
        auto* a = event.mutable_workflow_execution_terminated_event_attributes();
        a->set_reason(request.reason());
        *a->mutable_details() = request.details();
        a->set_identity(request.identity());
        m.Close(enums::WORKFLOW_EXECUTION_STATUS_TERMINATED, event.event_id());
        return Status::Ok();
      },
      nullptr);
}

Result<wfs::DescribeWorkflowExecutionResponse> HistoryEngine::DescribeWorkflowExecution(
    const std::string& namespace_id, const common::WorkflowExecution& execution) {
  EON_ASSIGN_OR_RETURN(auto key,
                       ResolveKey(namespace_id, execution.workflow_id(), execution.run_id()));
  auto stored = Load(key);
  if (!stored.ok()) {
    if (stored.status().code() != StatusCode::NOT_FOUND) return stored.status();
    return NotFound("workflow execution not found for workflow ID \"" + key.workflow_id +
                    "\" and run ID \"" + key.run_id + "\"")
        .WithDetail(temporal::api::errordetails::v1::NotFoundFailure());
  }
  const auto& s = stored->state;
  wfs::DescribeWorkflowExecutionResponse response;
  auto* config = response.mutable_execution_config();
  config->mutable_task_queue()->set_name(s.task_queue());
  config->mutable_task_queue()->set_kind(enums::TASK_QUEUE_KIND_NORMAL);
  *config->mutable_workflow_execution_timeout() = s.execution_timeout();
  *config->mutable_workflow_run_timeout() = s.run_timeout();
  *config->mutable_default_workflow_task_timeout() = s.task_timeout();
  auto* info = response.mutable_workflow_execution_info();
  info->mutable_execution()->set_workflow_id(s.workflow_id());
  info->mutable_execution()->set_run_id(s.run_id());
  info->mutable_type()->set_name(s.workflow_type());
  *info->mutable_start_time() = s.start_time();
  if (s.has_close_time()) *info->mutable_close_time() = s.close_time();
  info->set_status(s.status());
  info->set_history_length(s.next_event_id() - 1);
  *info->mutable_execution_time() = s.execution_time();
  *info->mutable_memo() = s.memo();
  *info->mutable_search_attributes() = s.search_attributes();
  info->set_task_queue(s.task_queue());
  info->set_state_transition_count(s.state_transition_count());
  info->set_history_size_bytes(s.history_size_bytes());
  info->set_first_run_id(s.first_execution_run_id());
  for (const auto& [id, a] : s.activities()) {
    auto* p = response.add_pending_activities();
    p->set_activity_id(a.activity_id());
    *p->mutable_activity_type() = a.activity_type();
    p->set_state(a.cancel_requested()   ? enums::PENDING_ACTIVITY_STATE_CANCEL_REQUESTED
                 : a.has_started_time() ? enums::PENDING_ACTIVITY_STATE_STARTED
                                        : enums::PENDING_ACTIVITY_STATE_SCHEDULED);
    if (!a.has_started_time() && a.attempt() > 1) {
      *p->mutable_next_attempt_schedule_time() = a.current_attempt_scheduled_time();
    }
    if (a.has_heartbeat_details()) *p->mutable_heartbeat_details() = a.heartbeat_details();
    if (a.has_last_heartbeat_time()) *p->mutable_last_heartbeat_time() = a.last_heartbeat_time();
    if (a.has_started_time()) *p->mutable_last_started_time() = a.started_time();
    p->set_attempt(a.attempt());
    p->set_maximum_attempts(a.retry_policy().maximum_attempts());
    *p->mutable_scheduled_time() = a.current_attempt_scheduled_time();
    if (a.has_last_failure()) *p->mutable_last_failure() = a.last_failure();
    p->set_last_worker_identity(a.identity());
    if (a.has_schedule_to_close_timeout()) {
      *p->mutable_expiration_time() = ToTimestamp(FromTimestamp(a.scheduled_time()) +
                                                  FromProtoDuration(a.schedule_to_close_timeout()));
    }
  }
  if (s.workflow_task().scheduled_event_id() != 0) {
    const auto& wft = s.workflow_task();
    auto* p = response.mutable_pending_workflow_task();
    p->set_state(wft.started_event_id() ? enums::PENDING_WORKFLOW_TASK_STATE_STARTED
                                        : enums::PENDING_WORKFLOW_TASK_STATE_SCHEDULED);
    *p->mutable_scheduled_time() = wft.scheduled_time();
    *p->mutable_original_scheduled_time() = wft.scheduled_time();
    if (wft.has_started_time()) *p->mutable_started_time() = wft.started_time();
    p->set_attempt(wft.attempt());
  }
  return response;
}

Result<wfs::GetWorkflowExecutionHistoryResponse> HistoryEngine::GetWorkflowExecutionHistory(
    const std::string& namespace_id, const wfs::GetWorkflowExecutionHistoryRequest& request,
    bool* at_end, std::string* run_id_out) {
  *at_end = false;
  const auto& execution = request.execution();
  eon::v1::HistoryPageToken token;
  if (!request.next_page_token().empty() && !token.ParseFromString(request.next_page_token())) {
    return InvalidArgument("next_page_token is not a valid history page token");
  }
  std::string run_id = !token.run_id().empty() ? token.run_id() : execution.run_id();
  EON_ASSIGN_OR_RETURN(auto key, ResolveKey(namespace_id, execution.workflow_id(), run_id));
  *run_id_out = key.run_id;
  auto stored = Load(key);
  if (!stored.ok()) {
    if (stored.status().code() != StatusCode::NOT_FOUND) return stored.status();
    return NotFound("workflow execution not found for workflow ID \"" + key.workflow_id +
                    "\" and run ID \"" + key.run_id + "\"")
        .WithDetail(temporal::api::errordetails::v1::NotFoundFailure());
  }
  const auto& s = stored->state;
  wfs::GetWorkflowExecutionHistoryResponse response;
  eon::v1::HistoryPageToken next;
  next.set_run_id(key.run_id);

  if (request.history_event_filter_type() == enums::HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT) {
    if (IsRunning(s)) {
      *at_end = true;
      next.set_next_event_id(s.next_event_id());
      response.set_next_page_token(next.SerializeAsString());
      return response;
    }
    EON_ASSIGN_OR_RETURN(auto page,
                         store_.ReadHistory(namespace_id, key.run_id, s.completion_event_id(), 1));
    for (auto& event : page.events) *response.mutable_history()->add_events() = std::move(event);
    return response;
  }

  int64_t first = token.next_event_id() > 0 ? token.next_event_id() : 1;
  int page_size = request.maximum_page_size() > 0
                      ? std::min(request.maximum_page_size(), options_.history_page_size_max)
                      : options_.history_page_size_max;
  if (first >= s.next_event_id()) {
    // Nothing new yet.
    if (IsRunning(s)) {
      *at_end = true;
      next.set_next_event_id(first);
      response.set_next_page_token(next.SerializeAsString());
    }
    return response;
  }
  EON_ASSIGN_OR_RETURN(auto page, store_.ReadHistory(namespace_id, key.run_id, first, page_size));
  int64_t last = first - 1;
  for (auto& event : page.events) {
    last = event.event_id();
    *response.mutable_history()->add_events() = std::move(event);
  }
  if (page.next_event_id != 0) {
    next.set_next_event_id(page.next_event_id);
    response.set_next_page_token(next.SerializeAsString());
    return response;
  }
  AppendTransientWorkflowTaskEvents(s, response.mutable_history());
  if (request.wait_new_event() && IsRunning(s)) {
    // Long-polling readers continue from here once more events come.
    next.set_next_event_id(last + 1);
    response.set_next_page_token(next.SerializeAsString());
  }
  return response;
}

uint64_t HistoryEngine::WatchRun(const std::string& namespace_id, const std::string& run_id,
                                 std::function<void()> fn) {
  std::lock_guard lock(watchers_mutex_);
  uint64_t id = next_watch_id_++;
  std::string key = namespace_id + "/" + run_id;
  watchers_[key].emplace(id, std::move(fn));
  watch_keys_[id] = key;
  return id;
}

void HistoryEngine::Unwatch(uint64_t id) {
  std::lock_guard lock(watchers_mutex_);
  auto it = watch_keys_.find(id);
  if (it == watch_keys_.end()) return;
  auto run = watchers_.find(it->second);
  if (run != watchers_.end()) {
    run->second.erase(id);
    if (run->second.empty()) watchers_.erase(run);
  }
  watch_keys_.erase(it);
}

void HistoryEngine::NotifyWatchers(const std::string& namespace_id, const std::string& run_id) {
  std::map<uint64_t, std::function<void()>> fired;
  {
    std::lock_guard lock(watchers_mutex_);
    auto it = watchers_.find(namespace_id + "/" + run_id);
    if (it == watchers_.end()) return;
    fired.swap(it->second);
    watchers_.erase(it);
    for (const auto& [id, fn] : fired) watch_keys_.erase(id);
  }
  for (auto& [id, fn] : fired) fn();
}

// ---------------------------------------------------------------------------------------------
// Outbox

Status HistoryEngine::ProcessTransferTask(const persistence::StoredTask& stored,
                                          std::function<void()> on_settled) {
  const auto& task = stored.task;
  ExecutionKey key{task.namespace_id(), task.workflow_id(), task.run_id()};
  auto execution = Load(key);
  if (!execution.ok()) {
    if (execution.status().code() == StatusCode::NOT_FOUND) {
      on_settled();
      return Status::Ok();
    }
    return execution.status();
  }
  const auto& s = execution->state;
  bool current = false;
  matching::QueueId queue{task.namespace_id(), task.task_queue(),
                          eon::v1::TASK_QUEUE_KIND_UNSPECIFIED};
  switch (task.type()) {
    case eon::v1::HISTORY_TASK_TYPE_DISPATCH_WORKFLOW_TASK:
      current = IsRunning(s) && s.workflow_task().scheduled_event_id() == task.event_id() &&
                s.workflow_task().started_event_id() == 0;
      queue.kind = eon::v1::TASK_QUEUE_KIND_WORKFLOW;
      break;
    case eon::v1::HISTORY_TASK_TYPE_DISPATCH_ACTIVITY_TASK: {
      auto it = s.activities().find(task.event_id());
      current = IsRunning(s) && it != s.activities().end() &&
                it->second.attempt() == task.attempt() && !it->second.has_started_time();
      queue.kind = eon::v1::TASK_QUEUE_KIND_ACTIVITY;
      break;
    }
    default:
      LOG_ERROR("unknown transfer task type " << task.type());
      break;
  }
  if (!current) {
    on_settled();
    return Status::Ok();
  }
  eon::v1::QueueTask queue_task;
  queue_task.set_namespace_id(task.namespace_id());
  queue_task.set_workflow_id(task.workflow_id());
  queue_task.set_run_id(task.run_id());
  queue_task.set_scheduled_event_id(task.event_id());
  queue_task.set_attempt(task.attempt());
  *queue_task.mutable_created_time() = ToTimestamp(clock_.Now());
  return matching_.AddTask(queue, queue_task, std::move(on_settled));
}

Status HistoryEngine::ProcessTimerTask(const persistence::StoredTask& stored) {
  const auto& task = stored.task;
  ExecutionKey key{task.namespace_id(), task.workflow_id(), task.run_id()};
  switch (task.type()) {
    case eon::v1::HISTORY_TASK_TYPE_WORKFLOW_TASK_TIMEOUT: {
      Status s = Mutate(key, [&](Mutation& m) -> Status {
        const auto wft = m.state.workflow_task();
        if (!IsRunning(m.state) || wft.scheduled_event_id() != task.event_id() ||
            wft.attempt() != task.attempt() || wft.started_event_id() == 0) {
          return Status::Ok();  // the task completed in time
        }
        if (!wft.transient()) {
          auto& event = m.AddEvent(enums::EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT);
          auto* a = event.mutable_workflow_task_timed_out_event_attributes();
          a->set_scheduled_event_id(wft.scheduled_event_id());
          a->set_started_event_id(wft.started_event_id());
          a->set_timeout_type(enums::TIMEOUT_TYPE_START_TO_CLOSE);
        }
        m.EndWorkflowTaskAndRetry(wft.attempt(), /*reschedule=*/true);
        return Status::Ok();
      });
      return s.code() == StatusCode::NOT_FOUND ? Status::Ok() : s;
    }
    case eon::v1::HISTORY_TASK_TYPE_ACTIVITY_TIMEOUT: {
      Status s = Mutate(key, [&](Mutation& m) -> Status {
        if (!IsRunning(m.state)) return Status::Ok();
        auto it = m.state.mutable_activities()->find(task.event_id());
        if (it == m.state.mutable_activities()->end()) return Status::Ok();
        auto& info = it->second;
        const auto type = task.timeout_type();
        const bool attempt_timeout =
            type == enums::TIMEOUT_TYPE_START_TO_CLOSE || type == enums::TIMEOUT_TYPE_HEARTBEAT;
        if (attempt_timeout && (info.attempt() != task.attempt() || !info.has_started_time())) {
          return Status::Ok();
        }
        if (type == enums::TIMEOUT_TYPE_HEARTBEAT) {
          // One timer per window: a heartbeat since it was armed moves the deadline on.
          TimePoint last = FromTimestamp(info.started_time());
          if (info.has_last_heartbeat_time()) {
            last = std::max(last, FromTimestamp(info.last_heartbeat_time()));
          }
          TimePoint deadline = last + FromProtoDuration(info.heartbeat_timeout());
          if (m.now < deadline) {
            m.AddTimer(eon::v1::HISTORY_TASK_TYPE_ACTIVITY_TIMEOUT, deadline,
                       info.scheduled_event_id(), info.attempt(), enums::TIMEOUT_TYPE_HEARTBEAT);
            return Status::Ok();
          }
        }
        if (type == enums::TIMEOUT_TYPE_SCHEDULE_TO_START &&
            (info.attempt() != task.attempt() || info.has_started_time())) {
          return Status::Ok();
        }
        failure::Failure timeout;
        timeout.set_message("activity " + TimeoutName(type) + " timeout");
        timeout.mutable_timeout_failure_info()->set_timeout_type(type);
        if (info.has_heartbeat_details()) {
          *timeout.mutable_timeout_failure_info()->mutable_last_heartbeat_details() =
              info.heartbeat_details();
        }
        enums::RetryState retry_state = enums::RETRY_STATE_TIMEOUT;
        Duration delay{};
        if (attempt_timeout && ShouldRetry(info, timeout, m.now, &retry_state, &delay)) {
          m.RetryActivity(info, timeout, delay);
          return Status::Ok();
        }
        if (info.has_last_failure() && !attempt_timeout) {
          *timeout.mutable_cause() = info.last_failure();
        }
        int64_t started_id = 0;
        if (info.has_started_time()) started_id = m.AddActivityStarted(info);
        auto& event = m.AddExternalEvent(enums::EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT);
        auto* a = event.mutable_activity_task_timed_out_event_attributes();
        *a->mutable_failure() = timeout;
        a->set_scheduled_event_id(info.scheduled_event_id());
        a->set_started_event_id(started_id);
        a->set_retry_state(retry_state);
        m.state.mutable_activities()->erase(it);
        m.EnsureWorkflowTask();
        return Status::Ok();
      });
      return s.code() == StatusCode::NOT_FOUND ? Status::Ok() : s;
    }
    case eon::v1::HISTORY_TASK_TYPE_ACTIVITY_RETRY: {
      // The backoff is over: dispatch the next attempt (a transfer of its own would only add a
      // write).
      auto execution = Load(key);
      if (!execution.ok()) {
        return execution.status().code() == StatusCode::NOT_FOUND ? Status::Ok()
                                                                  : execution.status();
      }
      const auto& s = execution->state;
      auto it = s.activities().find(task.event_id());
      if (!IsRunning(s) || it == s.activities().end() || it->second.attempt() != task.attempt() ||
          it->second.has_started_time()) {
        return Status::Ok();
      }
      eon::v1::QueueTask queue_task;
      queue_task.set_namespace_id(task.namespace_id());
      queue_task.set_workflow_id(task.workflow_id());
      queue_task.set_run_id(task.run_id());
      queue_task.set_scheduled_event_id(task.event_id());
      queue_task.set_attempt(task.attempt());
      *queue_task.mutable_created_time() = ToTimestamp(clock_.Now());
      matching::QueueId queue{task.namespace_id(), it->second.task_queue(),
                              eon::v1::TASK_QUEUE_KIND_ACTIVITY};
      // Settled when the task is durable in matching; the timer task is deleted after we return
      // in any case, because a lost dispatch of a retry is recovered by the start-to-close
      // timeout only if started. So wait for settlement before returning.
      return matching_.AddTask(queue, queue_task, [] {});
    }
    default:
      LOG_ERROR("unknown timer task type " << task.type());
      return Status::Ok();
  }
}

}  // namespace eon::history
