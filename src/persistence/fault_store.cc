#include "persistence/fault_store.h"

namespace eon::persistence {
namespace {
Status Crashed() { return Unavailable("the process crashed (simulated)"); }
}  // namespace

FaultStore::FaultStore(Store& base, std::function<uint64_t()> random,
                       std::function<void(Duration)> sleep, std::function<void()> on_crash)
    : base_(base),
      random_(std::move(random)),
      sleep_(std::move(sleep)),
      on_crash_(std::move(on_crash)) {}

Status FaultStore::Alive() const { return crashed_ ? Crashed() : Status::Ok(); }

FaultStore::Fate FaultStore::NextWrite(Status* refused) {
  if (crashed_) {
    *refused = Crashed();
    return Fate::kFail;
  }
  if (crash_countdown_ == 0) {
    crash_countdown_ = -1;
    crashed_ = true;
    ++stats_.crashes;
    if (on_crash_) on_crash_();
    *refused = Crashed();
    if (random_() % 2 == 0) {
      ++stats_.tails_lost;
      return Fate::kCrashLose;
    }
    ++stats_.tails_landed;
    return Fate::kCrashLand;
  }
  if (crash_countdown_ > 0) --crash_countdown_;
  if (static_cast<int>(random_() % 1000) < options_.write_failure_per_mille) {
    ++stats_.writes_failed;
    *refused = random_() % 4 == 0 ? ResourceExhausted("database or disk is full (injected)")
                                  : Unavailable("disk I/O error (injected)");
    return Fate::kFail;
  }
  if (static_cast<int>(random_() % 1000) < options_.write_delay_per_mille) {
    ++stats_.writes_delayed;
    const int64_t max_ns = std::max<int64_t>(options_.write_delay_max.count(), 1);
    sleep_(Duration(static_cast<int64_t>(random_() % static_cast<uint64_t>(max_ns))));
  }
  ++stats_.writes;
  return Fate::kLand;
}

Status FaultStore::Write(const std::function<Status()>& write) {
  Status refused;
  switch (NextWrite(&refused)) {
    case Fate::kLand:
      return write();
    case Fate::kCrashLand:
      write().ok();  // durable, but nobody hears it
      return refused;
    case Fate::kFail:
    case Fate::kCrashLose:
      return refused;
  }
  return refused;
}

Result<int32_t> FaultStore::ShardCount() {
  EON_RETURN_IF_ERROR(Alive());
  return base_.ShardCount();
}

Result<std::vector<int64_t>> FaultStore::AcquireShards() {
  std::vector<int64_t> ids;
  EON_RETURN_IF_ERROR(Write([&]() -> Status {
    EON_ASSIGN_OR_RETURN(ids, base_.AcquireShards());
    return Status::Ok();
  }));
  return ids;
}

Result<int64_t> FaultStore::AcquireShard(int32_t shard_id) {
  int64_t id = 0;
  EON_RETURN_IF_ERROR(Write([&]() -> Status {
    EON_ASSIGN_OR_RETURN(id, base_.AcquireShard(shard_id));
    return Status::Ok();
  }));
  return id;
}

Status FaultStore::PutMember(const MemberRow& row) {
  return Write([&] { return base_.PutMember(row); });
}

Status FaultStore::DeleteMember(const std::string& name) {
  return Write([&] { return base_.DeleteMember(name); });
}

Result<std::vector<MemberRow>> FaultStore::ListMembers() {
  EON_RETURN_IF_ERROR(Alive());
  return base_.ListMembers();
}

Status FaultStore::CreateNamespace(const eon::v1::NamespaceRecord& record) {
  return Write([&] { return base_.CreateNamespace(record); });
}

Status FaultStore::UpdateNamespace(const eon::v1::NamespaceRecord& record) {
  return Write([&] { return base_.UpdateNamespace(record); });
}

Result<std::vector<eon::v1::NamespaceRecord>> FaultStore::ListNamespaces() {
  EON_RETURN_IF_ERROR(Alive());
  return base_.ListNamespaces();
}

Result<CurrentExecution> FaultStore::GetCurrentExecution(const std::string& namespace_id,
                                                         const std::string& workflow_id) {
  EON_RETURN_IF_ERROR(Alive());
  return base_.GetCurrentExecution(namespace_id, workflow_id);
}

Result<StoredExecution> FaultStore::GetExecution(const ExecutionKey& key) {
  EON_RETURN_IF_ERROR(Alive());
  return base_.GetExecution(key);
}

Status FaultStore::CommitExecution(const ExecutionWrite& write, std::vector<StoredTask>* created) {
  return Write([&] { return base_.CommitExecution(write, created); });
}

void FaultStore::CommitExecutionAsync(std::shared_ptr<const ExecutionWrite> write,
                                      CommitDone done) {
  Status refused;
  switch (NextWrite(&refused)) {
    case Fate::kLand:
      base_.CommitExecutionAsync(std::move(write), std::move(done));
      return;
    case Fate::kCrashLand:
      base_.CommitExecutionAsync(std::move(write), [](Status, std::vector<StoredTask>) {});
      done(refused, {});
      return;
    case Fate::kFail:
    case Fate::kCrashLose:
      done(refused, {});
      return;
  }
}

Status FaultStore::DeleteNamespaceData(const std::string& namespace_id) {
  return Write([&] { return base_.DeleteNamespaceData(namespace_id); });
}

Status FaultStore::DeleteExecution(const ExecutionKey& key) {
  return Write([&] { return base_.DeleteExecution(key); });
}

Result<HistoryPage> FaultStore::ReadHistory(const std::string& namespace_id,
                                            const std::string& run_id, int64_t first_event_id,
                                            int max_events) {
  EON_RETURN_IF_ERROR(Alive());
  return base_.ReadHistory(namespace_id, run_id, first_event_id, max_events);
}

Result<std::vector<StoredTask>> FaultStore::LoadTransferTasks(int32_t shard_id,
                                                              int64_t after_task_id, int limit) {
  EON_RETURN_IF_ERROR(Alive());
  return base_.LoadTransferTasks(shard_id, after_task_id, limit);
}

Result<std::vector<StoredTask>> FaultStore::LoadTimerTasks(int32_t shard_id, TimePoint until,
                                                           TimePoint after_time,
                                                           int64_t after_task_id, int limit) {
  EON_RETURN_IF_ERROR(Alive());
  return base_.LoadTimerTasks(shard_id, until, after_time, after_task_id, limit);
}

Status FaultStore::DeleteTasks(const std::vector<StoredTask>& tasks) {
  return Write([&] { return base_.DeleteTasks(tasks); });
}

Status FaultStore::ParkTask(const ParkedTask& parked) {
  return Write([&] { return base_.ParkTask(parked); });
}

Status FaultStore::UnparkTasks(const std::vector<int64_t>& task_ids) {
  return Write([&] { return base_.UnparkTasks(task_ids); });
}

Result<std::vector<ParkedTask>> FaultStore::LoadParkedTasks() {
  EON_RETURN_IF_ERROR(Alive());
  return base_.LoadParkedTasks();
}

Status FaultStore::PutBatchOperation(const std::string& namespace_name, const std::string& job_id,
                                     const std::string& record) {
  return Write([&] { return base_.PutBatchOperation(namespace_name, job_id, record); });
}

Status FaultStore::DeleteBatchOperation(const std::string& namespace_name,
                                        const std::string& job_id) {
  return Write([&] { return base_.DeleteBatchOperation(namespace_name, job_id); });
}

Result<std::vector<std::pair<std::string, std::string>>> FaultStore::LoadBatchOperations() {
  EON_RETURN_IF_ERROR(Alive());
  return base_.LoadBatchOperations();
}

Result<std::optional<TimePoint>> FaultStore::NextTimerTime() {
  EON_RETURN_IF_ERROR(Alive());
  return base_.NextTimerTime();
}

Status FaultStore::UpsertVisibility(const VisibilityRow& row) {
  return Write([&] { return base_.UpsertVisibility(row); });
}

Result<std::vector<std::string>> FaultStore::ListVisibility(const std::string& namespace_id,
                                                            const VisibilityFilter& filter,
                                                            int limit, int64_t offset) {
  EON_RETURN_IF_ERROR(Alive());
  return base_.ListVisibility(namespace_id, filter, limit, offset);
}

Result<std::vector<std::pair<int64_t, int64_t>>> FaultStore::CountVisibility(
    const std::string& namespace_id, const VisibilityFilter& filter) {
  EON_RETURN_IF_ERROR(Alive());
  return base_.CountVisibility(namespace_id, filter);
}

Result<std::map<std::string, int>> FaultStore::SearchAttributes(const std::string& namespace_id) {
  EON_RETURN_IF_ERROR(Alive());
  return base_.SearchAttributes(namespace_id);
}

Status FaultStore::AddSearchAttribute(const std::string& namespace_id, const std::string& name,
                                      int type) {
  return Write([&] { return base_.AddSearchAttribute(namespace_id, name, type); });
}

Status FaultStore::RemoveSearchAttribute(const std::string& namespace_id, const std::string& name) {
  return Write([&] { return base_.RemoveSearchAttribute(namespace_id, name); });
}

Status FaultStore::CreateSchedule(const eon::v1::ScheduleRecord& record,
                                  const ScheduleListing& listing) {
  return Write([&] { return base_.CreateSchedule(record, listing); });
}

Result<StoredSchedule> FaultStore::GetSchedule(const std::string& namespace_id,
                                               const std::string& schedule_id) {
  EON_RETURN_IF_ERROR(Alive());
  return base_.GetSchedule(namespace_id, schedule_id);
}

Status FaultStore::UpdateSchedule(const eon::v1::ScheduleRecord& record,
                                  const ScheduleListing& listing, int64_t expected_db_version) {
  return Write([&] { return base_.UpdateSchedule(record, listing, expected_db_version); });
}

Status FaultStore::DeleteSchedule(const std::string& namespace_id, const std::string& schedule_id) {
  return Write([&] { return base_.DeleteSchedule(namespace_id, schedule_id); });
}

Result<std::vector<StoredSchedule>> FaultStore::LoadSchedules() {
  EON_RETURN_IF_ERROR(Alive());
  return base_.LoadSchedules();
}

Result<std::vector<std::string>> FaultStore::ListSchedules(const std::string& namespace_id,
                                                           const VisibilityFilter& filter,
                                                           int limit, int64_t offset) {
  EON_RETURN_IF_ERROR(Alive());
  return base_.ListSchedules(namespace_id, filter, limit, offset);
}

Status FaultStore::AddQueueTask(const std::string& namespace_id, const std::string& queue, int kind,
                                int64_t task_id, const eon::v1::QueueTask& task) {
  return Write([&] { return base_.AddQueueTask(namespace_id, queue, kind, task_id, task); });
}

Result<int64_t> FaultStore::MaxQueueTaskId() {
  EON_RETURN_IF_ERROR(Alive());
  return base_.MaxQueueTaskId();
}

Result<std::vector<QueueTaskRecord>> FaultStore::LoadQueueTasks(const std::string& namespace_id,
                                                                const std::string& queue, int kind,
                                                                int64_t after_task_id, int limit) {
  EON_RETURN_IF_ERROR(Alive());
  return base_.LoadQueueTasks(namespace_id, queue, kind, after_task_id, limit);
}

Result<std::vector<QueueTaskStore::QueueName>> FaultStore::ListBackloggedQueues() {
  EON_RETURN_IF_ERROR(Alive());
  return base_.ListBackloggedQueues();
}

Status FaultStore::DeleteQueueTask(const std::string& namespace_id, const std::string& queue,
                                   int kind, int64_t task_id) {
  return Write([&] { return base_.DeleteQueueTask(namespace_id, queue, kind, task_id); });
}

}  // namespace eon::persistence
