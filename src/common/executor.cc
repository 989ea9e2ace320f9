#include "common/executor.h"

#include <pthread.h>

#include "common/barrier.h"

namespace eon {

ThreadPool::ThreadPool(std::string name, int thread_count) {
  for (int i = 0; i < thread_count; ++i) {
    threads_.emplace_back([this] { Run(); });
    // Named for debuggers and top (at most 15 characters).
    pthread_setname_np(threads_.back().native_handle(), name.substr(0, 15).c_str());
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  ready_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::Submit(std::function<void()> fn) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(fn));
  }
  ready_.notify_one();
}

void ThreadPool::Run() {
  for (;;) {
    std::function<void()> fn;
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      fn = std::move(queue_.front());
      queue_.pop_front();
    }
    // The last barrier: a closure that throws is logged and counted, and the thread goes on.
    RunGuarded("a closure on an executor thread", fn).ok();
  }
}

ThreadDeadlineScheduler::ThreadDeadlineScheduler() : thread_([this] { Run(); }) {}

ThreadDeadlineScheduler::~ThreadDeadlineScheduler() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

DeadlineScheduler::Id ThreadDeadlineScheduler::At(std::chrono::steady_clock::time_point when,
                                                  std::function<void()> fn) {
  Id id;
  bool earliest;
  {
    std::lock_guard lock(mutex_);
    id = next_id_++;
    auto added = by_time_.emplace(when, id);
    earliest = added == by_time_.begin();
    pending_.emplace(id, std::move(fn));
  }
  // The thread waits until the earliest deadline at the latest: a later one needs no wake-up
  // (most are long-poll deadlines, a minute out, behind others already held).
  if (earliest) changed_.notify_one();
  return id;
}

bool ThreadDeadlineScheduler::Cancel(Id id) {
  std::lock_guard lock(mutex_);
  return pending_.erase(id) > 0;  // its by_time_ entry is skipped when it comes due
}

void ThreadDeadlineScheduler::Run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (by_time_.empty()) {
      changed_.wait(lock);
      continue;
    }
    auto first = by_time_.begin();
    if (first->first > std::chrono::steady_clock::now()) {
      changed_.wait_until(lock, first->first);
      continue;
    }
    Id id = first->second;
    by_time_.erase(first);
    auto it = pending_.find(id);
    if (it == pending_.end()) continue;
    auto fn = std::move(it->second);
    pending_.erase(it);
    lock.unlock();
    fn();
    lock.lock();
  }
}

}  // namespace eon
