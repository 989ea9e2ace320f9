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
#include <optional>
#include <string>
#include <unordered_map>

#include "cluster/ownership.h"
#include "common/clock.h"
#include "common/env.h"
#include "common/executor.h"
#include "common/status.h"
#include "eon/v1/state.pb.h"
#include "history/history_service.h"
#include "history/query_registry.h"
#include "history/queue_processors.h"
#include "history/task_handler.h"
#include "matching/matching_service.h"
#include "persistence/store.h"
#include "temporal/api/update/v1/message.pb.h"
#include "temporal/api/workflowservice/v1/request_response.pb.h"

namespace eon::history {

namespace wfs = temporal::api::workflowservice::v1;

// The history shard of an execution among `shard_count` (DESIGN.md section 3).
int32_t ShardOf(const std::string& namespace_id, const std::string& workflow_id,
                int32_t shard_count);

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

class TimeSkipper;
class MutableStateCache;
struct Mutation;
struct RunSpec;
struct RunDefaults;

class HistoryEngine final : public HistoryService, public TaskHandler {
 public:
  // Time and the outbox's loops come from `env` (time is env.clock()); outbox tasks run on
  // `task_executor`.
  HistoryEngine(persistence::Store& store, Env& env, matching::MatchingService& matching,
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

  // Several nodes on one database (cluster/ownership.h). Call before Start: the engine then
  // takes only the shards `ownership` gives this node, and takes and gives up shards as that
  // changes: when told (OwnershipChanged) and every `recheck_interval` (which also takes back a
  // shard lost to a node whose view was stale, once the views agree it is ours). Without it the
  // engine takes every shard at Start, and a shard it loses stays lost. `ownership` must outlive
  // the engine.
  void SetOwnership(const cluster::Ownership& ownership, Duration recheck_interval);
  // The assignment may have changed: the engine rechecks its shards soon, on a thread of its
  // own (this returns at once, so a membership heartbeat may call it).
  void OwnershipChanged();

  // Several nodes: the HistoryService through which outbox tasks reach other executions
  // (cluster::RoutingHistory, which hands each call to the owner of the target's shard). Call
  // before Start; without it they reach this engine. `service` must outlive the engine.
  void SetCrossExecutionService(HistoryService& service) { cross_history_ = &service; }

  // The history shard of an execution (in [0, shard count)); valid after Start.
  int32_t ShardFor(const std::string& namespace_id, const std::string& workflow_id) const;

  // Takes the shards (all, or those `ownership` gives this node), reloads their outbox and
  // starts the queue processors.
  Status Start();
  // Stops the queue processors; requests after this fail.
  void Stop();

  // Takes a shard: bumps its range_id (from then on the previous owner's writes to it fail),
  // loads its outbox (transfer tasks, timers) and serves it. No-op when held already.
  Status AcquireShard(int32_t shard_id);
  // Gives a shard up: its updates are refused with UNAVAILABLE naming the shard (the caller
  // retries, by then against the new owner), its queue work stops, its cached executions are
  // dropped. Reads of it are answered from the database. No-op when not held.
  void ReleaseShard(int32_t shard_id);
  // Whether this engine holds the shard now (acquired and neither released nor lost).
  bool HoldsShard(int32_t shard_id) const;
  // Whether it holds the shard a workflow id (or a schedule id: a node runs the schedules of the
  // shards it holds) falls in.
  bool HoldsShardOf(const std::string& namespace_id, const std::string& id) const {
    return HoldsShard(ShardFor(namespace_id, id));
  }
  int32_t shard_count() const { return shard_count_; }

  // HistoryService (history/history_service.h says what each call does).
  void StartWorkflowExecutionAsync(const std::string& namespace_id,
                                   const wfs::StartWorkflowExecutionRequest& request,
                                   std::function<void(Result<StartResult>)> done) override;
  void RecordWorkflowTaskStartedAsync(
      const eon::v1::QueueTask& task, const std::string& poll_request_id,
      const std::string& identity,
      std::function<void(Result<wfs::PollWorkflowTaskQueueResponse>)> done) override;
  void RecordActivityTaskStartedAsync(
      const eon::v1::QueueTask& task, const std::string& poll_request_id,
      const std::string& identity,
      std::function<void(Result<wfs::PollActivityTaskQueueResponse>)> done) override;
  // Here: the execution's state is cached and its lock is free right now.
  bool CanUpdateWithoutWaiting(const persistence::ExecutionKey& key) override;
  // Here: the shard is held, the workflow id's lock is free right now, no start of it is in
  // flight and the request sets no search attributes (their check reads the registry).
  bool StartsWithoutWaiting(const std::string& namespace_id,
                            const wfs::StartWorkflowExecutionRequest& request) override;
  bool OpenAndCached(const persistence::ExecutionKey& key) override;
  void RespondWorkflowTaskCompletedAsync(
      const eon::v1::TaskToken& token, const wfs::RespondWorkflowTaskCompletedRequest& request,
      std::function<void(Result<wfs::RespondWorkflowTaskCompletedResponse>)> done) override;
  void RespondWorkflowTaskFailedAsync(const eon::v1::TaskToken& token,
                                      const wfs::RespondWorkflowTaskFailedRequest& request,
                                      std::function<void(Status)> done) override;
  void RespondActivityTaskCompletedAsync(const eon::v1::TaskToken& token,
                                         const temporal::api::common::v1::Payloads& result,
                                         const std::string& identity,
                                         std::function<void(Status)> done) override;
  void RespondActivityTaskFailedAsync(const eon::v1::TaskToken& token,
                                      const temporal::api::failure::v1::Failure& failure,
                                      const temporal::api::common::v1::Payloads* last_heartbeat,
                                      const std::string& identity,
                                      std::function<void(Status)> done) override;
  void RespondActivityTaskCanceledAsync(const eon::v1::TaskToken& token,
                                        const temporal::api::common::v1::Payloads& details,
                                        const std::string& identity,
                                        std::function<void(Status)> done) override;
  Result<eon::v1::TaskToken> ActivityTokenById(const std::string& namespace_id,
                                               const std::string& workflow_id,
                                               const std::string& run_id,
                                               const std::string& activity_id) override;
  void RecordActivityTaskHeartbeatAsync(const eon::v1::TaskToken& token,
                                        const temporal::api::common::v1::Payloads& details,
                                        const std::string& identity,
                                        std::function<void(Result<bool>)> done) override;
  void TerminateWorkflowExecutionAsync(const std::string& namespace_id,
                                       const wfs::TerminateWorkflowExecutionRequest& request,
                                       std::function<void(Status)> done) override;
  Status DeleteWorkflowExecution(
      const std::string& namespace_id,
      const temporal::api::common::v1::WorkflowExecution& execution) override;
  void SignalWorkflowExecutionAsync(const std::string& namespace_id,
                                    const wfs::SignalWorkflowExecutionRequest& request,
                                    std::function<void(Status)> done) override;
  void SignalWithStartWorkflowExecutionAsync(
      const std::string& namespace_id, const wfs::SignalWithStartWorkflowExecutionRequest& request,
      std::function<void(Result<StartResult>)> done) override;
  Result<QueryTarget> PrepareQuery(const std::string& namespace_id,
                                   const temporal::api::common::v1::WorkflowExecution& execution,
                                   temporal::api::enums::v1::QueryRejectCondition condition,
                                   const std::string& query_id,
                                   const temporal::api::query::v1::WorkflowQuery& query,
                                   std::chrono::system_clock::time_point deadline,
                                   QueryWaiter waiter) override;
  bool ForgetQuery(const persistence::ExecutionKey& key, const std::string& query_id) override {
    return queries_->Remove(key, query_id);
  }
  Result<wfs::PollWorkflowTaskQueueResponse> QueryTaskResponse(
      const eon::v1::QueueTask& task, const std::string& query_id,
      const temporal::api::query::v1::WorkflowQuery& query) override;
  Result<UpdateStatus> AdmitUpdate(const std::string& namespace_id,
                                   const wfs::UpdateWorkflowExecutionRequest& request) override;
  Result<UpdateStatus> UpdateState(const persistence::ExecutionKey& key,
                                   const std::string& update_id) override;
  Result<persistence::ExecutionKey> ResolveExecution(
      const std::string& namespace_id,
      const temporal::api::common::v1::WorkflowExecution& e) override {
    return ResolveKey(namespace_id, e.workflow_id(), e.run_id());
  }
  // As Temporal does: in one transaction the current run, if running, is terminated (identity
  // "history-resetter", the reset's reason) and a new run is created from the base run's
  // history up to request.workflow_task_finish_event_id; it becomes the current run. A retried
  // request (same request id as the current run's create request id) returns the run it made.
  // INVALID_ARGUMENT for a reset point that is not a workflow task's end; NOT_FOUND for an
  // unknown workflow or run.
  Result<std::string> ResetWorkflowExecution(
      const std::string& namespace_id, const wfs::ResetWorkflowExecutionRequest& request) override;
  Status ResetStickyTaskQueue(
      const std::string& namespace_id,
      const temporal::api::common::v1::WorkflowExecution& execution) override;
  void RequestCancelWorkflowExecutionAsync(
      const std::string& namespace_id, const wfs::RequestCancelWorkflowExecutionRequest& request,
      std::function<void(Status)> done) override;
  Result<wfs::DescribeWorkflowExecutionResponse> DescribeWorkflowExecution(
      const std::string& namespace_id,
      const temporal::api::common::v1::WorkflowExecution& execution) override;
  Result<wfs::GetWorkflowExecutionHistoryResponse> GetWorkflowExecutionHistory(
      const std::string& namespace_id, const wfs::GetWorkflowExecutionHistoryRequest& request,
      bool* at_end, std::string* run_id) override;
  uint64_t WatchRun(const persistence::ExecutionKey& run, RunWatch fn, RunStatePredicate wanted,
                    RunGone gone) override;
  void Unwatch(uint64_t id) override;
  bool IsWatching(uint64_t id) override;
  void StartChildWorkflowExecutionAsync(const std::string& namespace_id,
                                        const wfs::StartWorkflowExecutionRequest& request,
                                        const eon::v1::ParentInfo& parent,
                                        std::function<void(Result<StartResult>)> done) override;
  void DeliverExternalRequestAsync(const eon::v1::ExternalRequest& request,
                                   const temporal::api::common::v1::WorkflowExecution& source,
                                   std::function<void(Status)> done) override;
  void RecordChildClosedAsync(const persistence::ExecutionKey& parent, int64_t initiated_event_id,
                              const temporal::api::common::v1::WorkflowExecution& child,
                              const std::string& workflow_type,
                              const temporal::api::history::v1::HistoryEvent& close_event,
                              std::function<void(Status)> done) override;
  std::vector<ParkedTask> ParkedTasks() override;
  int RetryParkedTasks(const std::vector<int64_t>& task_ids) override;

  // Outbox processing, called by the queue processors. Each checks mutable state first, so a
  // task that runs twice or late does nothing. A task that changes its own execution answers
  // once the change is durable, without holding a thread; so do those that reach a second
  // execution (history/cross_execution.cc), which may be on another node.
  void ProcessTransferTask(const persistence::StoredTask& task, std::function<void()> on_settled,
                           Done done) override;
  void ProcessTimerTask(const persistence::StoredTask& task, Done done) override;
  // A task that dispatches a workflow or activity task, handed here to a poll parked on its
  // queue when the execution's lock is free right now and its state cached: the poll's
  // record-started runs on this thread, and the task skips the task pool (a thread hop per
  // dispatch; the store's committer calls this as a commit's tasks come out).
  bool TryDispatchWithoutWaiting(const persistence::StoredTask& task,
                                 std::function<void()> on_settled) override;

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
  // Starts a run: `done` hears once the new run is durable (the lock may be released before).
  // `guess_absent`: when no start of the workflow id is in flight, assume it has no current run
  // instead of reading the store (the commit checks that); a start that finds one after all is
  // made again the usual way, on the task pool.
  void StartLockedAsync(const std::string& namespace_id,
                        const wfs::StartWorkflowExecutionRequest& request, const Signal* signal,
                        const eon::v1::ParentInfo* parent,
                        std::function<void(Result<StartResult>)> done, bool guess_absent = false);
  // StartLockedAsync, waiting for the commit with the lock held.
  Result<StartResult> StartLocked(const std::string& namespace_id,
                                  const wfs::StartWorkflowExecutionRequest& request,
                                  const Signal* signal,
                                  const eon::v1::ParentInfo* parent = nullptr);
  // What a start decided: an answer without a change (a retried request, an existing run to
  // use), or a new run to commit (`write`), answered with `result` once durable.
  struct StartDecision {
    StartResult result;
    std::shared_ptr<persistence::ExecutionWrite> write;
    bool guessed = false;  // the write assumes the workflow id has no current run (unread)
  };
  Result<StartDecision> DecideStartLocked(const std::string& namespace_id,
                                          const wfs::StartWorkflowExecutionRequest& request,
                                          const Signal* signal, const eon::v1::ParentInfo* parent,
                                          bool guess_absent = false);
  // The workflow id's current run as the next start sees it: a started run whose commit is in
  // flight (unless that start only guessed there was none, when the store's wins), else the
  // store's. With `guess_absent` and no start in flight: NOT_FOUND without a read, and
  // `*guessed` set. REQUIRES: the workflow id's lock held.
  Result<persistence::CurrentExecution> CurrentForUpdate(const std::string& namespace_id,
                                                         const std::string& workflow_id,
                                                         bool guess_absent = false,
                                                         bool* guessed = nullptr);
  struct CancelRequest {
    std::string reason;
    std::string identity;
    std::string request_id;
    std::string first_execution_run_id;
    int64_t external_initiated_event_id = 0;  // from another workflow: its initiated event
    temporal::api::common::v1::WorkflowExecution external_execution;
  };
  Status RequestCancelLocked(const persistence::ExecutionKey& key, const CancelRequest& request);

  // Transfer tasks that act on a second execution (history/cross_execution.cc), through
  // cross_history_. Each holds no lock while the other execution is acted on, and answers `done`
  // once the task may be deleted (OK) or must be retried (an error).
  void StartChild(const eon::v1::HistoryTask& task, Done done);
  // StartChild's second step: the child's start (or its failure) recorded in the parent.
  void RecordChildStarted(
      const eon::v1::HistoryTask& task, const persistence::ExecutionKey& parent_key,
      const std::string& namespace_id,
      const temporal::api::history::v1::StartChildWorkflowExecutionInitiatedEventAttributes& a,
      const Result<StartResult>& started, Done done);
  void RecordChildClosed(const eon::v1::HistoryTask& task, Done done);
  void ApplyParentClosePolicy(const eon::v1::HistoryTask& task, Done done);
  void SignalOrCancelExternal(const eon::v1::HistoryTask& task, Done done);
  // SignalOrCancelExternal's second step: the delivery's outcome recorded in the source.
  void RecordExternalOutcome(const eon::v1::HistoryTask& task,
                             const persistence::ExecutionKey& source_key,
                             const eon::v1::ExternalRequest& request, const Status& delivered,
                             Done done);
  // Runs `next` on the task executor: the answer of a call to another execution arrives on the
  // store's committer or a network thread, where no execution's lock may be taken. After Stop,
  // answers `done` UNAVAILABLE instead (the task runs again at the next start).
  void AfterCrossCall(Done done, std::function<void()> next);
  // Writes the run's visibility row from its current state (idempotent).
  Status UpsertVisibility(const eon::v1::HistoryTask& task);
  Status TerminateLocked(const persistence::ExecutionKey& key,
                         const wfs::TerminateWorkflowExecutionRequest& request);
  // The changes of a terminate, a signal and a cancel request (the callers keep the request
  // alive while the update applies them).
  static MutateFn TerminateFn(const wfs::TerminateWorkflowExecutionRequest& request);
  MutateFn SignalFn(const Signal& signal);
  static MutateFn RequestCancelFn(const CancelRequest& request);
  Status SignalLocked(const persistence::ExecutionKey& key, const Signal& signal);
  void AddSignal(Mutation& m, const Signal& signal);

  // The write that creates a run from its first update.
  persistence::ExecutionWrite NewRunWrite(Mutation m, const std::string& expected_current);
  // Fills a retry's or cron run's input and header from the previous run's start event.
  Status InheritInput(const persistence::ExecutionKey& previous, RunSpec* spec);
  RunDefaults run_defaults() const;
  // Terminates (in the same update) a run whose history passed the count or size limit.
  void EnforceHistoryLimits(Mutation& m);

  // The poll answer for a workflow task recorded started (`s`: the state it left), carrying
  // `queries` (those held when it started), all but its history.
  using HeldQueries = std::map<std::string, temporal::api::query::v1::WorkflowQuery>;
  static wfs::PollWorkflowTaskQueueResponse WorkflowTaskResponse(const eon::v1::ExecutionState& s,
                                                                 const HeldQueries& queries);
  // Adds the history that answer carries from the cache's tail of the run's events; false (and
  // `response` unchanged) when the cache does not hold all of it.
  bool AddCachedTaskHistory(const persistence::ExecutionKey& key, const eon::v1::ExecutionState& s,
                            wfs::PollWorkflowTaskQueueResponse& response);
  // Adds that history read from the store (a first page, with a token for the rest).
  Result<wfs::PollWorkflowTaskQueueResponse> AddStoredTaskHistory(
      const eon::v1::ExecutionState& s, wfs::PollWorkflowTaskQueueResponse response);
  // Records the scheduled workflow task started by the poll `poll_request_id` of `identity`:
  // its event (none for a retry's transient task), and its start-to-close timer.
  static void MarkWorkflowTaskStarted(Mutation& m, const std::string& poll_request_id,
                                      const std::string& identity);
  // The poll answer for the workflow task `s` shows started (cached history, else read on the
  // task pool for a long one).
  void AnswerStartedWorkflowTask(
      const persistence::ExecutionKey& key, const eon::v1::ExecutionState& s,
      const HeldQueries& queries,
      std::function<void(Result<wfs::PollWorkflowTaskQueueResponse>)> done);
  // Tasks that a write schedules and, in the same commit, starts: a poll was parked on each
  // one's queue when the write was made (one commit instead of two, the second recording the
  // start). The claimed polls are answered once the commit is durable; a workflow task's with
  // the held queries taken when it was claimed.
  struct StartedWithCommit {
    std::shared_ptr<matching::WorkflowPollClaim> workflow;  // may be null
    HeldQueries queries;
    std::vector<std::pair<int64_t, std::shared_ptr<matching::ActivityPollClaim>>> activities;
    // The commit failed: every claimed poll waits on its queue again.
    void Release() {
      if (workflow) workflow->Release();
      for (auto& [id, claim] : activities) claim->Release();
    }
  };
  // Claims a poll parked on the queue of each workflow or activity task `write` schedules and
  // records those tasks started in `write`; nullptr (and `write` unchanged) when no poll waits
  // for any. A retry's transient workflow task is left to the usual dispatch.
  std::shared_ptr<StartedWithCommit> StartWithParkedPolls(persistence::ExecutionWrite& write);

  // A shard is lost when a commit finds that another process took it (its range_id moved on,
  // DESIGN.md's fencing): its cached executions are dropped, so nothing is answered from state
  // this process no longer owns, and every later update of it is refused with ShardLostError.
  // `range_id`: of the write that found it taken; a shard taken again since is not lost.
  bool ShardLost(int32_t shard_id) const;
  void LoseShard(int32_t shard_id, int64_t range_id);
  static Status ShardLostError(int32_t shard_id);
  // The error of an update to a shard this engine does not hold (lost, released, never taken).
  Status NotHeldError(int32_t shard_id) const;
  // Drops the cached executions of a shard.
  void ForgetShard(int32_t shard_id);
  // Takes and gives up shards as the ownership says. Runs on the ownership loop (and Start).
  void ReconcileShards();
  std::mutex& LockFor(const std::string& namespace_id, const std::string& workflow_id);
  // The execution lock this thread holds while TryDispatchWithoutWaiting hands a task to a
  // poll (null otherwise): the poll's record-started, run inside, takes it as held.
  static thread_local std::mutex* held_execution_lock;
  class HeldExecutionLock {
   public:
    explicit HeldExecutionLock(std::mutex& mutex) { held_execution_lock = &mutex; }
    ~HeldExecutionLock() { held_execution_lock = nullptr; }
    HeldExecutionLock(const HeldExecutionLock&) = delete;
    HeldExecutionLock& operator=(const HeldExecutionLock&) = delete;
  };
  // Where a dispatch transfer task goes, if its task is still to be dispatched in state `s`.
  struct Dispatch {
    matching::QueueId queue;
    eon::v1::QueueTask task;
    bool sticky;
  };
  std::optional<Dispatch> DispatchOf(const eon::v1::HistoryTask& task,
                                     const eon::v1::ExecutionState& s);
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
  // A Then for a caller that hears only the status.
  static Then StatusOnly(std::function<void(Status)> done) {
    return [done = std::move(done)](Status status, const persistence::StoredExecution&) {
      done(std::move(status));
    };
  }
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
  // `conflict_expected`: a write that may find its condition broken (a guessed start): ABORTED
  // is answered as it is, not logged.
  void CommitAsync(std::shared_ptr<persistence::ExecutionWrite> write, int64_t busy_before,
                   std::function<void(Status)> then, bool conflict_expected = false);
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
                      const eon::v1::ExecutionState& committed,
                      const std::vector<temporal::api::history::v1::HistoryEvent>& new_events);

  persistence::Store& store_;
  Env& env_;
  Clock& clock_;
  matching::MatchingService& matching_;
  Executor& task_executor_;
  const EngineOptions options_;

  int32_t shard_count_ = 0;
  // By shard: the range_id this engine holds it under, 0 when not held. Sized by Start.
  std::unique_ptr<std::atomic<int64_t>[]> range_ids_;
  // By shard: another process took it (a commit found its range_id moved on) and it was not
  // taken back since; only names the cause in NotHeldError. Sized by Start.
  std::unique_ptr<std::atomic<bool>[]> shard_lost_;
  // Ownership::LeaseEpoch as of the last ReconcileShards; read and written only there (and
  // in Start, before the loop that runs it).
  uint64_t reconciled_lease_epoch_ = 0;
  // Serializes AcquireShard and ReleaseShard (never held by a commit's continuation).
  std::mutex shards_mutex_;
  const cluster::Ownership* ownership_ = nullptr;  // set before Start; null: every shard is ours
  Duration ownership_recheck_interval_{};
  std::unique_ptr<Env::Loop> ownership_loop_;  // with ownership_: set by Start, reset by Stop

  std::array<std::mutex, 1024> execution_locks_;
  std::unique_ptr<MutableStateCache> cache_;
  std::unique_ptr<QueryRegistry> queries_;
  std::unique_ptr<QueueProcessors> processors_;
  std::unique_ptr<TimeSkipper> time_skipper_;                      // only with time skipping
  std::function<std::string(const std::string&)> namespace_name_;  // set before Start
  std::function<Duration(const std::string&)> retention_;          // set before Start
  HistoryService* cross_history_ = this;                           // set before Start
  std::mutex stop_mutex_;
  bool stopped_ = false;  // guarded by stop_mutex_

  // Runs started and not durable yet, by PendingKey (CurrentForUpdate).
  static std::string PendingKey(const std::string& namespace_id, const std::string& workflow_id) {
    return namespace_id + '\0' + workflow_id;
  }
  struct PendingStart {
    persistence::CurrentExecution run;
    bool guessed = false;  // started on the guess that the workflow id had no current run
  };
  std::mutex pending_current_mutex_;
  std::unordered_map<std::string, PendingStart> pending_current_;

  std::mutex watchers_mutex_;
  uint64_t next_watch_id_ = 1;  // guarded by watchers_mutex_
  struct Watcher {
    RunWatch fn;
    RunStatePredicate wanted;  // null: any commit
    RunGone gone;
    int32_t shard;
  };
  // For a shard given up or lost: ends the watches on its runs (their `gone`) and fails the
  // queries held for its executions' workflow tasks, both with UNAVAILABLE, so their callers ask
  // again and reach the new owner.
  void EndShardWaits(int32_t shard_id);
  // Removes watch `id` and returns it; nullopt when it is gone already.
  // REQUIRES: watchers_mutex_ held.
  std::optional<Watcher> TakeWatchLocked(uint64_t id);
  std::unordered_map<std::string, std::map<uint64_t, Watcher>> watchers_;
  std::unordered_map<uint64_t, std::string> watch_keys_;  // guarded by watchers_mutex_
};

}  // namespace eon::history
