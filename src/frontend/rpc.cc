#include "frontend/rpc.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <grpcpp/support/byte_buffer.h>

#include "common/log.h"
#include "common/metrics.h"
#include "frontend/request_check.h"
#include "google/rpc/status.pb.h"
#include "persistence/records.h"

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

Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return Status::Ok();
  Status result(status.error_code(), status.error_message());
  google::rpc::Status detail;
  if (!status.error_details().empty() && detail.ParseFromString(status.error_details()) &&
      detail.details_size() > 0) {
    return std::move(result).WithDetail(detail.details(0));
  }
  return result;
}

namespace {

std::string MethodName(const std::string& full_method);

}  // namespace

Status NotImplemented(const std::string& full_method) {
  return Unimplemented("Eon does not implement " + MethodName(full_method) + " yet (" +
                       full_method + ")");
}

namespace {

bool ParseBuffer(const grpc::ByteBuffer& buffer, google::protobuf::Message* message) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return false;
  std::string bytes;
  for (const auto& slice : slices)
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  return persistence::ParseRecord(bytes, message, persistence::kRequestNestingMax);
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

// The checks every parsed request passes before the gate: its fields (durations, timestamps),
// and the namespace, workflow and run it names, put in the call's log scope and metrics.
Status CheckCall(CallContext& ctx, CallInfo& call, const google::protobuf::Message& request) {
  EON_RETURN_IF_ERROR(CheckRequestFields(request));
  call.target = Target(request);
  ctx.set_log_fields(call.target);
  metrics::RequestStarted(call.operation, call.target.ns);
  return Status::Ok();
}

Status GateAdmit(RpcRouter& router, CallInfo& call, const google::protobuf::Message& request) {
  CallGate* gate = router.gate();
  return gate && !call.internal && !router.internal() ? gate->Admit(call, request) : Status::Ok();
}

// The response message `full_method` answers (a generated service's), or null.
std::unique_ptr<google::protobuf::Message> NewResponse(const std::string& full_method) {
  auto slash = full_method.rfind('/');
  if (slash == std::string::npos || slash == 0) return nullptr;
  const auto* service = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
      full_method.substr(1, slash - 1));
  if (service == nullptr) return nullptr;
  const auto* method = service->FindMethodByName(full_method.substr(slash + 1));
  if (method == nullptr) return nullptr;
  const auto* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(method->output_type());
  return prototype ? std::unique_ptr<google::protobuf::Message>(prototype->New()) : nullptr;
}

// Accounts for a call that ended: its metrics, and the gate's audit (for calls that reached it).
void CallFinished(RpcRouter& router, const CallInfo& call, const google::protobuf::Message* request,
                  const Status& status, std::chrono::steady_clock::time_point start) {
  metrics::RequestFinished(call.operation, call.target.ns, status.code(),
                           std::chrono::steady_clock::now() - start);
  if (request && router.gate()) router.gate()->Finished(call, *request, status);
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
    router_.Count(call_.operation);
    const MethodEntry* entry = router_.Find(method);
    if (entry == nullptr) {
      metrics::RequestStarted(call_.operation, "");
      FinishOnce(NotImplemented(method), nullptr);
      return;
    }
    std::unique_ptr<google::protobuf::Message> request(entry->request_prototype->New());
    if (!ParseBuffer(request_buffer_, request.get())) {
      metrics::RequestStarted(call_.operation, "");
      FinishOnce(InvalidArgument("the request is not a valid " +
                                 entry->request_prototype->GetDescriptor()->full_name() +
                                 " (or nests messages deeper than " +
                                 std::to_string(persistence::kRequestNestingMax) + " levels)"),
                 nullptr);
      return;
    }
    if (router_.gate()) {
      auto header = server_context_->client_metadata().find("authorization");
      if (header != server_context_->client_metadata().end())
        call_.authorization.assign(header->second.data(), header->second.size());
      call_.peer_subject = PeerSubject(*server_context_);
      call_.peer = server_context_->peer();
    }
    if (Status checked = CheckCall(*ctx_, call_, *request); !checked.ok()) {
      FinishOnce(checked, nullptr);
      return;
    }
    request_ = std::move(request);
    if (Status admitted = GateAdmit(router_, call_, *request_); !admitted.ok()) {
      FinishOnce(admitted, nullptr);
      return;
    }
    if (Forwarder* forwarder = router_.forwarder()) {
      auto owner = forwarder->OwnerOf(method, *request_);
      if (!owner.ok()) {
        FinishOnce(owner.status(), nullptr);
        return;
      }
      if (!owner->empty()) {
        // Another node owns what the call names: it serves the call, we relay its answer. The
        // reactor lives until our Finish, so the answer may use it.
        forwarder->Forward(*owner, method, request_buffer_, ctx_,
                           [this](const grpc::Status& status, grpc::ByteBuffer* response) {
                             FinishForwarded(status, response);
                           });
        return;
      }
    }
    // The reactor lives until OnDone, which waits for our Finish; the reply may come from any
    // thread. Only the first reply touches the reactor: after Finish it may be gone.
    auto answered = std::make_shared<std::atomic<bool>>(false);
    Reply reply = [this, answered](const Status& status,
                                   const google::protobuf::Message* response) {
      if (answered->exchange(true)) return;
      FinishOnce(status, response);
    };
    Status thrown = RunGuarded(MethodName(method), [&] { entry->handler(ctx_, *request_, reply); });
    if (!thrown.ok()) reply(thrown, nullptr);
  }

  void OnWriteDone(bool) override {}
  void OnCancel() override { ctx_->Cancelled(); }
  void OnDone() override { delete this; }

 private:
  // The owner's answer to a forwarded call, relayed as it came (typed error details included).
  void FinishForwarded(const grpc::Status& status, grpc::ByteBuffer* response) {
    if (finished_.exchange(true)) return;
    ctx_->ClearOnCancel();
    CallFinished(router_, call_, request_.get(), FromGrpcStatus(status), start_);
    if (!status.ok()) {
      Finish(status);
      return;
    }
    response_buffer_ = *response;
    StartWriteAndFinish(&response_buffer_, grpc::WriteOptions(), grpc::Status::OK);
  }

  void FinishOnce(const Status& status, const google::protobuf::Message* response) {
    if (finished_.exchange(true)) return;
    ctx_->ClearOnCancel();
    Status final =
        status.ok() && response == nullptr ? Internal("handler returned no response") : status;
    CallFinished(router_, call_, request_.get(), final, start_);
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

namespace eon::frontend {

std::unique_ptr<RpcRouter> RpcRouter::InternalCopyOf(const RpcRouter& edge) {
  auto router = std::make_unique<RpcRouter>(edge.executor_);
  router->methods_ = edge.methods_;
  router->internal_ = true;
  return router;
}

void RpcRouter::Count(const std::string& operation) {
  std::lock_guard lock(counters_.mutex);
  ++counters_.by_method[operation];
}

const google::protobuf::Message* RpcRouter::RequestPrototype(const std::string& full_method) const {
  const MethodEntry* entry = Find(full_method);
  return entry ? entry->request_prototype : nullptr;
}

void RpcRouter::Invoke(const std::string& full_method,
                       std::unique_ptr<google::protobuf::Message> request, CallInfo call,
                       std::chrono::system_clock::time_point deadline, Reply done) {
  const auto start = std::chrono::steady_clock::now();
  call.operation = MethodName(full_method);
  Count(call.operation);
  auto ctx = std::make_shared<CallContext>(deadline);
  const MethodEntry* entry = Find(full_method);
  if (entry == nullptr || request == nullptr ||
      request->GetDescriptor() != entry->request_prototype->GetDescriptor()) {
    metrics::RequestStarted(call.operation, "");
    Status status = entry == nullptr ? NotImplemented(full_method)
                                     : InvalidArgument("no " + call.operation + " request");
    CallFinished(*this, call, nullptr, status, start);
    done(status, nullptr);
    return;
  }
  if (Status checked = CheckCall(*ctx, call, *request); !checked.ok()) {
    CallFinished(*this, call, nullptr, checked, start);
    done(checked, nullptr);
    return;
  }
  std::shared_ptr<const google::protobuf::Message> owned(std::move(request));
  if (Status admitted = GateAdmit(*this, call, *owned); !admitted.ok()) {
    CallFinished(*this, call, owned.get(), admitted, start);
    done(admitted, nullptr);
    return;
  }
  if (forwarder_ != nullptr) {
    auto owner = forwarder_->OwnerOf(full_method, *owned);
    if (!owner.ok() || !owner->empty()) {
      if (!owner.ok()) {
        CallFinished(*this, call, owned.get(), owner.status(), start);
        done(owner.status(), nullptr);
        return;
      }
      std::string bytes = owned->SerializeAsString();
      grpc::Slice slice(bytes);
      auto info = std::make_shared<const CallInfo>(std::move(call));
      forwarder_->Forward(
          *owner, full_method, grpc::ByteBuffer(&slice, 1), ctx,
          [this, info, owned, done, start, full_method](const grpc::Status& status,
                                                        grpc::ByteBuffer* buffer) {
            Status final = FromGrpcStatus(status);
            std::unique_ptr<google::protobuf::Message> response;
            if (final.ok()) {
              response = NewResponse(full_method);
              std::vector<grpc::Slice> slices;
              std::string bytes;
              if (response && buffer->Dump(&slices).ok()) {
                for (const auto& s : slices)
                  bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
              }
              if (!response || !response->ParseFromString(bytes))
                final = Internal("the owning node answered " + info->operation + " malformed");
            }
            CallFinished(*this, *info, owned.get(), final, start);
            done(final, final.ok() ? response.get() : nullptr);
          });
      return;
    }
  }
  // Shared by the reply, which may run on any thread and after this returns; only the first
  // answer counts.
  auto answered = std::make_shared<std::atomic<bool>>(false);
  auto info = std::make_shared<const CallInfo>(std::move(call));
  Reply reply = [this, answered, info, owned, done, start](
                    const Status& status, const google::protobuf::Message* response) {
    if (answered->exchange(true)) return;
    Status final =
        status.ok() && response == nullptr ? Internal("handler returned no response") : status;
    CallFinished(*this, *info, owned.get(), final, start);
    done(final, final.ok() ? response : nullptr);
  };
  log::ScopedFields fields_in_scope(ctx->log_fields());
  Status thrown = RunGuarded(info->operation, [&] { entry->handler(ctx, *owned, reply); });
  if (!thrown.ok()) reply(thrown, nullptr);
}

}  // namespace eon::frontend
