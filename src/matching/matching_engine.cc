#include "matching/matching_engine.h"

#include "common/log.h"

namespace eon::matching {

MatchingEngine::MatchingEngine(persistence::Store& store, DeadlineScheduler& scheduler,
                               MatchingOptions options)
    : store_(store), scheduler_(scheduler), options_(options) {}

MatchingEngine::~MatchingEngine() {
  std::vector<PollId> ids;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, poller] : pollers_) ids.push_back(id);
  }
  for (PollId id : ids) CancelPoll(id);
}

Status MatchingEngine::Recover() {
  EON_ASSIGN_OR_RETURN(auto names, store_.ListBackloggedQueues());
  std::lock_guard lock(mutex_);
  for (const auto& name : names) {
    QueueId id{name.namespace_id, name.queue, static_cast<TaskQueueKind>(name.kind)};
    Queue& queue = queues_[id];
    queue.db_backlog_count = 1;  // unknown until read; Refill finds out
    Refill(queue, id);
  }
  return Status::Ok();
}

void MatchingEngine::Refill(Queue& queue, const QueueId& id) {
  if (queue.db_backlog_count == 0) return;
  auto loaded = store_.LoadQueueTasks(id.namespace_id, id.name, id.kind, queue.db_read_level,
                                      options_.backlog_in_memory_max);
  if (!loaded.ok()) {
    LOG_ERROR("cannot load the backlog of task queue " << id.name << ": "
                                                       << loaded.status().message());
    return;
  }
  for (auto& record : *loaded) {
    queue.db_read_level = record.task_id;
    if (!queue.outstanding_ids.insert(record.task_id).second) continue;
    queue.backlog.push_back({id, std::move(record.task), record.task_id});
  }
  if (static_cast<int>(loaded->size()) < options_.backlog_in_memory_max) queue.db_backlog_count = 0;
}

Status MatchingEngine::AddTask(const QueueId& queue_id, const eon::v1::QueueTask& task,
                               std::function<void()> on_settled, bool sticky) {
  std::optional<Poller> poller;
  {
    std::lock_guard lock(mutex_);
    Queue& queue = queues_[queue_id];
    while (!queue.pollers.empty() && !poller) {
      PollId id = queue.pollers.front();
      poller = TakePoller(id);
    }
    if (!poller && sticky && StickyWorkerGone(queue)) {
      return FailedPrecondition("sticky worker unavailable on " + queue_id.name);
    }
  }
  if (poller) {
    Finish(std::move(poller), MatchedTask{queue_id, task, 0, std::move(on_settled)});
    return Status::Ok();
  }
  // No poller: the backlog. Written before it is visible, so a crash cannot lose it.
  EON_ASSIGN_OR_RETURN(int64_t task_id, store_.AddQueueTask(queue_id.namespace_id, queue_id.name,
                                                            queue_id.kind, task));
  {
    std::lock_guard lock(mutex_);
    Queue& queue = queues_[queue_id];
    // A poller may have arrived while we wrote.
    while (!queue.pollers.empty() && !poller) poller = TakePoller(queue.pollers.front());
    if (!poller) {
      if (static_cast<int>(queue.backlog.size()) < options_.backlog_in_memory_max &&
          queue.db_backlog_count == 0) {
        queue.backlog.push_back({queue_id, task, task_id});
        queue.outstanding_ids.insert(task_id);
        queue.db_read_level = std::max(queue.db_read_level, task_id);
      } else {
        ++queue.db_backlog_count;
      }
    }
  }
  if (on_settled) on_settled();
  if (poller) {
    {
      std::lock_guard lock(mutex_);
      queues_[queue_id].outstanding_ids.insert(task_id);
    }
    Finish(std::move(poller), MatchedTask{queue_id, task, task_id, nullptr});
  }
  return Status::Ok();
}

bool MatchingEngine::StickyWorkerGone(const Queue& queue) const {
  return queue.pollers.empty() &&
         (queue.worker_shut_down || queue.last_poll.time_since_epoch().count() == 0 ||
          std::chrono::steady_clock::now() - queue.last_poll > options_.sticky_worker_gone);
}

Status MatchingEngine::AddQuery(const QueueId& queue_id, MatchedTask query, bool sticky) {
  std::optional<Poller> poller;
  {
    std::lock_guard lock(mutex_);
    Queue& queue = queues_[queue_id];
    if (sticky && StickyWorkerGone(queue)) {
      return FailedPrecondition("sticky worker unavailable on " + queue_id.name);
    }
    while (!queue.pollers.empty() && !poller) poller = TakePoller(queue.pollers.front());
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
    if (!queue.backlog.empty()) stats.oldest_task_created = queue.backlog.front().task.created_time();
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

MatchingEngine::PollId MatchingEngine::Poll(const QueueId& queue_id, const PollerInfo& info,
                                            std::chrono::steady_clock::time_point deadline,
                                            Deliver deliver) {
  std::optional<MatchedTask> ready;  // stays empty for a worker that shut down
  PollId id;
  {
    std::lock_guard lock(mutex_);
    id = next_poll_id_++;
    if (!WorkerShutDown(queue_id.namespace_id, info.worker_instance_key)) {
      Queue& queue = queues_[queue_id];
      queue.last_poll = std::chrono::steady_clock::now();
      queue.worker_shut_down = false;
      constexpr size_t kPollersSeenMax = 1'000;
      if (queue.pollers_seen.size() < kPollersSeenMax || queue.pollers_seen.count(info.identity)) {
        queue.pollers_seen[info.identity] = std::chrono::system_clock::now();
      }
      if (!queue.queries.empty()) {
        ready = std::move(queue.queries.front());
        queue.queries.pop_front();
      } else if (queue.backlog.empty()) {
        Refill(queue, queue_id);
      }
      if (!ready && !queue.backlog.empty()) {
        ready = std::move(queue.backlog.front());
        queue.backlog.pop_front();
      }
      if (!ready) {
        Poller poller{id, queue_id, info, std::move(deliver), 0};
        poller.deadline_id = scheduler_.At(deadline, [this, id] { CancelPoll(id); });
        queue.pollers.push_back(id);
        pollers_.emplace(id, std::move(poller));
        return id;
      }
    }
  }
  deliver(std::move(ready));
  return id;
}

bool MatchingEngine::WorkerShutDown(const std::string& namespace_id,
                                    const std::string& worker_instance_key) const {
  if (worker_instance_key.empty()) return false;
  auto gone = shut_down_workers_.find(namespace_id + '/' + worker_instance_key);
  return gone != shut_down_workers_.end() &&
         std::chrono::steady_clock::now() - gone->second < options_.shut_down_worker_remembered;
}

std::optional<MatchingEngine::Poller> MatchingEngine::TakePoller(PollId id) {
  auto it = pollers_.find(id);
  if (it == pollers_.end()) return std::nullopt;
  Poller poller = std::move(it->second);
  pollers_.erase(it);
  auto queue = queues_.find(poller.queue);
  if (queue != queues_.end()) {
    queue->second.pollers.remove(id);
    queue->second.last_poll = std::chrono::steady_clock::now();
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
  {
    std::lock_guard lock(mutex_);
    queues_[task.queue].outstanding_ids.erase(task.backlog_task_id);
  }
  Status deleted = store_.DeleteQueueTask(task.queue.namespace_id, task.queue.name, task.queue.kind,
                                          task.backlog_task_id);
  if (!deleted.ok()) {
    // Harmless: a leftover backlog task is found stale when polled again.
    LOG_WARN("cannot delete backlog task " << task.backlog_task_id << ": " << deleted.message());
  }
}

void MatchingEngine::Requeue(MatchedTask task) {
  if (task.backlog_task_id == 0) {
    auto task_id =
        store_.AddQueueTask(task.queue.namespace_id, task.queue.name, task.queue.kind, task.task);
    if (task_id.ok()) {
      task.backlog_task_id = *task_id;
      if (task.on_settled) task.on_settled();
      task.on_settled = nullptr;
    } else {
      // Not settled: its producer keeps it and dispatches it again after a restart.
      LOG_WARN("cannot write a returned task to the backlog: " << task_id.status().message());
    }
  }
  std::optional<Poller> poller;
  {
    std::lock_guard lock(mutex_);
    Queue& queue = queues_[task.queue];
    if (task.backlog_task_id != 0) queue.outstanding_ids.insert(task.backlog_task_id);
    while (!queue.pollers.empty() && !poller) poller = TakePoller(queue.pollers.front());
    if (!poller) {
      queue.backlog.push_front(std::move(task));
      return;
    }
  }
  Finish(std::move(poller), std::move(task));
}

}  // namespace eon::matching
