// A fixed pool of threads that runs submitted closures in order of submission. Request handlers
// run here, so gRPC's own threads never wait on the database.
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
  Executor(std::string name, int thread_count);
  ~Executor();  // runs what is queued, then joins
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  void Submit(std::function<void()> fn);

 private:
  void Run();

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;  // guarded by mutex_
  bool stopping_ = false;                    // guarded by mutex_
  std::vector<std::thread> threads_;
};

// Runs closures at a time on the steady clock, on one thread of its own. For deadlines of
// parked long-polls, which must not depend on the (maybe skipped) workflow clock.
class DeadlineScheduler {
 public:
  using Id = uint64_t;
  DeadlineScheduler();
  ~DeadlineScheduler();  // drops what has not run
  DeadlineScheduler(const DeadlineScheduler&) = delete;
  DeadlineScheduler& operator=(const DeadlineScheduler&) = delete;

  Id At(std::chrono::steady_clock::time_point when, std::function<void()> fn);
  // Returns true when the closure was cancelled before it started.
  bool Cancel(Id id);

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
