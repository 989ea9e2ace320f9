// history's interface to the other roles (DESIGN.md section 2): what the frontend, matching, the
// scheduler and the admin service may ask of workflow executions. HistoryEngine
// (history/history_engine.h) is the local implementation; a node that does not own an
// execution's shard will reach the owner through a remote one behind the same interface.
//
// Calls named ...Async answer through `done`, once what they changed is durable, on a thread of
// the implementation's choosing (the store's committer, for the local one): `done` must be short
// and must not wait. The other calls may wait for a commit and run on a thread that may wait (a
// request pool's).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/await.h"
#include "common/status.h"
#include "eon/v1/state.pb.h"
#include "history/query_registry.h"
#include "persistence/store.h"
#include "temporal/api/history/v1/message.pb.h"
#include "temporal/api/update/v1/message.pb.h"
#include "temporal/api/workflowservice/v1/request_response.pb.h"

namespace eon::history {

namespace wfs = temporal::api::workflowservice::v1;

// Where a query goes: rejected, held for the next workflow task, or sent directly as a query
// task (to the sticky queue first).
struct QueryTarget {
  persistence::ExecutionKey key;
  std::string normal_queue;
  std::string sticky_queue;   // "" when the workflow has no sticky worker
  Duration sticky_timeout{};  // how long the sticky worker gets before the normal queue
  temporal::api::enums::v1::WorkflowExecutionStatus status{};
  bool rejected = false;  // by the request's query reject condition
  bool buffered = false;  // held for the next workflow task; the waiter hears the outcome
};

// Where an update stands, as its callers see it.
struct UpdateStatus {
  persistence::ExecutionKey key;
  temporal::api::enums::v1::UpdateWorkflowExecutionLifecycleStage stage{};
  std::optional<temporal::api::update::v1::Outcome> outcome;  // completed or rejected
};

struct StartResult {
  std::string run_id;
  bool started = false;
  temporal::api::enums::v1::WorkflowExecutionStatus status{};
};

class HistoryService {
 public:
  virtual ~HistoryService() = default;

  // Starts a run (or answers the existing one by the request's id-reuse and conflict policies).
  virtual void StartWorkflowExecutionAsync(const std::string& namespace_id,
                                           const wfs::StartWorkflowExecutionRequest& request,
                                           std::function<void(Result<StartResult>)> done) = 0;

  // The poll handshake's second half: a task matched to a poller is recorded started. NOT_FOUND:
  // the task is stale (its execution moved on) and should be dropped.
  virtual void RecordWorkflowTaskStartedAsync(
      const eon::v1::QueueTask& task, const std::string& poll_request_id,
      const std::string& identity,
      std::function<void(Result<wfs::PollWorkflowTaskQueueResponse>)> done) = 0;
  virtual void RecordActivityTaskStartedAsync(
      const eon::v1::QueueTask& task, const std::string& poll_request_id,
      const std::string& identity,
      std::function<void(Result<wfs::PollActivityTaskQueueResponse>)> done) = 0;

  // Whether an update of the execution would start without waiting (its state is at hand and
  // nothing else updates it right now). Callers on a thread that must not wait (gRPC's) run the
  // ...Async calls inline when this holds and hand them to a pool otherwise. A hint: it may turn
  // false in between, which costs a short wait, never a wrong answer.
  virtual bool CanUpdateWithoutWaiting(const persistence::ExecutionKey& key) = 0;
  // Whether the run's durable state is at hand and the run still open: a wait for its close
  // event then starts without a read (the frontend starts it on gRPC's thread). A hint, as above.
  virtual bool OpenAndCached(const persistence::ExecutionKey& key) {
    (void)key;
    return false;
  }
  // Whether StartWorkflowExecutionAsync would neither wait nor read right now (the frontend then
  // runs it on gRPC's thread). A hint, as above.
  virtual bool StartsWithoutWaiting(const std::string& namespace_id,
                                    const wfs::StartWorkflowExecutionRequest& request) {
    (void)namespace_id;
    (void)request;
    return false;
  }

  virtual void RespondWorkflowTaskCompletedAsync(
      const eon::v1::TaskToken& token, const wfs::RespondWorkflowTaskCompletedRequest& request,
      std::function<void(Result<wfs::RespondWorkflowTaskCompletedResponse>)> done) = 0;
  virtual void RespondWorkflowTaskFailedAsync(const eon::v1::TaskToken& token,
                                              const wfs::RespondWorkflowTaskFailedRequest& request,
                                              std::function<void(Status)> done) = 0;

  virtual void RespondActivityTaskCompletedAsync(const eon::v1::TaskToken& token,
                                                 const temporal::api::common::v1::Payloads& result,
                                                 const std::string& identity,
                                                 std::function<void(Status)> done) = 0;
  virtual void RespondActivityTaskFailedAsync(
      const eon::v1::TaskToken& token, const temporal::api::failure::v1::Failure& failure,
      const temporal::api::common::v1::Payloads* last_heartbeat, const std::string& identity,
      std::function<void(Status)> done) = 0;
  virtual void RespondActivityTaskCanceledAsync(const eon::v1::TaskToken& token,
                                                const temporal::api::common::v1::Payloads& details,
                                                const std::string& identity,
                                                std::function<void(Status)> done) = 0;
  // The token of the current attempt of a pending activity, for the ...ById calls.
  virtual Result<eon::v1::TaskToken> ActivityTokenById(const std::string& namespace_id,
                                                       const std::string& workflow_id,
                                                       const std::string& run_id,
                                                       const std::string& activity_id) = 0;
  // Answers whether the workflow asked to cancel the activity.
  virtual void RecordActivityTaskHeartbeatAsync(const eon::v1::TaskToken& token,
                                                const temporal::api::common::v1::Payloads& details,
                                                const std::string& identity,
                                                std::function<void(Result<bool>)> done) = 0;

  virtual void TerminateWorkflowExecutionAsync(
      const std::string& namespace_id, const wfs::TerminateWorkflowExecutionRequest& request,
      std::function<void(Status)> done) = 0;
  // Terminates the run if it still runs, then removes it for good.
  virtual Status DeleteWorkflowExecution(
      const std::string& namespace_id,
      const temporal::api::common::v1::WorkflowExecution& execution) = 0;
  // NOT_FOUND for a closed or missing workflow; a repeated request id is applied once.
  virtual void SignalWorkflowExecutionAsync(const std::string& namespace_id,
                                            const wfs::SignalWorkflowExecutionRequest& request,
                                            std::function<void(Status)> done) = 0;
  // Signals the running workflow, or starts one with the signal as its first event after the
  // start.
  virtual void SignalWithStartWorkflowExecutionAsync(
      const std::string& namespace_id, const wfs::SignalWithStartWorkflowExecutionRequest& request,
      std::function<void(Result<StartResult>)> done) = 0;

  // Queries, as Temporal dispatches them. PrepareQuery rejects the query by its reject
  // condition, or fails it (FAILED_PRECONDITION: the workflow closed before any workflow task
  // completed, its first task cannot start before `deadline`, or its task keeps failing), or
  // holds it (target.buffered) while a workflow task is scheduled or running or none has
  // completed yet: `waiter` then hears once whether the worker answered it with a task, or
  // that it may now go directly (no task is left to carry it). Otherwise the query goes
  // directly, as a query task, and `waiter` is not kept.
  virtual Result<QueryTarget> PrepareQuery(
      const std::string& namespace_id,
      const temporal::api::common::v1::WorkflowExecution& execution,
      temporal::api::enums::v1::QueryRejectCondition condition, const std::string& query_id,
      const temporal::api::query::v1::WorkflowQuery& query,
      std::chrono::system_clock::time_point deadline, QueryWaiter waiter) = 0;
  // A held query whose caller left. Returns whether it was still held.
  virtual bool ForgetQuery(const persistence::ExecutionKey& key, const std::string& query_id) = 0;
  // The poll answer a worker gets for a query task. It carries no history: a worker that has
  // the workflow cached answers from its cache, another fetches the history.
  virtual Result<wfs::PollWorkflowTaskQueueResponse> QueryTaskResponse(
      const eon::v1::QueueTask& task, const std::string& query_id,
      const temporal::api::query::v1::WorkflowQuery& query) = 0;

  // Updates. AdmitUpdate records the update (deduplicated by update id) and makes sure a
  // workflow task will carry it; UpdateState tells where it stands. NOT_FOUND: the workflow is
  // closed (or the update unknown, or aborted by the workflow's close).
  virtual Result<UpdateStatus> AdmitUpdate(const std::string& namespace_id,
                                           const wfs::UpdateWorkflowExecutionRequest& request) = 0;
  virtual Result<UpdateStatus> UpdateState(const persistence::ExecutionKey& key,
                                           const std::string& update_id) = 0;
  // The run an execution names (the current one when its run id is empty).
  virtual Result<persistence::ExecutionKey> ResolveExecution(
      const std::string& namespace_id, const temporal::api::common::v1::WorkflowExecution& e) = 0;

  // Resets a run to a workflow task (history/reset.h). Returns the new run's id.
  virtual Result<std::string> ResetWorkflowExecution(
      const std::string& namespace_id, const wfs::ResetWorkflowExecutionRequest& request) = 0;
  // Ends stickiness: the next workflow task goes to the normal queue with full history.
  virtual Status ResetStickyTaskQueue(
      const std::string& namespace_id,
      const temporal::api::common::v1::WorkflowExecution& execution) = 0;
  // Writes WorkflowExecutionCancelRequested and a workflow task; asking twice changes nothing.
  virtual void RequestCancelWorkflowExecutionAsync(
      const std::string& namespace_id, const wfs::RequestCancelWorkflowExecutionRequest& request,
      std::function<void(Status)> done) = 0;
  virtual Result<wfs::DescribeWorkflowExecutionResponse> DescribeWorkflowExecution(
      const std::string& namespace_id,
      const temporal::api::common::v1::WorkflowExecution& execution) = 0;

  // One page of history. With close_event_only, only the close event (none while running).
  // `*at_end` is set when the run has no events past the page yet and is still running, i.e.
  // when a long poll should wait.
  virtual Result<wfs::GetWorkflowExecutionHistoryResponse> GetWorkflowExecutionHistory(
      const std::string& namespace_id, const wfs::GetWorkflowExecutionHistoryRequest& request,
      bool* at_end, std::string* run_id) = 0;

  // Calls `fn` once, after the next change to the run is committed (on the committing thread:
  // `fn` must not wait), or with `wanted`, after the next one whose committed state it accepts
  // (so a reader waiting for the close event is not woken by every step). `fn` is given that
  // committed state and the events the change added (durable by then). Returns an id for
  // Unwatch.
  // When this server does not hold the run's shard, or gives it up (to another node) or loses it
  // (taken by another process) before `fn` ran, `gone` is called once instead, with UNAVAILABLE
  // (on the releasing thread: it must not wait): the run's changes are committed elsewhere now,
  // and a waiter that kept waiting here would hear of none of them.
  using RunStatePredicate = std::function<bool(const eon::v1::ExecutionState&)>;
  using RunWatch =
      std::function<void(const eon::v1::ExecutionState& committed,
                         const std::vector<temporal::api::history::v1::HistoryEvent>& new_events)>;
  using RunGone = std::function<void(const Status&)>;
  virtual uint64_t WatchRun(const persistence::ExecutionKey& run, RunWatch fn,
                            RunStatePredicate wanted, RunGone gone) = 0;
  virtual void Unwatch(uint64_t id) = 0;
  // Whether a watch is still waiting (it has not fired nor been removed).
  virtual bool IsWatching(uint64_t id) = 0;

  // What one execution's outbox task asks of another (history/cross_execution.cc); with several
  // nodes, the owner of that other execution's shard serves it. The caller holds no execution's
  // lock. Each is idempotent by the ids it carries, so a task that runs again (after a crash, or
  // on the next owner of its shard) changes nothing twice.
  //
  // Starts a child run of `parent`: deduplicated by the request id (the parent derives it from
  // its run id and the child's initiated event id), answered as StartWorkflowExecutionAsync.
  virtual void StartChildWorkflowExecutionAsync(const std::string& namespace_id,
                                                const wfs::StartWorkflowExecutionRequest& request,
                                                const eon::v1::ParentInfo& parent,
                                                std::function<void(Result<StartResult>)> done) = 0;
  // Delivers a signal or cancel request from the workflow run `source` (the request's initiated
  // event id is in `source`'s history) to the workflow the request names; the request id
  // "<source run id>:<initiated event id>" applies it once. NOT_FOUND: the target is missing or
  // closed (or, for a child_workflow_only request, not a child of `source`); RESOURCE_EXHAUSTED:
  // the target takes no more signals.
  virtual void DeliverExternalRequestAsync(
      const eon::v1::ExternalRequest& request,
      const temporal::api::common::v1::WorkflowExecution& source,
      std::function<void(Status)> done) = 0;
  // Records in the parent run that its child (started from `initiated_event_id`) closed with
  // `close_event`; a parent that recorded it already, or closed, changes nothing. UNAVAILABLE
  // (retry): the parent has not recorded the child started yet. NOT_FOUND: no such parent.
  virtual void RecordChildClosedAsync(const persistence::ExecutionKey& parent,
                                      int64_t initiated_event_id,
                                      const temporal::api::common::v1::WorkflowExecution& child,
                                      const std::string& workflow_type,
                                      const temporal::api::history::v1::HistoryEvent& close_event,
                                      std::function<void(Status)> done) = 0;

  // Outbox tasks that failed again and again and wait for an operator
  // (history/queue_processors.h).
  virtual std::vector<persistence::ParkedTask> ParkedTasks() = 0;
  // Runs the named parked tasks again (all if `task_ids` is empty); returns how many.
  virtual int RetryParkedTasks(const std::vector<int64_t>& task_ids) = 0;

  // The synchronous forms of the ...Async calls: they wait for the answer, so only on a thread
  // that may wait (tools, tests, the scheduler's).
  Result<StartResult> StartWorkflowExecution(const std::string& namespace_id,
                                             const wfs::StartWorkflowExecutionRequest& request) {
    return Await<Result<StartResult>>(
        [&](auto done) { StartWorkflowExecutionAsync(namespace_id, request, done); });
  }
  Result<wfs::PollWorkflowTaskQueueResponse> RecordWorkflowTaskStarted(
      const eon::v1::QueueTask& task, const std::string& poll_request_id,
      const std::string& identity) {
    return Await<Result<wfs::PollWorkflowTaskQueueResponse>>(
        [&](auto done) { RecordWorkflowTaskStartedAsync(task, poll_request_id, identity, done); });
  }
  Result<wfs::PollActivityTaskQueueResponse> RecordActivityTaskStarted(
      const eon::v1::QueueTask& task, const std::string& poll_request_id,
      const std::string& identity) {
    return Await<Result<wfs::PollActivityTaskQueueResponse>>(
        [&](auto done) { RecordActivityTaskStartedAsync(task, poll_request_id, identity, done); });
  }
  Result<wfs::RespondWorkflowTaskCompletedResponse> RespondWorkflowTaskCompleted(
      const eon::v1::TaskToken& token, const wfs::RespondWorkflowTaskCompletedRequest& request) {
    return Await<Result<wfs::RespondWorkflowTaskCompletedResponse>>(
        [&](auto done) { RespondWorkflowTaskCompletedAsync(token, request, done); });
  }
  Status RespondWorkflowTaskFailed(const eon::v1::TaskToken& token,
                                   const wfs::RespondWorkflowTaskFailedRequest& request) {
    return Await<Status>([&](auto done) { RespondWorkflowTaskFailedAsync(token, request, done); });
  }
  Status RespondActivityTaskCompleted(const eon::v1::TaskToken& token,
                                      const temporal::api::common::v1::Payloads& result,
                                      const std::string& identity) {
    return Await<Status>(
        [&](auto done) { RespondActivityTaskCompletedAsync(token, result, identity, done); });
  }
  Status RespondActivityTaskFailed(const eon::v1::TaskToken& token,
                                   const temporal::api::failure::v1::Failure& failure,
                                   const temporal::api::common::v1::Payloads* last_heartbeat,
                                   const std::string& identity) {
    return Await<Status>([&](auto done) {
      RespondActivityTaskFailedAsync(token, failure, last_heartbeat, identity, done);
    });
  }
  Status RespondActivityTaskCanceled(const eon::v1::TaskToken& token,
                                     const temporal::api::common::v1::Payloads& details,
                                     const std::string& identity) {
    return Await<Status>(
        [&](auto done) { RespondActivityTaskCanceledAsync(token, details, identity, done); });
  }
  Result<bool> RecordActivityTaskHeartbeat(const eon::v1::TaskToken& token,
                                           const temporal::api::common::v1::Payloads& details,
                                           const std::string& identity) {
    return Await<Result<bool>>(
        [&](auto done) { RecordActivityTaskHeartbeatAsync(token, details, identity, done); });
  }
  Status TerminateWorkflowExecution(const std::string& namespace_id,
                                    const wfs::TerminateWorkflowExecutionRequest& request) {
    return Await<Status>(
        [&](auto done) { TerminateWorkflowExecutionAsync(namespace_id, request, done); });
  }
  Status SignalWorkflowExecution(const std::string& namespace_id,
                                 const wfs::SignalWorkflowExecutionRequest& request) {
    return Await<Status>(
        [&](auto done) { SignalWorkflowExecutionAsync(namespace_id, request, done); });
  }
  Result<StartResult> SignalWithStartWorkflowExecution(
      const std::string& namespace_id,
      const wfs::SignalWithStartWorkflowExecutionRequest& request) {
    return Await<Result<StartResult>>(
        [&](auto done) { SignalWithStartWorkflowExecutionAsync(namespace_id, request, done); });
  }
  Status RequestCancelWorkflowExecution(const std::string& namespace_id,
                                        const wfs::RequestCancelWorkflowExecutionRequest& request) {
    return Await<Status>(
        [&](auto done) { RequestCancelWorkflowExecutionAsync(namespace_id, request, done); });
  }
};

}  // namespace eon::history
