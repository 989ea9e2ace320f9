#include "frontend/rpc.h"

#include <google/protobuf/descriptor.h>
#include <grpcpp/support/byte_buffer.h>

#include "common/log.h"
#include "common/metrics.h"
#include "google/rpc/status.pb.h"

namespace eon::frontend {

void CallContext::OnCancel(std::function<void()> fn) {
  bool run_now = false;
  {
    std::lock_guard lock(mutex_);
    if (cancelled_)
      run_now = true;
    else
      on_cancel_ = std::move(fn);
  }
  if (run_now) fn();
}

void CallContext::ClearOnCancel() {
  std::lock_guard lock(mutex_);
  on_cancel_ = nullptr;
}

void CallContext::Cancelled() {
  std::function<void()> fn;
  {
    std::lock_guard lock(mutex_);
    if (cancelled_) return;
    cancelled_ = true;
    fn = std::move(on_cancel_);
  }
  if (fn) fn();
}

grpc::Status ToGrpcStatus(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  google::rpc::Status detail;
  detail.set_code(static_cast<int>(status.code()));
  detail.set_message(status.message());
  if (status.detail()) *detail.add_details() = *status.detail();
  return grpc::Status(status.code(), status.message(), detail.SerializeAsString());
}

namespace {

bool ParseBuffer(const grpc::ByteBuffer& buffer, google::protobuf::Message* message) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return false;
  std::string bytes;
  for (const auto& slice : slices)
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  return message->ParseFromString(bytes);
}

std::string MethodName(const std::string& full_method) {
  auto slash = full_method.rfind('/');
  return slash == std::string::npos ? full_method : full_method.substr(slash + 1);
}

// The request's string field `name`, or "" when it has none.
std::string StringField(const google::protobuf::Message& message, const char* name) {
  const auto* field = message.GetDescriptor()->FindFieldByName(name);
  if (field == nullptr || field->is_repeated() ||
      field->type() != google::protobuf::FieldDescriptor::TYPE_STRING)
    return "";
  return message.GetReflection()->GetString(message, field);
}

// The namespace, workflow id and run id a request names (fields of those names, or of its
// `workflow_execution` / `execution`).
log::Fields Target(const google::protobuf::Message& request) {
  log::Fields fields{StringField(request, "namespace"), StringField(request, "workflow_id"),
                     StringField(request, "run_id")};
  for (const char* name : {"workflow_execution", "execution"}) {
    const auto* field = request.GetDescriptor()->FindFieldByName(name);
    if (field == nullptr || field->is_repeated() ||
        field->type() != google::protobuf::FieldDescriptor::TYPE_MESSAGE ||
        !request.GetReflection()->HasField(request, field))
      continue;
    const auto& execution = request.GetReflection()->GetMessage(request, field);
    fields.workflow_id = StringField(execution, "workflow_id");
    fields.run_id = StringField(execution, "run_id");
  }
  return fields;
}

// The subject of the client certificate the TLS handshake verified, or "".
std::string PeerSubject(const grpc::GenericCallbackServerContext& context) {
  auto auth = context.auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return "";
  for (const char* property : {"x509_subject", "x509_common_name"}) {
    auto values = auth->FindPropertyValues(property);
    if (!values.empty()) return std::string(values.front().data(), values.front().size());
  }
  return "";
}

// One unary call: read the request, run the handler, write the answer, finish.
class UnaryReactor final : public grpc::ServerGenericBidiReactor {
 public:
  UnaryReactor(RpcRouter& router, grpc::GenericCallbackServerContext* server_context)
      : router_(router), server_context_(server_context), start_(std::chrono::steady_clock::now()) {
    ctx_ = std::make_shared<CallContext>(server_context->deadline());
    StartRead(&request_buffer_);
  }

  void OnReadDone(bool ok) override {
    call_.operation = MethodName(server_context_->method());
    if (!ok) {
      metrics::RequestStarted(call_.operation, "");
      FinishOnce(Status(StatusCode::INVALID_ARGUMENT, "no request message received"), nullptr);
      return;
    }
    const std::string& method = server_context_->method();
    {
      std::lock_guard lock(router_.counters().mutex);
      ++router_.counters().by_method[MethodName(method)];
    }
    const MethodEntry* entry = router_.Find(method);
    if (entry == nullptr) {
      metrics::RequestStarted(call_.operation, "");
      FinishOnce(
          Unimplemented("Eon does not implement " + MethodName(method) + " yet (" + method + ")"),
          nullptr);
      return;
    }
    std::unique_ptr<google::protobuf::Message> request(entry->request_prototype->New());
    if (!ParseBuffer(request_buffer_, request.get())) {
      metrics::RequestStarted(call_.operation, "");
      FinishOnce(InvalidArgument("the request is not a valid " +
                                 entry->request_prototype->GetDescriptor()->full_name()),
                 nullptr);
      return;
    }
    call_.target = Target(*request);
    ctx_->set_log_fields(call_.target);
    metrics::RequestStarted(call_.operation, call_.target.ns);
    request_ = std::move(request);
    if (CallGate* gate = router_.gate()) {
      auto header = server_context_->client_metadata().find("authorization");
      if (header != server_context_->client_metadata().end())
        call_.authorization.assign(header->second.data(), header->second.size());
      call_.peer_subject = PeerSubject(*server_context_);
      call_.peer = server_context_->peer();
      Status admitted = gate->Admit(call_, *request_);
      if (!admitted.ok()) {
        FinishOnce(admitted, nullptr);
        return;
      }
    }
    // The reactor lives until OnDone, which waits for our Finish; the reply may come from any
    // thread.
    entry->handler(ctx_, *request_,
                   [this](const Status& status, const google::protobuf::Message* response) {
                     FinishOnce(status, response);
                   });
  }

  void OnWriteDone(bool) override {}
  void OnCancel() override { ctx_->Cancelled(); }
  void OnDone() override { delete this; }

 private:
  void FinishOnce(const Status& status, const google::protobuf::Message* response) {
    if (finished_.exchange(true)) return;
    ctx_->ClearOnCancel();
    Status final = status.ok() && response == nullptr ? Internal("handler returned no response")
                                                      : status;
    metrics::RequestFinished(call_.operation, call_.target.ns, final.code(),
                             std::chrono::steady_clock::now() - start_);
    if (request_ && router_.gate()) router_.gate()->Finished(call_, *request_, final);
    if (!status.ok() || response == nullptr) {
      if (status.code() == StatusCode::INTERNAL || status.code() == StatusCode::UNAVAILABLE) {
        LOG_WARN(MethodName(server_context_->method()) << " failed: " << status.message());
      }
      Finish(ToGrpcStatus(status.ok() ? Internal("handler returned no response") : status));
      return;
    }
    std::string bytes = response->SerializeAsString();
    grpc::Slice slice(bytes);
    response_buffer_ = grpc::ByteBuffer(&slice, 1);
    StartWriteAndFinish(&response_buffer_, grpc::WriteOptions(), grpc::Status::OK);
  }

  RpcRouter& router_;
  grpc::GenericCallbackServerContext* server_context_;
  std::shared_ptr<CallContext> ctx_;
  const std::chrono::steady_clock::time_point start_;
  CallInfo call_;
  std::unique_ptr<google::protobuf::Message> request_;  // read-only once the handler has it
  grpc::ByteBuffer request_buffer_;
  grpc::ByteBuffer response_buffer_;
  std::atomic<bool> finished_{false};
};

}  // namespace

grpc::ServerGenericBidiReactor* RpcRouter::CreateReactor(grpc::GenericCallbackServerContext* ctx) {
  return new UnaryReactor(*this, ctx);
}

const MethodEntry* RpcRouter::Find(const std::string& full_method) const {
  auto it = methods_.find(full_method);
  return it == methods_.end() ? nullptr : &it->second;
}

}  // namespace eon::frontend
