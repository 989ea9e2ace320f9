// The simulator's Env: one thread, virtual time, one seed.
//
// Every closure the engine would run on a thread of its own (executor work, deadlines, the
// loops of its components) becomes an entry in one scheduler. Step() runs one closure: one of
// those runnable now, picked by the seeded generator; when none is, virtual time jumps to the
// next one due. Nothing runs beside a step, so the seed alone decides the order, and the same
// seed gives the same run. Random() and the UUIDs made on this thread (common/ids.h) come from
// the same generator.
//
// Not thread-safe: everything happens on the thread that owns the SimEnv.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>

#include "common/env.h"
#include "common/ids.h"

namespace eon {

class SimEnv final : public Env {
 public:
  using TaskId = uint64_t;

  SimEnv(uint64_t seed, TimePoint start);
  ~SimEnv() override;
  SimEnv(const SimEnv&) = delete;
  SimEnv& operator=(const SimEnv&) = delete;

  Clock& clock() override { return clock_; }
  SteadyTime SteadyNow() override;
  DeadlineScheduler& deadlines() override { return *deadlines_; }
  std::unique_ptr<Executor> NewExecutor(const std::string& name, int threads) override;
  uint64_t Random() override { return random_(); }
  std::unique_ptr<Loop> StartLoop(const std::string& name, std::function<Duration()> step,
                                  Duration wait_max) override;

  // The scheduler. A closure runnable now (Post) or once virtual time reaches `when`.
  TaskId Post(std::function<void()> fn) { return PostAt(now_, std::move(fn)); }
  TaskId PostAt(TimePoint when, std::function<void()> fn);
  // Returns whether the closure was still waiting.
  bool Cancel(TaskId id) { return tasks_.erase(id) > 0; }
  // Runs one closure (see the top of this file). False when nothing is left to run.
  bool Step();
  // Time passes inside the step that runs (a slow write, a long computation).
  void Sleep(Duration d) { now_ += std::chrono::duration_cast<TimePoint::duration>(d); }
  // Forgets every closure: a crash ends every thread of the process.
  void DropAll() { tasks_.clear(); }

  TimePoint now() const { return now_; }
  uint64_t steps() const { return steps_; }
  size_t pending() const { return tasks_.size(); }
  // A number in [0, n), n > 0.
  uint64_t Uniform(uint64_t n) { return random_() % n; }
  // True with probability per_mille / 1000.
  bool Chance(int per_mille) { return static_cast<int>(random_() % 1000) < per_mille; }

 private:
  class SimClock final : public Clock {
   public:
    explicit SimClock(const SimEnv& env) : env_(env) {}
    TimePoint Now() const override { return env_.now_; }

   private:
    const SimEnv& env_;
  };
  class SimDeadlines;
  class SimExecutor;
  class SimLoop;
  struct Task {
    TimePoint when;
    std::function<void()> fn;
  };

  const TimePoint start_;
  TimePoint now_;
  std::mt19937_64 random_;
  SimClock clock_{*this};
  std::unique_ptr<DeadlineScheduler> deadlines_;
  std::unique_ptr<ScopedUuidSource> uuids_;
  std::map<TaskId, Task> tasks_;  // by id, so ties are broken the same way every run
  TaskId next_id_ = 1;
  uint64_t steps_ = 0;
};

}  // namespace eon
