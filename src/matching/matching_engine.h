// matching: task queues. Owns the backlog of workflow and activity tasks waiting for a worker,
// and the long-polls of workers waiting for a task.
//
// A task added while a poller waits goes straight to it (sync match); otherwise it is written
// to the queue's durable backlog (task_queue_tasks) and kept in memory too, up to a limit per
// queue. A parked poll is a closure, not a thread. A task handed to a poller is not yet "done":
// the poller's handler records it started in history and then calls Done (or Requeue if its
// caller left).
//
// How no backlog task is forgotten: matching chooses every backlog task id under its lock,
// before the write, and keeps it "being written" until the add decides, again under the lock,
// where the task goes (a poller, memory, or the database only). A refill from the database
// skips ids being written and ids already in memory or handed out ("outstanding"). A task that
// goes to the database only lowers the queue's read level below its id, so the next refill
// reads it even when higher ids were loaded first. As a last line, a guard (AuditBacklogs)
// looks for backlog rows that matching does not know of while the queue's pollers wait.
#pragma once

#include <atomic>
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
#include <vector>

#include "common/clock.h"
#include "common/executor.h"
#include "common/status.h"
#include "eon/v1/state.pb.h"
#include "persistence/store.h"
#include "temporal/api/query/v1/message.pb.h"

namespace temporal::api::workflowservice::v1 {
class PollWorkflowTaskQueueResponse;
class PollActivityTaskQueueResponse;
}  // namespace temporal::api::workflowservice::v1

namespace eon::matching {

template <typename Response>
class PollClaim;  // matching_service.h

using TaskQueueKind = eon::v1::TaskQueueKind;
using SteadyTime = std::chrono::steady_clock::time_point;

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
  // For a query task: how its caller hears that the workflow was gone when a poller took it.
  std::function<void(Status)> on_undeliverable;
  // Not a task but a claim (MatchingService::ClaimWorkflowPoll, ClaimActivityPoll): the poller
  // that takes it stores, in the one of its kind and before Deliver returns, the PollClaim
  // through which history answers it.
  std::shared_ptr<PollClaim<temporal::api::workflowservice::v1::PollWorkflowTaskQueueResponse>>*
      workflow_claim = nullptr;
  std::shared_ptr<PollClaim<temporal::api::workflowservice::v1::PollActivityTaskQueueResponse>>*
      activity_claim = nullptr;
  bool is_claim() const { return workflow_claim != nullptr || activity_claim != nullptr; }
};

struct PollerInfo {
  std::string identity;
  std::string worker_instance_key;
  // The poll's deliver knows a claim (MatchedTask::is_claim) from a task; only such a poll is
  // claimed.
  bool takes_claims = false;
};

struct MatchingOptions {
  std::chrono::milliseconds long_poll_max{60'000};  // an idle poll is answered empty by then
  // Per queue: backlog tasks kept in memory; the rest waits in the database until memory drains.
  int backlog_in_memory_tasks_max = 10'000;
  // Per queue: polls parked at once. One more is answered RESOURCE_EXHAUSTED.
  int parked_polls_per_queue_max = 5'000;
  // A sticky queue with no poll for this long has lost its worker.
  std::chrono::milliseconds sticky_worker_gone{10'000};
  // The guard: a backlog task matching does not know of, seen in the database this long while
  // its queue's pollers waited the whole time, is a matching fault (logged, counted, dispatched).
  std::chrono::milliseconds backlog_fault_age{10'000};
  // How often the guard looks by itself (0: never; tests call AuditBacklogs).
  std::chrono::milliseconds backlog_audit_interval{5'000};
  // An empty queue with no poll for this long is forgotten (its pollers list for
  // DescribeTaskQueue too, which shows the last 5 minutes).
  std::chrono::milliseconds idle_queue_forget{5 * 60'000};
  // The steady clock (sticky worker, guard, idle queues); nullptr: std::chrono::steady_clock.
  std::function<SteadyTime()> steady_now;
  // The workflow clock, for tasks' expire_time; nullptr: the system clock. Not owned.
  const Clock* clock = nullptr;
  // A worker that said it shuts down: its polls arriving this long after are answered empty at
  // once (Temporal's shutdownWorkersCacheTTL), so a poll that crossed the shutdown call on the
  // wire does not hold the worker's shutdown for a whole long poll.
  std::chrono::milliseconds shut_down_worker_remembered{30'000};
  int shut_down_workers_max = 10'000;  // remembered at once
  // Several nodes share the database (cluster/ownership.h): a queue's backlog may have been
  // written by another node (its previous owner), so a queue new in this engine's memory reads
  // its database backlog before it hands out anything. Off for a lone node, whose Recover
  // loaded every backlog.
  bool shared_backlogs = false;
};

class MatchingEngine {
 public:
  // Called once per poll, with a task or with nothing (timed out, cancelled, worker shut down).
  using Deliver = std::function<void(std::optional<MatchedTask>)>;
  using PollId = uint64_t;  // increasing: a later Poll gets a larger id

  MatchingEngine(persistence::QueueTaskStore& store, DeadlineScheduler& scheduler,
                 MatchingOptions options);
  // Answers every parked poll with nothing and stops the guard.
  ~MatchingEngine();

  // Loads the durable backlogs. Call once before serving.
  Status Recover();

  // Hands the task to a waiting poller or writes it to the backlog. `on_settled` runs once the
  // producer may forget the task: before AddTask returns when it went to the backlog, or when
  // the poller that took it calls Done or Requeue. Not called when AddTask fails. With
  // `backlog_first` (a producer on another node, which cannot wait for a poller's start) the
  // task is written to the backlog before a poller may take it: settled when AddTask returns.
  // A sticky queue's task is only taken while its worker polls (now, or a poll ended within
  // sticky_worker_gone): otherwise AddTask answers FAILED_PRECONDITION and keeps nothing.
  // A task with an expire_time that has passed when a poller would get it is dropped from the
  // backlog instead: whoever set it moves the task on by then (sticky schedule-to-start).
  Status AddTask(const QueueId& queue, const eon::v1::QueueTask& task,
                 std::function<void()> on_settled, bool sticky = false, bool backlog_first = false);
  // AddTask's first step alone: a parked poller (if there is one) takes the task, and this
  // returns true; else false, and nothing changed. Never touches the store.
  bool TryHandToPoller(const QueueId& queue, const eon::v1::QueueTask& task,
                       std::function<void()> on_settled);
  // The same for a task already made up (the queue is task.queue). A claim goes only to a first
  // poll that takes claims (PollerInfo::takes_claims).
  bool TryHandToPoller(MatchedTask task);

  // Parks a poll until a task comes or `deadline` passes. `deliver` runs exactly once: inside
  // Poll when a task is waiting, else on the thread that matched, timed out or cancelled it.
  // RESOURCE_EXHAUSTED (and `deliver` never runs) when parked_polls_per_queue_max polls already
  // wait on the queue.
  Result<PollId> Poll(const QueueId& queue, const PollerInfo& poller, SteadyTime deadline,
                      Deliver deliver);
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

  // Gives up the queues `keep` says no (they moved to another node): their parked polls are
  // answered with nothing (the worker polls again and reaches the new owner), their held query
  // tasks fail UNAVAILABLE, and their backlog is forgotten here (it stays in the database, for
  // the new owner). Tasks already handed to pollers still finish (Done, Requeue). With
  // shared_backlogs, the queues kept read their database backlog again at their next poll (one
  // may have just moved here from a node that wrote to it).
  void ReleaseQueues(const std::function<bool(const QueueId&)>& keep);

  // The guard. For every queue with parked polls: reloads a backlog whose refill failed, and
  // reads the database for backlog tasks that matching does not know of. One seen for
  // backlog_fault_age while pollers waited the whole time is a matching fault: logged as one,
  // counted, and handed to a poller. Runs every backlog_audit_interval by itself; also forgets
  // idle empty queues and drops expired tasks of idle queues.
  void AuditBacklogs();
  // Matching faults the guard found since the engine started.
  int64_t backlog_fault_count() const { return backlog_faults_.load(); }
  // Queues held in memory (idle empty ones are forgotten).
  int64_t queue_count();

 private:
  struct Poller {
    PollId id = 0;
    QueueId queue;
    PollerInfo info;
    Deliver deliver;
    DeadlineScheduler::Id deadline_id = 0;
  };
  struct Queue {
    std::deque<MatchedTask> backlog;  // in memory, handed out from the front
    std::deque<MatchedTask> queries;  // query tasks waiting for a poller (memory only)
    std::list<PollId> pollers;        // oldest first
    // Every backlog task with an id above this that is in the database and not outstanding is
    // one Refill must load (while db_backlog_count > 0). Lowered by adds that go to the
    // database only.
    int64_t db_read_level = 0;
    int64_t db_backlog_count = 0;  // tasks in the database not loaded (an estimate; > 0: some)
    // Backlog ids in memory or handed to a poller and not yet Done: a refill skips them.
    std::set<int64_t> outstanding_ids;
    // Backlog ids chosen by an add or requeue whose write has not been decided yet.
    std::set<int64_t> writing_ids;
    SteadyTime last_poll{};         // when a poll last arrived or left
    SteadyTime waiting_since{};     // since when pollers have waited without a break
    bool worker_shut_down = false;  // its worker said it stopped
    // Who polled lately (identity -> when), for DescribeTaskQueue; bounded.
    std::map<std::string, std::chrono::system_clock::time_point> pollers_seen;
    // The guard: backlog ids found in the database but not known here -> when first seen.
    std::map<int64_t, SteadyTime> suspects;
  };
  // A task and the poller it goes to, handed over outside the lock.
  struct Handoff {
    Poller poller;
    MatchedTask task;
  };

  SteadyTime SteadyNow() const;
  // The queue's entry, made if missing (with shared_backlogs, marked to read its database
  // backlog first). REQUIRES: mutex_ held.
  Queue& QueueFor(const QueueId& id);
  bool Expired(const eon::v1::QueueTask& task) const;
  // Takes the poller out of every index and returns it, or nullopt if already gone.
  // REQUIRES: mutex_ held.
  std::optional<Poller> TakePoller(PollId id);
  // The oldest parked poller of the queue, taken; with `claim`, only if it takes claims.
  // REQUIRES: mutex_ held.
  std::optional<Poller> TakeFirstPoller(Queue& queue, bool claim = false);
  void Finish(std::optional<Poller> poller, std::optional<MatchedTask> task);
  // Picks the id of a new backlog task and marks it being written. REQUIRES: mutex_ held.
  Result<int64_t> StartWrite(Queue& queue);
  // A written, not sync-matched task goes to memory, or stays in the database only.
  // REQUIRES: mutex_ held; task.backlog_task_id in the database and not outstanding.
  void Backlog(Queue& queue, MatchedTask task);
  // Refills a queue's empty memory from its database backlog. REQUIRES: mutex_ held.
  void Refill(Queue& queue, const QueueId& id);
  // The next live task of the queue's memory (refilling it if empty), dropping expired ones
  // into `expired`. REQUIRES: mutex_ held.
  std::optional<MatchedTask> NextBacklogTask(Queue& queue, const QueueId& id,
                                             std::vector<MatchedTask>& expired);
  // Deletes dropped tasks from the database. REQUIRES: mutex_ not held.
  void DeleteExpired(const std::vector<MatchedTask>& expired);
  // REQUIRES: mutex_ held.
  bool StickyWorkerGone(const Queue& queue) const;
  // Arms the next run of the guard (if backlog_audit_interval is set).
  void ScheduleAudit();
  // Whether the worker said it shuts down, lately. REQUIRES: mutex_ held.
  bool WorkerShutDown(const std::string& namespace_id,
                      const std::string& worker_instance_key) const;

  // Shared with the guard's scheduled runs, which may fire after the engine is gone: a run
  // holds `mutex` while it works, and finds `engine` null once the engine is destroyed.
  struct AuditToken {
    std::mutex mutex;
    MatchingEngine* engine = nullptr;  // guarded by mutex
  };

  persistence::QueueTaskStore& store_;
  DeadlineScheduler& scheduler_;
  const MatchingOptions options_;
  SystemClock system_clock_;
  std::atomic<int64_t> backlog_faults_{0};

  std::mutex mutex_;
  std::map<QueueId, Queue> queues_;          // guarded by mutex_
  std::map<PollId, Poller> pollers_;         // guarded by mutex_
  PollId next_poll_id_ = 1;                  // guarded by mutex_
  int64_t next_task_id_ = 0;                 // guarded by mutex_; 0: not read from the store yet
  // With shared_backlogs: another node may have written ids above next_task_id_, so the next
  // write reads MaxQueueTaskId first. Guarded by mutex_.
  bool task_ids_stale_ = false;
  // With shared_backlogs, backlog ids are time-based (see StartWrite): microseconds since the
  // epoch times kTaskIdSlots (below 2^63 until about 2255), plus this engine's slot, drawn at
  // random once.
  static constexpr int64_t kTaskIdSlots = 1024;
  const int64_t task_id_slot_;
  std::shared_ptr<AuditToken> audit_token_;  // shared with scheduled guard runs (see above)
  // namespace id + '/' + worker_instance_key -> when it shut down; guarded by mutex_.
  std::map<std::string, std::chrono::steady_clock::time_point> shut_down_workers_;
};

}  // namespace eon::matching
