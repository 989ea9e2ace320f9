// The gRPC edge: one generic callback service receives every call, finds its handler by full
// method name, parses the request, runs the handler and maps its Status to gRPC once (with the
// typed error detail in grpc-status-details-bin). Methods without a handler answer UNIMPLEMENTED
// with their name. No thread waits on a call: handlers run on the request executor (or, for
// the hot calls that never wait, on the gRPC thread itself) and may answer later (long polls
// park a closure, not a thread).
#pragma once

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/barrier.h"
#include "common/executor.h"
#include "common/log.h"
#include "common/status.h"

namespace eon::frontend {

// The gRPC service name of Temporal's WorkflowService, as handlers are registered under it.
inline constexpr const char* kWorkflowService = "temporal.api.workflowservice.v1.WorkflowService";

// What a handler knows of its call. Thread-safe.
class CallContext {
 public:
  explicit CallContext(std::chrono::system_clock::time_point deadline) : deadline_(deadline) {}
  std::chrono::system_clock::time_point deadline() const { return deadline_; }
  // Runs `fn` if the caller goes away (at most once, maybe right away). Replaces any earlier one.
  void OnCancel(std::function<void()> fn);
  void ClearOnCancel();
  void Cancelled();  // called by the transport
  // The namespace, workflow and run the request names, for the log lines its handler writes.
  // Set by the edge before the handler runs.
  const log::Fields& log_fields() const { return log_fields_; }
  void set_log_fields(log::Fields fields) { log_fields_ = std::move(fields); }

 private:
  const std::chrono::system_clock::time_point deadline_;
  log::Fields log_fields_;
  std::mutex mutex_;
  bool cancelled_ = false;           // guarded by mutex_
  std::function<void()> on_cancel_;  // guarded by mutex_
};

using Reply = std::function<void(const Status&, const google::protobuf::Message* response)>;
using RpcHandler =
    std::function<void(std::shared_ptr<CallContext>, const google::protobuf::Message&, Reply)>;

struct MethodEntry {
  const google::protobuf::Message* request_prototype = nullptr;
  RpcHandler handler;
};

// What the edge knows of a call before its handler runs.
struct CallInfo {
  std::string operation;      // the method's short name, e.g. StartWorkflowExecution
  log::Fields target;         // the request's namespace, workflow id and run id, where it has them
  std::string authorization;  // the "authorization" header ("" if absent)
  std::string peer_subject;   // the verified TLS client certificate's subject ("" without mTLS)
  std::string peer;           // the caller's address, e.g. ipv4:127.0.0.1:5000
  std::string caller;         // who is calling, as the gate established it (for the audit log)
  std::string poll_slot;      // the gate's: the parked-poll slot this call holds ("" : none)
  // A call Eon makes itself on behalf of one the gate already admitted (a batch operation's
  // terminations): not admitted again, still audited.
  bool internal = false;
};

// Sees every call at the edge: may refuse it before its handler runs (authorization, rate
// limits) and hears how it ended (audit). Thread-safe; outlives the router's serving.
class CallGate {
 public:
  virtual ~CallGate() = default;
  // A non-OK status refuses the call with it. May fill call.caller.
  virtual Status Admit(CallInfo& call, const google::protobuf::Message& request) = 0;
  virtual void Finished(const CallInfo& call, const google::protobuf::Message& request,
                        const Status& status) = 0;
};

// Several nodes (src/cluster/): decides, for a call this node's edge admitted, whether it runs
// here or is forwarded whole to the node that owns what it names, and forwards it. Thread-safe;
// outlives the router's serving.
class Forwarder {
 public:
  virtual ~Forwarder() = default;
  // The internal address of the node that should serve the call, or "" to serve it here. Must be
  // cheap when this node owns everything. A non-OK status answers the call with it.
  virtual Result<std::string> OwnerOf(const std::string& full_method,
                                      const google::protobuf::Message& request) = 0;
  // Sends the call (its serialized request) to the node at `address`; `done` runs once, from any
  // thread, with the owner's status and (when OK) its serialized answer. `ctx`'s cancellation
  // cancels the forwarded call.
  virtual void Forward(const std::string& address, const std::string& full_method,
                       const grpc::ByteBuffer& request, std::shared_ptr<CallContext> ctx,
                       std::function<void(const grpc::Status&, grpc::ByteBuffer*)> done) = 0;
};

struct RpcCounters {
  std::mutex mutex;
  std::map<std::string, int64_t> by_method;  // guarded by mutex
};

class RpcRouter : public grpc::CallbackGenericService {
 public:
  explicit RpcRouter(Executor& executor) : executor_(executor) {}

  // A handler that answers on the executor thread: fn(ctx, request) -> Result<Resp>.
  template <typename Req, typename Resp>
  void Unary(const std::string& service, const std::string& method,
             std::function<Result<Resp>(CallContext&, const Req&)> fn) {
    Add<Req>(service, method,
             [this, fn, method](std::shared_ptr<CallContext> ctx,
                                const google::protobuf::Message& request, Reply reply) {
               auto owned = std::make_shared<Req>(static_cast<const Req&>(request));
               executor_.Submit([fn, ctx, owned, reply, method] {
                 log::ScopedFields fields(ctx->log_fields());
                 Status thrown = RunGuarded(method, [&] {
                   Result<Resp> result = fn(*ctx, *owned);
                   if (result.ok())
                     reply(Status::Ok(), &result.value());
                   else
                     reply(result.status(), nullptr);
                 });
                 if (!thrown.ok()) reply(thrown, nullptr);  // ignored if already answered
               });
             });
  }

  // A handler that answers whenever it likes, from any thread, by calling `done` once.
  template <typename Req, typename Resp>
  void Async(const std::string& service, const std::string& method,
             std::function<void(std::shared_ptr<CallContext>, const Req&,
                                std::function<void(Result<Resp>)>)>
                 fn) {
    Add<Req>(service, method,
             [this, fn, method](std::shared_ptr<CallContext> ctx,
                                const google::protobuf::Message& request, Reply reply) {
               auto owned = std::make_shared<Req>(static_cast<const Req&>(request));
               executor_.Submit([fn, ctx, owned, reply, method] {
                 log::ScopedFields fields(ctx->log_fields());
                 Status thrown = RunGuarded(method, [&] {
                   fn(ctx, *owned, [reply](Result<Resp> result) {
                     if (result.ok())
                       reply(Status::Ok(), &result.value());
                     else
                       reply(result.status(), nullptr);
                   });
                 });
                 if (!thrown.ok()) reply(thrown, nullptr);  // ignored if already answered
               });
             });
  }

  // A handler that starts on the gRPC thread that read the request (no hop to the executor)
  // and answers whenever it likes, by calling `done` once. For the calls every workflow makes
  // many times, whose work up to their commit is in memory. It must not wait: no store I/O, no
  // lock held across I/O; a handler that finds it would (a cold cache, a busy execution) hands
  // its work to executor() itself. It must not keep a reference to the request after it
  // returns.
  template <typename Req, typename Resp>
  void Inline(const std::string& service, const std::string& method,
              std::function<void(std::shared_ptr<CallContext>, const Req&,
                                 std::function<void(Result<Resp>)>)>
                  fn) {
    Add<Req>(service, method,
             [fn, method](std::shared_ptr<CallContext> ctx,
                          const google::protobuf::Message& request, Reply reply) {
               log::ScopedFields fields(ctx->log_fields());
               Status thrown = RunGuarded(method, [&] {
                 fn(ctx, static_cast<const Req&>(request), [reply](Result<Resp> result) {
                   if (result.ok())
                     reply(Status::Ok(), &result.value());
                   else
                     reply(result.status(), nullptr);
                 });
               });
               if (!thrown.ok()) reply(thrown, nullptr);  // ignored if already answered
             });
  }

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override;

  const MethodEntry* Find(const std::string& full_method) const;
  // The request message `full_method` takes, or null when it has no handler.
  const google::protobuf::Message* RequestPrototype(const std::string& full_method) const;
  // Runs one call in process exactly as a gRPC call runs (field checks, the gate, metrics, the
  // handler), for the HTTP API. `request` must be a RequestPrototype(full_method)->New();
  // `call` carries the caller's authorization and peer. `done` is called once, from any thread;
  // it may read the response (null unless OK) only while it runs.
  void Invoke(const std::string& full_method, std::unique_ptr<google::protobuf::Message> request,
              CallInfo call, std::chrono::system_clock::time_point deadline, Reply done);
  void Count(const std::string& operation);
  RpcCounters& counters() { return counters_; }
  // Installs the gate every later call passes (nullptr: none). Call before serving.
  void SetGate(CallGate* gate) { gate_ = gate; }
  CallGate* gate() const { return gate_; }
  // Installs the forwarder every later call asks where it runs (nullptr: all run here). Call
  // before serving.
  void SetForwarder(Forwarder* forwarder) { forwarder_ = forwarder; }
  // A router for a node's internal port: every call on it was forwarded by a node whose edge
  // admitted it, so it passes no gate and is never forwarded again. Holds the same handlers as
  // `edge` (which must outlive it) plus what is added to it afterwards.
  static std::unique_ptr<RpcRouter> InternalCopyOf(const RpcRouter& edge);
  bool internal() const { return internal_; }
  Forwarder* forwarder() const { return forwarder_; }
  Executor& executor() { return executor_; }

 private:
  template <typename Req>
  void Add(const std::string& service, const std::string& method, RpcHandler handler) {
    methods_["/" + service + "/" + method] =
        MethodEntry{&Req::default_instance(), std::move(handler)};
  }

  Executor& executor_;
  std::unordered_map<std::string, MethodEntry> methods_;  // written before serving, then read-only
  RpcCounters counters_;
  CallGate* gate_ = nullptr;
  Forwarder* forwarder_ = nullptr;
  bool internal_ = false;
};

grpc::Status ToGrpcStatus(const Status& status);
// The reverse, for answers relayed from another node: code, message and typed error detail.
Status FromGrpcStatus(const grpc::Status& status);
// UNIMPLEMENTED for a method Eon has no handler for, naming it.
Status NotImplemented(const std::string& full_method);

}  // namespace eon::frontend
