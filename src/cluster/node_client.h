// NodeClients: this node's gRPC client to the other nodes' internal ports. One channel per
// address, made on first use and kept. Calls never wait for a node to come up: a node that is
// down answers UNAVAILABLE at once (gRPC's fail-fast), one that hangs by the call's deadline.
#pragma once

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"

namespace eon::cluster {

// The metadata key a forwarded call carries: the name of the node that forwarded it.
inline constexpr char kForwardedByHeader[] = "eon-forwarded-by";
// Internal calls with no deadline of their own get this one; none waits longer than the max (a
// caller with no deadline still hears from a node that hangs).
inline constexpr std::chrono::seconds kInternalCallTimeoutDefault{30};
inline constexpr std::chrono::seconds kInternalCallTimeoutMax{300};

// How this node's calls reach the others: plaintext, or mTLS (ServerOptions' internal_tls_*).
struct NodeClientOptions {
  std::string tls_cert_path;  // this node's certificate (chain), presented to the others
  std::string tls_key_path;
  std::string tls_ca_path;      // the CA that signed the others' certificates; "": plaintext
  std::string tls_server_name;  // the name their certificates carry; "": the host dialed
  int tls_refresh_interval_s = 5;
};

class NodeClients {
 public:
  explicit NodeClients(std::string self_name, NodeClientOptions options = {});

  // A call made to another node; Cancel gives up on it (its `done` then answers CANCELLED).
  class Call {
   public:
    virtual ~Call() = default;
    virtual void Cancel() = 0;
  };

  // Sends `request` (serialized) as `method` to the node at `address` and calls `done` once,
  // from any thread, with its status and (when OK) its serialized answer. `done` must not wait.
  std::shared_ptr<Call> SendRaw(const std::string& address, const std::string& method,
                                const grpc::ByteBuffer& request,
                                std::chrono::system_clock::time_point deadline,
                                std::function<void(const grpc::Status&, grpc::ByteBuffer*)> done);

  // The same for a typed call: `Resp` parsed from the answer.
  template <typename Resp>
  std::shared_ptr<Call> Send(const std::string& address, const std::string& method,
                             const google::protobuf::Message& request,
                             std::chrono::system_clock::time_point deadline,
                             std::function<void(Result<Resp>)> done) {
    grpc::ByteBuffer buffer = Serialize(request);
    return SendRaw(
        address, method, buffer, deadline,
        [done = std::move(done), address](const grpc::Status& status, grpc::ByteBuffer* answer) {
          if (!status.ok()) return done(Failed(address, status));
          Resp response;
          if (!Parse(*answer, &response))
            return done(Internal("node " + address + " answered a malformed " +
                                 response.GetDescriptor()->full_name()));
          done(std::move(response));
        });
  }

  static grpc::ByteBuffer Serialize(const google::protobuf::Message& message);
  static bool Parse(const grpc::ByteBuffer& buffer, google::protobuf::Message* message);
  // A failed call as Eon's status; a node that cannot be reached says which.
  static Status Failed(const std::string& address, const grpc::Status& status);

 private:
  std::shared_ptr<grpc::Channel> ChannelTo(const std::string& address);

  const std::string self_name_;
  const NodeClientOptions options_;
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;  // guarded by mutex_
};

}  // namespace eon::cluster
