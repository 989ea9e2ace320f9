#include "history/history_engine.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <future>
#include <optional>
#include <utility>

#include "common/await.h"
#include "common/barrier.h"
#include "common/cron.h"
#include "common/hash.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/page_token.h"
#include "history/commands.h"
#include "history/mutable_state.h"
#include "history/mutable_state_cache.h"
#include "history/queue_processors.h"
#include "history/time_skipper.h"
#include "temporal/api/errordetails/v1/message.pb.h"
#include "visibility/search_attributes.h"

namespace eon::history {

using persistence::ExecutionKey;
using persistence::StoredExecution;

namespace {

uint64_t HashOf(std::string_view namespace_id, std::string_view workflow_id) {
  return Fnv1a().Add(namespace_id).Add("\x1f").Add(workflow_id).value();
}

// Temporal's WorkflowNotReady: the workflow cannot answer a query (yet).
Status WorkflowNotReady(std::string message) {
  return FailedPrecondition(std::move(message))
      .WithDetail(temporal::api::errordetails::v1::WorkflowNotReadyFailure());
}

// Of an activity's timeouts due at `now`, the one Temporal applies: the earliest deadline, and
// at the same deadline the lowest timeout type (start-to-close, schedule-to-start,
// schedule-to-close, heartbeat). `fallback` when none is due by this reckoning.
enums::TimeoutType FirstDueActivityTimeout(const eon::v1::ActivityInfo& info, TimePoint now,
                                           enums::TimeoutType fallback) {
  std::optional<std::pair<TimePoint, enums::TimeoutType>> first;
  auto consider = [&](TimePoint deadline, enums::TimeoutType type) {
    if (deadline > now) return;
    if (!first || std::make_pair(deadline, type) < *first) first = {deadline, type};
  };
  if (info.has_schedule_to_close_timeout()) {
    consider(
        FromTimestamp(info.scheduled_time()) + FromProtoDuration(info.schedule_to_close_timeout()),
        enums::TIMEOUT_TYPE_SCHEDULE_TO_CLOSE);
  }
  if (!info.has_started_time()) {
    if (info.has_schedule_to_start_timeout() && !info.awaiting_retry()) {
      consider(FromTimestamp(info.current_attempt_scheduled_time()) +
                   FromProtoDuration(info.schedule_to_start_timeout()),
               enums::TIMEOUT_TYPE_SCHEDULE_TO_START);
    }
  } else {
    const TimePoint started = FromTimestamp(info.started_time());
    if (info.has_start_to_close_timeout()) {
      consider(started + FromProtoDuration(info.start_to_close_timeout()),
               enums::TIMEOUT_TYPE_START_TO_CLOSE);
    }
    if (info.has_heartbeat_timeout()) {
      TimePoint last = started;
      if (info.has_last_heartbeat_time()) {
        last = std::max(last, FromTimestamp(info.last_heartbeat_time()));
      }
      consider(last + FromProtoDuration(info.heartbeat_timeout()), enums::TIMEOUT_TYPE_HEARTBEAT);
    }
  }
  return first ? first->second : fallback;
}

// A query fails fast while the workflow task keeps failing (Temporal: from attempt 3).
constexpr int32_t kQueryFailingTaskAttempt = 3;

bool IsCloseEvent(temporal::api::enums::v1::EventType type) {
  using temporal::api::enums::v1::EventType;
  switch (type) {
    case EventType::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
    case EventType::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
    case EventType::EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
    case EventType::EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
    case EventType::EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
    case EventType::EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
      return true;
    default:
      return false;
  }
}

// A run's listing row goes with its commit, in the same transaction: no outbox task to write,
// run, wait on and delete, and a listing never behind an acknowledged change. With custom search
// attributes the row needs the namespace's attribute types (a store read, which the commit path
// must not wait on), so there the UPSERT_VISIBILITY task stays and writes the row afterwards.
void WriteVisibilityWithCommit(persistence::ExecutionWrite& write) {
  if (!write.state.search_attributes().indexed_fields().empty()) return;
  auto is_visibility = [](const persistence::NewTask& task) {
    return task.category == persistence::TaskCategory::kTransfer &&
           task.task.type() == eon::v1::HISTORY_TASK_TYPE_UPSERT_VISIBILITY;
  };
  if (std::erase_if(write.new_tasks, is_visibility) == 0) return;
  write.visibility = VisibilityRowOf(write.state, {});
}

}  // namespace

// One update of one execution, being built: a copy of the state plus what the transaction
// will write.

HistoryEngine::HistoryEngine(persistence::Store& store, Env& env,
                             matching::MatchingService& matching, Executor& task_executor,
                             EngineOptions options)
    : store_(store),
      env_(env),
      clock_(env.clock()),
      matching_(matching),
      task_executor_(task_executor),
      options_(options),
      cache_(std::make_unique<MutableStateCache>(options.mutable_state_cache_max)),
      queries_(std::make_unique<QueryRegistry>(options.buffered_queries_max)) {}

HistoryEngine::~HistoryEngine() { Stop(); }

void HistoryEngine::EnableTimeSkipping(SkippableClock& clock) {
  time_skipper_ = std::make_unique<TimeSkipper>(
      clock, store_, [this] { return processors_ && processors_->Idle(); },
      [this] {
        if (processors_) processors_->ClockChanged();
      });
}

void HistoryEngine::SetOwnership(const cluster::Ownership& ownership, Duration recheck_interval) {
  ownership_ = &ownership;
  ownership_recheck_interval_ = recheck_interval;
}

void HistoryEngine::OwnershipChanged() {
  if (ownership_loop_) ownership_loop_->Wake();
}

Status HistoryEngine::Start() {
  EON_ASSIGN_OR_RETURN(shard_count_, store_.ShardCount());
  range_ids_ = std::make_unique<std::atomic<int64_t>[]>(shard_count_);
  shard_lost_ = std::make_unique<std::atomic<bool>[]>(shard_count_);
  TaskRetryOptions retry;
  retry.failures_before_parking = options_.task_failures_before_parking;
  processors_ = std::make_unique<QueueProcessors>(*this, store_, env_, task_executor_, shard_count_,
                                                  options_.timer_lookahead, retry);
  if (!ownership_) {
    EON_ASSIGN_OR_RETURN(auto range_ids, store_.AcquireShards());
    for (int32_t shard = 0; shard < shard_count_; ++shard) range_ids_[shard] = range_ids[shard];
    EON_RETURN_IF_ERROR(processors_->Start());
  } else {
    EON_RETURN_IF_ERROR(processors_->Start({}));
    reconciled_lease_epoch_ = ownership_->LeaseEpoch();
    for (int32_t shard = 0; shard < shard_count_; ++shard) {
      if (ownership_->OwnsShard(shard)) EON_RETURN_IF_ERROR(AcquireShard(shard));
    }
    ownership_loop_ = env_.StartLoop(
        "shard-ownership",
        [this] {
          ReconcileShards();
          return ownership_recheck_interval_;
        },
        ownership_recheck_interval_);
  }
  if (time_skipper_) time_skipper_->Start();
  return Status::Ok();
}

void HistoryEngine::Stop() {
  {
    std::lock_guard lock(stop_mutex_);
    stopped_ = true;
  }
  ownership_loop_.reset();
  if (time_skipper_) time_skipper_->Stop();
  if (processors_) processors_->Stop();
}

void HistoryEngine::ReconcileShards() {
  if (const uint64_t epoch = ownership_->LeaseEpoch(); epoch != reconciled_lease_epoch_) {
    // This node's lease lapsed since it took its shards: another node may have taken them and
    // changed them meanwhile. Each is given up (its cache dropped) and, if ours, taken again
    // below with a new range_id, rather than served from what is cached.
    reconciled_lease_epoch_ = epoch;
    for (int32_t shard = 0; shard < shard_count_; ++shard) ReleaseShard(shard);
  }
  for (int32_t shard = 0; shard < shard_count_; ++shard) {
    const bool ours = ownership_->OwnsShard(shard);
    if (ours && !HoldsShard(shard)) {
      Status acquired = AcquireShard(shard);
      if (!acquired.ok()) {
        LOG_WARN("cannot take shard "
                 << shard << " (tried again at the next check): " << acquired.message());
      }
    } else if (!ours && HoldsShard(shard)) {
      ReleaseShard(shard);
    }
  }
}

Status HistoryEngine::AcquireShard(int32_t shard_id) {
  if (shard_id < 0 || shard_id >= shard_count_) {
    return InvalidArgument("no shard " + std::to_string(shard_id));
  }
  std::lock_guard lock(shards_mutex_);
  if (HoldsShard(shard_id)) return Status::Ok();
  EON_ASSIGN_OR_RETURN(int64_t range_id, store_.AcquireShard(shard_id));
  // What is cached of it is from before: another node may have changed it since.
  ForgetShard(shard_id);
  shard_lost_[shard_id].store(false, std::memory_order_release);
  // Held before its outbox loads, so the tasks it finds can update their executions at once.
  range_ids_[shard_id].store(range_id, std::memory_order_release);
  Status loaded = processors_->AddShard(shard_id);
  if (!loaded.ok()) {
    range_ids_[shard_id].store(0, std::memory_order_release);
    return loaded;
  }
  LOG_INFO("took shard " << shard_id << " (range_id " << range_id << ")");
  return Status::Ok();
}

void HistoryEngine::ReleaseShard(int32_t shard_id) {
  if (shard_id < 0 || shard_id >= shard_count_) return;
  std::lock_guard lock(shards_mutex_);
  if (range_ids_[shard_id].exchange(0, std::memory_order_acq_rel) == 0) return;
  processors_->RemoveShard(shard_id);
  ForgetShard(shard_id);
  EndShardWaits(shard_id);
  LOG_INFO("gave up shard " << shard_id);
}

bool HistoryEngine::HoldsShard(int32_t shard_id) const {
  return range_ids_ && shard_id >= 0 && shard_id < shard_count_ &&
         range_ids_[shard_id].load(std::memory_order_acquire) != 0;
}

void HistoryEngine::ForgetShard(int32_t shard_id) {
  cache_->EraseIf([this, shard_id](const eon::v1::ExecutionState& state) {
    return ShardFor(state.namespace_id(), state.workflow_id()) == shard_id;
  });
}

Status HistoryEngine::NotHeldError(int32_t shard_id) const {
  if (ShardLost(shard_id)) return ShardLostError(shard_id);
  std::string node = ownership_ ? " (node " + ownership_->self().name + ")" : "";
  return Unavailable("shard " + std::to_string(shard_id) + " is not owned by this server" + node +
                     "; its owner serves its executions");
}

int32_t ShardOf(const std::string& namespace_id, const std::string& workflow_id,
                int32_t shard_count) {
  return static_cast<int32_t>(HashOf(namespace_id, workflow_id) %
                              static_cast<uint64_t>(shard_count));
}

int32_t HistoryEngine::ShardFor(const std::string& namespace_id,
                                const std::string& workflow_id) const {
  return ShardOf(namespace_id, workflow_id, shard_count_);
}

std::mutex& HistoryEngine::LockFor(const std::string& namespace_id,
                                   const std::string& workflow_id) {
  return execution_locks_[HashOf(namespace_id, workflow_id) % execution_locks_.size()];
}

thread_local std::mutex* HistoryEngine::held_execution_lock = nullptr;

bool HistoryEngine::CanUpdateWithoutWaiting(const ExecutionKey& key) {
  if (!cache_->HasLatest(key)) return false;
  std::mutex& mutex = LockFor(key.namespace_id, key.workflow_id);
  if (held_execution_lock == &mutex) return true;
  std::unique_lock lock(mutex, std::try_to_lock);
  return lock.owns_lock();
}

bool HistoryEngine::OpenAndCached(const ExecutionKey& key) {
  return HoldsShard(ShardFor(key.namespace_id, key.workflow_id)) && cache_->DurableAndOpen(key);
}

namespace {

Status ExecutionNotFound(const ExecutionKey& key) {
  return NotFound("workflow execution not found for workflow ID \"" + key.workflow_id +
                  "\" and run ID \"" + key.run_id + "\"")
      .WithDetail(temporal::api::errordetails::v1::NotFoundFailure());
}

// `done` behind an exception barrier: if the continuation throws, its caller still hears
// (INTERNAL). Callers' answers ignore a second call.
template <typename Done, typename Fn>
void Answer(const char* what, const Done& done, Fn&& fn) {
  Status thrown = RunGuarded(what, std::forward<Fn>(fn));
  if (!thrown.ok()) done(thrown);
}

}  // namespace

Result<StoredExecution> HistoryEngine::Load(const ExecutionKey& key) {
  if (!HoldsShard(ShardFor(key.namespace_id, key.workflow_id))) {
    // Another node owns it: the database has its durable state, and nothing of it is cached
    // (it would go stale).
    auto loaded = store_.GetExecution(key);
    if (!loaded.ok() && loaded.status().code() == StatusCode::NOT_FOUND) {
      return ExecutionNotFound(key);
    }
    return loaded;
  }
  auto cached = cache_->GetDurable(key);
  metrics::CacheLookup(cached.has_value());
  if (cached) return std::move(*cached);
  return LoadFromStore(key);
}

Result<StoredExecution> HistoryEngine::LoadForUpdate(const ExecutionKey& key) {
  auto cached = cache_->GetLatest(key);
  metrics::CacheLookup(cached.has_value());
  if (cached) return std::move(*cached);
  // Not cached, so no commit of it is in flight: the store has the latest state.
  return LoadFromStore(key);
}

Result<StoredExecution> HistoryEngine::LoadFromStore(const ExecutionKey& key) {
  auto loaded = store_.GetExecution(key);
  if (!loaded.ok() && loaded.status().code() == StatusCode::NOT_FOUND) {
    return ExecutionNotFound(key);
  }
  EON_ASSIGN_OR_RETURN(auto stored, std::move(loaded));
  // Maybe read without the execution's lock: never replace a newer cached commit.
  cache_->Fill(key, stored);
  return stored;
}

void HistoryEngine::CommitAsync(std::shared_ptr<persistence::ExecutionWrite> write,
                                int64_t busy_before, std::function<void(Status)> then,
                                bool conflict_expected) {
  ExecutionKey key{write->state.namespace_id(), write->state.workflow_id(),
                   write->state.run_id()};
  if (!HoldsShard(write->shard_id) ||
      range_ids_[write->shard_id].load(std::memory_order_acquire) != write->range_id) {
    return then(NotHeldError(write->shard_id));
  }
  // A poll parked for a task this write schedules is given it in this commit: one commit, not a
  // second one to record the start.
  std::shared_ptr<StartedWithCommit> started = StartWithParkedPolls(*write);
  const int64_t version = write->expected_db_version + 1;
  // Updates that come next build on this one while it commits.
  const uint64_t generation = cache_->PutPending(key, StoredExecution{write->state, version});
  uint64_t new_run_generation = 0;
  if (write->new_run) {
    const auto& run = write->new_run->state;
    new_run_generation = cache_->PutPending({run.namespace_id(), run.workflow_id(), run.run_id()},
                                            StoredExecution{run, 1});
  }
  store_.CommitExecutionAsync(write, [this, write, key, version, generation, new_run_generation,
                                      busy_before, conflict_expected, started,
                                      then = std::move(then)](
                                         Status committed,
                                         std::vector<persistence::StoredTask> created) {
    // Claimed polls are answered after the caller, as a second commit recording their start
    // would have answered them (a worker hears its completion before its next task). Their
    // commit failed: they wait on their queues again.
    auto answer_claims = [&] {
      if (!started) return;
      if (!committed.ok()) return started->Release();
      for (const auto& activity : started->activities) {
        const int64_t scheduled_event_id = activity.first;
        auto answer = [claim = activity.second](Result<wfs::PollActivityTaskQueueResponse> r) {
          claim->Answer(std::move(r));
        };
        Answer("starting an activity task with its commit", answer, [&] {
          answer(
              ActivityTaskResponse(write->state, write->state.activities().at(scheduled_event_id)));
        });
      }
      if (!started->workflow) return;
      AnswerStartedWorkflowTask(
          key, write->state, started->queries,
          [claim = started->workflow](Result<wfs::PollWorkflowTaskQueueResponse> response) {
            claim->Answer(std::move(response));
          });
    };
    std::optional<ExecutionKey> new_key;
    if (write->new_run) {
      const auto& run = write->new_run->state;
      new_key = ExecutionKey{run.namespace_id(), run.workflow_id(), run.run_id()};
    }
    if (!committed.ok()) {
      cache_->Failed(key, generation);
      if (new_key) cache_->Failed(*new_key, new_run_generation);
      answer_claims();
      if (persistence::IsShardOwnershipLost(committed)) {
        metrics::Count("eon_fenced_writes_total",
                       "Writes refused because another node had taken their history shard "
                       "(range_id fencing); the first drops the shard here.",
                       {});
        LoseShard(write->shard_id, write->range_id);
        return then(ShardLostError(write->shard_id));
      }
      if (conflict_expected && committed.code() == StatusCode::ABORTED) return then(committed);
      LOG_WARN("commit of workflow " << key.workflow_id << " failed: " << committed.message());
      if (committed.code() == StatusCode::ABORTED) {
        then(Unavailable("workflow " + key.workflow_id + " changed concurrently; retry"));
      } else {
        then(std::move(committed));
      }
      return;
    }
    if (range_ids_[write->shard_id].load(std::memory_order_acquire) != write->range_id) {
      // Durable, but the shard was given up meanwhile: nothing of it stays cached here, and its
      // tasks are the new owner's (it loads them from the store).
      cache_->Failed(key, generation);
      if (new_key) cache_->Failed(*new_key, new_run_generation);
      NotifyWatchers(key.namespace_id, key.run_id, write->state, write->new_events);
      then(Status::Ok());
      return answer_claims();  // started durably: its history is read from the store
    }
    cache_->Committed(key, generation, StoredExecution{write->state, version}, write->new_events);
    if (new_key) {
      cache_->Committed(*new_key, new_run_generation, StoredExecution{write->new_run->state, 1},
                        write->new_run->new_events);
    }
    for (const auto& event : write->new_events) {
      if (IsCloseEvent(event.event_type())) {
        metrics::WorkflowClosed(
            namespace_name_ ? namespace_name_(key.namespace_id) : key.namespace_id,
            write->state.status());
        break;
      }
    }
    if (time_skipper_) {
      int64_t busy_after = BusyCount(write->state);
      if (write->new_run) busy_after += BusyCount(write->new_run->state);
      time_skipper_->AddBusy(busy_after - busy_before);
    }
    if (processors_) processors_->Add(created);
    NotifyWatchers(key.namespace_id, key.run_id, write->state, write->new_events);
    then(Status::Ok());
    answer_claims();
  });
}

Status HistoryEngine::Commit(persistence::ExecutionWrite& write, int64_t busy_before) {
  auto shared = std::make_shared<persistence::ExecutionWrite>(std::move(write));
  Status status = Await<Status>([&](auto done) { CommitAsync(shared, busy_before, done); });
  write = std::move(*shared);
  return status;
}

bool HistoryEngine::ShardLost(int32_t shard_id) const {
  return shard_lost_ && shard_lost_[shard_id].load(std::memory_order_acquire);
}

Status HistoryEngine::ShardLostError(int32_t shard_id) {
  return Unavailable("shard " + std::to_string(shard_id) +
                     " of this server was taken by another process; its executions are served "
                     "there now");
}

void HistoryEngine::LoseShard(int32_t shard_id, int64_t range_id) {
  // Only the holding of `range_id` is lost: a shard taken again since stays held.
  int64_t expected = range_id;
  if (!range_ids_[shard_id].compare_exchange_strong(expected, 0, std::memory_order_acq_rel)) {
    return;
  }
  shard_lost_[shard_id].store(true, std::memory_order_release);
  LOG_ERROR("shard " << shard_id
                     << " was taken by another process (its range_id moved on): this process "
                        "drops its cached executions and refuses updates to them");
  processors_->RemoveShard(shard_id);
  ForgetShard(shard_id);
  EndShardWaits(shard_id);
}

void HistoryEngine::MutateLockedAsync(const ExecutionKey& key, const MutateFn& fn,
                                      std::shared_ptr<const QueryResults> query_results,
                                      Then then) {
  const int32_t shard = ShardFor(key.namespace_id, key.workflow_id);
  if (!HoldsShard(shard)) return then(NotHeldError(shard), StoredExecution{});
  auto loaded = LoadForUpdate(key);
  if (!loaded.ok()) return then(loaded.status(), StoredExecution{});
  StoredExecution stored = std::move(*loaded);
  Mutation m{stored.state, clock_.Now()};
  Status applied = fn(m);
  if (!applied.ok()) return then(applied, StoredExecution{});
  if (!m.changed) return then(Status::Ok(), stored);
  EnforceHistoryLimits(m);
  if (retention_ && IsRunning(stored.state) && !IsRunning(m.state)) {
    // Closed now: it is deleted once the namespace's retention has passed.
    Duration keep = retention_(m.state.namespace_id());
    if (keep.count() > 0)
      m.AddTimer(eon::v1::HISTORY_TASK_TYPE_DELETE_EXECUTION, m.now + keep, 0, 0);
  }
  auto write = std::make_shared<persistence::ExecutionWrite>();
  write->shard_id = ShardFor(key.namespace_id, key.workflow_id);
  write->range_id = range_ids_[write->shard_id].load(std::memory_order_acquire);
  write->expected_db_version = stored.db_version;
  for (const auto& event : m.events)
    m.state.set_history_size_bytes(m.state.history_size_bytes() + event.ByteSizeLong());
  m.state.set_state_transition_count(m.state.state_transition_count() + 1);
  std::optional<RunSpec> next_run = std::move(m.next_run);
  std::shared_ptr<persistence::ExecutionWrite> prepared_run = std::move(m.prepared_run);
  write->state = std::move(m.state);
  write->new_events = std::move(m.events);
  write->new_tasks = std::move(m.tasks);
  WriteVisibilityWithCommit(*write);
  if (next_run) {
    if (next_run->inherit_input) {
      Status inherited = InheritInput(key, &*next_run);
      if (!inherited.ok()) return then(inherited, StoredExecution{});
    }
    Mutation first{{}, clock_.Now()};
    first.InitRun(*next_run, run_defaults());
    first.ScheduleFirstWorkflowTask();
    write->new_run =
        std::make_shared<persistence::ExecutionWrite>(NewRunWrite(std::move(first), key.run_id));
  }
  if (prepared_run) write->new_run = std::move(prepared_run);
  const int64_t version = stored.db_version + 1;
  CommitAsync(write, BusyCount(stored.state),
              [this, key, write, version, query_results, then = std::move(then)](Status committed) {
                if (!committed.ok()) return then(committed, StoredExecution{});
                // In commit order, so held queries see the changes in the order they were made.
                SettleQueries(key, write->state, query_results.get());
                then(Status::Ok(), StoredExecution{write->state, version});
              });
}

void HistoryEngine::MutateAsync(const ExecutionKey& key, const MutateFn& fn, Then then) {
  std::mutex& mutex = LockFor(key.namespace_id, key.workflow_id);
  if (held_execution_lock == &mutex) return MutateLockedAsync(key, fn, nullptr, std::move(then));
  std::lock_guard lock(mutex);
  MutateLockedAsync(key, fn, nullptr, std::move(then));
}

Status HistoryEngine::MutateLocked(const ExecutionKey& key, const MutateFn& fn,
                                   StoredExecution* after, const QueryResults* query_results) {
  std::shared_ptr<const QueryResults> results;
  if (query_results) results = std::make_shared<QueryResults>(*query_results);
  return Await<Status>([&](auto done) {
    MutateLockedAsync(key, fn, results, [after, done](Status status, const StoredExecution& s) {
      if (status.ok() && after) *after = s;
      done(std::move(status));
    });
  });
}

void HistoryEngine::SettleQueries(const ExecutionKey& key, const eon::v1::ExecutionState& state,
                                  const QueryResults* results) {
  if (!queries_->HasBuffered(key)) return;
  if (results) {
    for (const auto& [id, result] : *results) {
      QueryOutcome outcome;
      if (result.answer().ByteSizeLong() > static_cast<size_t>(options_.blob_size_limit_bytes)) {
        outcome.kind = QueryOutcome::Kind::kFailed;
        outcome.error = InvalidArgument("Query result size exceeds the limit of " +
                                        std::to_string(options_.blob_size_limit_bytes) + " bytes.");
      } else {
        outcome.kind = QueryOutcome::Kind::kAnswered;
        outcome.result = result;
      }
      queries_->Settle(key, id, std::move(outcome));
    }
  }
  // A held query waits only while a workflow task may still carry it.
  const bool completed_a_task = state.previous_started_event_id() != 0;
  const bool task_pending = state.workflow_task().scheduled_event_id() != 0;
  QueryOutcome outcome;
  if (!IsRunning(state) && !completed_a_task) {
    outcome.error = WorkflowNotReady("Workflow execution closed before WorkflowTaskStarted event");
  } else if (!IsRunning(state) || (completed_a_task && !task_pending)) {
    outcome.kind = QueryOutcome::Kind::kDispatchDirectly;
  } else {
    return;
  }
  queries_->SettleAll(key, outcome);
}

void HistoryEngine::EnforceHistoryLimits(Mutation& m) {
  if (!IsRunning(m.state)) return;
  int64_t size = m.state.history_size_bytes();
  for (const auto& event : m.events) size += static_cast<int64_t>(event.ByteSizeLong());
  const int64_t count = m.state.next_event_id() - 1;
  const bool over_count = count >= options_.history_count_limit;
  const bool over_size = size >= options_.history_size_limit_bytes;
  if (!over_count && !over_size) {
    const int64_t before = count - static_cast<int64_t>(m.events.size());
    if ((before < options_.history_count_warn && count >= options_.history_count_warn) ||
        (size - static_cast<int64_t>(m.events.size()) < options_.history_size_warn_bytes &&
         size >= options_.history_size_warn_bytes)) {
      LOG_WARN("workflow " << m.state.workflow_id() << " has a large history (" << count
                           << " events, " << size << " bytes); consider continue-as-new");
    }
    return;
  }
  // As Temporal does: a workflow whose history grew past the limit is terminated.
  if (m.WorkflowTaskStarted()) {
    m.FailWorkflowTask(enums::WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND, nullptr,
                       "history-service", /*reschedule=*/false);
  } else {
    m.FlushBuffered();
  }
  auto& event = m.AddEvent(enums::EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED);
  auto* a = event.mutable_workflow_execution_terminated_event_attributes();
  a->set_reason(over_count ? "Workflow history count exceeds limit."
                           : "Workflow history size exceeds limit.");
  a->set_identity("history-service");
  m.Close(enums::WORKFLOW_EXECUTION_STATUS_TERMINATED, event.event_id());
  LOG_WARN("workflow " << m.state.workflow_id() << " terminated: " << a->reason());
}

RunDefaults HistoryEngine::run_defaults() const {
  return {options_.default_workflow_task_timeout, options_.max_workflow_task_timeout};
}

persistence::ExecutionWrite HistoryEngine::NewRunWrite(Mutation m,
                                                       const std::string& expected_current) {
  persistence::ExecutionWrite write;
  write.shard_id = ShardFor(m.state.namespace_id(), m.state.workflow_id());
  write.range_id = range_ids_[write.shard_id].load(std::memory_order_acquire);
  write.expected_db_version = 0;
  write.expected_current_run_id = expected_current;
  for (const auto& event : m.events) {
    m.state.set_history_size_bytes(m.state.history_size_bytes() + event.ByteSizeLong());
  }
  m.state.set_state_transition_count(1);
  write.state = std::move(m.state);
  write.new_events = std::move(m.events);
  write.new_tasks = std::move(m.tasks);
  WriteVisibilityWithCommit(write);
  return write;
}

Status HistoryEngine::InheritInput(const ExecutionKey& previous, RunSpec* spec) {
  EON_ASSIGN_OR_RETURN(auto page, store_.ReadHistory(previous.namespace_id, previous.run_id, 1, 1));
  if (page.events.empty()) return Internal("run " + previous.run_id + " has no start event");
  const auto& started = page.events[0].workflow_execution_started_event_attributes();
  spec->input = started.input();
  spec->header = started.header();
  return Status::Ok();
}

Status HistoryEngine::Mutate(const ExecutionKey& key, const MutateFn& fn, StoredExecution* after) {
  std::lock_guard lock(LockFor(key.namespace_id, key.workflow_id));
  return MutateLocked(key, fn, after);
}

Result<std::string> HistoryEngine::CurrentRunId(const std::string& namespace_id,
                                                const std::string& workflow_id) {
  auto current = store_.GetCurrentExecution(namespace_id, workflow_id);
  if (!current.ok()) {
    if (current.status().code() == StatusCode::NOT_FOUND) {
      temporal::api::errordetails::v1::NotFoundFailure detail;
      return NotFound("workflow not found for ID: " + workflow_id).WithDetail(detail);
    }
    return current.status();
  }
  return current->run_id;
}

Result<ExecutionKey> HistoryEngine::ResolveKey(const std::string& namespace_id,
                                               const std::string& workflow_id,
                                               const std::string& run_id) {
  if (workflow_id.empty()) return InvalidArgument("WorkflowId is not set on request.");
  if (!run_id.empty()) return ExecutionKey{namespace_id, workflow_id, run_id};
  EON_ASSIGN_OR_RETURN(std::string current, CurrentRunId(namespace_id, workflow_id));
  return ExecutionKey{namespace_id, workflow_id, current};
}

// ---------------------------------------------------------------------------------------------
// Start

void HistoryEngine::StartWorkflowExecutionAsync(const std::string& namespace_id,
                                                const wfs::StartWorkflowExecutionRequest& request,
                                                std::function<void(Result<StartResult>)> done) {
  std::lock_guard lock(LockFor(namespace_id, request.workflow_id()));
  StartLockedAsync(namespace_id, request, nullptr, nullptr, std::move(done), /*guess_absent=*/true);
}

bool HistoryEngine::StartsWithoutWaiting(const std::string& namespace_id,
                                         const wfs::StartWorkflowExecutionRequest& request) {
  if (!request.search_attributes().indexed_fields().empty() ||
      !HoldsShard(ShardFor(namespace_id, request.workflow_id()))) {
    return false;
  }
  std::unique_lock lock(LockFor(namespace_id, request.workflow_id()), std::try_to_lock);
  if (!lock.owns_lock()) return false;
  std::lock_guard pending(pending_current_mutex_);
  return !pending_current_.contains(PendingKey(namespace_id, request.workflow_id()));
}

namespace {

// A workflow task token names the current task only if it names its attempt too: retries reuse
// the event ids of the attempt they replace.
bool TokenMatches(const eon::v1::WorkflowTaskInfo& wft, const eon::v1::TaskToken& token) {
  return wft.started_event_id() != 0 && wft.scheduled_event_id() == token.scheduled_event_id() &&
         wft.started_event_id() == token.started_event_id() && wft.attempt() == token.attempt();
}

// Whether a command sets search attributes (which are then checked against the registry).
bool SetsSearchAttributes(const wfs::RespondWorkflowTaskCompletedRequest& request) {
  for (const auto& c : request.commands()) {
    if (c.has_upsert_workflow_search_attributes_command_attributes() ||
        c.start_child_workflow_execution_command_attributes().has_search_attributes() ||
        c.continue_as_new_workflow_execution_command_attributes().has_search_attributes()) {
      return true;
    }
  }
  return false;
}

bool ClosedUnsuccessfully(enums::WorkflowExecutionStatus status) {
  return status == enums::WORKFLOW_EXECUTION_STATUS_FAILED ||
         status == enums::WORKFLOW_EXECUTION_STATUS_CANCELED ||
         status == enums::WORKFLOW_EXECUTION_STATUS_TERMINATED ||
         status == enums::WORKFLOW_EXECUTION_STATUS_TIMED_OUT;
}

}  // namespace

Result<persistence::CurrentExecution> HistoryEngine::CurrentForUpdate(
    const std::string& namespace_id, const std::string& workflow_id, bool guess_absent,
    bool* guessed) {
  std::optional<persistence::CurrentExecution> unconfirmed;
  {
    std::lock_guard lock(pending_current_mutex_);
    auto it = pending_current_.find(PendingKey(namespace_id, workflow_id));
    if (it != pending_current_.end()) {
      if (!it->second.guessed) return it->second.run;
      unconfirmed = it->second.run;
    }
  }
  if (guess_absent && !unconfirmed) {
    if (guessed) *guessed = true;
    return NotFound("workflow " + workflow_id + " has no current run (guessed, unread)");
  }
  auto stored = store_.GetCurrentExecution(namespace_id, workflow_id);
  // A start in flight that guessed there was no current run stands unless the store has one
  // (whose run that start's commit will then find, and fail on).
  if (unconfirmed && !stored.ok() && stored.status().code() == StatusCode::NOT_FOUND) {
    return *unconfirmed;
  }
  return stored;
}

Result<StartResult> HistoryEngine::StartLocked(const std::string& namespace_id,
                                               const wfs::StartWorkflowExecutionRequest& request,
                                               const Signal* signal,
                                               const eon::v1::ParentInfo* parent) {
  return Await<Result<StartResult>>(
      [&](auto done) { StartLockedAsync(namespace_id, request, signal, parent, done); });
}

void HistoryEngine::StartLockedAsync(const std::string& namespace_id,
                                     const wfs::StartWorkflowExecutionRequest& request,
                                     const Signal* signal, const eon::v1::ParentInfo* parent,
                                     std::function<void(Result<StartResult>)> done,
                                     bool guess_absent) {
  auto decided = DecideStartLocked(namespace_id, request, signal, parent, guess_absent);
  if (!decided.ok()) return done(decided.status());
  if (!decided->write) return done(decided->result);
  // Until the new run is durable, the next start of the workflow id (which waits for this
  // lock) sees it as the current run; readers see the durable state.
  const std::string pending_key = PendingKey(namespace_id, request.workflow_id());
  const std::string run_id = decided->result.run_id;
  const bool guessed = decided->guessed;
  {
    std::lock_guard lock(pending_current_mutex_);
    pending_current_[pending_key] = PendingStart{
        {run_id, enums::WORKFLOW_EXECUTION_STATUS_RUNNING, request.request_id()}, guessed};
  }
  // A guessed start that finds a current run after all is made again, reading it (then the id's
  // policies apply): off the committer, since it takes the lock and reads.
  std::function<void()> again;
  if (guessed) {
    again = [this, namespace_id, request, done] {
      task_executor_.Submit([this, namespace_id, request, done] {
        std::lock_guard lock(LockFor(namespace_id, request.workflow_id()));
        StartLockedAsync(namespace_id, request, nullptr, nullptr, done);
      });
    };
  }
  CommitAsync(
      std::move(decided->write), /*busy_before=*/0,
      [this, pending_key, run_id, result = decided->result, again = std::move(again),
       done = std::move(done)](Status committed) {
        {
          std::lock_guard lock(pending_current_mutex_);
          auto it = pending_current_.find(pending_key);
          if (it != pending_current_.end() && it->second.run.run_id == run_id)
            pending_current_.erase(it);
        }
        if (again && committed.code() == StatusCode::ABORTED) return again();
        if (!committed.ok()) return done(committed);
        done(result);
      },
      /*conflict_expected=*/guessed);
}

Result<HistoryEngine::StartDecision> HistoryEngine::DecideStartLocked(
    const std::string& namespace_id, const wfs::StartWorkflowExecutionRequest& request,
    const Signal* signal, const eon::v1::ParentInfo* parent, bool guess_absent) {
  const std::string& workflow_id = request.workflow_id();
  // A child's attributes were checked when its command was applied.
  if (parent == nullptr && !request.search_attributes().indexed_fields().empty()) {
    EON_ASSIGN_OR_RETURN(auto types, store_.SearchAttributes(namespace_id));
    EON_RETURN_IF_ERROR(visibility::ValidateSearchAttributes(request.search_attributes(), types));
  }
  std::string expected_current;
  bool guessed = false;
  auto current = CurrentForUpdate(namespace_id, workflow_id, guess_absent, &guessed);
  auto already_started = [&](const std::string& message) -> Status {
    temporal::api::errordetails::v1::WorkflowExecutionAlreadyStartedFailure detail;
    detail.set_start_request_id(current->create_request_id);
    detail.set_run_id(current->run_id);
    // The run may still be committing (pending_current_): its cached state names the chain.
    auto run = LoadForUpdate({namespace_id, workflow_id, current->run_id});
    if (run.ok()) detail.set_first_execution_run_id(run->state.first_execution_run_id());
    return AlreadyExists(message).WithDetail(detail);
  };
  if (current.ok()) {
    const std::string ids = "WorkflowId: " + workflow_id + ", RunId: " + current->run_id + ".";
    if (!request.request_id().empty() && current->create_request_id == request.request_id()) {
      // A retried request, answered as Temporal does.
      return StartDecision{{current->run_id, true, current->status}, nullptr};
    }
    if (current->status == enums::WORKFLOW_EXECUTION_STATUS_RUNNING) {
      const auto conflict = request.workflow_id_conflict_policy();
      if (conflict == enums::WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING) {
        return StartDecision{{current->run_id, false, current->status}, nullptr};
      }
      if (conflict == enums::WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING ||
          request.workflow_id_reuse_policy() ==
              enums::WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING) {
        wfs::TerminateWorkflowExecutionRequest terminate;
        terminate.set_reason("terminated by a new start of the workflow id");
        terminate.set_identity(request.identity());
        EON_RETURN_IF_ERROR(
            TerminateLocked({namespace_id, workflow_id, current->run_id}, terminate));
      } else {
        return already_started("Workflow execution is already running. " + ids);
      }
    } else {
      switch (request.workflow_id_reuse_policy()) {
        case enums::WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE:
          return already_started("Workflow execution already finished. " + ids +
                                 " Workflow Id reuse policy: reject duplicate "
                                 "workflow Id.");
        case enums::WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY:
          if (!ClosedUnsuccessfully(current->status)) {
            return already_started("Workflow execution already finished successfully. " + ids +
                                   " Workflow Id reuse policy: allow duplicate workflow Id if "
                                   "last run failed.");
          }
          break;
        default:
          break;
      }
    }
    expected_current = current->run_id;
  } else if (current.status().code() != StatusCode::NOT_FOUND) {
    return current.status();
  }

  RunSpec spec;
  spec.namespace_id = namespace_id;
  spec.workflow_id = workflow_id;
  spec.run_id = NewRunId(clock_.Now());
  spec.workflow_type = request.workflow_type().name();
  spec.task_queue = request.task_queue().name();
  spec.input = request.input();
  spec.header = request.header();
  spec.execution_timeout = FromProtoDuration(request.workflow_execution_timeout());
  spec.run_timeout = FromProtoDuration(request.workflow_run_timeout());
  spec.task_timeout = FromProtoDuration(request.workflow_task_timeout());
  spec.memo = request.memo();
  spec.search_attributes = request.search_attributes();
  if (request.has_retry_policy()) spec.retry_policy = request.retry_policy();
  spec.cron_schedule = request.cron_schedule();
  spec.identity = request.identity();
  spec.request_id = request.request_id();
  spec.first_workflow_task_backoff = FromProtoDuration(request.workflow_start_delay());
  if (parent) spec.parent = *parent;
  Mutation m{{}, clock_.Now()};
  if (!spec.cron_schedule.empty()) {
    // A cron workflow's first run waits for the schedule's first time.
    auto schedule = CronSchedule::Parse(spec.cron_schedule);
    if (!schedule.ok()) return schedule.status();
    TimePoint fire = schedule->Next(m.now);
    if (fire == TimePoint::max()) {
      return InvalidArgument("cron schedule \"" + spec.cron_schedule + "\" never fires");
    }
    spec.first_workflow_task_backoff = fire - m.now;
  }
  m.InitRun(spec, run_defaults());
  if (signal) AddSignal(m, *signal);
  m.ScheduleFirstWorkflowTask();
  return StartDecision{
      {spec.run_id, true, enums::WORKFLOW_EXECUTION_STATUS_RUNNING},
      std::make_shared<persistence::ExecutionWrite>(NewRunWrite(std::move(m), expected_current)),
      guessed};
}

// ---------------------------------------------------------------------------------------------
// Workflow tasks

void HistoryEngine::RecordWorkflowTaskStartedAsync(
    const eon::v1::QueueTask& task, const std::string& poll_request_id,
    const std::string& identity,
    std::function<void(Result<wfs::PollWorkflowTaskQueueResponse>)> done) {
  ExecutionKey key{task.namespace_id(), task.workflow_id(), task.run_id()};
  // The held queries this task carries: those held when it starts (taken under the execution's
  // lock). One held later, after a change this task does not show, waits for the next task.
  auto queries = std::make_shared<HeldQueries>();
  MutateAsync(
      key,
      [&](Mutation& m) -> Status {
        if (!IsRunning(m.state)) return WorkflowClosed();
        auto* wft = m.state.mutable_workflow_task();
        if (wft->scheduled_event_id() != task.scheduled_event_id()) {
          return NotFound("workflow task not found (it moved on)");
        }
        *queries = queries_->Buffered(key);
        if (wft->started_event_id() != 0) {
          if (wft->request_id() == poll_request_id) return Status::Ok();  // a retried poll
          return NotFound("workflow task already started");
        }
        MarkWorkflowTaskStarted(m, poll_request_id, identity);
        return Status::Ok();
      },
      [this, key, queries, done = std::move(done)](Status status, const StoredExecution& after) {
        if (!status.ok()) return done(status);
        AnswerStartedWorkflowTask(key, after.state, *queries, std::move(done));
      });
}

void HistoryEngine::MarkWorkflowTaskStarted(Mutation& m, const std::string& poll_request_id,
                                            const std::string& identity) {
  auto* wft = m.state.mutable_workflow_task();
  if (wft->transient()) {
    // No event: its id is reserved, and the poller gets the event made up (AddCachedTaskHistory).
    wft->set_started_event_id(wft->scheduled_event_id() + 1);
    *wft->mutable_started_time() = ToTimestamp(m.now);
    m.changed = true;
  } else {
    auto& event = m.AddEvent(enums::EVENT_TYPE_WORKFLOW_TASK_STARTED);
    auto* attrs = event.mutable_workflow_task_started_event_attributes();
    attrs->set_scheduled_event_id(wft->scheduled_event_id());
    attrs->set_identity(identity);
    attrs->set_request_id(poll_request_id);
    attrs->set_history_size_bytes(m.state.history_size_bytes());
    wft->set_started_event_id(event.event_id());
    *wft->mutable_started_time() = event.event_time();
  }
  wft->set_request_id(poll_request_id);
  wft->set_identity(identity);
  for (auto& [id, update] : *m.state.mutable_updates()) {
    if (update.stage() == eon::v1::UpdateInfo::STAGE_ADMITTED) {
      update.set_stage(eon::v1::UpdateInfo::STAGE_SENT);
    }
  }
  m.AddTimer(eon::v1::HISTORY_TASK_TYPE_WORKFLOW_TASK_TIMEOUT, m.now + WorkflowTaskTimeout(*wft),
             wft->scheduled_event_id(), wft->attempt(), enums::TIMEOUT_TYPE_START_TO_CLOSE);
}

void HistoryEngine::AnswerStartedWorkflowTask(
    const ExecutionKey& key, const eon::v1::ExecutionState& s, const HeldQueries& queries,
    std::function<void(Result<wfs::PollWorkflowTaskQueueResponse>)> done) {
  auto response =
      std::make_shared<wfs::PollWorkflowTaskQueueResponse>(WorkflowTaskResponse(s, queries));
  // Usually the events the task carries are still cached (those since the worker's last task,
  // or all of a short history): answered here, with no read and no thread hop.
  if (AddCachedTaskHistory(key, s, *response)) return done(std::move(*response));
  auto read = [this, s, response, done = std::move(done)] {
    Answer("recording a workflow task started", done,
           [&] { done(AddStoredTaskHistory(s, std::move(*response))); });
  };
  // A sticky task's few events are read here; the whole history may be long, so it is not read
  // on the store's committer thread.
  if (s.workflow_task().task_queue() != s.task_queue()) return read();
  task_executor_.Submit(std::move(read));
}

std::shared_ptr<HistoryEngine::StartedWithCommit> HistoryEngine::StartWithParkedPolls(
    persistence::ExecutionWrite& write) {
  if (!IsRunning(write.state)) return nullptr;
  const std::string namespace_id = write.state.namespace_id();
  std::shared_ptr<StartedWithCommit> started;
  // The state moves into `m` at the first claim; `state` is where it is.
  Mutation m{{}, clock_.Now()};
  auto state = [&]() -> const eon::v1::ExecutionState& { return started ? m.state : write.state; };
  auto first_claim = [&] {
    if (started) return;
    started = std::make_shared<StartedWithCommit>();
    m.state = std::move(write.state);
  };
  // The dispatch tasks of the tasks started here are not written: each task is started in this
  // commit, and its timers (written with it) move it on if its poller never answers. Nor are
  // their schedule-to-start timers scheduled in this commit (a sticky workflow task's, an
  // activity's): the task has started by the time they are durable, so they could only fire to
  // find nothing to do.
  struct Timer {
    eon::v1::HistoryTaskType type;
    int64_t event_id;
    int32_t attempt;
  };
  std::vector<Timer> moot_timers;
  for (auto task = write.new_tasks.begin(); task != write.new_tasks.end();) {
    if (task->category != persistence::TaskCategory::kTransfer) {
      ++task;
      continue;
    }
    const auto& dispatch = task->task;
    const auto& wft = state().workflow_task();
    bool taken = false;
    if (dispatch.type() == eon::v1::HISTORY_TASK_TYPE_DISPATCH_WORKFLOW_TASK &&
        dispatch.event_id() == wft.scheduled_event_id() && wft.started_event_id() == 0 &&
        !wft.transient()) {
      // A retry's (transient) task is left to the usual path: rare, and its events made up.
      auto claim = matching_.ClaimWorkflowPoll(
          {namespace_id, wft.task_queue(), eon::v1::TASK_QUEUE_KIND_WORKFLOW});
      if (claim) {
        // Before first_claim: `wft` refers into the state it moves.
        moot_timers.push_back({eon::v1::HISTORY_TASK_TYPE_WORKFLOW_TASK_TIMEOUT,
                               wft.scheduled_event_id(), wft.attempt()});
        first_claim();
        MarkWorkflowTaskStarted(m, claim->request_id, claim->identity);
        started->queries =
            queries_->Buffered({namespace_id, m.state.workflow_id(), m.state.run_id()});
        started->workflow = std::move(claim);
        taken = true;
      }
    } else if (dispatch.type() == eon::v1::HISTORY_TASK_TYPE_DISPATCH_ACTIVITY_TASK) {
      auto it = state().activities().find(dispatch.event_id());
      if (it != state().activities().end() && it->second.attempt() == dispatch.attempt() &&
          !it->second.has_started_time()) {
        auto claim = matching_.ClaimActivityPoll(
            {namespace_id, dispatch.task_queue(), eon::v1::TASK_QUEUE_KIND_ACTIVITY});
        if (claim) {
          first_claim();
          moot_timers.push_back({eon::v1::HISTORY_TASK_TYPE_ACTIVITY_TIMEOUT, dispatch.event_id(),
                                 dispatch.attempt()});
          auto& info = m.state.mutable_activities()->at(dispatch.event_id());
          m.StartActivity(info, claim->request_id, claim->identity, m.now);
          started->activities.emplace_back(dispatch.event_id(), std::move(claim));
          taken = true;
        }
      }
    }
    task = taken ? write.new_tasks.erase(task) : task + 1;
  }
  if (!started) return nullptr;
  std::erase_if(write.new_tasks, [&](const persistence::NewTask& task) {
    return task.category == persistence::TaskCategory::kTimer &&
           task.task.timeout_type() == enums::TIMEOUT_TYPE_SCHEDULE_TO_START &&
           std::any_of(moot_timers.begin(), moot_timers.end(), [&](const Timer& moot) {
             return task.task.type() == moot.type && task.task.event_id() == moot.event_id &&
                    task.task.attempt() == moot.attempt;
           });
  });
  for (auto& event : m.events) {
    m.state.set_history_size_bytes(m.state.history_size_bytes() + event.ByteSizeLong());
    write.new_events.push_back(std::move(event));
  }
  for (auto& task : m.tasks) write.new_tasks.push_back(std::move(task));
  write.state = std::move(m.state);
  return started;
}

wfs::PollWorkflowTaskQueueResponse HistoryEngine::WorkflowTaskResponse(
    const eon::v1::ExecutionState& s, const HeldQueries& queries) {
  const auto& wft = s.workflow_task();
  wfs::PollWorkflowTaskQueueResponse response;
  eon::v1::TaskToken token;
  token.set_kind(eon::v1::TASK_QUEUE_KIND_WORKFLOW);
  token.set_namespace_id(s.namespace_id());
  token.set_workflow_id(s.workflow_id());
  token.set_run_id(s.run_id());
  token.set_scheduled_event_id(wft.scheduled_event_id());
  token.set_started_event_id(wft.started_event_id());
  token.set_attempt(wft.attempt());
  response.set_task_token(token.SerializeAsString());
  response.mutable_workflow_execution()->set_workflow_id(s.workflow_id());
  response.mutable_workflow_execution()->set_run_id(s.run_id());
  response.mutable_workflow_type()->set_name(s.workflow_type());
  response.set_previous_started_event_id(s.previous_started_event_id());
  response.set_started_event_id(wft.started_event_id());
  response.set_attempt(wft.attempt());
  response.mutable_workflow_execution_task_queue()->set_name(s.task_queue());
  response.mutable_workflow_execution_task_queue()->set_kind(enums::TASK_QUEUE_KIND_NORMAL);
  *response.mutable_scheduled_time() = wft.scheduled_time();
  *response.mutable_started_time() = wft.started_time();
  // Updates travel as protocol messages, sequenced just before the task's started event. One sent
  // in an earlier task that failed or timed out goes again.
  for (const auto& [id, update] : s.updates()) {
    if (update.stage() != eon::v1::UpdateInfo::STAGE_SENT) continue;
    auto* message = response.add_messages();
    message->set_id(id + "/request");
    message->set_protocol_instance_id(id);
    message->set_event_id(wft.started_event_id() - 1);
    message->mutable_body()->PackFrom(update.request());
  }
  // Held queries ride on this task: the worker answers them after applying its new events.
  for (const auto& [id, query] : queries) (*response.mutable_queries())[id] = query;
  return response;
}

// The first event a workflow task carries: a sticky worker has the workflow cached and gets only
// what happened since its last task.
static int64_t FirstEventOfTask(const eon::v1::ExecutionState& s) {
  const bool sticky = s.workflow_task().task_queue() != s.task_queue();
  return sticky ? s.previous_started_event_id() + 1 : 1;
}

bool HistoryEngine::AddCachedTaskHistory(const ExecutionKey& key, const eon::v1::ExecutionState& s,
                                         wfs::PollWorkflowTaskQueueResponse& response) {
  if (!cache_->CopyEvents(key, FirstEventOfTask(s), s.workflow_task().started_event_id(),
                          options_.history_page_size_max,
                          response.mutable_history()->mutable_events())) {
    return false;
  }
  AppendTransientWorkflowTaskEvents(s, response.mutable_history());
  return true;
}

Result<wfs::PollWorkflowTaskQueueResponse> HistoryEngine::AddStoredTaskHistory(
    const eon::v1::ExecutionState& s, wfs::PollWorkflowTaskQueueResponse response) {
  const int64_t started_event_id = s.workflow_task().started_event_id();
  EON_ASSIGN_OR_RETURN(auto page,
                       store_.ReadHistory(s.namespace_id(), s.run_id(), FirstEventOfTask(s),
                                          options_.history_page_size_max));
  for (auto& event : page.events) {
    if (event.event_id() > started_event_id) break;
    *response.mutable_history()->add_events() = std::move(event);
  }
  if (page.next_event_id != 0 && page.next_event_id <= started_event_id) {
    eon::v1::HistoryPageToken next;
    next.set_run_id(s.run_id());
    next.set_next_event_id(page.next_event_id);
    response.set_next_page_token(next.SerializeAsString());
  } else {
    AppendTransientWorkflowTaskEvents(s, response.mutable_history());
  }
  return response;
}

void HistoryEngine::RespondWorkflowTaskCompletedAsync(
    const eon::v1::TaskToken& token, const wfs::RespondWorkflowTaskCompletedRequest& request,
    std::function<void(Result<wfs::RespondWorkflowTaskCompletedResponse>)> done) {
  ExecutionKey key{token.namespace_id(), token.workflow_id(), token.run_id()};
  auto outcome_ptr = std::make_shared<CommandOutcome>();
  CommandOutcome& outcome = *outcome_ptr;
  std::shared_ptr<const QueryResults> query_results;
  if (!request.query_results().empty()) {
    query_results = std::make_shared<QueryResults>(request.query_results());
  }
  std::lock_guard lock(LockFor(key.namespace_id, key.workflow_id));
  MutateLockedAsync(
      key,
      [&](Mutation& m) -> Status {
        if (!IsRunning(m.state)) return WorkflowClosed();
        const auto wft = m.state.workflow_task();
        if (!TokenMatches(wft, token)) return NotFound("Workflow task not found.");
        const Mutation before = m;

        if (wft.transient()) m.WriteTransientWorkflowTaskEvents();
        auto& completed = m.AddEvent(enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
        auto* c = completed.mutable_workflow_task_completed_event_attributes();
        c->set_scheduled_event_id(wft.scheduled_event_id());
        c->set_started_event_id(wft.started_event_id());
        c->set_identity(request.identity());
        c->set_binary_checksum(request.binary_checksum());
        *c->mutable_sdk_metadata() = request.sdk_metadata();
        *c->mutable_metering_metadata() = request.metering_metadata();
        m.state.set_previous_started_event_id(wft.started_event_id());
        m.state.clear_workflow_task();
        const auto& sticky = request.sticky_attributes();
        if (!sticky.worker_task_queue().name().empty() &&
            sticky.worker_task_queue().name() != m.state.task_queue()) {
          m.state.set_sticky_task_queue(sticky.worker_task_queue().name());
          Duration timeout = FromProtoDuration(sticky.schedule_to_start_timeout());
          if (timeout.count() <= 0) timeout = options_.default_sticky_schedule_to_start_timeout;
          *m.state.mutable_sticky_schedule_to_start_timeout() = ToProtoDuration(timeout);
        } else {
          m.ClearSticky();
        }

        CommandLimits limits;
        limits.eager_activities_max = options_.eager_activities_max;
        limits.pending_activities_max = options_.pending_activities_max;
        limits.pending_children_max = options_.pending_children_max;
        limits.pending_external_requests_max = options_.pending_external_requests_max;
        limits.blob_size_limit_bytes = options_.blob_size_limit_bytes;
        limits.namespace_name = namespace_name_ ? namespace_name_(m.state.namespace_id()) : "";
        limits.clock = &clock_;
        if (SetsSearchAttributes(request)) {
          EON_ASSIGN_OR_RETURN(limits.search_attribute_types,
                               store_.SearchAttributes(m.state.namespace_id()));
        }
        outcome = ApplyCommands(m, request, completed.event_id(), limits);
        if (!outcome.ok()) {
          // All or nothing: drop what the commands did and fail the task instead. With
          // UNHANDLED_COMMAND the buffered events get written and the next task is attempt 1.
          m = before;
          failure::Failure why;
          why.set_message(outcome.message);
          m.FailWorkflowTask(outcome.cause, &why, request.identity(), /*reschedule=*/true);
          return Status::Ok();
        }
        if (outcome.closed) return Status::Ok();
        const bool flushed = m.FlushBuffered();
        bool updates_waiting = false;
        for (const auto& [id, update] : m.state.updates()) {
          if (update.stage() == eon::v1::UpdateInfo::STAGE_ADMITTED) updates_waiting = true;
        }
        if (flushed || outcome.new_events_for_workflow || updates_waiting ||
            request.force_create_new_workflow_task()) {
          m.ScheduleWorkflowTask(1);
        }
        return Status::Ok();
      },
      query_results,
      [this, outcome_ptr, done = std::move(done)](Status status, const StoredExecution& after) {
        if (!status.ok()) return done(status);
        if (!outcome_ptr->ok()) return done(InvalidArgument(outcome_ptr->message));
        Answer("completing a workflow task", done, [&] {
          wfs::RespondWorkflowTaskCompletedResponse response;
          for (int64_t scheduled_id : outcome_ptr->eager_activities) {
            *response.add_activity_tasks() =
                ActivityTaskResponse(after.state, after.state.activities().at(scheduled_id));
          }
          done(std::move(response));
        });
      });
}

void HistoryEngine::RespondWorkflowTaskFailedAsync(
    const eon::v1::TaskToken& token, const wfs::RespondWorkflowTaskFailedRequest& request,
    std::function<void(Status)> done) {
  ExecutionKey key{token.namespace_id(), token.workflow_id(), token.run_id()};
  MutateAsync(
      key,
      [&](Mutation& m) -> Status {
        if (!IsRunning(m.state)) return WorkflowClosed();
        const auto& wft = m.state.workflow_task();
        if (!TokenMatches(wft, token)) return NotFound("Workflow task not found.");
        m.FailWorkflowTask(request.cause(), &request.failure(), request.identity(),
                           /*reschedule=*/true);
        return Status::Ok();
      },
      StatusOnly(std::move(done)));
}

// ---------------------------------------------------------------------------------------------
// Activities

void HistoryEngine::RecordActivityTaskStartedAsync(
    const eon::v1::QueueTask& task, const std::string& poll_request_id,
    const std::string& identity,
    std::function<void(Result<wfs::PollActivityTaskQueueResponse>)> done) {
  ExecutionKey key{task.namespace_id(), task.workflow_id(), task.run_id()};
  const int64_t scheduled_event_id = task.scheduled_event_id();
  MutateAsync(
      key,
      [&](Mutation& m) -> Status {
        if (!IsRunning(m.state)) return WorkflowClosed();
        auto it = m.state.mutable_activities()->find(task.scheduled_event_id());
        if (it == m.state.mutable_activities()->end() || it->second.attempt() != task.attempt()) {
          return NotFound("activity task not found (it moved on)");
        }
        auto& info = it->second;
        if (info.has_started_time()) {
          if (info.request_id() == poll_request_id) return Status::Ok();
          return NotFound("activity task already started");
        }
        m.StartActivity(info, poll_request_id, identity, m.now);
        return Status::Ok();
      },
      [this, scheduled_event_id, done = std::move(done)](Status status,
                                                         const StoredExecution& after) {
        if (!status.ok()) return done(status);
        Answer("recording an activity task started", done, [&] {
          done(ActivityTaskResponse(after.state, after.state.activities().at(scheduled_event_id)));
        });
      });
}

void HistoryEngine::RespondActivityTaskCompletedAsync(const eon::v1::TaskToken& token,
                                                      const common::Payloads& result,
                                                      const std::string& identity,
                                                      std::function<void(Status)> done) {
  ExecutionKey key{token.namespace_id(), token.workflow_id(), token.run_id()};
  MutateAsync(key, [&](Mutation& m) -> Status {
    EON_ASSIGN_OR_RETURN(auto* info, StartedActivity(m.state, token));
    m.CloseActivity(*info, enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
                    [&](hist::HistoryEvent& event, int64_t started_id) {
                      auto* a = event.mutable_activity_task_completed_event_attributes();
                      *a->mutable_result() = result;
                      a->set_scheduled_event_id(info->scheduled_event_id());
                      a->set_started_event_id(started_id);
                      a->set_identity(identity);
                    });
    return Status::Ok();
  }, StatusOnly(std::move(done)));
}

void HistoryEngine::RespondActivityTaskFailedAsync(const eon::v1::TaskToken& token,
                                                   const failure::Failure& f,
                                                   const common::Payloads* last_heartbeat,
                                                   const std::string& identity,
                                                   std::function<void(Status)> done) {
  ExecutionKey key{token.namespace_id(), token.workflow_id(), token.run_id()};
  MutateAsync(
      key,
      [&](Mutation& m) -> Status {
        EON_ASSIGN_OR_RETURN(auto* info, StartedActivity(m.state, token));
        if (last_heartbeat) *info->mutable_heartbeat_details() = *last_heartbeat;
        enums::RetryState retry_state;
        Duration delay{};
        if (ShouldRetry(*info, f, m.now, &retry_state, &delay)) {
          m.RetryActivity(*info, f, delay);
          return Status::Ok();
        }
        m.CloseActivity(*info, enums::EVENT_TYPE_ACTIVITY_TASK_FAILED,
                        [&](hist::HistoryEvent& event, int64_t started_id) {
                          auto* a = event.mutable_activity_task_failed_event_attributes();
                          *a->mutable_failure() = f;
                          a->set_scheduled_event_id(info->scheduled_event_id());
                          a->set_started_event_id(started_id);
                          a->set_identity(identity);
                          a->set_retry_state(retry_state);
                        });
        return Status::Ok();
      },
      StatusOnly(std::move(done)));
}

void HistoryEngine::RespondActivityTaskCanceledAsync(const eon::v1::TaskToken& token,
                                                     const common::Payloads& details,
                                                     const std::string& identity,
                                                     std::function<void(Status)> done) {
  ExecutionKey key{token.namespace_id(), token.workflow_id(), token.run_id()};
  MutateAsync(
      key,
      [&](Mutation& m) -> Status {
        EON_ASSIGN_OR_RETURN(auto* info, StartedActivity(m.state, token));
        m.CloseActivity(
            *info, enums::EVENT_TYPE_ACTIVITY_TASK_CANCELED,
            [&](hist::HistoryEvent& event, int64_t started_id) {
              auto* a = event.mutable_activity_task_canceled_event_attributes();
              *a->mutable_details() = details;
              a->set_latest_cancel_requested_event_id(info->cancel_requested_event_id());
              a->set_scheduled_event_id(info->scheduled_event_id());
              a->set_started_event_id(started_id);
              a->set_identity(identity);
            });
        return Status::Ok();
      },
      StatusOnly(std::move(done)));
}

Result<eon::v1::TaskToken> HistoryEngine::ActivityTokenById(const std::string& namespace_id,
                                                            const std::string& workflow_id,
                                                            const std::string& run_id,
                                                            const std::string& activity_id) {
  if (activity_id.empty()) return InvalidArgument("ActivityId is not set on request.");
  EON_ASSIGN_OR_RETURN(auto key, ResolveKey(namespace_id, workflow_id, run_id));
  auto stored = Load(key);
  if (!stored.ok()) return stored.status();
  if (!IsRunning(stored->state)) return WorkflowClosed();
  for (const auto& [scheduled_id, info] : stored->state.activities()) {
    if (info.activity_id() != activity_id) continue;
    eon::v1::TaskToken token;
    token.set_kind(eon::v1::TASK_QUEUE_KIND_ACTIVITY);
    token.set_namespace_id(namespace_id);
    token.set_workflow_id(key.workflow_id);
    token.set_run_id(key.run_id);
    token.set_scheduled_event_id(scheduled_id);
    token.set_attempt(info.attempt());
    token.set_activity_id(activity_id);
    return token;
  }
  return NotFound("cannot find pending activity with ActivityID " + activity_id +
                  ", check workflow execution history for more details");
}

void HistoryEngine::RecordActivityTaskHeartbeatAsync(const eon::v1::TaskToken& token,
                                                     const common::Payloads& details,
                                                     const std::string& identity,
                                                     std::function<void(Result<bool>)> done) {
  ExecutionKey key{token.namespace_id(), token.workflow_id(), token.run_id()};
  MutateAsync(
      key,
      [&](Mutation& m) -> Status {
        EON_ASSIGN_OR_RETURN(auto* info, StartedActivity(m.state, token));
        *info->mutable_heartbeat_details() = details;
        *info->mutable_last_heartbeat_time() = ToTimestamp(m.now);
        m.changed = true;
        return Status::Ok();
      },
      // Whether the workflow asked to cancel the activity, in the state the heartbeat wrote.
      [id = token.scheduled_event_id(), done = std::move(done)](Status status,
                                                                const StoredExecution& after) {
        if (!status.ok()) return done(status);
        auto it = after.state.activities().find(id);
        done(it != after.state.activities().end() && it->second.cancel_requested());
      });
}

// ---------------------------------------------------------------------------------------------
// Terminate, describe, history

void HistoryEngine::TerminateWorkflowExecutionAsync(
    const std::string& namespace_id, const wfs::TerminateWorkflowExecutionRequest& request,
    std::function<void(Status)> done) {
  const auto& execution = request.workflow_execution();
  auto key = ResolveKey(namespace_id, execution.workflow_id(), execution.run_id());
  if (!key.ok()) return done(key.status());
  MutateAsync(*key, TerminateFn(request), StatusOnly(std::move(done)));
}

Status HistoryEngine::DeleteWorkflowExecution(const std::string& namespace_id,
                                              const common::WorkflowExecution& execution) {
  EON_ASSIGN_OR_RETURN(auto key,
                       ResolveKey(namespace_id, execution.workflow_id(), execution.run_id()));
  std::lock_guard lock(LockFor(key.namespace_id, key.workflow_id));
  EON_ASSIGN_OR_RETURN(auto stored, Load(key));
  if (IsRunning(stored.state)) {
    wfs::TerminateWorkflowExecutionRequest terminate;
    terminate.set_reason("Delete workflow execution");
    terminate.set_identity("history-service");
    EON_RETURN_IF_ERROR(TerminateLocked(key, terminate));
  }
  EON_RETURN_IF_ERROR(store_.DeleteExecution(key));
  cache_->Erase(key);
  return Status::Ok();
}

HistoryEngine::MutateFn HistoryEngine::TerminateFn(
    const wfs::TerminateWorkflowExecutionRequest& request) {
  return [&request](Mutation& m) -> Status {
    if (!IsRunning(m.state)) return WorkflowClosed();
    if (!request.first_execution_run_id().empty() &&
        request.first_execution_run_id() != m.state.first_execution_run_id()) {
      return NotFound("workflow execution not found for the given first execution run id");
    }
    m.Terminate(request.reason(), &request.details(), request.identity());
    return Status::Ok();
  };
}

Status HistoryEngine::TerminateLocked(const ExecutionKey& key,
                                      const wfs::TerminateWorkflowExecutionRequest& request) {
  return MutateLocked(key, TerminateFn(request), nullptr);
}

void HistoryEngine::AddSignal(Mutation& m, const Signal& signal) {
  auto& event = m.AddExternalEvent(enums::EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED);
  auto* a = event.mutable_workflow_execution_signaled_event_attributes();
  a->set_signal_name(signal.name);
  *a->mutable_input() = signal.input;
  a->set_identity(signal.identity);
  *a->mutable_header() = signal.header;
  if (!signal.external.workflow_id().empty()) {
    *a->mutable_external_workflow_execution() = signal.external;
  }
  if (!signal.request_id.empty()) {
    auto* ids = m.state.mutable_signal_request_ids();
    ids->Add(std::string(signal.request_id));
    if (ids->size() > options_.signal_request_ids_max) ids->DeleteSubrange(0, 1);
  }
}

void HistoryEngine::SignalWorkflowExecutionAsync(const std::string& namespace_id,
                                                 const wfs::SignalWorkflowExecutionRequest& request,
                                                 std::function<void(Status)> done) {
  const auto& execution = request.workflow_execution();
  auto key = ResolveKey(namespace_id, execution.workflow_id(), execution.run_id());
  if (!key.ok()) return done(key.status());
  Signal signal{request.signal_name(), request.input(), request.identity(), request.header(),
                request.request_id()};
  MutateAsync(*key, SignalFn(signal), StatusOnly(std::move(done)));
}

Status HistoryEngine::SignalLocked(const ExecutionKey& key, const Signal& signal) {
  return MutateLocked(key, SignalFn(signal), nullptr);
}

HistoryEngine::MutateFn HistoryEngine::SignalFn(const Signal& signal) {
  return
      [this, &signal](Mutation& m) -> Status {
        if (!IsRunning(m.state)) return WorkflowClosed();
        for (const auto& seen : m.state.signal_request_ids()) {
          if (!signal.request_id.empty() && seen == signal.request_id) return Status::Ok();
        }
        if (m.state.signal_count() >= options_.pending_signals_max) {
          return Status(StatusCode::RESOURCE_EXHAUSTED,
                        "the workflow has received the maximum number of signals (" +
                            std::to_string(options_.pending_signals_max) + ")");
        }
        m.state.set_signal_count(m.state.signal_count() + 1);
        AddSignal(m, signal);
        m.EnsureWorkflowTask();
        return Status::Ok();
      };
}

void HistoryEngine::SignalWithStartWorkflowExecutionAsync(
    const std::string& namespace_id, const wfs::SignalWithStartWorkflowExecutionRequest& request,
    std::function<void(Result<StartResult>)> done) {
  Signal signal{request.signal_name(), request.signal_input(), request.identity(), request.header(),
                request.request_id()};
  std::lock_guard lock(LockFor(namespace_id, request.workflow_id()));
  auto current = CurrentForUpdate(namespace_id, request.workflow_id());
  if (current.ok() && current->status == enums::WORKFLOW_EXECUTION_STATUS_RUNNING &&
      request.workflow_id_conflict_policy() !=
          enums::WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING) {
    StartResult result{current->run_id, false, current->status};
    MutateLockedAsync({namespace_id, request.workflow_id(), current->run_id}, SignalFn(signal),
                      nullptr,
                      [result, done = std::move(done)](Status status, const StoredExecution&) {
                        if (!status.ok()) return done(status);
                        done(result);
                      });
    return;
  }
  wfs::StartWorkflowExecutionRequest start;
  start.set_namespace_(request.namespace_());
  start.set_workflow_id(request.workflow_id());
  *start.mutable_workflow_type() = request.workflow_type();
  *start.mutable_task_queue() = request.task_queue();
  *start.mutable_input() = request.input();
  *start.mutable_workflow_execution_timeout() = request.workflow_execution_timeout();
  *start.mutable_workflow_run_timeout() = request.workflow_run_timeout();
  *start.mutable_workflow_task_timeout() = request.workflow_task_timeout();
  start.set_identity(request.identity());
  start.set_request_id(request.request_id());
  start.set_workflow_id_reuse_policy(request.workflow_id_reuse_policy());
  start.set_workflow_id_conflict_policy(request.workflow_id_conflict_policy());
  if (request.has_retry_policy()) *start.mutable_retry_policy() = request.retry_policy();
  start.set_cron_schedule(request.cron_schedule());
  *start.mutable_memo() = request.memo();
  *start.mutable_search_attributes() = request.search_attributes();
  *start.mutable_header() = request.header();
  *start.mutable_workflow_start_delay() = request.workflow_start_delay();
  StartLockedAsync(namespace_id, start, &signal, nullptr, std::move(done));
}

namespace {

using UpdateStage = temporal::api::enums::v1::UpdateWorkflowExecutionLifecycleStage;

// Temporal's answer to an update that was not accepted when its run went on to a new one
// (continue-as-new, retry, cron): retryable, so the client sends it again and, addressed by
// workflow id only, it lands on the new run.
Status WorkflowClosing() {
  temporal::api::errordetails::v1::ResourceExhaustedFailure detail;
  detail.set_cause(enums::RESOURCE_EXHAUSTED_CAUSE_BUSY_WORKFLOW);
  detail.set_scope(enums::RESOURCE_EXHAUSTED_SCOPE_NAMESPACE);
  return Status(StatusCode::RESOURCE_EXHAUSTED,
                "workflow operation can not be applied because workflow is closing")
      .WithDetail(detail);
}

// The update's stage as callers see it, with the outcome once there is one. A closed run ends
// what its updates were waiting for, as Temporal's registry abort does: an accepted update fails
// (AcceptedUpdateCompletedWorkflow); one not yet accepted gets the retryable "workflow is
// closing" when a new run followed, else NOT_FOUND "aborted by closing workflow".
Result<UpdateStatus> StatusOf(const eon::v1::ExecutionState& s, const ExecutionKey& key,
                              const eon::v1::UpdateInfo& update) {
  UpdateStatus status;
  status.key = key;
  switch (update.stage()) {
    case eon::v1::UpdateInfo::STAGE_COMPLETED:
    case eon::v1::UpdateInfo::STAGE_REJECTED:
      status.stage = enums::UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED;
      status.outcome = update.outcome();
      return status;
    case eon::v1::UpdateInfo::STAGE_ACCEPTED:
      if (!IsRunning(s)) {
        status.stage = enums::UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED;
        auto* why = status.outcome.emplace().mutable_failure();
        why->set_message(
            "Workflow Update failed because the Workflow completed before the Update completed.");
        why->set_source("Server");
        why->mutable_application_failure_info()->set_type("AcceptedUpdateCompletedWorkflow");
        why->mutable_application_failure_info()->set_non_retryable(true);
        return status;
      }
      status.stage = enums::UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED;
      return status;
    default:
      if (!IsRunning(s)) {
        if (!s.new_execution_run_id().empty()) return WorkflowClosing();
        return NotFound("workflow update was aborted by closing workflow");
      }
      status.stage = enums::UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED;
      return status;
  }
}

}  // namespace

Result<UpdateStatus> HistoryEngine::AdmitUpdate(
    const std::string& namespace_id, const wfs::UpdateWorkflowExecutionRequest& request) {
  const auto& execution = request.workflow_execution();
  EON_ASSIGN_OR_RETURN(auto key,
                       ResolveKey(namespace_id, execution.workflow_id(), execution.run_id()));
  const std::string& update_id = request.request().meta().update_id();
  std::optional<Result<UpdateStatus>> answer;
  StoredExecution after;
  EON_RETURN_IF_ERROR(Mutate(
      key,
      [&](Mutation& m) -> Status {
        if (!request.first_execution_run_id().empty() &&
            request.first_execution_run_id() != m.state.first_execution_run_id()) {
          return NotFound("workflow execution not found");
        }
        auto it = m.state.updates().find(update_id);
        const bool known = it != m.state.updates().end() &&
                           it->second.stage() != eon::v1::UpdateInfo::STAGE_REJECTED;
        if (!IsRunning(m.state)) {
          // A closed run answers only for updates it accepted; one it never accepted was
          // aborted by the close (its waiters were told) and is unknown now, as in Temporal once
          // its in-memory registry is gone.
          const bool accepted =
              known && (it->second.stage() == eon::v1::UpdateInfo::STAGE_ACCEPTED ||
                        it->second.stage() == eon::v1::UpdateInfo::STAGE_COMPLETED);
          return accepted ? Status::Ok() : WorkflowClosed();
        }
        if (known) return Status::Ok();  // the same update again: wait for it
        if (m.state.updates_size() >= options_.updates_max) {
          return Status(StatusCode::RESOURCE_EXHAUSTED,
                        "the workflow has received the maximum number of updates (" +
                            std::to_string(options_.updates_max) + ")");
        }
        eon::v1::UpdateInfo& update = (*m.state.mutable_updates())[update_id];
        update.Clear();
        update.set_update_id(update_id);
        *update.mutable_request() = request.request();
        update.set_stage(eon::v1::UpdateInfo::STAGE_ADMITTED);
        m.changed = true;
        m.EnsureWorkflowTask();
        return Status::Ok();
      },
      &after));
  return StatusOf(after.state, key, after.state.updates().at(update_id));
}

Result<UpdateStatus> HistoryEngine::UpdateState(const ExecutionKey& key,
                                                const std::string& update_id) {
  EON_ASSIGN_OR_RETURN(auto stored, Load(key));
  auto it = stored.state.updates().find(update_id);
  if (it == stored.state.updates().end()) {
    return NotFound("update \"" + update_id + "\" not found");
  }
  return StatusOf(stored.state, key, it->second);
}

Status HistoryEngine::UpsertVisibility(const eon::v1::HistoryTask& task) {
  auto stored = Load({task.namespace_id(), task.workflow_id(), task.run_id()});
  if (!stored.ok())
    return stored.status().code() == StatusCode::NOT_FOUND ? Status::Ok() : stored.status();
  EON_ASSIGN_OR_RETURN(auto types, store_.SearchAttributes(task.namespace_id()));
  return store_.UpsertVisibility(VisibilityRowOf(stored->state, types));
}

Result<QueryTarget> HistoryEngine::PrepareQuery(
    const std::string& namespace_id, const common::WorkflowExecution& execution,
    enums::QueryRejectCondition condition, const std::string& query_id,
    const temporal::api::query::v1::WorkflowQuery& query,
    std::chrono::system_clock::time_point deadline, QueryWaiter waiter) {
  EON_ASSIGN_OR_RETURN(auto key,
                       ResolveKey(namespace_id, execution.workflow_id(), execution.run_id()));
  // Under the lock: a query held now is seen by the next workflow task to start, and is let go
  // by the first change that leaves no task to carry it.
  // The latest state (commits in flight included): a change made before the query is what the
  // query must see, and the commit of any later change settles what is held here.
  std::lock_guard lock(LockFor(key.namespace_id, key.workflow_id));
  EON_ASSIGN_OR_RETURN(auto stored, LoadForUpdate(key));
  const auto& s = stored.state;
  QueryTarget target;
  target.key = key;
  target.normal_queue = s.task_queue();
  target.status = s.status();
  const bool running = IsRunning(s);
  switch (condition) {
    case enums::QUERY_REJECT_CONDITION_NOT_OPEN:
      target.rejected = !running;
      break;
    case enums::QUERY_REJECT_CONDITION_NOT_COMPLETED_CLEANLY:
      target.rejected = !running && s.status() != enums::WORKFLOW_EXECUTION_STATUS_COMPLETED;
      break;
    default:
      break;
  }
  if (target.rejected) return target;
  const bool completed_a_task = s.previous_started_event_id() != 0;
  const bool task_pending = s.workflow_task().scheduled_event_id() != 0;
  if (!running && !completed_a_task) {
    return WorkflowNotReady("Workflow execution closed before WorkflowTaskStarted event");
  }
  if (running && !task_pending && !completed_a_task) {
    // The first task waits for a start delay or backoff: wait for it only if it comes in time.
    Duration until_task = FromTimestamp(s.execution_time()) - clock_.Now();
    if (until_task > deadline - std::chrono::system_clock::now()) {
      return WorkflowNotReady("Workflow task is not scheduled yet.");
    }
  }
  if (running && s.workflow_task().attempt() >= kQueryFailingTaskAttempt) {
    return WorkflowNotReady("Unable to query workflow due to Workflow Task in failed state.");
  }
  if (completed_a_task && (!running || !task_pending)) {
    // Nothing came since the last task, or nothing can come: the worker may answer at once.
    if (running) {
      target.sticky_queue = s.sticky_task_queue();
      target.sticky_timeout = FromProtoDuration(s.sticky_schedule_to_start_timeout());
      if (target.sticky_timeout.count() <= 0) {
        target.sticky_timeout = options_.default_sticky_schedule_to_start_timeout;
      }
    }
    return target;
  }
  EON_RETURN_IF_ERROR(queries_->Buffer(key, query_id, query, std::move(waiter)));
  target.buffered = true;
  return target;
}

Result<wfs::PollWorkflowTaskQueueResponse> HistoryEngine::QueryTaskResponse(
    const eon::v1::QueueTask& task, const std::string& query_id,
    const temporal::api::query::v1::WorkflowQuery& query) {
  EON_ASSIGN_OR_RETURN(auto stored, Load({task.namespace_id(), task.workflow_id(), task.run_id()}));
  const auto& s = stored.state;
  eon::v1::TaskToken token;
  token.set_kind(eon::v1::TASK_QUEUE_KIND_WORKFLOW);
  token.set_namespace_id(s.namespace_id());
  token.set_workflow_id(s.workflow_id());
  token.set_run_id(s.run_id());
  token.set_query_id(query_id);
  wfs::PollWorkflowTaskQueueResponse response;
  response.set_task_token(token.SerializeAsString());
  response.mutable_workflow_execution()->set_workflow_id(s.workflow_id());
  response.mutable_workflow_execution()->set_run_id(s.run_id());
  response.mutable_workflow_type()->set_name(s.workflow_type());
  response.set_previous_started_event_id(s.previous_started_event_id());
  response.set_attempt(1);
  *response.mutable_workflow_execution_task_queue() = WorkflowTaskQueue(s, s.task_queue());
  response.mutable_history();  // present and empty: see the header
  *response.mutable_query() = query;
  *response.mutable_scheduled_time() = ToTimestamp(clock_.Now());
  *response.mutable_started_time() = response.scheduled_time();
  return response;
}

Status HistoryEngine::ResetStickyTaskQueue(const std::string& namespace_id,
                                           const common::WorkflowExecution& execution) {
  EON_ASSIGN_OR_RETURN(auto key,
                       ResolveKey(namespace_id, execution.workflow_id(), execution.run_id()));
  return Mutate(key, [&](Mutation& m) -> Status {
    if (!IsRunning(m.state)) return WorkflowClosed();
    if (!m.state.sticky_task_queue().empty()) m.ClearSticky();
    return Status::Ok();
  });
}

void HistoryEngine::RequestCancelWorkflowExecutionAsync(
    const std::string& namespace_id, const wfs::RequestCancelWorkflowExecutionRequest& request,
    std::function<void(Status)> done) {
  const auto& execution = request.workflow_execution();
  auto key = ResolveKey(namespace_id, execution.workflow_id(), execution.run_id());
  if (!key.ok()) return done(key.status());
  CancelRequest cancel{request.reason(), request.identity(), request.request_id(),
                       request.first_execution_run_id()};
  MutateAsync(*key, RequestCancelFn(cancel), StatusOnly(std::move(done)));
}

Status HistoryEngine::RequestCancelLocked(const ExecutionKey& key, const CancelRequest& request) {
  return MutateLocked(key, RequestCancelFn(request), nullptr);
}

HistoryEngine::MutateFn HistoryEngine::RequestCancelFn(const CancelRequest& request) {
  return
      [&request](Mutation& m) -> Status {
        if (!IsRunning(m.state)) return WorkflowClosed();
        if (!request.first_execution_run_id.empty() &&
            request.first_execution_run_id != m.state.first_execution_run_id()) {
          return NotFound("workflow execution not found for the given first execution run id");
        }
        // Asking again (a retried request, or another caller) changes nothing.
        if (m.state.cancel_requested()) return Status::Ok();
        auto& event = m.AddExternalEvent(enums::EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED);
        auto* a = event.mutable_workflow_execution_cancel_requested_event_attributes();
        a->set_cause(request.reason);
        a->set_identity(request.identity);
        if (request.external_initiated_event_id != 0) {
          a->set_external_initiated_event_id(request.external_initiated_event_id);
          *a->mutable_external_workflow_execution() = request.external_execution;
        }
        m.state.set_cancel_requested(true);
        m.state.set_cancel_request_id(request.request_id);
        m.EnsureWorkflowTask();
        return Status::Ok();
      };
}

Result<wfs::DescribeWorkflowExecutionResponse> HistoryEngine::DescribeWorkflowExecution(
    const std::string& namespace_id, const common::WorkflowExecution& execution) {
  EON_ASSIGN_OR_RETURN(auto key,
                       ResolveKey(namespace_id, execution.workflow_id(), execution.run_id()));
  auto stored = Load(key);
  if (!stored.ok()) return stored.status();
  const auto& s = stored->state;
  wfs::DescribeWorkflowExecutionResponse response;
  auto* config = response.mutable_execution_config();
  config->mutable_task_queue()->set_name(s.task_queue());
  config->mutable_task_queue()->set_kind(enums::TASK_QUEUE_KIND_NORMAL);
  *config->mutable_workflow_execution_timeout() = s.execution_timeout();
  *config->mutable_workflow_run_timeout() = s.run_timeout();
  *config->mutable_default_workflow_task_timeout() = s.task_timeout();
  *response.mutable_workflow_execution_info() = ExecutionInfo(s);
  for (const auto& [id, a] : s.activities()) {
    auto* p = response.add_pending_activities();
    p->set_activity_id(a.activity_id());
    *p->mutable_activity_type() = a.activity_type();
    p->set_state(a.cancel_requested()   ? enums::PENDING_ACTIVITY_STATE_CANCEL_REQUESTED
                 : a.has_started_time() ? enums::PENDING_ACTIVITY_STATE_STARTED
                                        : enums::PENDING_ACTIVITY_STATE_SCHEDULED);
    if (!a.has_started_time() && a.attempt() > 1) {
      *p->mutable_next_attempt_schedule_time() = a.current_attempt_scheduled_time();
    }
    if (a.has_heartbeat_details()) *p->mutable_heartbeat_details() = a.heartbeat_details();
    if (a.has_last_heartbeat_time()) *p->mutable_last_heartbeat_time() = a.last_heartbeat_time();
    if (a.has_started_time()) *p->mutable_last_started_time() = a.started_time();
    p->set_attempt(a.attempt());
    p->set_maximum_attempts(a.retry_policy().maximum_attempts());
    *p->mutable_scheduled_time() = a.current_attempt_scheduled_time();
    if (a.has_last_failure()) *p->mutable_last_failure() = a.last_failure();
    p->set_last_worker_identity(a.identity());
    if (a.has_schedule_to_close_timeout()) {
      *p->mutable_expiration_time() = ToTimestamp(FromTimestamp(a.scheduled_time()) +
                                                  FromProtoDuration(a.schedule_to_close_timeout()));
    }
  }
  for (const auto& [initiated_id, child] : s.children()) {
    auto* p = response.add_pending_children();
    p->set_workflow_id(child.workflow_id());
    p->set_run_id(child.run_id());
    p->set_workflow_type_name(child.workflow_type());
    p->set_initiated_id(initiated_id);
    p->set_parent_close_policy(child.parent_close_policy());
  }
  if (s.workflow_task().scheduled_event_id() != 0) {
    const auto& wft = s.workflow_task();
    auto* p = response.mutable_pending_workflow_task();
    p->set_state(wft.started_event_id() ? enums::PENDING_WORKFLOW_TASK_STATE_STARTED
                                        : enums::PENDING_WORKFLOW_TASK_STATE_SCHEDULED);
    *p->mutable_scheduled_time() = wft.scheduled_time();
    *p->mutable_original_scheduled_time() = wft.scheduled_time();
    if (wft.has_started_time()) *p->mutable_started_time() = wft.started_time();
    p->set_attempt(wft.attempt());
  }
  return response;
}

Result<wfs::GetWorkflowExecutionHistoryResponse> HistoryEngine::GetWorkflowExecutionHistory(
    const std::string& namespace_id, const wfs::GetWorkflowExecutionHistoryRequest& request,
    bool* at_end, std::string* run_id_out) {
  *at_end = false;
  const auto& execution = request.execution();
  eon::v1::HistoryPageToken token;
  EON_RETURN_IF_ERROR(DecodeMessagePageToken(request.next_page_token(), &token));
  std::string run_id = !token.run_id().empty() ? token.run_id() : execution.run_id();
  EON_ASSIGN_OR_RETURN(auto key, ResolveKey(namespace_id, execution.workflow_id(), run_id));
  *run_id_out = key.run_id;
  auto stored = Load(key);
  if (!stored.ok()) return stored.status();
  const auto& s = stored->state;
  wfs::GetWorkflowExecutionHistoryResponse response;
  eon::v1::HistoryPageToken next;
  next.set_run_id(key.run_id);

  if (request.history_event_filter_type() == enums::HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT) {
    if (IsRunning(s)) {
      *at_end = true;
      next.set_next_event_id(s.next_event_id());
      response.set_next_page_token(next.SerializeAsString());
      return response;
    }
    EON_ASSIGN_OR_RETURN(auto page,
                         store_.ReadHistory(namespace_id, key.run_id, s.completion_event_id(), 1));
    for (auto& event : page.events) *response.mutable_history()->add_events() = std::move(event);
    return response;
  }

  int64_t first = token.next_event_id() > 0 ? token.next_event_id() : 1;
  int page_size = request.maximum_page_size() > 0
                      ? std::min(request.maximum_page_size(), options_.history_page_size_max)
                      : options_.history_page_size_max;
  if (first >= s.next_event_id()) {
    // Nothing new yet.
    if (IsRunning(s)) {
      *at_end = true;
      next.set_next_event_id(first);
      response.set_next_page_token(next.SerializeAsString());
    }
    return response;
  }
  EON_ASSIGN_OR_RETURN(auto page, store_.ReadHistory(namespace_id, key.run_id, first, page_size));
  int64_t last = first - 1;
  for (auto& event : page.events) {
    last = event.event_id();
    *response.mutable_history()->add_events() = std::move(event);
  }
  if (page.next_event_id != 0) {
    next.set_next_event_id(page.next_event_id);
    response.set_next_page_token(next.SerializeAsString());
    return response;
  }
  AppendTransientWorkflowTaskEvents(s, response.mutable_history());
  if (request.wait_new_event() && IsRunning(s)) {
    // Long-polling readers continue from here once more events come.
    next.set_next_event_id(last + 1);
    response.set_next_page_token(next.SerializeAsString());
  }
  return response;
}

uint64_t HistoryEngine::WatchRun(const ExecutionKey& run, RunWatch fn, RunStatePredicate wanted,
                                 RunGone gone) {
  const int32_t shard = ShardFor(run.namespace_id, run.workflow_id);
  uint64_t id;
  {
    std::lock_guard lock(watchers_mutex_);
    id = next_watch_id_++;
    std::string key = run.namespace_id + "/" + run.run_id;
    watchers_[key].emplace(id, Watcher{std::move(fn), std::move(wanted), std::move(gone), shard});
    watch_keys_[id] = key;
  }
  // Registered first, checked second: a shard given up in between is seen here or its release
  // finds this watch (EndShardWaits runs after the shard stops being held).
  if (!HoldsShard(shard)) {
    std::optional<Watcher> ended;
    {
      std::lock_guard lock(watchers_mutex_);
      ended = TakeWatchLocked(id);
    }
    if (ended && ended->gone) ended->gone(NotHeldError(shard));
  }
  return id;
}

void HistoryEngine::EndShardWaits(int32_t shard_id) {
  // Queries held for a workflow task: the shard's next tasks start and complete elsewhere.
  QueryOutcome moved;
  moved.kind = QueryOutcome::Kind::kFailed;
  moved.error = NotHeldError(shard_id);
  queries_->SettleIf(
      [this, shard_id](const ExecutionKey& key) {
        return ShardFor(key.namespace_id, key.workflow_id) == shard_id;
      },
      moved);
  std::vector<RunGone> ended;
  {
    std::lock_guard lock(watchers_mutex_);
    for (auto run = watchers_.begin(); run != watchers_.end();) {
      for (auto w = run->second.begin(); w != run->second.end();) {
        if (w->second.shard != shard_id) {
          ++w;
          continue;
        }
        if (w->second.gone) ended.push_back(std::move(w->second.gone));
        watch_keys_.erase(w->first);
        w = run->second.erase(w);
      }
      run = run->second.empty() ? watchers_.erase(run) : std::next(run);
    }
  }
  if (ended.empty()) return;
  const Status status = NotHeldError(shard_id);
  for (auto& gone : ended) gone(status);
}

bool HistoryEngine::IsWatching(uint64_t id) {
  std::lock_guard lock(watchers_mutex_);
  return watch_keys_.count(id) > 0;
}

void HistoryEngine::Unwatch(uint64_t id) {
  std::lock_guard lock(watchers_mutex_);
  TakeWatchLocked(id);
}

std::optional<HistoryEngine::Watcher> HistoryEngine::TakeWatchLocked(uint64_t id) {
  auto it = watch_keys_.find(id);
  if (it == watch_keys_.end()) return std::nullopt;
  std::optional<Watcher> taken;
  auto run = watchers_.find(it->second);
  if (run != watchers_.end()) {
    if (auto w = run->second.find(id); w != run->second.end()) {
      taken = std::move(w->second);
      run->second.erase(w);
    }
    if (run->second.empty()) watchers_.erase(run);
  }
  watch_keys_.erase(it);
  return taken;
}

void HistoryEngine::NotifyWatchers(
    const std::string& namespace_id, const std::string& run_id,
    const eon::v1::ExecutionState& committed,
    const std::vector<temporal::api::history::v1::HistoryEvent>& new_events) {
  std::vector<RunWatch> fired;
  {
    std::lock_guard lock(watchers_mutex_);
    auto it = watchers_.find(namespace_id + "/" + run_id);
    if (it == watchers_.end()) return;
    auto& run = it->second;
    for (auto w = run.begin(); w != run.end();) {
      if (w->second.wanted && !w->second.wanted(committed)) {
        ++w;
        continue;
      }
      fired.push_back(std::move(w->second.fn));
      watch_keys_.erase(w->first);
      w = run.erase(w);
    }
    if (run.empty()) watchers_.erase(it);
  }
  for (auto& fn : fired) fn(committed, new_events);
}

// ---------------------------------------------------------------------------------------------
// Outbox

std::vector<ParkedTask> HistoryEngine::ParkedTasks() {
  return processors_ ? processors_->Parked() : std::vector<ParkedTask>{};
}

int HistoryEngine::RetryParkedTasks(const std::vector<int64_t>& task_ids) {
  return processors_ ? processors_->RetryParked(task_ids) : 0;
}

std::optional<HistoryEngine::Dispatch> HistoryEngine::DispatchOf(const eon::v1::HistoryTask& task,
                                                                 const eon::v1::ExecutionState& s) {
  bool current = false;
  Dispatch dispatch{
      {task.namespace_id(), task.task_queue(), eon::v1::TASK_QUEUE_KIND_UNSPECIFIED}, {}, false};
  switch (task.type()) {
    case eon::v1::HISTORY_TASK_TYPE_DISPATCH_WORKFLOW_TASK:
      current = IsRunning(s) && s.workflow_task().scheduled_event_id() == task.event_id() &&
                s.workflow_task().started_event_id() == 0;
      dispatch.queue.kind = eon::v1::TASK_QUEUE_KIND_WORKFLOW;
      break;
    case eon::v1::HISTORY_TASK_TYPE_DISPATCH_ACTIVITY_TASK: {
      auto it = s.activities().find(task.event_id());
      current = IsRunning(s) && it != s.activities().end() &&
                it->second.attempt() == task.attempt() && !it->second.has_started_time();
      dispatch.queue.kind = eon::v1::TASK_QUEUE_KIND_ACTIVITY;
      break;
    }
    default:
      LOG_ERROR("unknown transfer task type " << task.type());
      break;
  }
  if (!current) return std::nullopt;
  eon::v1::QueueTask& queue_task = dispatch.task;
  queue_task.set_namespace_id(task.namespace_id());
  queue_task.set_workflow_id(task.workflow_id());
  queue_task.set_run_id(task.run_id());
  queue_task.set_scheduled_event_id(task.event_id());
  queue_task.set_attempt(task.attempt());
  *queue_task.mutable_created_time() = ToTimestamp(clock_.Now());
  dispatch.sticky = task.type() == eon::v1::HISTORY_TASK_TYPE_DISPATCH_WORKFLOW_TASK &&
                    task.task_queue() != s.task_queue();
  if (dispatch.sticky) {
    // By then the sticky schedule-to-start timer has moved the task to the normal queue: a
    // sticky queue whose worker never comes back does not keep it forever.
    *queue_task.mutable_expire_time() =
        ToTimestamp(FromTimestamp(s.workflow_task().scheduled_time()) +
                    FromProtoDuration(s.sticky_schedule_to_start_timeout()));
  }
  return dispatch;
}

bool HistoryEngine::TryDispatchWithoutWaiting(const persistence::StoredTask& stored,
                                              std::function<void()> on_settled) {
  const auto& task = stored.task;
  if (task.type() != eon::v1::HISTORY_TASK_TYPE_DISPATCH_WORKFLOW_TASK &&
      task.type() != eon::v1::HISTORY_TASK_TYPE_DISPATCH_ACTIVITY_TASK) {
    return false;
  }
  // Nested (a store that commits on the caller's thread ran this from a commit made under
  // another dispatch's lock): the pool runs it.
  if (held_execution_lock != nullptr) return false;
  ExecutionKey key{task.namespace_id(), task.workflow_id(), task.run_id()};
  if (!HoldsShard(ShardFor(key.namespace_id, key.workflow_id))) return false;
  std::mutex& mutex = LockFor(key.namespace_id, key.workflow_id);
  std::unique_lock lock(mutex, std::try_to_lock);
  if (!lock.owns_lock()) return false;
  auto durable = cache_->GetDurable(key);
  if (!durable) return false;
  auto dispatch = DispatchOf(task, durable->state);
  if (!dispatch) {
    on_settled();
    return true;
  }
  // The poller's record-started runs inside TryHandToPoller, on this thread, and finds this
  // lock held by us (MutateAsync, CanUpdateWithoutWaiting) instead of waiting for it.
  HeldExecutionLock held(mutex);
  return matching_.TryHandToPoller(dispatch->queue, dispatch->task, std::move(on_settled));
}

void HistoryEngine::ProcessTransferTask(const persistence::StoredTask& stored,
                                        std::function<void()> on_settled, Done done) {
  const auto& task = stored.task;
  // Tasks that end without a dispatch: settled when they answer OK.
  auto settle = [on_settled, done](Status status) {
    if (status.ok()) on_settled();
    done(std::move(status));
  };
  switch (task.type()) {
    case eon::v1::HISTORY_TASK_TYPE_START_CHILD:
      return StartChild(task, std::move(settle));
    case eon::v1::HISTORY_TASK_TYPE_RECORD_CHILD_CLOSED:
      return RecordChildClosed(task, std::move(settle));
    case eon::v1::HISTORY_TASK_TYPE_PARENT_CLOSE_POLICY:
      return ApplyParentClosePolicy(task, std::move(settle));
    case eon::v1::HISTORY_TASK_TYPE_SIGNAL_EXTERNAL:
    case eon::v1::HISTORY_TASK_TYPE_CANCEL_EXTERNAL:
      return SignalOrCancelExternal(task, std::move(settle));
    case eon::v1::HISTORY_TASK_TYPE_UPSERT_VISIBILITY:
      return settle(UpsertVisibility(task));
    default:
      break;
  }
  ExecutionKey key{task.namespace_id(), task.workflow_id(), task.run_id()};
  auto execution = Load(key);
  if (!execution.ok()) {
    if (execution.status().code() == StatusCode::NOT_FOUND) {
      on_settled();
      return done(Status::Ok());
    }
    return done(execution.status());
  }
  auto dispatch = DispatchOf(task, execution->state);
  if (!dispatch) {
    on_settled();
    return done(Status::Ok());
  }
  const bool sticky = dispatch->sticky;
  Status added = matching_.AddTask(dispatch->queue, dispatch->task, on_settled, sticky);
  if (added.code() != StatusCode::FAILED_PRECONDITION || !sticky) return done(added);
  // The sticky worker is gone: the task goes to the normal queue (with full history) at once.
  auto fallen_back = [on_settled = std::move(on_settled), done](Status status,
                                                                 const StoredExecution&) {
    if (status.ok()) on_settled();
    done(std::move(status));
  };
  MutateAsync(key, [&](Mutation& m) -> Status {
    auto* wft = m.state.mutable_workflow_task();
    if (!IsRunning(m.state) || wft->scheduled_event_id() != task.event_id() ||
        wft->started_event_id() != 0 || wft->task_queue() != task.task_queue()) {
      return Status::Ok();
    }
    m.ClearSticky();
    wft->set_task_queue(m.state.task_queue());
    m.AddTransfer(eon::v1::HISTORY_TASK_TYPE_DISPATCH_WORKFLOW_TASK, wft->scheduled_event_id(),
                  wft->attempt(), m.state.task_queue());
    return Status::Ok();
  }, std::move(fallen_back));
}

void HistoryEngine::ProcessTimerTask(const persistence::StoredTask& stored, Done done) {
  // The execution is gone: nothing to do.
  auto answer = [done](Status status, const StoredExecution&) {
    done(status.code() == StatusCode::NOT_FOUND ? Status::Ok() : std::move(status));
  };
  const auto& task = stored.task;
  ExecutionKey key{task.namespace_id(), task.workflow_id(), task.run_id()};
  switch (task.type()) {
    case eon::v1::HISTORY_TASK_TYPE_WORKFLOW_TASK_TIMEOUT: {
      MutateAsync(key, [&](Mutation& m) -> Status {
        const auto wft = m.state.workflow_task();
        const bool schedule_to_start = task.timeout_type() == enums::TIMEOUT_TYPE_SCHEDULE_TO_START;
        if (!IsRunning(m.state) || wft.scheduled_event_id() != task.event_id() ||
            wft.attempt() != task.attempt() ||
            (schedule_to_start ? wft.started_event_id() != 0 || !m.WorkflowTaskIsSticky()
                               : wft.started_event_id() == 0)) {
          return Status::Ok();  // the task was taken, or completed, in time
        }
        if (!wft.transient()) {
          auto& event = m.AddEvent(enums::EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT);
          auto* a = event.mutable_workflow_task_timed_out_event_attributes();
          a->set_scheduled_event_id(wft.scheduled_event_id());
          a->set_started_event_id(wft.started_event_id());
          a->set_timeout_type(task.timeout_type());
        }
        // Not taken from the sticky queue in time: it goes to the normal queue.
        m.EndWorkflowTaskAndRetry(wft.attempt(), /*reschedule=*/true, m.WorkflowTaskIsSticky());
        return Status::Ok();
      }, answer);
      return;
    }
    case eon::v1::HISTORY_TASK_TYPE_ACTIVITY_TIMEOUT: {
      MutateAsync(key, [&](Mutation& m) -> Status {
        if (!IsRunning(m.state)) return Status::Ok();
        auto it = m.state.mutable_activities()->find(task.event_id());
        if (it == m.state.mutable_activities()->end()) return Status::Ok();
        auto& info = it->second;
        auto type = task.timeout_type();
        bool attempt_timeout =
            type == enums::TIMEOUT_TYPE_START_TO_CLOSE || type == enums::TIMEOUT_TYPE_HEARTBEAT;
        if (attempt_timeout && (info.attempt() != task.attempt() || !info.has_started_time())) {
          return Status::Ok();
        }
        if (type == enums::TIMEOUT_TYPE_HEARTBEAT) {
          // One timer per window: a heartbeat since it was armed moves the deadline on.
          TimePoint last = FromTimestamp(info.started_time());
          if (info.has_last_heartbeat_time()) {
            last = std::max(last, FromTimestamp(info.last_heartbeat_time()));
          }
          TimePoint deadline = last + FromProtoDuration(info.heartbeat_timeout());
          if (m.now < deadline) {
            m.AddTimer(eon::v1::HISTORY_TASK_TYPE_ACTIVITY_TIMEOUT, deadline,
                       info.scheduled_event_id(), info.attempt(), enums::TIMEOUT_TYPE_HEARTBEAT);
            return Status::Ok();
          }
        }
        if (type == enums::TIMEOUT_TYPE_SCHEDULE_TO_START &&
            (info.attempt() != task.attempt() || info.has_started_time())) {
          return Status::Ok();
        }
        // Another timeout of this activity due as well (its own timer may come later) can
        // come first.
        type = FirstDueActivityTimeout(info, m.now, type);
        attempt_timeout =
            type == enums::TIMEOUT_TYPE_START_TO_CLOSE || type == enums::TIMEOUT_TYPE_HEARTBEAT;
        failure::Failure timeout;
        timeout.set_message("activity " + TimeoutName(type) + " timeout");
        timeout.mutable_timeout_failure_info()->set_timeout_type(type);
        if (info.has_heartbeat_details()) {
          *timeout.mutable_timeout_failure_info()->mutable_last_heartbeat_details() =
              info.heartbeat_details();
        }
        enums::RetryState retry_state = enums::RETRY_STATE_TIMEOUT;
        Duration delay{};
        if (attempt_timeout && ShouldRetry(info, timeout, m.now, &retry_state, &delay)) {
          m.RetryActivity(info, timeout, delay);
          return Status::Ok();
        }
        if (info.has_last_failure() && !attempt_timeout) {
          *timeout.mutable_cause() = info.last_failure();
        }
        m.CloseActivity(info, enums::EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
                        [&](hist::HistoryEvent& event, int64_t started_id) {
                          auto* a = event.mutable_activity_task_timed_out_event_attributes();
                          *a->mutable_failure() = timeout;
                          a->set_scheduled_event_id(info.scheduled_event_id());
                          a->set_started_event_id(started_id);
                          a->set_retry_state(retry_state);
                        });
        return Status::Ok();
      }, answer);
      return;
    }
    case eon::v1::HISTORY_TASK_TYPE_USER_TIMER: {
      MutateAsync(key, [&](Mutation& m) -> Status {
        if (!IsRunning(m.state)) return Status::Ok();
        for (auto& [timer_id, timer] : *m.state.mutable_timers()) {
          if (timer.started_event_id() != task.event_id() || timer.fired()) continue;
          auto& event = m.AddExternalEvent(enums::EVENT_TYPE_TIMER_FIRED);
          auto* a = event.mutable_timer_fired_event_attributes();
          a->set_timer_id(timer_id);
          a->set_started_event_id(timer.started_event_id());
          if (m.WorkflowTaskStarted()) {
            timer.set_fired(true);  // forgotten when its buffered event is written
          } else {
            m.state.mutable_timers()->erase(timer_id);
          }
          m.EnsureWorkflowTask();
          break;
        }
        return Status::Ok();
      }, answer);
      return;
    }
    case eon::v1::HISTORY_TASK_TYPE_DELETE_EXECUTION: {
      // Rare (a closed run past its retention): it waits for its delete on this thread.
      std::lock_guard lock(LockFor(key.namespace_id, key.workflow_id));
      auto stored = Load(key);
      if (!stored.ok()) return answer(stored.status(), {});
      if (IsRunning(stored->state)) return done(Status::Ok());
      Status deleted = store_.DeleteExecution(key);
      if (deleted.ok()) cache_->Erase(key);
      return done(std::move(deleted));
    }
    case eon::v1::HISTORY_TASK_TYPE_WORKFLOW_BACKOFF: {
      MutateAsync(key, [&](Mutation& m) -> Status {
        if (!IsRunning(m.state) || !m.state.workflow_task_backoff()) return Status::Ok();
        m.state.set_workflow_task_backoff(false);
        m.EnsureWorkflowTask();
        return Status::Ok();
      }, answer);
      return;
    }
    case eon::v1::HISTORY_TASK_TYPE_WORKFLOW_RUN_TIMEOUT: {
      MutateAsync(key, [&](Mutation& m) -> Status {
        if (!IsRunning(m.state)) return Status::Ok();
        failure::Failure why;
        why.set_message("workflow timed out");
        why.mutable_timeout_failure_info()->set_timeout_type(enums::TIMEOUT_TYPE_START_TO_CLOSE);
        m.state.clear_workflow_task();  // an attempt in flight is abandoned
        m.FlushBuffered();
        enums::RetryState retry_state;
        std::string next_run_id =
            m.PlanNextRun(enums::WORKFLOW_EXECUTION_STATUS_TIMED_OUT, &why, nullptr, &retry_state);
        auto& event = m.AddEvent(enums::EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT);
        auto* a = event.mutable_workflow_execution_timed_out_event_attributes();
        a->set_retry_state(retry_state);
        a->set_new_execution_run_id(next_run_id);
        m.Close(enums::WORKFLOW_EXECUTION_STATUS_TIMED_OUT, event.event_id());
        return Status::Ok();
      }, answer);
      return;
    }
    case eon::v1::HISTORY_TASK_TYPE_ACTIVITY_RETRY: {
      // The backoff is over: the attempt goes out through the transfer queue, whose task is
      // kept until matching holds the attempt durably (a timer task is deleted on return).
      MutateAsync(key, [&](Mutation& m) -> Status {
        auto it = m.state.activities().find(task.event_id());
        if (!IsRunning(m.state) || it == m.state.activities().end() ||
            it->second.attempt() != task.attempt() || it->second.has_started_time()) {
          return Status::Ok();
        }
        (*m.state.mutable_activities())[task.event_id()].set_awaiting_retry(false);
        m.AddTransfer(eon::v1::HISTORY_TASK_TYPE_DISPATCH_ACTIVITY_TASK, task.event_id(),
                      task.attempt(), it->second.task_queue());
        return Status::Ok();
      }, answer);
      return;
    }
    default:
      LOG_ERROR("unknown timer task type " << task.type());
      return done(Status::Ok());
  }
}

}  // namespace eon::history
