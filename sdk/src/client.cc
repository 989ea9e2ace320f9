// The client: one gRPC connection (ClientCore) shared by the Client, its WorkflowHandles and any
// Worker made from it. Every call maps its gRPC status to an Error here, once; nothing throws.
// Long polls (workflow results, updates) are re-issued while the server answers "not yet".
#include "eon/sdk/client.h"

#include <google/protobuf/util/time_util.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <thread>

#include "client_core.h"
#include "google/rpc/status.pb.h"
#include "temporal/api/errordetails/v1/message.pb.h"
#include "uuid.h"

namespace eon::sdk {

namespace wfs = temporal::api::workflowservice::v1;
namespace enums = temporal::api::enums::v1;
namespace history = temporal::api::history::v1;
using google::protobuf::util::TimeUtil;
using Stub = wfs::WorkflowService::Stub;

namespace {

// Per-call deadline of a long poll; the server answers "not yet" a little before it, and the
// call is then re-issued.
constexpr milliseconds kLongPollTimeout{70'000};
// Histories and large payloads exceed gRPC's 4 MB default.
constexpr int kReceiveMessageBytesMax = 128 * 1024 * 1024;
constexpr size_t kListPageSizeMax = 1000;

Error MakeError(grpc::StatusCode code, std::string message,
                std::optional<Failure> failure = std::nullopt) {
  return Error{code, std::move(message), std::move(failure)};
}

std::string DefaultIdentity() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return std::to_string(getpid()) + "@" + host;
}

std::optional<Payload> FirstPayload(const Payloads& payloads) {
  if (payloads.payloads_size() == 0) return std::nullopt;
  return payloads.payloads(0);
}

// Runs one unary call with a deadline (options.rpc_timeout unless `timeout` is given).
template <typename Request, typename Response>
grpc::Status Call(const internal::ClientCore& core,
                  grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                  const Request& request, Response* response,
                  std::optional<milliseconds> timeout = std::nullopt) {
  grpc::ClientContext ctx;
  core.Prepare(ctx, timeout);
  return (core.stub.get()->*method)(&ctx, request, response);
}

// How long a waiting call keeps retrying while the server cannot be reached (a restart).
constexpr milliseconds kUnavailableBudget{60'000};

// A run of failures that is asked again after a growing pause (`first`, doubling up to `max`)
// for at most `budget` from the first failure; Reset() when a call got through.
class Backoff {
 public:
  Backoff(milliseconds first, milliseconds max, milliseconds budget)
      : first_(first), max_(max), budget_(budget), pause_(first) {}
  bool WaitAndAgain() {
    auto now = std::chrono::steady_clock::now();
    if (!failing_) {
      failing_ = true;
      since_ = now;
    }
    if (now - since_ > budget_) return false;
    std::this_thread::sleep_for(pause_);
    pause_ = std::min(pause_ * 2, max_);
    return true;
  }
  void Reset() {
    failing_ = false;
    pause_ = first_;
  }

 private:
  const milliseconds first_, max_, budget_;
  bool failing_ = false;
  std::chrono::steady_clock::time_point since_{};
  milliseconds pause_;
};

// Decides whether a waiting call (a long poll for a result or an update outcome) asks again:
// when it ran into its own deadline (nothing happened yet), or when the server was unavailable,
// with a growing pause, for up to kUnavailableBudget in a row. These calls only wait, so asking
// again is safe (an update is deduplicated by its id).
class WaitRetry {
 public:
  bool Again(const grpc::Status& status) {
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) return true;
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return false;
    return unavailable_.WaitAndAgain();
  }
  // RESOURCE_EXHAUSTED with cause BUSY_WORKFLOW (Temporal's "workflow is closing", answered to
  // an update whose run continued as new before accepting it): asked again after a throttle
  // pause (1 s, doubling up to 10 s), as the other SDKs do, for at most 10 s in a row.
  bool AgainWhenBusy(const grpc::Status& status) {
    if (status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) return false;
    google::rpc::Status details;
    temporal::api::errordetails::v1::ResourceExhaustedFailure busy;
    if (!details.ParseFromString(status.error_details()) || details.details().empty() ||
        !details.details(0).UnpackTo(&busy) ||
        busy.cause() != temporal::api::enums::v1::RESOURCE_EXHAUSTED_CAUSE_BUSY_WORKFLOW) {
      return false;
    }
    return busy_.WaitAndAgain();
  }
  void Reached() {
    unavailable_.Reset();
    busy_.Reset();
  }

 private:
  Backoff unavailable_{milliseconds(100), milliseconds(2'000), kUnavailableBudget};
  Backoff busy_{milliseconds(1'000), milliseconds(10'000), milliseconds(10'000)};
};

std::optional<Error> ValidateStart(const std::string& workflow_type,
                                   const StartWorkflowOptions& options) {
  if (workflow_type.empty()) {
    return MakeError(grpc::StatusCode::INVALID_ARGUMENT, "workflow type is required");
  }
  if (options.id.empty()) {
    return MakeError(grpc::StatusCode::INVALID_ARGUMENT, "StartWorkflowOptions.id is required");
  }
  if (options.task_queue.empty()) {
    return MakeError(grpc::StatusCode::INVALID_ARGUMENT,
                     "StartWorkflowOptions.task_queue is required");
  }
  return std::nullopt;
}

// Fills the fields StartWorkflowExecutionRequest and SignalWithStartWorkflowExecutionRequest
// share. Throws what the codec throws (memo values go through it).
template <typename Request>
void FillStart(const internal::ClientCore& core, const std::string& workflow_type,
               const StartWorkflowOptions& options, const Payloads& args, Request* request) {
  request->set_namespace_(core.options.ns);
  request->set_workflow_id(options.id);
  request->mutable_workflow_type()->set_name(workflow_type);
  request->mutable_task_queue()->set_name(options.task_queue);
  request->mutable_task_queue()->set_kind(enums::TASK_QUEUE_KIND_NORMAL);
  *request->mutable_input() = args;
  if (options.execution_timeout.count() != 0) {
    *request->mutable_workflow_execution_timeout() =
        TimeUtil::MillisecondsToDuration(options.execution_timeout.count());
  }
  if (options.run_timeout.count() != 0) {
    *request->mutable_workflow_run_timeout() =
        TimeUtil::MillisecondsToDuration(options.run_timeout.count());
  }
  if (options.task_timeout.count() != 0) {
    *request->mutable_workflow_task_timeout() =
        TimeUtil::MillisecondsToDuration(options.task_timeout.count());
  }
  if (options.retry_policy.has_value()) {
    *request->mutable_retry_policy() = options.retry_policy->ToProto();
  }
  request->set_cron_schedule(options.cron_schedule);
  request->set_workflow_id_reuse_policy(options.id_reuse_policy);
  request->set_workflow_id_conflict_policy(options.id_conflict_policy);
  for (const auto& [key, value] : options.memo) {
    (*request->mutable_memo()->mutable_fields())[key] = core.converter.Encode(value);
  }
  // The server indexes search attributes, so they never go through the codec.
  for (const auto& [key, value] : options.search_attributes) {
    (*request->mutable_search_attributes()->mutable_indexed_fields())[key] = ToPayload(value);
  }
  if (options.start_delay.count() != 0) {
    *request->mutable_workflow_start_delay() =
        TimeUtil::MillisecondsToDuration(options.start_delay.count());
  }
  request->set_identity(core.identity);
  request->set_request_id(internal::NewUuid());
}

// The first run of the chain a start answer belongs to, when known (empty: no constraint).
template <typename Response>
std::string FirstRunId(const Response& response) {
  if (!response.first_execution_run_id().empty()) return response.first_execution_run_id();
  // A run this call started is its chain's first; an existing one (signal-with-start, the
  // USE_EXISTING conflict policy) may be a later run of its chain.
  return response.started() ? response.run_id() : std::string();
}

bool IsCloseEvent(const history::HistoryEvent& event) {
  switch (event.attributes_case()) {
    case history::HistoryEvent::kWorkflowExecutionCompletedEventAttributes:
    case history::HistoryEvent::kWorkflowExecutionFailedEventAttributes:
    case history::HistoryEvent::kWorkflowExecutionCanceledEventAttributes:
    case history::HistoryEvent::kWorkflowExecutionTerminatedEventAttributes:
    case history::HistoryEvent::kWorkflowExecutionTimedOutEventAttributes:
    case history::HistoryEvent::kWorkflowExecutionContinuedAsNewEventAttributes:
      return true;
    default:
      return false;
  }
}

// Long-polls the history of a run (empty run_id: the current one) until its close event.
Result<history::HistoryEvent> AwaitCloseEvent(const internal::ClientCore& core,
                                              const std::string& workflow_id,
                                              const std::string& run_id) {
  wfs::GetWorkflowExecutionHistoryRequest request;
  request.set_namespace_(core.options.ns);
  request.mutable_execution()->set_workflow_id(workflow_id);
  request.mutable_execution()->set_run_id(run_id);
  request.set_wait_new_event(true);
  request.set_history_event_filter_type(enums::HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT);
  request.set_skip_archival(true);
  WaitRetry retry;
  for (;;) {
    wfs::GetWorkflowExecutionHistoryResponse response;
    grpc::Status status =
        Call(core, &Stub::GetWorkflowExecutionHistory, request, &response, kLongPollTimeout);
    if (!status.ok() && retry.Again(status)) continue;
    if (!status.ok()) return internal::ErrorFromStatus(status);
    retry.Reached();
    for (const history::HistoryEvent& event : response.history().events()) {
      if (IsCloseEvent(event)) return event;
    }
    // Not closed yet: the token says where to resume waiting.
    request.set_next_page_token(response.next_page_token());
  }
}

bool HasOutcome(const temporal::api::update::v1::Outcome& outcome) {
  return outcome.value_case() != temporal::api::update::v1::Outcome::VALUE_NOT_SET;
}

}  // namespace

namespace internal {

void ClientCore::Prepare(grpc::ClientContext& ctx, std::optional<milliseconds> timeout) const {
  ctx.set_deadline(std::chrono::system_clock::now() + timeout.value_or(options.rpc_timeout));
  if (!options.api_key.empty()) ctx.AddMetadata("authorization", "Bearer " + options.api_key);
}

Error ErrorFromStatus(const grpc::Status& status) {
  return Error{status.error_code(), status.error_message(), std::nullopt};
}

}  // namespace internal

// ---------------------------------------------------------------------------------------------
// Client

Result<Client> Client::Connect(ClientOptions options) {
  if (options.address.empty()) {
    return MakeError(grpc::StatusCode::INVALID_ARGUMENT, "ClientOptions.address is required");
  }
  if (options.ns.empty()) {
    return MakeError(grpc::StatusCode::INVALID_ARGUMENT, "ClientOptions.ns is required");
  }
  if (options.rpc_timeout.count() <= 0) {
    return MakeError(grpc::StatusCode::INVALID_ARGUMENT,
                     "ClientOptions.rpc_timeout must be positive");
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kReceiveMessageBytesMax);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls.has_value()) {
    const TlsOptions& tls = *options.tls;
    if (tls.client_cert_pem.empty() != tls.client_key_pem.empty()) {
      return MakeError(grpc::StatusCode::INVALID_ARGUMENT,
                       "TlsOptions.client_cert_pem and client_key_pem go together");
    }
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = tls.server_root_ca_pem;
    ssl.pem_cert_chain = tls.client_cert_pem;
    ssl.pem_private_key = tls.client_key_pem;
    credentials = grpc::SslCredentials(ssl);
    if (!tls.server_name_override.empty()) {
      args.SetString(GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, tls.server_name_override);
    }
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }

  auto core = std::make_shared<internal::ClientCore>();
  core->identity = options.identity.empty() ? DefaultIdentity() : options.identity;
  core->converter = DataConverter(options.codec);
  core->channel = grpc::CreateCustomChannel(options.address, credentials, args);
  core->stub = wfs::WorkflowService::NewStub(core->channel);
  if (options.time_skipping) {
    core->test_stub = temporal::api::testservice::v1::TestService::NewStub(core->channel);
  }
  core->options = std::move(options);

  wfs::GetSystemInfoResponse info;
  grpc::Status status =
      Call(*core, &Stub::GetSystemInfo, wfs::GetSystemInfoRequest(), &info, std::nullopt);
  if (!status.ok()) {
    // Credentials problems keep their code; anything else means nothing usable answered.
    grpc::StatusCode code = status.error_code();
    if (code != grpc::StatusCode::UNAUTHENTICATED && code != grpc::StatusCode::PERMISSION_DENIED) {
      code = grpc::StatusCode::UNAVAILABLE;
    }
    return MakeError(code, "cannot reach " + core->options.address + ": " + status.error_message());
  }
  return Client(std::move(core));
}

Result<WorkflowHandle> Client::start_workflow_payloads(const std::string& workflow_type,
                                                       const StartWorkflowOptions& options,
                                                       const Payloads& args) {
  if (auto invalid = ValidateStart(workflow_type, options)) return *invalid;
  wfs::StartWorkflowExecutionRequest request;
  try {
    FillStart(*core_, workflow_type, options, args, &request);
  } catch (const std::exception& e) {
    return MakeError(grpc::StatusCode::INVALID_ARGUMENT, e.what());
  }
  wfs::StartWorkflowExecutionResponse response;
  grpc::Status status = Call(*core_, &Stub::StartWorkflowExecution, request, &response);
  if (!status.ok()) return internal::ErrorFromStatus(status);
  return WorkflowHandle(core_, options.id, response.run_id(), FirstRunId(response),
                        /*pinned=*/false);
}

Result<WorkflowHandle> Client::signal_with_start_payloads(const std::string& workflow_type,
                                                          const StartWorkflowOptions& options,
                                                          const Payloads& args,
                                                          const std::string& signal_name,
                                                          const Payloads& signal_args) {
  if (auto invalid = ValidateStart(workflow_type, options)) return *invalid;
  if (signal_name.empty()) {
    return MakeError(grpc::StatusCode::INVALID_ARGUMENT, "signal name is required");
  }
  wfs::SignalWithStartWorkflowExecutionRequest request;
  try {
    FillStart(*core_, workflow_type, options, args, &request);
  } catch (const std::exception& e) {
    return MakeError(grpc::StatusCode::INVALID_ARGUMENT, e.what());
  }
  request.set_signal_name(signal_name);
  *request.mutable_signal_input() = signal_args;
  wfs::SignalWithStartWorkflowExecutionResponse response;
  grpc::Status status = Call(*core_, &Stub::SignalWithStartWorkflowExecution, request, &response);
  if (!status.ok()) return internal::ErrorFromStatus(status);
  return WorkflowHandle(core_, options.id, response.run_id(), FirstRunId(response),
                        /*pinned=*/false);
}

WorkflowHandle Client::get_handle(const std::string& workflow_id, const std::string& run_id) const {
  // The chain's first run is unknown here, so calls carry no first-run constraint.
  return WorkflowHandle(core_, workflow_id, run_id, "", /*pinned=*/!run_id.empty());
}

Result<std::vector<WorkflowExecutionInfo>> Client::list_workflows(const std::string& query,
                                                                  size_t limit) const {
  std::vector<WorkflowExecutionInfo> executions;
  if (limit == 0) return executions;
  wfs::ListWorkflowExecutionsRequest request;
  request.set_namespace_(core_->options.ns);
  request.set_query(query);
  request.set_page_size(static_cast<int32_t>(std::min(limit, kListPageSizeMax)));
  do {
    wfs::ListWorkflowExecutionsResponse response;
    grpc::Status status = Call(*core_, &Stub::ListWorkflowExecutions, request, &response);
    if (!status.ok()) return internal::ErrorFromStatus(status);
    for (WorkflowExecutionInfo& info : *response.mutable_executions()) {
      if (executions.size() >= limit) break;
      executions.push_back(std::move(info));
    }
    request.set_next_page_token(response.next_page_token());
  } while (executions.size() < limit && !request.next_page_token().empty());
  return executions;
}

Result<int64_t> Client::count_workflows(const std::string& query) const {
  wfs::CountWorkflowExecutionsRequest request;
  request.set_namespace_(core_->options.ns);
  request.set_query(query);
  wfs::CountWorkflowExecutionsResponse response;
  grpc::Status status = Call(*core_, &Stub::CountWorkflowExecutions, request, &response);
  if (!status.ok()) return internal::ErrorFromStatus(status);
  return static_cast<int64_t>(response.count());
}

Result<void> Client::complete_activity_payload(const std::string& task_token,
                                               const Payload& result) const {
  wfs::RespondActivityTaskCompletedRequest request;
  request.set_namespace_(core_->options.ns);
  request.set_task_token(task_token);
  *request.mutable_result()->add_payloads() = result;
  request.set_identity(core_->identity);
  wfs::RespondActivityTaskCompletedResponse response;
  grpc::Status status = Call(*core_, &Stub::RespondActivityTaskCompleted, request, &response);
  if (!status.ok()) return internal::ErrorFromStatus(status);
  return {};
}

Result<void> Client::fail_activity(const std::string& task_token, const Failure& failure) const {
  wfs::RespondActivityTaskFailedRequest request;
  request.set_namespace_(core_->options.ns);
  request.set_task_token(task_token);
  *request.mutable_failure() = failure;
  request.set_identity(core_->identity);
  wfs::RespondActivityTaskFailedResponse response;
  grpc::Status status = Call(*core_, &Stub::RespondActivityTaskFailed, request, &response);
  if (!status.ok()) return internal::ErrorFromStatus(status);
  return {};
}

Result<void> Client::complete_activity_by_id(const std::string& workflow_id,
                                             const std::string& run_id,
                                             const std::string& activity_id,
                                             const Payload& result) const {
  wfs::RespondActivityTaskCompletedByIdRequest request;
  request.set_namespace_(core_->options.ns);
  request.set_workflow_id(workflow_id);
  request.set_run_id(run_id);
  request.set_activity_id(activity_id);
  *request.mutable_result()->add_payloads() = result;
  request.set_identity(core_->identity);
  wfs::RespondActivityTaskCompletedByIdResponse response;
  grpc::Status status = Call(*core_, &Stub::RespondActivityTaskCompletedById, request, &response);
  if (!status.ok()) return internal::ErrorFromStatus(status);
  return {};
}

const DataConverter& Client::converter() const { return core_->converter; }

const ClientOptions& Client::options() const { return core_->options; }

wfs::WorkflowService::Stub& Client::stub() const { return *core_->stub; }

std::shared_ptr<grpc::Channel> Client::channel() const { return core_->channel; }

// ---------------------------------------------------------------------------------------------
// WorkflowHandle

const DataConverter& WorkflowHandle::converter() const { return core_->converter; }

namespace {

// Lets a time-skipping server skip time while a result is awaited (the lock is a counter, so
// waits in several threads combine).
class TimeSkippingUnlock {
 public:
  explicit TimeSkippingUnlock(const internal::ClientCore& core) : core_(core) {
    temporal::api::testservice::v1::UnlockTimeSkippingRequest request;
    temporal::api::testservice::v1::UnlockTimeSkippingResponse response;
    grpc::ClientContext ctx;
    core_.Prepare(ctx);
    status_ = core_.test_stub->UnlockTimeSkipping(&ctx, request, &response);
  }
  ~TimeSkippingUnlock() {
    if (!status_.ok()) return;
    temporal::api::testservice::v1::LockTimeSkippingRequest request;
    temporal::api::testservice::v1::LockTimeSkippingResponse response;
    grpc::ClientContext ctx;
    core_.Prepare(ctx);
    (void)core_.test_stub->LockTimeSkipping(&ctx, request, &response);
  }
  const grpc::Status& status() const { return status_; }

 private:
  const internal::ClientCore& core_;
  grpc::Status status_;
};

}  // namespace

Result<std::optional<Payload>> WorkflowHandle::result_payload() const {
  std::optional<TimeSkippingUnlock> unlock;
  if (core_->test_stub) {
    unlock.emplace(*core_);
    if (!unlock->status().ok()) {
      Error error = internal::ErrorFromStatus(unlock->status());
      error.message =
          "time skipping: " + error.message + " (is the server running with --time-skipping?)";
      return error;
    }
  }
  std::string run_id = run_id_;
  // Each pass waits for one run to close; continue-as-new, retries and cron runs move on to
  // the run the close event names.
  for (;;) {
    auto closed = AwaitCloseEvent(*core_, workflow_id_, run_id);
    if (!closed.ok()) return closed.error();
    const history::HistoryEvent& event = closed.value();
    switch (event.attributes_case()) {
      case history::HistoryEvent::kWorkflowExecutionCompletedEventAttributes: {
        const auto& completed = event.workflow_execution_completed_event_attributes();
        if (!completed.new_execution_run_id().empty()) {  // a cron workflow's next run
          run_id = completed.new_execution_run_id();
          continue;
        }
        return FirstPayload(completed.result());
      }
      case history::HistoryEvent::kWorkflowExecutionFailedEventAttributes: {
        const auto& failed = event.workflow_execution_failed_event_attributes();
        if (!failed.new_execution_run_id().empty()) {  // retried, or cron
          run_id = failed.new_execution_run_id();
          continue;
        }
        return MakeError(grpc::StatusCode::ABORTED,
                         "workflow failed: " + failed.failure().message(), failed.failure());
      }
      case history::HistoryEvent::kWorkflowExecutionCanceledEventAttributes: {
        Failure failure;
        failure.set_message("workflow canceled");
        *failure.mutable_canceled_failure_info()->mutable_details() =
            event.workflow_execution_canceled_event_attributes().details();
        return MakeError(grpc::StatusCode::ABORTED, "workflow canceled", std::move(failure));
      }
      case history::HistoryEvent::kWorkflowExecutionTerminatedEventAttributes: {
        const auto& terminated = event.workflow_execution_terminated_event_attributes();
        std::string message = "workflow terminated";
        if (!terminated.reason().empty()) message += ": " + terminated.reason();
        Failure failure;
        failure.set_message(message);
        failure.mutable_terminated_failure_info()->set_identity(terminated.identity());
        return MakeError(grpc::StatusCode::ABORTED, message, std::move(failure));
      }
      case history::HistoryEvent::kWorkflowExecutionTimedOutEventAttributes: {
        const auto& timed_out = event.workflow_execution_timed_out_event_attributes();
        if (!timed_out.new_execution_run_id().empty()) {  // retried, or cron
          run_id = timed_out.new_execution_run_id();
          continue;
        }
        Failure failure;
        failure.set_message("workflow timed out");
        failure.mutable_timeout_failure_info()->set_timeout_type(
            enums::TIMEOUT_TYPE_START_TO_CLOSE);
        return MakeError(grpc::StatusCode::ABORTED, "workflow timed out", std::move(failure));
      }
      case history::HistoryEvent::kWorkflowExecutionContinuedAsNewEventAttributes:
        run_id =
            event.workflow_execution_continued_as_new_event_attributes().new_execution_run_id();
        continue;
      default:
        // AwaitCloseEvent returns close events only.
        return MakeError(grpc::StatusCode::INTERNAL, "unexpected close event");
    }
  }
}

Result<void> WorkflowHandle::signal_payloads(const std::string& name, const Payloads& args) const {
  wfs::SignalWorkflowExecutionRequest request;
  request.set_namespace_(core_->options.ns);
  request.mutable_workflow_execution()->set_workflow_id(workflow_id_);
  request.mutable_workflow_execution()->set_run_id(target_run_id());
  request.set_signal_name(name);
  *request.mutable_input() = args;
  request.set_identity(core_->identity);
  request.set_request_id(internal::NewUuid());
  wfs::SignalWorkflowExecutionResponse response;
  grpc::Status status = Call(*core_, &Stub::SignalWorkflowExecution, request, &response);
  if (!status.ok()) return internal::ErrorFromStatus(status);
  return {};
}

Result<std::optional<Payload>> WorkflowHandle::query_payloads(
    const std::string& name, const Payloads& args, std::optional<milliseconds> timeout) const {
  wfs::QueryWorkflowRequest request;
  request.set_namespace_(core_->options.ns);
  request.mutable_execution()->set_workflow_id(workflow_id_);
  request.mutable_execution()->set_run_id(target_run_id());
  request.mutable_query()->set_query_type(name);
  *request.mutable_query()->mutable_query_args() = args;
  wfs::QueryWorkflowResponse response;
  grpc::Status status = Call(*core_, &Stub::QueryWorkflow, request, &response, timeout);
  if (!status.ok()) return internal::ErrorFromStatus(status);
  if (response.has_query_rejected()) {
    return MakeError(grpc::StatusCode::FAILED_PRECONDITION,
                     "query rejected: workflow status " +
                         enums::WorkflowExecutionStatus_Name(response.query_rejected().status()));
  }
  return FirstPayload(response.query_result());
}

Result<std::optional<Payload>> WorkflowHandle::update_payloads(const std::string& name,
                                                               const Payloads& args,
                                                               const std::string& update_id) const {
  wfs::UpdateWorkflowExecutionRequest request;
  request.set_namespace_(core_->options.ns);
  request.mutable_workflow_execution()->set_workflow_id(workflow_id_);
  request.mutable_workflow_execution()->set_run_id(target_run_id());
  request.set_first_execution_run_id(first_run_id_);
  request.mutable_wait_policy()->set_lifecycle_stage(
      enums::UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED);
  auto* meta = request.mutable_request()->mutable_meta();
  // Fixed before the first attempt, so a re-sent request is the same update.
  meta->set_update_id(update_id.empty() ? internal::NewUuid() : update_id);
  meta->set_identity(core_->identity);
  request.mutable_request()->mutable_input()->set_name(name);
  *request.mutable_request()->mutable_input()->mutable_args() = args;

  // Until a worker accepts the update, the server only admits it: send it again.
  wfs::UpdateWorkflowExecutionResponse response;
  WaitRetry retry;
  for (;;) {
    response.Clear();
    grpc::Status status =
        Call(*core_, &Stub::UpdateWorkflowExecution, request, &response, kLongPollTimeout);
    if (!status.ok() && (retry.Again(status) || retry.AgainWhenBusy(status))) continue;
    if (!status.ok()) return internal::ErrorFromStatus(status);
    retry.Reached();
    if (HasOutcome(response.outcome()) ||
        response.stage() >= enums::UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED) {
      break;
    }
  }

  // Accepted: the handler runs; poll for its outcome.
  temporal::api::update::v1::Outcome outcome = response.outcome();
  if (!HasOutcome(outcome)) {
    wfs::PollWorkflowExecutionUpdateRequest poll;
    poll.set_namespace_(core_->options.ns);
    if (response.has_update_ref()) {
      *poll.mutable_update_ref() = response.update_ref();
    } else {
      *poll.mutable_update_ref()->mutable_workflow_execution() = request.workflow_execution();
      poll.mutable_update_ref()->set_update_id(meta->update_id());
    }
    poll.set_identity(core_->identity);
    poll.mutable_wait_policy()->set_lifecycle_stage(
        enums::UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED);
    for (;;) {
      wfs::PollWorkflowExecutionUpdateResponse polled;
      grpc::Status status =
          Call(*core_, &Stub::PollWorkflowExecutionUpdate, poll, &polled, kLongPollTimeout);
      if (!status.ok() && retry.Again(status)) continue;
      if (!status.ok()) return internal::ErrorFromStatus(status);
      retry.Reached();
      if (HasOutcome(polled.outcome())) {
        outcome = polled.outcome();
        break;
      }
      if (polled.stage() >= enums::UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED) {
        // Completed without an outcome would make this loop spin; the server never does that.
        return MakeError(grpc::StatusCode::INTERNAL, "update completed without an outcome");
      }
    }
  }

  if (outcome.has_failure()) {
    return MakeError(grpc::StatusCode::ABORTED, "update failed: " + outcome.failure().message(),
                     outcome.failure());
  }
  return FirstPayload(outcome.success());
}

Result<void> WorkflowHandle::cancel(const std::string& reason) const {
  wfs::RequestCancelWorkflowExecutionRequest request;
  request.set_namespace_(core_->options.ns);
  request.mutable_workflow_execution()->set_workflow_id(workflow_id_);
  request.mutable_workflow_execution()->set_run_id(target_run_id());
  request.set_identity(core_->identity);
  request.set_request_id(internal::NewUuid());
  request.set_first_execution_run_id(first_run_id_);
  request.set_reason(reason);
  wfs::RequestCancelWorkflowExecutionResponse response;
  grpc::Status status = Call(*core_, &Stub::RequestCancelWorkflowExecution, request, &response);
  if (!status.ok()) return internal::ErrorFromStatus(status);
  return {};
}

Result<void> WorkflowHandle::terminate(const std::string& reason) const {
  wfs::TerminateWorkflowExecutionRequest request;
  request.set_namespace_(core_->options.ns);
  request.mutable_workflow_execution()->set_workflow_id(workflow_id_);
  request.mutable_workflow_execution()->set_run_id(target_run_id());
  request.set_reason(reason);
  request.set_identity(core_->identity);
  request.set_first_execution_run_id(first_run_id_);
  wfs::TerminateWorkflowExecutionResponse response;
  grpc::Status status = Call(*core_, &Stub::TerminateWorkflowExecution, request, &response);
  if (!status.ok()) return internal::ErrorFromStatus(status);
  return {};
}

Result<WorkflowDescription> WorkflowHandle::describe() const {
  wfs::DescribeWorkflowExecutionRequest request;
  request.set_namespace_(core_->options.ns);
  request.mutable_execution()->set_workflow_id(workflow_id_);
  request.mutable_execution()->set_run_id(target_run_id());
  WorkflowDescription response;
  grpc::Status status = Call(*core_, &Stub::DescribeWorkflowExecution, request, &response);
  if (!status.ok()) return internal::ErrorFromStatus(status);
  return response;
}

Result<History> WorkflowHandle::fetch_history() const {
  wfs::GetWorkflowExecutionHistoryRequest request;
  request.set_namespace_(core_->options.ns);
  request.mutable_execution()->set_workflow_id(workflow_id_);
  request.mutable_execution()->set_run_id(target_run_id());
  request.set_history_event_filter_type(enums::HISTORY_EVENT_FILTER_TYPE_ALL_EVENT);
  request.set_skip_archival(true);
  History history;
  do {
    wfs::GetWorkflowExecutionHistoryResponse response;
    grpc::Status status = Call(*core_, &Stub::GetWorkflowExecutionHistory, request, &response);
    if (!status.ok()) return internal::ErrorFromStatus(status);
    for (history::HistoryEvent& event : *response.mutable_history()->mutable_events()) {
      *history.add_events() = std::move(event);
    }
    request.set_next_page_token(response.next_page_token());
  } while (!request.next_page_token().empty());
  return history;
}

}  // namespace eon::sdk
