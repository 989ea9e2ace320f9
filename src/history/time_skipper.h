// Time skipping for tests (`eon server start-dev --time-skipping`), as Temporal's test server
// does it: while no caller holds a lock and nothing runs (no workflow task or activity in flight,
// no due timer being processed), the clock jumps to the next timer, so durable timers and
// timeouts fire in order without waiting. Serves TestService's lock counter and sleeps.
//
// The busy count lives in memory only: a time-skipping server is for tests, usually in memory.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "common/clock.h"
#include "common/status.h"
#include "persistence/store.h"

namespace eon::history {

class QueueProcessors;

class TimeSkipper {
 public:
  // `idle` tells whether the outbox has nothing due or in flight.
  TimeSkipper(SkippableClock& clock, persistence::Store& store, std::function<bool()> idle,
              std::function<void()> clock_moved);
  ~TimeSkipper();

  void Start();
  void Stop();

  // The lock counter starts at 1: time runs normally until a client unlocks.
  void Lock();
  // FAILED_PRECONDITION when the counter is already 0.
  Status Unlock();
  // Workflow tasks and activities in flight, added to by the engine as state changes.
  void AddBusy(int64_t delta) { busy_ += delta; }
  int64_t busy() const { return busy_.load(); }

  using SleepId = uint64_t;
  // Calls `done` once the clock reaches `when` (it may be skipped there). With `unlock`, holds one
  // unlock while waiting (FAILED_PRECONDITION, without waiting, when the counter is 0). The id
  // is for CancelSleep.
  Result<SleepId> SleepUntil(TimePoint when, bool unlock, std::function<void()> done);
  // Ends a sleep early (its caller left): `done` is not called; its unlock ends. False when it
  // already woke.
  bool CancelSleep(SleepId id);

 private:
  void Loop();

  SkippableClock& clock_;
  persistence::Store& store_;
  const std::function<bool()> idle_;
  const std::function<void()> clock_moved_;
  std::atomic<int64_t> busy_{0};

  std::mutex mutex_;
  std::condition_variable changed_;
  int lock_count_ = 1;     // guarded by mutex_
  bool stopping_ = false;  // guarded by mutex_
  struct Sleeper {
    SleepId id = 0;
    bool holds_unlock = false;
    std::function<void()> done;
  };
  std::multimap<TimePoint, Sleeper> sleepers_;  // guarded by mutex_
  SleepId next_sleep_id_ = 1;                   // guarded by mutex_
  std::thread thread_;
};

}  // namespace eon::history
