// Group commit, shared by the SQL stores (SqliteStore, PostgresStore): writers queue jobs; a
// committer thread takes everything queued (up to a batch size) and has the store run it in one
// transaction, one fsync for many updates; then each writer hears its own job's outcome.
//
// The store's RunBatch runs each job in a savepoint of its own, so a job whose condition failed
// is undone alone and its neighbours commit; it writes each job's outcome and returns the
// transaction's. A transaction that failed (COMMIT refused, connection lost, disk full) fails
// every job of the batch with that cause.
#pragma once

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/barrier.h"
#include "common/metrics.h"
#include "common/status.h"
#include "persistence/store.h"

namespace eon::persistence {

template <typename Db>
class GroupCommitter {
 public:
  using Job = std::function<Status(Db&)>;
  // Runs `jobs` in one transaction, job i's own outcome into results[i] (sized already);
  // returns the transaction's outcome (not OK: nothing of the batch committed).
  using RunBatch =
      std::function<Status(const std::vector<Job*>& jobs, std::vector<Status>& results)>;

  // own_thread false: no committer thread; every write commits on the caller's thread before
  // the call returns (its continuation too), one transaction each (for the simulator).
  GroupCommitter(int jobs_max, bool own_thread, RunBatch run)
      : jobs_max_(jobs_max), own_thread_(own_thread), run_(std::move(run)) {}
  ~GroupCommitter() { Stop(); }
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Starts the committer thread (once the store is ready to run jobs).
  void Start() {
    if (!own_thread_) return;
    thread_ = std::thread([this] { Loop(); });
    pthread_setname_np(thread_.native_handle(), "committer");
  }
  // Commits what is queued, then stops; later writes answer UNAVAILABLE.
  void Stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  // Runs `job` in the next group transaction and waits for its commit.
  Status Write(Job job) {
    auto pending = std::make_unique<Pending>();
    pending->job = std::move(job);
    auto done = pending->promise.get_future();
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return Unavailable("the store is shutting down");
      queue_.push_back(std::move(pending));
    }
    Kick();
    return done.get();
  }

  // Runs `job` in the next group transaction; `done` hears the outcome on the committer thread
  // (so it must be short and must not wait on the store).
  void WriteAsync(Job job, std::function<void(Status)> done) {
    {
      std::lock_guard lock(mutex_);
      if (!stopping_) {
        auto pending = std::make_unique<Pending>();
        pending->job = std::move(job);
        pending->done = std::move(done);
        queue_.push_back(std::move(pending));
        done = nullptr;
      }
    }
    if (done) {
      done(Unavailable("the store is shutting down"));
      return;
    }
    Kick();
  }

  // Store::CommitExecutionAsync through this committer: `apply` writes one ExecutionWrite and
  // appends the tasks it created; it runs for the write and then for its new run, if any.
  using ApplyWrite = std::function<Status(Db&, const ExecutionWrite&, std::vector<StoredTask>*)>;
  void CommitExecutionAsync(std::shared_ptr<const ExecutionWrite> write, Store::CommitDone done,
                            ApplyWrite apply) {
    struct State {
      std::shared_ptr<const ExecutionWrite> write;
      Store::CommitDone done;
      ApplyWrite apply;
      std::vector<StoredTask> tasks;
      metrics::PersistenceTimer timer{"UpdateWorkflowExecution"};
    };
    auto state = std::make_shared<State>();
    state->write = std::move(write);
    state->done = std::move(done);
    state->apply = std::move(apply);
    WriteAsync(
        [state](Db& db) {
          state->tasks.clear();
          EON_RETURN_IF_ERROR(state->apply(db, *state->write, &state->tasks));
          if (state->write->new_run) return state->apply(db, *state->write->new_run, &state->tasks);
          return Status::Ok();
        },
        [this, state](Status status) {
          if (status.ok()) {
            ++execution_writes_;
          } else {
            state->timer.Failed();
            state->tasks.clear();
          }
          state->done(std::move(status), std::move(state->tasks));
        });
  }

  StoreStats stats() const { return {transactions_.load(), execution_writes_.load()}; }

 private:
  struct Pending {
    Job job;
    std::promise<Status> promise;
    std::function<void(Status)> done;  // if set, hears the outcome instead of `promise`
  };

  void Kick() {
    if (own_thread_) {
      ready_.notify_one();
    } else {
      CommitOnCaller();
    }
  }

  void Loop() {
    for (;;) {
      std::vector<std::unique_ptr<Pending>> batch;
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping and drained
        while (!queue_.empty() && static_cast<int>(batch.size()) < jobs_max_) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      Commit(batch);
    }
  }

  void CommitOnCaller() {
    for (;;) {
      std::vector<std::unique_ptr<Pending>> batch;
      {
        std::lock_guard lock(mutex_);
        if (queue_.empty()) return;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      Commit(batch);
    }
  }

  void Commit(std::vector<std::unique_ptr<Pending>>& batch) {
    std::vector<Job*> jobs;
    for (auto& pending : batch) jobs.push_back(&pending->job);
    std::vector<Status> results(batch.size());
    const Status txn = run_(jobs, results);
    if (txn.ok()) ++transactions_;
    metrics::GroupCommit(static_cast<int64_t>(batch.size()));
    for (size_t i = 0; i < batch.size(); ++i) {
      // A failed transaction keeps its kind (disk full, busy, lost connection) in the answer;
      // INTERNAL becomes UNAVAILABLE (conditions make a retried write safe).
      Status outcome =
          txn.ok()
              ? results[i]
              : Status(txn.code() == StatusCode::INTERNAL ? StatusCode::UNAVAILABLE : txn.code(),
                       "commit failed: " + txn.message());
      if (batch[i]->done) {
        // The caller's continuation: one that throws must not end the committer.
        RunGuarded("a commit's continuation", [&] { batch[i]->done(std::move(outcome)); });
      } else {
        batch[i]->promise.set_value(std::move(outcome));
      }
    }
  }

  const int jobs_max_;
  const bool own_thread_;
  const RunBatch run_;

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::unique_ptr<Pending>> queue_;  // guarded by mutex_
  bool stopping_ = false;                       // guarded by mutex_
  std::thread thread_;
  std::atomic<int64_t> transactions_{0};
  std::atomic<int64_t> execution_writes_{0};
};

// The part of a Store that writes through a GroupCommitter: execution commits (waited for or
// not) and the write statistics. The store supplies its committer and how one ExecutionWrite is
// written inside the group transaction.
template <typename Db>
class GroupCommitStore : public Store {
 public:
  Status CommitExecution(const ExecutionWrite& write, std::vector<StoredTask>* created) override {
    std::promise<Status> promise;
    auto done = promise.get_future();
    CommitExecutionAsync(std::make_shared<const ExecutionWrite>(write),
                         [&promise, created](Status status, std::vector<StoredTask> tasks) {
                           if (status.ok() && created) *created = std::move(tasks);
                           promise.set_value(std::move(status));
                         });
    return done.get();
  }
  void CommitExecutionAsync(std::shared_ptr<const ExecutionWrite> write, CommitDone done) override {
    committer().CommitExecutionAsync(
        std::move(write), std::move(done),
        [this](Db& db, const ExecutionWrite& w, std::vector<StoredTask>* created) {
          return ApplyExecutionWrite(db, w, created);
        });
  }
  StoreStats Stats() override { return committer().stats(); }

 protected:
  virtual GroupCommitter<Db>& committer() = 0;
  // Writes `write` (one execution) in the open transaction; appends the tasks it created.
  virtual Status ApplyExecutionWrite(Db& db, const ExecutionWrite& write,
                                     std::vector<StoredTask>* created) = 0;
};

}  // namespace eon::persistence
