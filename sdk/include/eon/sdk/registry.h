// What a worker (or a replayer) can run: workflows and activities by name.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "eon/sdk/activity.h"
#include "eon/sdk/workflow.h"

namespace eon::sdk {

namespace internal {
using ActivityFn = std::function<std::optional<Payload>(ActivityContext&, const Payloads&)>;

template <typename R, typename F, typename Args>
Task<std::optional<Payload>> RunWorkflow(F fn, WorkflowContext& ctx, Args args) {
  using V = typename IsTask<R>::Value;
  auto call = [&](auto&&... a) { return fn(ctx, std::forward<decltype(a)>(a)...); };
  if constexpr (std::is_void_v<V>) {
    co_await std::apply(call, std::move(args));
    co_return std::nullopt;
  } else {
    V v = co_await std::apply(call, std::move(args));
    co_return ctx.converter().Encode(v);
  }
}
template <typename Tuple>
struct FirstIsActivityContext : std::false_type {};
template <typename First, typename... Rest>
struct FirstIsActivityContext<std::tuple<First, Rest...>>
    : std::is_same<std::decay_t<First>, ActivityContext> {};
}  // namespace internal

class Registry {
 public:
  // `fn`: Task<R>(WorkflowContext&, A...): a function, a function pointer or a lambda (copied
  // for each run, and kept alive while the run's coroutine is, so a coroutine lambda's
  // captures stay valid).
  template <typename F>
  void register_workflow(const std::string& name, F fn) {
    using Traits = internal::FunctionTraits<F>;
    using R = typename Traits::Return;
    static_assert(internal::IsTask<R>::value, "a workflow function returns eon::sdk::Task<R>");
    using Args = typename internal::DecayTuple<
        typename internal::DropFirst<typename Traits::Args>::type>::type;
    workflows_[name] = [fn](WorkflowContext& ctx,
                            const Payloads& input) -> Task<std::optional<Payload>> {
      return internal::RunWorkflow<R>(fn, ctx, internal::DecodeArgs<Args>(ctx.converter(), input));
    };
  }

  // A workflow class W: the SDK makes one object per run (W(WorkflowContext&) when W has that
  // constructor, else W()), keeps it until the run leaves the worker's memory, and runs
  // `Task<R> W::run(WorkflowContext&, A...)`. Handlers registered with lambdas that capture
  // `this` (in the constructor or in run) read member state, which outlives run():
  //
  //   class Counter {
  //    public:
  //     explicit Counter(WorkflowContext& ctx) {
  //       ctx.set_query_handler("count", [this] { return count_; });
  //       ctx.set_signal_handler("add", [this](int n) { count_ += n; });
  //     }
  //     Task<int> run(WorkflowContext& ctx, int target) {
  //       co_await ctx.wait_condition([this, target] { return count_ >= target; });
  //       co_return count_;
  //     }
  //    private:
  //     int count_ = 0;
  //   };
  //   registry.register_workflow<Counter>("Counter");
  template <typename W>
  void register_workflow(const std::string& name) {
    using Traits = internal::FunctionTraits<decltype(&W::run)>;
    using R = typename Traits::Return;
    static_assert(internal::IsTask<R>::value, "W::run returns eon::sdk::Task<R>");
    using Args = typename internal::DecayTuple<
        typename internal::DropFirst<typename Traits::Args>::type>::type;
    workflows_[name] = [](WorkflowContext& ctx,
                          const Payloads& input) -> Task<std::optional<Payload>> {
      std::shared_ptr<W> object;
      if constexpr (std::is_constructible_v<W, WorkflowContext&>) {
        object = std::make_shared<W>(ctx);
      } else {
        object = std::make_shared<W>();
      }
      ctx.keep_alive(object);
      W* self = object.get();  // owned by the run (keep_alive)
      auto run = [self](WorkflowContext& c, auto&&... a) {
        return self->run(c, std::forward<decltype(a)>(a)...);
      };
      return internal::RunWorkflow<R>(run, ctx, internal::DecodeArgs<Args>(ctx.converter(), input));
    };
  }

  // `fn`: R(ActivityContext&, A...) or R(A...).
  template <typename F>
  void register_activity(const std::string& name, F fn) {
    using All = typename internal::FunctionTraits<F>::Args;
    activities_[name] = MakeActivity<F, internal::FirstIsActivityContext<All>::value>(fn);
  }

  const internal::WorkflowFn* workflow(const std::string& name) const {
    auto it = workflows_.find(name);
    return it == workflows_.end() ? nullptr : &it->second;
  }
  const internal::ActivityFn* activity(const std::string& name) const {
    auto it = activities_.find(name);
    return it == activities_.end() ? nullptr : &it->second;
  }
  std::string workflow_names() const;
  std::string activity_names() const;

 private:
  template <typename F, bool kTakesContext>
  static internal::ActivityFn MakeActivity(F fn) {
    using Traits = internal::FunctionTraits<F>;
    using R = typename Traits::Return;
    using All = typename Traits::Args;
    return [fn](ActivityContext& ctx, const Payloads& input) -> std::optional<Payload> {
      auto invoke = [&](auto&& args_tuple) -> std::optional<Payload> {
        if constexpr (std::is_void_v<R>) {
          std::apply(fn, std::forward<decltype(args_tuple)>(args_tuple));
          return std::nullopt;
        } else {
          return ctx.converter().Encode(
              std::apply(fn, std::forward<decltype(args_tuple)>(args_tuple)));
        }
      };
      if constexpr (kTakesContext) {
        using Args = typename internal::DecayTuple<typename internal::DropFirst<All>::type>::type;
        auto args = internal::DecodeArgs<Args>(ctx.converter(), input);
        return invoke(std::tuple_cat(std::tie(ctx), std::move(args)));
      } else {
        using Args = typename internal::DecayTuple<All>::type;
        return invoke(internal::DecodeArgs<Args>(ctx.converter(), input));
      }
    };
  }

  std::map<std::string, internal::WorkflowFn> workflows_;
  std::map<std::string, internal::ActivityFn> activities_;
};

}  // namespace eon::sdk
