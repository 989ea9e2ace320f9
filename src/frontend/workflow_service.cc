#include "frontend/workflow_service.h"

#include <algorithm>

#include "common/cron.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/page_token.h"
#include "frontend/run_wait.h"
#include "history/mutable_state.h"
#include "temporal/api/errordetails/v1/message.pb.h"
#include "temporal/api/workflowservice/v1/service.grpc.pb.h"

namespace eon::frontend {

namespace wfs = temporal::api::workflowservice::v1;
namespace enums = temporal::api::enums::v1;
using namespaces::Namespace;

namespace {

temporal::api::failure::v1::Failure ResultTooLarge() {
  temporal::api::failure::v1::Failure failure;
  failure.set_message("Complete result exceeds size limit.");
  failure.set_source("Server");
  failure.mutable_application_failure_info()->set_type("BlobSizeLimitExceeded");
  failure.mutable_application_failure_info()->set_non_retryable(true);
  return failure;
}

class WorkflowService final : public ServiceHandle {
 public:
  WorkflowService(namespaces::Registry& namespaces, history::HistoryService& history,
                  matching::MatchingService& matching, DeadlineScheduler& scheduler,
                  FrontendOptions options)
      : namespaces_(namespaces),
        history_(history),
        matching_(matching),
        scheduler_(scheduler),
        options_(options) {}

  void Register(RpcRouter& router);

 private:
  Result<Namespace> ResolveNamespace(const std::string& name) {
    if (name.empty()) return InvalidArgument("Namespace not set on request.");
    return namespaces_.ByName(name);
  }

  Status CheckId(const std::string& value, const char* what) {
    if (value.empty()) return InvalidArgument(std::string(what) + " is not set on request.");
    if (value.size() > options_.id_length_max) {
      return InvalidArgument(std::string(what) + " exceeds length limit (" +
                             std::to_string(options_.id_length_max) + ").");
    }
    return Status::Ok();
  }

  // Payloads beyond the limit are refused, naming what was too large.
  Status CheckBlob(const google::protobuf::Message& payloads, const char* what) {
    const int64_t size = static_cast<int64_t>(payloads.ByteSizeLong());
    if (size <= options_.blob_size_limit_bytes) return Status::Ok();
    return InvalidArgument(std::string(what) + " of " + std::to_string(size) +
                           " bytes exceeds the payload size limit of " +
                           std::to_string(options_.blob_size_limit_bytes) + " bytes.");
  }

  Status CheckStartOptions(const std::string& cron_schedule,
                           const temporal::api::common::v1::RetryPolicy& retry_policy,
                           const google::protobuf::Duration& start_delay) {
    if (!cron_schedule.empty()) {
      auto schedule = CronSchedule::Parse(cron_schedule);
      if (!schedule.ok()) return schedule.status();
    }
    EON_RETURN_IF_ERROR(history::ValidateRetryPolicy(retry_policy));
    if (FromProtoDuration(start_delay).count() < 0) {
      return InvalidArgument("WorkflowStartDelay cannot be negative.");
    }
    if (!cron_schedule.empty() && FromProtoDuration(start_delay).count() > 0) {
      return InvalidArgument("CronSchedule and WorkflowStartDelay may not be used together.");
    }
    return Status::Ok();
  }

  template <typename T>  // a TaskToken or a QueueTask
  static persistence::ExecutionKey KeyOf(const T& t) {
    return {t.namespace_id(), t.workflow_id(), t.run_id()};
  }

  // For the calls that start on gRPC's thread (RpcRouter::Inline) and the poll handshake:
  // `work(arg, done)` runs here when `here` (nothing in it would wait), else on the request
  // pool with its own copy of `arg`, behind an exception barrier that answers `done`.
  template <typename Arg, typename Done, typename Work>
  void HereOrOnPool(bool here, const char* what, const Arg& arg, Done done, Work work) {
    if (here) return work(arg, std::move(done));
    executor_->Submit([what, owned = arg, done = std::move(done), work = std::move(work)] {
      Status thrown = RunGuarded(what, [&] { work(owned, done); });
      if (!thrown.ok()) done(thrown);
    });
  }

  // The id of the namespace a request names, after checking the workflow id it names.
  template <typename Req>
  Result<std::string> NamespaceIdFor(const Req& r, const std::string& workflow_id) {
    EON_ASSIGN_OR_RETURN(Namespace ns, ResolveNamespace(r.namespace_()));
    EON_RETURN_IF_ERROR(CheckId(workflow_id, "WorkflowId"));
    return ns->info().id();
  }

  // A call that only says it succeeded: `done` hears an empty response or the error.
  template <typename Resp>
  static std::function<void(Status)> Empty(std::function<void(Result<Resp>)> done) {
    return [done = std::move(done)](Status status) {
      if (!status.ok()) return done(status);
      done(Resp());
    };
  }

  // The task token a request carries, checked against its namespace.
  template <typename Req>
  Result<eon::v1::TaskToken> TokenOf(const Req& r, eon::v1::TaskQueueKind kind) {
    EON_ASSIGN_OR_RETURN(Namespace ns, ResolveNamespace(r.namespace_()));
    return ParseToken(r.task_token(), ns, kind);
  }

  // Registers one of the calls that end or report an activity attempt: `find(request)` names
  // the attempt (its token), `call(token, request, done)` hands it to history.
  template <typename Req, typename Resp, typename Find, typename Call>
  void RegisterActivityCall(RpcRouter& router, const char* method, Find find, Call call) {
    router.Async<Req, Resp>(
        kWorkflowService, method,
        [find, call](auto, const Req& r, std::function<void(Result<Resp>)> done) {
          auto token = find(r);
          if (!token.ok()) return done(token.status());
          call(*token, r, std::move(done));
        });
  }

  // Parses a task token and checks it belongs to `ns` and names the right kind of task.
  Result<eon::v1::TaskToken> ParseToken(const std::string& bytes, const Namespace& ns,
                                        eon::v1::TaskQueueKind kind) {
    if (bytes.empty()) return InvalidArgument("Task token not set on request.");
    eon::v1::TaskToken token;
    if (!token.ParseFromString(bytes) || token.kind() == eon::v1::TASK_QUEUE_KIND_UNSPECIFIED ||
        token.workflow_id().empty() || token.run_id().empty()) {
      return InvalidArgument("Error deserializing task token.");
    }
    if (token.kind() != kind) {
      return InvalidArgument(kind == eon::v1::TASK_QUEUE_KIND_WORKFLOW
                                 ? "Task token is for an activity task, not a workflow task."
                                 : "Task token is for a workflow task, not an activity task.");
    }
    if (token.namespace_id() != ns->info().id()) {
      return InvalidArgument("Operation requested with a token from a different namespace.");
    }
    return token;
  }

  std::chrono::steady_clock::time_point PollDeadline(const CallContext& ctx,
                                                     std::chrono::milliseconds max) const {
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
                         ctx.deadline() - std::chrono::system_clock::now()) -
                     options_.long_poll_margin;
    auto wait = std::clamp(remaining, std::chrono::milliseconds(0), max);
    return std::chrono::steady_clock::now() + wait;
  }

  Result<wfs::GetSystemInfoResponse> GetSystemInfo(CallContext&, const wfs::GetSystemInfoRequest&);
  Result<wfs::DescribeNamespaceResponse> DescribeNamespace(CallContext&,
                                                           const wfs::DescribeNamespaceRequest&);
  Result<wfs::RegisterNamespaceResponse> RegisterNamespace(CallContext&,
                                                           const wfs::RegisterNamespaceRequest&);
  Result<wfs::ListNamespacesResponse> ListNamespaces(CallContext&,
                                                     const wfs::ListNamespacesRequest&);
  // Checks a start request as Temporal's frontend does; returns its namespace's id.
  Result<std::string> CheckStartRequest(const wfs::StartWorkflowExecutionRequest& request);
  // REQUIRES: CheckStartRequest answered `namespace_id` for the request.
  void StartWorkflowExecution(
      const std::string& namespace_id, const wfs::StartWorkflowExecutionRequest& request,
      std::function<void(Result<wfs::StartWorkflowExecutionResponse>)> done);
  // A worker's poll (workflow or activity task queue): the frontend names the queue and
  // `send(poll, done)` hands it to matching, which does the rest (matching/matching_service.h).
  template <typename Req, typename Resp, typename Send>
  void Poll(std::shared_ptr<CallContext> ctx, const Req& request, eon::v1::TaskQueueKind kind,
            std::function<void(Result<Resp>)> done, Send send) {
    auto ns = ResolveNamespace(request.namespace_());
    if (!ns.ok()) return done(ns.status());
    Status valid = CheckId(request.task_queue().name(), "TaskQueue");
    if (!valid.ok()) return done(valid);
    matching::PollRequest poll;
    poll.queue = {(*ns)->info().id(), request.task_queue().name(), kind};
    poll.namespace_name = (*ns)->info().name();
    poll.poller = {request.identity(), request.worker_instance_key()};
    poll.poll_request_id = NewUuid();
    poll.deadline = PollDeadline(*ctx, options_.long_poll_max);
    auto pending = send(poll, std::move(done));
    ctx->OnCancel([pending] { pending->Cancel(); });
  }
  void GetWorkflowExecutionHistory(
      std::shared_ptr<CallContext>, const wfs::GetWorkflowExecutionHistoryRequest&,
      std::function<void(Result<wfs::GetWorkflowExecutionHistoryResponse>)>);
  // A first wait for the close event of a run named by id, open and cached: nothing to read.
  bool CloseWaitInMemory(const wfs::GetWorkflowExecutionHistoryRequest& r) {
    if (r.history_event_filter_type() != enums::HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT ||
        !r.wait_new_event() || r.execution().run_id().empty() || !r.next_page_token().empty()) {
      return false;
    }
    auto ns = ResolveNamespace(r.namespace_());
    return ns.ok() && history_.OpenAndCached({(*ns)->info().id(), r.execution().workflow_id(),
                                              r.execution().run_id()});
  }

  // Queries waiting for a worker's answer, by id. A query is answered once: by the worker, or
  // with an error when its workflow is gone; a caller that leaves removes it.
  using QueryDone = std::function<void(Result<wfs::QueryWorkflowResponse>)>;
  void AnswerQuery(const std::string& query_id, Result<wfs::QueryWorkflowResponse> answer) {
    QueryDone done;
    {
      std::lock_guard lock(queries_mutex_);
      auto it = queries_.find(query_id);
      if (it == queries_.end()) return;
      done = std::move(it->second);
      queries_.erase(it);
    }
    done(std::move(answer));
  }
  void QueryWorkflow(std::shared_ptr<CallContext> ctx, const wfs::QueryWorkflowRequest& request,
                     QueryDone done);
  // One QueryWorkflow call on its way; its id names it in queries_, in history's held queries
  // and in matching's query tasks.
  struct QueryCall {
    std::shared_ptr<CallContext> ctx;
    std::string namespace_id;
    wfs::QueryWorkflowRequest request;
    std::string id;
  };
  // Asks history where the query goes (again, after a held query was let go) and sends it.
  void DispatchQuery(std::shared_ptr<QueryCall> call);
  void OnQueryOutcome(std::shared_ptr<QueryCall> call, const history::QueryOutcome& outcome);
  // Sends the query as a query task: to the sticky worker first, which gets the sticky
  // schedule-to-start timeout to take it; then stickiness ends and the normal queue gets it.
  void SendQueryTask(std::shared_ptr<QueryCall> call, const history::QueryTarget& target);
  void SendQueryTaskToNormalQueue(std::shared_ptr<QueryCall> call, matching::MatchedTask query,
                                  const std::string& normal_queue);
  Result<wfs::RespondQueryTaskCompletedResponse> RespondQueryTaskCompleted(
      const wfs::RespondQueryTaskCompletedRequest& request);

  template <typename Resp>
  void WaitForUpdate(std::shared_ptr<CallContext> ctx, history::UpdateStatus status,
                     std::string update_id,
                     temporal::api::enums::v1::UpdateWorkflowExecutionLifecycleStage wanted,
                     std::function<void(Result<Resp>)> done);
  void UpdateWorkflowExecution(
      std::shared_ptr<CallContext> ctx, const wfs::UpdateWorkflowExecutionRequest& request,
      std::function<void(Result<wfs::UpdateWorkflowExecutionResponse>)> done);
  void PollWorkflowExecutionUpdate(
      std::shared_ptr<CallContext> ctx, const wfs::PollWorkflowExecutionUpdateRequest& request,
      std::function<void(Result<wfs::PollWorkflowExecutionUpdateResponse>)> done);

  std::mutex queries_mutex_;
  std::map<std::string, QueryDone> queries_;  // guarded by queries_mutex_

  namespaces::Registry& namespaces_;
  history::HistoryService& history_;
  matching::MatchingService& matching_;
  DeadlineScheduler& scheduler_;
  Executor* executor_ = nullptr;
  const FrontendOptions options_;
};

Result<wfs::GetSystemInfoResponse> WorkflowService::GetSystemInfo(
    CallContext&, const wfs::GetSystemInfoRequest&) {
  wfs::GetSystemInfoResponse response;
  response.set_server_version(options_.server_version);
  auto* caps = response.mutable_capabilities();
  caps->set_signal_and_query_header(true);
  caps->set_internal_error_differentiation(true);
  caps->set_activity_failure_include_heartbeat(true);
  caps->set_encoded_failure_attributes(true);
  caps->set_upsert_memo(true);
  caps->set_sdk_metadata(true);
  return response;
}

Result<wfs::DescribeNamespaceResponse> WorkflowService::DescribeNamespace(
    CallContext&, const wfs::DescribeNamespaceRequest& request) {
  Result<Namespace> ns = !request.id().empty() ? namespaces_.ById(request.id())
                                               : ResolveNamespace(request.namespace_());
  if (!ns.ok()) return ns.status();
  wfs::DescribeNamespaceResponse response;
  *response.mutable_namespace_info() = (*ns)->info();
  // What Eon implements, of what Temporal advertises (docs/temporal-facts.md, section 2): no
  // eager workflow start, worker heartbeats, poller autoscaling decisions, worker commands,
  // pausing, standalone activities or Nexus, completion pagination.
  auto* caps = response.mutable_namespace_info()->mutable_capabilities();
  caps->Clear();
  caps->set_sync_update(true);
  caps->set_async_update(true);
  // ShutdownWorker answers the worker's polls, so the SDK lets them end instead of cancelling
  // them (a cancelled poll may lose the task matched to it).
  caps->set_worker_poll_complete_on_shutdown(true);
  *response.mutable_config() = (*ns)->config();
  auto* replication = response.mutable_replication_config();
  replication->set_active_cluster_name("active");
  replication->add_clusters()->set_cluster_name("active");
  replication->set_state(enums::REPLICATION_STATE_NORMAL);
  return response;
}

Result<wfs::RegisterNamespaceResponse> WorkflowService::RegisterNamespace(
    CallContext&, const wfs::RegisterNamespaceRequest& request) {
  const std::string& name = request.namespace_();
  if (name.empty()) return InvalidArgument("Namespace not set on request.");
  if (name.size() > 255) return InvalidArgument("Namespace length exceeds limit (255).");
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return InvalidArgument("Namespace name \"" + name +
                             "\" may contain only letters, digits, '-', '_' and '.'.");
    }
  }
  Duration retention = FromProtoDuration(request.workflow_execution_retention_period());
  if (retention.count() < 0) return InvalidArgument("Retention period cannot be negative.");
  auto registered =
      namespaces_.Register(name, request.description(), request.owner_email(), retention);
  if (!registered.ok()) return registered.status();
  return wfs::RegisterNamespaceResponse();
}

Result<wfs::ListNamespacesResponse> WorkflowService::ListNamespaces(
    CallContext&, const wfs::ListNamespacesRequest& request) {
  wfs::ListNamespacesResponse response;
  EON_ASSIGN_OR_RETURN(const int64_t offset, DecodeOffsetPageToken(request.next_page_token()));
  // Temporal's default page; its store takes any size, Eon's cap bounds one answer.
  constexpr int64_t kPageSizeDefault = 100;
  constexpr int64_t kPageSizeMax = 1'000;
  const int64_t page_size = request.page_size() <= 0
                                ? kPageSizeDefault
                                : std::min<int64_t>(request.page_size(), kPageSizeMax);
  const auto all = namespaces_.All();  // by name
  for (int64_t i = offset; i < static_cast<int64_t>(all.size()); ++i) {
    if (response.namespaces_size() == page_size) {
      response.set_next_page_token(EncodeOffsetPageToken(i));
      break;
    }
    const auto& ns = all[i];
    auto* out = response.add_namespaces();
    *out->mutable_namespace_info() = ns->info();
    *out->mutable_config() = ns->config();
    out->mutable_replication_config()->set_active_cluster_name("active");
  }
  return response;
}

Result<std::string> WorkflowService::CheckStartRequest(
    const wfs::StartWorkflowExecutionRequest& request) {
  EON_ASSIGN_OR_RETURN(Namespace ns, ResolveNamespace(request.namespace_()));
  EON_RETURN_IF_ERROR(CheckId(request.workflow_id(), "WorkflowId"));
  EON_RETURN_IF_ERROR(CheckId(request.workflow_type().name(), "WorkflowType"));
  EON_RETURN_IF_ERROR(CheckId(request.task_queue().name(), "TaskQueue"));
  if (request.request_id().size() > options_.id_length_max) {
    return InvalidArgument("RequestId exceeds length limit.");
  }
  if (FromProtoDuration(request.workflow_execution_timeout()).count() < 0) {
    return InvalidArgument("Invalid WorkflowExecutionTimeoutSeconds.");
  }
  if (FromProtoDuration(request.workflow_run_timeout()).count() < 0) {
    return InvalidArgument("Invalid WorkflowRunTimeoutSeconds.");
  }
  if (FromProtoDuration(request.workflow_task_timeout()).count() < 0) {
    return InvalidArgument("Invalid WorkflowTaskTimeoutSeconds.");
  }
  EON_RETURN_IF_ERROR(CheckStartOptions(request.cron_schedule(), request.retry_policy(),
                                        request.workflow_start_delay()));
  EON_RETURN_IF_ERROR(CheckBlob(request.input(), "Input"));
  EON_RETURN_IF_ERROR(CheckBlob(request.memo(), "Memo"));
  return ns->info().id();
}

void WorkflowService::StartWorkflowExecution(
    const std::string& namespace_id, const wfs::StartWorkflowExecutionRequest& request,
    std::function<void(Result<wfs::StartWorkflowExecutionResponse>)> done) {
  history_.StartWorkflowExecutionAsync(
      namespace_id, request, [done = std::move(done)](Result<history::StartResult> started) {
        if (!started.ok()) return done(started.status());
        wfs::StartWorkflowExecutionResponse response;
        response.set_run_id(started->run_id);
        response.set_started(started->started);
        response.set_status(started->status);
        done(std::move(response));
      });
}

namespace {

// The commits worth a look for a history long poll: with the close-event filter, only those
// that close the run (a client waiting for a result is not woken by every step).
history::HistoryService::RunStatePredicate WantedBy(
    const wfs::GetWorkflowExecutionHistoryRequest& request) {
  if (request.history_event_filter_type() != enums::HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
    return nullptr;
  return [](const eon::v1::ExecutionState& state) {
    return state.status() != enums::WORKFLOW_EXECUTION_STATUS_RUNNING;
  };
}

// With the close-event filter, the answer is the close event alone (as a read of the closed run
// gives it): taken from the commit that closed the run, without a hop or a read.
RunWait<wfs::GetWorkflowExecutionHistoryResponse>::FromChange CloseEventFrom(
    const wfs::GetWorkflowExecutionHistoryRequest& request) {
  if (request.history_event_filter_type() != enums::HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
    return nullptr;
  return [](const eon::v1::ExecutionState& state,
            const std::vector<temporal::api::history::v1::HistoryEvent>& new_events)
             -> std::optional<Result<wfs::GetWorkflowExecutionHistoryResponse>> {
    if (state.status() == enums::WORKFLOW_EXECUTION_STATUS_RUNNING) return std::nullopt;
    for (const auto& event : new_events) {
      if (event.event_id() != state.completion_event_id()) continue;
      wfs::GetWorkflowExecutionHistoryResponse response;
      *response.mutable_history()->add_events() = event;
      return Result<wfs::GetWorkflowExecutionHistoryResponse>(std::move(response));
    }
    return std::nullopt;
  };
}

}  // namespace

void WorkflowService::GetWorkflowExecutionHistory(
    std::shared_ptr<CallContext> ctx, const wfs::GetWorkflowExecutionHistoryRequest& request,
    std::function<void(Result<wfs::GetWorkflowExecutionHistoryResponse>)> done) {
  auto ns = ResolveNamespace(request.namespace_());
  if (!ns.ok()) return done(ns.status());
  const std::string namespace_id = (*ns)->info().id();
  bool at_end = false;
  std::string run_id;
  auto page = history_.GetWorkflowExecutionHistory(namespace_id, request, &at_end, &run_id);
  if (!page.ok() || !request.wait_new_event() || !at_end) return done(std::move(page));
  // Long poll: for any new event (or, with the close filter, the close event) of the run that
  // was current when the request came; when it closes (say by continuing as new) the reader
  // learns the next run's id from its close event. At the deadline: empty, with a token.
  auto pinned = std::make_shared<wfs::GetWorkflowExecutionHistoryRequest>(request);
  pinned->mutable_execution()->set_run_id(run_id);
  auto read = [this, namespace_id, pinned](bool* at_end) {
    std::string ignored;
    return history_.GetWorkflowExecutionHistory(namespace_id, *pinned, at_end, &ignored);
  };
  RunWait<wfs::GetWorkflowExecutionHistoryResponse>::Start(
      history_, scheduler_, *executor_, *ctx, PollDeadline(*ctx, options_.history_poll_max),
      persistence::ExecutionKey{namespace_id, request.execution().workflow_id(), run_id},
      [read]() -> std::optional<Result<wfs::GetWorkflowExecutionHistoryResponse>> {
        bool at_end = false;
        auto page = read(&at_end);
        if (page.ok() && at_end) return std::nullopt;
        return page;
      },
      [read] {
        bool at_end = false;
        return read(&at_end);
      },
      std::move(done), WantedBy(request), CloseEventFrom(request));
}

namespace {

// Fills an update call's answer from where the update stands.
template <typename Resp>
Resp UpdateAnswer(const history::UpdateStatus& status, const std::string& update_id) {
  Resp response;
  auto* ref = response.mutable_update_ref();
  ref->mutable_workflow_execution()->set_workflow_id(status.key.workflow_id);
  ref->mutable_workflow_execution()->set_run_id(status.key.run_id);
  ref->set_update_id(update_id);
  response.set_stage(status.stage);
  if (status.outcome) *response.mutable_outcome() = *status.outcome;
  return response;
}

}  // namespace

template <typename Resp>
void WorkflowService::WaitForUpdate(std::shared_ptr<CallContext> ctx, history::UpdateStatus status,
                                    std::string update_id,
                                    enums::UpdateWorkflowExecutionLifecycleStage wanted,
                                    std::function<void(Result<Resp>)> done) {
  if (status.stage >= wanted) return done(UpdateAnswer<Resp>(status, update_id));
  const persistence::ExecutionKey key = status.key;
  auto current = std::make_shared<history::UpdateStatus>(status);
  // As Temporal does: the wait is held to the caller's own deadline (which then ends the call
  // with DEADLINE_EXCEEDED), and past the long-poll interval it answers the stage reached so far,
  // without an outcome, and the caller asks again. No margin is taken off the caller's deadline:
  // a client that polls again while there is no outcome would otherwise spin.
  const auto caller_left = std::chrono::duration_cast<std::chrono::milliseconds>(
      ctx->deadline() - std::chrono::system_clock::now());
  const bool caller_deadline_first = caller_left <= options_.history_poll_max;
  const auto wait = caller_deadline_first ? std::max(caller_left, std::chrono::milliseconds(0))
                                          : options_.history_poll_max;
  RunWait<Resp>::Start(
      history_, scheduler_, *executor_, *ctx, std::chrono::steady_clock::now() + wait, key,
      [this, key, update_id, wanted, current]() -> std::optional<Result<Resp>> {
        auto now = history_.UpdateState(key, update_id);
        if (!now.ok()) return Result<Resp>(now.status());
        *current = *now;
        if (now->stage < wanted) return std::nullopt;
        return Result<Resp>(UpdateAnswer<Resp>(*now, update_id));
      },
      [current, update_id, caller_deadline_first]() -> Result<Resp> {
        if (caller_deadline_first) {
          return Status(StatusCode::DEADLINE_EXCEEDED,
                        "the caller's deadline passed before the update reached the stage it "
                        "waits for");
        }
        return UpdateAnswer<Resp>(*current, update_id);
      },
      std::move(done));
}

void WorkflowService::UpdateWorkflowExecution(
    std::shared_ptr<CallContext> ctx, const wfs::UpdateWorkflowExecutionRequest& request,
    std::function<void(Result<wfs::UpdateWorkflowExecutionResponse>)> done) {
  auto ns = ResolveNamespace(request.namespace_());
  if (!ns.ok()) return done(ns.status());
  Status valid = CheckId(request.workflow_execution().workflow_id(), "WorkflowId");
  if (valid.ok()) valid = CheckId(request.request().input().name(), "Update name");
  if (valid.ok()) valid = CheckBlob(request.request().input().args(), "Update arguments");
  if (!valid.ok()) return done(valid);
  auto wanted = request.wait_policy().lifecycle_stage();
  if (wanted == enums::UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED) {
    return done(
        InvalidArgument("WaitPolicy.LifecycleStage ADMITTED is not supported; wait for "
                        "ACCEPTED or COMPLETED."));
  }
  if (wanted == enums::UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_UNSPECIFIED) {
    wanted = enums::UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED;  // Temporal's default
  }
  wfs::UpdateWorkflowExecutionRequest admitted = request;
  if (admitted.request().meta().update_id().empty()) {
    admitted.mutable_request()->mutable_meta()->set_update_id(NewUuid());
  }
  const std::string update_id = admitted.request().meta().update_id();
  auto status = history_.AdmitUpdate((*ns)->info().id(), admitted);
  if (!status.ok()) return done(status.status());
  WaitForUpdate<wfs::UpdateWorkflowExecutionResponse>(ctx, *status, update_id, wanted,
                                                      std::move(done));
}

void WorkflowService::PollWorkflowExecutionUpdate(
    std::shared_ptr<CallContext> ctx, const wfs::PollWorkflowExecutionUpdateRequest& request,
    std::function<void(Result<wfs::PollWorkflowExecutionUpdateResponse>)> done) {
  auto ns = ResolveNamespace(request.namespace_());
  if (!ns.ok()) return done(ns.status());
  const auto& ref = request.update_ref();
  Status valid = CheckId(ref.workflow_execution().workflow_id(), "WorkflowId");
  if (valid.ok()) valid = CheckId(ref.update_id(), "UpdateId");
  if (!valid.ok()) return done(valid);
  auto key = history_.ResolveExecution((*ns)->info().id(), ref.workflow_execution());
  if (!key.ok()) return done(key.status());
  auto status = history_.UpdateState(*key, ref.update_id());
  if (!status.ok()) return done(status.status());
  // No wait policy (or ADMITTED): a non-blocking poll that answers the stage reached now.
  auto wanted = request.wait_policy().lifecycle_stage();
  if (wanted == enums::UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_UNSPECIFIED) {
    wanted = enums::UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED;
  }
  WaitForUpdate<wfs::PollWorkflowExecutionUpdateResponse>(ctx, *status, ref.update_id(), wanted,
                                                          std::move(done));
}

namespace {

// A worker's answer to a query, as QueryWorkflow returns it. A failed query is INVALID_ARGUMENT
// with a QueryFailedFailure: the SDKs turn it into their "query failed / not registered" errors.
Result<wfs::QueryWorkflowResponse> QueryAnswer(enums::QueryResultType type,
                                               const temporal::api::common::v1::Payloads& answer,
                                               const std::string& error_message,
                                               const temporal::api::failure::v1::Failure& failure) {
  if (type == enums::QUERY_RESULT_TYPE_ANSWERED) {
    wfs::QueryWorkflowResponse response;
    *response.mutable_query_result() = answer;
    return response;
  }
  temporal::api::errordetails::v1::QueryFailedFailure detail;
  *detail.mutable_failure() = failure;
  return InvalidArgument(error_message.empty() ? failure.message() : error_message)
      .WithDetail(detail);
}

}  // namespace

void WorkflowService::QueryWorkflow(std::shared_ptr<CallContext> ctx,
                                    const wfs::QueryWorkflowRequest& request, QueryDone done) {
  auto ns = ResolveNamespace(request.namespace_());
  if (!ns.ok()) return done(ns.status());
  Status valid = CheckId(request.execution().workflow_id(), "WorkflowId");
  if (valid.ok()) valid = CheckId(request.query().query_type(), "QueryType");
  if (valid.ok()) valid = CheckBlob(request.query().query_args(), "Query arguments");
  if (!valid.ok()) return done(valid);
  auto call = std::make_shared<QueryCall>(QueryCall{ctx, (*ns)->info().id(), request, NewUuid()});
  {
    std::lock_guard lock(queries_mutex_);
    queries_.emplace(call->id, std::move(done));
  }
  DispatchQuery(std::move(call));
}

void WorkflowService::DispatchQuery(std::shared_ptr<QueryCall> call) {
  // The waiter may run under history's execution lock: it only hands the outcome on.
  auto waiter = [this, call](history::QueryOutcome outcome) {
    executor_->Submit(
        [this, call, outcome = std::move(outcome)] { OnQueryOutcome(call, outcome); });
  };
  auto target = history_.PrepareQuery(call->namespace_id, call->request.execution(),
                                      call->request.query_reject_condition(), call->id,
                                      call->request.query(), call->ctx->deadline(), waiter);
  if (!target.ok()) return AnswerQuery(call->id, target.status());
  if (target->rejected) {
    wfs::QueryWorkflowResponse response;
    response.mutable_query_rejected()->set_status(target->status);
    return AnswerQuery(call->id, response);
  }
  // Later dispatches go to the run this one found (a held query follows its run, as Temporal's).
  call->request.mutable_execution()->set_run_id(target->key.run_id);
  if (target->buffered) {
    call->ctx->OnCancel([this, key = target->key, id = call->id] {
      history_.ForgetQuery(key, id);
      AnswerQuery(id, Status(StatusCode::CANCELLED, "the caller went away"));
    });
    return;
  }
  SendQueryTask(std::move(call), *target);
}

void WorkflowService::OnQueryOutcome(std::shared_ptr<QueryCall> call,
                                     const history::QueryOutcome& outcome) {
  switch (outcome.kind) {
    case history::QueryOutcome::Kind::kAnswered: {
      const auto& r = outcome.result;
      return AnswerQuery(call->id,
                         QueryAnswer(r.result_type(), r.answer(), r.error_message(), r.failure()));
    }
    case history::QueryOutcome::Kind::kFailed:
      return AnswerQuery(call->id, outcome.error);
    case history::QueryOutcome::Kind::kDispatchDirectly: {
      {
        std::lock_guard lock(queries_mutex_);
        if (!queries_.count(call->id)) return;  // its caller left
      }
      return DispatchQuery(std::move(call));
    }
  }
}

void WorkflowService::SendQueryTask(std::shared_ptr<QueryCall> call,
                                    const history::QueryTarget& target) {
  matching::MatchedTask query;
  query.task.set_namespace_id(target.key.namespace_id);
  query.task.set_workflow_id(target.key.workflow_id);
  query.task.set_run_id(target.key.run_id);
  query.query_id = call->id;
  query.query = call->request.query();
  query.on_undeliverable = [this, id = call->id](Status status) { AnswerQuery(id, status); };
  if (!target.sticky_queue.empty()) {
    matching::QueueId sticky{target.key.namespace_id, target.sticky_queue,
                             eon::v1::TASK_QUEUE_KIND_WORKFLOW};
    if (matching_.AddQuery(sticky, query, /*sticky=*/true).ok()) {
      call->ctx->OnCancel([this, sticky, id = call->id] {
        matching_.RemoveQuery(sticky, id);
        AnswerQuery(id, Status(StatusCode::CANCELLED, "the caller went away"));
      });
      auto when =
          std::chrono::steady_clock::now() +
          std::chrono::duration_cast<std::chrono::steady_clock::duration>(target.sticky_timeout);
      scheduler_.At(when, [this, call, sticky, query, normal = target.normal_queue] {
        if (!matching_.RemoveQuery(sticky, call->id)) return;  // taken, or its caller left
        executor_->Submit([this, call, query, normal] {
          Status reset =
              history_.ResetStickyTaskQueue(call->namespace_id, call->request.execution());
          if (!reset.ok() && reset.code() != StatusCode::NOT_FOUND) {
            return AnswerQuery(call->id, reset);
          }
          SendQueryTaskToNormalQueue(call, query, normal);
        });
      });
      return;
    }
  }
  SendQueryTaskToNormalQueue(std::move(call), std::move(query), target.normal_queue);
}

void WorkflowService::SendQueryTaskToNormalQueue(std::shared_ptr<QueryCall> call,
                                                 matching::MatchedTask query,
                                                 const std::string& normal_queue) {
  // A query task waits for a worker as long as its caller does (it is never written anywhere).
  matching::QueueId queue{query.task.namespace_id(), normal_queue,
                          eon::v1::TASK_QUEUE_KIND_WORKFLOW};
  Status added = matching_.AddQuery(queue, std::move(query), /*sticky=*/false);
  if (!added.ok()) return AnswerQuery(call->id, added);
  call->ctx->OnCancel([this, queue, id = call->id] {
    matching_.RemoveQuery(queue, id);
    AnswerQuery(id, Status(StatusCode::CANCELLED, "the caller went away"));
  });
}

Result<wfs::RespondQueryTaskCompletedResponse> WorkflowService::RespondQueryTaskCompleted(
    const wfs::RespondQueryTaskCompletedRequest& request) {
  EON_ASSIGN_OR_RETURN(Namespace ns, ResolveNamespace(request.namespace_()));
  EON_ASSIGN_OR_RETURN(auto token,
                       ParseToken(request.task_token(), ns, eon::v1::TASK_QUEUE_KIND_WORKFLOW));
  if (token.query_id().empty()) {
    return InvalidArgument("the task token is not a query task's token");
  }
  {
    std::lock_guard lock(queries_mutex_);
    if (!queries_.count(token.query_id())) {
      return NotFound("query " + token.query_id() + " not found (its caller may have left)");
    }
  }
  AnswerQuery(token.query_id(),
              QueryAnswer(request.completed_type() == enums::QUERY_RESULT_TYPE_ANSWERED
                              ? enums::QUERY_RESULT_TYPE_ANSWERED
                              : enums::QUERY_RESULT_TYPE_FAILED,
                          request.query_result(), request.error_message(), request.failure()));
  return wfs::RespondQueryTaskCompletedResponse();
}

void WorkflowService::Register(RpcRouter& router) {
  executor_ = &router.executor();
  router.Unary<wfs::GetSystemInfoRequest, wfs::GetSystemInfoResponse>(
      kWorkflowService, "GetSystemInfo",
      [this](CallContext& c, const auto& r) { return GetSystemInfo(c, r); });
  router.Unary<wfs::DescribeNamespaceRequest, wfs::DescribeNamespaceResponse>(
      kWorkflowService, "DescribeNamespace",
      [this](CallContext& c, const auto& r) { return DescribeNamespace(c, r); });
  router.Unary<wfs::RegisterNamespaceRequest, wfs::RegisterNamespaceResponse>(
      kWorkflowService, "RegisterNamespace",
      [this](CallContext& c, const auto& r) { return RegisterNamespace(c, r); });
  router.Unary<wfs::ListNamespacesRequest, wfs::ListNamespacesResponse>(
      kWorkflowService, "ListNamespaces",
      [this](CallContext& c, const auto& r) { return ListNamespaces(c, r); });
  // A start of a workflow id with no start in flight neither waits nor reads (history assumes
  // the id has no current run and its commit checks that): it runs on gRPC's thread.
  router.Inline<wfs::StartWorkflowExecutionRequest, wfs::StartWorkflowExecutionResponse>(
      kWorkflowService, "StartWorkflowExecution", [this](auto, const auto& r, auto done) {
        auto namespace_id = CheckStartRequest(r);  // reads nothing
        if (!namespace_id.ok()) return done(namespace_id.status());
        HereOrOnPool(history_.StartsWithoutWaiting(*namespace_id, r), "StartWorkflowExecution", r,
                     std::move(done),
                     [this, namespace_id = *namespace_id](
                         const wfs::StartWorkflowExecutionRequest& r, auto done) {
                       StartWorkflowExecution(namespace_id, r, std::move(done));
                     });
      });
  router.Inline<wfs::PollWorkflowTaskQueueRequest, wfs::PollWorkflowTaskQueueResponse>(
      kWorkflowService, "PollWorkflowTaskQueue", [this](auto ctx, const auto& r, auto done) {
        Poll(ctx, r, eon::v1::TASK_QUEUE_KIND_WORKFLOW, std::move(done),
             [this](const matching::PollRequest& poll, auto answer) {
               return matching_.PollWorkflowTaskQueue(poll, std::move(answer));
             });
      });
  router.Inline<wfs::PollActivityTaskQueueRequest, wfs::PollActivityTaskQueueResponse>(
      kWorkflowService, "PollActivityTaskQueue", [this](auto ctx, const auto& r, auto done) {
        Poll(ctx, r, eon::v1::TASK_QUEUE_KIND_ACTIVITY, std::move(done),
             [this](const matching::PollRequest& poll, auto answer) {
               return matching_.PollActivityTaskQueue(poll, std::move(answer));
             });
      });
  // How SDKs wait for a result (the close event of a run named by id, while it runs) starts on
  // gRPC's thread when the run's state is cached: its first look reads nothing, and the wait
  // is answered from the closing commit. Any other history read goes to the request pool.
  router.Inline<wfs::GetWorkflowExecutionHistoryRequest, wfs::GetWorkflowExecutionHistoryResponse>(
      kWorkflowService, "GetWorkflowExecutionHistory", [this](auto ctx, const auto& r, auto done) {
        HereOrOnPool(CloseWaitInMemory(r), "GetWorkflowExecutionHistory", r, std::move(done),
                     [this, ctx](const wfs::GetWorkflowExecutionHistoryRequest& r, auto done) {
                       GetWorkflowExecutionHistory(ctx, r, std::move(done));
                     });
      });

  router
      .Inline<wfs::RespondWorkflowTaskCompletedRequest, wfs::RespondWorkflowTaskCompletedResponse>(
          kWorkflowService, "RespondWorkflowTaskCompleted", [this](auto, const auto& r, auto done) {
            auto ns = ResolveNamespace(r.namespace_());
            if (!ns.ok()) return done(ns.status());
            auto token = ParseToken(r.task_token(), *ns, eon::v1::TASK_QUEUE_KIND_WORKFLOW);
            if (!token.ok()) return done(token.status());
            auto complete = [this, name = (*ns)->info().name(), token = *token](
                                const wfs::RespondWorkflowTaskCompletedRequest& r, auto done) {
              history_.RespondWorkflowTaskCompletedAsync(
                  token, r,
                  [name, done](Result<wfs::RespondWorkflowTaskCompletedResponse> response) {
                    if (response.ok()) {
                      for (auto& task : *response->mutable_activity_tasks()) {
                        task.set_workflow_namespace(name);
                      }
                    }
                    done(std::move(response));
                  });
            };
            HereOrOnPool(history_.CanUpdateWithoutWaiting(KeyOf(*token)),
                         "RespondWorkflowTaskCompleted", r, std::move(done), complete);
          });
  router.Async<wfs::RespondWorkflowTaskFailedRequest, wfs::RespondWorkflowTaskFailedResponse>(
      kWorkflowService, "RespondWorkflowTaskFailed", [this](auto, const auto& r, auto done) {
        auto token = TokenOf(r, eon::v1::TASK_QUEUE_KIND_WORKFLOW);
        if (!token.ok()) return done(token.status());
        history_.RespondWorkflowTaskFailedAsync(*token, r, Empty(std::move(done)));
      });
  router
      .Inline<wfs::RespondActivityTaskCompletedRequest, wfs::RespondActivityTaskCompletedResponse>(
          kWorkflowService, "RespondActivityTaskCompleted", [this](auto, const auto& r, auto done) {
            auto ns = ResolveNamespace(r.namespace_());
            if (!ns.ok()) return done(ns.status());
            auto token = ParseToken(r.task_token(), *ns, eon::v1::TASK_QUEUE_KIND_ACTIVITY);
            if (!token.ok()) return done(token.status());
            auto complete = [this, token = *token](
                                const wfs::RespondActivityTaskCompletedRequest& r, auto done) {
              if (!CheckBlob(r.result(), "Result").ok()) {
                // As Temporal does: an oversized result fails the activity instead.
                return history_.RespondActivityTaskFailedAsync(token, ResultTooLarge(), nullptr,
                                                               r.identity(), Empty(done));
              }
              history_.RespondActivityTaskCompletedAsync(
                  token, r.result(), r.identity(), [done](Status status) {
                    if (!status.ok()) return done(status);
                    done(wfs::RespondActivityTaskCompletedResponse());
                  });
            };
            HereOrOnPool(history_.CanUpdateWithoutWaiting(KeyOf(*token)),
                         "RespondActivityTaskCompleted", r, std::move(done), complete);
          });
  // The activity calls that end or report an attempt, by task token (`token`) and by workflow
  // and activity id (`by_id`, the ...ById forms).
  auto token = [this](const auto& r) { return TokenOf(r, eon::v1::TASK_QUEUE_KIND_ACTIVITY); };
  auto by_id = [this](const auto& r) -> Result<eon::v1::TaskToken> {
    EON_ASSIGN_OR_RETURN(Namespace ns, ResolveNamespace(r.namespace_()));
    EON_RETURN_IF_ERROR(CheckId(r.workflow_id(), "WorkflowId"));
    return history_.ActivityTokenById(ns->info().id(), r.workflow_id(), r.run_id(),
                                      r.activity_id());
  };
  RegisterActivityCall<wfs::RespondActivityTaskCompletedByIdRequest,
                       wfs::RespondActivityTaskCompletedByIdResponse>(
      router, "RespondActivityTaskCompletedById", by_id,
      [this](const eon::v1::TaskToken& t, const auto& r, auto done) {
        history_.RespondActivityTaskCompletedAsync(t, r.result(), r.identity(), Empty(done));
      });
  auto fail = [this](const eon::v1::TaskToken& t, const auto& r, auto done) {
    history_.RespondActivityTaskFailedAsync(
        t, r.failure(), r.has_last_heartbeat_details() ? &r.last_heartbeat_details() : nullptr,
        r.identity(), Empty(done));
  };
  RegisterActivityCall<wfs::RespondActivityTaskFailedRequest,
                       wfs::RespondActivityTaskFailedResponse>(router, "RespondActivityTaskFailed",
                                                               token, fail);
  RegisterActivityCall<wfs::RespondActivityTaskFailedByIdRequest,
                       wfs::RespondActivityTaskFailedByIdResponse>(
      router, "RespondActivityTaskFailedById", by_id, fail);
  auto cancel = [this](const eon::v1::TaskToken& t, const auto& r, auto done) {
    history_.RespondActivityTaskCanceledAsync(t, r.details(), r.identity(), Empty(done));
  };
  RegisterActivityCall<wfs::RespondActivityTaskCanceledRequest,
                       wfs::RespondActivityTaskCanceledResponse>(
      router, "RespondActivityTaskCanceled", token, cancel);
  RegisterActivityCall<wfs::RespondActivityTaskCanceledByIdRequest,
                       wfs::RespondActivityTaskCanceledByIdResponse>(
      router, "RespondActivityTaskCanceledById", by_id, cancel);
  auto heartbeat = [this]<typename Resp>(const eon::v1::TaskToken& t, const auto& r,
                                         std::function<void(Result<Resp>)> done) {
    history_.RecordActivityTaskHeartbeatAsync(t, r.details(), r.identity(),
                                              [done](Result<bool> cancel_requested) {
                                                if (!cancel_requested.ok())
                                                  return done(cancel_requested.status());
                                                Resp response;
                                                response.set_cancel_requested(*cancel_requested);
                                                done(std::move(response));
                                              });
  };
  RegisterActivityCall<wfs::RecordActivityTaskHeartbeatRequest,
                       wfs::RecordActivityTaskHeartbeatResponse>(
      router, "RecordActivityTaskHeartbeat", token, heartbeat);
  RegisterActivityCall<wfs::RecordActivityTaskHeartbeatByIdRequest,
                       wfs::RecordActivityTaskHeartbeatByIdResponse>(
      router, "RecordActivityTaskHeartbeatById", by_id, heartbeat);
  router.Unary<wfs::DescribeWorkflowExecutionRequest, wfs::DescribeWorkflowExecutionResponse>(
      kWorkflowService, "DescribeWorkflowExecution",
      [this](CallContext&, const auto& r) -> Result<wfs::DescribeWorkflowExecutionResponse> {
        EON_ASSIGN_OR_RETURN(Namespace ns, ResolveNamespace(r.namespace_()));
        EON_RETURN_IF_ERROR(CheckId(r.execution().workflow_id(), "WorkflowId"));
        return history_.DescribeWorkflowExecution(ns->info().id(), r.execution());
      });
  router.Async<wfs::TerminateWorkflowExecutionRequest, wfs::TerminateWorkflowExecutionResponse>(
      kWorkflowService, "TerminateWorkflowExecution", [this](auto, const auto& r, auto done) {
        auto ns = NamespaceIdFor(r, r.workflow_execution().workflow_id());
        if (!ns.ok()) return done(ns.status());
        history_.TerminateWorkflowExecutionAsync(*ns, r, Empty(std::move(done)));
      });
  router.Unary<wfs::ResetWorkflowExecutionRequest, wfs::ResetWorkflowExecutionResponse>(
      kWorkflowService, "ResetWorkflowExecution",
      [this](CallContext&, const auto& r) -> Result<wfs::ResetWorkflowExecutionResponse> {
        EON_ASSIGN_OR_RETURN(Namespace ns, ResolveNamespace(r.namespace_()));
        EON_RETURN_IF_ERROR(CheckId(r.workflow_execution().workflow_id(), "WorkflowId"));
        // Temporal's frontend asks for a request id (the SDKs and the CLI make one up).
        EON_RETURN_IF_ERROR(CheckId(r.request_id(), "RequestId"));
        if (!r.post_reset_operations().empty()) {
          return Unimplemented("Eon does not implement post-reset operations yet.");
        }
        EON_ASSIGN_OR_RETURN(std::string run_id,
                             history_.ResetWorkflowExecution(ns->info().id(), r));
        wfs::ResetWorkflowExecutionResponse response;
        response.set_run_id(run_id);
        return response;
      });
  router.Async<wfs::SignalWorkflowExecutionRequest, wfs::SignalWorkflowExecutionResponse>(
      kWorkflowService, "SignalWorkflowExecution", [this](auto, const auto& r, auto done) {
        auto ns = [&]() -> Result<std::string> {
          EON_ASSIGN_OR_RETURN(auto id, NamespaceIdFor(r, r.workflow_execution().workflow_id()));
          EON_RETURN_IF_ERROR(CheckId(r.signal_name(), "SignalName"));
          EON_RETURN_IF_ERROR(CheckBlob(r.input(), "Signal input"));
          return id;
        }();
        if (!ns.ok()) return done(ns.status());
        history_.SignalWorkflowExecutionAsync(*ns, r, Empty(std::move(done)));
      });
  router.Async<wfs::SignalWithStartWorkflowExecutionRequest,
               wfs::SignalWithStartWorkflowExecutionResponse>(
      kWorkflowService, "SignalWithStartWorkflowExecution", [this](auto, const auto& r, auto done) {
        auto ns = [&]() -> Result<std::string> {
          EON_ASSIGN_OR_RETURN(auto id, NamespaceIdFor(r, r.workflow_id()));
          EON_RETURN_IF_ERROR(CheckId(r.workflow_type().name(), "WorkflowType"));
          EON_RETURN_IF_ERROR(CheckId(r.task_queue().name(), "TaskQueue"));
          EON_RETURN_IF_ERROR(CheckId(r.signal_name(), "SignalName"));
          EON_RETURN_IF_ERROR(
              CheckStartOptions(r.cron_schedule(), r.retry_policy(), r.workflow_start_delay()));
          EON_RETURN_IF_ERROR(CheckBlob(r.input(), "Input"));
          EON_RETURN_IF_ERROR(CheckBlob(r.signal_input(), "Signal input"));
          return id;
        }();
        if (!ns.ok()) return done(ns.status());
        history_.SignalWithStartWorkflowExecutionAsync(
            *ns, r, [done](Result<history::StartResult> started) {
              if (!started.ok()) return done(started.status());
              wfs::SignalWithStartWorkflowExecutionResponse response;
              response.set_run_id(started->run_id);
              response.set_started(started->started);
              done(std::move(response));
            });
      });
  router.Async<wfs::RequestCancelWorkflowExecutionRequest,
               wfs::RequestCancelWorkflowExecutionResponse>(
      kWorkflowService, "RequestCancelWorkflowExecution", [this](auto, const auto& r, auto done) {
        auto ns = NamespaceIdFor(r, r.workflow_execution().workflow_id());
        if (!ns.ok()) return done(ns.status());
        history_.RequestCancelWorkflowExecutionAsync(*ns, r, Empty(std::move(done)));
      });
  router.Unary<wfs::ResetStickyTaskQueueRequest, wfs::ResetStickyTaskQueueResponse>(
      kWorkflowService, "ResetStickyTaskQueue",
      [this](CallContext&, const auto& r) -> Result<wfs::ResetStickyTaskQueueResponse> {
        EON_ASSIGN_OR_RETURN(Namespace ns, ResolveNamespace(r.namespace_()));
        EON_RETURN_IF_ERROR(CheckId(r.execution().workflow_id(), "WorkflowId"));
        EON_RETURN_IF_ERROR(history_.ResetStickyTaskQueue(ns->info().id(), r.execution()));
        return wfs::ResetStickyTaskQueueResponse();
      });
  router.Async<wfs::UpdateWorkflowExecutionRequest, wfs::UpdateWorkflowExecutionResponse>(
      kWorkflowService, "UpdateWorkflowExecution", [this](auto ctx, const auto& r, auto done) {
        UpdateWorkflowExecution(ctx, r, std::move(done));
      });
  router.Async<wfs::PollWorkflowExecutionUpdateRequest, wfs::PollWorkflowExecutionUpdateResponse>(
      kWorkflowService, "PollWorkflowExecutionUpdate", [this](auto ctx, const auto& r, auto done) {
        PollWorkflowExecutionUpdate(ctx, r, std::move(done));
      });
  router.Async<wfs::QueryWorkflowRequest, wfs::QueryWorkflowResponse>(
      kWorkflowService, "QueryWorkflow",
      [this](auto ctx, const auto& r, auto done) { QueryWorkflow(ctx, r, std::move(done)); });
  router.Unary<wfs::RespondQueryTaskCompletedRequest, wfs::RespondQueryTaskCompletedResponse>(
      kWorkflowService, "RespondQueryTaskCompleted",
      [this](CallContext&, const auto& r) { return RespondQueryTaskCompleted(r); });
  router.Unary<wfs::UpdateNamespaceRequest, wfs::UpdateNamespaceResponse>(
      kWorkflowService, "UpdateNamespace",
      [this](CallContext&, const auto& r) -> Result<wfs::UpdateNamespaceResponse> {
        if (r.namespace_().empty()) return InvalidArgument("Namespace not set on request.");
        if (r.has_config() &&
            FromProtoDuration(r.config().workflow_execution_retention_ttl()).count() < 0) {
          return InvalidArgument("Retention period cannot be negative.");
        }
        EON_ASSIGN_OR_RETURN(
            auto ns, namespaces_.Update(r.namespace_(), [&](eon::v1::NamespaceRecord& record) {
              const auto& u = r.update_info();
              if (!u.description().empty()) record.mutable_info()->set_description(u.description());
              if (!u.owner_email().empty()) record.mutable_info()->set_owner_email(u.owner_email());
              for (const auto& [k, v] : u.data()) (*record.mutable_info()->mutable_data())[k] = v;
              if (u.state() != enums::NAMESPACE_STATE_UNSPECIFIED) {
                record.mutable_info()->set_state(u.state());
              }
              if (r.has_config() && r.config().has_workflow_execution_retention_ttl()) {
                *record.mutable_config()->mutable_workflow_execution_retention_ttl() =
                    r.config().workflow_execution_retention_ttl();
              }
              return Status::Ok();
            }));
        wfs::UpdateNamespaceResponse response;
        *response.mutable_namespace_info() = ns->info();
        *response.mutable_config() = ns->config();
        response.mutable_replication_config()->set_active_cluster_name("active");
        return response;
      });
  router.Unary<wfs::DeleteWorkflowExecutionRequest, wfs::DeleteWorkflowExecutionResponse>(
      kWorkflowService, "DeleteWorkflowExecution",
      [this](CallContext&, const auto& r) -> Result<wfs::DeleteWorkflowExecutionResponse> {
        EON_ASSIGN_OR_RETURN(Namespace ns, ResolveNamespace(r.namespace_()));
        EON_RETURN_IF_ERROR(CheckId(r.workflow_execution().workflow_id(), "WorkflowId"));
        EON_RETURN_IF_ERROR(
            history_.DeleteWorkflowExecution(ns->info().id(), r.workflow_execution()));
        return wfs::DeleteWorkflowExecutionResponse();
      });
  router.Unary<wfs::DescribeTaskQueueRequest, wfs::DescribeTaskQueueResponse>(
      kWorkflowService, "DescribeTaskQueue",
      [this](CallContext&, const auto& r) -> Result<wfs::DescribeTaskQueueResponse> {
        EON_ASSIGN_OR_RETURN(Namespace ns, ResolveNamespace(r.namespace_()));
        EON_RETURN_IF_ERROR(CheckId(r.task_queue().name(), "TaskQueue"));
        matching::QueueId queue{ns->info().id(), r.task_queue().name(),
                                r.task_queue_type() == enums::TASK_QUEUE_TYPE_ACTIVITY
                                    ? eon::v1::TASK_QUEUE_KIND_ACTIVITY
                                    : eon::v1::TASK_QUEUE_KIND_WORKFLOW};
        auto description = matching_.Describe(queue);
        wfs::DescribeTaskQueueResponse response;
        for (const auto& [identity, when] : description.pollers) {
          auto* poller = response.add_pollers();
          poller->set_identity(identity);
          *poller->mutable_last_access_time() = ToTimestamp(when);
        }
        response.mutable_stats()->set_approximate_backlog_count(description.backlog_count);
        if (description.oldest_task_created) {
          *response.mutable_stats()->mutable_approximate_backlog_age() = ToProtoDuration(
              std::chrono::system_clock::now() - FromTimestamp(*description.oldest_task_created));
        }
        return response;
      });
  router.Unary<wfs::GetClusterInfoRequest, wfs::GetClusterInfoResponse>(
      kWorkflowService, "GetClusterInfo",
      [this](CallContext&, const auto&) -> Result<wfs::GetClusterInfoResponse> {
        wfs::GetClusterInfoResponse response;
        response.set_server_version(options_.server_version);
        response.set_cluster_name("active");
        response.set_persistence_store("sqlite");
        response.set_visibility_store("sqlite");
        response.set_history_shard_count(options_.shard_count);
        response.set_initial_failover_version(1);
        response.set_failover_version_increment(10);
        return response;
      });
  router.Unary<wfs::ShutdownWorkerRequest, wfs::ShutdownWorkerResponse>(
      kWorkflowService, "ShutdownWorker",
      [this](CallContext&, const auto& r) -> Result<wfs::ShutdownWorkerResponse> {
        EON_ASSIGN_OR_RETURN(Namespace ns, ResolveNamespace(r.namespace_()));
        // The worker's parked polls (found by its worker_instance_key, as Temporal finds them)
        // are answered empty, and so are those that come after (worker_poll_complete_on_shutdown:
        // the SDK waits for them instead of cancelling them). Its sticky queue is unloaded.
        if (!r.sticky_task_queue().empty() || !r.worker_instance_key().empty()) {
          matching_.ShutdownWorker(ns->info().id(), r.sticky_task_queue(), "",
                                   r.worker_instance_key());
        }
        return wfs::ShutdownWorkerResponse();
      });
}

}  // namespace

std::unique_ptr<ServiceHandle> RegisterWorkflowService(
    RpcRouter& router, namespaces::Registry& namespaces, history::HistoryService& history,
    matching::MatchingService& matching, DeadlineScheduler& scheduler, FrontendOptions options) {
  auto service =
      std::make_unique<WorkflowService>(namespaces, history, matching, scheduler, options);
  service->Register(router);
  return service;
}

}  // namespace eon::frontend
