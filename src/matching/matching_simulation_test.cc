// A seeded simulation of matching: adds, polls, Done, Requeue and poll timeouts interleaved in an
// order chosen by a random generator, with the store's writes held back after they commit (as a
// slow return from the database would), so adds reach matching's lock out of id order.
//
// After every step it checks that no task sits in the backlog while a poll waits, and that no
// task is handed out twice; at the end, that every task was handed out and the backlog is empty.
// One seed is one run: a failure prints its seed, and
//   EON_MATCHING_SIM_SEED=<seed> build/tests/eon_unit_tests --gtest_filter='MatchingSimulation*'
// replays it. EON_MATCHING_SIM_SEEDS=<n> runs more seeds.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/executor.h"
#include "matching/matching_engine.h"
#include "persistence/sqlite_store.h"

namespace eon::matching {
namespace {

using namespace std::chrono_literals;

// One operation of the simulation that may stop inside the store: it runs on a thread of its
// own, but only while the simulation waits for it, so one thread runs at a time.
struct Op {
  std::thread thread;
  int parks = 0;        // how often it stopped at the gate
  bool parked = false;  // stopped at the gate now
  bool resume = false;  // told to go on
  bool finished = false;
  int64_t row = 0;  // the backlog row its write made (0: none)
};

thread_local Op* current_op = nullptr;

// Controls the simulation's threads: starts an op and waits until it finishes or parks.
class Gate {
 public:
  ~Gate() { Finish(); }

  // Lets every op run to its end (parking no more) and joins it.
  void Finish() {
    {
      std::lock_guard lock(mutex_);
      draining_ = true;
      for (auto& op : ops_) op->resume = true;
      changed_.notify_all();
    }
    for (auto& op : ops_) op->thread.join();
    ops_.clear();
  }

  // Called by the store on an op's thread after a write: stops until Resume.
  void Park(int64_t row) {
    Op* op = current_op;
    if (op == nullptr) return;  // not a simulated op (Recover, the checks)
    std::unique_lock lock(mutex_);
    if (draining_) return;
    op->row = row;
    op->parked = true;
    ++op->parks;
    changed_.notify_all();
    changed_.wait(lock, [&] { return op->resume; });
    op->resume = false;
    op->parked = false;
  }

  // Runs `fn` as a new op; returns once it finished or parked.
  void Start(std::function<void()> fn) {
    auto op = std::make_unique<Op>();
    Op* raw = op.get();
    raw->thread = std::thread([this, raw, fn = std::move(fn)] {
      current_op = raw;
      fn();
      std::lock_guard lock(mutex_);
      raw->finished = true;
      changed_.notify_all();
    });
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return raw->parked || raw->finished; });
    }
    ops_.push_back(std::move(op));
    Reap();
  }

  // Lets a parked op go on; returns once it finished or parked again.
  void Resume(size_t index) {
    Op* op = Parked()[index];
    {
      std::unique_lock lock(mutex_);
      const int parks = op->parks;
      op->resume = true;
      changed_.notify_all();
      changed_.wait(lock, [&] { return op->finished || op->parks > parks; });
    }
    Reap();
  }

  std::vector<Op*> Parked() {
    std::lock_guard lock(mutex_);
    std::vector<Op*> out;
    for (auto& op : ops_)
      if (op->parked) out.push_back(op.get());
    return out;
  }

  // Rows written by ops that have not gone on yet: matching has not decided about them.
  std::set<int64_t> UndecidedRows() {
    std::set<int64_t> rows;
    for (Op* op : Parked()) rows.insert(op->row);
    return rows;
  }

 private:
  void Reap() {
    for (auto it = ops_.begin(); it != ops_.end();) {
      bool finished;
      {
        std::lock_guard lock(mutex_);
        finished = (*it)->finished;
      }
      if (finished) {
        (*it)->thread.join();
        it = ops_.erase(it);
      } else {
        ++it;
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  bool draining_ = false;                 // guarded by mutex_
  std::vector<std::unique_ptr<Op>> ops_;  // touched by the simulation thread only
};

// The real store, with every backlog write held at the gate after it committed.
class GatedQueueStore : public persistence::QueueTaskStore {
 public:
  GatedQueueStore(persistence::QueueTaskStore& inner, Gate& gate) : inner_(inner), gate_(gate) {}

  Status AddQueueTask(const std::string& namespace_id, const std::string& queue, int kind,
                      int64_t task_id, const eon::v1::QueueTask& task) override {
    Status added = inner_.AddQueueTask(namespace_id, queue, kind, task_id, task);
    gate_.Park(added.ok() ? task_id : 0);
    return added;
  }
  Result<int64_t> MaxQueueTaskId() override { return inner_.MaxQueueTaskId(); }
  Result<std::vector<persistence::QueueTaskRecord>> LoadQueueTasks(const std::string& namespace_id,
                                                                   const std::string& queue,
                                                                   int kind, int64_t after_task_id,
                                                                   int limit) override {
    return inner_.LoadQueueTasks(namespace_id, queue, kind, after_task_id, limit);
  }
  Result<std::vector<QueueName>> ListBackloggedQueues() override {
    return inner_.ListBackloggedQueues();
  }
  Status DeleteQueueTask(const std::string& namespace_id, const std::string& queue, int kind,
                         int64_t task_id) override {
    Status deleted = inner_.DeleteQueueTask(namespace_id, queue, kind, task_id);
    gate_.Park(0);
    return deleted;
  }

 private:
  persistence::QueueTaskStore& inner_;
  Gate& gate_;
};

struct SimOptions {
  int tasks = 60;
  int backlog_in_memory_max = 3;
  int parked_polls_max = 3;
  TaskQueueKind kind = eon::v1::TASK_QUEUE_KIND_WORKFLOW;
};

// One seeded run. Errors() is empty when every invariant held.
class Simulation {
 public:
  Simulation(uint64_t seed, SimOptions options) : seed_(seed), options_(options), rng_(seed) {}

  void Run() {
    persistence::SqliteOptions store_options;
    store_options.path = ":memory:";
    store_options.synchronous_full = false;
    auto store = persistence::SqliteStore::Open(store_options);
    if (!store.ok()) return Fail("cannot open the store: " + store.status().message());
    store_ = std::move(*store);
    gated_ = std::make_unique<GatedQueueStore>(*store_, gate_);
    scheduler_ = std::make_unique<ThreadDeadlineScheduler>();
    MatchingOptions matching_options;
    matching_options.backlog_in_memory_tasks_max = options_.backlog_in_memory_max;
    matching_options.backlog_audit_interval = 0ms;  // the guard stays out: nothing may need it
    matching_ = std::make_unique<MatchingEngine>(*gated_, *scheduler_, matching_options);
    if (Status s = matching_->Recover(); !s.ok()) return Fail("Recover: " + s.message());
    queue_ = QueueId{"ns", "tq", options_.kind};
    state_.assign(options_.tasks + 1, kNotAdded);

    for (int step = 0; step < 20 * options_.tasks && errors_.empty(); ++step) {
      Step();
      Check("step " + std::to_string(step));
    }
    Drain();
    gate_.Finish();
    if (matching_->backlog_fault_count() != 0) Fail("the guard had to dispatch a task");
    for (auto& [index, poll] : polls_)
      if (!poll.answered) matching_->CancelPoll(poll.id);
    matching_.reset();
    scheduler_.reset();
  }

  const std::vector<std::string>& Errors() const { return errors_; }

 private:
  enum TaskState { kNotAdded, kWaiting, kHeld, kDone };
  struct SimPoll {
    MatchingEngine::PollId id = 0;
    bool answered = false;
  };

  int Random(int below) { return std::uniform_int_distribution<int>(0, below - 1)(rng_); }

  void Fail(const std::string& what) {
    if (errors_.size() < 5) errors_.push_back("seed " + std::to_string(seed_) + ": " + what);
  }

  void Step() {
    const int parked_ops = static_cast<int>(gate_.Parked().size());
    switch (Random(7)) {
      case 0:
      case 1:
        if (next_task_ <= options_.tasks) return Add(next_task_++);
        break;
      case 2:
        if (parked_ops > 0) return gate_.Resume(Random(parked_ops));
        break;
      case 3:
        if (ParkedPolls() < options_.parked_polls_max) return Poll();
        break;
      case 4:
        if (!held_.empty()) return Complete(/*requeue=*/Random(5) == 0);
        break;
      case 5:
        if (ParkedPolls() > 0) return CancelAPoll();
        break;
      default:
        if (parked_ops > 0) return gate_.Resume(Random(parked_ops));
    }
  }

  void Add(int64_t task) {
    state_[task] = kWaiting;
    gate_.Start([this, task] {
      eon::v1::QueueTask queue_task;
      queue_task.set_namespace_id("ns");
      queue_task.set_workflow_id("wf-" + std::to_string(task));
      queue_task.set_scheduled_event_id(task);
      queue_task.set_attempt(1);
      Status added = matching_->AddTask(queue_, queue_task, nullptr);
      if (!added.ok()) Fail("AddTask " + std::to_string(task) + ": " + added.message());
    });
  }

  void Poll() {
    const int index = next_poll_++;
    polls_[index] = SimPoll{};
    auto id = matching_->Poll(
        queue_, PollerInfo{"worker", ""}, std::chrono::steady_clock::now() + 1h,
        [this, index](std::optional<MatchedTask> task) { Delivered(index, std::move(task)); });
    if (!id.ok()) return Fail("Poll: " + id.status().message());
    polls_[index].id = *id;
  }

  void Delivered(int index, std::optional<MatchedTask> task) {
    std::lock_guard lock(mutex_);
    polls_[index].answered = true;
    if (!task) return;
    const int64_t n = task->task.scheduled_event_id();
    if (state_[n] == kHeld) Fail("task " + std::to_string(n) + " handed out twice at once");
    if (state_[n] == kDone) Fail("task " + std::to_string(n) + " handed out after it was done");
    state_[n] = kHeld;
    held_.emplace(n, std::move(*task));
  }

  void Complete(bool requeue) {
    MatchedTask task;
    {
      std::lock_guard lock(mutex_);
      auto it = std::next(held_.begin(), Random(static_cast<int>(held_.size())));
      task = std::move(it->second);
      state_[it->first] = requeue ? kWaiting : kDone;
      held_.erase(it);
    }
    gate_.Start([this, requeue, task = std::move(task)] {
      if (requeue) {
        matching_->Requeue(task);
      } else {
        matching_->Done(task);
      }
    });
  }

  void CancelAPoll() {
    std::vector<MatchingEngine::PollId> parked;
    for (auto& [index, poll] : polls_)
      if (!poll.answered) parked.push_back(poll.id);
    matching_->CancelPoll(parked[Random(static_cast<int>(parked.size()))]);
  }

  int ParkedPolls() {
    std::lock_guard lock(mutex_);
    int n = 0;
    for (auto& [index, poll] : polls_) n += poll.answered ? 0 : 1;
    return n;
  }

  // While a poll waits, every backlog row is held by a poller or still being decided by the
  // op that wrote it.
  void Check(const std::string& when) {
    if (ParkedPolls() == 0) return;
    auto rows = store_->LoadQueueTasks(queue_.namespace_id, queue_.name, queue_.kind, 0, 100'000);
    if (!rows.ok()) return Fail("cannot read the backlog: " + rows.status().message());
    const std::set<int64_t> undecided = gate_.UndecidedRows();
    std::lock_guard lock(mutex_);
    for (const auto& row : *rows) {
      const int64_t n = row.task.scheduled_event_id();
      if (state_[n] == kHeld || undecided.count(row.task_id)) continue;
      Fail(when + ": task " + std::to_string(n) + " (backlog row " + std::to_string(row.task_id) +
           ") sits in the backlog while " + std::to_string(ParkedPollsLocked()) + " poll(s) wait");
      return;
    }
  }

  int ParkedPollsLocked() {
    int n = 0;
    for (auto& [index, poll] : polls_) n += poll.answered ? 0 : 1;
    return n;
  }

  // Adds what is left, lets every op finish, and takes every task with fresh polls.
  void Drain() {
    for (int round = 0; round < 10 * options_.tasks + 100 && errors_.empty(); ++round) {
      while (next_task_ <= options_.tasks) Add(next_task_++);
      while (!gate_.Parked().empty()) gate_.Resume(0);
      while (!held_.empty()) {
        Complete(/*requeue=*/false);
        while (!gate_.Parked().empty()) gate_.Resume(0);
      }
      bool all_done = true;
      for (int64_t n = 1; n <= options_.tasks; ++n) all_done = all_done && state_[n] == kDone;
      if (all_done) break;
      Poll();
      Check("drain round " + std::to_string(round));
      if (ParkedPolls() > 0 && errors_.empty()) {
        std::string missing;
        for (int64_t n = 1; n <= options_.tasks; ++n)
          if (state_[n] != kDone) missing += " " + std::to_string(n);
        Fail("nothing in flight, a poll waits, and these tasks were never handed out:" + missing);
      }
    }
    auto rows = store_->LoadQueueTasks(queue_.namespace_id, queue_.name, queue_.kind, 0, 100'000);
    if (rows.ok() && !rows->empty() && errors_.empty()) {
      Fail(std::to_string(rows->size()) + " row(s) left in the backlog after every task was done");
    }
  }

  const uint64_t seed_;
  const SimOptions options_;
  std::mt19937_64 rng_;
  Gate gate_;
  std::unique_ptr<persistence::SqliteStore> store_;
  std::unique_ptr<GatedQueueStore> gated_;
  std::unique_ptr<DeadlineScheduler> scheduler_;
  std::unique_ptr<MatchingEngine> matching_;
  QueueId queue_;
  int64_t next_task_ = 1;
  int next_poll_ = 0;

  std::mutex mutex_;  // deliveries may come on an op's thread
  std::vector<TaskState> state_;
  std::map<int64_t, MatchedTask> held_;  // handed to a poller, not yet Done or Requeued
  std::map<int, SimPoll> polls_;
  std::vector<std::string> errors_;
};

// Seeds to run: EON_MATCHING_SIM_SEED=<seed> replays one, else 1..EON_MATCHING_SIM_SEEDS.
std::vector<uint64_t> Seeds(int default_count) {
  if (const char* one = std::getenv("EON_MATCHING_SIM_SEED"))
    return {std::strtoull(one, nullptr, 10)};
  int count = default_count;
  if (const char* n = std::getenv("EON_MATCHING_SIM_SEEDS")) count = std::atoi(n);
  std::vector<uint64_t> seeds;
  for (int i = 1; i <= count; ++i) seeds.push_back(static_cast<uint64_t>(i));
  return seeds;
}

void RunSeeds(SimOptions base, int default_count) {
  int failed = 0;
  for (uint64_t seed : Seeds(default_count)) {
    SimOptions options = base;
    // Each seed also picks how small memory is and how many polls may wait.
    std::mt19937_64 pick(seed * 7919);
    options.backlog_in_memory_max = 1 + static_cast<int>(pick() % 4);
    options.parked_polls_max = 1 + static_cast<int>(pick() % 3);
    Simulation sim(seed, options);
    sim.Run();
    for (const auto& error : sim.Errors()) ADD_FAILURE() << error;
    if (!sim.Errors().empty() && ++failed >= 3) break;
  }
  if (failed > 0) {
    ADD_FAILURE() << "replay one seed with EON_MATCHING_SIM_SEED=<seed> "
                     "build/tests/eon_unit_tests --gtest_filter='MatchingSimulation*'";
  }
}

// The stranding of issue 17, scripted: two adds reach matching's lock in the opposite order of
// their ids, the higher one fills memory, and the lower one must still be handed out.
TEST(MatchingSimulation, AddsDecidedOutOfIdOrderPastTheMemoryLimitAreBothHandedOut) {
  persistence::SqliteOptions store_options;
  store_options.path = ":memory:";
  store_options.synchronous_full = false;
  auto store = persistence::SqliteStore::Open(store_options);
  ASSERT_TRUE(store.ok()) << store.status().message();
  Gate gate;
  GatedQueueStore gated(**store, gate);
  ThreadDeadlineScheduler scheduler;
  MatchingOptions options;
  options.backlog_in_memory_tasks_max = 1;
  options.backlog_audit_interval = 0ms;
  MatchingEngine matching(gated, scheduler, options);
  ASSERT_TRUE(matching.Recover().ok());
  const QueueId queue{"ns", "tq", eon::v1::TASK_QUEUE_KIND_WORKFLOW};
  auto add = [&](int64_t n) {
    gate.Start([&, n] {
      eon::v1::QueueTask task;
      task.set_workflow_id("wf-" + std::to_string(n));
      task.set_scheduled_event_id(n);
      EXPECT_TRUE(matching.AddTask(queue, task, nullptr).ok());
    });
  };
  add(1);  // written first (the lower id), then held
  add(2);
  ASSERT_EQ(gate.Parked().size(), 2u);
  gate.Resume(1);  // task 2 decides first and fills memory
  gate.Resume(0);  // task 1 decides second: memory is full

  std::vector<int64_t> handed;
  for (int i = 0; i < 3; ++i) {
    std::optional<MatchedTask> got;
    bool answered = false;
    auto id = matching.Poll(queue, PollerInfo{"worker", ""}, std::chrono::steady_clock::now() + 1h,
                            [&](std::optional<MatchedTask> task) {
                              answered = true;
                              got = std::move(task);
                            });
    ASSERT_TRUE(id.ok()) << id.status().message();
    if (!answered) {
      matching.CancelPoll(*id);
      break;
    }
    ASSERT_TRUE(got.has_value());
    handed.push_back(got->task.scheduled_event_id());
    gate.Start([&] { matching.Done(*got); });
    while (!gate.Parked().empty()) gate.Resume(0);
  }
  gate.Finish();
  std::sort(handed.begin(), handed.end());
  EXPECT_EQ(handed, (std::vector<int64_t>{1, 2})) << "a backlog task was stranded";
  auto rows = (*store)->LoadQueueTasks("ns", "tq", queue.kind, 0, 10);
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE(rows->empty()) << rows->size() << " task(s) left in the backlog";
}

TEST(MatchingSimulation, WorkflowTasksAreNeverStrandedOrHandedOutTwice) {
  RunSeeds(SimOptions{.kind = eon::v1::TASK_QUEUE_KIND_WORKFLOW}, 100);
}

TEST(MatchingSimulation, ActivityTasksAreNeverStrandedOrHandedOutTwice) {
  RunSeeds(SimOptions{.kind = eon::v1::TASK_QUEUE_KIND_ACTIVITY}, 40);
}

}  // namespace
}  // namespace eon::matching
