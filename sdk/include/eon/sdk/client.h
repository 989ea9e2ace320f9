// The client: start workflows and talk to them (signal, query, update, cancel, terminate,
// describe, list) and complete activities asynchronously, over Temporal's public gRPC API.
//
//   auto client = eon::sdk::Client::Connect({.address = "localhost:7233"}).value();
//   auto greeting = client.execute_workflow<std::string>(
//       "Greeting", {.id = "greet-1", .task_queue = "hello"}, std::string("World"));
//
// Every call returns a Result; nothing throws. Workflow outcomes other than success (failed,
// canceled, terminated, timed out, continued-as-new chains are followed) come back as an Error
// with code ABORTED and `failure` set.
//
// Thread safety: a Client and its handles may be used from any number of threads.
#pragma once

#include <grpcpp/channel.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "eon/sdk/failure.h"
#include "eon/sdk/options.h"
#include "eon/sdk/payload.h"
#include "eon/sdk/result.h"
#include "temporal/api/history/v1/message.pb.h"
#include "temporal/api/workflow/v1/message.pb.h"
#include "temporal/api/workflowservice/v1/request_response.pb.h"
#include "temporal/api/workflowservice/v1/service.grpc.pb.h"

namespace eon::sdk {

struct TlsOptions {
  std::string server_root_ca_pem{};  // empty: the system's roots
  std::string client_cert_pem{};     // for mutual TLS, with client_key_pem
  std::string client_key_pem{};
  std::string server_name_override{};  // the name to check the server certificate against
};

struct ClientOptions {
  std::string address = "localhost:7233";
  std::string ns = "default";       // the namespace
  std::string identity{};           // default: "<pid>@<hostname>"
  std::optional<TlsOptions> tls{};  // none: plaintext
  std::string api_key{};            // sent as "authorization: Bearer <key>" when set
  std::shared_ptr<const PayloadCodec> codec{};
  milliseconds rpc_timeout{10'000};  // for calls that are not long polls
  // For tests against `eon server start-dev --time-skipping`: while result() waits, the server
  // may skip time to the next timer (UnlockTimeSkipping before waiting, LockTimeSkipping
  // after), so a workflow that sleeps for months finishes in moments.
  bool time_skipping = false;
};

using WorkflowDescription = temporal::api::workflowservice::v1::DescribeWorkflowExecutionResponse;
using WorkflowExecutionInfo = temporal::api::workflow::v1::WorkflowExecutionInfo;
using History = temporal::api::history::v1::History;

namespace internal {
struct ClientCore;

// Encodes call arguments; a value the converter or codec cannot encode is an INVALID_ARGUMENT
// Error rather than an exception (the client does not throw).
template <typename... A>
Result<Payloads> TryEncodeAll(const DataConverter& converter, const A&... args) {
  try {
    return converter.EncodeAll(args...);
  } catch (const std::exception& e) {
    return Error{grpc::StatusCode::INVALID_ARGUMENT,
                 std::string("an argument could not be encoded: ") + e.what(), std::nullopt};
  }
}
}  // namespace internal

class WorkflowHandle {
 public:
  const std::string& workflow_id() const { return workflow_id_; }
  // The run this handle was created for. Calls on a handle from start_workflow go to the
  // workflow's current run (so they follow continue-as-new, as the other SDKs' handles do);
  // calls on one from get_handle(id, run_id) go to that run; result() starts at run_id() and
  // follows the chain from there.
  const std::string& run_id() const { return run_id_; }

  // Waits for the workflow to close and returns its result, following continue-as-new, retry
  // and cron runs to the last one.
  template <typename R>
  Result<R> result() const;
  Result<std::optional<Payload>> result_payload() const;

  template <typename... A>
  Result<void> signal(const std::string& name, const A&... args) const {
    auto payloads = internal::TryEncodeAll(converter(), args...);
    if (!payloads.ok()) return payloads.error();
    return signal_payloads(name, *payloads);
  }
  Result<void> signal_payloads(const std::string& name, const Payloads& args) const;

  // Answered by a worker; fails with INVALID_ARGUMENT when the handler is unknown or threw.
  // Waits up to ClientOptions::rpc_timeout (or `timeout`) for a worker to answer, then fails
  // with DEADLINE_EXCEEDED.
  template <typename R, typename... A>
  Result<R> query(const std::string& name, const A&... args) const;
  Result<std::optional<Payload>> query_payloads(
      const std::string& name, const Payloads& args,
      std::optional<milliseconds> timeout = std::nullopt) const;

  // Runs an update and waits for its outcome; a rejection or a failed handler is an Error with
  // code ABORTED and `failure` set. update_id defaults to a new UUID.
  template <typename R, typename... A>
  Result<R> update(const std::string& name, const A&... args) const;
  Result<std::optional<Payload>> update_payloads(const std::string& name, const Payloads& args,
                                                 const std::string& update_id = "") const;

  Result<void> cancel(const std::string& reason = "") const;
  Result<void> terminate(const std::string& reason = "") const;
  Result<WorkflowDescription> describe() const;
  // The full history of this handle's run (or the current run), all pages.
  Result<History> fetch_history() const;

  const DataConverter& converter() const;

 private:
  friend class Client;
  WorkflowHandle(std::shared_ptr<internal::ClientCore> core, std::string workflow_id,
                 std::string run_id, std::string first_run_id, bool pinned)
      : core_(std::move(core)),
        workflow_id_(std::move(workflow_id)),
        run_id_(std::move(run_id)),
        first_run_id_(std::move(first_run_id)),
        pinned_(pinned) {}
  // The run id calls name: this run when pinned, else "" (the current run).
  std::string target_run_id() const { return pinned_ ? run_id_ : ""; }

  // Shared: the client and all its handles use one connection.
  std::shared_ptr<internal::ClientCore> core_;
  std::string workflow_id_;
  std::string run_id_;
  std::string first_run_id_;
  bool pinned_ = false;
};

class Client {
 public:
  // Connects (and checks the server with GetSystemInfo). UNAVAILABLE when nothing answers.
  static Result<Client> Connect(ClientOptions options);

  template <typename... A>
  Result<WorkflowHandle> start_workflow(const std::string& workflow_type,
                                        const StartWorkflowOptions& options, const A&... args) {
    auto payloads = internal::TryEncodeAll(converter(), args...);
    if (!payloads.ok()) return payloads.error();
    return start_workflow_payloads(workflow_type, options, *payloads);
  }
  Result<WorkflowHandle> start_workflow_payloads(const std::string& workflow_type,
                                                 const StartWorkflowOptions& options,
                                                 const Payloads& args);

  // Starts the workflow and waits for its result.
  template <typename R, typename... A>
  Result<R> execute_workflow(const std::string& workflow_type, const StartWorkflowOptions& options,
                             const A&... args) {
    auto handle = start_workflow(workflow_type, options, args...);
    if (!handle.ok()) return handle.error();
    return handle.value().template result<R>();
  }

  // Signals the workflow, starting it first (with `args`) when it is not running:
  //   client.signal_with_start("Subscription", options, "add_seat", std::make_tuple(2),
  //                            customer, terms);
  template <typename... S, typename... A>
  Result<WorkflowHandle> signal_with_start(const std::string& workflow_type,
                                           const StartWorkflowOptions& options,
                                           const std::string& signal_name,
                                           const std::tuple<S...>& signal_args, const A&... args) {
    auto payloads = internal::TryEncodeAll(converter(), args...);
    if (!payloads.ok()) return payloads.error();
    auto signal_payloads = std::apply(
        [this](const S&... s) { return internal::TryEncodeAll(converter(), s...); }, signal_args);
    if (!signal_payloads.ok()) return signal_payloads.error();
    return signal_with_start_payloads(workflow_type, options, *payloads, signal_name,
                                      *signal_payloads);
  }
  Result<WorkflowHandle> signal_with_start_payloads(const std::string& workflow_type,
                                                    const StartWorkflowOptions& options,
                                                    const Payloads& args,
                                                    const std::string& signal_name,
                                                    const Payloads& signal_args);

  WorkflowHandle get_handle(const std::string& workflow_id, const std::string& run_id = "") const;

  // Visibility: up to `limit` executions matching a list filter ("" for all), newest first.
  Result<std::vector<WorkflowExecutionInfo>> list_workflows(const std::string& query = "",
                                                            size_t limit = 1000) const;
  Result<int64_t> count_workflows(const std::string& query = "") const;

  // Asynchronous activity completion, by task token (ActivityContext::task_token()) or by id.
  template <typename T>
  Result<void> complete_activity(const std::string& task_token, const T& result) const {
    auto payloads = internal::TryEncodeAll(converter(), result);
    if (!payloads.ok()) return payloads.error();
    return complete_activity_payload(task_token, payloads->payloads(0));
  }
  Result<void> complete_activity_payload(const std::string& task_token,
                                         const Payload& result) const;
  Result<void> fail_activity(const std::string& task_token, const Failure& failure) const;
  Result<void> complete_activity_by_id(const std::string& workflow_id, const std::string& run_id,
                                       const std::string& activity_id, const Payload& result) const;

  const DataConverter& converter() const;
  const ClientOptions& options() const;
  temporal::api::workflowservice::v1::WorkflowService::Stub& stub() const;
  std::shared_ptr<grpc::Channel> channel() const;
  // Internal: the connection state, shared with workers.
  const std::shared_ptr<internal::ClientCore>& core() const { return core_; }

 private:
  explicit Client(std::shared_ptr<internal::ClientCore> core) : core_(std::move(core)) {}
  // Shared with every handle and worker made from this client.
  std::shared_ptr<internal::ClientCore> core_;
};

namespace internal {
// Decodes a result payload (absent: a JSON null) into R, as an Error on failure.
template <typename R>
Result<R> DecodeResult(const DataConverter& converter, const std::optional<Payload>& payload) {
  if constexpr (std::is_void_v<R>) {
    return Result<void>();
  } else {
    try {
      return converter.Decode<R>(payload ? *payload : ToPayload(nullptr));
    } catch (const std::exception& e) {
      return Error{grpc::StatusCode::INVALID_ARGUMENT, e.what(), std::nullopt};
    }
  }
}
}  // namespace internal

template <typename R>
Result<R> WorkflowHandle::result() const {
  auto payload = result_payload();
  if (!payload.ok()) return payload.error();
  return internal::DecodeResult<R>(converter(), payload.value());
}

template <typename R, typename... A>
Result<R> WorkflowHandle::query(const std::string& name, const A&... args) const {
  auto payloads = internal::TryEncodeAll(converter(), args...);
  if (!payloads.ok()) return payloads.error();
  auto payload = query_payloads(name, *payloads);
  if (!payload.ok()) return payload.error();
  return internal::DecodeResult<R>(converter(), payload.value());
}

template <typename R, typename... A>
Result<R> WorkflowHandle::update(const std::string& name, const A&... args) const {
  auto payloads = internal::TryEncodeAll(converter(), args...);
  if (!payloads.ok()) return payloads.error();
  auto payload = update_payloads(name, *payloads);
  if (!payload.ok()) return payload.error();
  return internal::DecodeResult<R>(converter(), payload.value());
}

}  // namespace eon::sdk
