// persistence: the durable truth. Namespaces, workflow executions (mutable state, history
// events), the transactional outbox of history tasks, and task queue backlogs.
//
// Every change to one execution is ONE transaction (CommitExecution): the mutable-state row,
// conditional on its previous db_version and on the shard's range_id; the new history events;
// the tasks the change creates. A task therefore exists iff the change that made it committed.
//
// Implementations are thread-safe. Every method may block on I/O; none throws.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "eon/v1/state.pb.h"
#include "persistence/visibility_filter.h"
#include "temporal/api/history/v1/message.pb.h"

namespace eon::persistence {

enum class TaskCategory : int { kTransfer = 1, kTimer = 2 };

struct ExecutionKey {
  std::string namespace_id;
  std::string workflow_id;
  std::string run_id;
};

// The row that points a workflow id at its newest run.
struct CurrentExecution {
  std::string run_id;
  temporal::api::enums::v1::WorkflowExecutionStatus status{};
  std::string create_request_id;
};

struct StoredExecution {
  eon::v1::ExecutionState state;
  int64_t db_version = 0;
};

struct NewTask {
  TaskCategory category = TaskCategory::kTransfer;
  eon::v1::HistoryTask task;  // for timers, task.fire_time says when
};

struct StoredTask {
  int32_t shard_id = 0;
  TaskCategory category = TaskCategory::kTransfer;
  int64_t task_id = 0;
  eon::v1::HistoryTask task;
};

// An outbox task set aside after failing again and again (history/queue_processors.h). Stored, so
// that it stays aside through a restart until an operator retries it.
struct ParkedTask {
  StoredTask task;
  int failures = 0;  // in a row, when it was parked
  std::string last_error;
  TimePoint parked_time;
};

// The shard count of a database created without one (`--num-shards`); fixed at creation.
constexpr int32_t kDefaultShardCountForNewStore = 4;

// A write whose range_id is no longer the shard's: another process took the shard. ABORTED, with
// an eon.v1.ShardOwnershipLost detail, so the engine can tell it from a version conflict.
inline Status ShardOwnershipLost(int32_t shard_id, int64_t range_id) {
  eon::v1::ShardOwnershipLost detail;
  detail.set_shard_id(shard_id);
  detail.set_range_id(range_id);
  return Aborted("shard " + std::to_string(shard_id) + " is owned by another process")
      .WithDetail(detail);
}
inline bool IsShardOwnershipLost(const Status& status) {
  return status.code() == StatusCode::ABORTED && status.detail() &&
         status.detail()->Is<eon::v1::ShardOwnershipLost>();
}

// One workflow run as listings see it. Optional columns are NULL when unset.
struct VisibilityRow {
  std::string namespace_id;
  std::string run_id;
  std::string workflow_id;
  std::string workflow_type;
  int64_t status = 0;
  int64_t start_time_ns = 0;
  std::optional<int64_t> close_time_ns;
  std::optional<int64_t> execution_time_ns;
  std::optional<int64_t> execution_duration_ns;
  std::string task_queue;
  int64_t history_length = 0;
  int64_t history_size_bytes = 0;
  int64_t state_transition_count = 0;
  std::optional<std::string> parent_workflow_id, parent_run_id, root_workflow_id, root_run_id;
  std::string search_attributes_json = "{}";  // name -> value (Datetime as nanoseconds)
  std::string info;  // a serialized temporal.api.workflow.v1.WorkflowExecutionInfo
};

struct ExecutionWrite {
  int32_t shard_id = 0;
  int64_t range_id = 0;  // the writer's lease on the shard; the commit fails if it moved on
  eon::v1::ExecutionState state;
  // 0: the execution is new (it must not exist). Otherwise the version read; the row is written
  // only if it still has this version, and gets expected_db_version + 1.
  int64_t expected_db_version = 0;
  // For a new execution: the run the workflow id must currently point at ("" = none). The
  // current row is then pointed at this run. For an update, the current row's status follows
  // the state when it points at this run.
  std::string expected_current_run_id;
  std::vector<temporal::api::history::v1::HistoryEvent> new_events;
  std::vector<NewTask> new_tasks;
  // The run's listing row, written in the same transaction (instead of an UPSERT_VISIBILITY
  // task that writes it after the commit). Like UpsertVisibility, it does not replace a row of
  // a later state (a higher state_transition_count).
  std::optional<VisibilityRow> visibility;
  // A new run of the same workflow id written in the same transaction (continue-as-new, retry,
  // cron): created after this update, it becomes the current run. shared_ptr only so that
  // ExecutionWrite stays copyable; nobody else holds it.
  std::shared_ptr<const ExecutionWrite> new_run;
};

struct HistoryPage {
  std::vector<temporal::api::history::v1::HistoryEvent> events;
  int64_t next_event_id = 0;  // 0: no more events stored after these
};

struct QueueTaskRecord {
  int64_t task_id = 0;
  eon::v1::QueueTask task;
};

// One schedule (worker/scheduler.h owns them) and its listing. The listing is stored in the
// columns of the visibility table, so the list-filter language (visibility/query.h) runs over
// schedules unchanged: WorkflowId holds the schedule id, WorkflowType the action's workflow
// type, StartTime the create time, and search_attributes the custom attributes plus
// TemporalSchedulePaused.
struct ScheduleListing {
  std::string workflow_type;
  int64_t create_time_ns = 0;
  std::string search_attributes_json = "{}";
  std::string info;  // a serialized temporal.api.schedule.v1.ScheduleListEntry
};

struct StoredSchedule {
  eon::v1::ScheduleRecord record;
  int64_t db_version = 0;
};

// One node's membership row (cluster/membership.h): it is live while lease_expiry_ns (the node's
// wall clock, nanoseconds since the epoch) has not passed.
struct MemberRow {
  std::string name;
  std::string internal_address;  // "ip:port" of its internal gRPC server
  int64_t lease_expiry_ns = 0;
  bool operator==(const MemberRow&) const = default;
};

struct StoreStats {
  int64_t write_transactions = 0;  // committed write transactions (each one fsync)
  int64_t execution_writes = 0;    // CommitExecution calls that succeeded
};

// The part of the store that matching uses: task queue backlogs (task_queue_tasks).
// kind: eon::v1::TaskQueueKind. Thread-safe.
class QueueTaskStore {
 public:
  virtual ~QueueTaskStore() = default;

  // Writes a task to a queue's backlog under `task_id`, which the caller chose above
  // MaxQueueTaskId: matching knows a task's id before the task is visible to a reader.
  // Fails (and writes nothing) when the id is taken.
  virtual Status AddQueueTask(const std::string& namespace_id, const std::string& queue, int kind,
                              int64_t task_id, const eon::v1::QueueTask& task) = 0;
  // The highest backlog task id of any queue; 0 when every backlog is empty.
  virtual Result<int64_t> MaxQueueTaskId() = 0;
  // Up to `limit` tasks of one queue with ids above `after_task_id`, in id order.
  virtual Result<std::vector<QueueTaskRecord>> LoadQueueTasks(const std::string& namespace_id,
                                                              const std::string& queue, int kind,
                                                              int64_t after_task_id, int limit) = 0;
  // Every queue that has a backlog, as (namespace_id, queue, kind).
  struct QueueName {
    std::string namespace_id;
    std::string queue;
    int kind = 0;
  };
  virtual Result<std::vector<QueueName>> ListBackloggedQueues() = 0;
  virtual Status DeleteQueueTask(const std::string& namespace_id, const std::string& queue,
                                 int kind, int64_t task_id) = 0;
};

class Store : public QueueTaskStore {
 public:
  ~Store() override = default;

  // Cluster: the shard count is fixed when the database is created.
  virtual Result<int32_t> ShardCount() = 0;
  // Takes every shard for this process by bumping its range_id; returns the new range ids.
  virtual Result<std::vector<int64_t>> AcquireShards() = 0;
  // Takes one shard (in [0, ShardCount())) by bumping its range_id, and returns the new one.
  // From then on the previous owner's execution writes fail with ShardOwnershipLost; a write of
  // it still in flight finishes first (it holds the shard row until it commits).
  virtual Result<int64_t> AcquireShard(int32_t shard_id) = 0;

  // Membership (cluster/membership.h). PutMember writes a node's row (inserted or replaced, by
  // name); DeleteMember removes it (no error when absent); ListMembers answers every row, live
  // or not, by name.
  virtual Status PutMember(const MemberRow& row) = 0;
  virtual Status DeleteMember(const std::string& name) = 0;
  virtual Result<std::vector<MemberRow>> ListMembers() = 0;

  // Namespaces. CreateNamespace answers ALREADY_EXISTS when the name is taken.
  virtual Status CreateNamespace(const eon::v1::NamespaceRecord& record) = 0;
  // Replaces a namespace's record (found by id) if the stored one is the version it was made
  // from (record.record_version() - 1); ABORTED if another update came first.
  virtual Status UpdateNamespace(const eon::v1::NamespaceRecord& record) = 0;
  virtual Result<std::vector<eon::v1::NamespaceRecord>> ListNamespaces() = 0;

  // Executions. NOT_FOUND when absent.
  virtual Result<CurrentExecution> GetCurrentExecution(const std::string& namespace_id,
                                                       const std::string& workflow_id) = 0;
  virtual Result<StoredExecution> GetExecution(const ExecutionKey& key) = 0;
  // Writes one change to one execution atomically (see the top of this file). Answers ABORTED
  // when a condition failed (version, current run, or the shard's range_id). Assigns task ids.
  // Concurrent calls may share one transaction and one fsync (group commit).
  // `created` (optional) receives the stored tasks with their ids.
  virtual Status CommitExecution(const ExecutionWrite& write, std::vector<StoredTask>* created) = 0;
  // The same write without waiting: `done` runs once the transaction holding it is durable (or
  // failed), with the created tasks, on a thread of the store's choosing (for SqliteStore, its
  // committer, so `done` must be short and must not wait on the store). Writes submitted one
  // after another commit in that order, so a write may be conditioned on the db_version that an
  // earlier, still pending one produces: if the earlier fails, the later fails too (ABORTED).
  using CommitDone = std::function<void(Status, std::vector<StoredTask> created)>;
  virtual void CommitExecutionAsync(std::shared_ptr<const ExecutionWrite> write, CommitDone done) {
    std::vector<StoredTask> created;
    Status status = CommitExecution(*write, &created);
    done(std::move(status), std::move(created));
  }
  // Removes everything of a namespace's workflows (state, history, listings, backlogs) and the
  // namespace's record.
  virtual Status DeleteNamespaceData(const std::string& namespace_id) = 0;
  // Removes a closed run for good: its state, history, listing, and the workflow id's current
  // pointer when it points at this run. Its outbox tasks find it gone and do nothing.
  virtual Status DeleteExecution(const ExecutionKey& key) = 0;
  // Up to max_events events of a run, from first_event_id on.
  virtual Result<HistoryPage> ReadHistory(const std::string& namespace_id,
                                          const std::string& run_id, int64_t first_event_id,
                                          int max_events) = 0;

  // The outbox. Transfer tasks in task id order; timer tasks due at or before `until`, in time
  // order.
  virtual Result<std::vector<StoredTask>> LoadTransferTasks(int32_t shard_id, int64_t after_task_id,
                                                            int limit) = 0;
  // Timer pages continue after (after_time, after_task_id), the last task of the previous page.
  virtual Result<std::vector<StoredTask>> LoadTimerTasks(int32_t shard_id, TimePoint until,
                                                         TimePoint after_time,
                                                         int64_t after_task_id, int limit) = 0;
  // Deletes done tasks (and their parked marks, if any).
  virtual Status DeleteTasks(const std::vector<StoredTask>& tasks) = 0;
  // Parked tasks: a parked task stays in the outbox, marked. Load*Tasks still return it (the
  // caller skips what LoadParkedTasks lists); NextTimerTime does not count it. ParkTask replaces
  // an earlier mark of the same task; UnparkTasks ignores ids that are not parked.
  virtual Status ParkTask(const ParkedTask& parked) = 0;
  virtual Status UnparkTasks(const std::vector<int64_t>& task_ids) = 0;
  // Every parked task still in the outbox, in task id order.
  virtual Result<std::vector<ParkedTask>> LoadParkedTasks() = 0;
  // When the earliest unparked timer task of any shard is due (nullopt: there is none).
  virtual Result<std::optional<TimePoint>> NextTimerTime() = 0;

  // Batch operations' records (frontend/batch_service.h), by namespace name and job id: `record`
  // is a serialized DescribeBatchOperationResponse, replaced as the job goes on.
  virtual Status PutBatchOperation(const std::string& namespace_name, const std::string& job_id,
                                   const std::string& record) = 0;
  // NOT_FOUND when absent.
  virtual Status DeleteBatchOperation(const std::string& namespace_name,
                                      const std::string& job_id) = 0;
  // Every record as (namespace name, record), in the order they were first put.
  virtual Result<std::vector<std::pair<std::string, std::string>>> LoadBatchOperations() = 0;

  // Visibility.
  virtual Status UpsertVisibility(const VisibilityRow& row) = 0;
  // `info` of the matching rows, in filter order, from `offset` on. `filter` is a parsed
  // predicate (persistence/visibility_filter.h) the store renders in its own query language;
  // INVALID_ARGUMENT when it breaks that header's rules.
  virtual Result<std::vector<std::string>> ListVisibility(const std::string& namespace_id,
                                                          const VisibilityFilter& filter, int limit,
                                                          int64_t offset) = 0;
  // (group value or 0, count) pairs; one pair without GROUP BY. filter.order_by is ignored.
  virtual Result<std::vector<std::pair<int64_t, int64_t>>> CountVisibility(
      const std::string& namespace_id, const VisibilityFilter& filter) = 0;
  // Custom search attributes: name -> type (temporal.api.enums.v1.IndexedValueType).
  virtual Result<std::map<std::string, int>> SearchAttributes(const std::string& namespace_id) = 0;
  // ALREADY_EXISTS when the name is taken with another type.
  virtual Status AddSearchAttribute(const std::string& namespace_id, const std::string& name,
                                    int type) = 0;
  // NOT_FOUND when absent.
  virtual Status RemoveSearchAttribute(const std::string& namespace_id,
                                       const std::string& name) = 0;

  // Schedules. CreateSchedule answers ALREADY_EXISTS when the id is taken in the namespace.
  virtual Status CreateSchedule(const eon::v1::ScheduleRecord& record,
                                const ScheduleListing& listing) = 0;
  // NOT_FOUND when absent.
  virtual Result<StoredSchedule> GetSchedule(const std::string& namespace_id,
                                             const std::string& schedule_id) = 0;
  // Replaces the record if it still has `expected_db_version` (then it gets one more); ABORTED
  // otherwise, NOT_FOUND when it is gone.
  virtual Status UpdateSchedule(const eon::v1::ScheduleRecord& record,
                                const ScheduleListing& listing, int64_t expected_db_version) = 0;
  // NOT_FOUND when absent.
  virtual Status DeleteSchedule(const std::string& namespace_id,
                                const std::string& schedule_id) = 0;
  // Every schedule of every namespace (for the scheduler's start-up).
  virtual Result<std::vector<StoredSchedule>> LoadSchedules() = 0;
  // `info` of the matching listings, in filter order, from `offset` on.
  virtual Result<std::vector<std::string>> ListSchedules(const std::string& namespace_id,
                                                         const VisibilityFilter& filter, int limit,
                                                         int64_t offset) = 0;

  virtual StoreStats Stats() = 0;
};

}  // namespace eon::persistence
