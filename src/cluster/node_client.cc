#include "cluster/node_client.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <vector>

#include "frontend/rpc.h"

namespace eon::cluster {

namespace {

std::shared_ptr<grpc::ChannelCredentials> CredentialsFor(const NodeClientOptions& options) {
  if (options.tls_ca_path.empty()) return grpc::InsecureChannelCredentials();
  // Re-read every refresh interval, as the internal server's: renewed certificates need no
  // restart.
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      options.tls_key_path, options.tls_cert_path, options.tls_ca_path,
      static_cast<unsigned>(options.tls_refresh_interval_s));
  grpc::experimental::TlsChannelCredentialsOptions tls;
  tls.set_certificate_provider(provider);
  tls.watch_root_certs();
  tls.watch_identity_key_cert_pairs();
  tls.set_verify_server_certs(true);
  return grpc::experimental::TlsCredentials(tls);
}

}  // namespace

NodeClients::NodeClients(std::string self_name, NodeClientOptions options)
    : self_name_(std::move(self_name)),
      options_(std::move(options)),
      credentials_(CredentialsFor(options_)) {}

grpc::ByteBuffer NodeClients::Serialize(const google::protobuf::Message& message) {
  std::string bytes = message.SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

bool NodeClients::Parse(const grpc::ByteBuffer& buffer, google::protobuf::Message* message) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return false;
  std::string bytes;
  for (const auto& slice : slices)
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  return message->ParseFromString(bytes);
}

Status NodeClients::Failed(const std::string& address, const grpc::Status& status) {
  Status result = frontend::FromGrpcStatus(status);
  // A node that cannot be reached: say which, so the caller (who retries) and the log can tell.
  if ((status.error_code() == grpc::StatusCode::UNAVAILABLE ||
       status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) &&
      status.error_details().empty()) {
    return Unavailable("the node at " + address + " that owns this work did not answer (" +
                       status.error_message() + "); retry");
  }
  return result;
}

std::shared_ptr<grpc::Channel> NodeClients::ChannelTo(const std::string& address) {
  std::lock_guard lock(mutex_);
  auto& channel = channels_[address];
  if (!channel) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(128 * 1024 * 1024);
    // A restarted node is found again quickly.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2'000);
    if (!options_.tls_server_name.empty()) args.SetSslTargetNameOverride(options_.tls_server_name);
    channel = grpc::CreateCustomChannel(address, credentials_, args);
  }
  return channel;
}

namespace {

class PendingCall final : public NodeClients::Call {
 public:
  void Cancel() override { context.TryCancel(); }
  grpc::ClientContext context;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
};

}  // namespace

std::shared_ptr<NodeClients::Call> NodeClients::SendRaw(
    const std::string& address, const std::string& method, const grpc::ByteBuffer& request,
    std::chrono::system_clock::time_point deadline,
    std::function<void(const grpc::Status&, grpc::ByteBuffer*)> done) {
  // Shared by the caller (to cancel) and the callback, which may outlive the caller's interest.
  auto call = std::make_shared<PendingCall>();
  call->request = request;
  const auto now = std::chrono::system_clock::now();
  if (deadline == std::chrono::system_clock::time_point{})
    deadline = now + kInternalCallTimeoutDefault;
  deadline = std::min(deadline, now + kInternalCallTimeoutMax);
  call->context.set_deadline(deadline);
  call->context.AddMetadata(kForwardedByHeader, self_name_);
  grpc::GenericStub stub(ChannelTo(address));
  stub.UnaryCall(
      &call->context, method, grpc::StubOptions(), &call->request, &call->response,
      [call, done = std::move(done)](grpc::Status status) { done(status, &call->response); });
  return call;
}

}  // namespace eon::cluster
