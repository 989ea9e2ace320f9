// worker: system work. The scheduler owns schedules (Temporal's ScheduleService): their records
// in the store's `schedules` table, and a durable timer per schedule that starts workflows
// through the history engine at the times the schedule's spec names.
//
// Durability: a schedule's record holds `last_processed_time` (every nominal time at or before
// it has been handled) and the starts it owes (buffered starts, each with a request id). Both
// are written before a workflow is started, and a start is retried with the same request id,
// which the history engine deduplicates. After kill -9 a schedule resumes from its record: it
// catches up the times it missed within the catchup window, and never runs a nominal time
// twice (the workflow id of a scheduled run is derived from the nominal time).
//
// Threading: one thread of the scheduler's own runs due schedules. Every change to schedules
// (that thread and the RPC calls) is serialized by one mutex held across store calls; a
// per-schedule lock and a sharded timer are the way to scale past a few thousand schedules.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "common/clock.h"
#include "common/status.h"
#include "eon/v1/state.pb.h"
#include "history/history_service.h"
#include "persistence/store.h"
#include "temporal/api/workflowservice/v1/request_response.pb.h"

namespace eon::worker {

struct SchedulerOptions {
  Duration default_catchup_window = std::chrono::hours(365 * 24);
  Duration min_catchup_window = std::chrono::seconds(10);
  int recent_actions_max = 10;       // ScheduleInfo.recent_actions
  int future_action_times_max = 10;  // ScheduleInfo.future_action_times
  int list_recent_actions_max = 5;   // in ListSchedules entries
  int list_future_action_times_max = 5;
  int buffer_max = 1'000;          // starts a schedule may owe; more are dropped (buffer_dropped)
  int matching_times_max = 1'000;  // ListScheduleMatchingTimes answer
  // How often a schedule that waits for its running workflow to close looks again.
  Duration running_poll_interval = std::chrono::seconds(1);
  size_t id_length_max = 1'000;  // schedule id, workflow id
  // Several nodes on one database: whether this node runs a schedule (it holds the shard the
  // schedule id falls in). Null: a lone node runs every schedule. A schedule another node runs
  // is left alone here (its RPCs still work on any node: the record is in the database); every
  // `reload_interval` the schedules are read again, so one that became this node's is taken up
  // (and caught up) within that time, and one that moved away is dropped.
  std::function<bool(const std::string& namespace_id, const std::string& schedule_id)> runs_here;
  Duration reload_interval = std::chrono::seconds(5);
};

class Scheduler {
 public:
  Scheduler(persistence::Store& store, Clock& clock, history::HistoryService& history,
            SchedulerOptions options);
  ~Scheduler();  // Stop()

  // Loads every schedule and starts the timer thread. REQUIRES: history started.
  Status Start();
  // Only loads every schedule (each runs once at the next RunDueForTest): for tests that drive
  // the scheduler themselves.
  Status Load();
  // Stops the thread; calls after this fail with UNAVAILABLE.
  void Stop();

  // The RPCs, for a namespace already resolved by the frontend. Errors are INVALID_ARGUMENT
  // naming the field, NOT_FOUND ("schedule not found"), ALREADY_EXISTS with
  // WorkflowExecutionAlreadyStartedFailure for a taken schedule id (as Temporal answers), and
  // FAILED_PRECONDITION for an update whose conflict token is stale.
  Result<temporal::api::workflowservice::v1::CreateScheduleResponse> Create(
      const std::string& namespace_id,
      const temporal::api::workflowservice::v1::CreateScheduleRequest& request);
  Result<temporal::api::workflowservice::v1::DescribeScheduleResponse> Describe(
      const std::string& namespace_id, const std::string& schedule_id);
  Status Update(const std::string& namespace_id,
                const temporal::api::workflowservice::v1::UpdateScheduleRequest& request);
  Status Patch(const std::string& namespace_id,
               const temporal::api::workflowservice::v1::PatchScheduleRequest& request);
  Status Delete(const std::string& namespace_id, const std::string& schedule_id);
  Result<temporal::api::workflowservice::v1::ListScheduleMatchingTimesResponse> MatchingTimes(
      const std::string& namespace_id,
      const temporal::api::workflowservice::v1::ListScheduleMatchingTimesRequest& request);

  // Runs every schedule that has a wake-up once, now (tests; the thread does this on its own).
  void RunDueForTest();
  // With runs_here: reads the schedules again, takes up those that became this node's (each is
  // run at once, its catch-up) and drops those that did not stay. The thread does this every
  // reload_interval.
  Status Reload();

 private:
  using Key = std::pair<std::string, std::string>;  // namespace id, schedule id

  // Brings one schedule up to `now`: refreshes its running workflows, buffers the times that
  // came due, starts what the overlap policy allows, and saves. Returns when to run it next
  // (TimePoint::max(): only when something changes it). REQUIRES: mutex_ held.
  Result<TimePoint> ProcessLocked(persistence::StoredSchedule& stored);
  // Saves the record and its listing. REQUIRES: mutex_ held.
  Status SaveLocked(persistence::StoredSchedule& stored);
  persistence::ScheduleListing ListingOf(const eon::v1::ScheduleRecord& record);
  Result<temporal::api::common::v1::WorkflowExecution> StartOne(
      eon::v1::ScheduleRecord& record, const eon::v1::ScheduleBufferedStart& start);
  // The failure message of a failed workflow's close event ("" when it cannot be read).
  std::string FailureMessage(const std::string& namespace_id, const std::string& workflow_id);
  void FillFutureTimes(const eon::v1::ScheduleRecord& record, int count,
                       google::protobuf::RepeatedPtrField<google::protobuf::Timestamp>* out);
  Status ValidateSchedule(temporal::api::schedule::v1::Schedule* schedule);
  void ApplyPatch(eon::v1::ScheduleRecord& record,
                  const temporal::api::schedule::v1::SchedulePatch& patch);
  void Wake(const Key& key, TimePoint when);
  // Whether this node still runs the schedule; when not (it moved since the last reload), its
  // wake-up is dropped.
  bool StillRunsHere(const Key& key);
  void Loop();

  persistence::Store& store_;
  Clock& clock_;
  history::HistoryService& history_;
  const SchedulerOptions options_;

  std::mutex mutex_;  // serializes every change to schedules; held across store calls

  std::mutex wake_mutex_;
  std::condition_variable wake_changed_;
  std::map<Key, TimePoint> wakeups_;  // guarded by wake_mutex_
  bool stopping_ = false;             // guarded by wake_mutex_
  std::set<Key> run_here_;            // with runs_here: what this node runs; guarded by wake_mutex_
  std::thread thread_;
};

}  // namespace eon::worker
