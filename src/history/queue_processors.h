// The outbox's two queues. Transfer tasks run as soon as they are committed; timer tasks when
// they fall due on the engine's clock. New tasks arrive from the engine right after their commit
// (no database re-read); at start, and for timers beyond the look-ahead window, they are read
// from the store. A task is deleted once processed; a crash before that only runs it again.
//
// A task runs on the executor and is in flight until its handler answers, which for a task that
// changes an execution is once that change is durable: no executor thread waits for a commit.
//
// A task that fails is retried with exponential backoff (TaskRetryOptions); after
// `failures_before_parking` failures in a row it is parked: logged once as an error, kept aside
// (listed by Parked, with its last error) and not run again until an operator retries it
// (RetryParked), so one poisoned execution costs no more than that while the shard keeps serving
// everything else. The parked mark is stored (Store::ParkTask) by the delete loop, which the
// park wakes, before the task is listed as parked, so a listed task stays parked through a
// restart. A handler that throws counts as a failure.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/env.h"
#include "common/executor.h"
#include "history/task_handler.h"
#include "persistence/store.h"

namespace eon::history {

struct TaskRetryOptions {
  Duration retry_delay_initial = std::chrono::seconds(1);  // after the first failure
  Duration retry_delay_max = std::chrono::seconds(60);     // the backoff doubles up to this
  int failures_before_parking = 10;                        // about 5 minutes of retries
};

// A task set aside after failing again and again.
using ParkedTask = persistence::ParkedTask;

class QueueProcessors {
 public:
  // The timer and delete loops run on `env` (threads of their own in a real process), the
  // tasks on `executor`; time is env.clock().
  QueueProcessors(TaskHandler& handler, persistence::Store& store, Env& env, Executor& executor,
                  int32_t shard_count, Duration timer_lookahead, TaskRetryOptions retry = {});
  // Stops, then waits for the answers of the tasks whose handler started (their commits
  // complete on the store's committer, so the store must outlive this).
  ~QueueProcessors();

  // Loads what the store holds of `shards` (parked tasks stay parked) and starts the loops.
  // The processors serve only the shards they were given here or by AddShard: the tasks of
  // others are ignored (their owner, another node, runs them).
  Status Start(const std::vector<int32_t>& shards);
  Status Start();  // every shard
  // Starts serving a shard this process just took (its range_id bumped): loads its transfer
  // tasks and its timers within the look-ahead window. No-op when served already.
  Status AddShard(int32_t shard_id);
  // Stops serving a shard: its timers and retries are forgotten (the next owner loads them);
  // tasks of it already running finish, and their failures are not retried here.
  void RemoveShard(int32_t shard_id);
  void Stop();
  // Hands over tasks just committed.
  void Add(const std::vector<persistence::StoredTask>& tasks);
  // Wakes the timer loop (after the clock moved).
  void ClockChanged();
  // No timer is due and no task is being processed: time may be skipped.
  bool Idle();

  // The parked tasks, in task id order.
  std::vector<ParkedTask> Parked();
  // Runs parked tasks again, with a fresh backoff: those named by id, or all if `task_ids` is
  // empty. Returns how many were unparked. Their stored marks are removed first; if that fails
  // the tasks run anyway (and a restart before they succeed would find them parked again).
  int RetryParked(const std::vector<int64_t>& task_ids);

 private:
  // Records a failure of `task`: schedules its retry, or queues it to be parked (stored by the
  // delete loop, then listed). REQUIRES: mutex_ held.
  void FailedLocked(const persistence::StoredTask& task, const Status& status);
  void SucceededLocked(int64_t task_id);
  // One turn of the timer loop: loads timers ahead, hands due ones (and due transfer retries)
  // to the executor. Returns when it wants to run again.
  Duration TimerStep();
  // Wakes the timer loop. REQUIRES: mutex_ held.
  void WakeTimersLocked();
  // Runs `task` on the executor. REQUIRES: mutex_ held, and the task counted in in_flight_
  // (it stays counted until its handler answers).
  void SubmitLocked(persistence::StoredTask task);
  // A committed transfer task (counted in in_flight_ and answers_pending_): run here if the
  // handler can without waiting (TryDispatchWithoutWaiting), else on the executor.
  void RunHereOrSubmit(const persistence::StoredTask& task);
  // What a transfer task's handler calls once the task may be deleted.
  std::function<void()> SettledFn(const persistence::StoredTask& task);
  void Run(const persistence::StoredTask& task);
  // The handler's answer for `task` (any thread; no store I/O).
  void Finished(const persistence::StoredTask& task, const Status& status);
  void Completed(const persistence::StoredTask& task);
  // Deletes the tasks done since the last call and stores the parks queued since.
  void DeleteStep();
  void StoreParks();
  Status LoadTimers(TimePoint until);
  // The timers of one shard due by `until`, appended to `loaded`.
  Status LoadShardTimers(int32_t shard_id, TimePoint until,
                         std::vector<persistence::StoredTask>& loaded);
  // Keeps loaded timers of served shards that are not known yet. REQUIRES: mutex_ held.
  void KeepTimersLocked(std::vector<persistence::StoredTask>& loaded);
  // REQUIRES: mutex_ held.
  bool ServedLocked(int32_t shard_id) const {
    return shard_id >= 0 && shard_id < shard_count_ && served_[shard_id];
  }

  TaskHandler& handler_;
  persistence::Store& store_;
  Env& env_;
  Clock& clock_;
  Executor& executor_;
  const int32_t shard_count_;
  const Duration timer_lookahead_;
  const TaskRetryOptions retry_;

  // Held across a park or unpark and its store write (never while waiting for mutex_'s holder),
  // so the stored marks follow the order of the changes in memory. The store write is made
  // without mutex_: the store's commit callbacks take mutex_ (Add).
  std::mutex park_mutex_;
  std::mutex mutex_;
  bool stopping_ = false;                                               // guarded by mutex_
  std::vector<bool> served_;  // by shard id: this process owns it; guarded by mutex_
  std::multimap<TimePoint, persistence::StoredTask> timers_;            // guarded by mutex_
  std::multimap<TimePoint, persistence::StoredTask> transfer_retries_;  // guarded by mutex_
  std::set<int64_t> timer_ids_;                                         // guarded by mutex_
  TimePoint timers_loaded_until_{};                                     // guarded by mutex_
  std::vector<persistence::StoredTask> completed_;                      // guarded by mutex_
  // Tasks handed to the executor whose handler has not answered yet; guarded by mutex_.
  int in_flight_ = 0;
  // Of those, the ones whose handler has started (the destructor waits for their answers; a
  // task still queued in the executor has not touched the handler). Guarded by mutex_.
  int answers_pending_ = 0;
  std::condition_variable no_answers_pending_;
  std::map<int64_t, int> failures_;         // task id -> failures in a row; guarded by mutex_
  std::map<int64_t, ParkedTask> parked_;    // stored and listed; guarded by mutex_
  std::vector<ParkedTask> parks_to_store_;  // parked, not yet stored; guarded by mutex_
  std::unique_ptr<Env::Loop> timer_loop_;   // guarded by mutex_ (set by Start, taken by Stop)
  std::unique_ptr<Env::Loop> delete_loop_;  // guarded by mutex_ (set by Start, taken by Stop)
};

}  // namespace eon::history
