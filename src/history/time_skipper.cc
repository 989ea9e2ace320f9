#include "history/time_skipper.h"

#include <pthread.h>

#include "common/log.h"

namespace eon::history {
namespace {
constexpr auto kTick = std::chrono::milliseconds(10);
// Idle must hold this long before a jump: a task just committed reaches the outbox or the busy
// count within it.
constexpr int kIdleTicksBeforeSkip = 3;
}  // namespace

TimeSkipper::TimeSkipper(SkippableClock& clock, persistence::Store& store,
                         std::function<bool()> idle, std::function<void()> clock_moved)
    : clock_(clock), store_(store), idle_(std::move(idle)), clock_moved_(std::move(clock_moved)) {}

TimeSkipper::~TimeSkipper() { Stop(); }

void TimeSkipper::Start() {
  thread_ = std::thread([this] { Loop(); });
  pthread_setname_np(thread_.native_handle(), "time-skipper");
}

void TimeSkipper::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::multimap<TimePoint, Sleeper> left;
  {
    std::lock_guard lock(mutex_);
    left.swap(sleepers_);
  }
  for (auto& [when, sleeper] : left) sleeper.done();
}

void TimeSkipper::Lock() {
  std::lock_guard lock(mutex_);
  ++lock_count_;
}

Status TimeSkipper::Unlock() {
  {
    std::lock_guard lock(mutex_);
    if (lock_count_ == 0) {
      return FailedPrecondition(
          "time skipping is already unlocked (unbalanced UnlockTimeSkipping)");
    }
    --lock_count_;
  }
  changed_.notify_all();
  return Status::Ok();
}

Result<TimeSkipper::SleepId> TimeSkipper::SleepUntil(TimePoint when, bool unlock,
                                                     std::function<void()> done) {
  SleepId id;
  {
    std::lock_guard lock(mutex_);
    if (unlock) {
      if (lock_count_ == 0) {
        return FailedPrecondition("time skipping is already unlocked (unbalanced unlock)");
      }
      --lock_count_;
    }
    id = next_sleep_id_++;
    sleepers_.emplace(when, Sleeper{id, unlock, std::move(done)});
  }
  changed_.notify_all();
  return id;
}

bool TimeSkipper::CancelSleep(SleepId id) {
  std::lock_guard lock(mutex_);
  for (auto it = sleepers_.begin(); it != sleepers_.end(); ++it) {
    if (it->second.id != id) continue;
    if (it->second.holds_unlock) ++lock_count_;
    sleepers_.erase(it);
    return true;
  }
  return false;
}

void TimeSkipper::Loop() {
  int idle_ticks = 0;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    // Wake the sleepers whose time has come.
    TimePoint now = clock_.Now();
    while (!sleepers_.empty() && sleepers_.begin()->first <= now) {
      Sleeper sleeper = std::move(sleepers_.begin()->second);
      sleepers_.erase(sleepers_.begin());
      if (sleeper.holds_unlock) ++lock_count_;  // the unlock it held ends
      lock.unlock();
      sleeper.done();
      lock.lock();
    }
    const bool may_skip = lock_count_ == 0 && busy_.load() <= 0;
    std::optional<TimePoint> first_sleeper;
    if (!sleepers_.empty()) first_sleeper = sleepers_.begin()->first;
    lock.unlock();
    idle_ticks = may_skip && idle_() ? idle_ticks + 1 : 0;
    if (idle_ticks >= kIdleTicksBeforeSkip) {
      auto next_timer = store_.NextTimerTime();
      std::optional<TimePoint> target = first_sleeper;
      if (next_timer.ok() && *next_timer && (!target || **next_timer < *target)) {
        target = **next_timer;
      }
      if (target && *target > clock_.Now()) {
        LOG_DEBUG(
            "time skipping: jumping "
            << std::chrono::duration_cast<std::chrono::milliseconds>(*target - clock_.Now()).count()
            << " ms ahead");
        clock_.AdvanceTo(*target);
        clock_moved_();
        idle_ticks = 0;
      }
    }
    lock.lock();
    changed_.wait_for(lock, kTick);
  }
}

}  // namespace eon::history
