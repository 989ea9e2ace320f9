#include "matching/matching_engine.h"

#include <algorithm>
#include <random>

#include "common/log.h"

namespace eon::matching {

namespace {

std::string QueueLabel(const QueueId& id) {
  const char* kind = id.kind == eon::v1::TASK_QUEUE_KIND_ACTIVITY ? "activity" : "workflow";
  return "\"" + id.name + "\" (" + kind + ", namespace " + id.namespace_id + ")";
}

}  // namespace

MatchingEngine::MatchingEngine(persistence::QueueTaskStore& store, DeadlineScheduler& scheduler,
                               MatchingOptions options)
    : store_(store),
      scheduler_(scheduler),
      options_(std::move(options)),
      task_id_slot_(static_cast<int64_t>(std::random_device{}() % kTaskIdSlots)),
      audit_token_(std::make_shared<AuditToken>()) {
  audit_token_->engine = this;
  ScheduleAudit();
}

MatchingEngine::~MatchingEngine() {
  {
    // Waits for a guard run in progress; later runs find no engine.
    std::lock_guard lock(audit_token_->mutex);
    audit_token_->engine = nullptr;
  }
  std::vector<PollId> ids;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, poller] : pollers_) ids.push_back(id);
  }
  for (PollId id : ids) CancelPoll(id);
}

SteadyTime MatchingEngine::SteadyNow() const {
  return options_.steady_now ? options_.steady_now() : std::chrono::steady_clock::now();
}

bool MatchingEngine::Expired(const eon::v1::QueueTask& task) const {
  if (!task.has_expire_time()) return false;
  const Clock& clock = options_.clock ? *options_.clock : system_clock_;
  return FromTimestamp(task.expire_time()) <= clock.Now();
}

void MatchingEngine::ScheduleAudit() {
  if (options_.backlog_audit_interval.count() <= 0) return;
  scheduler_.At(std::chrono::steady_clock::now() + options_.backlog_audit_interval,
                [token = audit_token_] {
                  std::lock_guard lock(token->mutex);
                  if (token->engine == nullptr) return;
                  token->engine->AuditBacklogs();
                  token->engine->ScheduleAudit();
                });
}

Status MatchingEngine::Recover() {
  EON_ASSIGN_OR_RETURN(int64_t max_task_id, store_.MaxQueueTaskId());
  EON_ASSIGN_OR_RETURN(auto names, store_.ListBackloggedQueues());
  std::vector<MatchedTask> expired;
  {
    std::lock_guard lock(mutex_);
    next_task_id_ = std::max(next_task_id_, max_task_id + 1);
    for (const auto& name : names) {
      QueueId id{name.namespace_id, name.queue, static_cast<TaskQueueKind>(name.kind)};
      Queue& queue = queues_[id];
      queue.db_backlog_count = 1;  // unknown until read; Refill finds out
      Refill(queue, id);
      // Tasks that expired while the server was down (a dead sticky queue's) go now.
      for (auto it = queue.backlog.begin(); it != queue.backlog.end();) {
        if (!Expired(it->task)) {
          ++it;
          continue;
        }
        expired.push_back(std::move(*it));
        it = queue.backlog.erase(it);
      }
    }
  }
  DeleteExpired(expired);
  return Status::Ok();
}

Result<int64_t> MatchingEngine::StartWrite(Queue& queue) {
  // Recover was not called, or another node may have written ids above ours: read where ids
  // stand (never going back, so no id in flight here is chosen twice).
  if (next_task_id_ == 0 || task_ids_stale_) {
    EON_ASSIGN_OR_RETURN(int64_t max_task_id, store_.MaxQueueTaskId());
    next_task_id_ = std::max(next_task_id_, max_task_id + 1);
    task_ids_stale_ = false;
  }
  if (options_.shared_backlogs) {
    // Every node writes backlog rows into one table, each counting ids on its own: ids come from
    // the time (microseconds times kTaskIdSlots) plus this engine's slot, so two nodes' ids meet
    // only in the same microsecond and slot. Counting on from the largest id read (as a lone
    // node does) clashed often: each node's count lagged the other's rows. A clash that happens
    // anyway fails the write, which is retried with the ids read afresh.
    const Clock& clock = options_.clock ? *options_.clock : system_clock_;
    const int64_t micros =
        std::chrono::duration_cast<std::chrono::microseconds>(clock.Now().time_since_epoch())
            .count();
    next_task_id_ = std::max(next_task_id_, micros * kTaskIdSlots + task_id_slot_);
  }
  const int64_t task_id = next_task_id_++;
  queue.writing_ids.insert(task_id);
  return task_id;
}

void MatchingEngine::Backlog(Queue& queue, MatchedTask task) {
  const int64_t task_id = task.backlog_task_id;
  if (static_cast<int>(queue.backlog.size()) < options_.backlog_in_memory_tasks_max &&
      queue.db_backlog_count == 0) {
    queue.outstanding_ids.insert(task_id);
    queue.backlog.push_back(std::move(task));
    return;
  }
  // The database only. Higher ids may have been loaded already (adds reach the lock in any
  // order), so the next refill reads from just below this one.
  ++queue.db_backlog_count;
  queue.db_read_level = std::min(queue.db_read_level, task_id - 1);
}

void MatchingEngine::Refill(Queue& queue, const QueueId& id) {
  const int limit = std::max(1, options_.backlog_in_memory_tasks_max);
  // A batch may hold only tasks that are outstanding or being written: read on until one is
  // loaded or the database has no more (each batch moves db_read_level past what it read).
  while (queue.backlog.empty() && queue.db_backlog_count > 0) {
    auto loaded =
        store_.LoadQueueTasks(id.namespace_id, id.name, id.kind, queue.db_read_level, limit);
    if (!loaded.ok()) {
      // db_backlog_count stays: the next poll, or the guard, tries again.
      LOG_ERROR("cannot load the backlog of task queue " << id.name << ": "
                                                         << loaded.status().message());
      return;
    }
    int64_t added = 0;
    for (auto& record : *loaded) {
      queue.db_read_level = record.task_id;
      if (queue.writing_ids.count(record.task_id)) continue;  // its add decides where it goes
      if (!queue.outstanding_ids.insert(record.task_id).second) continue;
      queue.backlog.push_back({id, std::move(record.task), record.task_id});
      ++added;
    }
    queue.db_backlog_count = static_cast<int>(loaded->size()) < limit
                                 ? 0
                                 : std::max<int64_t>(1, queue.db_backlog_count - added);
  }
}

std::optional<MatchedTask> MatchingEngine::NextBacklogTask(Queue& queue, const QueueId& id,
                                                           std::vector<MatchedTask>& expired) {
  for (;;) {
    if (queue.backlog.empty()) Refill(queue, id);
    if (queue.backlog.empty()) return std::nullopt;
    MatchedTask task = std::move(queue.backlog.front());
    queue.backlog.pop_front();
    if (!Expired(task.task)) return task;
    expired.push_back(std::move(task));  // still outstanding: no refill reads it back
  }
}

void MatchingEngine::DeleteExpired(const std::vector<MatchedTask>& expired) {
  for (const auto& task : expired) {
    LOG_DEBUG("dropping an expired task of " << task.task.workflow_id() << " from task queue "
                                             << task.queue.name);
    Done(task);
  }
}

std::optional<MatchingEngine::Poller> MatchingEngine::TakeFirstPoller(Queue& queue, bool claim) {
  while (!queue.pollers.empty()) {
    const PollId id = queue.pollers.front();
    if (claim) {
      auto parked = pollers_.find(id);
      if (parked != pollers_.end() && !parked->second.info.takes_claims) return std::nullopt;
    }
    if (auto poller = TakePoller(id)) return poller;
    if (!queue.pollers.empty() && queue.pollers.front() == id) queue.pollers.pop_front();
  }
  return std::nullopt;
}

Status MatchingEngine::AddTask(const QueueId& queue_id, const eon::v1::QueueTask& task,
                               std::function<void()> on_settled, bool sticky, bool backlog_first) {
  std::optional<Poller> poller;
  int64_t task_id = 0;
  {
    std::lock_guard lock(mutex_);
    Queue& queue = QueueFor(queue_id);
    if (!backlog_first) poller = TakeFirstPoller(queue);
    if (!poller) {
      if (sticky && StickyWorkerGone(queue)) {
        return FailedPrecondition("sticky worker unavailable on " + queue_id.name);
      }
      EON_ASSIGN_OR_RETURN(task_id, StartWrite(queue));
    }
  }
  if (poller) {
    Finish(std::move(poller), MatchedTask{queue_id, task, 0, std::move(on_settled)});
    return Status::Ok();
  }
  // No poller: the backlog. Written before it is visible, so a crash cannot lose it.
  Status written =
      store_.AddQueueTask(queue_id.namespace_id, queue_id.name, queue_id.kind, task_id, task);
  {
    std::lock_guard lock(mutex_);
    Queue& queue = QueueFor(queue_id);
    queue.writing_ids.erase(task_id);
    if (!written.ok()) {
      // Maybe another node took the id (each node counts ids on its own): the next write reads
      // where ids stand in the database again.
      if (options_.shared_backlogs) task_ids_stale_ = true;
      return written;
    }
    // A poller may have arrived while we wrote.
    poller = TakeFirstPoller(queue);
    if (poller) {
      queue.outstanding_ids.insert(task_id);
    } else {
      Backlog(queue, MatchedTask{queue_id, task, task_id, nullptr});
    }
  }
  if (on_settled) on_settled();
  if (poller) Finish(std::move(poller), MatchedTask{queue_id, task, task_id, nullptr});
  return Status::Ok();
}

bool MatchingEngine::TryHandToPoller(const QueueId& queue_id, const eon::v1::QueueTask& task,
                                     std::function<void()> on_settled) {
  return TryHandToPoller(MatchedTask{queue_id, task, 0, std::move(on_settled)});
}

bool MatchingEngine::TryHandToPoller(MatchedTask task) {
  std::optional<Poller> poller;
  {
    std::lock_guard lock(mutex_);
    auto queue = queues_.find(task.queue);
    if (queue == queues_.end()) return false;
    poller = TakeFirstPoller(queue->second, task.is_claim());
    if (!poller) return false;
  }
  Finish(std::move(poller), std::move(task));
  return true;
}

bool MatchingEngine::StickyWorkerGone(const Queue& queue) const {
  return queue.pollers.empty() &&
         (queue.worker_shut_down || queue.last_poll.time_since_epoch().count() == 0 ||
          SteadyNow() - queue.last_poll > options_.sticky_worker_gone);
}

Status MatchingEngine::AddQuery(const QueueId& queue_id, MatchedTask query, bool sticky) {
  std::optional<Poller> poller;
  {
    std::lock_guard lock(mutex_);
    Queue& queue = QueueFor(queue_id);
    if (sticky && StickyWorkerGone(queue)) {
      return FailedPrecondition("sticky worker unavailable on " + queue_id.name);
    }
    poller = TakeFirstPoller(queue);
    if (!poller) {
      queue.queries.push_back(std::move(query));
      return Status::Ok();
    }
  }
  Finish(std::move(poller), std::move(query));
  return Status::Ok();
}

MatchingEngine::QueueDescription MatchingEngine::Describe(const QueueId& queue_id) {
  std::lock_guard lock(mutex_);
  QueueDescription out;
  auto it = queues_.find(queue_id);
  if (it == queues_.end()) return out;
  // Pollers seen in the last few minutes, as Temporal reports them.
  const auto recent = std::chrono::system_clock::now() - std::chrono::minutes(5);
  for (const auto& [identity, when] : it->second.pollers_seen) {
    if (when >= recent) out.pollers.emplace_back(identity, when);
  }
  out.backlog_count = static_cast<int64_t>(it->second.backlog.size()) + it->second.db_backlog_count;
  if (!it->second.backlog.empty()) {
    out.oldest_task_created = it->second.backlog.front().task.created_time();
  }
  return out;
}

std::vector<MatchingEngine::QueueStats> MatchingEngine::Stats() {
  std::lock_guard lock(mutex_);
  std::vector<QueueStats> out;
  out.reserve(queues_.size());
  for (const auto& [id, queue] : queues_) {
    QueueStats stats{id, static_cast<int64_t>(queue.backlog.size()) + queue.db_backlog_count,
                     std::nullopt, static_cast<int64_t>(queue.pollers.size())};
    if (!queue.backlog.empty())
      stats.oldest_task_created = queue.backlog.front().task.created_time();
    out.push_back(std::move(stats));
  }
  return out;
}

bool MatchingEngine::RemoveQuery(const QueueId& queue_id, const std::string& query_id) {
  std::lock_guard lock(mutex_);
  auto it = queues_.find(queue_id);
  if (it == queues_.end()) return false;
  auto& queries = it->second.queries;
  for (auto q = queries.begin(); q != queries.end(); ++q) {
    if (q->query_id == query_id) {
      queries.erase(q);
      return true;
    }
  }
  return false;
}

Result<MatchingEngine::PollId> MatchingEngine::Poll(const QueueId& queue_id, const PollerInfo& info,
                                                    SteadyTime deadline, Deliver deliver) {
  std::optional<MatchedTask> ready;
  std::vector<MatchedTask> expired;
  Status refused = Status::Ok();
  bool parked = false;
  PollId id = 0;
  {
    std::lock_guard lock(mutex_);
    id = next_poll_id_++;
    // A worker that shut down is answered empty at once, and its queue is not touched.
    if (!WorkerShutDown(queue_id.namespace_id, info.worker_instance_key)) {
      Queue& queue = QueueFor(queue_id);
      const SteadyTime now = SteadyNow();
      queue.last_poll = now;
      queue.worker_shut_down = false;
      constexpr size_t kPollersSeenMax = 1'000;
      if (queue.pollers_seen.size() < kPollersSeenMax || queue.pollers_seen.count(info.identity)) {
        queue.pollers_seen[info.identity] = std::chrono::system_clock::now();
      }
      if (!queue.queries.empty()) {
        ready = std::move(queue.queries.front());
        queue.queries.pop_front();
      } else {
        ready = NextBacklogTask(queue, queue_id, expired);
      }
      if (!ready) {
        if (static_cast<int>(queue.pollers.size()) >= options_.parked_polls_per_queue_max) {
          refused = Status(StatusCode::RESOURCE_EXHAUSTED,
                           "too many polls are waiting on task queue " + QueueLabel(queue_id) +
                               " (at most " + std::to_string(options_.parked_polls_per_queue_max) +
                               "); poll again later");
        } else {
          Poller poller{id, queue_id, info, std::move(deliver), 0};
          poller.deadline_id = scheduler_.At(deadline, [this, id] { CancelPoll(id); });
          if (queue.pollers.empty()) queue.waiting_since = now;
          queue.pollers.push_back(id);
          pollers_.emplace(id, std::move(poller));
          parked = true;
        }
      }
    }
  }
  DeleteExpired(expired);
  if (!refused.ok()) return refused;
  if (!parked) deliver(std::move(ready));
  return id;
}

bool MatchingEngine::WorkerShutDown(const std::string& namespace_id,
                                    const std::string& worker_instance_key) const {
  if (worker_instance_key.empty()) return false;
  auto gone = shut_down_workers_.find(namespace_id + '/' + worker_instance_key);
  return gone != shut_down_workers_.end() &&
         std::chrono::steady_clock::now() - gone->second < options_.shut_down_worker_remembered;
}

MatchingEngine::Queue& MatchingEngine::QueueFor(const QueueId& id) {
  auto [it, made] = queues_.try_emplace(id);
  if (made && options_.shared_backlogs) it->second.db_backlog_count = 1;  // Refill finds out
  return it->second;
}

void MatchingEngine::ReleaseQueues(const std::function<bool(const QueueId&)>& keep) {
  std::vector<Poller> finished;
  std::vector<MatchedTask> queries;
  {
    std::lock_guard lock(mutex_);
    if (options_.shared_backlogs) task_ids_stale_ = true;  // queues may have moved here
    for (auto it = queues_.begin(); it != queues_.end();) {
      if (keep(it->first)) {
        // Maybe it just moved here: another node may have written its backlog meanwhile.
        // Its ids come from that node's counter, so they may be below what this one read.
        if (options_.shared_backlogs) {
          it->second.db_backlog_count = std::max<int64_t>(1, it->second.db_backlog_count);
          it->second.db_read_level = 0;  // a refill skips what is outstanding here
        }
        ++it;
        continue;
      }
      const std::list<PollId> parked = it->second.pollers;
      for (PollId id : parked) {
        if (auto poller = TakePoller(id)) finished.push_back(std::move(*poller));
      }
      for (auto& query : it->second.queries) queries.push_back(std::move(query));
      it = queues_.erase(it);
    }
  }
  if (!finished.empty() || !queries.empty()) {
    LOG_INFO("task queues moved to another node: " << finished.size()
                                                   << " parked polls answered empty");
  }
  for (auto& poller : finished) Finish(std::move(poller), std::nullopt);
  for (auto& query : queries) {
    if (query.on_undeliverable) {
      query.on_undeliverable(
          Unavailable("task queue " + query.queue.name + " moved to another node; retry"));
    }
  }
}

std::optional<MatchingEngine::Poller> MatchingEngine::TakePoller(PollId id) {
  auto it = pollers_.find(id);
  if (it == pollers_.end()) return std::nullopt;
  Poller poller = std::move(it->second);
  pollers_.erase(it);
  auto queue = queues_.find(poller.queue);
  if (queue != queues_.end()) {
    queue->second.pollers.remove(id);
    queue->second.last_poll = SteadyNow();
    if (queue->second.pollers.empty()) queue->second.waiting_since = SteadyTime{};
  }
  return poller;
}

void MatchingEngine::Finish(std::optional<Poller> poller, std::optional<MatchedTask> task) {
  if (!poller) return;
  if (poller->deadline_id) scheduler_.Cancel(poller->deadline_id);
  poller->deliver(std::move(task));
}

void MatchingEngine::CancelPoll(PollId id) {
  std::optional<Poller> poller;
  {
    std::lock_guard lock(mutex_);
    poller = TakePoller(id);
  }
  Finish(std::move(poller), std::nullopt);
}

void MatchingEngine::ShutdownWorker(const std::string& namespace_id,
                                    const std::string& sticky_queue, const std::string& identity,
                                    const std::string& worker_instance_key) {
  std::vector<Poller> finished;
  {
    std::lock_guard lock(mutex_);
    std::vector<PollId> ids;
    for (const auto& [id, poller] : pollers_) {
      if (poller.queue.namespace_id != namespace_id) continue;
      bool same_worker = (!worker_instance_key.empty() &&
                          poller.info.worker_instance_key == worker_instance_key) ||
                         (!identity.empty() && poller.info.identity == identity) ||
                         (!sticky_queue.empty() && poller.queue.name == sticky_queue);
      if (same_worker) ids.push_back(id);
    }
    if (!sticky_queue.empty()) {
      auto queue =
          queues_.find(QueueId{namespace_id, sticky_queue, eon::v1::TASK_QUEUE_KIND_WORKFLOW});
      if (queue != queues_.end()) queue->second.worker_shut_down = true;
    }
    if (!worker_instance_key.empty()) {
      const auto now = std::chrono::steady_clock::now();
      std::erase_if(shut_down_workers_, [&](const auto& entry) {
        return now - entry.second >= options_.shut_down_worker_remembered;
      });
      if (static_cast<int>(shut_down_workers_.size()) < options_.shut_down_workers_max) {
        shut_down_workers_[namespace_id + '/' + worker_instance_key] = now;
      }
    }
    for (PollId id : ids) {
      if (auto poller = TakePoller(id)) finished.push_back(std::move(*poller));
    }
  }
  for (auto& poller : finished) Finish(std::move(poller), std::nullopt);
}

void MatchingEngine::Done(const MatchedTask& task) {
  if (task.on_settled) task.on_settled();
  if (task.backlog_task_id == 0) return;
  // Deleted before its id is forgotten, so no refill in between reads it back.
  Status deleted = store_.DeleteQueueTask(task.queue.namespace_id, task.queue.name, task.queue.kind,
                                          task.backlog_task_id);
  if (!deleted.ok()) {
    // Harmless: a leftover backlog task is found stale when polled again.
    LOG_WARN("cannot delete backlog task " << task.backlog_task_id << ": " << deleted.message());
  }
  std::lock_guard lock(mutex_);
  auto queue = queues_.find(task.queue);
  if (queue != queues_.end()) queue->second.outstanding_ids.erase(task.backlog_task_id);
}

void MatchingEngine::Requeue(MatchedTask task) {
  std::function<void()> settle;
  if (task.backlog_task_id == 0) {
    Result<int64_t> task_id = Status(StatusCode::INTERNAL, "no id");
    {
      std::lock_guard lock(mutex_);
      task_id = StartWrite(QueueFor(task.queue));
    }
    Status written = task_id.status();
    if (task_id.ok()) {
      written = store_.AddQueueTask(task.queue.namespace_id, task.queue.name, task.queue.kind,
                                    *task_id, task.task);
      std::lock_guard lock(mutex_);
      QueueFor(task.queue).writing_ids.erase(*task_id);
    }
    if (written.ok()) {
      task.backlog_task_id = *task_id;
      settle = std::move(task.on_settled);
      task.on_settled = nullptr;
    } else {
      // Not settled: its producer keeps it and dispatches it again after a restart.
      LOG_WARN("cannot write a returned task to the backlog: " << written.message());
    }
  }
  std::optional<Poller> poller;
  {
    std::lock_guard lock(mutex_);
    Queue& queue = QueueFor(task.queue);
    if (task.backlog_task_id != 0) queue.outstanding_ids.insert(task.backlog_task_id);
    poller = TakeFirstPoller(queue);
    if (!poller) queue.backlog.push_front(std::move(task));
  }
  if (settle) settle();
  if (poller) Finish(std::move(poller), std::move(task));
}

int64_t MatchingEngine::queue_count() {
  std::lock_guard lock(mutex_);
  return static_cast<int64_t>(queues_.size());
}

void MatchingEngine::AuditBacklogs() {
  const SteadyTime now = SteadyNow();
  struct Look {
    QueueId id;
    int limit = 0;
  };
  std::vector<Look> looks;
  std::vector<Handoff> handoffs;
  std::vector<MatchedTask> expired;
  {
    std::lock_guard lock(mutex_);
    for (auto it = queues_.begin(); it != queues_.end();) {
      Queue& queue = it->second;
      if (queue.pollers.empty()) {
        queue.suspects.clear();
        if (now - queue.last_poll < options_.idle_queue_forget) {
          ++it;
          continue;
        }
        // Idle: its expired tasks (a dead sticky queue's) go, and an empty queue is forgotten.
        for (auto task = queue.backlog.begin(); task != queue.backlog.end();) {
          if (!Expired(task->task)) {
            ++task;
            continue;
          }
          expired.push_back(std::move(*task));
          task = queue.backlog.erase(task);
        }
        if (queue.backlog.empty() && queue.queries.empty() && queue.outstanding_ids.empty() &&
            queue.writing_ids.empty() && queue.db_backlog_count == 0) {
          it = queues_.erase(it);
        } else {
          ++it;
        }
        continue;
      }
      // Pollers wait, so memory should be empty: hand out what is there (a refill that failed
      // before is tried again here).
      while (!queue.pollers.empty()) {
        auto task = NextBacklogTask(queue, it->first, expired);
        if (!task) break;
        auto poller = TakeFirstPoller(queue);
        if (!poller) {
          queue.backlog.push_front(std::move(*task));
          break;
        }
        handoffs.push_back({std::move(*poller), std::move(*task)});
      }
      if (!queue.pollers.empty() && queue.db_backlog_count == 0) {
        const size_t known = queue.outstanding_ids.size() + queue.writing_ids.size();
        const int limit = static_cast<int>(
            std::min<size_t>(known + 64, std::max(1, options_.backlog_in_memory_tasks_max)));
        looks.push_back({it->first, limit});
      }
      ++it;
    }
  }
  for (auto& handoff : handoffs) Finish(std::move(handoff.poller), std::move(handoff.task));
  handoffs.clear();
  DeleteExpired(expired);

  // The database read happens outside the lock; what it finds is checked again under it.
  for (const auto& look : looks) {
    auto rows =
        store_.LoadQueueTasks(look.id.namespace_id, look.id.name, look.id.kind, 0, look.limit);
    if (!rows.ok()) {
      LOG_WARN("matching guard cannot read the backlog of task queue " << look.id.name << ": "
                                                                       << rows.status().message());
      continue;
    }
    std::lock_guard lock(mutex_);
    auto it = queues_.find(look.id);
    if (it == queues_.end()) continue;
    Queue& queue = it->second;
    std::map<int64_t, SteadyTime> seen;
    for (auto& row : *rows) {
      if (queue.pollers.empty()) break;
      if (queue.outstanding_ids.count(row.task_id) || queue.writing_ids.count(row.task_id)) {
        continue;
      }
      auto suspect = queue.suspects.find(row.task_id);
      const SteadyTime first_seen =
          suspect == queue.suspects.end() || suspect->second < queue.waiting_since
              ? now
              : suspect->second;
      if (now - first_seen < options_.backlog_fault_age) {
        seen.emplace(row.task_id, first_seen);
        continue;
      }
      const int64_t faults = ++backlog_faults_;
      LOG_ERROR("matching fault: backlog task "
                << row.task_id << " of workflow " << row.task.workflow_id() << " on task queue "
                << QueueLabel(look.id) << " sat in the database for "
                << std::chrono::duration_cast<std::chrono::seconds>(now - first_seen).count()
                << " s while pollers waited, unknown to matching; dispatching it (" << faults
                << " such faults so far)");
      queue.outstanding_ids.insert(row.task_id);
      MatchedTask task{look.id, std::move(row.task), row.task_id};
      auto poller = TakeFirstPoller(queue);
      if (poller) {
        handoffs.push_back({std::move(*poller), std::move(task)});
      } else {
        queue.backlog.push_front(std::move(task));
      }
    }
    queue.suspects = queue.pollers.empty() ? std::map<int64_t, SteadyTime>{} : std::move(seen);
  }
  for (auto& handoff : handoffs) Finish(std::move(handoff.poller), std::move(handoff.task));
}

}  // namespace eon::matching
