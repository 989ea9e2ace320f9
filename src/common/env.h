// The engine's one seam to the world's time, threads and randomness (as LevelDB's Env): the
// workflow clock, the steady clock of long-poll deadlines, closures run soon or at a time, the
// loops that components would otherwise run on threads of their own, and random numbers.
//
// RealEnv is the process's: the given clock, thread pools, a deadline thread, one thread per
// loop. SimEnv (common/sim_env.h) is the simulator's: one thread, virtual time, and a seed that
// picks the order among the closures that could run next, so one seed is one run.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "common/clock.h"
#include "common/executor.h"

namespace eon {

using SteadyTime = std::chrono::steady_clock::time_point;

class Env {
 public:
  virtual ~Env() = default;

  // The workflow clock (timers, timeouts, event times).
  virtual Clock& clock() = 0;
  // The steady clock (long-poll deadlines, which must not follow a skipped workflow clock).
  virtual SteadyTime SteadyNow() = 0;
  // Runs closures at a steady time. Owned by the Env.
  virtual DeadlineScheduler& deadlines() = 0;
  // A new pool of `threads` workers (one closure at a time each).
  virtual std::unique_ptr<Executor> NewExecutor(const std::string& name, int threads) = 0;
  // A uniformly random 64-bit number. Thread-safe.
  virtual uint64_t Random() = 0;

  // A component's loop: `step` runs, then again after the delay it returns, or sooner once
  // Wake is called. Destroying the Loop stops it: the step in progress (if any) finishes first
  // and `step` never runs again.
  class Loop {
   public:
    virtual ~Loop() = default;
    // Runs the step again soon (again once, however often it is called before the step runs).
    // Thread-safe; may be called from inside the step.
    virtual void Wake() = 0;
  };
  // `wait_max`: a real loop looks at least this often (the workflow clock may be moved by time
  // skipping without a Wake); a simulated one ignores it.
  virtual std::unique_ptr<Loop> StartLoop(const std::string& name, std::function<Duration()> step,
                                          Duration wait_max) = 0;
};

// The process's Env over `clock` (not owned).
class RealEnv final : public Env {
 public:
  explicit RealEnv(Clock& clock);
  ~RealEnv() override;

  Clock& clock() override { return clock_; }
  SteadyTime SteadyNow() override { return std::chrono::steady_clock::now(); }
  DeadlineScheduler& deadlines() override;
  std::unique_ptr<Executor> NewExecutor(const std::string& name, int threads) override;
  uint64_t Random() override;
  std::unique_ptr<Loop> StartLoop(const std::string& name, std::function<Duration()> step,
                                  Duration wait_max) override;

 private:
  Clock& clock_;
  std::mutex mutex_;
  std::unique_ptr<ThreadDeadlineScheduler> deadlines_;  // made on first use; guarded by mutex_
  std::mt19937_64 random_;                              // guarded by mutex_
};

}  // namespace eon
