#include "common/env.h"

#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <thread>

#include "common/barrier.h"

namespace eon {
namespace {

// A loop on a thread of its own.
class ThreadLoop final : public Env::Loop {
 public:
  ThreadLoop(const std::string& name, std::function<Duration()> step, Duration wait_max)
      : step_(std::move(step)), wait_max_(wait_max) {
    thread_ = std::thread([this] { Run(); });
    pthread_setname_np(thread_.native_handle(), name.substr(0, 15).c_str());
  }
  ~ThreadLoop() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  void Wake() override {
    {
      std::lock_guard lock(mutex_);
      woken_ = true;
    }
    changed_.notify_one();
  }

 private:
  void Run() {
    for (;;) {
      Duration delay{};
      Status thrown = RunGuarded("a loop step", [&] { delay = step_(); });
      if (!thrown.ok()) delay = std::chrono::seconds(1);
      delay = std::clamp<Duration>(delay, std::chrono::milliseconds(1), wait_max_);
      std::unique_lock lock(mutex_);
      changed_.wait_for(lock, delay, [this] { return woken_ || stopping_; });
      if (stopping_) return;
      woken_ = false;
    }
  }

  const std::function<Duration()> step_;
  const Duration wait_max_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool woken_ = false;     // guarded by mutex_
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace

RealEnv::RealEnv(Clock& clock) : clock_(clock), random_(std::random_device{}()) {}

RealEnv::~RealEnv() = default;

DeadlineScheduler& RealEnv::deadlines() {
  std::lock_guard lock(mutex_);
  if (!deadlines_) deadlines_ = std::make_unique<ThreadDeadlineScheduler>();
  return *deadlines_;
}

std::unique_ptr<Executor> RealEnv::NewExecutor(const std::string& name, int threads) {
  return std::make_unique<ThreadPool>(name, threads);
}

uint64_t RealEnv::Random() {
  std::lock_guard lock(mutex_);
  return random_();
}

std::unique_ptr<Env::Loop> RealEnv::StartLoop(const std::string& name,
                                              std::function<Duration()> step, Duration wait_max) {
  return std::make_unique<ThreadLoop>(name, std::move(step), wait_max);
}

}  // namespace eon
