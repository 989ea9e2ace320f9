#include "workflow_instance.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "temporal/api/enums/v1/command_type.pb.h"
#include "temporal/api/enums/v1/event_type.pb.h"
#include "temporal/api/update/v1/message.pb.h"
#include "uuid.h"

namespace eon::sdk::internal {

namespace enums = temporal::api::enums::v1;
namespace updatepb = temporal::api::update::v1;
using google::protobuf::util::TimeUtil;

namespace {

constexpr const char* kLocalActivityMarker = "core_local_activity";
constexpr const char* kSideEffectMarker = "core_side_effect";
constexpr const char* kPatchMarker = "core_patch";

google::protobuf::Duration ToDuration(milliseconds d) {
  return TimeUtil::MillisecondsToDuration(d.count());
}
milliseconds FromDuration(const google::protobuf::Duration& d) {
  return milliseconds(TimeUtil::DurationToMilliseconds(d));
}
std::chrono::system_clock::time_point FromTimestamp(const google::protobuf::Timestamp& t) {
  return std::chrono::system_clock::time_point(
      std::chrono::milliseconds(TimeUtil::TimestampToMilliseconds(t)));
}

std::string Strip(std::string name, const std::string& prefix) {
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  return name;
}

Failure CanceledFailure(const std::string& message) {
  Failure f;
  f.set_message(message);
  f.set_source("EonCppSDK");
  f.mutable_canceled_failure_info();
  return f;
}

Failure ActivityFailure(const std::string& type, const std::string& id, int64_t scheduled,
                        int64_t started, enums::RetryState retry_state, Failure cause) {
  Failure f;
  f.set_message("activity " + type + " failed");
  f.set_source("EonCppSDK");
  auto* info = f.mutable_activity_failure_info();
  info->mutable_activity_type()->set_name(type);
  info->set_activity_id(id);
  info->set_scheduled_event_id(scheduled);
  info->set_started_event_id(started);
  info->set_retry_state(retry_state);
  *f.mutable_cause() = std::move(cause);
  return f;
}

Failure ChildFailure(const std::string& ns, const std::string& workflow_id,
                     const std::string& run_id, const std::string& type, int64_t initiated,
                     int64_t started, enums::RetryState retry_state, Failure cause) {
  Failure f;
  f.set_message("child workflow " + workflow_id + " failed");
  f.set_source("EonCppSDK");
  auto* info = f.mutable_child_workflow_execution_failure_info();
  info->set_namespace_(ns);
  info->mutable_workflow_execution()->set_workflow_id(workflow_id);
  info->mutable_workflow_execution()->set_run_id(run_id);
  info->mutable_workflow_type()->set_name(type);
  info->set_initiated_event_id(initiated);
  info->set_started_event_id(started);
  info->set_retry_state(retry_state);
  *f.mutable_cause() = std::move(cause);
  return f;
}

std::exception_ptr AsException(const Failure& failure) { return FailureToException(failure); }

std::optional<Payload> First(const Payloads& payloads) {
  if (payloads.payloads_size() == 0) return std::nullopt;
  return payloads.payloads(0);
}

// Marker details are json/plain payloads (never through the codec: only this SDK reads them),
// except recorded values, which are the converter's.
Payloads JsonDetail(const nlohmann::json& value) {
  Payloads p;
  *p.add_payloads() = ToPayload(value);
  return p;
}
nlohmann::json ReadDetail(const hist::MarkerRecordedEventAttributes& marker,
                          const std::string& key) {
  auto it = marker.details().find(key);
  if (it == marker.details().end() || it->second.payloads_size() == 0) return nullptr;
  try {
    return FromPayload<nlohmann::json>(it->second.payloads(0));
  } catch (const PayloadError&) {
    return nullptr;
  }
}

bool IsCommandEvent(enums::EventType type) {
  switch (type) {
    case enums::EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
    case enums::EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED:
    case enums::EVENT_TYPE_TIMER_STARTED:
    case enums::EVENT_TYPE_TIMER_CANCELED:
    case enums::EVENT_TYPE_MARKER_RECORDED:
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
    case enums::EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
    case enums::EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
    case enums::EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
    case enums::EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
    case enums::EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
      return true;
    default:
      return false;
  }
}

std::string PatchIdOf(const hist::MarkerRecordedEventAttributes& marker) {
  auto id = ReadDetail(marker, "patch_id");
  return id.is_string() ? id.get<std::string>() : "";
}

}  // namespace

std::string DescribeCommand(const cmdpb::Command& c) {
  std::string name = Strip(enums::CommandType_Name(c.command_type()), "COMMAND_TYPE_");
  std::string detail;
  switch (c.command_type()) {
    case enums::COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK:
      detail =
          "activity_type=" + c.schedule_activity_task_command_attributes().activity_type().name() +
          ", activity_id=" + c.schedule_activity_task_command_attributes().activity_id();
      break;
    case enums::COMMAND_TYPE_START_TIMER:
      detail = "timer_id=" + c.start_timer_command_attributes().timer_id();
      break;
    case enums::COMMAND_TYPE_CANCEL_TIMER:
      detail = "timer_id=" + c.cancel_timer_command_attributes().timer_id();
      break;
    case enums::COMMAND_TYPE_RECORD_MARKER:
      detail = "marker_name=" + c.record_marker_command_attributes().marker_name();
      break;
    case enums::COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION:
      detail =
          "workflow_type=" +
          c.start_child_workflow_execution_command_attributes().workflow_type().name() +
          ", workflow_id=" + c.start_child_workflow_execution_command_attributes().workflow_id();
      break;
    case enums::COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION:
      detail =
          "signal_name=" + c.signal_external_workflow_execution_command_attributes().signal_name();
      break;
    case enums::COMMAND_TYPE_PROTOCOL_MESSAGE:
      detail = "message_id=" + c.protocol_message_command_attributes().message_id();
      break;
    default:
      break;
  }
  return name + "(" + detail + ")";
}

std::string DescribeEvent(const hist::HistoryEvent& e) {
  std::string name = Strip(enums::EventType_Name(e.event_type()), "EVENT_TYPE_");
  std::string detail;
  switch (e.event_type()) {
    case enums::EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
      detail =
          "activity_type=" + e.activity_task_scheduled_event_attributes().activity_type().name() +
          ", activity_id=" + e.activity_task_scheduled_event_attributes().activity_id();
      break;
    case enums::EVENT_TYPE_TIMER_STARTED:
      detail = "timer_id=" + e.timer_started_event_attributes().timer_id();
      break;
    case enums::EVENT_TYPE_TIMER_CANCELED:
      detail = "timer_id=" + e.timer_canceled_event_attributes().timer_id();
      break;
    case enums::EVENT_TYPE_MARKER_RECORDED:
      detail = "marker_name=" + e.marker_recorded_event_attributes().marker_name();
      break;
    case enums::EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
      detail =
          "workflow_type=" +
          e.start_child_workflow_execution_initiated_event_attributes().workflow_type().name() +
          ", workflow_id=" +
          e.start_child_workflow_execution_initiated_event_attributes().workflow_id();
      break;
    case enums::EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
      detail = "signal_name=" +
               e.signal_external_workflow_execution_initiated_event_attributes().signal_name();
      break;
    default:
      break;
  }
  return "event " + std::to_string(e.event_id()) + " " + name + "(" + detail + ")";
}

namespace {

// Whether a command event is the one `c` produces.
bool Matches(const cmdpb::Command& c, const std::string& update_event, const std::string& update_id,
             const hist::HistoryEvent& e) {
  switch (c.command_type()) {
    case enums::COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK: {
      if (e.event_type() != enums::EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) return false;
      const auto& a = c.schedule_activity_task_command_attributes();
      const auto& b = e.activity_task_scheduled_event_attributes();
      return a.activity_id() == b.activity_id() &&
             a.activity_type().name() == b.activity_type().name();
    }
    case enums::COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK:
      return e.event_type() == enums::EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED &&
             e.activity_task_cancel_requested_event_attributes().scheduled_event_id() ==
                 c.request_cancel_activity_task_command_attributes().scheduled_event_id();
    case enums::COMMAND_TYPE_START_TIMER:
      return e.event_type() == enums::EVENT_TYPE_TIMER_STARTED &&
             e.timer_started_event_attributes().timer_id() ==
                 c.start_timer_command_attributes().timer_id();
    case enums::COMMAND_TYPE_CANCEL_TIMER:
      return e.event_type() == enums::EVENT_TYPE_TIMER_CANCELED &&
             e.timer_canceled_event_attributes().timer_id() ==
                 c.cancel_timer_command_attributes().timer_id();
    case enums::COMMAND_TYPE_RECORD_MARKER: {
      if (e.event_type() != enums::EVENT_TYPE_MARKER_RECORDED) return false;
      const auto& a = c.record_marker_command_attributes();
      const auto& b = e.marker_recorded_event_attributes();
      if (a.marker_name() != b.marker_name()) return false;
      hist::MarkerRecordedEventAttributes as_event;
      *as_event.mutable_details() = a.details();
      if (a.marker_name() == kPatchMarker) return PatchIdOf(as_event) == PatchIdOf(b);
      if (a.marker_name() == kLocalActivityMarker || a.marker_name() == kSideEffectMarker) {
        return ReadDetail(as_event, "id") == ReadDetail(b, "id");
      }
      return true;
    }
    case enums::COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION:
      return e.event_type() == enums::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED;
    case enums::COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION:
      return e.event_type() == enums::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED;
    case enums::COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION:
      return e.event_type() == enums::EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED;
    case enums::COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION:
      return e.event_type() == enums::EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW;
    case enums::COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION: {
      if (e.event_type() != enums::EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED) {
        return false;
      }
      const auto& a = c.start_child_workflow_execution_command_attributes();
      const auto& b = e.start_child_workflow_execution_initiated_event_attributes();
      return a.workflow_id() == b.workflow_id() &&
             a.workflow_type().name() == b.workflow_type().name();
    }
    case enums::COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION: {
      if (e.event_type() != enums::EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED) {
        return false;
      }
      const auto& a = c.signal_external_workflow_execution_command_attributes();
      const auto& b = e.signal_external_workflow_execution_initiated_event_attributes();
      return a.signal_name() == b.signal_name() &&
             a.execution().workflow_id() == b.workflow_execution().workflow_id();
    }
    case enums::COMMAND_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION:
      return e.event_type() ==
                 enums::EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED &&
             e.request_cancel_external_workflow_execution_initiated_event_attributes()
                     .workflow_execution()
                     .workflow_id() ==
                 c.request_cancel_external_workflow_execution_command_attributes().workflow_id();
    case enums::COMMAND_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
      return e.event_type() == enums::EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES;
    case enums::COMMAND_TYPE_MODIFY_WORKFLOW_PROPERTIES:
      return e.event_type() == enums::EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED;
    case enums::COMMAND_TYPE_PROTOCOL_MESSAGE:
      if (update_event == "accepted") {
        return e.event_type() == enums::EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED &&
               e.workflow_execution_update_accepted_event_attributes().protocol_instance_id() ==
                   update_id;
      }
      return e.event_type() == enums::EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED &&
             e.workflow_execution_update_completed_event_attributes().meta().update_id() ==
                 update_id;
    default:
      return false;
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------

struct WorkflowInstance::Op {
  enum Kind { kActivity, kTimer, kChild, kSignalExternal, kCancelExternal };
  Kind kind;
  std::shared_ptr<CommandRecord> record;
  int64_t event_id = 0;  // the initiating event, once matched
  bool resolved = false;
  bool cancel_sent = false;
  RawCallback done;
  RawCallback started;  // children only
  bool child_started = false;
  // Weak: the scope holds this op in its cancel callback.
  std::weak_ptr<CancellationScope> scope;
  uint64_t cancel_id = 0;
  ActivityCancellationType cancellation_type = ActivityCancellationType::kTryCancel;
  std::string id;    // activity id, timer id or workflow id
  std::string type;  // activity or workflow type
  std::string run_id;

  void Resolve(RawOutcome outcome) {
    if (resolved) return;
    resolved = true;
    if (auto s = scope.lock(); s && cancel_id) s->remove(cancel_id);
    if (done) done(std::move(outcome));
  }
};

struct WorkflowInstance::LocalActivityOp {
  std::string id;
  LocalActivityRequest request;
  RawCallback done;
  bool started = false;  // handed to the worker (live)
  bool resolved = false;
};

void LocalActivityMailbox::Post(const std::string& activity_id, RawOutcome outcome) {
  {
    std::lock_guard lock(mu_);
    ended_[activity_id] = std::move(outcome);
  }
  cv_.notify_all();
}

std::map<std::string, RawOutcome> LocalActivityMailbox::Wait(
    const std::set<std::string>& activity_ids, std::chrono::steady_clock::time_point deadline,
    const std::function<bool()>& stop) {
  std::map<std::string, RawOutcome> ended;
  std::unique_lock lock(mu_);
  auto any = [&] {
    for (const auto& id : activity_ids) {
      if (ended_.count(id)) return true;
    }
    return false;
  };
  if (!stop) {
    if (deadline == std::chrono::steady_clock::time_point::max()) {
      cv_.wait(lock, any);
    } else {
      cv_.wait_until(lock, deadline, any);
    }
  } else {
    constexpr auto kStopCheck = std::chrono::milliseconds(100);
    while (!any() && !stop()) {
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) break;
      cv_.wait_until(lock, deadline - now > kStopCheck ? now + kStopCheck : deadline);
    }
  }
  for (const auto& id : activity_ids) {
    auto it = ended_.find(id);
    if (it == ended_.end()) continue;
    ended[id] = std::move(it->second);
    ended_.erase(it);
  }
  return ended;
}

WorkflowInstance::WorkflowInstance(const WorkflowFn& fn, DataConverter converter, std::string ns,
                                   std::string workflow_id, std::string run_id)
    : fn_(fn), converter_(std::move(converter)) {
  info_.ns = std::move(ns);
  info_.workflow_id = std::move(workflow_id);
  info_.run_id = std::move(run_id);
  std::seed_seq seed(info_.run_id.begin(), info_.run_id.end());
  rng_.seed(seed);
  context_ = std::make_unique<WorkflowContext>(*this);
  root_scope_ = std::make_shared<CancellationScope>();
  root_ = std::make_shared<FutureState<std::optional<Payload>>>(this);
}

WorkflowInstance::~WorkflowInstance() {
  ScopedFrameTracker tracking(&frames_);
  ready_.clear();
  conditions_.clear();
  // Operations and their command records refer to each other until matched; break the cycles.
  for (auto& record : commands_) record->on_matched = nullptr;
  commands_.clear();
  for (auto& [event_id, op] : by_event_id_) op->record.reset();
  by_event_id_.clear();
  pending_local_activities_.clear();
  local_mailbox_->Abandon();
  // Destroying a suspended coroutine destroys the tasks it awaits, and so on down.
  for (auto h : detached_) h.destroy();
  detached_.clear();
}

// ---------------------------------------------------------------------------------------------
// Frame tracking

namespace {
thread_local FrameTracker* current_tracker = nullptr;
}  // namespace

ScopedFrameTracker::ScopedFrameTracker(FrameTracker* tracker) : previous_(current_tracker) {
  current_tracker = tracker;
}
ScopedFrameTracker::~ScopedFrameTracker() { current_tracker = previous_; }

void FrameTracker::Allocated(const void* frame, size_t size) {
  auto start = reinterpret_cast<uintptr_t>(frame);
  live_[start] = start + size;
  watchers_.erase(start);  // a stale entry for memory that was freed untracked
}

void FrameTracker::Ended(const void* address) {
  auto at = reinterpret_cast<uintptr_t>(address);
  auto it = live_.upper_bound(at);
  if (it == live_.begin()) return;
  --it;
  if (at >= it->second) return;
  auto watchers = watchers_.find(it->first);
  if (watchers != watchers_.end()) {
    dangling_.insert(watchers->second.begin(), watchers->second.end());
    watchers_.erase(watchers);
  }
  live_.erase(it);
}

uint64_t FrameTracker::Watch(const HandlerCaptures& captures) {
  uint64_t id = next_id_++;
  WatchBytes(id, captures.first, captures.first_size);
  WatchBytes(id, captures.also, captures.also_size);
  return id;
}

void FrameTracker::WatchBytes(uint64_t id, const void* data, size_t size) {
  if (data == nullptr || live_.empty()) return;
  // Closures store captured references and pointers as aligned pointer-sized words.
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (size_t offset = 0; offset + sizeof(uintptr_t) <= size; offset += alignof(uintptr_t)) {
    uintptr_t word;
    std::memcpy(&word, bytes + offset, sizeof(word));
    auto it = live_.upper_bound(word);
    if (it == live_.begin()) continue;
    --it;
    if (word >= it->second) continue;
    auto& ids = watchers_[it->first];
    if (ids.empty() || ids.back() != id) ids.push_back(id);
  }
}

void FrameAllocated(void* frame, std::size_t size) noexcept {
  if (current_tracker == nullptr) return;
  try {
    current_tracker->Allocated(frame, size);
  } catch (...) {  // out of memory for the bookkeeping: the frame is just not tracked
  }
}

void FrameEnded(void* frame) noexcept {
  if (current_tracker == nullptr) return;
  try {
    current_tracker->Ended(frame);
  } catch (...) {
  }
}

void WorkflowInstance::Ready(std::coroutine_handle<> handle) {
  ready_.push_back([handle] { handle.resume(); });
}

void WorkflowInstance::StartDetached(DetachedTask task) {
  detached_.push_back(task.handle);
  ready_.push_back([h = task.handle] { h.resume(); });
}

void WorkflowInstance::SweepDetached() {
  std::erase_if(detached_, [](auto h) {
    if (!h.done()) return false;
    h.destroy();
    return true;
  });
}

std::string WorkflowInstance::Uuid() {
  uint64_t high = rng_();
  return FormatUuid(high, rng_());
}

void WorkflowInstance::CheckNotInQuery(const char* what) const {
  if (in_query_) {
    throw std::logic_error(std::string("a query handler must not change the workflow (") + what +
                           ")");
  }
}

std::shared_ptr<CancellationScope> WorkflowInstance::ScopeOr(
    std::shared_ptr<CancellationScope> scope) {
  return scope ? scope : root_scope_;
}

std::shared_ptr<WorkflowInstance::CommandRecord> WorkflowInstance::AddCommand(
    cmdpb::Command command) {
  auto record = std::make_shared<CommandRecord>();
  record->command = std::move(command);
  record->run_point = run_point_;
  commands_.push_back(record);
  return record;
}

// ---------------------------------------------------------------------------------------------
// Activation

ActivationResult WorkflowInstance::Activate(const std::vector<hist::HistoryEvent>& events,
                                            const std::vector<protocol::Message>& messages,
                                            int64_t current_started_event_id,
                                            const LocalActivityHost* local_activities) {
  ScopedFrameTracker tracking(&frames_);
  ActivationResult result;
  bool ran_live = false;
  outgoing_messages_.clear();
  for (size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    if (e.event_id() <= last_event_id_) continue;
    last_event_id_ = e.event_id();
    if (e.event_type() == enums::EVENT_TYPE_WORKFLOW_TASK_STARTED) {
      bool live = e.event_id() == current_started_event_id;
      bool completed = i + 1 < events.size() &&
                       events[i + 1].event_type() == enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED;
      if (live || completed) {
        RunPoint(events, i, live, messages, local_activities);
        ran_live = ran_live || live;
      }
    } else if (IsCommandEvent(e.event_type())) {
      MatchCommandEvent(e);
    } else {
      ApplyEvent(e);
    }
  }
  if (ran_live) {
    for (const auto& record : commands_) {
      if (record->dropped) continue;
      result.commands.push_back(record->command);
    }
    result.messages = std::move(outgoing_messages_);
    outgoing_messages_.clear();
    result.completed = completion_issued_;
    result.local_activities_pending = local_activities_pending_ && !completion_issued_;
  }
  return result;
}

void WorkflowInstance::CheckAllMatched() const {
  for (const auto& record : commands_) {
    if (record->dropped) continue;
    throw NonDeterminismError("the code issued " + DescribeCommand(record->command) +
                              " but the history ends without a matching event");
  }
}

void WorkflowInstance::RunPoint(const std::vector<hist::HistoryEvent>& events, size_t index,
                                bool live, const std::vector<protocol::Message>& messages,
                                const LocalActivityHost* local_activities) {
  const auto& started = events[index];
  for (const auto& record : commands_) {
    if (record->dropped) continue;
    throw NonDeterminismError("the code issued " + DescribeCommand(record->command) +
                              " but the history has no matching event before " +
                              DescribeEvent(started));
  }
  commands_.clear();
  ++run_point_;
  now_ = FromTimestamp(started.event_time());
  replaying_ = !live;

  // What the first run recorded for this point: markers and accepted updates.
  lookahead_ = Lookahead();
  if (!live) {
    for (size_t j = index + 2; j < events.size(); ++j) {
      const auto& e = events[j];
      if (e.event_type() == enums::EVENT_TYPE_WORKFLOW_TASK_STARTED) break;
      if (e.event_type() == enums::EVENT_TYPE_MARKER_RECORDED) {
        const auto& m = e.marker_recorded_event_attributes();
        if (m.marker_name() == kPatchMarker) {
          lookahead_.patches.insert(PatchIdOf(m));
        } else if (m.marker_name() == kSideEffectMarker) {
          auto id = ReadDetail(m, "id");
          auto data = m.details().find("data");
          if (id.is_number_integer() && data != m.details().end() &&
              data->second.payloads_size() > 0) {
            lookahead_.side_effects[id.get<int64_t>()] = data->second.payloads(0);
          }
        } else if (m.marker_name() == kLocalActivityMarker) {
          auto id = ReadDetail(m, "id");
          if (id.is_string()) {
            lookahead_.local_activities[id.get<std::string>()] = m;
            lookahead_.local_activity_order.push_back(id.get<std::string>());
          }
        }
      } else if (e.event_type() == enums::EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED) {
        lookahead_.accepted_updates.push_back(e);
      }
    }
  }

  if (!started_) {
    started_ = true;
    ready_.push_front([this] {
      // Decoding the arguments happens here; a failure fails the workflow task.
      auto task = fn_(*context_, input_);
      auto driver = Drive(std::move(task), root_);
      detached_.push_back(driver.handle);
      driver.handle.resume();
    });
  }

  if (live) {
    for (const auto& message : messages) {
      updatepb::Request request;
      if (!message.body().UnpackTo(&request)) continue;
      DeliverUpdate(request, message.id(), message.event_id(), /*replay=*/false);
    }
  } else {
    for (const auto& e : lookahead_.accepted_updates) {
      const auto& a = e.workflow_execution_update_accepted_event_attributes();
      DeliverUpdate(a.accepted_request(), a.accepted_request_message_id(),
                    a.accepted_request_sequencing_event_id(), /*replay=*/true);
    }
  }

  local_activities_pending_ = false;
  for (;;) {
    Drain();
    if (pending_local_activities_.empty()) break;
    if (!ResolveLocalActivities(live, local_activities)) break;
  }
  if (root_->done && !completion_issued_) IssueCompletion();
}

void WorkflowInstance::Drain() {
  for (;;) {
    while (!ready_.empty()) {
      auto job = std::move(ready_.front());
      ready_.pop_front();
      job();
      if (task_failure_) std::rethrow_exception(task_failure_);
    }
    SweepDetached();
    // Conditions are checked once nothing else can run, in the order they were made.
    bool woke = false;
    for (size_t i = 0; i < conditions_.size();) {
      if (conditions_[i].check()) {
        Condition c = std::move(conditions_[i]);
        conditions_.erase(conditions_.begin() + static_cast<long>(i));
        if (c.scope && c.cancel_id) c.scope->remove(c.cancel_id);
        if (c.timer) CancelOp(c.timer);
        c.result->Resolve(true);
        woke = true;
      } else {
        ++i;
      }
    }
    if (!woke && ready_.empty()) return;
  }
}

bool WorkflowInstance::ResolveLocalActivities(bool live, const LocalActivityHost* host) {
  if (!live) {
    // In the order the first run recorded them, so the code sees the same order again.
    bool resolved = false;
    for (const auto& id : lookahead_.local_activity_order) {
      for (size_t i = 0; i < pending_local_activities_.size(); ++i) {
        auto op = pending_local_activities_[i];
        if (op->id != id) continue;
        pending_local_activities_.erase(pending_local_activities_.begin() +
                                        static_cast<long>(i));
        const auto& recorded = lookahead_.local_activities.at(id);
        RawOutcome outcome;
        if (recorded.has_failure()) {
          outcome.error = AsException(recorded.failure());
        } else {
          auto result = recorded.details().find("result");
          if (result != recorded.details().end()) outcome.payload = First(result->second);
        }
        ResolveLocalActivity(op, std::move(outcome), &recorded);
        resolved = true;
        break;
      }
    }
    return resolved;
  }
  if (host == nullptr || !host->start) throw std::logic_error("no local activity host");
  std::set<std::string> waiting;
  for (const auto& op : pending_local_activities_) {
    if (!op->started) {
      op->started = true;
      host->start(op->request, local_mailbox_);
    }
    waiting.insert(op->id);
  }
  auto wait_until = std::chrono::steady_clock::time_point::max();
  if (host->heartbeat) {
    // Temporal's default workflow task timeout when the start event names none.
    milliseconds task_timeout = info_.task_timeout.count() > 0 ? info_.task_timeout
                                                               : milliseconds(10'000);
    wait_until = host->task_received + task_timeout * 8 / 10;
  }
  auto ended = local_mailbox_->Wait(waiting, wait_until, host->stop_waiting);
  if (ended.empty()) {
    local_activities_pending_ = true;  // the worker heartbeats the task
    return false;
  }
  // Those that ended, in the order they were issued.
  std::vector<std::shared_ptr<LocalActivityOp>> still;
  std::vector<std::shared_ptr<LocalActivityOp>> done;
  for (auto& op : pending_local_activities_) {
    (ended.count(op->id) ? done : still).push_back(op);
  }
  pending_local_activities_ = std::move(still);
  for (auto& op : done) ResolveLocalActivity(op, std::move(ended[op->id]), nullptr);
  return true;
}

void WorkflowInstance::ResolveLocalActivity(const std::shared_ptr<LocalActivityOp>& op,
                                            RawOutcome outcome,
                                            const hist::MarkerRecordedEventAttributes* recorded) {
  cmdpb::Command command;
  command.set_command_type(enums::COMMAND_TYPE_RECORD_MARKER);
  auto* marker = command.mutable_record_marker_command_attributes();
  marker->set_marker_name(kLocalActivityMarker);
  (*marker->mutable_details())["id"] = JsonDetail(op->id);
  (*marker->mutable_details())["activity_type"] = JsonDetail(op->request.activity_type);
  if (recorded != nullptr) {
    if (recorded->has_failure()) *marker->mutable_failure() = recorded->failure();
    auto result = recorded->details().find("result");
    if (result != recorded->details().end()) {
      (*marker->mutable_details())["result"] = result->second;
    }
  } else if (outcome.error) {
    *marker->mutable_failure() = ExceptionToFailure(outcome.error);
  } else if (outcome.payload) {
    *(*marker->mutable_details())["result"].add_payloads() = *outcome.payload;
  }
  AddCommand(std::move(command));
  op->resolved = true;
  op->done(std::move(outcome));
}

void WorkflowInstance::IssueCompletion() {
  completion_issued_ = true;
  cmdpb::Command command;
  if (!root_->error) {
    command.set_command_type(enums::COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION);
    auto* attrs = command.mutable_complete_workflow_execution_command_attributes();
    if (root_->value && *root_->value) *attrs->mutable_result()->add_payloads() = **root_->value;
    AddCommand(std::move(command));
    return;
  }
  try {
    std::rethrow_exception(root_->error);
  } catch (const ContinueAsNewRequest& can) {
    command.set_command_type(enums::COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION);
    auto* attrs = command.mutable_continue_as_new_workflow_execution_command_attributes();
    attrs->mutable_workflow_type()->set_name(can.workflow_type.empty() ? info_.workflow_type
                                                                       : can.workflow_type);
    attrs->mutable_task_queue()->set_name(can.task_queue.empty() ? info_.task_queue
                                                                 : can.task_queue);
    attrs->mutable_task_queue()->set_kind(enums::TASK_QUEUE_KIND_NORMAL);
    *attrs->mutable_input() = can.args;
    auto run_timeout = can.run_timeout.count() ? can.run_timeout : info_.run_timeout;
    if (run_timeout.count()) *attrs->mutable_workflow_run_timeout() = ToDuration(run_timeout);
    auto task_timeout = can.task_timeout.count() ? can.task_timeout : info_.task_timeout;
    if (task_timeout.count()) *attrs->mutable_workflow_task_timeout() = ToDuration(task_timeout);
    const Memo& memo = can.memo ? *can.memo : info_.memo;
    for (const auto& [k, v] : memo)
      (*attrs->mutable_memo()->mutable_fields())[k] = converter_.Encode(v);
    const SearchAttributes& sa =
        can.search_attributes ? *can.search_attributes : info_.search_attributes;
    for (const auto& [k, v] : sa) {
      (*attrs->mutable_search_attributes()->mutable_indexed_fields())[k] = ToPayload(v);
    }
  } catch (const CanceledError& e) {
    if (cancel_requested_) {
      command.set_command_type(enums::COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION);
      command.mutable_cancel_workflow_execution_command_attributes();
    } else {
      command.set_command_type(enums::COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION);
      *command.mutable_fail_workflow_execution_command_attributes()->mutable_failure() =
          e.failure();
    }
  } catch (const TemporalFailure& e) {
    command.set_command_type(enums::COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION);
    *command.mutable_fail_workflow_execution_command_attributes()->mutable_failure() = e.failure();
  }
  // Anything else (a bug, a payload that cannot be decoded) leaves the catch clauses above and
  // fails the workflow task, so a fixed worker can carry on.
  AddCommand(std::move(command));
}

// ---------------------------------------------------------------------------------------------
// Events

void WorkflowInstance::MatchCommandEvent(const hist::HistoryEvent& e) {
  while (!commands_.empty() && commands_.front()->dropped) commands_.pop_front();
  bool deprecated_patch = e.event_type() == enums::EVENT_TYPE_MARKER_RECORDED &&
                          e.marker_recorded_event_attributes().marker_name() == kPatchMarker &&
                          ReadDetail(e.marker_recorded_event_attributes(), "deprecated") == true;
  if (commands_.empty()) {
    if (deprecated_patch) return;  // the code no longer calls deprecate_patch(): fine
    throw NonDeterminismError("the history has " + DescribeEvent(e) +
                              " but the code issued no command for it");
  }
  auto record = commands_.front();
  if (!Matches(record->command, record->update_event, record->update_id, e)) {
    if (deprecated_patch) return;
    throw NonDeterminismError("the code issued " + DescribeCommand(record->command) +
                              " but the history has " + DescribeEvent(e));
  }
  commands_.pop_front();
  record->matched = true;
  if (record->on_matched) {
    auto on_matched = std::move(record->on_matched);
    record->on_matched = nullptr;
    on_matched(e);
  }
}

void WorkflowInstance::ApplyEvent(const hist::HistoryEvent& e) {
  auto op_at = [&](int64_t id) -> std::shared_ptr<Op> {
    auto it = by_event_id_.find(id);
    return it == by_event_id_.end() ? nullptr : it->second;
  };
  switch (e.event_type()) {
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: {
      const auto& a = e.workflow_execution_started_event_attributes();
      info_.workflow_type = a.workflow_type().name();
      info_.task_queue = a.task_queue().name();
      info_.first_execution_run_id = a.first_execution_run_id();
      info_.continued_run_id = a.continued_execution_run_id();
      info_.parent_workflow_id = a.parent_workflow_execution().workflow_id();
      info_.parent_run_id = a.parent_workflow_execution().run_id();
      info_.cron_schedule = a.cron_schedule();
      info_.attempt = std::max(1, a.attempt());
      info_.start_time = FromTimestamp(e.event_time());
      info_.execution_timeout = FromDuration(a.workflow_execution_timeout());
      info_.run_timeout = FromDuration(a.workflow_run_timeout());
      info_.task_timeout = FromDuration(a.workflow_task_timeout());
      for (const auto& [k, v] : a.memo().fields()) {
        try {
          info_.memo[k] = converter_.Decode<nlohmann::json>(v);
        } catch (const std::exception&) {
          // Not JSON (another SDK's binary memo): left out of info().memo.
        }
      }
      for (const auto& [k, v] : a.search_attributes().indexed_fields()) {
        try {
          info_.search_attributes[k] = FromPayload<nlohmann::json>(v);
        } catch (const std::exception&) {
        }
      }
      input_ = a.input();
      now_ = FromTimestamp(e.event_time());
      break;
    }
    case enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED: {
      const auto& a = e.activity_task_completed_event_attributes();
      if (auto op = op_at(a.scheduled_event_id())) op->Resolve({First(a.result()), nullptr});
      break;
    }
    case enums::EVENT_TYPE_ACTIVITY_TASK_FAILED: {
      const auto& a = e.activity_task_failed_event_attributes();
      if (auto op = op_at(a.scheduled_event_id())) {
        op->Resolve({std::nullopt, AsException(ActivityFailure(
                                       op->type, op->id, a.scheduled_event_id(),
                                       a.started_event_id(), a.retry_state(), a.failure()))});
      }
      break;
    }
    case enums::EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: {
      const auto& a = e.activity_task_timed_out_event_attributes();
      if (auto op = op_at(a.scheduled_event_id())) {
        op->Resolve({std::nullopt, AsException(ActivityFailure(
                                       op->type, op->id, a.scheduled_event_id(),
                                       a.started_event_id(), a.retry_state(), a.failure()))});
      }
      break;
    }
    case enums::EVENT_TYPE_ACTIVITY_TASK_CANCELED: {
      const auto& a = e.activity_task_canceled_event_attributes();
      if (auto op = op_at(a.scheduled_event_id())) {
        Failure cause = CanceledFailure("activity canceled");
        *cause.mutable_canceled_failure_info()->mutable_details() = a.details();
        op->Resolve({std::nullopt,
                     AsException(ActivityFailure(op->type, op->id, a.scheduled_event_id(),
                                                 a.started_event_id(),
                                                 enums::RETRY_STATE_CANCEL_REQUESTED, cause))});
      }
      break;
    }
    case enums::EVENT_TYPE_TIMER_FIRED: {
      if (auto op = op_at(e.timer_fired_event_attributes().started_event_id())) {
        op->Resolve({std::nullopt, nullptr});
      }
      break;
    }
    case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED: {
      const auto& a = e.child_workflow_execution_started_event_attributes();
      if (auto op = op_at(a.initiated_event_id())) {
        op->run_id = a.workflow_execution().run_id();
        op->child_started = true;
        if (op->started) op->started({converter_.Encode(op->run_id), nullptr});
      }
      break;
    }
    case enums::EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED: {
      const auto& a = e.start_child_workflow_execution_failed_event_attributes();
      if (auto op = op_at(a.initiated_event_id())) {
        Failure cause;
        cause.set_message("workflow execution already started: " + a.workflow_id());
        cause.set_source("EonCppSDK");
        cause.mutable_application_failure_info()->set_type(
            a.cause() == enums::START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_WORKFLOW_ALREADY_EXISTS
                ? "WorkflowExecutionAlreadyStarted"
                : enums::StartChildWorkflowExecutionFailedCause_Name(a.cause()));
        cause.mutable_application_failure_info()->set_non_retryable(true);
        auto error = AsException(ChildFailure(info_.ns, a.workflow_id(), "", op->type,
                                              a.initiated_event_id(), 0,
                                              enums::RETRY_STATE_NON_RETRYABLE_FAILURE, cause));
        if (op->started && !op->child_started) op->started({std::nullopt, error});
        op->Resolve({std::nullopt, error});
      }
      break;
    }
    case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED: {
      const auto& a = e.child_workflow_execution_completed_event_attributes();
      if (auto op = op_at(a.initiated_event_id())) op->Resolve({First(a.result()), nullptr});
      break;
    }
    case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED: {
      const auto& a = e.child_workflow_execution_failed_event_attributes();
      if (auto op = op_at(a.initiated_event_id())) {
        op->Resolve(
            {std::nullopt, AsException(ChildFailure(info_.ns, op->id, op->run_id, op->type,
                                                    a.initiated_event_id(), a.started_event_id(),
                                                    a.retry_state(), a.failure()))});
      }
      break;
    }
    case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED: {
      const auto& a = e.child_workflow_execution_canceled_event_attributes();
      if (auto op = op_at(a.initiated_event_id())) {
        Failure cause = CanceledFailure("child workflow canceled");
        *cause.mutable_canceled_failure_info()->mutable_details() = a.details();
        op->Resolve(
            {std::nullopt, AsException(ChildFailure(info_.ns, op->id, op->run_id, op->type,
                                                    a.initiated_event_id(), a.started_event_id(),
                                                    enums::RETRY_STATE_CANCEL_REQUESTED, cause))});
      }
      break;
    }
    case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT: {
      const auto& a = e.child_workflow_execution_timed_out_event_attributes();
      if (auto op = op_at(a.initiated_event_id())) {
        Failure cause;
        cause.set_message("child workflow timed out");
        cause.mutable_timeout_failure_info()->set_timeout_type(enums::TIMEOUT_TYPE_START_TO_CLOSE);
        op->Resolve(
            {std::nullopt, AsException(ChildFailure(info_.ns, op->id, op->run_id, op->type,
                                                    a.initiated_event_id(), a.started_event_id(),
                                                    a.retry_state(), cause))});
      }
      break;
    }
    case enums::EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED: {
      const auto& a = e.child_workflow_execution_terminated_event_attributes();
      if (auto op = op_at(a.initiated_event_id())) {
        Failure cause;
        cause.set_message("child workflow terminated");
        cause.mutable_terminated_failure_info();
        op->Resolve({std::nullopt,
                     AsException(ChildFailure(info_.ns, op->id, op->run_id, op->type,
                                              a.initiated_event_id(), a.started_event_id(),
                                              enums::RETRY_STATE_NON_RETRYABLE_FAILURE, cause))});
      }
      break;
    }
    case enums::EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED: {
      const auto& a = e.external_workflow_execution_signaled_event_attributes();
      if (auto op = op_at(a.initiated_event_id())) op->Resolve({std::nullopt, nullptr});
      break;
    }
    case enums::EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED: {
      const auto& a = e.signal_external_workflow_execution_failed_event_attributes();
      if (auto op = op_at(a.initiated_event_id())) {
        op->Resolve(
            {std::nullopt, std::make_exception_ptr(ApplicationError(
                               "unable to signal workflow " + a.workflow_execution().workflow_id() +
                                   ": it was not found",
                               "ExternalWorkflowExecutionNotFound", true))});
      }
      break;
    }
    case enums::EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED: {
      const auto& a = e.external_workflow_execution_cancel_requested_event_attributes();
      if (auto op = op_at(a.initiated_event_id())) op->Resolve({std::nullopt, nullptr});
      break;
    }
    case enums::EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED: {
      const auto& a = e.request_cancel_external_workflow_execution_failed_event_attributes();
      if (auto op = op_at(a.initiated_event_id())) {
        op->Resolve(
            {std::nullopt, std::make_exception_ptr(ApplicationError(
                               "unable to cancel workflow " + a.workflow_execution().workflow_id() +
                                   ": it was not found",
                               "ExternalWorkflowExecutionNotFound", true))});
      }
      break;
    }
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: {
      const auto& a = e.workflow_execution_signaled_event_attributes();
      ready_.push_back(
          [this, name = a.signal_name(), input = a.input()] { InvokeSignal(name, input); });
      break;
    }
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
      ready_.push_back([this] {
        cancel_requested_ = true;
        root_scope_->cancel();
      });
      break;
    default:
      break;  // nothing the code sees (task events, activity started, ...)
  }
}

// ---------------------------------------------------------------------------------------------
// Operations

void WorkflowInstance::CancelOp(const std::shared_ptr<Op>& op) {
  if (op->resolved) return;
  auto canceled = [&](const std::string& message) -> std::exception_ptr {
    switch (op->kind) {
      case Op::kActivity:
        return AsException(ActivityFailure(op->type, op->id, op->event_id, 0,
                                           enums::RETRY_STATE_CANCEL_REQUESTED,
                                           CanceledFailure(message)));
      case Op::kChild:
        return AsException(ChildFailure(info_.ns, op->id, op->run_id, op->type, op->event_id, 0,
                                        enums::RETRY_STATE_CANCEL_REQUESTED,
                                        CanceledFailure(message)));
      default:
        return std::make_exception_ptr(CanceledError(message));
    }
  };
  if (!op->record->matched) {
    // Issued in this run point and not sent yet: take the command back.
    op->record->dropped = true;
    auto error = canceled("canceled before it was scheduled");
    if (op->kind == Op::kChild && op->started) op->started({std::nullopt, error});
    op->Resolve({std::nullopt, error});
    return;
  }
  switch (op->kind) {
    case Op::kTimer: {
      cmdpb::Command command;
      command.set_command_type(enums::COMMAND_TYPE_CANCEL_TIMER);
      command.mutable_cancel_timer_command_attributes()->set_timer_id(op->id);
      AddCommand(std::move(command));
      op->Resolve({std::nullopt, canceled("timer canceled")});
      return;
    }
    case Op::kActivity: {
      if (op->cancellation_type != ActivityCancellationType::kAbandon && !op->cancel_sent) {
        op->cancel_sent = true;
        cmdpb::Command command;
        command.set_command_type(enums::COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK);
        command.mutable_request_cancel_activity_task_command_attributes()->set_scheduled_event_id(
            op->event_id);
        AddCommand(std::move(command));
      }
      if (op->cancellation_type != ActivityCancellationType::kWaitCancellationCompleted) {
        op->Resolve({std::nullopt, canceled("activity canceled")});
      }
      return;
    }
    case Op::kChild: {
      if (op->cancel_sent) return;
      op->cancel_sent = true;
      CancelExternal(op->id, op->run_id, /*child_only=*/true, [](RawOutcome) {});
      return;  // the child's Canceled event resolves it
    }
    default:
      return;  // signals and cancels to other workflows run to their end
  }
}

void WorkflowInstance::ScheduleActivity(const std::string& type, const ActivityOptions& options,
                                        Payloads args, RawCallback done) {
  CheckNotInQuery("execute_activity");
  if (options.start_to_close_.count() <= 0 && options.schedule_to_close_.count() <= 0) {
    throw std::invalid_argument("activity " + type +
                                ": set start_to_close_timeout or schedule_to_close_timeout");
  }
  auto op = std::make_shared<Op>();
  op->kind = Op::kActivity;
  op->done = std::move(done);
  op->type = type;
  op->cancellation_type = options.cancellation_;
  int64_t seq = ++activity_seq_;
  op->id = options.activity_id_.empty() ? std::to_string(seq) : options.activity_id_;
  auto scope = ScopeOr(options.scope_);
  op->scope = scope;

  cmdpb::Command command;
  command.set_command_type(enums::COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK);
  auto* a = command.mutable_schedule_activity_task_command_attributes();
  a->set_activity_id(op->id);
  a->mutable_activity_type()->set_name(type);
  a->mutable_task_queue()->set_name(options.task_queue_.empty() ? info_.task_queue
                                                                : options.task_queue_);
  a->mutable_task_queue()->set_kind(enums::TASK_QUEUE_KIND_NORMAL);
  *a->mutable_input() = std::move(args);
  if (options.schedule_to_close_.count()) {
    *a->mutable_schedule_to_close_timeout() = ToDuration(options.schedule_to_close_);
  }
  if (options.schedule_to_start_.count()) {
    *a->mutable_schedule_to_start_timeout() = ToDuration(options.schedule_to_start_);
  }
  if (options.start_to_close_.count()) {
    *a->mutable_start_to_close_timeout() = ToDuration(options.start_to_close_);
  }
  if (options.heartbeat_.count()) {
    *a->mutable_heartbeat_timeout() = ToDuration(options.heartbeat_);
  }
  if (options.retry_) *a->mutable_retry_policy() = options.retry_->ToProto();
  // A request: the worker keeps it only where it can run the activity (see the worker).
  a->set_request_eager_execution(options.eager_dispatch_);

  if (scope->canceled()) {
    op->record = std::make_shared<CommandRecord>();
    op->Resolve({std::nullopt, AsException(ActivityFailure(
                                   type, op->id, 0, 0, enums::RETRY_STATE_CANCEL_REQUESTED,
                                   CanceledFailure("canceled before it was scheduled")))});
    return;
  }
  op->record = AddCommand(std::move(command));
  op->record->on_matched = [this, op](const hist::HistoryEvent& e) {
    op->event_id = e.event_id();
    by_event_id_[e.event_id()] = op;
  };
  op->cancel_id = scope->on_cancel([this, op] { CancelOp(op); });
}

void WorkflowInstance::ScheduleLocalActivity(const std::string& type,
                                             const LocalActivityOptions& options, Payloads args,
                                             RawCallback done) {
  CheckNotInQuery("execute_local_activity");
  if (options.start_to_close_.count() <= 0 && options.schedule_to_close_.count() <= 0) {
    throw std::invalid_argument("local activity " + type +
                                ": set start_to_close_timeout or schedule_to_close_timeout");
  }
  auto op = std::make_shared<LocalActivityOp>();
  op->id = "la-" + std::to_string(++activity_seq_);
  op->request = {type, op->id, std::move(args), options};
  op->done = std::move(done);
  if (ScopeOr(options.scope_)->canceled()) {
    op->done({std::nullopt,
              AsException(ActivityFailure(type, op->id, 0, 0, enums::RETRY_STATE_CANCEL_REQUESTED,
                                          CanceledFailure("canceled")))});
    return;
  }
  pending_local_activities_.push_back(std::move(op));
}

void WorkflowInstance::StartTimer(milliseconds duration, std::shared_ptr<CancellationScope> scope,
                                  RawCallback done) {
  StartTimerOp(duration, std::move(scope), std::move(done));
}

std::shared_ptr<WorkflowInstance::Op> WorkflowInstance::StartTimerOp(
    milliseconds duration, std::shared_ptr<CancellationScope> scope, RawCallback done) {
  CheckNotInQuery("sleep");
  auto op = std::make_shared<Op>();
  op->kind = Op::kTimer;
  op->done = std::move(done);
  op->id = std::to_string(++timer_seq_);
  scope = ScopeOr(std::move(scope));
  op->scope = scope;
  if (scope->canceled()) {
    op->record = std::make_shared<CommandRecord>();
    op->Resolve({std::nullopt, std::make_exception_ptr(CanceledError("timer canceled"))});
    return op;
  }
  cmdpb::Command command;
  command.set_command_type(enums::COMMAND_TYPE_START_TIMER);
  command.mutable_start_timer_command_attributes()->set_timer_id(op->id);
  *command.mutable_start_timer_command_attributes()->mutable_start_to_fire_timeout() =
      ToDuration(std::max(duration, milliseconds(1)));
  op->record = AddCommand(std::move(command));
  op->record->on_matched = [this, op](const hist::HistoryEvent& e) {
    op->event_id = e.event_id();
    by_event_id_[e.event_id()] = op;
  };
  op->cancel_id = scope->on_cancel([this, op] { CancelOp(op); });
  return op;
}

void WorkflowInstance::WaitCondition(std::function<bool()> condition,
                                     std::optional<milliseconds> timeout,
                                     std::shared_ptr<CancellationScope> scope,
                                     std::shared_ptr<FutureState<bool>> result) {
  scope = ScopeOr(std::move(scope));
  if (scope->canceled()) {
    result->Fail(std::make_exception_ptr(CanceledError("condition canceled")));
    return;
  }
  if (condition()) {
    result->Resolve(true);
    return;
  }
  Condition c;
  c.id = next_condition_id_++;
  c.check = std::move(condition);
  c.result = result;
  c.scope = scope;
  uint64_t id = c.id;
  auto remove = [this, id]() -> std::optional<Condition> {
    for (auto it = conditions_.begin(); it != conditions_.end(); ++it) {
      if (it->id == id) {
        Condition found = std::move(*it);
        conditions_.erase(it);
        return found;
      }
    }
    return std::nullopt;
  };
  if (timeout) {
    // The timer belongs to a child scope, so canceling the condition's scope cancels it too.
    c.timer = StartTimerOp(*timeout, scope->child(), [remove](RawOutcome outcome) {
      if (outcome.error) return;  // canceled: the condition was met or its scope canceled
      if (auto c = remove()) {
        if (c->scope && c->cancel_id) c->scope->remove(c->cancel_id);
        c->result->Resolve(false);
      }
    });
  }
  c.cancel_id = scope->on_cancel([this, remove] {
    if (auto c = remove()) {
      c->result->Fail(std::make_exception_ptr(CanceledError("condition canceled")));
    }
  });
  conditions_.push_back(std::move(c));
}

std::string WorkflowInstance::StartChild(const std::string& type,
                                         const ChildWorkflowOptions& options, Payloads args,
                                         RawCallback started, RawCallback done) {
  CheckNotInQuery("start_child_workflow");
  auto op = std::make_shared<Op>();
  op->kind = Op::kChild;
  op->done = std::move(done);
  op->started = std::move(started);
  op->type = type;
  ++child_seq_;
  op->id = options.id_.empty() ? Uuid() : options.id_;
  auto scope = ScopeOr(options.scope_);
  op->scope = scope;
  if (scope->canceled()) {
    op->record = std::make_shared<CommandRecord>();
    auto error = AsException(ChildFailure(info_.ns, op->id, "", type, 0, 0,
                                          enums::RETRY_STATE_CANCEL_REQUESTED,
                                          CanceledFailure("canceled before it was started")));
    op->started({std::nullopt, error});
    op->Resolve({std::nullopt, error});
    return op->id;
  }
  cmdpb::Command command;
  command.set_command_type(enums::COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION);
  auto* a = command.mutable_start_child_workflow_execution_command_attributes();
  a->set_workflow_id(op->id);
  a->mutable_workflow_type()->set_name(type);
  a->mutable_task_queue()->set_name(options.task_queue_.empty() ? info_.task_queue
                                                                : options.task_queue_);
  a->mutable_task_queue()->set_kind(enums::TASK_QUEUE_KIND_NORMAL);
  *a->mutable_input() = std::move(args);
  if (options.execution_timeout_.count()) {
    *a->mutable_workflow_execution_timeout() = ToDuration(options.execution_timeout_);
  }
  if (options.run_timeout_.count())
    *a->mutable_workflow_run_timeout() = ToDuration(options.run_timeout_);
  if (options.task_timeout_.count()) {
    *a->mutable_workflow_task_timeout() = ToDuration(options.task_timeout_);
  }
  a->set_parent_close_policy(options.parent_close_policy_);
  a->set_workflow_id_reuse_policy(options.id_reuse_policy_);
  if (options.retry_) *a->mutable_retry_policy() = options.retry_->ToProto();
  a->set_cron_schedule(options.cron_schedule_);
  for (const auto& [k, v] : options.memo_)
    (*a->mutable_memo()->mutable_fields())[k] = converter_.Encode(v);
  for (const auto& [k, v] : options.search_attributes_) {
    (*a->mutable_search_attributes()->mutable_indexed_fields())[k] = ToPayload(v);
  }
  op->record = AddCommand(std::move(command));
  op->record->on_matched = [this, op](const hist::HistoryEvent& e) {
    op->event_id = e.event_id();
    by_event_id_[e.event_id()] = op;
  };
  op->cancel_id = scope->on_cancel([this, op] { CancelOp(op); });
  return op->id;
}

void WorkflowInstance::SignalExternal(const std::string& workflow_id, const std::string& run_id,
                                      const std::string& name, Payloads args, RawCallback done) {
  CheckNotInQuery("signal_external_workflow");
  auto op = std::make_shared<Op>();
  op->kind = Op::kSignalExternal;
  op->done = std::move(done);
  op->id = workflow_id;
  ++external_seq_;
  cmdpb::Command command;
  command.set_command_type(enums::COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION);
  auto* a = command.mutable_signal_external_workflow_execution_command_attributes();
  a->mutable_execution()->set_workflow_id(workflow_id);
  a->mutable_execution()->set_run_id(run_id);
  a->set_signal_name(name);
  *a->mutable_input() = std::move(args);
  op->record = AddCommand(std::move(command));
  op->record->on_matched = [this, op](const hist::HistoryEvent& e) {
    op->event_id = e.event_id();
    by_event_id_[e.event_id()] = op;
  };
}

void WorkflowInstance::CancelExternal(const std::string& workflow_id, const std::string& run_id,
                                      bool child_only, RawCallback done) {
  CheckNotInQuery("cancel_external_workflow");
  auto op = std::make_shared<Op>();
  op->kind = Op::kCancelExternal;
  op->done = std::move(done);
  op->id = workflow_id;
  ++external_seq_;
  cmdpb::Command command;
  command.set_command_type(enums::COMMAND_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION);
  auto* a = command.mutable_request_cancel_external_workflow_execution_command_attributes();
  a->set_workflow_id(workflow_id);
  a->set_run_id(run_id);
  a->set_child_workflow_only(child_only);
  op->record = AddCommand(std::move(command));
  op->record->on_matched = [this, op](const hist::HistoryEvent& e) {
    op->event_id = e.event_id();
    by_event_id_[e.event_id()] = op;
  };
}

Payload WorkflowInstance::SideEffect(const std::function<Payload()>& fn) {
  CheckNotInQuery("side_effect");
  int64_t seq = ++side_effect_seq_;
  Payload value;
  if (replaying_) {
    auto it = lookahead_.side_effects.find(seq);
    if (it == lookahead_.side_effects.end()) {
      throw NonDeterminismError("the code ran side effect " + std::to_string(seq) +
                                " but the history has no marker for it at this point");
    }
    value = it->second;
  } else {
    value = fn();
  }
  cmdpb::Command command;
  command.set_command_type(enums::COMMAND_TYPE_RECORD_MARKER);
  auto* m = command.mutable_record_marker_command_attributes();
  m->set_marker_name(kSideEffectMarker);
  (*m->mutable_details())["id"] = JsonDetail(seq);
  *(*m->mutable_details())["data"].add_payloads() = value;
  AddCommand(std::move(command));
  return value;
}

bool WorkflowInstance::Patched(const std::string& patch_id, bool deprecated) {
  CheckNotInQuery("patched");
  auto known = patches_.find(patch_id);
  if (known != patches_.end()) return known->second;
  bool use = !replaying_ || lookahead_.patches.count(patch_id) > 0;
  patches_[patch_id] = use;
  if (use) {
    cmdpb::Command command;
    command.set_command_type(enums::COMMAND_TYPE_RECORD_MARKER);
    auto* m = command.mutable_record_marker_command_attributes();
    m->set_marker_name(kPatchMarker);
    (*m->mutable_details())["patch_id"] = JsonDetail(patch_id);
    (*m->mutable_details())["deprecated"] = JsonDetail(deprecated);
    AddCommand(std::move(command));
  }
  return use;
}

void WorkflowInstance::UpsertSearchAttributes(const SearchAttributes& attributes) {
  CheckNotInQuery("upsert_search_attributes");
  cmdpb::Command command;
  command.set_command_type(enums::COMMAND_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES);
  auto* fields = command.mutable_upsert_workflow_search_attributes_command_attributes()
                     ->mutable_search_attributes()
                     ->mutable_indexed_fields();
  for (const auto& [k, v] : attributes) {
    (*fields)[k] = ToPayload(v);
    info_.search_attributes[k] = v;
  }
  AddCommand(std::move(command));
}

void WorkflowInstance::UpsertMemo(const Memo& memo) {
  CheckNotInQuery("upsert_memo");
  cmdpb::Command command;
  command.set_command_type(enums::COMMAND_TYPE_MODIFY_WORKFLOW_PROPERTIES);
  auto* fields = command.mutable_modify_workflow_properties_command_attributes()
                     ->mutable_upserted_memo()
                     ->mutable_fields();
  for (const auto& [k, v] : memo) {
    (*fields)[k] = converter_.Encode(v);
    info_.memo[k] = v;
  }
  AddCommand(std::move(command));
}

void WorkflowInstance::ContinueAsNew(const ContinueAsNewOptions& options, const Payloads& args) {
  CheckNotInQuery("continue_as_new");
  throw ContinueAsNewRequest{options.workflow_type,    options.task_queue,   args,
                             options.run_timeout,      options.task_timeout, options.memo,
                             options.search_attributes};
}

// ---------------------------------------------------------------------------------------------
// Handlers

void WorkflowInstance::SetSignalHandler(const std::string& name, SignalFn fn,
                                        const HandlerCaptures& captures) {
  signal_handlers_[name] = {std::move(fn), frames_.Watch(captures)};
  auto buffered = buffered_signals_.find(name);
  if (buffered == buffered_signals_.end()) return;
  auto inputs = std::move(buffered->second);
  buffered_signals_.erase(buffered);
  for (auto& input : inputs) {
    ready_.push_back([this, name, input = std::move(input)] { InvokeSignal(name, input); });
  }
}

void WorkflowInstance::InvokeSignal(const std::string& name, const Payloads& input) {
  auto it = signal_handlers_.find(name);
  if (it == signal_handlers_.end()) {
    buffered_signals_[name].push_back(input);  // delivered once a handler is set
    return;
  }
  if (frames_.Dangling(it->second.id)) {
    // The run has returned: the signal has nothing left to change, so it is dropped. Before
    // that, a handler over a finished helper coroutine's locals is a bug in the workflow.
    if (root_->done) return;
    return HandlerFailed(std::make_exception_ptr(std::logic_error(
        "signal handler " + name + " captured locals of a workflow coroutine that has " +
        "returned; keep its state in a workflow class or capture it by value")));
  }
  std::optional<Task<void>> task;
  try {
    task = it->second.fn(input);
  } catch (...) {
    return HandlerFailed(std::current_exception());
  }
  if (task) StartDetached(WatchHandler(std::move(*task)));
}

DetachedTask WorkflowInstance::WatchHandler(Task<void> task) {
  try {
    co_await std::move(task);
  } catch (...) {
    HandlerFailed(std::current_exception());
  }
}

void WorkflowInstance::HandlerFailed(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const ContinueAsNewRequest&) {
    root_->Fail(error);
  } catch (const TemporalFailure&) {
    root_->Fail(error);
  } catch (...) {
    if (!task_failure_) task_failure_ = error;
  }
}

void WorkflowInstance::SetQueryHandler(const std::string& name, QueryFn fn,
                                       const HandlerCaptures& captures) {
  query_handlers_[name] = {std::move(fn), frames_.Watch(captures)};
}

void WorkflowInstance::SetUpdateHandler(const std::string& name, UpdateFn fn,
                                        UpdateValidatorFn validator,
                                        const HandlerCaptures& captures) {
  update_handlers_[name] = {std::move(fn), std::move(validator), frames_.Watch(captures)};
}

std::optional<Payload> WorkflowInstance::Query(const std::string& name, const Payloads& args) {
  auto it = query_handlers_.find(name);
  if (it == query_handlers_.end()) {
    std::string known;
    for (const auto& [n, h] : query_handlers_) known += (known.empty() ? "" : ", ") + n;
    throw ApplicationError("workflow " + info_.workflow_type + " has no query handler " + name +
                               " (known: " + (known.empty() ? "none" : known) + ")",
                           "QueryNotRegistered", true);
  }
  if (frames_.Dangling(it->second.id)) {
    throw ApplicationError(
        "query handler " + name + " of workflow " + info_.workflow_type +
            " captured locals of a workflow coroutine that has returned, so it is not called; "
            "keep the state it reads in a workflow class (register_workflow<W>) or capture it "
            "by value",
        "DanglingQueryHandler", true);
  }
  ScopedFrameTracker tracking(&frames_);
  in_query_ = true;
  try {
    auto result = it->second.fn(args);
    in_query_ = false;
    return result;
  } catch (...) {
    in_query_ = false;
    throw;
  }
}

void WorkflowInstance::DeliverUpdate(const updatepb::Request& request,
                                     const std::string& message_id, int64_t sequencing_event_id,
                                     bool replay) {
  ready_.push_back([this, request, message_id, sequencing_event_id, replay] {
    const std::string& update_id = request.meta().update_id();
    const std::string& name = request.input().name();
    auto reject = [&](Failure failure) {
      if (replay) {
        throw NonDeterminismError("the history accepted update " + update_id + " (" + name +
                                  ") but the code rejects it: " + failure.message());
      }
      updatepb::Rejection rejection;
      rejection.set_rejected_request_message_id(message_id);
      rejection.set_rejected_request_sequencing_event_id(sequencing_event_id);
      *rejection.mutable_rejected_request() = request;
      *rejection.mutable_failure() = std::move(failure);
      protocol::Message out;
      out.set_id(message_id + "/reject");
      out.set_protocol_instance_id(update_id);
      out.mutable_body()->PackFrom(rejection);
      outgoing_messages_.push_back(std::move(out));
    };
    auto handler = update_handlers_.find(name);
    if (handler == update_handlers_.end()) {
      std::string known;
      for (const auto& [n, h] : update_handlers_) known += (known.empty() ? "" : ", ") + n;
      Failure f = ApplicationError("workflow " + info_.workflow_type + " has no update handler " +
                                       name + " (known: " + (known.empty() ? "none" : known) + ")",
                                   "UpdateNotRegistered", true)
                      .failure();
      return reject(std::move(f));
    }
    if (frames_.Dangling(handler->second.id)) {
      return reject(ApplicationError("update handler " + name +
                                         " captured locals of a workflow coroutine that has "
                                         "returned, so it is not called",
                                     "DanglingUpdateHandler", true)
                        .failure());
    }
    if (!replay && handler->second.validator) {
      try {
        handler->second.validator(request.input().args());
      } catch (...) {
        return reject(ExceptionToFailure(std::current_exception()));
      }
    }
    std::optional<Task<std::optional<Payload>>> task;
    try {
      task.emplace(handler->second.fn(request.input().args()));
    } catch (...) {
      return reject(ExceptionToFailure(std::current_exception()));
    }
    // Accept.
    updatepb::Acceptance acceptance;
    acceptance.set_accepted_request_message_id(message_id);
    acceptance.set_accepted_request_sequencing_event_id(sequencing_event_id);
    *acceptance.mutable_accepted_request() = request;
    protocol::Message out;
    out.set_id(message_id + "/accept");
    out.set_protocol_instance_id(update_id);
    out.mutable_body()->PackFrom(acceptance);
    cmdpb::Command command;
    command.set_command_type(enums::COMMAND_TYPE_PROTOCOL_MESSAGE);
    command.mutable_protocol_message_command_attributes()->set_message_id(out.id());
    outgoing_messages_.push_back(std::move(out));
    auto record = AddCommand(std::move(command));
    record->update_event = "accepted";
    record->update_id = update_id;

    auto result = std::make_shared<FutureState<std::optional<Payload>>>(this);
    StartDetached(Drive(std::move(*task), result));
    // Reports the outcome once the handler ends.
    auto watcher = [](WorkflowInstance* self,
                      std::shared_ptr<FutureState<std::optional<Payload>>> r, std::string id,
                      std::string msg_id, updatepb::Request req) -> Task<void> {
      RawOutcome outcome;
      try {
        outcome.payload = co_await Future<std::optional<Payload>>(r);
      } catch (const ContinueAsNewRequest&) {
        outcome.error = std::make_exception_ptr(
            ApplicationError("an update handler cannot continue as new", "InvalidUpdate", true));
      } catch (...) {
        outcome.error = std::current_exception();
      }
      self->FinishUpdate(id, msg_id, req, std::move(outcome));
    };
    auto sink = std::make_shared<FutureState<void>>(this);
    StartDetached(Drive(watcher(this, result, update_id, message_id, request), sink));
  });
}

void WorkflowInstance::FinishUpdate(const std::string& update_id, const std::string& message_id,
                                    const updatepb::Request& request, RawOutcome outcome) {
  if (completion_issued_) return;
  updatepb::Response response;
  *response.mutable_meta() = request.meta();
  if (outcome.error) {
    *response.mutable_outcome()->mutable_failure() = ExceptionToFailure(outcome.error);
  } else {
    auto* success = response.mutable_outcome()->mutable_success();
    if (outcome.payload) *success->add_payloads() = *outcome.payload;
  }
  protocol::Message out;
  out.set_id(message_id + "/complete");
  out.set_protocol_instance_id(update_id);
  out.mutable_body()->PackFrom(response);
  cmdpb::Command command;
  command.set_command_type(enums::COMMAND_TYPE_PROTOCOL_MESSAGE);
  command.mutable_protocol_message_command_attributes()->set_message_id(out.id());
  outgoing_messages_.push_back(std::move(out));
  auto record = AddCommand(std::move(command));
  record->update_event = "completed";
  record->update_id = update_id;
}

Payloads WorkflowInstance::EncodeMemo(const Memo& memo) const {
  Payloads out;
  for (const auto& [k, v] : memo) *out.add_payloads() = converter_.Encode(v);
  return out;
}

}  // namespace eon::sdk::internal
