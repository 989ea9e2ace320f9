#include "frontend/batch_service.h"

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "common/log.h"
#include "common/page_token.h"
#include "temporal/api/workflowservice/v1/request_response.pb.h"

namespace eon::frontend {
namespace {

namespace wfs = temporal::api::workflowservice::v1;
namespace enums = temporal::api::enums::v1;

constexpr std::chrono::seconds kOperationTimeout{60};
constexpr int kListPageSize = 1'000;

using Key = std::pair<std::string, std::string>;  // namespace, job id

class BatchService final : public ServiceHandle {
 public:
  BatchService(RpcRouter& router, const Clock& clock, worker::BatchRecords& records)
      : router_(router), clock_(clock), records_(records) {}

  // A job still running when the server stopped was cut short: it is recorded as failed. (On
  // several nodes of one database this also fails the jobs another node is running; that node
  // records how its job ended when it ends. See docs/architecture.md.)
  Status Load() {
    EON_ASSIGN_OR_RETURN(auto records, records_.LoadAll());
    for (auto& [namespace_name, job] : records) {
      if (job.state() != enums::BATCH_OPERATION_STATE_RUNNING) continue;
      job.set_state(enums::BATCH_OPERATION_STATE_FAILED);
      *job.mutable_close_time() = ToTimestamp(clock_.Now());
      EON_RETURN_IF_ERROR(records_.Put(namespace_name, job));
    }
    return Status::Ok();
  }

  void Register() {
    router_.Async<wfs::StartBatchOperationRequest, wfs::StartBatchOperationResponse>(
        kWorkflowService, "StartBatchOperation",
        [this](std::shared_ptr<CallContext>, const wfs::StartBatchOperationRequest& request,
               std::function<void(Result<wfs::StartBatchOperationResponse>)> done) {
          Start(request, std::move(done));
        });
    router_.Unary<wfs::DescribeBatchOperationRequest, wfs::DescribeBatchOperationResponse>(
        kWorkflowService, "DescribeBatchOperation",
        [this](CallContext&, const wfs::DescribeBatchOperationRequest& request)
            -> Result<wfs::DescribeBatchOperationResponse> {
          EON_ASSIGN_OR_RETURN(auto jobs, AllJobs());
          for (auto& [key, job] : jobs) {
            if (key.first == request.namespace_() && key.second == request.job_id())
              return std::move(job);
          }
          return NotFound("batch operation " + request.job_id() + " not found");
        });
    router_.Unary<wfs::ListBatchOperationsRequest, wfs::ListBatchOperationsResponse>(
        kWorkflowService, "ListBatchOperations",
        [this](CallContext&, const wfs::ListBatchOperationsRequest& request)
            -> Result<wfs::ListBatchOperationsResponse> {
          wfs::ListBatchOperationsResponse response;
          EON_ASSIGN_OR_RETURN(const int64_t offset,
                               DecodeOffsetPageToken(request.next_page_token()));
          // As Temporal: no page size, or one over the visibility page cap, is the cap.
          const int64_t page_size = request.page_size() <= 0 || request.page_size() > kListPageSize
                                        ? kListPageSize
                                        : request.page_size();
          EON_ASSIGN_OR_RETURN(const auto jobs, AllJobs());
          int64_t index = 0;  // of the namespace's operations, newest first
          for (auto it = jobs.rbegin(); it != jobs.rend(); ++it) {
            if (it->first.first != request.namespace_()) continue;
            if (index++ < offset) continue;
            if (response.operation_info_size() == page_size) {
              response.set_next_page_token(EncodeOffsetPageToken(offset + page_size));
              break;
            }
            const auto& job = it->second;
            auto* info = response.add_operation_info();
            info->set_job_id(job.job_id());
            info->set_state(job.state());
            *info->mutable_start_time() = job.start_time();
            if (job.has_close_time()) *info->mutable_close_time() = job.close_time();
            info->set_operation_type(job.operation_type());
          }
          return response;
        });
  }

 private:
  // Every job of every namespace, oldest first: the stored records, which include those other
  // nodes of the database started (and those this node ran before a restart), with this node's
  // in-memory copy in place of its own jobs' records (their progress counts are kept only in
  // memory while they run). The store is read without holding mutex_.
  Result<std::vector<std::pair<Key, wfs::DescribeBatchOperationResponse>>> AllJobs() {
    EON_ASSIGN_OR_RETURN(auto stored, records_.LoadAll());
    std::vector<std::pair<Key, wfs::DescribeBatchOperationResponse>> out;
    out.reserve(stored.size());
    std::lock_guard lock(mutex_);
    std::set<Key> seen;
    for (auto& [namespace_name, record] : stored) {
      Key key{std::move(namespace_name), record.job_id()};
      auto mine = jobs_.find(key);
      seen.insert(key);
      out.emplace_back(std::move(key), mine != jobs_.end() ? mine->second : std::move(record));
    }
    // A job of this node whose record is gone (trimmed by another node) is still listed here.
    for (const Key& key : order_) {
      if (!seen.count(key)) out.emplace_back(key, jobs_.at(key));
    }
    return out;
  }

  // One batch in progress: its targets, and how far it got. Shared by the steps' callbacks.
  struct Run {
    Key key;
    wfs::StartBatchOperationRequest request;
    std::vector<temporal::api::common::v1::WorkflowExecution> targets;
    std::string page_token;
    size_t next = 0;
    int64_t completed = 0;
    int64_t failed = 0;
    std::function<void(Result<wfs::StartBatchOperationResponse>)> done;
  };

  static Status Validate(const wfs::StartBatchOperationRequest& request) {
    if (request.job_id().empty()) return InvalidArgument("JobId is not set on request.");
    if (request.reason().empty()) return InvalidArgument("Reason is not set on request.");
    bool has_query = !request.visibility_query().empty();
    if (has_query == (request.executions_size() > 0))
      return InvalidArgument("exactly one of VisibilityQuery and Executions must be set");
    if (request.executions_size() > kBatchExecutionsMax)
      return InvalidArgument("a batch takes at most " + std::to_string(kBatchExecutionsMax) +
                             " executions");
    switch (request.operation_case()) {
      case wfs::StartBatchOperationRequest::kTerminationOperation:
      case wfs::StartBatchOperationRequest::kCancellationOperation:
        return Status::Ok();
      case wfs::StartBatchOperationRequest::kSignalOperation:
        if (request.signal_operation().signal().empty())
          return InvalidArgument("a signal batch needs signal_operation.signal");
        return Status::Ok();
      case wfs::StartBatchOperationRequest::OPERATION_NOT_SET:
        return InvalidArgument("the batch operation is not set (termination_operation, ...)");
      default:
        return Unimplemented(
            "Eon's batch operations terminate, cancel or signal workflows; this operation is "
            "not supported yet");
    }
  }

  static enums::BatchOperationType TypeOf(const wfs::StartBatchOperationRequest& request) {
    switch (request.operation_case()) {
      case wfs::StartBatchOperationRequest::kTerminationOperation:
        return enums::BATCH_OPERATION_TYPE_TERMINATE;
      case wfs::StartBatchOperationRequest::kCancellationOperation:
        return enums::BATCH_OPERATION_TYPE_CANCEL;
      default:
        return enums::BATCH_OPERATION_TYPE_SIGNAL;
    }
  }

  void Start(const wfs::StartBatchOperationRequest& request,
             std::function<void(Result<wfs::StartBatchOperationResponse>)> done) {
    if (Status valid = Validate(request); !valid.ok()) return done(valid);
    auto run = std::make_shared<Run>();
    run->key = {request.namespace_(), request.job_id()};
    run->request = request;
    run->done = std::move(done);
    // A job id another node of the database took (or this one before a restart) is taken too.
    auto existing = AllJobs();
    if (!existing.ok()) return run->done(existing.status());
    for (const auto& [key, job] : *existing) {
      if (key == run->key)
        return run->done(AlreadyExists("batch operation " + request.job_id() + " already exists"));
    }
    // The oldest finished records beyond the ones kept are dropped (a record that cannot be
    // removed now is removed at a later start, or stays: harmless).
    size_t kept = existing->size();
    for (const auto& [key, job] : *existing) {
      if (kept < kBatchJobsKept) break;
      if (job.state() == enums::BATCH_OPERATION_STATE_RUNNING) continue;
      if (records_.Delete(key.first, key.second).ok()) --kept;
    }
    {
      std::lock_guard lock(mutex_);
      if (jobs_.count(run->key))
        return run->done(AlreadyExists("batch operation " + request.job_id() + " already exists"));
      wfs::DescribeBatchOperationResponse job;
      job.set_operation_type(TypeOf(request));
      job.set_job_id(request.job_id());
      job.set_state(enums::BATCH_OPERATION_STATE_RUNNING);
      *job.mutable_start_time() = ToTimestamp(clock_.Now());
      job.set_identity(Identity(request));
      job.set_reason(request.reason());
      job.set_query(request.visibility_query());
      // Recorded before anything is done, so a restart knows of it.
      Status stored = records_.Put(run->key.first, job);
      if (!stored.ok()) return run->done(stored);
      jobs_[run->key] = std::move(job);
      order_.push_back(run->key);
    }
    if (request.executions_size() > 0) {
      run->targets.assign(request.executions().begin(), request.executions().end());
      return Step(run);
    }
    // Refuse a query that matches more than a batch may take before touching anything.
    auto count = std::make_unique<wfs::CountWorkflowExecutionsRequest>();
    count->set_namespace_(request.namespace_());
    count->set_query(request.visibility_query());
    Call("CountWorkflowExecutions", std::move(count),
         [this, run](const Status& status, const auto* response) {
           if (!status.ok()) return Finish(run, status);
           int64_t matched =
               static_cast<const wfs::CountWorkflowExecutionsResponse*>(response)->count();
           if (matched > kBatchExecutionsMax)
             return Finish(run, FailedPrecondition("the query matches " + std::to_string(matched) +
                                                   " workflows; a batch takes at most " +
                                                   std::to_string(kBatchExecutionsMax) +
                                                   ": narrow the query"));
           ListPage(run);
         });
  }

  static std::string Identity(const wfs::StartBatchOperationRequest& request) {
    if (request.has_termination_operation()) return request.termination_operation().identity();
    if (request.has_cancellation_operation()) return request.cancellation_operation().identity();
    return request.signal_operation().identity();
  }

  // Every target is listed before the first operation, so terminating does not move the pages.
  void ListPage(std::shared_ptr<Run> run) {
    auto list = std::make_unique<wfs::ListWorkflowExecutionsRequest>();
    list->set_namespace_(run->request.namespace_());
    list->set_query(run->request.visibility_query());
    list->set_page_size(kListPageSize);
    list->set_next_page_token(run->page_token);
    Call("ListWorkflowExecutions", std::move(list),
         [this, run](const Status& status, const auto* response) {
           if (!status.ok()) return Finish(run, status);
           const auto& page = *static_cast<const wfs::ListWorkflowExecutionsResponse*>(response);
           for (const auto& info : page.executions()) {
             if (static_cast<int64_t>(run->targets.size()) >= kBatchExecutionsMax) break;
             run->targets.push_back(info.execution());
           }
           run->page_token = page.next_page_token();
           if (!run->page_token.empty() &&
               static_cast<int64_t>(run->targets.size()) < kBatchExecutionsMax)
             return router_.executor().Submit([this, run] { ListPage(run); });
           router_.executor().Submit([this, run] { Step(run); });
         });
  }

  // Applies the operation to the next target; each answer schedules the one after.
  void Step(std::shared_ptr<Run> run) {
    {
      std::lock_guard lock(mutex_);
      auto it = jobs_.find(run->key);
      if (it != jobs_.end()) {
        it->second.set_total_operation_count(static_cast<int64_t>(run->targets.size()));
        it->second.set_complete_operation_count(run->completed);
        it->second.set_failure_operation_count(run->failed);
      }
    }
    if (run->next >= run->targets.size()) return Finish(run, Status::Ok());
    const auto& target = run->targets[run->next++];
    const auto& request = run->request;
    std::unique_ptr<google::protobuf::Message> operation;
    std::string method;
    if (request.has_termination_operation()) {
      auto terminate = std::make_unique<wfs::TerminateWorkflowExecutionRequest>();
      terminate->set_namespace_(request.namespace_());
      *terminate->mutable_workflow_execution() = target;
      terminate->set_reason(request.reason());
      *terminate->mutable_details() = request.termination_operation().details();
      terminate->set_identity(request.termination_operation().identity());
      method = "TerminateWorkflowExecution";
      operation = std::move(terminate);
    } else if (request.has_cancellation_operation()) {
      auto cancel = std::make_unique<wfs::RequestCancelWorkflowExecutionRequest>();
      cancel->set_namespace_(request.namespace_());
      *cancel->mutable_workflow_execution() = target;
      cancel->set_reason(request.reason());
      cancel->set_identity(request.cancellation_operation().identity());
      cancel->set_request_id(request.job_id() + "/" + target.run_id());
      method = "RequestCancelWorkflowExecution";
      operation = std::move(cancel);
    } else {
      auto signal = std::make_unique<wfs::SignalWorkflowExecutionRequest>();
      signal->set_namespace_(request.namespace_());
      *signal->mutable_workflow_execution() = target;
      signal->set_signal_name(request.signal_operation().signal());
      *signal->mutable_input() = request.signal_operation().input();
      *signal->mutable_header() = request.signal_operation().header();
      signal->set_identity(request.signal_operation().identity());
      signal->set_request_id(request.job_id() + "/" + target.run_id());
      method = "SignalWorkflowExecution";
      operation = std::move(signal);
    }
    Call(method, std::move(operation), [this, run](const Status& status, const auto*) {
      // A workflow that closed since it was listed counts as a failure, as in Temporal.
      (status.ok() ? run->completed : run->failed) += 1;
      router_.executor().Submit([this, run] { Step(run); });
    });
  }

  void Finish(std::shared_ptr<Run> run, const Status& status) {
    Status stored = Status::Ok();
    {
      std::lock_guard lock(mutex_);
      auto it = jobs_.find(run->key);
      if (it != jobs_.end()) {
        it->second.set_state(status.ok() ? enums::BATCH_OPERATION_STATE_COMPLETED
                                         : enums::BATCH_OPERATION_STATE_FAILED);
        *it->second.mutable_close_time() = ToTimestamp(clock_.Now());
        stored = records_.Put(run->key.first, it->second);
        // Stored, the record is the job's truth for every node; not stored, this node keeps
        // answering with how it ended.
        if (stored.ok()) {
          jobs_.erase(it);
          order_.erase(std::find(order_.begin(), order_.end(), run->key));
        }
      }
    }
    // The operations were made (each durable on its own); only the record is stale.
    if (!stored.ok()) {
      LOG_WARN("the record of batch operation " << run->key.second
                                                << " could not be stored: " << stored.message());
    }
    if (status.ok())
      run->done(wfs::StartBatchOperationResponse());
    else
      run->done(status);
  }

  // One call of this server's own API on behalf of the admitted batch call.
  void Call(const std::string& method, std::unique_ptr<google::protobuf::Message> request,
            std::function<void(const Status&, const google::protobuf::Message*)> then) {
    CallInfo call;
    call.internal = true;
    call.caller = "batch";
    router_.Invoke(std::string("/") + kWorkflowService + "/" + method, std::move(request),
                   std::move(call), std::chrono::system_clock::now() + kOperationTimeout,
                   std::move(then));
  }

  RpcRouter& router_;
  const Clock& clock_;
  worker::BatchRecords& records_;
  std::mutex mutex_;
  // The jobs this node runs (and those whose final record could not be stored), by key and
  // oldest first; guarded by mutex_.
  std::map<Key, wfs::DescribeBatchOperationResponse> jobs_;
  std::deque<Key> order_;
};

}  // namespace

Result<std::unique_ptr<ServiceHandle>> RegisterBatchService(RpcRouter& router, const Clock& clock,
                                                            worker::BatchRecords& records) {
  auto service = std::make_unique<BatchService>(router, clock, records);
  EON_RETURN_IF_ERROR(service->Load());
  service->Register();
  return std::unique_ptr<ServiceHandle>(std::move(service));
}

}  // namespace eon::frontend
