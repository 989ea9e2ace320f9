// cluster routing: how a node serves its part of the work when several share one database
// (docs/architecture.md, "Several nodes"). Three pieces, each used only when the server runs
// with an Ownership and an internal port; a lone node installs none of them and pays nothing.
//
// - ClusterForwarder (the edge): a WorkflowService call that names one execution (start,
//   signal, query, update, describe, history, terminate, a task token's respond call...) is
//   forwarded whole to the owner of its shard; a poll or DescribeTaskQueue to the owner of its
//   task queue; a ShutdownWorker is answered here and passed on to every other live node (the
//   worker's polls wait on the owners of its queues). The owner serves it on its internal port,
//   where calls are never forwarded again: a node that lost the work in between answers
//   UNAVAILABLE and the client retries.
// - RoutingHistory (matching's, the outbox's, the scheduler's and the admin calls' view of
//   history): a poll parked on the queue's owner has the shard's owner record the task started
//   (InternalService/Record...TaskStarted); an outbox task that acts on another execution (a
//   child's start, the child's close told to its parent, a parent close policy, a signal or
//   cancel request to another workflow) and a schedule's start have the owner of that
//   execution's shard act (InternalService/StartWorkflow, DeliverExternalRequest, ...); the
//   parked-task calls cover every node that owns shards.
// - RoutingMatching (history's and the frontend's view of matching): the outbox hands a task to
//   the owner of its queue (InternalService/AddTask, answered once it is in the backlog there),
//   and a query task goes to the queue's owner (AddQuery / RemoveQuery); the owner asks back for
//   the poll answer (QueryTaskResponse), which is also how the query's caller here hears that
//   the workflow was gone.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "cluster/node_client.h"
#include "cluster/ownership.h"
#include "frontend/rpc.h"
#include "history/history_service.h"
#include "matching/local_matching.h"
#include "matching/matching_service.h"
#include "namespaces/registry.h"

namespace eon::cluster {

namespace wfs = temporal::api::workflowservice::v1;

inline constexpr char kInternalService[] = "eon.v1.InternalService";
// How long a node waits for another to settle a task or a query task it hands over.
inline constexpr std::chrono::seconds kHandOverTimeout{30};
// How long a ShutdownWorker passed on to the other nodes may take there.
inline constexpr std::chrono::seconds kShutdownWorkerBroadcastTimeout{5};

// The history shard of an execution (HistoryEngine::ShardFor).
using ShardOf = std::function<int32_t(const std::string& namespace_id, const std::string& wf_id)>;

class ClusterForwarder final : public frontend::Forwarder {
 public:
  ClusterForwarder(const Ownership& ownership, const namespaces::Registry& namespaces,
                   ShardOf shard_of, NodeClients& clients)
      : ownership_(ownership),
        namespaces_(namespaces),
        shard_of_(std::move(shard_of)),
        clients_(clients) {}

  Result<std::string> OwnerOf(const std::string& full_method,
                              const google::protobuf::Message& request) override;
  void Forward(const std::string& address, const std::string& full_method,
               const grpc::ByteBuffer& request, std::shared_ptr<frontend::CallContext> ctx,
               std::function<void(const grpc::Status&, grpc::ByteBuffer*)> done) override;

 private:
  const Ownership& ownership_;
  const namespaces::Registry& namespaces_;
  const ShardOf shard_of_;
  NodeClients& clients_;
};

// "" when `node` is this one; its internal address otherwise; UNAVAILABLE when no live node
// with an address owns the work.
Result<std::string> RemoteAddress(const Ownership& ownership, const Node& node,
                                  const std::string& what);

class RoutingMatching;

// The HistoryService that LocalMatching, the history engine's cross-execution outbox tasks
// (HistoryEngine::SetCrossExecutionService), the scheduler and the admin calls see: the poll
// handshake's calls, the starts, terminates and cancel requests, and the cross-execution calls
// go to the owner of the execution's shard; the parked-task calls to every node that owns a
// shard; everything else is this node's engine (the frontend's calls were sent whole to the
// owner at the edge). A remote call answers `done` on a network thread, never waiting there.
class RoutingHistory final : public history::HistoryService {
 public:
  // `shard_count`: the number of history shards (valid once the local engine started).
  RoutingHistory(history::HistoryService& local, const Ownership& ownership, ShardOf shard_of,
                 std::function<int32_t()> shard_count, NodeClients& clients)
      : local_(local),
        ownership_(ownership),
        shard_of_(std::move(shard_of)),
        shard_count_(std::move(shard_count)),
        clients_(clients) {}

  void RecordWorkflowTaskStartedAsync(
      const eon::v1::QueueTask& task, const std::string& poll_request_id,
      const std::string& identity,
      std::function<void(Result<wfs::PollWorkflowTaskQueueResponse>)> done) override;
  void RecordActivityTaskStartedAsync(
      const eon::v1::QueueTask& task, const std::string& poll_request_id,
      const std::string& identity,
      std::function<void(Result<wfs::PollActivityTaskQueueResponse>)> done) override;
  bool CanUpdateWithoutWaiting(const persistence::ExecutionKey& key) override;
  bool OpenAndCached(const persistence::ExecutionKey& key) override {
    return ownership_.OwnsShard(shard_of_(key.namespace_id, key.workflow_id)) &&
           local_.OpenAndCached(key);
  }
  // Only for a start this node makes (a remote one is sent from a pool thread, as before).
  bool StartsWithoutWaiting(const std::string& namespace_id,
                            const wfs::StartWorkflowExecutionRequest& request) override {
    return ownership_.OwnsShard(shard_of_(namespace_id, request.workflow_id())) &&
           local_.StartsWithoutWaiting(namespace_id, request);
  }
  Result<wfs::PollWorkflowTaskQueueResponse> QueryTaskResponse(
      const eon::v1::QueueTask& task, const std::string& query_id,
      const temporal::api::query::v1::WorkflowQuery& query) override;

  void StartWorkflowExecutionAsync(const std::string& namespace_id,
                                   const wfs::StartWorkflowExecutionRequest& request,
                                   std::function<void(Result<history::StartResult>)> done) override;
  void StartChildWorkflowExecutionAsync(
      const std::string& namespace_id, const wfs::StartWorkflowExecutionRequest& request,
      const eon::v1::ParentInfo& parent,
      std::function<void(Result<history::StartResult>)> done) override;
  void TerminateWorkflowExecutionAsync(const std::string& namespace_id,
                                       const wfs::TerminateWorkflowExecutionRequest& request,
                                       std::function<void(Status)> done) override;
  void RequestCancelWorkflowExecutionAsync(
      const std::string& namespace_id, const wfs::RequestCancelWorkflowExecutionRequest& request,
      std::function<void(Status)> done) override;
  void DeliverExternalRequestAsync(const eon::v1::ExternalRequest& request,
                                   const temporal::api::common::v1::WorkflowExecution& source,
                                   std::function<void(Status)> done) override;
  void RecordChildClosedAsync(const persistence::ExecutionKey& parent, int64_t initiated_event_id,
                              const temporal::api::common::v1::WorkflowExecution& child,
                              const std::string& workflow_type,
                              const temporal::api::history::v1::HistoryEvent& close_event,
                              std::function<void(Status)> done) override;
  // Every node's that owns a shard (a node that cannot be reached is left out, and logged).
  std::vector<persistence::ParkedTask> ParkedTasks() override;
  int RetryParkedTasks(const std::vector<int64_t>& task_ids) override;

  // The rest is this node's own.
  void RespondWorkflowTaskCompletedAsync(
      const eon::v1::TaskToken& token, const wfs::RespondWorkflowTaskCompletedRequest& request,
      std::function<void(Result<wfs::RespondWorkflowTaskCompletedResponse>)> done) override {
    local_.RespondWorkflowTaskCompletedAsync(token, request, std::move(done));
  }
  void RespondWorkflowTaskFailedAsync(const eon::v1::TaskToken& token,
                                      const wfs::RespondWorkflowTaskFailedRequest& request,
                                      std::function<void(Status)> done) override {
    local_.RespondWorkflowTaskFailedAsync(token, request, std::move(done));
  }
  void RespondActivityTaskCompletedAsync(const eon::v1::TaskToken& token,
                                         const temporal::api::common::v1::Payloads& result,
                                         const std::string& identity,
                                         std::function<void(Status)> done) override {
    local_.RespondActivityTaskCompletedAsync(token, result, identity, std::move(done));
  }
  void RespondActivityTaskFailedAsync(const eon::v1::TaskToken& token,
                                      const temporal::api::failure::v1::Failure& failure,
                                      const temporal::api::common::v1::Payloads* last_heartbeat,
                                      const std::string& identity,
                                      std::function<void(Status)> done) override {
    local_.RespondActivityTaskFailedAsync(token, failure, last_heartbeat, identity,
                                          std::move(done));
  }
  void RespondActivityTaskCanceledAsync(const eon::v1::TaskToken& token,
                                        const temporal::api::common::v1::Payloads& details,
                                        const std::string& identity,
                                        std::function<void(Status)> done) override {
    local_.RespondActivityTaskCanceledAsync(token, details, identity, std::move(done));
  }
  Result<eon::v1::TaskToken> ActivityTokenById(const std::string& namespace_id,
                                               const std::string& workflow_id,
                                               const std::string& run_id,
                                               const std::string& activity_id) override {
    return local_.ActivityTokenById(namespace_id, workflow_id, run_id, activity_id);
  }
  void RecordActivityTaskHeartbeatAsync(const eon::v1::TaskToken& token,
                                        const temporal::api::common::v1::Payloads& details,
                                        const std::string& identity,
                                        std::function<void(Result<bool>)> done) override {
    local_.RecordActivityTaskHeartbeatAsync(token, details, identity, std::move(done));
  }
  Status DeleteWorkflowExecution(
      const std::string& namespace_id,
      const temporal::api::common::v1::WorkflowExecution& execution) override {
    return local_.DeleteWorkflowExecution(namespace_id, execution);
  }
  void SignalWorkflowExecutionAsync(const std::string& namespace_id,
                                    const wfs::SignalWorkflowExecutionRequest& request,
                                    std::function<void(Status)> done) override {
    local_.SignalWorkflowExecutionAsync(namespace_id, request, std::move(done));
  }
  void SignalWithStartWorkflowExecutionAsync(
      const std::string& namespace_id, const wfs::SignalWithStartWorkflowExecutionRequest& request,
      std::function<void(Result<history::StartResult>)> done) override {
    local_.SignalWithStartWorkflowExecutionAsync(namespace_id, request, std::move(done));
  }
  Result<history::QueryTarget> PrepareQuery(
      const std::string& namespace_id,
      const temporal::api::common::v1::WorkflowExecution& execution,
      temporal::api::enums::v1::QueryRejectCondition condition, const std::string& query_id,
      const temporal::api::query::v1::WorkflowQuery& query,
      std::chrono::system_clock::time_point deadline, history::QueryWaiter waiter) override {
    return local_.PrepareQuery(namespace_id, execution, condition, query_id, query, deadline,
                               std::move(waiter));
  }
  bool ForgetQuery(const persistence::ExecutionKey& key, const std::string& query_id) override {
    return local_.ForgetQuery(key, query_id);
  }
  Result<history::UpdateStatus> AdmitUpdate(
      const std::string& namespace_id,
      const wfs::UpdateWorkflowExecutionRequest& request) override {
    return local_.AdmitUpdate(namespace_id, request);
  }
  Result<history::UpdateStatus> UpdateState(const persistence::ExecutionKey& key,
                                            const std::string& update_id) override {
    return local_.UpdateState(key, update_id);
  }
  Result<persistence::ExecutionKey> ResolveExecution(
      const std::string& namespace_id,
      const temporal::api::common::v1::WorkflowExecution& e) override {
    return local_.ResolveExecution(namespace_id, e);
  }
  Result<std::string> ResetWorkflowExecution(
      const std::string& namespace_id, const wfs::ResetWorkflowExecutionRequest& request) override {
    return local_.ResetWorkflowExecution(namespace_id, request);
  }
  Status ResetStickyTaskQueue(
      const std::string& namespace_id,
      const temporal::api::common::v1::WorkflowExecution& execution) override {
    return local_.ResetStickyTaskQueue(namespace_id, execution);
  }
  Result<wfs::DescribeWorkflowExecutionResponse> DescribeWorkflowExecution(
      const std::string& namespace_id,
      const temporal::api::common::v1::WorkflowExecution& execution) override {
    return local_.DescribeWorkflowExecution(namespace_id, execution);
  }
  Result<wfs::GetWorkflowExecutionHistoryResponse> GetWorkflowExecutionHistory(
      const std::string& namespace_id, const wfs::GetWorkflowExecutionHistoryRequest& request,
      bool* at_end, std::string* run_id) override {
    return local_.GetWorkflowExecutionHistory(namespace_id, request, at_end, run_id);
  }
  uint64_t WatchRun(const persistence::ExecutionKey& run, RunWatch fn, RunStatePredicate wanted,
                    RunGone gone) override {
    return local_.WatchRun(run, std::move(fn), std::move(wanted), std::move(gone));
  }
  void Unwatch(uint64_t id) override { local_.Unwatch(id); }
  bool IsWatching(uint64_t id) override { return local_.IsWatching(id); }

 private:
  // "" when this node owns the execution's shard, else the owner's internal address.
  Result<std::string> OwnerOf(const std::string& namespace_id,
                              const std::string& workflow_id) const;
  Result<std::string> OwnerOf(const eon::v1::QueueTask& task) const {
    return OwnerOf(task.namespace_id(), task.workflow_id());
  }
  // The internal addresses of the other nodes that own shards now.
  std::vector<std::string> OtherShardOwners() const;

  history::HistoryService& local_;
  const Ownership& ownership_;
  const ShardOf shard_of_;
  const std::function<int32_t()> shard_count_;
  NodeClients& clients_;
};

// The MatchingService history and the frontend see: tasks and query tasks go to the owner of
// their queue; polls, which the edge already sent to the queue's owner, are this node's.
class RoutingMatching final : public matching::MatchingService {
 public:
  RoutingMatching(matching::MatchingService& local, const Ownership& ownership,
                  NodeClients& clients)
      : local_(local), ownership_(ownership), clients_(clients) {}

  // Waits (on the outbox's thread) until the owner has the task settled.
  Status AddTask(const matching::QueueId& queue, const eon::v1::QueueTask& task,
                 std::function<void()> on_settled, bool sticky) override;
  // Only for a queue this node owns (a remote one would mean a call to wait for).
  bool TryHandToPoller(const matching::QueueId& queue, const eon::v1::QueueTask& task,
                       std::function<void()> on_settled) override {
    return OwnedHere(queue) && local_.TryHandToPoller(queue, task, std::move(on_settled));
  }
  // Likewise.
  std::shared_ptr<matching::WorkflowPollClaim> ClaimWorkflowPoll(
      const matching::QueueId& queue) override {
    return OwnedHere(queue) ? local_.ClaimWorkflowPoll(queue) : nullptr;
  }
  std::shared_ptr<matching::ActivityPollClaim> ClaimActivityPoll(
      const matching::QueueId& queue) override {
    return OwnedHere(queue) ? local_.ClaimActivityPoll(queue) : nullptr;
  }
  std::shared_ptr<matching::PendingPoll> PollWorkflowTaskQueue(
      const matching::PollRequest& request,
      std::function<void(Result<wfs::PollWorkflowTaskQueueResponse>)> done) override {
    return local_.PollWorkflowTaskQueue(request, std::move(done));
  }
  std::shared_ptr<matching::PendingPoll> PollActivityTaskQueue(
      const matching::PollRequest& request,
      std::function<void(Result<wfs::PollActivityTaskQueueResponse>)> done) override {
    return local_.PollActivityTaskQueue(request, std::move(done));
  }
  void ShutdownWorker(const std::string& namespace_id, const std::string& sticky_queue,
                      const std::string& identity,
                      const std::string& worker_instance_key) override {
    local_.ShutdownWorker(namespace_id, sticky_queue, identity, worker_instance_key);
  }
  Status AddQuery(const matching::QueueId& queue, matching::MatchedTask query,
                  bool sticky) override;
  bool RemoveQuery(const matching::QueueId& queue, const std::string& query_id) override;
  matching::MatchingEngine::QueueDescription Describe(const matching::QueueId& queue) override {
    return local_.Describe(queue);
  }

  // A query task held on another node was taken by a poller there: forgets it here and returns
  // how its caller hears that it could not be delivered (null if it was not held for another
  // node).
  std::function<void(Status)> TakeRemoteQuery(const std::string& query_id);

 private:
  Result<std::string> OwnerOf(const matching::QueueId& queue) const;
  // This node owns the queue (its owner is known and is this node).
  bool OwnedHere(const matching::QueueId& queue) const {
    auto owner = OwnerOf(queue);
    return owner.ok() && owner->empty();
  }

  matching::MatchingService& local_;
  const Ownership& ownership_;
  NodeClients& clients_;
  std::mutex mutex_;
  // Query tasks this node's callers wait on, held by other nodes' matching.
  std::map<std::string, std::function<void(Status)>> remote_queries_;  // guarded by mutex_
};

// Serves eon.v1.InternalService on a node's internal router, over this node's own history and
// matching (and `routing`, for query tasks other nodes hold).
void RegisterInternalService(frontend::RpcRouter& internal, history::HistoryService& local_history,
                             matching::LocalMatching& local_matching, RoutingMatching& routing);

}  // namespace eon::cluster
