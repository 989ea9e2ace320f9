// matching: task queues. Owns the backlog of workflow and activity tasks waiting for a worker,
// and the long-polls of workers waiting for a task.
//
// A task added while a poller waits goes straight to it (sync match); otherwise it is written
// to the queue's durable backlog (task_queue_tasks) and kept in memory too, in order. A parked
// poll is a closure, not a thread. A task handed to a poller is not yet "done": the poller's
// handler records it started in history and then calls Done (or Requeue if its caller left).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>

#include "common/executor.h"
#include "common/status.h"
#include "eon/v1/state.pb.h"
#include "persistence/store.h"
#include "temporal/api/query/v1/message.pb.h"

namespace eon::matching {

using TaskQueueKind = eon::v1::TaskQueueKind;

struct QueueId {
  std::string namespace_id;
  std::string name;
  TaskQueueKind kind = eon::v1::TASK_QUEUE_KIND_UNSPECIFIED;
  auto operator<=>(const QueueId&) const = default;
};

struct MatchedTask {
  QueueId queue;
  eon::v1::QueueTask task;
  int64_t backlog_task_id = 0;  // 0 when sync-matched (never written to the backlog)
  // For a sync-matched task: called once the task is durable elsewhere (recorded started, or
  // written to the backlog after all), so its producer may forget it.
  std::function<void()> on_settled;
  // A query task: never written anywhere, answered by the worker and forgotten.
  std::string query_id;
  temporal::api::query::v1::WorkflowQuery query;
};

struct PollerInfo {
  std::string identity;
  std::string worker_instance_key;
};

struct MatchingOptions {
  std::chrono::milliseconds long_poll_max{60'000};  // an idle poll is answered empty by then
  int backlog_in_memory_max = 10'000;               // per queue; the rest waits in the database
  // A sticky queue with no poll for this long has lost its worker.
  std::chrono::milliseconds sticky_worker_gone{10'000};
  // A worker that said it shuts down: its polls arriving this long after are answered empty at
  // once (Temporal's shutdownWorkersCacheTTL), so a poll that crossed the shutdown call on the
  // wire does not hold the worker's shutdown for a whole long poll.
  std::chrono::milliseconds shut_down_worker_remembered{30'000};
  int shut_down_workers_max = 10'000;  // remembered at once
};

class MatchingEngine {
 public:
  // Called once per poll, with a task or with nothing (timed out, cancelled, worker shut down).
  using Deliver = std::function<void(std::optional<MatchedTask>)>;
  using PollId = uint64_t;

  MatchingEngine(persistence::Store& store, DeadlineScheduler& scheduler, MatchingOptions options);
  ~MatchingEngine();

  // Loads the durable backlogs. Call once before serving.
  Status Recover();

  // Hands the task to a waiting poller or writes it to the backlog. `on_settled` runs once the
  // producer may forget the task: before AddTask returns when it went to the backlog, or when
  // the poller that took it calls Done or Requeue. Not called when AddTask fails.
  // A sticky queue's task is only taken while its worker polls (now, or a poll ended within
  // sticky_worker_gone): otherwise AddTask answers FAILED_PRECONDITION and keeps nothing.
  Status AddTask(const QueueId& queue, const eon::v1::QueueTask& task,
                 std::function<void()> on_settled, bool sticky = false);

  // Parks a poll until a task comes or `deadline` passes. `deliver` runs exactly once: inside
  // Poll when a task is waiting, else on the thread that matched, timed out or cancelled it.
  PollId Poll(const QueueId& queue, const PollerInfo& poller,
              std::chrono::steady_clock::time_point deadline, Deliver deliver);
  // Answers a parked poll with nothing (its caller went away). No-op if already answered.
  void CancelPoll(PollId id);
  // Answers every parked poll of a worker that is shutting down, with nothing; with a
  // worker_instance_key, its later polls too (for shut_down_worker_remembered).
  void ShutdownWorker(const std::string& namespace_id, const std::string& sticky_queue,
                      const std::string& identity, const std::string& worker_instance_key);

  // Hands a query task to a poller (before any backlog task) or holds it in memory until one
  // comes or RemoveQuery. With `sticky`, FAILED_PRECONDITION when the sticky worker is gone.
  Status AddQuery(const QueueId& queue, MatchedTask query, bool sticky);
  // Returns whether the query was still waiting (no poller took it).
  bool RemoveQuery(const QueueId& queue, const std::string& query_id);

  struct QueueDescription {
    std::vector<std::pair<std::string, std::chrono::system_clock::time_point>> pollers;
    int64_t backlog_count = 0;
    std::optional<google::protobuf::Timestamp> oldest_task_created;  // of the tasks in memory
  };
  QueueDescription Describe(const QueueId& queue);

  // Every loaded queue's backlog and parked polls, for metrics.
  struct QueueStats {
    QueueId queue;
    int64_t backlog_count = 0;
    std::optional<google::protobuf::Timestamp> oldest_task_created;  // of the tasks in memory
    int64_t parked_polls = 0;
  };
  std::vector<QueueStats> Stats();

  // The task was recorded started in history (or found stale): forget it for good.
  void Done(const MatchedTask& task);
  // The poller could not take the task: put it back at the front of its queue (writing it to
  // the backlog first if it was sync-matched).
  void Requeue(MatchedTask task);

 private:
  struct Poller {
    PollId id = 0;
    QueueId queue;
    PollerInfo info;
    Deliver deliver;
    DeadlineScheduler::Id deadline_id = 0;
  };
  struct Queue {
    std::deque<MatchedTask> backlog;  // in order; tasks written to the database
    std::deque<MatchedTask> queries;  // query tasks waiting for a poller (memory only)
    std::list<PollId> pollers;        // oldest first
    int64_t db_read_level = 0;        // highest backlog task id loaded into memory
    int64_t db_backlog_count = 0;     // tasks in the database not yet loaded
    // Backlog ids in memory or handed to a poller and not yet Done: a refill skips them.
    std::set<int64_t> outstanding_ids;
    std::chrono::steady_clock::time_point last_poll{};  // when a poll last arrived or left
    bool worker_shut_down = false;                      // its worker said it stopped
    // Who polled lately (identity -> when), for DescribeTaskQueue; bounded.
    std::map<std::string, std::chrono::system_clock::time_point> pollers_seen;
  };

  // Takes the poller out of every index and returns it, or nullopt if already gone.
  // REQUIRES: mutex_ held.
  std::optional<Poller> TakePoller(PollId id);
  void Finish(std::optional<Poller> poller, std::optional<MatchedTask> task);
  // Refills a queue's memory from its database backlog. REQUIRES: mutex_ held.
  void Refill(Queue& queue, const QueueId& id);
  // REQUIRES: mutex_ held.
  bool StickyWorkerGone(const Queue& queue) const;
  // Whether the worker said it shuts down, lately. REQUIRES: mutex_ held.
  bool WorkerShutDown(const std::string& namespace_id,
                      const std::string& worker_instance_key) const;

  persistence::Store& store_;
  DeadlineScheduler& scheduler_;
  const MatchingOptions options_;

  std::mutex mutex_;
  std::map<QueueId, Queue> queues_;   // guarded by mutex_
  std::map<PollId, Poller> pollers_;  // guarded by mutex_
  PollId next_poll_id_ = 1;           // guarded by mutex_
  // namespace id + '/' + worker_instance_key -> when it shut down; guarded by mutex_.
  std::map<std::string, std::chrono::steady_clock::time_point> shut_down_workers_;
};

}  // namespace eon::matching
