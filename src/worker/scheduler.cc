// The scheduler: Temporal's schedules, each a row of the `schedules` table driven by a timer of
// this process (see scheduler.h, and docs/architecture.md for why not a system workflow).
#include "worker/scheduler.h"

#include <pthread.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/ids.h"
#include "common/log.h"
#include "history/mutable_state.h"
#include "temporal/api/errordetails/v1/message.pb.h"
#include "worker/schedule_spec.h"

namespace eon::worker {
namespace {

namespace wfs = temporal::api::workflowservice::v1;
namespace enums = temporal::api::enums::v1;
namespace common = temporal::api::common::v1;

constexpr int64_t kInitialConflictToken = 1;

std::string TokenBytes(int64_t token) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(token & 0xff);
    token >>= 8;
  }
  return out;
}

Result<int64_t> ParseToken(const std::string& bytes) {
  if (bytes.empty()) return int64_t{0};
  if (bytes.size() != 8) return InvalidArgument("conflict_token is not valid");
  int64_t out = 0;
  for (char c : bytes) out = (out << 8) | static_cast<uint8_t>(c);
  return out;
}

// "2009-11-10T23:00:00Z": the suffix Temporal appends to a scheduled run's workflow id.
std::string Rfc3339Seconds(TimePoint t) {
  std::time_t secs =
      std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(t));
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

common::Payload JsonPayload(const std::string& json) {
  common::Payload p;
  (*p.mutable_metadata())["encoding"] = "json/plain";
  p.set_data(json);
  return p;
}

enums::ScheduleOverlapPolicy Resolve(const eon::v1::ScheduleRecord& record,
                                     enums::ScheduleOverlapPolicy policy) {
  if (policy == enums::SCHEDULE_OVERLAP_POLICY_UNSPECIFIED)
    policy = record.schedule().policies().overlap_policy();
  if (policy == enums::SCHEDULE_OVERLAP_POLICY_UNSPECIFIED)
    policy = enums::SCHEDULE_OVERLAP_POLICY_SKIP;
  return policy;
}

Duration CatchupWindow(const eon::v1::ScheduleRecord& record, const SchedulerOptions& options) {
  if (!record.schedule().policies().has_catchup_window()) return options.default_catchup_window;
  return std::max(FromProtoDuration(record.schedule().policies().catchup_window()),
                  options.min_catchup_window);
}

// Whether a scheduled (not manual) action may be taken now; takes one of limited actions when
// `decrement`.
bool CanTakeAction(eon::v1::ScheduleRecord& record, bool manual, bool decrement) {
  if (manual) return true;
  auto* state = record.mutable_schedule()->mutable_state();
  if (state->paused()) return false;
  if (!state->limited_actions()) return true;
  if (state->remaining_actions() <= 0) return false;
  if (decrement) {
    state->set_remaining_actions(state->remaining_actions() - 1);
    record.set_conflict_token(record.conflict_token() + 1);
  }
  return true;
}

void AddStart(eon::v1::ScheduleRecord& record, TimePoint nominal, TimePoint actual,
              enums::ScheduleOverlapPolicy policy, bool manual, int buffer_max) {
  if (record.buffered_starts_size() >= buffer_max) {
    record.mutable_info()->set_buffer_dropped(record.info().buffer_dropped() + 1);
    return;
  }
  auto* start = record.add_buffered_starts();
  *start->mutable_nominal_time() = ToTimestamp(nominal);
  *start->mutable_actual_time() = ToTimestamp(actual);
  start->set_overlap_policy(policy);
  start->set_manual(manual);
  start->set_request_id(NewUuid());
}

std::string JitterSeed(const eon::v1::ScheduleRecord& record) {
  return record.namespace_id() + "-" + record.schedule_id();
}

bool IsTerminal(const Status& s) {
  return s.code() == StatusCode::ALREADY_EXISTS || s.code() == StatusCode::INVALID_ARGUMENT ||
         s.code() == StatusCode::NOT_FOUND || s.code() == StatusCode::FAILED_PRECONDITION;
}

}  // namespace

Scheduler::Scheduler(persistence::Store& store, Clock& clock, history::HistoryService& history,
                     SchedulerOptions options)
    : store_(store), clock_(clock), history_(history), options_(std::move(options)) {}

Scheduler::~Scheduler() { Stop(); }

Status Scheduler::Load() {
  if (options_.runs_here) return Reload();
  EON_ASSIGN_OR_RETURN(auto all, store_.LoadSchedules());
  std::lock_guard lock(wake_mutex_);
  const TimePoint now = clock_.Now();
  // Every schedule runs once at start-up: that is its catch-up after a restart.
  for (const auto& s : all) wakeups_[{s.record.namespace_id(), s.record.schedule_id()}] = now;
  if (!all.empty()) LOG_INFO("scheduler: " << all.size() << " schedules loaded");
  return Status::Ok();
}

Status Scheduler::Reload() {
  if (!options_.runs_here) return Status::Ok();
  EON_ASSIGN_OR_RETURN(auto all, store_.LoadSchedules());
  std::set<Key> mine;
  for (const auto& s : all) {
    if (options_.runs_here(s.record.namespace_id(), s.record.schedule_id())) {
      mine.insert({s.record.namespace_id(), s.record.schedule_id()});
    }
  }
  int taken = 0;
  {
    std::lock_guard lock(wake_mutex_);
    const TimePoint now = clock_.Now();
    for (const Key& key : mine) {
      // Newly this node's: run now, which catches it up from its record.
      if (!run_here_.contains(key)) {
        wakeups_[key] = now;
        ++taken;
      }
    }
    for (auto it = wakeups_.begin(); it != wakeups_.end();) {
      it = mine.contains(it->first) ? std::next(it) : wakeups_.erase(it);
    }
    run_here_ = std::move(mine);
  }
  if (taken > 0) {
    LOG_INFO("scheduler: took up " << taken << " schedules this node runs now");
    wake_changed_.notify_all();
  }
  return Status::Ok();
}

Status Scheduler::Start() {
  EON_RETURN_IF_ERROR(Load());
  thread_ = std::thread([this] { Loop(); });
  pthread_setname_np(thread_.native_handle(), "schedules");
  return Status::Ok();
}

void Scheduler::Stop() {
  {
    std::lock_guard lock(wake_mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Scheduler::StillRunsHere(const Key& key) {
  if (!options_.runs_here || options_.runs_here(key.first, key.second)) return true;
  // It moved to another node since the last reload.
  std::lock_guard lock(wake_mutex_);
  wakeups_.erase(key);
  run_here_.erase(key);
  return false;
}

void Scheduler::Wake(const Key& key, TimePoint when) {
  {
    std::lock_guard lock(wake_mutex_);
    // Another node runs it (or will, after its next reload): this node only changed its record.
    if (options_.runs_here && !run_here_.contains(key)) {
      if (!options_.runs_here(key.first, key.second)) return;
      run_here_.insert(key);
    }
    auto it = wakeups_.find(key);
    if (when == TimePoint::max()) {
      if (it != wakeups_.end()) wakeups_.erase(it);
    } else {
      wakeups_[key] = when;
    }
  }
  wake_changed_.notify_all();
}

void Scheduler::Loop() {
  std::unique_lock lock(wake_mutex_);
  TimePoint next_reload = clock_.Now() + options_.reload_interval;
  while (!stopping_) {
    if (options_.runs_here && clock_.Now() >= next_reload) {
      lock.unlock();
      Status reloaded = Reload();
      if (!reloaded.ok()) LOG_WARN("scheduler: cannot read the schedules: " << reloaded.message());
      lock.lock();
      next_reload = clock_.Now() + options_.reload_interval;
      continue;
    }
    const TimePoint now = clock_.Now();
    std::vector<Key> due;
    TimePoint earliest = TimePoint::max();
    for (const auto& [key, when] : wakeups_) {
      if (when <= now)
        due.push_back(key);
      else
        earliest = std::min(earliest, when);
    }
    if (due.empty()) {
      // At most a second at a time: the clock may be skipped forward under time skipping.
      Duration wait = std::min<Duration>(earliest - now, std::chrono::seconds(1));
      if (options_.runs_here) wait = std::min<Duration>(wait, next_reload - now);
      wake_changed_.wait_for(lock, wait);
      continue;
    }
    lock.unlock();
    for (const Key& key : due) {
      if (!StillRunsHere(key)) continue;
      TimePoint next = TimePoint::max();
      {
        std::lock_guard processing(mutex_);
        auto stored = store_.GetSchedule(key.first, key.second);
        if (stored.ok()) {
          auto processed = ProcessLocked(*stored);
          if (processed.ok()) {
            next = *processed;
          } else {
            LOG_WARN("schedule " << key.second << ": " << processed.status().message());
            next = clock_.Now() + std::chrono::seconds(5);  // try again soon
          }
        } else if (stored.status().code() != StatusCode::NOT_FOUND) {
          next = clock_.Now() + std::chrono::seconds(5);
        }
      }
      // Only replace the wake-up this run consumed (an RPC may have asked for an earlier one).
      std::lock_guard relock(wake_mutex_);
      auto it = wakeups_.find(key);
      if (it != wakeups_.end() && it->second <= now) {
        if (next == TimePoint::max())
          wakeups_.erase(it);
        else
          it->second = next;
      } else if (it != wakeups_.end() && next < it->second) {
        it->second = next;
      } else if (it == wakeups_.end() && next != TimePoint::max()) {
        wakeups_[key] = next;
      }
    }
    lock.lock();
  }
}

void Scheduler::RunDueForTest() {
  std::vector<Key> keys;
  {
    std::lock_guard lock(wake_mutex_);
    for (const auto& [key, when] : wakeups_) keys.push_back(key);
  }
  for (const Key& key : keys) {
    if (!StillRunsHere(key)) continue;
    std::lock_guard processing(mutex_);
    auto stored = store_.GetSchedule(key.first, key.second);
    if (!stored.ok()) continue;
    auto next = ProcessLocked(*stored);
    if (next.ok()) Wake(key, *next);
  }
}

Result<TimePoint> Scheduler::ProcessLocked(persistence::StoredSchedule& stored) {
  eon::v1::ScheduleRecord& record = stored.record;
  const std::string before = record.SerializeAsString();
  const TimePoint now = clock_.Now();
  auto* info = record.mutable_info();

  // 1. Which of the workflows it started are still running (by workflow id: a retried or
  // continued run counts as the same).
  for (int i = info->running_workflows_size() - 1; i >= 0; --i) {
    const auto& running = info->running_workflows(i);
    auto current = store_.GetCurrentExecution(record.namespace_id(), running.workflow_id());
    enums::WorkflowExecutionStatus status;
    if (current.ok()) {
      status = current->status;
    } else if (current.status().code() == StatusCode::NOT_FOUND) {
      status = enums::WORKFLOW_EXECUTION_STATUS_TERMINATED;  // deleted
    } else {
      return current.status();
    }
    if (status == enums::WORKFLOW_EXECUTION_STATUS_RUNNING) continue;
    for (auto& action : *info->mutable_recent_actions()) {
      if (action.start_workflow_result().workflow_id() == running.workflow_id())
        action.set_start_workflow_status(status);
    }
    const bool failed = status == enums::WORKFLOW_EXECUTION_STATUS_FAILED ||
                        status == enums::WORKFLOW_EXECUTION_STATUS_TIMED_OUT;
    auto* state = record.mutable_schedule()->mutable_state();
    if (failed && record.schedule().policies().pause_on_failure() && !state->paused()) {
      state->set_paused(true);
      state->set_notes(status == enums::WORKFLOW_EXECUTION_STATUS_FAILED
                           ? "paused due to workflow failure: " + running.workflow_id() + ": " +
                                 FailureMessage(record.namespace_id(), running.workflow_id())
                           : "paused due to workflow timeout: " + running.workflow_id());
      record.set_conflict_token(record.conflict_token() + 1);
    }
    info->mutable_running_workflows()->DeleteSubrange(i, 1);
  }

  // 2. The times that came due since the last run.
  EON_ASSIGN_OR_RETURN(auto spec, CompiledSpec::Compile(record.schedule().spec(), nullptr));
  const std::string seed = JitterSeed(record);
  TimePoint processed = FromTimestamp(record.last_processed_time());
  if (!CanTakeAction(record, /*manual=*/false, /*decrement=*/false)) {
    processed = std::max(processed, now);  // time spent paused is skipped, not caught up
  } else {
    const Duration catchup = CatchupWindow(record, options_);
    const TimePoint updated = record.info().has_update_time()
                                  ? FromTimestamp(record.info().update_time())
                                  : TimePoint::min();
    for (auto next = spec->Next(seed, processed); next && next->actual <= now;
         next = spec->Next(seed, next->nominal)) {
      processed = next->actual;
      if (updated > next->actual) continue;  // before the last update: not this spec's time
      if (now - next->actual > catchup) {
        info->set_missed_catchup_window(info->missed_catchup_window() + 1);
        continue;
      }
      AddStart(record, next->nominal, next->actual, enums::SCHEDULE_OVERLAP_POLICY_UNSPECIFIED,
               false, options_.buffer_max);
    }
  }
  *record.mutable_last_processed_time() = ToTimestamp(processed);

  // 3. Apply the overlap policies to the buffer (Temporal's ProcessBuffer).
  const bool running = info->running_workflows_size() > 0;
  std::vector<eon::v1::ScheduleBufferedStart> overlapping;
  std::optional<eon::v1::ScheduleBufferedStart> non_overlapping;
  google::protobuf::RepeatedPtrField<eon::v1::ScheduleBufferedStart> keep;
  bool need_cancel = false, need_terminate = false;
  for (const auto& start : record.buffered_starts()) {
    const auto policy = Resolve(record, start.overlap_policy());
    if (policy == enums::SCHEDULE_OVERLAP_POLICY_ALLOW_ALL) {
      overlapping.push_back(start);
      continue;
    }
    if (!running && !non_overlapping) {
      non_overlapping = start;
      continue;
    }
    switch (policy) {
      case enums::SCHEDULE_OVERLAP_POLICY_BUFFER_ONE:
        if (keep.empty()) {
          *keep.Add() = start;
        } else {
          info->set_overlap_skipped(info->overlap_skipped() + 1);
        }
        break;
      case enums::SCHEDULE_OVERLAP_POLICY_BUFFER_ALL:
        *keep.Add() = start;
        break;
      case enums::SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER:
      case enums::SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER:
        if (running) {
          (policy == enums::SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER ? need_cancel : need_terminate) =
              true;
          *keep.Add() = start;
        } else {
          non_overlapping = start;  // replaces the one not started yet
        }
        break;
      default:  // SKIP
        info->set_overlap_skipped(info->overlap_skipped() + 1);
        break;
    }
  }
  if (need_cancel || need_terminate) overlapping.clear();
  std::vector<eon::v1::ScheduleBufferedStart> to_start = std::move(overlapping);
  if (non_overlapping) to_start.push_back(*non_overlapping);
  *record.mutable_buffered_starts() = keep;
  // Write ahead: the starts about to be attempted stay in the saved buffer until they are done,
  // so a crash in between retries them (same request id) instead of losing them.
  for (const auto& start : to_start) *record.add_buffered_starts() = start;
  if (record.SerializeAsString() != before) EON_RETURN_IF_ERROR(SaveLocked(stored));

  for (const auto& start : to_start) {
    // Drop it from the buffer: started, or given up on.
    auto* buffer = record.mutable_buffered_starts();
    for (int i = 0; i < buffer->size(); ++i) {
      if (buffer->Get(i).request_id() == start.request_id()) {
        buffer->DeleteSubrange(i, 1);
        break;
      }
    }
    if (!CanTakeAction(record, start.manual(), /*decrement=*/true)) continue;
    auto started = StartOne(record, start);
    if (!started.ok()) {
      if (IsTerminal(started.status())) {
        LOG_WARN("schedule " << record.schedule_id()
                             << " could not start a workflow: " << started.status().message());
      } else {
        *record.add_buffered_starts() = start;  // try again
      }
      continue;
    }
    temporal::api::schedule::v1::ScheduleActionResult result;
    *result.mutable_schedule_time() = start.actual_time();
    *result.mutable_actual_time() = ToTimestamp(clock_.Now());
    *result.mutable_start_workflow_result() = *started;
    result.set_start_workflow_status(enums::WORKFLOW_EXECUTION_STATUS_RUNNING);
    info->set_action_count(info->action_count() + 1);
    *info->add_recent_actions() = result;
    while (info->recent_actions_size() > options_.recent_actions_max)
      info->mutable_recent_actions()->DeleteSubrange(0, 1);
    if (Resolve(record, start.overlap_policy()) != enums::SCHEDULE_OVERLAP_POLICY_ALLOW_ALL)
      *info->add_running_workflows() = *started;
  }
  for (const auto& running_workflow : info->running_workflows()) {
    if (!need_cancel && !need_terminate) break;
    if (need_terminate) {
      wfs::TerminateWorkflowExecutionRequest terminate;
      terminate.mutable_workflow_execution()->set_workflow_id(running_workflow.workflow_id());
      terminate.set_reason("terminated by schedule overlap policy");
      terminate.set_identity("temporal-scheduler-" + record.namespace_name() + "-" +
                             record.schedule_id());
      Status done = history_.TerminateWorkflowExecution(record.namespace_id(), terminate);
      if (!done.ok()) LOG_WARN("schedule terminate: " << done.message());
    } else {
      wfs::RequestCancelWorkflowExecutionRequest cancel;
      cancel.mutable_workflow_execution()->set_workflow_id(running_workflow.workflow_id());
      cancel.set_reason("cancelled by schedule overlap policy");
      cancel.set_identity("temporal-scheduler-" + record.namespace_name() + "-" +
                          record.schedule_id());
      cancel.set_request_id(NewUuid());
      Status done = history_.RequestCancelWorkflowExecution(record.namespace_id(), cancel);
      if (!done.ok()) LOG_WARN("schedule cancel: " << done.message());
    }
  }
  if (!to_start.empty() || record.SerializeAsString() != before) {
    EON_RETURN_IF_ERROR(SaveLocked(stored));
  }

  // 4. When to look again.
  TimePoint wakeup = TimePoint::max();
  // Starts still owed wait for a running workflow to close (or a failed start to be retried).
  if (!record.buffered_starts().empty()) wakeup = now + options_.running_poll_interval;
  if (CanTakeAction(record, false, false)) {
    if (auto next = spec->Next(seed, processed)) wakeup = std::min(wakeup, next->actual);
  }
  return wakeup;
}

std::string Scheduler::FailureMessage(const std::string& namespace_id,
                                      const std::string& workflow_id) {
  wfs::GetWorkflowExecutionHistoryRequest request;
  request.mutable_execution()->set_workflow_id(workflow_id);
  request.set_history_event_filter_type(enums::HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT);
  bool at_end = false;
  std::string run_id;
  auto history = history_.GetWorkflowExecutionHistory(namespace_id, request, &at_end, &run_id);
  if (!history.ok() || history->history().events().empty()) return "";
  const auto& event = history->history().events(0);
  return event.workflow_execution_failed_event_attributes().failure().message();
}

Result<common::WorkflowExecution> Scheduler::StartOne(eon::v1::ScheduleRecord& record,
                                                      const eon::v1::ScheduleBufferedStart& start) {
  const auto& action = record.schedule().action().start_workflow();
  const TimePoint nominal = FromTimestamp(start.nominal_time());
  std::string workflow_id = action.workflow_id();
  if (!record.schedule().policies().keep_original_workflow_id()) {
    workflow_id += "-" + Rfc3339Seconds(nominal);
  }
  wfs::StartWorkflowExecutionRequest request;
  request.set_namespace_(record.namespace_name());
  request.set_workflow_id(workflow_id);
  *request.mutable_workflow_type() = action.workflow_type();
  *request.mutable_task_queue() = action.task_queue();
  if (action.has_input()) *request.mutable_input() = action.input();
  if (action.has_workflow_execution_timeout())
    *request.mutable_workflow_execution_timeout() = action.workflow_execution_timeout();
  if (action.has_workflow_run_timeout())
    *request.mutable_workflow_run_timeout() = action.workflow_run_timeout();
  if (action.has_workflow_task_timeout())
    *request.mutable_workflow_task_timeout() = action.workflow_task_timeout();
  request.set_identity("temporal-scheduler-" + record.namespace_name() + "-" +
                       record.schedule_id());
  request.set_request_id(start.request_id());
  // Scheduled runs reject a duplicate workflow id (one run per nominal time); manual ones may
  // reuse it.
  request.set_workflow_id_reuse_policy(start.manual()
                                           ? enums::WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
                                           : enums::WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE);
  if (action.has_retry_policy()) *request.mutable_retry_policy() = action.retry_policy();
  if (action.has_memo()) *request.mutable_memo() = action.memo();
  if (action.has_header()) *request.mutable_header() = action.header();
  if (action.has_user_metadata()) *request.mutable_user_metadata() = action.user_metadata();
  if (action.has_priority()) *request.mutable_priority() = action.priority();
  *request.mutable_search_attributes() = action.search_attributes();
  auto& fields = *request.mutable_search_attributes()->mutable_indexed_fields();
  fields["TemporalScheduledStartTime"] =
      JsonPayload(nlohmann::json(Rfc3339Seconds(nominal)).dump());
  fields["TemporalScheduledById"] = JsonPayload(nlohmann::json(record.schedule_id()).dump());
  EON_ASSIGN_OR_RETURN(auto started,
                       history_.StartWorkflowExecution(record.namespace_id(), request));
  common::WorkflowExecution out;
  out.set_workflow_id(workflow_id);
  out.set_run_id(started.run_id);
  return out;
}

void Scheduler::FillFutureTimes(
    const eon::v1::ScheduleRecord& record, int count,
    google::protobuf::RepeatedPtrField<google::protobuf::Timestamp>* out) {
  auto spec = CompiledSpec::Compile(record.schedule().spec(), nullptr);
  if (!spec.ok()) return;
  const auto& state = record.schedule().state();
  if (state.limited_actions())
    count = static_cast<int>(std::min<int64_t>(count, state.remaining_actions()));
  const TimePoint updated = record.info().has_update_time()
                                ? FromTimestamp(record.info().update_time())
                                : TimePoint::min();
  TimePoint t = FromTimestamp(record.last_processed_time());
  for (int guard = 0; out->size() < count && guard < count * 100; ++guard) {
    auto next = (*spec)->Next(JitterSeed(record), t);
    if (!next) break;
    t = next->nominal;
    if (updated > next->actual) continue;
    *out->Add() = ToTimestamp(next->actual);
  }
}

persistence::ScheduleListing Scheduler::ListingOf(const eon::v1::ScheduleRecord& record) {
  persistence::ScheduleListing listing;
  listing.workflow_type = record.schedule().action().start_workflow().workflow_type().name();
  listing.create_time_ns = ToUnixNanos(FromTimestamp(record.info().create_time()));
  std::map<std::string, int> types;
  if (auto registered = store_.SearchAttributes(record.namespace_id()); registered.ok())
    types = *registered;
  nlohmann::json attributes = history::SearchAttributesJson(record.search_attributes(), types);
  attributes["TemporalSchedulePaused"] = record.schedule().state().paused();
  listing.search_attributes_json = attributes.dump();
  temporal::api::schedule::v1::ScheduleListEntry entry;
  entry.set_schedule_id(record.schedule_id());
  *entry.mutable_memo() = record.memo();
  *entry.mutable_search_attributes() = record.search_attributes();
  auto* info = entry.mutable_info();
  *info->mutable_spec() = record.schedule().spec();
  info->mutable_spec()->clear_timezone_data();
  *info->mutable_workflow_type() = record.schedule().action().start_workflow().workflow_type();
  info->set_notes(record.schedule().state().notes());
  info->set_paused(record.schedule().state().paused());
  const auto& recent = record.info().recent_actions();
  for (int i = std::max(0, recent.size() - options_.list_recent_actions_max); i < recent.size();
       ++i)
    *info->add_recent_actions() = recent.Get(i);
  FillFutureTimes(record, options_.list_future_action_times_max,
                  info->mutable_future_action_times());
  listing.info = entry.SerializeAsString();
  return listing;
}

Status Scheduler::SaveLocked(persistence::StoredSchedule& stored) {
  EON_RETURN_IF_ERROR(
      store_.UpdateSchedule(stored.record, ListingOf(stored.record), stored.db_version));
  ++stored.db_version;
  return Status::Ok();
}

Status Scheduler::ValidateSchedule(temporal::api::schedule::v1::Schedule* schedule) {
  if (!schedule->action().has_start_workflow()) {
    return InvalidArgument("schedule action is not set: a schedule must start a workflow");
  }
  const auto& action = schedule->action().start_workflow();
  if (action.workflow_id().empty()) return InvalidArgument("WorkflowId is not set on request.");
  if (action.workflow_id().size() + 21 > options_.id_length_max) {
    return InvalidArgument("WorkflowId exceeds length limit.");
  }
  if (action.workflow_type().name().empty()) {
    return InvalidArgument("WorkflowType is not set on request.");
  }
  if (action.task_queue().name().empty())
    return InvalidArgument("TaskQueue is not set on request.");
  if (!action.cron_schedule().empty()) {
    return InvalidArgument("CronSchedule is not allowed in a schedule's action.");
  }
  for (const auto* d : {&action.workflow_execution_timeout(), &action.workflow_run_timeout(),
                        &action.workflow_task_timeout()}) {
    if (FromProtoDuration(*d).count() < 0) {
      return InvalidArgument("a workflow timeout of the schedule's action is negative");
    }
  }
  if (FromProtoDuration(schedule->policies().catchup_window()).count() < 0) {
    return InvalidArgument("policies catchup_window is negative");
  }
  if (schedule->state().remaining_actions() < 0) {
    return InvalidArgument("state remaining_actions is negative");
  }
  temporal::api::schedule::v1::ScheduleSpec canonical;
  EON_RETURN_IF_ERROR(CompiledSpec::Compile(schedule->spec(), &canonical).status());
  *schedule->mutable_spec() = std::move(canonical);
  return Status::Ok();
}

void Scheduler::ApplyPatch(eon::v1::ScheduleRecord& record,
                           const temporal::api::schedule::v1::SchedulePatch& patch) {
  const TimePoint now = clock_.Now();
  if (patch.has_trigger_immediately()) {
    TimePoint at = patch.trigger_immediately().has_scheduled_time()
                       ? FromTimestamp(patch.trigger_immediately().scheduled_time())
                       : now;
    AddStart(record, at, at, patch.trigger_immediately().overlap_policy(), true,
             options_.buffer_max);
  }
  auto spec = CompiledSpec::Compile(record.schedule().spec(), nullptr);
  for (const auto& backfill : patch.backfill_request()) {
    if (!spec.ok()) break;
    // Inclusive of the start time (Temporal since 1.24), inclusive of the end time.
    TimePoint t = FromTimestamp(backfill.start_time()) - std::chrono::milliseconds(1);
    const TimePoint end = FromTimestamp(backfill.end_time());
    for (auto next = (*spec)->Next(JitterSeed(record), t); next && next->actual <= end;
         next = (*spec)->Next(JitterSeed(record), next->nominal)) {
      AddStart(record, next->nominal, next->actual, backfill.overlap_policy(), true,
               options_.buffer_max);
      if (record.buffered_starts_size() >= options_.buffer_max) break;
    }
  }
  auto* state = record.mutable_schedule()->mutable_state();
  if (!patch.pause().empty()) {
    state->set_paused(true);
    state->set_notes(patch.pause());
    record.set_conflict_token(record.conflict_token() + 1);
  }
  if (!patch.unpause().empty()) {
    // The time spent paused is not caught up (Temporal skips it the same way).
    if (state->paused() && FromTimestamp(record.last_processed_time()) < now)
      *record.mutable_last_processed_time() = ToTimestamp(now);
    state->set_paused(false);
    state->set_notes(patch.unpause());
    record.set_conflict_token(record.conflict_token() + 1);
  }
}

Result<wfs::CreateScheduleResponse> Scheduler::Create(const std::string& namespace_id,
                                                      const wfs::CreateScheduleRequest& request) {
  if (request.schedule_id().empty()) return InvalidArgument("ScheduleId is not set on request.");
  if (request.schedule_id().size() > options_.id_length_max) {
    return InvalidArgument("ScheduleId exceeds length limit.");
  }
  if (request.request_id().size() > options_.id_length_max) {
    return InvalidArgument("RequestId exceeds length limit.");
  }
  eon::v1::ScheduleRecord record;
  record.set_namespace_id(namespace_id);
  record.set_namespace_name(request.namespace_());
  record.set_schedule_id(request.schedule_id());
  *record.mutable_schedule() = request.schedule();
  EON_RETURN_IF_ERROR(ValidateSchedule(record.mutable_schedule()));
  *record.mutable_memo() = request.memo();
  *record.mutable_search_attributes() = request.search_attributes();
  record.set_conflict_token(kInitialConflictToken);
  record.set_create_request_id(request.request_id());
  const TimePoint now = clock_.Now();
  *record.mutable_info()->mutable_create_time() = ToTimestamp(now);
  *record.mutable_last_processed_time() = ToTimestamp(now);
  if (request.has_initial_patch()) ApplyPatch(record, request.initial_patch());
  {
    std::lock_guard lock(mutex_);
    Status created = store_.CreateSchedule(record, ListingOf(record));
    if (created.code() == StatusCode::ALREADY_EXISTS) {
      auto existing = store_.GetSchedule(namespace_id, request.schedule_id());
      if (existing.ok() && !request.request_id().empty() &&
          existing->record.create_request_id() == request.request_id()) {
        wfs::CreateScheduleResponse response;  // a retried request
        response.set_conflict_token(TokenBytes(existing->record.conflict_token()));
        return response;
      }
      temporal::api::errordetails::v1::WorkflowExecutionAlreadyStartedFailure detail;
      if (existing.ok()) detail.set_start_request_id(existing->record.create_request_id());
      return AlreadyExists("schedule \"" + request.schedule_id() + "\" is already registered")
          .WithDetail(detail);
    }
    EON_RETURN_IF_ERROR(created);
  }
  Wake({namespace_id, request.schedule_id()}, now);
  wfs::CreateScheduleResponse response;
  response.set_conflict_token(TokenBytes(kInitialConflictToken));
  return response;
}

Result<wfs::DescribeScheduleResponse> Scheduler::Describe(const std::string& namespace_id,
                                                          const std::string& schedule_id) {
  if (schedule_id.empty()) return InvalidArgument("ScheduleId is not set on request.");
  std::lock_guard lock(mutex_);
  EON_ASSIGN_OR_RETURN(auto stored, store_.GetSchedule(namespace_id, schedule_id));
  // Bring it up to date first, so running workflows and counts are current (on the node that
  // runs it; another node answers from the record as that node last saved it).
  if (!options_.runs_here || options_.runs_here(namespace_id, schedule_id)) {
    auto next = ProcessLocked(stored);
    if (next.ok()) Wake({namespace_id, schedule_id}, *next);
  }
  const auto& record = stored.record;
  wfs::DescribeScheduleResponse response;
  *response.mutable_schedule() = record.schedule();
  *response.mutable_info() = record.info();
  response.mutable_info()->set_buffer_size(record.buffered_starts_size());
  FillFutureTimes(record, options_.future_action_times_max,
                  response.mutable_info()->mutable_future_action_times());
  *response.mutable_memo() = record.memo();
  *response.mutable_search_attributes() = record.search_attributes();
  response.set_conflict_token(TokenBytes(record.conflict_token()));
  return response;
}

Status Scheduler::Update(const std::string& namespace_id,
                         const wfs::UpdateScheduleRequest& request) {
  if (request.schedule_id().empty()) return InvalidArgument("ScheduleId is not set on request.");
  EON_ASSIGN_OR_RETURN(int64_t token, ParseToken(request.conflict_token()));
  temporal::api::schedule::v1::Schedule schedule = request.schedule();
  EON_RETURN_IF_ERROR(ValidateSchedule(&schedule));
  std::lock_guard lock(mutex_);
  EON_ASSIGN_OR_RETURN(auto stored, store_.GetSchedule(namespace_id, request.schedule_id()));
  auto& record = stored.record;
  if (token != 0 && token != record.conflict_token()) {
    return FailedPrecondition("schedule \"" + request.schedule_id() +
                              "\" was changed since it was read (conflict token mismatch)");
  }
  *record.mutable_schedule() = std::move(schedule);
  if (request.has_search_attributes())
    *record.mutable_search_attributes() = request.search_attributes();
  if (request.has_memo()) *record.mutable_memo() = request.memo();
  *record.mutable_info()->mutable_update_time() = ToTimestamp(clock_.Now());
  record.set_conflict_token(record.conflict_token() + 1);
  EON_RETURN_IF_ERROR(SaveLocked(stored));
  Wake({namespace_id, request.schedule_id()}, clock_.Now());
  return Status::Ok();
}

Status Scheduler::Patch(const std::string& namespace_id, const wfs::PatchScheduleRequest& request) {
  if (request.schedule_id().empty()) return InvalidArgument("ScheduleId is not set on request.");
  if (!request.has_patch()) return InvalidArgument("Schedule patch is not set on request.");
  for (const auto& backfill : request.patch().backfill_request()) {
    if (!backfill.has_start_time() || !backfill.has_end_time()) {
      return InvalidArgument("backfill_request needs start_time and end_time");
    }
    if (FromTimestamp(backfill.end_time()) < FromTimestamp(backfill.start_time())) {
      return InvalidArgument("backfill_request end_time is before start_time");
    }
  }
  std::lock_guard lock(mutex_);
  EON_ASSIGN_OR_RETURN(auto stored, store_.GetSchedule(namespace_id, request.schedule_id()));
  ApplyPatch(stored.record, request.patch());
  EON_RETURN_IF_ERROR(SaveLocked(stored));
  Wake({namespace_id, request.schedule_id()}, clock_.Now());
  return Status::Ok();
}

Status Scheduler::Delete(const std::string& namespace_id, const std::string& schedule_id) {
  if (schedule_id.empty()) return InvalidArgument("ScheduleId is not set on request.");
  {
    std::lock_guard lock(mutex_);
    EON_RETURN_IF_ERROR(store_.DeleteSchedule(namespace_id, schedule_id));
  }
  Wake({namespace_id, schedule_id}, TimePoint::max());
  return Status::Ok();
}

Result<wfs::ListScheduleMatchingTimesResponse> Scheduler::MatchingTimes(
    const std::string& namespace_id, const wfs::ListScheduleMatchingTimesRequest& request) {
  if (request.schedule_id().empty()) return InvalidArgument("ScheduleId is not set on request.");
  if (!request.has_start_time() || !request.has_end_time()) {
    return InvalidArgument("start_time and end_time must be set");
  }
  EON_ASSIGN_OR_RETURN(auto stored, store_.GetSchedule(namespace_id, request.schedule_id()));
  EON_ASSIGN_OR_RETURN(auto spec, CompiledSpec::Compile(stored.record.schedule().spec(), nullptr));
  wfs::ListScheduleMatchingTimesResponse response;
  const TimePoint end = FromTimestamp(request.end_time());
  TimePoint t = FromTimestamp(request.start_time());
  for (int i = 0; i < options_.matching_times_max; ++i) {
    auto next = spec->Next(JitterSeed(stored.record), t);
    if (!next || next->actual > end) break;
    *response.add_start_time() = ToTimestamp(next->actual);
    t = next->nominal;
  }
  return response;
}

}  // namespace eon::worker
