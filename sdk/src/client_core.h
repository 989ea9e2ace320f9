// The connection state a Client, its WorkflowHandles and the Workers made from it share: the
// options, the data converter, the gRPC channel and stub, and the identity they report.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "eon/sdk/client.h"
#include "eon/sdk/payload.h"
#include "eon/sdk/result.h"
#include "temporal/api/testservice/v1/service.grpc.pb.h"
#include "temporal/api/workflowservice/v1/service.grpc.pb.h"

namespace eon::sdk::internal {

// Immutable after Client::Connect builds it, so any number of threads may use it at once (gRPC
// stubs and channels are thread-safe).
struct ClientCore {
  ClientOptions options;
  DataConverter converter;
  // Shared with the stub and with anyone who asked Client::channel() for it.
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<temporal::api::workflowservice::v1::WorkflowService::Stub> stub;
  // Set when options.time_skipping: Temporal's TestService on the same channel.
  std::unique_ptr<temporal::api::testservice::v1::TestService::Stub> test_stub;
  std::string identity;  // options.identity, or "<pid>@<hostname>"

  // Sets the call's deadline (options.rpc_timeout, or `timeout` for long polls) and the
  // authorization header when an API key is configured. Call once per ClientContext.
  void Prepare(grpc::ClientContext& ctx,
               std::optional<std::chrono::milliseconds> timeout = std::nullopt) const;
};

// The Error for a failed call: the same code and the server's message.
Error ErrorFromStatus(const grpc::Status& status);

}  // namespace eon::sdk::internal
