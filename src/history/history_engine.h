// history: workflow executions. Owns mutable state and event histories (through the store),
// turns requests and worker commands into events, and runs the transactional outbox: transfer
// tasks (dispatch to matching) and timer tasks (timeouts, retry backoff).
//
// Updates to one execution are serialized (a striped lock on namespace id + workflow id);
// different executions proceed in parallel. Every update is one store transaction. Mutable
// state is cached (LRU) so a workflow task costs no state re-read.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/clock.h"
#include "common/env.h"
#include "common/executor.h"
#include "common/status.h"
#include "eon/v1/state.pb.h"
#include "history/query_registry.h"
#include "history/queue_processors.h"
#include "history/task_handler.h"
#include "matching/matching_engine.h"
#include "persistence/store.h"
#include "temporal/api/update/v1/message.pb.h"
#include "temporal/api/workflowservice/v1/request_response.pb.h"

namespace eon::history {

namespace wfs = temporal::api::workflowservice::v1;

struct EngineOptions {
  int mutable_state_cache_max = 10'000;  // executions
  Duration default_workflow_task_timeout = std::chrono::seconds(10);
  Duration max_workflow_task_timeout = std::chrono::seconds(120);
  int history_page_size_max = 1'000;  // events in one poll response or history page
  Duration timer_lookahead = std::chrono::minutes(1);  // timer tasks held in memory ahead
  int workflow_id_length_max = 1'000;
  int eager_activities_max = 8;      // activities handed out in one workflow task completion
  int signal_request_ids_max = 100;  // remembered for deduplication, per execution
  int pending_signals_max = 10'000;  // signals one execution may receive
  int updates_max = 2'000;           // updates one execution may receive
  Duration default_sticky_schedule_to_start_timeout = std::chrono::seconds(5);
  // Limits with Temporal's defaults (`eon server start-dev` flags change them).
  int64_t history_count_warn = 10'240;   // events: a warning is logged
  int64_t history_count_limit = 51'200;  // events: the workflow is terminated
  int64_t history_size_warn_bytes = 10 << 20;
  int64_t history_size_limit_bytes = 50 << 20;
  int64_t blob_size_limit_bytes = 2 << 20;  // one payload set in a command or request
  int pending_activities_max = 2'000;
  int pending_children_max = 2'000;
  int pending_external_requests_max = 2'000;
  // Consistent queries one execution may hold for its next workflow task (Temporal's default
  // is 1; more callers may wait on a busy workflow here).
  int buffered_queries_max = 100;
  // Outbox task failures in a row before the task is parked (see history/queue_processors.h).
  int task_failures_before_parking = TaskRetryOptions{}.failures_before_parking;
};

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

class TimeSkipper;
class MutableStateCache;
struct Mutation;
struct RunSpec;
struct RunDefaults;

class HistoryEngine final : public TaskHandler {
 public:
  // Time and the outbox's loops come from `env` (time is env.clock()); outbox tasks run on
  // `task_executor`.
  HistoryEngine(persistence::Store& store, Env& env, matching::MatchingEngine& matching,
                Executor& task_executor, EngineOptions options);
  ~HistoryEngine();

  // How long a namespace keeps closed runs (0: forever); read when a run closes.
  void SetRetention(std::function<Duration(const std::string& namespace_id)> retention) {
    retention_ = std::move(retention);
  }
  // Names namespaces in the events that carry both id and name (children, external requests).
  void SetNamespaceNames(std::function<std::string(const std::string& namespace_id)> names) {
    namespace_name_ = std::move(names);
  }
  // Call before Start: serve time skipping on `clock` (which must be the engine's clock).
  void EnableTimeSkipping(SkippableClock& clock);
  TimeSkipper* time_skipper() { return time_skipper_.get(); }

  // Takes the shards, reloads the outbox and starts the queue processors.
  Status Start();
  // Stops the queue processors; requests after this fail.
  void Stop();

  Result<StartResult> StartWorkflowExecution(const std::string& namespace_id,
                                             const wfs::StartWorkflowExecutionRequest& request);

  // The poll path: a task matched to a poller is recorded started. NOT_FOUND: the task is
  // stale (its execution moved on) and should be dropped.
  Result<wfs::PollWorkflowTaskQueueResponse> RecordWorkflowTaskStarted(
      const eon::v1::QueueTask& task, const std::string& poll_request_id,
      const std::string& identity);
  Result<wfs::PollActivityTaskQueueResponse> RecordActivityTaskStarted(
      const eon::v1::QueueTask& task, const std::string& poll_request_id,
      const std::string& identity);

  // Asynchronous forms of the calls every workflow makes: `done` runs once the change is
  // durable (on the store's committer thread, or at once after an error), and no lock is held
  // while the commit is pending. The synchronous forms wait for them.
  void RecordWorkflowTaskStartedAsync(
      const eon::v1::QueueTask& task, const std::string& poll_request_id,
      const std::string& identity,
      std::function<void(Result<wfs::PollWorkflowTaskQueueResponse>)> done);
  void RecordActivityTaskStartedAsync(
      const eon::v1::QueueTask& task, const std::string& poll_request_id,
      const std::string& identity,
      std::function<void(Result<wfs::PollActivityTaskQueueResponse>)> done);
  void RespondWorkflowTaskCompletedAsync(
      const eon::v1::TaskToken& token, const wfs::RespondWorkflowTaskCompletedRequest& request,
      std::function<void(Result<wfs::RespondWorkflowTaskCompletedResponse>)> done);
  void RespondActivityTaskCompletedAsync(const eon::v1::TaskToken& token,
                                         const temporal::api::common::v1::Payloads& result,
                                         const std::string& identity,
                                         std::function<void(Status)> done);

  // Whether an update of the execution would start without waiting: its state is cached and
  // its lock is free right now. Callers on a thread that must not wait (gRPC's) run the
  // asynchronous forms above inline when this holds and hand them to a pool otherwise. A hint:
  // the lock may be taken in between, which costs a short wait, never a wrong answer.
  bool CanUpdateWithoutWaiting(const persistence::ExecutionKey& key);

  Result<wfs::RespondWorkflowTaskCompletedResponse> RespondWorkflowTaskCompleted(
      const eon::v1::TaskToken& token, const wfs::RespondWorkflowTaskCompletedRequest& request);
  Status RespondWorkflowTaskFailed(const eon::v1::TaskToken& token,
                                   const wfs::RespondWorkflowTaskFailedRequest& request);

  Status RespondActivityTaskCompleted(const eon::v1::TaskToken& token,
                                      const temporal::api::common::v1::Payloads& result,
                                      const std::string& identity);
  Status RespondActivityTaskFailed(const eon::v1::TaskToken& token,
                                   const temporal::api::failure::v1::Failure& failure,
                                   const temporal::api::common::v1::Payloads* last_heartbeat,
                                   const std::string& identity);
  Status RespondActivityTaskCanceled(const eon::v1::TaskToken& token,
                                     const temporal::api::common::v1::Payloads& details,
                                     const std::string& identity);
  // The token of the current attempt of a pending activity, for the ...ById calls.
  Result<eon::v1::TaskToken> ActivityTokenById(const std::string& namespace_id,
                                               const std::string& workflow_id,
                                               const std::string& run_id,
                                               const std::string& activity_id);
  // Returns whether the workflow asked to cancel the activity.
  Result<bool> RecordActivityTaskHeartbeat(const eon::v1::TaskToken& token,
                                           const temporal::api::common::v1::Payloads& details,
                                           const std::string& identity);

  Status TerminateWorkflowExecution(const std::string& namespace_id,
                                    const wfs::TerminateWorkflowExecutionRequest& request);
  // Terminates the run if it still runs, then removes it for good.
  Status DeleteWorkflowExecution(const std::string& namespace_id,
                                 const temporal::api::common::v1::WorkflowExecution& execution);
  // NOT_FOUND for a closed or missing workflow; a repeated request id is applied once.
  Status SignalWorkflowExecution(const std::string& namespace_id,
                                 const wfs::SignalWorkflowExecutionRequest& request);
  // Signals the running workflow, or starts one with the signal as its first event after the
  // start.
  Result<StartResult> SignalWithStartWorkflowExecution(
      const std::string& namespace_id, const wfs::SignalWithStartWorkflowExecutionRequest& request);
  // Queries, as Temporal dispatches them. PrepareQuery rejects the query by its reject
  // condition, or fails it (FAILED_PRECONDITION: the workflow closed before any workflow task
  // completed, its first task cannot start before `deadline`, or its task keeps failing), or
  // holds it (target.buffered) while a workflow task is scheduled or running or none has
  // completed yet: `waiter` then hears once whether the worker answered it with a task, or
  // that it may now go directly (no task is left to carry it). Otherwise the query goes
  // directly, as a query task, and `waiter` is not kept.
  // QueryTaskResponse: the poll answer a worker gets for a query task. It carries no history:
  // a worker that has the workflow cached answers from its cache, another fetches the history.
  Result<QueryTarget> PrepareQuery(const std::string& namespace_id,
                                   const temporal::api::common::v1::WorkflowExecution& execution,
                                   temporal::api::enums::v1::QueryRejectCondition condition,
                                   const std::string& query_id,
                                   const temporal::api::query::v1::WorkflowQuery& query,
                                   std::chrono::system_clock::time_point deadline,
                                   QueryWaiter waiter);
  // A held query whose caller left. Returns whether it was still held.
  bool ForgetQuery(const persistence::ExecutionKey& key, const std::string& query_id) {
    return queries_->Remove(key, query_id);
  }
  Result<wfs::PollWorkflowTaskQueueResponse> QueryTaskResponse(
      const eon::v1::QueueTask& task, const std::string& query_id,
      const temporal::api::query::v1::WorkflowQuery& query);

  // Updates. AdmitUpdate records the update (deduplicated by update id) and makes sure a
  // workflow task will carry it; UpdateState tells where it stands. NOT_FOUND: the workflow is
  // closed (or the update unknown, or aborted by the workflow's close).
  Result<UpdateStatus> AdmitUpdate(const std::string& namespace_id,
                                   const wfs::UpdateWorkflowExecutionRequest& request);
  Result<UpdateStatus> UpdateState(const persistence::ExecutionKey& key,
                                   const std::string& update_id);
  // The run an execution names (the current one when its run id is empty).
  Result<persistence::ExecutionKey> ResolveExecution(
      const std::string& namespace_id, const temporal::api::common::v1::WorkflowExecution& e) {
    return ResolveKey(namespace_id, e.workflow_id(), e.run_id());
  }

  // Resets a run (the named one, or the current) to a workflow task, as Temporal does
  // (history/reset.h): in one transaction the current run, if running, is terminated (identity
  // "history-resetter", the reset's reason) and a new run is created from the base run's
  // history up to request.workflow_task_finish_event_id; it becomes the current run. Returns
  // the new run's id; a retried request (same request id as the current run's create request
  // id) returns the run it made. INVALID_ARGUMENT for a reset point that is not a workflow
  // task's end; NOT_FOUND for an unknown workflow or run.
  Result<std::string> ResetWorkflowExecution(const std::string& namespace_id,
                                             const wfs::ResetWorkflowExecutionRequest& request);

  // Ends stickiness: the next workflow task goes to the normal queue with full history.
  Status ResetStickyTaskQueue(const std::string& namespace_id,
                              const temporal::api::common::v1::WorkflowExecution& execution);
  // Writes WorkflowExecutionCancelRequested and a workflow task; asking twice changes nothing.
  Status RequestCancelWorkflowExecution(const std::string& namespace_id,
                                        const wfs::RequestCancelWorkflowExecutionRequest& request);
  Result<wfs::DescribeWorkflowExecutionResponse> DescribeWorkflowExecution(
      const std::string& namespace_id,
      const temporal::api::common::v1::WorkflowExecution& execution);

  // One page of history. With close_event_only, only the close event (none while running).
  // `*at_end` is set when the run has no events past the page yet and is still running, i.e.
  // when a long poll should wait.
  Result<wfs::GetWorkflowExecutionHistoryResponse> GetWorkflowExecutionHistory(
      const std::string& namespace_id, const wfs::GetWorkflowExecutionHistoryRequest& request,
      bool* at_end, std::string* run_id);

  // Calls `fn` once, after the next change to the run is committed (on the committing thread:
  // `fn` must not wait), or with `wanted`, after the next one whose committed state it accepts
  // (so a reader waiting for the close event is not woken by every step). Returns an id for
  // Unwatch.
  using RunStatePredicate = std::function<bool(const eon::v1::ExecutionState&)>;
  uint64_t WatchRun(const std::string& namespace_id, const std::string& run_id,
                    std::function<void()> fn, RunStatePredicate wanted = nullptr);
  void Unwatch(uint64_t id);
  // Whether a watch is still waiting (it has not fired nor been removed).
  bool IsWatching(uint64_t id);

  // Outbox processing, called by the queue processors. Each checks mutable state first, so a
  // task that runs twice or late does nothing.
  Status ProcessTransferTask(const persistence::StoredTask& task,
                             std::function<void()> on_settled) override;
  Status ProcessTimerTask(const persistence::StoredTask& task) override;

  // Tasks that failed again and again and wait for an operator (see queue_processors.h).
  std::vector<ParkedTask> ParkedTasks();
  // Runs the named parked tasks again (all if `task_ids` is empty); returns how many.
  int RetryParkedTasks(const std::vector<int64_t>& task_ids);

 private:
  using MutateFn = std::function<Status(Mutation&)>;

  struct Signal {
    std::string name;
    temporal::api::common::v1::Payloads input;
    std::string identity;
    temporal::api::common::v1::Header header;
    std::string request_id;
    temporal::api::common::v1::WorkflowExecution external;  // the signalling workflow, if any
  };
  // REQUIRES (all ...Locked): the workflow id's lock held.
  Result<StartResult> StartLocked(const std::string& namespace_id,
                                  const wfs::StartWorkflowExecutionRequest& request,
                                  const Signal* signal,
                                  const eon::v1::ParentInfo* parent = nullptr);
  struct CancelRequest {
    std::string reason;
    std::string identity;
    std::string request_id;
    std::string first_execution_run_id;
    int64_t external_initiated_event_id = 0;  // from another workflow: its initiated event
    temporal::api::common::v1::WorkflowExecution external_execution;
  };
  Status RequestCancelLocked(const persistence::ExecutionKey& key, const CancelRequest& request);

  // Transfer tasks that act on a second execution (history/cross_execution.cc). Each takes one
  // execution's lock at a time, never two.
  Status StartChild(const eon::v1::HistoryTask& task);
  Status RecordChildClosed(const eon::v1::HistoryTask& task);
  Status ApplyParentClosePolicy(const eon::v1::HistoryTask& task);
  Status SignalOrCancelExternal(const eon::v1::HistoryTask& task);
  // Writes the run's visibility row from its current state (idempotent).
  Status UpsertVisibility(const eon::v1::HistoryTask& task);
  Status TerminateLocked(const persistence::ExecutionKey& key,
                         const wfs::TerminateWorkflowExecutionRequest& request);
  Status SignalLocked(const persistence::ExecutionKey& key, const Signal& signal);
  void AddSignal(Mutation& m, const Signal& signal);

  // The write that creates a run from its first update.
  persistence::ExecutionWrite NewRunWrite(Mutation m, const std::string& expected_current);
  // Fills a retry's or cron run's input and header from the previous run's start event.
  Status InheritInput(const persistence::ExecutionKey& previous, RunSpec* spec);
  RunDefaults run_defaults() const;
  // Terminates (in the same update) a run whose history passed the count or size limit.
  void EnforceHistoryLimits(Mutation& m);

  // The poll answer for a workflow task recorded started (`after`: the state it left).
  Result<wfs::PollWorkflowTaskQueueResponse> WorkflowTaskResponse(
      const persistence::ExecutionKey& key, const persistence::StoredExecution& after);

  int32_t ShardFor(const std::string& namespace_id, const std::string& workflow_id) const;
  std::mutex& LockFor(const std::string& namespace_id, const std::string& workflow_id);
  // The newest durable state: what reads answer from.
  Result<persistence::StoredExecution> Load(const persistence::ExecutionKey& key);
  // The state the next update builds on, commits in flight included.
  // REQUIRES: the execution's lock held.
  Result<persistence::StoredExecution> LoadForUpdate(const persistence::ExecutionKey& key);
  // A cache miss of either: read the store and fill the cache.
  Result<persistence::StoredExecution> LoadFromStore(const persistence::ExecutionKey& key);
  using QueryResults =
      google::protobuf::Map<std::string, temporal::api::query::v1::WorkflowQueryResult>;
  // What an update's caller hears: the outcome and, on success, the state after it.
  using Then = std::function<void(Status, const persistence::StoredExecution& after)>;
  // Applies `fn` to a copy of the latest state and submits the commit without waiting for it:
  // the cache holds the new state at once, so the next update builds on it. Once the commit is
  // durable, the outbox gets its tasks, watchers wake, held queries are settled
  // (`query_results`: answers from a workflow task completion) and `then` runs, on the store's
  // committer thread (so `then` must be short and must not wait on the engine). When `fn`
  // fails or changes nothing, `then` runs at once, on this thread.
  // REQUIRES: the execution's lock held.
  void MutateLockedAsync(const persistence::ExecutionKey& key, const MutateFn& fn,
                         std::shared_ptr<const QueryResults> query_results, Then then);
  // The same, taking the execution's lock for the update only, never across its commit.
  void MutateAsync(const persistence::ExecutionKey& key, const MutateFn& fn, Then then);
  // Submits `write` (see MutateLockedAsync for what happens when it is durable).
  void CommitAsync(std::shared_ptr<persistence::ExecutionWrite> write, int64_t busy_before,
                   std::function<void(Status)> then);
  // MutateLockedAsync, waiting for the commit with the execution's lock held.
  // REQUIRES: the execution's lock held.
  Status MutateLocked(const persistence::ExecutionKey& key, const MutateFn& fn,
                      persistence::StoredExecution* after,
                      const QueryResults* query_results = nullptr);
  // Answers held queries from `results`; lets the rest go directly once no workflow task is
  // left to carry them. REQUIRES: the execution's lock held.
  void SettleQueries(const persistence::ExecutionKey& key, const eon::v1::ExecutionState& state,
                     const QueryResults* results);
  Status Mutate(const persistence::ExecutionKey& key, const MutateFn& fn,
                persistence::StoredExecution* after = nullptr);
  // `busy_before`: BusyCount of the state the write replaces (0 for a new run).
  Status Commit(persistence::ExecutionWrite& write, int64_t busy_before);
  Result<std::string> CurrentRunId(const std::string& namespace_id, const std::string& workflow_id);
  Result<persistence::ExecutionKey> ResolveKey(const std::string& namespace_id,
                                               const std::string& workflow_id,
                                               const std::string& run_id);
  void NotifyWatchers(const std::string& namespace_id, const std::string& run_id,
                      const eon::v1::ExecutionState& committed);

  persistence::Store& store_;
  Env& env_;
  Clock& clock_;
  matching::MatchingEngine& matching_;
  Executor& task_executor_;
  const EngineOptions options_;

  int32_t shard_count_ = 0;
  std::vector<int64_t> range_ids_;  // set by Start, then read-only

  std::array<std::mutex, 1024> execution_locks_;
  std::unique_ptr<MutableStateCache> cache_;
  std::unique_ptr<QueryRegistry> queries_;
  std::unique_ptr<QueueProcessors> processors_;
  std::unique_ptr<TimeSkipper> time_skipper_;                      // only with time skipping
  std::function<std::string(const std::string&)> namespace_name_;  // set before Start
  std::function<Duration(const std::string&)> retention_;          // set before Start

  std::mutex watchers_mutex_;
  uint64_t next_watch_id_ = 1;  // guarded by watchers_mutex_
  struct Watcher {
    std::function<void()> fn;
    RunStatePredicate wanted;  // null: any commit
  };
  std::unordered_map<std::string, std::map<uint64_t, Watcher>> watchers_;
  std::unordered_map<uint64_t, std::string> watch_keys_;  // guarded by watchers_mutex_
};

}  // namespace eon::history
