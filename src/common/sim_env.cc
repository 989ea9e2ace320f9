#include "common/sim_env.h"

#include <deque>
#include <vector>

#include "common/barrier.h"

namespace eon {

class SimEnv::SimDeadlines final : public DeadlineScheduler {
 public:
  explicit SimDeadlines(SimEnv& env) : env_(env) {}
  Id At(SteadyTime when, std::function<void()> fn) override {
    return env_.PostAt(env_.start_ + (when - SteadyTime()), std::move(fn));
  }
  bool Cancel(Id id) override { return env_.Cancel(id); }

 private:
  SimEnv& env_;
};

// A pool of `threads` simulated workers taking closures in submission order: at most that many
// run "at once" (are posted to the scheduler), so a one-thread pool stays in order.
class SimEnv::SimExecutor final : public Executor {
 public:
  SimExecutor(SimEnv& env, int threads) : state_(std::make_shared<State>()) {
    state_->env = &env;
    state_->threads = std::max(threads, 1);
  }
  // What has not run is dropped (as a pool's threads stopping at a crash).
  ~SimExecutor() override { state_->queue.clear(); }
  void Submit(std::function<void()> fn) override {
    state_->queue.push_back(std::move(fn));
    PostWorkers(state_);
  }

 private:
  // Shared with the posted workers, which may outlive the executor.
  struct State {
    SimEnv* env = nullptr;
    int threads = 1;
    std::deque<std::function<void()>> queue;
    int busy = 0;  // workers posted and not yet run
  };
  static void PostWorkers(const std::shared_ptr<State>& state) {
    while (state->busy<state->threads&& static_cast<int>(state->queue.size())> state->busy) {
      ++state->busy;
      state->env->Post([state] {
        --state->busy;
        if (state->queue.empty()) return;
        auto fn = std::move(state->queue.front());
        state->queue.pop_front();
        RunGuarded("a closure on a simulated executor", fn).ok();
        PostWorkers(state);
      });
    }
  }

  std::shared_ptr<State> state_;
};

class SimEnv::SimLoop final : public Env::Loop {
 public:
  SimLoop(SimEnv& env, std::function<Duration()> step) : env_(env), step_(std::move(step)) {
    pending_ = env_.Post([this] { Run(); });
  }
  ~SimLoop() override {
    if (pending_) env_.Cancel(pending_);
  }
  void Wake() override {
    if (pending_ && env_.tasks_.count(pending_) && env_.tasks_[pending_].when <= env_.now_) return;
    if (pending_) env_.Cancel(pending_);
    pending_ = env_.Post([this] { Run(); });
  }

 private:
  void Run() {
    pending_ = 0;
    Duration delay{};
    Status thrown = RunGuarded("a simulated loop step", [&] { delay = step_(); });
    if (!thrown.ok()) delay = std::chrono::seconds(1);
    if (pending_) return;  // woken during the step: it runs again soon
    delay = std::max<Duration>(delay, std::chrono::milliseconds(1));
    pending_ = env_.PostAt(env_.now_ + std::chrono::duration_cast<TimePoint::duration>(delay),
                           [this] { Run(); });
  }

  SimEnv& env_;
  const std::function<Duration()> step_;
  TaskId pending_ = 0;
};

SimEnv::SimEnv(uint64_t seed, TimePoint start) : start_(start), now_(start), random_(seed) {
  deadlines_ = std::make_unique<SimDeadlines>(*this);
  uuids_ = std::make_unique<ScopedUuidSource>([this] { return random_(); });
}

SimEnv::~SimEnv() = default;

SteadyTime SimEnv::SteadyNow() { return SteadyTime() + (now_ - start_); }

std::unique_ptr<Executor> SimEnv::NewExecutor(const std::string& /*name*/, int threads) {
  return std::make_unique<SimExecutor>(*this, threads);
}

std::unique_ptr<Env::Loop> SimEnv::StartLoop(const std::string& /*name*/,
                                             std::function<Duration()> step,
                                             Duration /*wait_max*/) {
  return std::make_unique<SimLoop>(*this, std::move(step));
}

SimEnv::TaskId SimEnv::PostAt(TimePoint when, std::function<void()> fn) {
  const TaskId id = next_id_++;
  tasks_.emplace(id, Task{std::max(when, now_), std::move(fn)});
  return id;
}

bool SimEnv::Step() {
  if (tasks_.empty()) return false;
  std::vector<TaskId> runnable;
  TimePoint next = TimePoint::max();
  for (const auto& [id, task] : tasks_) {
    if (task.when <= now_) runnable.push_back(id);
    next = std::min(next, task.when);
  }
  if (runnable.empty()) {
    now_ = next;
    for (const auto& [id, task] : tasks_) {
      if (task.when <= now_) runnable.push_back(id);
    }
  }
  auto it = tasks_.find(runnable[random_() % runnable.size()]);
  auto fn = std::move(it->second.fn);
  tasks_.erase(it);
  ++steps_;
  fn();
  return true;
}

}  // namespace eon
