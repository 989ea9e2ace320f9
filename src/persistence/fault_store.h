// A Store that injects the faults a real database has, around another Store: for the simulator
// (tests/sim) and for tests of how the engine takes them.
//
// - A write fails as SQLite's would: UNAVAILABLE (I/O error, busy) or RESOURCE_EXHAUSTED (disk
//   full), and writes nothing.
// - A write is slow: time passes (through `sleep`, the simulator's virtual clock) before it
//   lands, so timers fall due and deadlines pass meanwhile.
// - The process crashes between two writes (CrashAfterWrites): the writes before the crash
//   point are durable and were answered; the write at the crash point is the unsynced tail:
//   it is lost or lands, at random, and its caller never hears that it succeeded; from then on
//   every call of the dead process fails (UNAVAILABLE) until Restart, as a new process over the
//   same database.
//
// Writes are the calls that change the database: CommitExecution(Async), AddQueueTask,
// DeleteQueueTask, DeleteTasks, ParkTask, UnparkTasks, UpsertVisibility, DeleteExecution,
// AcquireShards. Reads are not failed (a read error is answered like a write error by every
// caller that matters here) but are refused after a crash. Not thread-safe: the simulator runs
// on one thread.
#pragma once

#include <cstdint>
#include <functional>

#include "common/clock.h"
#include "persistence/store.h"

namespace eon::persistence {

struct FaultOptions {
  int write_failure_per_mille = 0;  // writes that fail and write nothing
  int write_delay_per_mille = 0;    // writes that take up to write_delay_max
  Duration write_delay_max = std::chrono::seconds(2);
};

struct FaultStats {
  int64_t writes = 0;          // landed
  int64_t writes_failed = 0;   // refused by an injected failure
  int64_t writes_delayed = 0;  // slow
  int64_t crashes = 0;
  int64_t tails_lost = 0;    // crash-point writes that were lost
  int64_t tails_landed = 0;  // crash-point writes that landed, unanswered
};

class FaultStore final : public Store {
 public:
  // `base` (not owned) holds the data. `random` draws the faults; `sleep` lets time pass
  // during a slow write; `on_crash` runs when the crash point is reached, before the write
  // there is answered.
  FaultStore(Store& base, std::function<uint64_t()> random, std::function<void(Duration)> sleep,
             std::function<void()> on_crash);

  void set_options(const FaultOptions& options) { options_ = options; }
  // The process dies at the write after the next `writes` writes (see the top of this file).
  // A negative count cancels a crash point not reached yet.
  void CrashAfterWrites(int64_t writes) { crash_countdown_ = writes; }
  bool crashed() const { return crashed_; }
  // A new process: calls work again; no crash point is set.
  void Restart() {
    crashed_ = false;
    crash_countdown_ = -1;
  }
  const FaultStats& stats() const { return stats_; }

  Result<int32_t> ShardCount() override;
  Result<std::vector<int64_t>> AcquireShards() override;
  Result<int64_t> AcquireShard(int32_t shard_id) override;
  Status PutMember(const MemberRow& row) override;
  Status DeleteMember(const std::string& name) override;
  Result<std::vector<MemberRow>> ListMembers() override;
  Status CreateNamespace(const eon::v1::NamespaceRecord& record) override;
  Status UpdateNamespace(const eon::v1::NamespaceRecord& record) override;
  Result<std::vector<eon::v1::NamespaceRecord>> ListNamespaces() override;
  Result<CurrentExecution> GetCurrentExecution(const std::string& namespace_id,
                                               const std::string& workflow_id) override;
  Result<StoredExecution> GetExecution(const ExecutionKey& key) override;
  Status CommitExecution(const ExecutionWrite& write, std::vector<StoredTask>* created) override;
  void CommitExecutionAsync(std::shared_ptr<const ExecutionWrite> write, CommitDone done) override;
  Status DeleteNamespaceData(const std::string& namespace_id) override;
  Status DeleteExecution(const ExecutionKey& key) override;
  Result<HistoryPage> ReadHistory(const std::string& namespace_id, const std::string& run_id,
                                  int64_t first_event_id, int max_events) override;
  Result<std::vector<StoredTask>> LoadTransferTasks(int32_t shard_id, int64_t after_task_id,
                                                    int limit) override;
  Result<std::vector<StoredTask>> LoadTimerTasks(int32_t shard_id, TimePoint until,
                                                 TimePoint after_time, int64_t after_task_id,
                                                 int limit) override;
  Status DeleteTasks(const std::vector<StoredTask>& tasks) override;
  Status ParkTask(const ParkedTask& parked) override;
  Status UnparkTasks(const std::vector<int64_t>& task_ids) override;
  Result<std::vector<ParkedTask>> LoadParkedTasks() override;
  Status PutBatchOperation(const std::string& namespace_name, const std::string& job_id,
                           const std::string& record) override;
  Status DeleteBatchOperation(const std::string& namespace_name,
                              const std::string& job_id) override;
  Result<std::vector<std::pair<std::string, std::string>>> LoadBatchOperations() override;
  Result<std::optional<TimePoint>> NextTimerTime() override;
  Status UpsertVisibility(const VisibilityRow& row) override;
  Result<std::vector<std::string>> ListVisibility(const std::string& namespace_id,
                                                  const VisibilityFilter& filter, int limit,
                                                  int64_t offset) override;
  Result<std::vector<std::pair<int64_t, int64_t>>> CountVisibility(
      const std::string& namespace_id, const VisibilityFilter& filter) override;
  Result<std::map<std::string, int>> SearchAttributes(const std::string& namespace_id) override;
  Status AddSearchAttribute(const std::string& namespace_id, const std::string& name,
                            int type) override;
  Status RemoveSearchAttribute(const std::string& namespace_id, const std::string& name) override;
  Status CreateSchedule(const eon::v1::ScheduleRecord& record,
                        const ScheduleListing& listing) override;
  Result<StoredSchedule> GetSchedule(const std::string& namespace_id,
                                     const std::string& schedule_id) override;
  Status UpdateSchedule(const eon::v1::ScheduleRecord& record, const ScheduleListing& listing,
                        int64_t expected_db_version) override;
  Status DeleteSchedule(const std::string& namespace_id, const std::string& schedule_id) override;
  Result<std::vector<StoredSchedule>> LoadSchedules() override;
  Result<std::vector<std::string>> ListSchedules(const std::string& namespace_id,
                                                 const VisibilityFilter& filter, int limit,
                                                 int64_t offset) override;
  Status AddQueueTask(const std::string& namespace_id, const std::string& queue, int kind,
                      int64_t task_id, const eon::v1::QueueTask& task) override;
  Result<int64_t> MaxQueueTaskId() override;
  Result<std::vector<QueueTaskRecord>> LoadQueueTasks(const std::string& namespace_id,
                                                      const std::string& queue, int kind,
                                                      int64_t after_task_id, int limit) override;
  Result<std::vector<QueueName>> ListBackloggedQueues() override;
  Status DeleteQueueTask(const std::string& namespace_id, const std::string& queue, int kind,
                         int64_t task_id) override;
  StoreStats Stats() override { return base_.Stats(); }

 private:
  // What happens to the next write.
  enum class Fate { kLand, kFail, kCrashLose, kCrashLand };
  // Decides the next write's fate (and lets time pass if it is slow). An error: the write must
  // not happen and its caller hears this. For kCrashLand the write happens and its caller
  // hears the crash instead of its outcome.
  Fate NextWrite(Status* refused);
  // Runs a synchronous write under the fault model.
  Status Write(const std::function<Status()>& write);
  // OK, or UNAVAILABLE after a crash.
  Status Alive() const;

  Store& base_;
  const std::function<uint64_t()> random_;
  const std::function<void(Duration)> sleep_;
  const std::function<void()> on_crash_;
  FaultOptions options_;
  int64_t crash_countdown_ = -1;  // writes before the crash point; -1: none
  bool crashed_ = false;
  FaultStats stats_;
};

}  // namespace eon::persistence
