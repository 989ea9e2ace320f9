#include "history/queue_processors.h"

#include "common/barrier.h"
#include "common/log.h"

namespace eon::history {
namespace {
constexpr int kLoadBatch = 1'000;
// Done tasks are deleted in batches; one left behind by a crash only runs again, harmlessly.
constexpr auto kDeleteInterval = std::chrono::seconds(1);

const char* CategoryName(persistence::TaskCategory category) {
  return category == persistence::TaskCategory::kTimer ? "timer" : "transfer";
}
}  // namespace

QueueProcessors::QueueProcessors(TaskHandler& handler, persistence::Store& store, Env& env,
                                 Executor& executor, int32_t shard_count, Duration timer_lookahead,
                                 TaskRetryOptions retry)
    : handler_(handler),
      store_(store),
      env_(env),
      clock_(env.clock()),
      executor_(executor),
      shard_count_(shard_count),
      timer_lookahead_(timer_lookahead),
      retry_(retry),
      served_(shard_count, false) {}

QueueProcessors::~QueueProcessors() {
  Stop();
  std::unique_lock lock(mutex_);
  no_answers_pending_.wait(lock, [this] { return answers_pending_ == 0; });
}

Status QueueProcessors::Start(const std::vector<int32_t>& shards) {
  EON_ASSIGN_OR_RETURN(auto parked, store_.LoadParkedTasks());
  std::set<int64_t> parked_ids;
  {
    std::lock_guard lock(mutex_);
    for (auto& task : parked) {
      parked_ids.insert(task.task.task_id);
      parked_[task.task.task_id] = std::move(task);
    }
    for (int32_t shard : shards) served_[shard] = true;
  }
  if (!parked.empty()) {
    LOG_WARN(parked.size() << " outbox tasks are parked; see `eon admin parked-tasks list`");
  }
  std::vector<persistence::StoredTask> transfer;
  for (int32_t shard : shards) {
    int64_t after = 0;
    for (;;) {
      EON_ASSIGN_OR_RETURN(auto page, store_.LoadTransferTasks(shard, after, kLoadBatch));
      if (page.empty()) break;
      after = page.back().task_id;
      for (auto& task : page) {
        if (!parked_ids.contains(task.task_id)) transfer.push_back(std::move(task));
      }
    }
  }
  EON_RETURN_IF_ERROR(LoadTimers(clock_.Now() + timer_lookahead_));
  if (!transfer.empty()) LOG_INFO("re-dispatching " << transfer.size() << " transfer tasks");
  {
    // The clock may be skipped by tests without a wake-up, so the real loop never sleeps long.
    auto timer_loop = env_.StartLoop(
        "timers", [this] { return TimerStep(); }, std::chrono::milliseconds(200));
    auto delete_loop = env_.StartLoop(
        "task-deletes",
        [this] {
          DeleteStep();
          return Duration(kDeleteInterval);
        },
        kDeleteInterval);
    std::lock_guard lock(mutex_);
    timer_loop_ = std::move(timer_loop);
    delete_loop_ = std::move(delete_loop);
  }
  Add(transfer);
  return Status::Ok();
}

Status QueueProcessors::Start() {
  std::vector<int32_t> all(shard_count_);
  for (int32_t shard = 0; shard < shard_count_; ++shard) all[shard] = shard;
  return Start(all);
}

Status QueueProcessors::AddShard(int32_t shard_id) {
  TimePoint until;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || ServedLocked(shard_id)) return Status::Ok();
    // Served from before the loads: a task committed meanwhile reaches Add and is kept (timers
    // are told apart by id; a transfer task may run twice, which every handler tolerates).
    served_[shard_id] = true;
    until = timers_loaded_until_;
  }
  std::vector<persistence::StoredTask> transfer;
  int64_t after = 0;
  Status loaded;
  for (;;) {
    auto page = store_.LoadTransferTasks(shard_id, after, kLoadBatch);
    if (!page.ok()) {
      loaded = page.status();
      break;
    }
    if (page->empty()) break;
    after = page->back().task_id;
    for (auto& task : *page) transfer.push_back(std::move(task));
  }
  std::vector<persistence::StoredTask> timers;
  if (loaded.ok()) loaded = LoadShardTimers(shard_id, until, timers);
  if (!loaded.ok()) {
    RemoveShard(shard_id);
    return loaded;
  }
  {
    std::lock_guard lock(mutex_);
    std::erase_if(transfer, [this](const persistence::StoredTask& task) {
      return parked_.contains(task.task_id);
    });
    KeepTimersLocked(timers);
    WakeTimersLocked();
  }
  Add(transfer);
  return Status::Ok();
}

void QueueProcessors::RemoveShard(int32_t shard_id) {
  std::lock_guard lock(mutex_);
  if (!ServedLocked(shard_id)) return;
  served_[shard_id] = false;
  auto of_shard = [shard_id](const auto& entry) { return entry.second.shard_id == shard_id; };
  for (auto it = timers_.begin(); it != timers_.end();) {
    if (of_shard(*it)) {
      timer_ids_.erase(it->second.task_id);
      failures_.erase(it->second.task_id);
      it = timers_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = transfer_retries_.begin(); it != transfer_retries_.end();) {
    if (of_shard(*it)) {
      failures_.erase(it->second.task_id);
      it = transfer_retries_.erase(it);
    } else {
      ++it;
    }
  }
}

void QueueProcessors::Stop() {
  std::unique_ptr<Env::Loop> timer_loop, delete_loop;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    timer_loop = std::move(timer_loop_);
    delete_loop = std::move(delete_loop_);
  }
  // Stopped outside the lock: a step in progress takes it.
  timer_loop.reset();
  delete_loop.reset();
  DeleteStep();  // what was done last
}

void QueueProcessors::WakeTimersLocked() {
  if (timer_loop_) timer_loop_->Wake();
}

Status QueueProcessors::LoadTimers(TimePoint until) {
  // The window grows before the read: a timer committed during the read is then kept by Add
  // (duplicates are dropped by id), never lost between the two.
  std::vector<int32_t> shards;
  {
    std::lock_guard lock(mutex_);
    timers_loaded_until_ = std::max(timers_loaded_until_, until);
    for (int32_t shard = 0; shard < shard_count_; ++shard) {
      if (served_[shard]) shards.push_back(shard);
    }
  }
  std::vector<persistence::StoredTask> loaded;
  for (int32_t shard : shards) EON_RETURN_IF_ERROR(LoadShardTimers(shard, until, loaded));
  std::lock_guard lock(mutex_);
  KeepTimersLocked(loaded);
  return Status::Ok();
}

Status QueueProcessors::LoadShardTimers(int32_t shard_id, TimePoint until,
                                        std::vector<persistence::StoredTask>& loaded) {
  TimePoint after_time = TimePoint::min();
  int64_t after_id = 0;
  for (;;) {
    EON_ASSIGN_OR_RETURN(auto page,
                         store_.LoadTimerTasks(shard_id, until, after_time, after_id, kLoadBatch));
    if (page.empty()) break;
    after_time = FromTimestamp(page.back().task.fire_time());
    after_id = page.back().task_id;
    const bool last_page = static_cast<int>(page.size()) < kLoadBatch;
    for (auto& task : page) loaded.push_back(std::move(task));
    if (last_page) break;
  }
  return Status::Ok();
}

void QueueProcessors::KeepTimersLocked(std::vector<persistence::StoredTask>& loaded) {
  for (auto& task : loaded) {
    if (!ServedLocked(task.shard_id)) continue;  // given up during the read
    if (parked_.contains(task.task_id)) continue;
    if (!timer_ids_.insert(task.task_id).second) continue;
    TimePoint when = FromTimestamp(task.task.fire_time());
    timers_.emplace(when, std::move(task));
  }
}

void QueueProcessors::Add(const std::vector<persistence::StoredTask>& tasks) {
  for (const auto& task : tasks) {
    std::unique_lock lock(mutex_);
    if (stopping_) return;  // still in the outbox: run at the next start
    if (!ServedLocked(task.shard_id)) continue;  // its shard moved to another node
    if (task.category == persistence::TaskCategory::kTransfer) {
      ++in_flight_;
      ++answers_pending_;
      lock.unlock();
      RunHereOrSubmit(task);
      continue;
    }
    TimePoint when = FromTimestamp(task.task.fire_time());
    // Beyond the window: the next load reads it from the store.
    if (when > timers_loaded_until_) continue;
    if (!timer_ids_.insert(task.task_id).second) continue;
    // The loop sleeps until the earliest timer at the latest: only a new earliest one needs it
    // woken (most timers are timeouts, due after others already held).
    auto added = timers_.emplace(when, task);
    if (added == timers_.begin()) WakeTimersLocked();
  }
}

void QueueProcessors::ClockChanged() {
  std::lock_guard lock(mutex_);
  WakeTimersLocked();
}

void QueueProcessors::RunHereOrSubmit(const persistence::StoredTask& task) {
  bool ran = false;
  // A literal name: this runs for every committed transfer task, and a throw is logged with
  // the task's id by Finished's retry anyway.
  Status thrown = RunGuarded("a transfer task's dispatch", [&] {
    ran = handler_.TryDispatchWithoutWaiting(task, SettledFn(task));
  });
  if (ran || !thrown.ok()) return Finished(task, thrown);
  std::lock_guard lock(mutex_);
  if (--answers_pending_ == 0) no_answers_pending_.notify_all();
  if (stopping_) {  // still in the outbox: run at the next start
    --in_flight_;
    return;
  }
  SubmitLocked(task);
}

std::function<void()> QueueProcessors::SettledFn(const persistence::StoredTask& task) {
  return [this, task] {
    Completed(task);
    std::lock_guard lock(mutex_);
    SucceededLocked(task.task_id);
  };
}

void QueueProcessors::SubmitLocked(persistence::StoredTask task) {
  executor_.Submit([this, task = std::move(task)] { Run(task); });
}

bool QueueProcessors::Idle() {
  std::lock_guard lock(mutex_);
  return in_flight_ == 0 && (timers_.empty() || timers_.begin()->first > clock_.Now());
}

void QueueProcessors::Run(const persistence::StoredTask& task) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {  // still in the outbox: run at the next start
      --in_flight_;
      return;
    }
    ++answers_pending_;
  }
  // A handler that throws after arranging its answer is answered once, by whichever comes first.
  auto answered = std::make_shared<std::atomic<bool>>(false);
  auto done = [this, task, answered](Status status) {
    if (!answered->exchange(true)) Finished(task, status);
  };
  const bool transfer = task.category == persistence::TaskCategory::kTransfer;
  Status thrown = RunGuarded(
      std::string(CategoryName(task.category)) + " task " + std::to_string(task.task_id), [&] {
        if (transfer) {
          handler_.ProcessTransferTask(task, SettledFn(task), done);
        } else {
          handler_.ProcessTimerTask(task, done);
        }
      });
  if (!thrown.ok()) done(thrown);
}

void QueueProcessors::Finished(const persistence::StoredTask& task, const Status& status) {
  std::lock_guard lock(mutex_);
  if (status.ok()) {
    // A transfer task is done when it settles (on_settled), a timer task now.
    if (task.category == persistence::TaskCategory::kTimer) {
      completed_.push_back(task);
      SucceededLocked(task.task_id);
    }
  } else if (!stopping_) {  // when stopping, it runs again at the next start
    FailedLocked(task, status);
  }
  --in_flight_;
  if (--answers_pending_ == 0) no_answers_pending_.notify_all();
}

void QueueProcessors::SucceededLocked(int64_t task_id) { failures_.erase(task_id); }

void QueueProcessors::FailedLocked(const persistence::StoredTask& task, const Status& status) {
  // Its shard moved to another node, which runs the task from the store.
  if (!ServedLocked(task.shard_id)) return;
  const int failures = ++failures_[task.task_id];
  const char* category = CategoryName(task.category);
  if (failures >= retry_.failures_before_parking) {
    failures_.erase(task.task_id);
    LOG_ERROR(category << " task " << task.task_id << " (workflow " << task.task.workflow_id()
                       << ", run " << task.task.run_id() << ") failed " << failures
                       << " times in a row and is parked until an operator retries it: "
                       << status.message());
    parks_to_store_.push_back(ParkedTask{task, failures, status.message(), clock_.Now()});
    if (delete_loop_) delete_loop_->Wake();
    return;
  }
  // Doubling from the initial delay, capped; computed without overflow.
  Duration delay = retry_.retry_delay_initial;
  for (int i = 1; i < failures && delay < retry_.retry_delay_max; ++i) delay *= 2;
  delay = std::min(delay, retry_.retry_delay_max);
  if (failures == 1) {
    LOG_WARN(category << " task " << task.task_id << " failed (" << status.message()
                      << "); it will be retried with backoff");
  } else {
    LOG_DEBUG(category << " task " << task.task_id << " failed " << failures
                       << " times; next retry in " << delay.count() / 1'000'000 << " ms");
  }
  // Retried from the timer thread: no executor thread waits meanwhile.
  if (task.category == persistence::TaskCategory::kTransfer) {
    transfer_retries_.emplace(clock_.Now() + delay, task);
  } else {
    timers_.emplace(clock_.Now() + delay, task);
  }
  WakeTimersLocked();
}

std::vector<ParkedTask> QueueProcessors::Parked() {
  std::lock_guard lock(mutex_);
  std::vector<ParkedTask> out;
  for (const auto& [id, parked] : parked_) out.push_back(parked);
  return out;
}

int QueueProcessors::RetryParked(const std::vector<int64_t>& task_ids) {
  std::lock_guard park_lock(park_mutex_);
  std::vector<persistence::StoredTask> unparked;
  {
    std::lock_guard lock(mutex_);
    auto unpark = [&](std::map<int64_t, ParkedTask>::iterator it) {
      unparked.push_back(std::move(it->second.task));
      parked_.erase(it);
    };
    if (task_ids.empty()) {
      while (!parked_.empty()) unpark(parked_.begin());
    } else {
      for (int64_t id : task_ids) {
        auto it = parked_.find(id);
        if (it != parked_.end()) unpark(it);
      }
    }
  }
  const int count = static_cast<int>(unparked.size());
  if (count == 0) return 0;
  std::vector<int64_t> ids;
  for (const auto& task : unparked) ids.push_back(task.task_id);
  Status stored = store_.UnparkTasks(ids);
  if (!stored.ok()) LOG_ERROR("cannot remove the stored parked marks: " << stored.message());
  LOG_INFO("retrying " << count << " parked tasks");
  std::vector<persistence::StoredTask> transfer;
  {
    std::lock_guard lock(mutex_);
    for (auto& task : unparked) {
      if (task.category == persistence::TaskCategory::kTransfer) {
        transfer.push_back(std::move(task));
      } else if (ServedLocked(task.shard_id)) {
        timer_ids_.insert(task.task_id);
        timers_.emplace(clock_.Now(), std::move(task));
      }
    }
  }
  {
    std::lock_guard lock(mutex_);
    WakeTimersLocked();
  }
  Add(transfer);
  return count;
}

Duration QueueProcessors::TimerStep() {
  std::unique_lock lock(mutex_);
  if (stopping_) return std::chrono::seconds(1);
  TimePoint now = clock_.Now();
  if (now + timer_lookahead_ / 2 > timers_loaded_until_) {
    lock.unlock();
    Status loaded = LoadTimers(now + timer_lookahead_);
    if (!loaded.ok()) LOG_ERROR("cannot load timer tasks: " << loaded.message());
    lock.lock();
    if (stopping_) return std::chrono::seconds(1);
    now = clock_.Now();
  }
  while (!transfer_retries_.empty() && transfer_retries_.begin()->first <= now) {
    persistence::StoredTask task = std::move(transfer_retries_.begin()->second);
    transfer_retries_.erase(transfer_retries_.begin());
    ++in_flight_;
    SubmitLocked(std::move(task));
  }
  while (!timers_.empty() && timers_.begin()->first <= now) {
    persistence::StoredTask task = std::move(timers_.begin()->second);
    timers_.erase(timers_.begin());
    ++in_flight_;  // counted before the lock is dropped, so Idle never sees a gap
    SubmitLocked(std::move(task));
  }
  TimePoint next = timers_loaded_until_ - timer_lookahead_ / 2;
  if (!timers_.empty()) next = std::min(next, timers_.begin()->first);
  if (!transfer_retries_.empty()) next = std::min(next, transfer_retries_.begin()->first);
  return next - now;
}

void QueueProcessors::Completed(const persistence::StoredTask& task) {
  std::lock_guard lock(mutex_);
  completed_.push_back(task);
}

void QueueProcessors::StoreParks() {
  std::lock_guard park_lock(park_mutex_);
  std::vector<ParkedTask> parks;
  {
    std::lock_guard lock(mutex_);
    parks.swap(parks_to_store_);
  }
  for (auto& parked : parks) {
    Status stored = store_.ParkTask(parked);
    if (!stored.ok()) {
      LOG_ERROR("cannot store that task " << parked.task.task_id
                                          << " is parked (a restart will run it again): "
                                          << stored.message());
    }
    std::lock_guard lock(mutex_);
    parked_[parked.task.task_id] = std::move(parked);
  }
}

void QueueProcessors::DeleteStep() {
  StoreParks();
  std::vector<persistence::StoredTask> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(completed_);
    for (const auto& task : batch) {
      if (task.category == persistence::TaskCategory::kTimer) timer_ids_.erase(task.task_id);
    }
  }
  if (batch.empty()) return;
  Status deleted = store_.DeleteTasks(batch);
  if (!deleted.ok())
    LOG_WARN("cannot delete " << batch.size() << " done tasks: " << deleted.message());
}

}  // namespace eon::history
