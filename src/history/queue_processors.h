// The outbox's two queues. Transfer tasks run as soon as they are committed; timer tasks when
// they fall due on the engine's clock. New tasks arrive from the engine right after their commit
// (no database re-read); at start, and for timers beyond the look-ahead window, they are read
// from the store. A task is deleted once processed; a crash before that only runs it again.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/executor.h"
#include "persistence/store.h"

namespace eon::history {

class HistoryEngine;

class QueueProcessors {
 public:
  QueueProcessors(HistoryEngine& engine, persistence::Store& store, Clock& clock,
                  Executor& executor, int32_t shard_count, Duration timer_lookahead);
  ~QueueProcessors();  // stops

  // Loads what the store holds and starts the threads.
  Status Start();
  void Stop();
  // Hands over tasks just committed.
  void Add(const std::vector<persistence::StoredTask>& tasks);
  // Wakes the timer thread (after the clock moved).
  void ClockChanged();
  // No timer is due and no task is being processed: time may be skipped.
  bool Idle();

 private:
  void TimerLoop();
  void RunTransfer(const persistence::StoredTask& task);
  void RunTimer(const persistence::StoredTask& task);
  void Completed(const persistence::StoredTask& task);
  // Runs `fn` on the executor, counted as in flight until it returns.
  void Dispatch(std::function<void()> fn);
  void DeleteLoop();
  Status LoadTimers(TimePoint until);

  HistoryEngine& engine_;
  persistence::Store& store_;
  Clock& clock_;
  Executor& executor_;
  const int32_t shard_count_;
  const Duration timer_lookahead_;

  std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;                                               // guarded by mutex_
  std::multimap<TimePoint, persistence::StoredTask> timers_;            // guarded by mutex_
  std::multimap<TimePoint, persistence::StoredTask> transfer_retries_;  // guarded by mutex_
  std::set<int64_t> timer_ids_;                                         // guarded by mutex_
  TimePoint timers_loaded_until_{};                                     // guarded by mutex_
  std::vector<persistence::StoredTask> completed_;                      // guarded by mutex_
  int in_flight_ = 0;                                                   // guarded by mutex_
  std::thread timer_thread_;
  std::thread delete_thread_;
};

}  // namespace eon::history
