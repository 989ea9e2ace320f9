#include "cluster/routing.h"

#include <algorithm>
#include <set>

#include "common/await.h"
#include "common/log.h"
#include "eon/v1/admin.pb.h"
#include "eon/v1/internal.pb.h"
#include "matching/local_matching.h"

namespace eon::cluster {

namespace pb = google::protobuf;

namespace {

constexpr char kWorkflowServicePrefix[] = "/temporal.api.workflowservice.v1.WorkflowService/";
constexpr char kRecordWorkflowTaskStarted[] = "/eon.v1.InternalService/RecordWorkflowTaskStarted";
constexpr char kRecordActivityTaskStarted[] = "/eon.v1.InternalService/RecordActivityTaskStarted";
constexpr char kAddTask[] = "/eon.v1.InternalService/AddTask";
constexpr char kAddQuery[] = "/eon.v1.InternalService/AddQuery";
constexpr char kRemoveQuery[] = "/eon.v1.InternalService/RemoveQuery";
constexpr char kQueryTaskResponse[] = "/eon.v1.InternalService/QueryTaskResponse";
constexpr char kStartWorkflow[] = "/eon.v1.InternalService/StartWorkflow";
constexpr char kTerminateWorkflow[] = "/eon.v1.InternalService/TerminateWorkflow";
constexpr char kRequestCancelWorkflow[] = "/eon.v1.InternalService/RequestCancelWorkflow";
constexpr char kDeliverExternalRequest[] = "/eon.v1.InternalService/DeliverExternalRequest";
constexpr char kRecordChildClosed[] = "/eon.v1.InternalService/RecordChildClosed";
constexpr char kListParkedTasks[] = "/eon.v1.InternalService/ListParkedTasks";
constexpr char kRetryParkedTasks[] = "/eon.v1.InternalService/RetryParkedTasks";

// The request's singular string (or bytes) field `name`, or "".
std::string StringField(const pb::Message& message, const char* name) {
  const auto* field = message.GetDescriptor()->FindFieldByName(name);
  if (field == nullptr || field->is_repeated() ||
      field->cpp_type() != pb::FieldDescriptor::CPPTYPE_STRING)
    return "";
  return message.GetReflection()->GetString(message, field);
}

// The request's singular message field `name`, or null when it has none set.
const pb::Message* MessageField(const pb::Message& message, const char* name) {
  const auto* field = message.GetDescriptor()->FindFieldByName(name);
  if (field == nullptr || field->is_repeated() ||
      field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE ||
      !message.GetReflection()->HasField(message, field))
    return nullptr;
  return &message.GetReflection()->GetMessage(message, field);
}

// The workflow id a request names: its own field, or its execution's (also inside update_ref).
std::string WorkflowIdOf(const pb::Message& request) {
  if (std::string id = StringField(request, "workflow_id"); !id.empty()) return id;
  for (const char* name : {"workflow_execution", "execution"}) {
    if (const auto* execution = MessageField(request, name))
      return StringField(*execution, "workflow_id");
  }
  if (const auto* ref = MessageField(request, "update_ref")) return WorkflowIdOf(*ref);
  return "";
}

eon::v1::InternalQueue ToInternal(const matching::QueueId& queue) {
  eon::v1::InternalQueue out;
  out.set_namespace_id(queue.namespace_id);
  out.set_name(queue.name);
  out.set_kind(queue.kind);
  return out;
}

matching::QueueId FromInternal(const eon::v1::InternalQueue& queue) {
  return {queue.namespace_id(), queue.name(), queue.kind()};
}

std::chrono::system_clock::time_point HandOverDeadline() {
  return std::chrono::system_clock::now() + kHandOverTimeout;
}

}  // namespace

Result<std::string> RemoteAddress(const Ownership& ownership, const Node& node,
                                  const std::string& what) {
  if (node == ownership.self()) return std::string();
  if (node.internal_address.empty())
    return Unavailable("no live node serves " + what + " right now; retry");
  return node.internal_address;
}

Result<std::string> ClusterForwarder::OwnerOf(const std::string& full_method,
                                              const pb::Message& request) {
  static const std::string prefix = kWorkflowServicePrefix;
  if (full_method.compare(0, prefix.size(), prefix) != 0) return std::string();
  const std::string method = full_method.substr(prefix.size());
  const std::string ns_name = StringField(request, "namespace");
  if (ns_name.empty()) return std::string();
  auto ns = namespaces_.ByName(ns_name);
  if (!ns.ok()) return std::string();  // answered here, with the usual error
  const std::string& ns_id = (*ns)->info().id();

  // Calls on a task queue go to its owner.
  std::string queue;
  if (method == "PollWorkflowTaskQueue" || method == "PollActivityTaskQueue" ||
      method == "DescribeTaskQueue") {
    if (const auto* task_queue = MessageField(request, "task_queue"))
      queue = StringField(*task_queue, "name");
  } else if (method == "ShutdownWorker") {
    // The worker's polls wait on the owners of its queues, any of the nodes, and its sticky
    // queue lives on that queue's owner: every other live node hears the call too (on its
    // internal port, which answers it there and forwards nothing), and this node answers it.
    grpc::Slice slice(request.SerializeAsString());
    const grpc::ByteBuffer copy(&slice, 1);
    const auto deadline = std::chrono::system_clock::now() + kShutdownWorkerBroadcastTimeout;
    for (const auto& node : ownership_.LiveNodes()) {
      if (node == ownership_.self() || node.internal_address.empty()) continue;
      clients_.SendRaw(
          node.internal_address, full_method, copy, deadline,
          [address = node.internal_address](const grpc::Status& status, grpc::ByteBuffer*) {
            if (!status.ok())
              LOG_WARN("ShutdownWorker not delivered to the node at " << address << ": "
                                                                      << status.error_message());
          });
    }
    return std::string();
  }
  if (!queue.empty())
    return RemoteAddress(ownership_, ownership_.QueueOwner(ns_id, queue), "task queue " + queue);

  // Calls on one execution go to its shard's owner: named by a task token, or by workflow id.
  std::string workflow_id;
  if (std::string token_bytes = StringField(request, "task_token"); !token_bytes.empty()) {
    eon::v1::TaskToken token;
    // A token that does not parse, or of another namespace, is refused here by the handler.
    if (!token.ParseFromString(token_bytes) || token.namespace_id() != ns_id) return std::string();
    workflow_id = token.workflow_id();
  } else {
    workflow_id = WorkflowIdOf(request);
  }
  if (workflow_id.empty()) return std::string();
  const int32_t shard = shard_of_(ns_id, workflow_id);
  return RemoteAddress(ownership_, ownership_.ShardOwner(shard),
                       "history shard " + std::to_string(shard));
}

void ClusterForwarder::Forward(const std::string& address, const std::string& full_method,
                               const grpc::ByteBuffer& request,
                               std::shared_ptr<frontend::CallContext> ctx,
                               std::function<void(const grpc::Status&, grpc::ByteBuffer*)> done) {
  auto call = clients_.SendRaw(
      address, full_method, request, ctx->deadline(),
      [address, done = std::move(done)](const grpc::Status& status, grpc::ByteBuffer* response) {
        // The owner's own errors carry a google.rpc.Status; a node that could not be reached
        // (or hung past the deadline) gets a message that says so.
        if (!status.ok() && status.error_details().empty())
          return done(frontend::ToGrpcStatus(NodeClients::Failed(address, status)), nullptr);
        done(status, response);
      });
  ctx->OnCancel([call] { call->Cancel(); });
}

// --- RoutingHistory ---------------------------------------------------------------------------

Result<std::string> RoutingHistory::OwnerOf(const std::string& namespace_id,
                                            const std::string& workflow_id) const {
  const int32_t shard = shard_of_(namespace_id, workflow_id);
  return RemoteAddress(ownership_, ownership_.ShardOwner(shard),
                       "history shard " + std::to_string(shard));
}

std::vector<std::string> RoutingHistory::OtherShardOwners() const {
  std::set<std::string> addresses;
  const int32_t count = shard_count_();
  for (int32_t shard = 0; shard < count; ++shard) {
    Node owner = ownership_.ShardOwner(shard);
    if (owner != ownership_.self() && !owner.internal_address.empty())
      addresses.insert(owner.internal_address);
  }
  return {addresses.begin(), addresses.end()};
}

namespace {

// A task's start recorded by the shard's owner: here (`local`), or there over the internal port.
template <typename Resp, typename Local>
void RecordStarted(const Result<std::string>& owner, NodeClients& clients, const char* method,
                   const eon::v1::QueueTask& task, const std::string& poll_request_id,
                   const std::string& identity, std::function<void(Result<Resp>)> done,
                   Local local) {
  if (!owner.ok()) return done(owner.status());
  if (owner->empty()) return local(std::move(done));
  eon::v1::RecordTaskStartedRequest request;
  *request.mutable_task() = task;
  request.set_poll_request_id(poll_request_id);
  request.set_identity(identity);
  clients.Send<Resp>(*owner, method, request, HandOverDeadline(), std::move(done));
}

}  // namespace

void RoutingHistory::RecordWorkflowTaskStartedAsync(
    const eon::v1::QueueTask& task, const std::string& poll_request_id, const std::string& identity,
    std::function<void(Result<wfs::PollWorkflowTaskQueueResponse>)> done) {
  RecordStarted<wfs::PollWorkflowTaskQueueResponse>(
      OwnerOf(task), clients_, kRecordWorkflowTaskStarted, task, poll_request_id, identity,
      std::move(done), [&](auto local_done) {
        local_.RecordWorkflowTaskStartedAsync(task, poll_request_id, identity,
                                              std::move(local_done));
      });
}

void RoutingHistory::RecordActivityTaskStartedAsync(
    const eon::v1::QueueTask& task, const std::string& poll_request_id, const std::string& identity,
    std::function<void(Result<wfs::PollActivityTaskQueueResponse>)> done) {
  RecordStarted<wfs::PollActivityTaskQueueResponse>(
      OwnerOf(task), clients_, kRecordActivityTaskStarted, task, poll_request_id, identity,
      std::move(done), [&](auto local_done) {
        local_.RecordActivityTaskStartedAsync(task, poll_request_id, identity,
                                              std::move(local_done));
      });
}

bool RoutingHistory::CanUpdateWithoutWaiting(const persistence::ExecutionKey& key) {
  const int32_t shard = shard_of_(key.namespace_id, key.workflow_id);
  // A remote record-started is an asynchronous call: nothing here waits for it.
  if (!ownership_.OwnsShard(shard)) return true;
  return local_.CanUpdateWithoutWaiting(key);
}

Result<wfs::PollWorkflowTaskQueueResponse> RoutingHistory::QueryTaskResponse(
    const eon::v1::QueueTask& task, const std::string& query_id,
    const temporal::api::query::v1::WorkflowQuery& query) {
  EON_ASSIGN_OR_RETURN(std::string owner, OwnerOf(task));
  if (owner.empty()) return local_.QueryTaskResponse(task, query_id, query);
  eon::v1::QueryTaskResponseRequest request;
  *request.mutable_task() = task;
  request.set_query_id(query_id);
  *request.mutable_query() = query;
  return Await<Result<wfs::PollWorkflowTaskQueueResponse>>([&](auto done) {
    clients_.Send<wfs::PollWorkflowTaskQueueResponse>(owner, kQueryTaskResponse, request,
                                                      HandOverDeadline(), done);
  });
}

namespace {

// A call on one execution: `local` when this node owns its shard, else `request` sent as
// `method` to the owner, whose answer is `done`'s status.
template <typename Local>
void StatusCall(const Result<std::string>& owner, NodeClients& clients, const char* method,
                const pb::Message& request, std::function<void(Status)> done, Local local) {
  if (!owner.ok()) return done(owner.status());
  if (owner->empty()) return local(std::move(done));
  clients.Send<eon::v1::HistoryCallResponse>(
      *owner, method, request, HandOverDeadline(),
      [done = std::move(done)](Result<eon::v1::HistoryCallResponse> r) { done(r.status()); });
}

history::StartResult FromInternal(const eon::v1::StartWorkflowResponse& response) {
  return {response.run_id(), response.started(), response.status()};
}

eon::v1::ParkedTaskRecord ToRecord(const persistence::ParkedTask& parked) {
  eon::v1::ParkedTaskRecord record;
  record.set_shard_id(parked.task.shard_id);
  record.set_timer(parked.task.category == persistence::TaskCategory::kTimer);
  record.set_task_id(parked.task.task_id);
  *record.mutable_task() = parked.task.task;
  record.set_failures(parked.failures);
  record.set_last_error(parked.last_error);
  *record.mutable_parked_time() = ToTimestamp(parked.parked_time);
  return record;
}

persistence::ParkedTask FromRecord(const eon::v1::ParkedTaskRecord& record) {
  persistence::ParkedTask parked;
  parked.task.shard_id = record.shard_id();
  parked.task.category =
      record.timer() ? persistence::TaskCategory::kTimer : persistence::TaskCategory::kTransfer;
  parked.task.task_id = record.task_id();
  parked.task.task = record.task();
  parked.failures = record.failures();
  parked.last_error = record.last_error();
  parked.parked_time = FromTimestamp(record.parked_time());
  return parked;
}

}  // namespace

void RoutingHistory::StartWorkflowExecutionAsync(
    const std::string& namespace_id, const wfs::StartWorkflowExecutionRequest& request,
    std::function<void(Result<history::StartResult>)> done) {
  auto owner = OwnerOf(namespace_id, request.workflow_id());
  if (!owner.ok()) return done(owner.status());
  if (owner->empty()) return local_.StartWorkflowExecutionAsync(namespace_id, request, done);
  eon::v1::StartWorkflowRequest internal;
  internal.set_namespace_id(namespace_id);
  *internal.mutable_request() = request;
  clients_.Send<eon::v1::StartWorkflowResponse>(
      *owner, kStartWorkflow, internal, HandOverDeadline(),
      [done = std::move(done)](Result<eon::v1::StartWorkflowResponse> r) {
        if (!r.ok()) return done(r.status());
        done(FromInternal(*r));
      });
}

void RoutingHistory::StartChildWorkflowExecutionAsync(
    const std::string& namespace_id, const wfs::StartWorkflowExecutionRequest& request,
    const eon::v1::ParentInfo& parent, std::function<void(Result<history::StartResult>)> done) {
  auto owner = OwnerOf(namespace_id, request.workflow_id());
  if (!owner.ok()) return done(owner.status());
  if (owner->empty())
    return local_.StartChildWorkflowExecutionAsync(namespace_id, request, parent, done);
  eon::v1::StartWorkflowRequest internal;
  internal.set_namespace_id(namespace_id);
  *internal.mutable_request() = request;
  *internal.mutable_parent() = parent;
  clients_.Send<eon::v1::StartWorkflowResponse>(
      *owner, kStartWorkflow, internal, HandOverDeadline(),
      [done = std::move(done)](Result<eon::v1::StartWorkflowResponse> r) {
        if (!r.ok()) return done(r.status());
        done(FromInternal(*r));
      });
}

void RoutingHistory::TerminateWorkflowExecutionAsync(
    const std::string& namespace_id, const wfs::TerminateWorkflowExecutionRequest& request,
    std::function<void(Status)> done) {
  eon::v1::TerminateWorkflowRequest internal;
  internal.set_namespace_id(namespace_id);
  *internal.mutable_request() = request;
  StatusCall(OwnerOf(namespace_id, request.workflow_execution().workflow_id()), clients_,
             kTerminateWorkflow, internal, std::move(done), [&](auto local_done) {
               local_.TerminateWorkflowExecutionAsync(namespace_id, request, std::move(local_done));
             });
}

void RoutingHistory::RequestCancelWorkflowExecutionAsync(
    const std::string& namespace_id, const wfs::RequestCancelWorkflowExecutionRequest& request,
    std::function<void(Status)> done) {
  eon::v1::RequestCancelWorkflowRequest internal;
  internal.set_namespace_id(namespace_id);
  *internal.mutable_request() = request;
  StatusCall(OwnerOf(namespace_id, request.workflow_execution().workflow_id()), clients_,
             kRequestCancelWorkflow, internal, std::move(done), [&](auto local_done) {
               local_.RequestCancelWorkflowExecutionAsync(namespace_id, request,
                                                          std::move(local_done));
             });
}

void RoutingHistory::DeliverExternalRequestAsync(
    const eon::v1::ExternalRequest& request,
    const temporal::api::common::v1::WorkflowExecution& source, std::function<void(Status)> done) {
  eon::v1::DeliverExternalRequestRequest internal;
  *internal.mutable_request() = request;
  *internal.mutable_source() = source;
  StatusCall(OwnerOf(request.namespace_id(), request.workflow_id()), clients_,
             kDeliverExternalRequest, internal, std::move(done), [&](auto local_done) {
               local_.DeliverExternalRequestAsync(request, source, std::move(local_done));
             });
}

void RoutingHistory::RecordChildClosedAsync(
    const persistence::ExecutionKey& parent, int64_t initiated_event_id,
    const temporal::api::common::v1::WorkflowExecution& child, const std::string& workflow_type,
    const temporal::api::history::v1::HistoryEvent& close_event, std::function<void(Status)> done) {
  eon::v1::RecordChildClosedRequest internal;
  internal.set_parent_namespace_id(parent.namespace_id);
  internal.set_parent_workflow_id(parent.workflow_id);
  internal.set_parent_run_id(parent.run_id);
  internal.set_initiated_event_id(initiated_event_id);
  *internal.mutable_child() = child;
  internal.set_workflow_type(workflow_type);
  *internal.mutable_close_event() = close_event;
  StatusCall(OwnerOf(parent.namespace_id, parent.workflow_id), clients_, kRecordChildClosed,
             internal, std::move(done), [&](auto local_done) {
               local_.RecordChildClosedAsync(parent, initiated_event_id, child, workflow_type,
                                             close_event, std::move(local_done));
             });
}

std::vector<persistence::ParkedTask> RoutingHistory::ParkedTasks() {
  std::vector<persistence::ParkedTask> all = local_.ParkedTasks();
  for (const std::string& address : OtherShardOwners()) {
    auto listed = Await<Result<eon::v1::ParkedTaskRecords>>([&](auto done) {
      clients_.Send<eon::v1::ParkedTaskRecords>(
          address, kListParkedTasks, eon::v1::ListParkedTasksRequest(), HandOverDeadline(), done);
    });
    if (!listed.ok()) {
      LOG_WARN("parked tasks of the node at " << address
                                              << " are not listed: " << listed.status().message());
      continue;
    }
    for (const auto& record : listed->tasks()) all.push_back(FromRecord(record));
  }
  std::sort(all.begin(), all.end(),
            [](const auto& x, const auto& y) { return x.task.task_id < y.task.task_id; });
  return all;
}

int RoutingHistory::RetryParkedTasks(const std::vector<int64_t>& task_ids) {
  int retried = local_.RetryParkedTasks(task_ids);
  eon::v1::RetryParkedTasksRequest request;
  for (int64_t id : task_ids) request.add_task_ids(id);
  for (const std::string& address : OtherShardOwners()) {
    auto answer = Await<Result<eon::v1::RetryParkedTasksResponse>>([&](auto done) {
      clients_.Send<eon::v1::RetryParkedTasksResponse>(address, kRetryParkedTasks, request,
                                                       HandOverDeadline(), done);
    });
    if (!answer.ok()) {
      LOG_WARN("parked tasks of the node at " << address
                                              << " are not retried: " << answer.status().message());
      continue;
    }
    retried += answer->retried();
  }
  return retried;
}

// --- RoutingMatching --------------------------------------------------------------------------

Result<std::string> RoutingMatching::OwnerOf(const matching::QueueId& queue) const {
  return RemoteAddress(ownership_, ownership_.QueueOwner(queue.namespace_id, queue.name),
                       "task queue " + queue.name);
}

Status RoutingMatching::AddTask(const matching::QueueId& queue, const eon::v1::QueueTask& task,
                                std::function<void()> on_settled, bool sticky) {
  EON_ASSIGN_OR_RETURN(std::string owner, OwnerOf(queue));
  if (owner.empty()) return local_.AddTask(queue, task, std::move(on_settled), sticky);
  eon::v1::AddTaskRequest request;
  *request.mutable_queue() = ToInternal(queue);
  *request.mutable_task() = task;
  request.set_sticky(sticky);
  Status added = Await<Status>([&](auto done) {
    clients_.Send<eon::v1::AddTaskResponse>(
        owner, kAddTask, request, HandOverDeadline(),
        [done](Result<eon::v1::AddTaskResponse> r) { done(r.status()); });
  });
  if (added.ok()) on_settled();
  return added;
}

Status RoutingMatching::AddQuery(const matching::QueueId& queue, matching::MatchedTask query,
                                 bool sticky) {
  EON_ASSIGN_OR_RETURN(std::string owner, OwnerOf(queue));
  if (owner.empty()) return local_.AddQuery(queue, std::move(query), sticky);
  eon::v1::AddQueryRequest request;
  *request.mutable_queue() = ToInternal(queue);
  *request.mutable_task() = query.task;
  request.set_query_id(query.query_id);
  *request.mutable_query() = query.query;
  request.set_sticky(sticky);
  {
    std::lock_guard lock(mutex_);
    remote_queries_[query.query_id] = query.on_undeliverable;
  }
  Status added = Await<Status>([&](auto done) {
    clients_.Send<eon::v1::AddQueryResponse>(
        owner, kAddQuery, request, HandOverDeadline(),
        [done](Result<eon::v1::AddQueryResponse> r) { done(r.status()); });
  });
  if (!added.ok()) {
    std::lock_guard lock(mutex_);
    remote_queries_.erase(query.query_id);
  }
  return added;
}

bool RoutingMatching::RemoveQuery(const matching::QueueId& queue, const std::string& query_id) {
  auto owner = OwnerOf(queue);
  if (owner.ok() && owner->empty()) return local_.RemoveQuery(queue, query_id);
  {
    std::lock_guard lock(mutex_);
    remote_queries_.erase(query_id);
  }
  if (!owner.ok()) return false;
  eon::v1::RemoveQueryRequest request;
  *request.mutable_queue() = ToInternal(queue);
  request.set_query_id(query_id);
  auto removed = Await<Result<eon::v1::RemoveQueryResponse>>([&](auto done) {
    clients_.Send<eon::v1::RemoveQueryResponse>(*owner, kRemoveQuery, request, HandOverDeadline(),
                                                done);
  });
  return removed.ok() && removed->removed();
}

std::function<void(Status)> RoutingMatching::TakeRemoteQuery(const std::string& query_id) {
  std::lock_guard lock(mutex_);
  auto it = remote_queries_.find(query_id);
  if (it == remote_queries_.end()) return nullptr;
  auto fn = std::move(it->second);
  remote_queries_.erase(it);
  return fn;
}

// --- InternalService --------------------------------------------------------------------------

void RegisterInternalService(frontend::RpcRouter& internal, history::HistoryService& local_history,
                             matching::LocalMatching& local_matching, RoutingMatching& routing) {
  using frontend::CallContext;
  internal.Async<eon::v1::RecordTaskStartedRequest, wfs::PollWorkflowTaskQueueResponse>(
      kInternalService, "RecordWorkflowTaskStarted",
      [&local_history](std::shared_ptr<CallContext>, const eon::v1::RecordTaskStartedRequest& r,
                       auto done) {
        local_history.RecordWorkflowTaskStartedAsync(r.task(), r.poll_request_id(), r.identity(),
                                                     std::move(done));
      });
  internal.Async<eon::v1::RecordTaskStartedRequest, wfs::PollActivityTaskQueueResponse>(
      kInternalService, "RecordActivityTaskStarted",
      [&local_history](std::shared_ptr<CallContext>, const eon::v1::RecordTaskStartedRequest& r,
                       auto done) {
        local_history.RecordActivityTaskStartedAsync(r.task(), r.poll_request_id(), r.identity(),
                                                     std::move(done));
      });
  // Calls on an execution of this node's shards (an engine that does not hold the shard any
  // more answers UNAVAILABLE, and the caller retries against the new owner).
  internal.Async<eon::v1::StartWorkflowRequest, eon::v1::StartWorkflowResponse>(
      kInternalService, "StartWorkflow",
      [&local_history](std::shared_ptr<CallContext>, const eon::v1::StartWorkflowRequest& r,
                       std::function<void(Result<eon::v1::StartWorkflowResponse>)> done) {
        auto answer = [done](Result<history::StartResult> started) {
          if (!started.ok()) return done(started.status());
          eon::v1::StartWorkflowResponse response;
          response.set_run_id(started->run_id);
          response.set_started(started->started);
          response.set_status(started->status);
          done(std::move(response));
        };
        if (r.has_parent()) {
          local_history.StartChildWorkflowExecutionAsync(r.namespace_id(), r.request(), r.parent(),
                                                         std::move(answer));
        } else {
          local_history.StartWorkflowExecutionAsync(r.namespace_id(), r.request(),
                                                    std::move(answer));
        }
      });
  // The HistoryCallResponse of a call answered by a status.
  auto status_only = [](std::function<void(Result<eon::v1::HistoryCallResponse>)> done) {
    return [done = std::move(done)](Status status) {
      if (!status.ok()) return done(status);
      done(eon::v1::HistoryCallResponse());
    };
  };
  internal.Async<eon::v1::TerminateWorkflowRequest, eon::v1::HistoryCallResponse>(
      kInternalService, "TerminateWorkflow",
      [&local_history, status_only](std::shared_ptr<CallContext>,
                                    const eon::v1::TerminateWorkflowRequest& r, auto done) {
        local_history.TerminateWorkflowExecutionAsync(r.namespace_id(), r.request(),
                                                      status_only(std::move(done)));
      });
  internal.Async<eon::v1::RequestCancelWorkflowRequest, eon::v1::HistoryCallResponse>(
      kInternalService, "RequestCancelWorkflow",
      [&local_history, status_only](std::shared_ptr<CallContext>,
                                    const eon::v1::RequestCancelWorkflowRequest& r, auto done) {
        local_history.RequestCancelWorkflowExecutionAsync(r.namespace_id(), r.request(),
                                                          status_only(std::move(done)));
      });
  internal.Async<eon::v1::DeliverExternalRequestRequest, eon::v1::HistoryCallResponse>(
      kInternalService, "DeliverExternalRequest",
      [&local_history, status_only](std::shared_ptr<CallContext>,
                                    const eon::v1::DeliverExternalRequestRequest& r, auto done) {
        local_history.DeliverExternalRequestAsync(r.request(), r.source(),
                                                  status_only(std::move(done)));
      });
  internal.Async<eon::v1::RecordChildClosedRequest, eon::v1::HistoryCallResponse>(
      kInternalService, "RecordChildClosed",
      [&local_history, status_only](std::shared_ptr<CallContext>,
                                    const eon::v1::RecordChildClosedRequest& r, auto done) {
        local_history.RecordChildClosedAsync(
            {r.parent_namespace_id(), r.parent_workflow_id(), r.parent_run_id()},
            r.initiated_event_id(), r.child(), r.workflow_type(), r.close_event(),
            status_only(std::move(done)));
      });
  internal.Unary<eon::v1::ListParkedTasksRequest, eon::v1::ParkedTaskRecords>(
      kInternalService, "ListParkedTasks",
      [&local_history](CallContext&, const eon::v1::ListParkedTasksRequest&)
          -> Result<eon::v1::ParkedTaskRecords> {
        eon::v1::ParkedTaskRecords records;
        for (const auto& parked : local_history.ParkedTasks())
          *records.add_tasks() = ToRecord(parked);
        return records;
      });
  internal.Unary<eon::v1::RetryParkedTasksRequest, eon::v1::RetryParkedTasksResponse>(
      kInternalService, "RetryParkedTasks",
      [&local_history](CallContext&, const eon::v1::RetryParkedTasksRequest& r)
          -> Result<eon::v1::RetryParkedTasksResponse> {
        eon::v1::RetryParkedTasksResponse response;
        response.set_retried(
            local_history.RetryParkedTasks({r.task_ids().begin(), r.task_ids().end()}));
        return response;
      });
  internal.Async<eon::v1::AddTaskRequest, eon::v1::AddTaskResponse>(
      kInternalService, "AddTask",
      [&local_matching](std::shared_ptr<CallContext>, const eon::v1::AddTaskRequest& r,
                        std::function<void(Result<eon::v1::AddTaskResponse>)> done) {
        // Answered once the task is in the backlog here, so the shard's owner may forget it.
        // Waiting for a poller's start instead would hold the owner's outbox thread while the
        // start may need that very pool.
        Status added =
            local_matching.AddTaskBacklogFirst(FromInternal(r.queue()), r.task(), r.sticky());
        if (!added.ok()) return done(added);
        done(eon::v1::AddTaskResponse());
      });
  internal.Unary<eon::v1::AddQueryRequest, eon::v1::AddQueryResponse>(
      kInternalService, "AddQuery",
      [&local_matching](CallContext&,
                        const eon::v1::AddQueryRequest& r) -> Result<eon::v1::AddQueryResponse> {
        matching::MatchedTask query;
        query.queue = FromInternal(r.queue());
        query.task = r.task();
        query.query_id = r.query_id();
        query.query = r.query();
        // The query's caller is on the shard's owner; it hears of an undeliverable query from
        // the QueryTaskResponse call a poller here makes.
        query.on_undeliverable = [](Status) {};
        const matching::QueueId queue = query.queue;
        EON_RETURN_IF_ERROR(local_matching.AddQuery(queue, std::move(query), r.sticky()));
        return eon::v1::AddQueryResponse();
      });
  internal.Unary<eon::v1::RemoveQueryRequest, eon::v1::RemoveQueryResponse>(
      kInternalService, "RemoveQuery",
      [&local_matching](CallContext&, const eon::v1::RemoveQueryRequest& r)
          -> Result<eon::v1::RemoveQueryResponse> {
        eon::v1::RemoveQueryResponse response;
        response.set_removed(local_matching.RemoveQuery(FromInternal(r.queue()), r.query_id()));
        return response;
      });
  internal.Unary<eon::v1::QueryTaskResponseRequest, wfs::PollWorkflowTaskQueueResponse>(
      kInternalService, "QueryTaskResponse",
      [&local_history, &routing](CallContext&, const eon::v1::QueryTaskResponseRequest& r)
          -> Result<wfs::PollWorkflowTaskQueueResponse> {
        auto undeliverable = routing.TakeRemoteQuery(r.query_id());
        auto response = local_history.QueryTaskResponse(r.task(), r.query_id(), r.query());
        if (!response.ok() && undeliverable) undeliverable(response.status());
        return response;
      });
}

}  // namespace eon::cluster
