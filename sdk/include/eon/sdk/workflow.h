// Workflows as C++20 coroutines.
//
// A workflow is a function returning Task<R> whose first parameter is a WorkflowContext&; the
// other parameters are its arguments, decoded from the start request's payloads:
//
//   eon::sdk::Task<std::string> Greeting(eon::sdk::WorkflowContext& ctx, std::string name) {
//     co_return co_await ctx.execute_activity<std::string>(
//         "ComposeGreeting", ActivityOptions().start_to_close(10s), std::string("Hello"), name);
//   }
//
// Workflow code must be deterministic: it is replayed from the event history after a crash or
// a cache eviction and must make the same decisions in the same order. Everything that can
// differ between runs goes through the context: time (now()), randomness (random(), uuid()),
// waiting (sleep(), wait_condition()), the outside world (activities, child workflows, side
// effects) and code changes (patched()). Do not use threads, the system clock, I/O or global
// mutable state in workflow code.
//
// Everything runs on one thread per workflow, one step at a time: a coroutine runs until it
// co_awaits something that is not ready; then the next ready one runs. Operations return a
// Future<T> at once, so several can be in flight:
//
//   auto a = ctx.execute_activity<int>("A", opts);
//   auto b = ctx.execute_activity<int>("B", opts);
//   int sum = co_await a + co_await b;
//
// Failures are exceptions (see failure.h). Cancellation: every operation belongs to a
// CancellationScope (the workflow's root scope unless options say otherwise); cancelling the
// scope cancels what runs in it, and awaiting a canceled operation throws CanceledError (or an
// ActivityError / ChildWorkflowError whose cause is a CanceledError). A cancellation request
// for the workflow cancels the root scope; a workflow that lets the CanceledError escape ends
// as canceled.
//
// Thread safety: none needed and none given; a WorkflowContext and its futures are only used
// from the workflow's own coroutines.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "eon/sdk/failure.h"
#include "eon/sdk/options.h"
#include "eon/sdk/payload.h"
#include "temporal/api/enums/v1/workflow.pb.h"

namespace eon::sdk {

class WorkflowContext;
template <typename T>
class Task;

namespace internal {

class WorkflowInstance;

// Runs ready work in order; futures hand it the coroutines they wake.
class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual void Ready(std::coroutine_handle<> handle) = 0;
};

// void futures hold a monostate.
template <typename T>
using Stored = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <typename T>
struct FutureState {
  explicit FutureState(Scheduler* s) : scheduler(s) {}
  Scheduler* scheduler;
  bool done = false;
  std::optional<Stored<T>> value;
  std::exception_ptr error;
  std::vector<std::coroutine_handle<>> waiters;
  std::vector<std::function<void()>> on_done;  // run once, when it resolves or fails

  void Resolve(Stored<T> v) {
    if (done) return;
    value.emplace(std::move(v));
    Wake();
  }
  void Fail(std::exception_ptr e) {
    if (done) return;
    error = std::move(e);
    Wake();
  }

 private:
  void Wake() {
    done = true;
    for (auto h : waiters) scheduler->Ready(h);
    waiters.clear();
    auto callbacks = std::move(on_done);
    on_done.clear();
    for (auto& fn : callbacks) fn();
  }
};

// The outcome of a server-side operation before it is decoded: a payload (absent for no
// value) or the exception it failed with.
struct RawOutcome {
  std::optional<Payload> payload;
  std::exception_ptr error;
};
using RawCallback = std::function<void(RawOutcome)>;

// Thrown by continue_as_new(); not a std::exception, so `catch (const std::exception&)` in user
// code does not swallow it.
struct ContinueAsNewRequest {
  std::string workflow_type;
  std::string task_queue;
  Payloads args;
  milliseconds run_timeout{0};
  milliseconds task_timeout{0};
  std::optional<Memo> memo;
  std::optional<SearchAttributes> search_attributes;
};

}  // namespace internal

// The result of an operation that is under way. Copies share the same state; co_await it (any
// number of times) for the value, or an exception if it failed.
template <typename T>
class Future {
 public:
  Future() = default;
  explicit Future(std::shared_ptr<internal::FutureState<T>> state) : state_(std::move(state)) {}

  bool ready() const { return state_ && state_->done; }
  bool failed() const { return ready() && state_->error != nullptr; }

  bool await_ready() const { return state_->done; }
  void await_suspend(std::coroutine_handle<> handle) { state_->waiters.push_back(handle); }
  T await_resume() const {
    if (state_->error) std::rethrow_exception(state_->error);
    if constexpr (!std::is_void_v<T>) return *state_->value;
  }

  // Shared by the operation that resolves it and every copy held by workflow code.
  std::shared_ptr<internal::FutureState<T>> state_;
};

namespace internal {

// Handler lifetimes. A handler registered from a free-function workflow may capture locals of
// a coroutine by reference; once that coroutine has returned they are gone. The instance that
// runs workflow code tracks the frames of its Task coroutines (allocated and ended while it
// runs them, on its thread) and the handlers whose captured bytes point into one; such a
// handler is never called after its frame ended (see WorkflowContext::set_query_handler).
void FrameAllocated(void* frame, std::size_t size) noexcept;
void FrameEnded(void* frame) noexcept;

template <typename T>
struct TaskPromiseBase {
  std::coroutine_handle<> continuation = std::noop_coroutine();
  std::exception_ptr error;

  static void* operator new(std::size_t size) {
    void* frame = ::operator new(size);
    FrameAllocated(frame, size);
    return frame;
  }
  static void operator delete(void* frame, std::size_t /*size*/) noexcept {
    FrameEnded(frame);
    // Unsized: clang before 19 does not declare the sized global delete unless
    // -fsized-deallocation is given, and this header must compile there.
    ::operator delete(frame);
  }

  std::suspend_always initial_suspend() noexcept { return {}; }
  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <typename P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      // The body's locals are destroyed by now, though the frame lives until the Task goes.
      FrameEnded(h.address());
      return h.promise().continuation;
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() { error = std::current_exception(); }
};

template <typename T>
struct TaskPromise : TaskPromiseBase<T> {
  std::optional<T> value;
  Task<T> get_return_object();
  template <typename V>
  void return_value(V&& v) {
    value.emplace(std::forward<V>(v));
  }
};

template <>
struct TaskPromise<void> : TaskPromiseBase<void> {
  Task<void> get_return_object();
  void return_void() {}
};

}  // namespace internal

// The coroutine type of workflow functions and of the helpers they call. Lazy: it starts when
// awaited (or when passed to WorkflowContext::spawn). Move-only; destroying it destroys the
// coroutine.
template <typename T = void>
class [[nodiscard]] Task {
 public:
  using promise_type = internal::TaskPromise<T>;
  using value_type = T;

  Task() = default;
  explicit Task(std::coroutine_handle<promise_type> h) : handle_(h) {}
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      if (handle_) handle_.destroy();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() {
    if (handle_) handle_.destroy();
  }

  bool await_ready() const { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) {
    handle_.promise().continuation = awaiting;
    return handle_;
  }
  T await_resume() {
    auto& p = handle_.promise();
    if (p.error) std::rethrow_exception(p.error);
    if constexpr (!std::is_void_v<T>) return std::move(*p.value);
  }

 private:
  std::coroutine_handle<promise_type> handle_;
};

namespace internal {
template <typename T>
Task<T> TaskPromise<T>::get_return_object() {
  return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}
inline Task<void> TaskPromise<void>::get_return_object() {
  return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}

// A coroutine the instance owns and starts itself (the root workflow coroutine, spawned tasks,
// signal and update handlers). It suspends at the end so the instance can destroy it.
struct DetachedTask {
  struct promise_type {
    DetachedTask get_return_object() {
      return {std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() {}
    void unhandled_exception() { std::terminate(); }  // Drive() catches everything
  };
  std::coroutine_handle<promise_type> handle;
};

template <typename T>
DetachedTask Drive(Task<T> task, std::shared_ptr<FutureState<T>> out) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(task);
      out->Resolve(std::monostate{});
    } else {
      out->Resolve(co_await std::move(task));
    }
  } catch (...) {
    out->Fail(std::current_exception());
  }
}

// Function traits for handlers and registered functions (plain functions, function pointers,
// non-generic lambdas, std::function).
template <typename F>
struct FunctionTraits : FunctionTraits<decltype(&std::decay_t<F>::operator())> {};
template <typename R, typename... A>
struct FunctionTraits<R (*)(A...)> {
  using Return = R;
  using Args = std::tuple<A...>;
};
template <typename R, typename... A>
struct FunctionTraits<R(A...)> : FunctionTraits<R (*)(A...)> {};
template <typename C, typename R, typename... A>
struct FunctionTraits<R (C::*)(A...) const> : FunctionTraits<R (*)(A...)> {};
template <typename C, typename R, typename... A>
struct FunctionTraits<R (C::*)(A...)> : FunctionTraits<R (*)(A...)> {};

template <typename T>
struct IsTask : std::false_type {};
template <typename T>
struct IsTask<Task<T>> : std::true_type {
  using Value = T;
};

template <typename Tuple>
struct DecayTuple;
template <typename... A>
struct DecayTuple<std::tuple<A...>> {
  using type = std::tuple<std::decay_t<A>...>;
};

template <typename Tuple, size_t... I>
Tuple DecodeArgsImpl(const DataConverter& converter, const Payloads& payloads,
                     std::index_sequence<I...>) {
  [[maybe_unused]] auto at = [&](int i) -> Payload {  // unused for no arguments
    return i < payloads.payloads_size() ? payloads.payloads(i) : converter.Encode(nullptr);
  };
  return Tuple{converter.Decode<std::tuple_element_t<I, Tuple>>(at(static_cast<int>(I)))...};
}
// Decodes payloads into a tuple of argument values; missing payloads decode as JSON null (so
// optional arguments may be left out). Throws PayloadError.
template <typename Tuple>
Tuple DecodeArgs(const DataConverter& converter, const Payloads& payloads) {
  return DecodeArgsImpl<Tuple>(converter, payloads,
                               std::make_index_sequence<std::tuple_size_v<Tuple>>{});
}

// Tuple of the arguments after the first one (the context).
template <typename Tuple>
struct DropFirst;
template <typename First, typename... Rest>
struct DropFirst<std::tuple<First, Rest...>> {
  using type = std::tuple<Rest...>;
};

// The bytes of a handler's closure (and of its validator), where the instance looks for
// pointers into workflow coroutine frames (see FrameAllocated).
struct HandlerCaptures {
  const void* first = nullptr;
  std::size_t first_size = 0;
  const void* also = nullptr;
  std::size_t also_size = 0;
};
template <typename F>
HandlerCaptures Captures(const F& closure) {
  if constexpr (std::is_class_v<F>) {
    return HandlerCaptures{&closure, sizeof(F), nullptr, 0};
  } else {
    return {};  // a function or function pointer captures nothing
  }
}

// Type-erased handlers, as the instance stores them.
using SignalFn = std::function<std::optional<Task<void>>(const Payloads&)>;
using QueryFn = std::function<std::optional<Payload>(const Payloads&)>;
using UpdateValidatorFn = std::function<void(const Payloads&)>;
using UpdateFn = std::function<Task<std::optional<Payload>>(const Payloads&)>;
using WorkflowFn = std::function<Task<std::optional<Payload>>(WorkflowContext&, const Payloads&)>;

template <typename R, typename F, typename Args>
Task<std::optional<Payload>> RunToPayload(F fn, Args args, DataConverter converter) {
  if constexpr (IsTask<R>::value) {
    using V = typename IsTask<R>::Value;
    if constexpr (std::is_void_v<V>) {
      co_await std::apply(fn, std::move(args));
      co_return std::nullopt;
    } else {
      V v = co_await std::apply(fn, std::move(args));
      co_return converter.Encode(v);
    }
  } else if constexpr (std::is_void_v<R>) {
    std::apply(fn, std::move(args));
    co_return std::nullopt;
  } else {
    co_return converter.Encode(std::apply(fn, std::move(args)));
  }
}

}  // namespace internal

// --- Combinators over futures (pass the futures themselves, not a braced list written inside
// a co_await: see the GCC 12 note below).

// Waits for every future, in order, and returns their values (nothing for void futures). The
// first failure met in that order is thrown; the other operations keep running.
//   auto [a, b] = ...;  std::vector<int> both = co_await when_all(a, b);
template <typename T>
Task<std::conditional_t<std::is_void_v<T>, void, std::vector<T>>> when_all(
    std::vector<Future<T>> futures) {
  if constexpr (std::is_void_v<T>) {
    for (auto& f : futures) co_await f;
  } else {
    std::vector<T> values;
    values.reserve(futures.size());
    for (auto& f : futures) values.push_back(co_await f);
    co_return values;
  }
}
template <typename T, typename... Rest>
Task<std::conditional_t<std::is_void_v<T>, void, std::vector<T>>> when_all(Future<T> first,
                                                                           Rest... rest) {
  static_assert((std::is_same_v<Rest, Future<T>> && ...), "when_all: futures of one type");
  std::vector<Future<T>> futures;
  futures.push_back(std::move(first));
  (futures.push_back(std::move(rest)), ...);
  if constexpr (std::is_void_v<T>) {
    co_await when_all(std::move(futures));
  } else {
    co_return co_await when_all(std::move(futures));
  }
}

// Resolves with the index of the first future to finish (successfully or not); co_await that
// future for its value or failure. REQUIRES: at least one future.
template <typename T>
Future<size_t> when_any(const std::vector<Future<T>>& futures) {
  auto out = std::make_shared<internal::FutureState<size_t>>(futures.at(0).state_->scheduler);
  for (size_t i = 0; i < futures.size() && !out->done; ++i) {
    auto& state = *futures[i].state_;
    if (state.done) {
      out->Resolve(i);
    } else {
      state.on_done.push_back([out, i] { out->Resolve(i); });
    }
  }
  return Future<size_t>(out);
}
template <typename T, typename... Rest>
Future<size_t> when_any(const Future<T>& first, const Rest&... rest) {
  static_assert((std::is_same_v<Rest, Future<T>> && ...), "when_any: futures of one type");
  std::vector<Future<T>> futures{first, rest...};
  return when_any(futures);
}

enum class ActivityCancellationType {
  kTryCancel,                  // ask the server to cancel and report canceled at once
  kWaitCancellationCompleted,  // ask, and wait until the activity confirms or completes
  kAbandon,                    // report canceled at once; do not tell the server
};

class CancellationScope;

// The option types below are small builders rather than aggregates:
//
//   co_await ctx.execute_activity<int>("Charge", ActivityOptions().start_to_close(10s), amount);
//
// GCC 12 (Debian 12's compiler) destroys aggregate temporaries and initializer lists written
// inside a co_await expression too early (designated initializers such as {.timeout = 10s}
// crash), while temporaries of classes with a constructor are handled correctly. Build a
// RetryPolicy with a list of error types in a statement before the co_await for the same
// reason.

#define EON_SDK_OPTION(Self, type, name) \
  Self& name(type value) {               \
    name##_ = std::move(value);          \
    return *this;                        \
  }

class ActivityOptions {
 public:
  ActivityOptions() {}
  EON_SDK_OPTION(ActivityOptions, std::string, task_queue)   // default: the workflow's
  EON_SDK_OPTION(ActivityOptions, std::string, activity_id)  // default: a sequence number
  EON_SDK_OPTION(ActivityOptions, milliseconds, schedule_to_close)
  EON_SDK_OPTION(ActivityOptions, milliseconds, schedule_to_start)
  // This or schedule_to_close is required.
  EON_SDK_OPTION(ActivityOptions, milliseconds, start_to_close)
  EON_SDK_OPTION(ActivityOptions, milliseconds, heartbeat)  // the heartbeat timeout
  EON_SDK_OPTION(ActivityOptions, std::optional<RetryPolicy>, retry)
  EON_SDK_OPTION(ActivityOptions, ActivityCancellationType, cancellation)
  EON_SDK_OPTION(ActivityOptions, std::shared_ptr<CancellationScope>, scope)  // default: root
  // Whether the worker may ask the server to hand this activity straight back to it (eager
  // execution; see WorkerOptions::eager_activities). Default: yes.
  EON_SDK_OPTION(ActivityOptions, bool, eager_dispatch)

  // Read by the SDK.
  std::string task_queue_;
  std::string activity_id_;
  milliseconds schedule_to_close_{0};
  milliseconds schedule_to_start_{0};
  milliseconds start_to_close_{0};
  milliseconds heartbeat_{0};
  std::optional<RetryPolicy> retry_;
  ActivityCancellationType cancellation_ = ActivityCancellationType::kTryCancel;
  std::shared_ptr<CancellationScope> scope_;
  bool eager_dispatch_ = true;
};

// Local activities run in the worker that runs the workflow task, without a server round trip;
// their results are recorded as markers. One that outlives 80% of the workflow task timeout
// keeps the task alive: the worker completes the task with what the code has done so far and
// asks for a new one (Temporal's workflow-task heartbeat), and the result comes in a later task
// (with the sticky cache; without it the worker holds the task until the activity ends).
// An attempt that outlives start_to_close fails with a TimeoutError (START_TO_CLOSE) and is
// retried per the retry policy; past schedule_to_close the activity fails with a TimeoutError
// (SCHEDULE_TO_CLOSE). A timed-out attempt is told to cancel (ActivityContext::is_canceled())
// and left to return on its own. Backoffs between attempts are waited in the worker, not as
// workflow timers (Temporal's SDKs turn backoffs over a minute into timers): keep retry
// intervals short or use a normal activity.
class LocalActivityOptions {
 public:
  LocalActivityOptions() {}
  EON_SDK_OPTION(LocalActivityOptions, milliseconds, schedule_to_close)
  // This or schedule_to_close is required.
  EON_SDK_OPTION(LocalActivityOptions, milliseconds, start_to_close)
  // Default: Temporal's (1 s, x2, unlimited attempts within the timeouts).
  EON_SDK_OPTION(LocalActivityOptions, std::optional<RetryPolicy>, retry)
  EON_SDK_OPTION(LocalActivityOptions, std::shared_ptr<CancellationScope>, scope)

  milliseconds schedule_to_close_{0};
  milliseconds start_to_close_{0};
  std::optional<RetryPolicy> retry_;
  std::shared_ptr<CancellationScope> scope_;
};

class ChildWorkflowOptions {
 public:
  ChildWorkflowOptions() {}
  EON_SDK_OPTION(ChildWorkflowOptions, std::string, id)          // default: a deterministic UUID
  EON_SDK_OPTION(ChildWorkflowOptions, std::string, task_queue)  // default: the parent's
  EON_SDK_OPTION(ChildWorkflowOptions, milliseconds, execution_timeout)
  EON_SDK_OPTION(ChildWorkflowOptions, milliseconds, run_timeout)
  EON_SDK_OPTION(ChildWorkflowOptions, milliseconds, task_timeout)
  EON_SDK_OPTION(ChildWorkflowOptions, std::optional<RetryPolicy>, retry)
  EON_SDK_OPTION(ChildWorkflowOptions, std::string, cron_schedule)
  EON_SDK_OPTION(ChildWorkflowOptions, temporal::api::enums::v1::ParentClosePolicy,
                 parent_close_policy)
  EON_SDK_OPTION(ChildWorkflowOptions, temporal::api::enums::v1::WorkflowIdReusePolicy,
                 id_reuse_policy)
  EON_SDK_OPTION(ChildWorkflowOptions, Memo, memo)
  EON_SDK_OPTION(ChildWorkflowOptions, SearchAttributes, search_attributes)
  EON_SDK_OPTION(ChildWorkflowOptions, std::shared_ptr<CancellationScope>, scope)

  std::string id_;
  std::string task_queue_;
  milliseconds execution_timeout_{0};
  milliseconds run_timeout_{0};
  milliseconds task_timeout_{0};
  std::optional<RetryPolicy> retry_;
  std::string cron_schedule_;
  temporal::api::enums::v1::ParentClosePolicy parent_close_policy_ =
      temporal::api::enums::v1::PARENT_CLOSE_POLICY_TERMINATE;
  temporal::api::enums::v1::WorkflowIdReusePolicy id_reuse_policy_ =
      temporal::api::enums::v1::WORKFLOW_ID_REUSE_POLICY_UNSPECIFIED;
  Memo memo_;
  SearchAttributes search_attributes_;
  std::shared_ptr<CancellationScope> scope_;
};

#undef EON_SDK_OPTION

struct ContinueAsNewOptions {
  std::string workflow_type{};  // default: this workflow's
  std::string task_queue{};     // default: this workflow's
  milliseconds run_timeout{0};
  milliseconds task_timeout{0};
  std::optional<Memo> memo{};
  std::optional<SearchAttributes> search_attributes{};
};

struct WorkflowInfo {
  std::string ns{};
  std::string workflow_id{};
  std::string run_id{};
  std::string workflow_type{};
  std::string task_queue{};
  std::string first_execution_run_id{};
  std::string continued_run_id{};  // the run this one continues, if any
  std::string parent_workflow_id{};
  std::string parent_run_id{};
  std::string cron_schedule{};
  int32_t attempt = 1;
  std::chrono::system_clock::time_point start_time{};
  milliseconds execution_timeout{0};
  milliseconds run_timeout{0};
  milliseconds task_timeout{0};
  Memo memo{};
  SearchAttributes search_attributes{};
};

// Cancels what runs in it, and every scope made from it. Scopes are made by the context
// (root_scope(), new_scope(), detached_scope()) and shared by the operations that use them.
class CancellationScope : public std::enable_shared_from_this<CancellationScope> {
 public:
  void cancel();
  bool canceled() const { return canceled_; }
  // A scope that is canceled when this one is (and can be canceled on its own).
  std::shared_ptr<CancellationScope> child();

  // Internal: operations register what to do on cancellation; the id unregisters it.
  uint64_t on_cancel(std::function<void()> fn);
  void remove(uint64_t id);

 private:
  bool canceled_ = false;
  uint64_t next_id_ = 1;
  std::vector<std::pair<uint64_t, std::function<void()>>> callbacks_;
  std::vector<std::weak_ptr<CancellationScope>> children_;
};

// A child workflow under way: started() resolves with the child's run id once the server has
// started it; result() with its result.
template <typename R>
struct ChildWorkflow {
  std::string workflow_id;
  Future<std::string> started;
  Future<R> result;
};

class WorkflowContext {
 public:
  explicit WorkflowContext(internal::WorkflowInstance& instance) : instance_(instance) {}

  const WorkflowInfo& info() const;
  // The time of the current workflow task (the same on every replay).
  std::chrono::system_clock::time_point now() const;
  // Deterministic randomness, seeded per workflow.
  uint64_t random();
  std::string uuid();
  // True while the worker re-runs code for history it already has.
  bool is_replaying() const;
  // True once cancellation of this workflow was requested.
  bool cancel_requested() const;
  const DataConverter& converter() const;

  // --- Activities
  template <typename R, typename... A>
  Future<R> execute_activity(const std::string& activity_type, const ActivityOptions& options,
                             const A&... args) {
    auto state = std::make_shared<internal::FutureState<R>>(&scheduler());
    schedule_activity(activity_type, options, converter().EncodeAll(args...), Decoder(state));
    return Future<R>(state);
  }
  template <typename R, typename... A>
  Future<R> execute_local_activity(const std::string& activity_type,
                                   const LocalActivityOptions& options, const A&... args) {
    auto state = std::make_shared<internal::FutureState<R>>(&scheduler());
    schedule_local_activity(activity_type, options, converter().EncodeAll(args...), Decoder(state));
    return Future<R>(state);
  }

  // --- Time
  // A durable timer. Canceling its scope cancels the timer (CanceledError).
  Future<void> sleep(milliseconds duration, std::shared_ptr<CancellationScope> scope = nullptr);
  // Resolves with true once `condition` holds (checked after every step of the workflow), or
  // false when `timeout` passes first. Throws CanceledError when its scope is canceled.
  Future<bool> wait_condition(std::function<bool()> condition,
                              std::optional<milliseconds> timeout = std::nullopt,
                              std::shared_ptr<CancellationScope> scope = nullptr);

  // --- Child workflows and other workflows
  template <typename R, typename... A>
  ChildWorkflow<R> start_child_workflow(const std::string& workflow_type,
                                        const ChildWorkflowOptions& options, const A&... args) {
    auto started = std::make_shared<internal::FutureState<std::string>>(&scheduler());
    auto result = std::make_shared<internal::FutureState<R>>(&scheduler());
    std::string id = start_child(workflow_type, options, converter().EncodeAll(args...),
                                 Decoder(started), Decoder(result));
    return ChildWorkflow<R>{id, Future<std::string>(started), Future<R>(result)};
  }
  template <typename R, typename... A>
  Future<R> execute_child_workflow(const std::string& workflow_type,
                                   const ChildWorkflowOptions& options, const A&... args) {
    return start_child_workflow<R>(workflow_type, options, args...).result;
  }
  template <typename... A>
  Future<void> signal_external_workflow(const std::string& workflow_id, const std::string& run_id,
                                        const std::string& signal_name, const A&... args) {
    auto state = std::make_shared<internal::FutureState<void>>(&scheduler());
    signal_external(workflow_id, run_id, signal_name, converter().EncodeAll(args...),
                    Decoder(state));
    return Future<void>(state);
  }
  Future<void> cancel_external_workflow(const std::string& workflow_id,
                                        const std::string& run_id = "");

  // Ends this run and starts a new one of the same workflow with these arguments. Never
  // returns (it throws a special value the worker turns into the ContinueAsNew command).
  template <typename... A>
  [[noreturn]] void continue_as_new(const A&... args) {
    continue_as_new_with({}, converter().EncodeAll(args...));
  }
  [[noreturn]] void continue_as_new_with(const ContinueAsNewOptions& options, const Payloads& args);

  // --- Recorded decisions
  // Runs `fn` once and records its result; on replay returns the recorded result.
  template <typename T>
  T side_effect(const std::function<T()>& fn) {
    Payload recorded = side_effect_payload([&] { return converter().Encode(fn()); });
    return converter().Decode<T>(recorded);
  }
  // Versioning: true for new executions and for those that recorded this patch; false for
  // executions that started before the code change. Keep both branches until no old execution
  // is left; then switch to deprecate_patch(), and later remove it.
  bool patched(const std::string& patch_id);
  void deprecate_patch(const std::string& patch_id);

  void upsert_search_attributes(const SearchAttributes& attributes);
  void upsert_memo(const Memo& memo);

  // --- Handlers. Signal and update handlers may be plain functions or coroutines (returning
  // Task<...>); query handlers are plain functions and must not change state.
  //
  // Lifetimes: a handler may be called as long as the run is in the worker's memory, which for
  // queries includes after the workflow function has returned (a query to a completed
  // workflow replays it to its end and then asks). State a handler reads must outlive the
  // workflow function: keep it in a workflow class (Registry::register_workflow<W>, whose
  // object the SDK keeps until the run leaves the worker) and capture `this`, or capture by
  // value or a shared_ptr. A lambda that captures a local or a parameter of a workflow
  // coroutine by reference is diagnosed instead of dangling: once that coroutine has returned,
  // the handler is no longer called; a query fails with the type "DanglingQueryHandler" (a
  // signal or update fails the workflow task). Only captures held directly in the lambda are
  // seen, not ones behind a std::function or a pointer to another closure.
  template <typename F>
  void set_signal_handler(const std::string& name, F handler) {
    using Traits = internal::FunctionTraits<F>;
    using Args = typename internal::DecayTuple<typename Traits::Args>::type;
    using R = typename Traits::Return;
    DataConverter conv = converter();
    set_signal_handler_raw(
        name,
        [handler, conv](const Payloads& payloads) -> std::optional<Task<void>> {
          auto args = internal::DecodeArgs<Args>(conv, payloads);
          if constexpr (internal::IsTask<R>::value) {
            return std::apply(handler, std::move(args));
          } else {
            std::apply(handler, std::move(args));
            return std::nullopt;
          }
        },
        internal::Captures(handler));
  }
  template <typename F>
  void set_query_handler(const std::string& name, F handler) {
    using Traits = internal::FunctionTraits<F>;
    using Args = typename internal::DecayTuple<typename Traits::Args>::type;
    using R = typename Traits::Return;
    DataConverter conv = converter();
    set_query_handler_raw(
        name,
        [handler, conv](const Payloads& payloads) -> std::optional<Payload> {
          auto args = internal::DecodeArgs<Args>(conv, payloads);
          if constexpr (std::is_void_v<R>) {
            std::apply(handler, std::move(args));
            return std::nullopt;
          } else {
            return conv.Encode(std::apply(handler, std::move(args)));
          }
        },
        internal::Captures(handler));
  }
  // The validator (optional) takes the same arguments and throws to reject the update; it must
  // not change state. It does not run on replay.
  template <typename F, typename V = std::nullptr_t>
  void set_update_handler(const std::string& name, F handler, V validator = nullptr) {
    using Traits = internal::FunctionTraits<F>;
    using Args = typename internal::DecayTuple<typename Traits::Args>::type;
    using R = typename Traits::Return;
    DataConverter conv = converter();
    internal::UpdateValidatorFn validate;
    internal::HandlerCaptures captures = internal::Captures(handler);
    if constexpr (!std::is_same_v<V, std::nullptr_t>) {
      validate = [validator, conv](const Payloads& payloads) {
        std::apply(validator, internal::DecodeArgs<Args>(conv, payloads));
      };
      internal::HandlerCaptures v = internal::Captures(validator);
      captures.also = v.first;
      captures.also_size = v.first_size;
    }
    set_update_handler_raw(
        name,
        [handler, conv](const Payloads& payloads) -> Task<std::optional<Payload>> {
          return internal::RunToPayload<R>(handler, internal::DecodeArgs<Args>(conv, payloads),
                                           conv);
        },
        std::move(validate), captures);
  }

  // --- Concurrency and cancellation
  // Runs `task` alongside the caller; the future resolves when it ends.
  template <typename T>
  Future<T> spawn(Task<T> task) {
    auto state = std::make_shared<internal::FutureState<T>>(&scheduler());
    start_detached(internal::Drive(std::move(task), state));
    return Future<T>(state);
  }
  // The workflow's scope: canceled when cancellation of the workflow is requested.
  std::shared_ptr<CancellationScope> root_scope();
  // A child of the root scope, to cancel a group of operations on its own.
  std::shared_ptr<CancellationScope> new_scope();
  // A scope the workflow's cancellation does not reach (for clean-up after a cancellation).
  std::shared_ptr<CancellationScope> detached_scope();

  // --- Internals used by the templates above.
  void schedule_activity(const std::string& type, const ActivityOptions& options, Payloads args,
                         internal::RawCallback done);
  void schedule_local_activity(const std::string& type, const LocalActivityOptions& options,
                               Payloads args, internal::RawCallback done);
  std::string start_child(const std::string& type, const ChildWorkflowOptions& options,
                          Payloads args, internal::RawCallback started, internal::RawCallback done);
  void signal_external(const std::string& workflow_id, const std::string& run_id,
                       const std::string& name, Payloads args, internal::RawCallback done);
  Payload side_effect_payload(const std::function<Payload()>& fn);
  void set_signal_handler_raw(const std::string& name, internal::SignalFn fn,
                              internal::HandlerCaptures captures = {});
  void set_query_handler_raw(const std::string& name, internal::QueryFn fn,
                             internal::HandlerCaptures captures = {});
  void set_update_handler_raw(const std::string& name, internal::UpdateFn fn,
                              internal::UpdateValidatorFn validator,
                              internal::HandlerCaptures captures = {});
  // Keeps `object` (a workflow class instance) alive until the run leaves the worker's memory.
  void keep_alive(std::shared_ptr<void> object);
  void start_detached(internal::DetachedTask task);
  internal::Scheduler& scheduler();

 private:
  // Turns a raw outcome into a typed future's value (decoding errors fail the future).
  template <typename T>
  internal::RawCallback Decoder(std::shared_ptr<internal::FutureState<T>> state) {
    DataConverter conv = converter();
    return [state, conv](internal::RawOutcome outcome) {
      if (outcome.error) return state->Fail(outcome.error);
      if constexpr (std::is_void_v<T>) {
        state->Resolve(std::monostate{});
      } else {
        try {
          state->Resolve(conv.Decode<T>(outcome.payload ? *outcome.payload : ToPayload(nullptr)));
        } catch (...) {
          state->Fail(std::current_exception());
        }
      }
    };
  }

  internal::WorkflowInstance& instance_;
};

}  // namespace eon::sdk
