#include "frontend/rpc.h"

#include <google/protobuf/descriptor.h>
#include <grpcpp/support/byte_buffer.h>

#include "common/log.h"
#include "frontend/request_check.h"
#include "persistence/records.h"
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
  return persistence::ParseRecord(bytes, message, persistence::kRequestNestingMax);
}

std::string MethodName(const std::string& full_method) {
  auto slash = full_method.rfind('/');
  return slash == std::string::npos ? full_method : full_method.substr(slash + 1);
}

// One unary call: read the request, run the handler, write the answer, finish.
class UnaryReactor final : public grpc::ServerGenericBidiReactor {
 public:
  UnaryReactor(RpcRouter& router, grpc::GenericCallbackServerContext* server_context)
      : router_(router), server_context_(server_context) {
    ctx_ = std::make_shared<CallContext>(server_context->deadline());
    StartRead(&request_buffer_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
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
      FinishOnce(
          Unimplemented("Eon does not implement " + MethodName(method) + " yet (" + method + ")"),
          nullptr);
      return;
    }
    std::unique_ptr<google::protobuf::Message> request(entry->request_prototype->New());
    if (!ParseBuffer(request_buffer_, request.get())) {
      FinishOnce(InvalidArgument("the request is not a valid " +
                                 entry->request_prototype->GetDescriptor()->full_name() +
                                 " (or nests messages deeper than " +
                                 std::to_string(persistence::kRequestNestingMax) + " levels)"),
                 nullptr);
      return;
    }
    if (Status checked = CheckRequestFields(*request); !checked.ok()) {
      FinishOnce(checked, nullptr);
      return;
    }
    // The reactor lives until OnDone, which waits for our Finish; the reply may come from any
    // thread. Only the first reply touches the reactor: after Finish it may be gone.
    auto answered = std::make_shared<std::atomic<bool>>(false);
    Reply reply = [this, answered](const Status& status,
                                   const google::protobuf::Message* response) {
      if (answered->exchange(true)) return;
      FinishOnce(status, response);
    };
    Status thrown =
        RunGuarded(MethodName(method), [&] { entry->handler(ctx_, *request, reply); });
    if (!thrown.ok()) reply(thrown, nullptr);
  }

  void OnWriteDone(bool) override {}
  void OnCancel() override { ctx_->Cancelled(); }
  void OnDone() override { delete this; }

 private:
  void FinishOnce(const Status& status, const google::protobuf::Message* response) {
    if (finished_.exchange(true)) return;
    ctx_->ClearOnCancel();
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
