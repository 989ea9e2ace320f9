// One workflow run in a worker's memory: its coroutines, the commands they issued, and the
// history events applied so far. The worker feeds it each workflow task's new events; the
// instance replays them (matching the commands its code issues against the command events the
// history recorded) and runs the code at every workflow task boundary.
//
// Replay model (the same as Temporal's SDKs): the code runs only at WorkflowTaskStarted events
// that are followed by WorkflowTaskCompleted (tasks that completed) and at the task being
// worked on now. Between two such points, the command events that follow WorkflowTaskCompleted
// must match, in order, the commands the code issued at the previous point; any mismatch is a
// NonDeterminismError naming both. Results recorded as markers (side effects, local
// activities, patches) and accepted updates are read ahead from the command events that follow
// the point, so the code sees on replay what it saw the first time.
//
// Not thread-safe: one thread at a time (the worker holds the cache entry's lock).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "eon/sdk/workflow.h"
#include "temporal/api/command/v1/message.pb.h"
#include "temporal/api/history/v1/message.pb.h"
#include "temporal/api/protocol/v1/message.pb.h"

namespace eon::sdk::internal {

namespace hist = temporal::api::history::v1;
namespace cmdpb = temporal::api::command::v1;
namespace protocol = temporal::api::protocol::v1;

class NonDeterminismError : public std::runtime_error {
 public:
  explicit NonDeterminismError(const std::string& what)
      : std::runtime_error("nondeterminism: " + what) {}
};

// Which handlers point into which workflow coroutine frames (see FrameAllocated in workflow.h).
// One per instance; reached through a thread-local pointer while the instance runs code.
class FrameTracker {
 public:
  void Allocated(const void* frame, size_t size);
  // `address` is the frame's start or any address inside it; frames not tracked are ignored.
  void Ended(const void* address);
  // Records which live frames the captured bytes point into; returns the handler's id.
  uint64_t Watch(const HandlerCaptures& captures);
  // True once a frame the handler pointed into has ended.
  bool Dangling(uint64_t handler_id) const { return dangling_.count(handler_id) > 0; }

 private:
  void WatchBytes(uint64_t id, const void* data, size_t size);

  std::map<uintptr_t, uintptr_t> live_;                  // frame start -> end (exclusive)
  std::map<uintptr_t, std::vector<uint64_t>> watchers_;  // frame start -> handler ids
  std::set<uint64_t> dangling_;
  uint64_t next_id_ = 1;
};

// Makes `tracker` the current thread's for its lifetime (restoring the previous one after).
class ScopedFrameTracker {
 public:
  explicit ScopedFrameTracker(FrameTracker* tracker);
  ~ScopedFrameTracker();
  ScopedFrameTracker(const ScopedFrameTracker&) = delete;
  ScopedFrameTracker& operator=(const ScopedFrameTracker&) = delete;

 private:
  FrameTracker* previous_;
};

struct LocalActivityRequest {
  std::string activity_type;
  std::string activity_id;
  Payloads args;
  LocalActivityOptions options;
};
// Where the local activities of one instance report their ends. Shared (a comment on
// shared_ptr, STYLE 6): the instance and the worker threads running its local activities each
// hold it, so an instance evicted while one runs leaves it something to write to.
class LocalActivityMailbox {
 public:
  // Called by the worker when the local activity `activity_id` has ended (after its retries);
  // a failure is the exception (usually ActivityError) in RawOutcome::error.
  void Post(const std::string& activity_id, RawOutcome outcome);
  // Waits until one of `activity_ids` has ended, `deadline` passes or `stop()` (checked every
  // 100 ms when given) turns true; returns the ended ones (removed from the mailbox).
  std::map<std::string, RawOutcome> Wait(const std::set<std::string>& activity_ids,
                                         std::chrono::steady_clock::time_point deadline,
                                         const std::function<bool()>& stop);
  // Set when the instance is gone: the worker stops retrying and cancels the attempt.
  void Abandon() { abandoned_ = true; }
  bool abandoned() const { return abandoned_; }

 private:
  std::mutex mu_;  // guards ended_
  std::condition_variable cv_;
  std::map<std::string, RawOutcome> ended_;
  std::atomic<bool> abandoned_{false};
};

// How a live workflow task runs local activities.
struct LocalActivityHost {
  // Starts a local activity on a thread of the worker's and returns at once; its end is posted
  // to `mailbox`.
  std::function<void(const LocalActivityRequest&, std::shared_ptr<LocalActivityMailbox> mailbox)>
      start;
  // When the worker received the task. With `heartbeat`, the instance stops waiting for local
  // activities at 80% of the workflow task timeout after it (sdk-core's and sdk-go's rule) and
  // lets the worker heartbeat the task; without, it waits for them to end.
  std::chrono::steady_clock::time_point task_received = std::chrono::steady_clock::now();
  bool heartbeat = true;
  // True when the worker is shutting down: stop waiting (the task is heartbeated).
  std::function<bool()> stop_waiting;
};

struct ActivationResult {
  std::vector<cmdpb::Command> commands;
  std::vector<protocol::Message> messages;
  bool completed = false;  // a command that closes the run was issued
  // Local activities still run: complete the task with force_create_new_workflow_task (the
  // workflow-task heartbeat); their results come in a later task.
  bool local_activities_pending = false;
};

class WorkflowInstance : public Scheduler {
 public:
  WorkflowInstance(const WorkflowFn& fn, DataConverter converter, std::string ns,
                   std::string workflow_id, std::string run_id);
  ~WorkflowInstance() override;
  WorkflowInstance(const WorkflowInstance&) = delete;
  WorkflowInstance& operator=(const WorkflowInstance&) = delete;

  // Applies `events` (those with ids up to last_event_id() are skipped) and runs the code at
  // each completed workflow task and at `current_started_event_id` (0: none, as for a replay
  // or a query). `messages` are the update requests of the current task. Returns the commands
  // and messages of the current task. Local activities: on replay, each resolves from its
  // marker when the history has it (one without a marker stays pending: a heartbeated task
  // records it later, or it runs again at the live task); at the live task they run through
  // `local_activities` (required then). Throws NonDeterminismError, PayloadError, or what the
  // workflow code threw that fails the task; the instance is unusable afterwards.
  ActivationResult Activate(const std::vector<hist::HistoryEvent>& events,
                            const std::vector<protocol::Message>& messages,
                            int64_t current_started_event_id,
                            const LocalActivityHost* local_activities);

  // After a full replay: throws NonDeterminismError if the code issued commands the history
  // does not have.
  void CheckAllMatched() const;

  // Runs a query handler against the current state. Throws (ApplicationError for an unknown
  // query, or what the handler threw).
  std::optional<Payload> Query(const std::string& name, const Payloads& args);

  int64_t last_event_id() const { return last_event_id_; }
  bool completed() const { return completion_issued_; }
  const WorkflowInfo& info() const { return info_; }

  // --- Scheduler
  void Ready(std::coroutine_handle<> handle) override;

  // --- Used by WorkflowContext
  std::chrono::system_clock::time_point now() const { return now_; }
  bool replaying() const { return replaying_; }
  bool cancel_requested() const { return cancel_requested_; }
  const DataConverter& converter() const { return converter_; }
  uint64_t Random() { return rng_(); }
  std::string Uuid();
  std::shared_ptr<CancellationScope> root_scope() { return root_scope_; }

  void ScheduleActivity(const std::string& type, const ActivityOptions& options, Payloads args,
                        RawCallback done);
  void ScheduleLocalActivity(const std::string& type, const LocalActivityOptions& options,
                             Payloads args, RawCallback done);
  void StartTimer(milliseconds duration, std::shared_ptr<CancellationScope> scope,
                  RawCallback done);
  void WaitCondition(std::function<bool()> condition, std::optional<milliseconds> timeout,
                     std::shared_ptr<CancellationScope> scope,
                     std::shared_ptr<FutureState<bool>> result);
  std::string StartChild(const std::string& type, const ChildWorkflowOptions& options,
                         Payloads args, RawCallback started, RawCallback done);
  void SignalExternal(const std::string& workflow_id, const std::string& run_id,
                      const std::string& name, Payloads args, RawCallback done);
  void CancelExternal(const std::string& workflow_id, const std::string& run_id, bool child_only,
                      RawCallback done);
  Payload SideEffect(const std::function<Payload()>& fn);
  bool Patched(const std::string& patch_id, bool deprecated);
  void UpsertSearchAttributes(const SearchAttributes& attributes);
  void UpsertMemo(const Memo& memo);
  [[noreturn]] void ContinueAsNew(const ContinueAsNewOptions& options, const Payloads& args);
  void SetSignalHandler(const std::string& name, SignalFn fn, const HandlerCaptures& captures);
  void SetQueryHandler(const std::string& name, QueryFn fn, const HandlerCaptures& captures);
  void SetUpdateHandler(const std::string& name, UpdateFn fn, UpdateValidatorFn validator,
                        const HandlerCaptures& captures);
  void KeepAlive(std::shared_ptr<void> object) { kept_alive_.push_back(std::move(object)); }
  void StartDetached(DetachedTask task);

 private:
  struct CommandRecord {
    cmdpb::Command command;
    int run_point = 0;     // the run point that issued it
    bool dropped = false;  // canceled before it was sent
    bool matched = false;
    std::string update_event;  // for protocol messages: "accepted" or "completed"
    std::string update_id;
    std::function<void(const hist::HistoryEvent&)> on_matched;
  };
  struct Op;  // a server-side operation under way (activity, timer, child, ...)
  struct Condition {
    uint64_t id;
    std::function<bool()> check;
    std::shared_ptr<FutureState<bool>> result;
    std::shared_ptr<Op> timer;
    std::shared_ptr<CancellationScope> scope;
    uint64_t cancel_id = 0;
  };
  struct LocalActivityOp;
  struct Lookahead {
    std::map<int64_t, Payload> side_effects;  // by sequence number
    std::map<std::string, hist::MarkerRecordedEventAttributes> local_activities;  // by id
    std::vector<std::string> local_activity_order;  // ids, in the history's order
    std::set<std::string> patches;
    std::vector<hist::HistoryEvent> accepted_updates;
  };

  void StartRoot(const hist::HistoryEvent& started);
  void RunPoint(const std::vector<hist::HistoryEvent>& events, size_t index, bool live,
                const std::vector<protocol::Message>& messages,
                const LocalActivityHost* local_activities);
  void Drain();
  // Resolves the pending local activities that have ended (live: waiting for one until
  // host->wait_until; replay: those with markers at this point, in the history's order).
  // Returns false when none resolved.
  bool ResolveLocalActivities(bool live, const LocalActivityHost* host);
  void ResolveLocalActivity(const std::shared_ptr<LocalActivityOp>& op, RawOutcome outcome,
                            const hist::MarkerRecordedEventAttributes* recorded);
  void IssueCompletion();
  std::shared_ptr<CommandRecord> AddCommand(cmdpb::Command command);
  void MatchCommandEvent(const hist::HistoryEvent& event);
  void ApplyEvent(const hist::HistoryEvent& event);
  void DeliverUpdate(const temporal::api::update::v1::Request& request,
                     const std::string& message_id, int64_t sequencing_event_id, bool replay);
  void FinishUpdate(const std::string& update_id, const std::string& message_id,
                    const temporal::api::update::v1::Request& request, RawOutcome outcome);
  void CancelOp(const std::shared_ptr<Op>& op);
  std::shared_ptr<Op> StartTimerOp(milliseconds duration, std::shared_ptr<CancellationScope> scope,
                                   RawCallback done);
  std::shared_ptr<CancellationScope> ScopeOr(std::shared_ptr<CancellationScope> scope);
  void CheckNotInQuery(const char* what) const;
  Payloads EncodeMemo(const Memo& memo) const;
  void SweepDetached();
  void InvokeSignal(const std::string& name, const Payloads& input);
  DetachedTask WatchHandler(Task<void> task);
  // A signal handler's failure is the workflow's: a Temporal failure or continue-as-new ends
  // the run; anything else fails the workflow task.
  void HandlerFailed(std::exception_ptr error);

  // First, so it outlives every coroutine frame the members below may still hold.
  FrameTracker frames_;
  // Workflow class objects: destroyed after the coroutines that use them (declared before).
  std::vector<std::shared_ptr<void>> kept_alive_;
  const WorkflowFn& fn_;
  DataConverter converter_;
  WorkflowInfo info_;
  std::unique_ptr<WorkflowContext> context_;
  std::mt19937_64 rng_;

  std::deque<std::function<void()>> ready_;
  std::vector<std::coroutine_handle<DetachedTask::promise_type>> detached_;
  std::vector<Condition> conditions_;
  uint64_t next_condition_id_ = 1;

  std::shared_ptr<FutureState<std::optional<Payload>>> root_;
  bool started_ = false;
  Payloads input_;
  bool completion_issued_ = false;
  std::exception_ptr task_failure_;  // set by a handler's bug; fails the task
  bool cancel_requested_ = false;
  std::shared_ptr<CancellationScope> root_scope_;

  std::deque<std::shared_ptr<CommandRecord>> commands_;  // issued, not matched yet
  int run_point_ = 0;
  int64_t last_event_id_ = 0;
  std::chrono::system_clock::time_point now_;
  bool replaying_ = false;
  bool in_query_ = false;
  Lookahead lookahead_;
  std::vector<protocol::Message> outgoing_messages_;

  // Sequence numbers, one per kind, so ids are the same on every replay.
  int64_t activity_seq_ = 0;
  int64_t timer_seq_ = 0;
  int64_t child_seq_ = 0;
  int64_t side_effect_seq_ = 0;
  int64_t external_seq_ = 0;

  // Operations by the event id of their initiating event.
  std::map<int64_t, std::shared_ptr<Op>> by_event_id_;
  std::vector<std::shared_ptr<LocalActivityOp>> pending_local_activities_;  // in issue order
  std::shared_ptr<LocalActivityMailbox> local_mailbox_ = std::make_shared<LocalActivityMailbox>();
  bool local_activities_pending_ = false;  // the live point stopped waiting for them
  std::map<std::string, bool> patches_;  // decided patches

  struct SignalHandler {
    SignalFn fn;
    uint64_t id = 0;  // in frames_
  };
  std::map<std::string, SignalHandler> signal_handlers_;
  std::map<std::string, std::vector<Payloads>> buffered_signals_;
  struct QueryHandler {
    QueryFn fn;
    uint64_t id = 0;
  };
  std::map<std::string, QueryHandler> query_handlers_;
  struct UpdateHandler {
    UpdateFn fn;
    UpdateValidatorFn validator;
    uint64_t id = 0;
  };
  std::map<std::string, UpdateHandler> update_handlers_;
};

// "ScheduleActivityTask(activity_type=Withdraw, activity_id=1)": for error messages.
std::string DescribeCommand(const cmdpb::Command& command);
// "event 5 TimerStarted(timer_id=1)".
std::string DescribeEvent(const hist::HistoryEvent& event);

}  // namespace eon::sdk::internal
