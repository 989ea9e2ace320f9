// Where closures run. Executor runs them soon; DeadlineScheduler runs them at a time. Both are
// interfaces so the simulator (common/sim_env.h) can run every closure on one seeded,
// single-threaded scheduler; ThreadPool and ThreadDeadlineScheduler are the real ones.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace eon {

class Executor {
 public:
  virtual ~Executor() = default;
  // Runs `fn` soon, maybe beside other closures. Thread-safe.
  virtual void Submit(std::function<void()> fn) = 0;
};

// A fixed pool of threads that runs submitted closures in order of submission. Request handlers
// run here, so gRPC's own threads never wait on the database.
class ThreadPool final : public Executor {
 public:
  ThreadPool(std::string name, int thread_count);
  ~ThreadPool() override;  // runs what is queued, then joins
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Submit(std::function<void()> fn) override;

 private:
  void Run();

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;  // guarded by mutex_
  bool stopping_ = false;                    // guarded by mutex_
  std::vector<std::thread> threads_;
};

// Runs closures at a time on the steady clock. For deadlines of parked long-polls, which must
// not depend on the (maybe skipped) workflow clock. Thread-safe.
class DeadlineScheduler {
 public:
  using Id = uint64_t;
  virtual ~DeadlineScheduler() = default;
  virtual Id At(std::chrono::steady_clock::time_point when, std::function<void()> fn) = 0;
  // Returns true when the closure was cancelled before it started.
  virtual bool Cancel(Id id) = 0;
};

// The real one: one thread of its own.
class ThreadDeadlineScheduler final : public DeadlineScheduler {
 public:
  ThreadDeadlineScheduler();
  ~ThreadDeadlineScheduler() override;  // drops what has not run
  ThreadDeadlineScheduler(const ThreadDeadlineScheduler&) = delete;
  ThreadDeadlineScheduler& operator=(const ThreadDeadlineScheduler&) = delete;

  Id At(std::chrono::steady_clock::time_point when, std::function<void()> fn) override;
  bool Cancel(Id id) override;

 private:
  void Run();

  std::mutex mutex_;
  std::condition_variable changed_;
  std::multimap<std::chrono::steady_clock::time_point, Id> by_time_;  // guarded by mutex_
  std::map<Id, std::function<void()>> pending_;                       // guarded by mutex_
  Id next_id_ = 1;                                                    // guarded by mutex_
  bool stopping_ = false;                                             // guarded by mutex_
  std::thread thread_;
};

}  // namespace eon
