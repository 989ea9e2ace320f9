// A long poll on one workflow run: answers when `look` finds something for the caller (it is
// asked again after every commit to the run), or with `at_deadline` when the wait is over, or
// CANCELLED when the caller leaves, or UNAVAILABLE when this server gives up the run's shard
// (its changes are committed on another node then: the caller asks again and reaches that one).
// Holds no thread while it waits.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/executor.h"
#include "frontend/rpc.h"
#include "history/history_service.h"

namespace eon::frontend {

template <typename Resp>
class RunWait : public std::enable_shared_from_this<RunWait<Resp>> {
 public:
  using Look = std::function<std::optional<Result<Resp>>()>;  // nullopt: nothing yet
  // `wanted` (optional): which committed states of the run are worth a look; the others are
  // skipped without a hop or a read.
  // `from_change` (optional): the answer made from a commit itself (its state and new events),
  // on the committing thread, without a hop or a read; nullopt: look (on the executor).
  using FromChange = std::function<std::optional<Result<Resp>>(
      const eon::v1::ExecutionState&,
      const std::vector<temporal::api::history::v1::HistoryEvent>&)>;

  // shared: the watch, the deadline and the caller's cancel each hold the wait.
  static void Start(history::HistoryService& history, DeadlineScheduler& scheduler,
                    Executor& executor, CallContext& ctx,
                    std::chrono::steady_clock::time_point deadline, persistence::ExecutionKey run,
                    Look look, std::function<Result<Resp>()> at_deadline,
                    std::function<void(Result<Resp>)> done,
                    history::HistoryService::RunStatePredicate wanted = nullptr,
                    FromChange from_change = nullptr) {
    auto wait = std::shared_ptr<RunWait>(new RunWait(history, scheduler, executor));
    wait->run_ = std::move(run);
    wait->look_ = std::move(look);
    wait->at_deadline_ = std::move(at_deadline);
    wait->done_ = std::move(done);
    wait->wanted_ = std::move(wanted);
    wait->from_change_ = std::move(from_change);
    {
      std::lock_guard lock(wait->mutex_);
      wait->deadline_id_ = scheduler.At(deadline, [wait] {
        wait->executor_.Submit([wait] { wait->Answer(wait->at_deadline_()); });
      });
    }
    ctx.OnCancel([wait] { wait->Answer(Status(StatusCode::CANCELLED, "the caller went away")); });
    wait->Watch();
  }

 private:
  RunWait(history::HistoryService& history, DeadlineScheduler& scheduler, Executor& executor)
      : history_(history), scheduler_(scheduler), executor_(executor) {}

  void Watch() {
    auto self = this->shared_from_this();
    {
      std::lock_guard lock(mutex_);
      if (answered_) return;
      watch_id_ = history_.WatchRun(
          run_,
          [self](const eon::v1::ExecutionState& committed,
                 const std::vector<temporal::api::history::v1::HistoryEvent>& new_events) {
            if (self->from_change_) {
              if (auto found = self->from_change_(committed, new_events)) {
                self->Answer(std::move(*found));
                return;
              }
            }
            self->executor_.Submit([self] { self->LookAgain(); });
          },
          wanted_,
          [self](const Status& gone) {
            self->executor_.Submit([self, gone] { self->Answer(gone); });
          });
    }
    // A change between the last look and the watch would otherwise be missed.
    LookAgain();
  }

  void LookAgain() {
    {
      std::lock_guard lock(mutex_);
      if (answered_) return;
    }
    if (auto found = look_()) {
      Answer(std::move(*found));
      return;
    }
    bool rewatch;
    {
      std::lock_guard lock(mutex_);
      rewatch = !answered_ && !history_.IsWatching(watch_id_);
    }
    if (rewatch) Watch();
  }

  void Answer(Result<Resp> result) {
    {
      std::lock_guard lock(mutex_);
      if (answered_) return;
      answered_ = true;
    }
    history_.Unwatch(watch_id_);
    scheduler_.Cancel(deadline_id_);
    done_(std::move(result));
  }

  history::HistoryService& history_;
  DeadlineScheduler& scheduler_;
  Executor& executor_;
  persistence::ExecutionKey run_;
  Look look_;
  std::function<Result<Resp>()> at_deadline_;
  std::function<void(Result<Resp>)> done_;
  history::HistoryService::RunStatePredicate wanted_;
  FromChange from_change_;
  std::mutex mutex_;
  bool answered_ = false;                  // guarded by mutex_
  uint64_t watch_id_ = 0;                  // guarded by mutex_
  DeadlineScheduler::Id deadline_id_ = 0;  // guarded by mutex_
};

}  // namespace eon::frontend
