// The scheduler against the real history engine and a real SQLite store, on a ManualClock: each
// test moves the clock and runs the due schedules itself (RunDueForTest), so nothing sleeps.
#include "worker/scheduler.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>

#include <filesystem>
#include <set>
#include <thread>

#include "common/executor.h"
#include "common/ids.h"
#include "history/history_engine.h"
#include "matching/local_matching.h"
#include "matching/matching_engine.h"
#include "persistence/sqlite_store.h"
#include "temporal/api/errordetails/v1/message.pb.h"

namespace eon::worker {
namespace {

using namespace std::chrono_literals;
namespace wfs = temporal::api::workflowservice::v1;
namespace enums = temporal::api::enums::v1;

constexpr char kNamespace[] = "ns-id";

TimePoint At(int hour, int minute, int second = 0) {
  std::tm tm{};
  tm.tm_year = 2026 - 1900;
  tm.tm_mon = 0;
  tm.tm_mday = 1;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(Open(":memory:")); }
  void TearDown() override {
    Close();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  void Open(const std::string& path) {
    persistence::SqliteOptions options;
    options.path = path;
    options.synchronous_full = false;
    auto store = persistence::SqliteStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(*store);
    deadlines_ = std::make_unique<ThreadDeadlineScheduler>();
    executor_ = std::make_unique<ThreadPool>("test-tasks", 2);
    matching_ = std::make_unique<matching::MatchingEngine>(*store_, *deadlines_,
                                                           matching::MatchingOptions{});
    ASSERT_TRUE(matching_->Recover().ok());
    local_matching_ = std::make_unique<matching::LocalMatching>(*matching_, *executor_);
    history_ = std::make_unique<history::HistoryEngine>(*store_, env_, *local_matching_,
                                                        *executor_, history::EngineOptions{});
    local_matching_->SetHistory(*history_);
    ASSERT_TRUE(history_->Start().ok());
    scheduler_ = std::make_unique<Scheduler>(*store_, clock_, *history_, SchedulerOptions{});
    ASSERT_TRUE(scheduler_->Load().ok());
  }

  // As a crash leaves things: nothing is flushed beyond what was committed.
  void Close() {
    scheduler_.reset();
    if (history_) history_->Stop();
    executor_.reset();
    history_.reset();
    local_matching_.reset();
    matching_.reset();
    deadlines_.reset();
    store_.reset();
  }

  std::string FileDb() {
    dir_ = (std::filesystem::temp_directory_path() /
            ("eon-scheduler-test-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    return dir_ + "/eon.db";
  }

  wfs::CreateScheduleRequest Request(const std::string& id, Duration every,
                                     enums::ScheduleOverlapPolicy policy) {
    wfs::CreateScheduleRequest r;
    r.set_namespace_("default");
    r.set_schedule_id(id);
    r.set_request_id(NewUuid());
    auto* iv = r.mutable_schedule()->mutable_spec()->add_interval();
    *iv->mutable_interval() = ToProtoDuration(every);
    auto* action = r.mutable_schedule()->mutable_action()->mutable_start_workflow();
    action->set_workflow_id("wf");
    action->mutable_workflow_type()->set_name("Job");
    action->mutable_task_queue()->set_name("tq");
    r.mutable_schedule()->mutable_policies()->set_overlap_policy(policy);
    return r;
  }

  void Create(const wfs::CreateScheduleRequest& r) {
    auto created = scheduler_->Create(kNamespace, r);
    ASSERT_TRUE(created.ok()) << created.status().message();
  }

  // Moves the clock and runs what came due.
  void AdvanceTo(TimePoint t) {
    clock_.Advance(t - clock_.Now());
    scheduler_->RunDueForTest();
  }

  wfs::DescribeScheduleResponse Describe(const std::string& id) {
    auto d = scheduler_->Describe(kNamespace, id);
    EXPECT_TRUE(d.ok()) << d.status().message();
    return d.ok() ? *d : wfs::DescribeScheduleResponse();
  }

  std::vector<std::string> Started(const std::string& id) {
    std::vector<std::string> out;
    const auto described = Describe(id);
    for (const auto& a : described.info().recent_actions())
      out.push_back(a.start_workflow_result().workflow_id());
    return out;
  }

  enums::WorkflowExecutionStatus StatusOf(const std::string& workflow_id) {
    auto current = store_->GetCurrentExecution(kNamespace, workflow_id);
    EXPECT_TRUE(current.ok()) << workflow_id;
    return current.ok() ? current->status : enums::WORKFLOW_EXECUTION_STATUS_UNSPECIFIED;
  }

  void Terminate(const std::string& workflow_id) {
    wfs::TerminateWorkflowExecutionRequest t;
    t.mutable_workflow_execution()->set_workflow_id(workflow_id);
    ASSERT_TRUE(history_->TerminateWorkflowExecution(kNamespace, t).ok());
  }

  ManualClock clock_{At(0, 0, 30)};
  RealEnv env_{clock_};
  std::string dir_;
  std::unique_ptr<persistence::SqliteStore> store_;
  std::unique_ptr<DeadlineScheduler> deadlines_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<matching::MatchingEngine> matching_;
  std::unique_ptr<matching::LocalMatching> local_matching_;
  std::unique_ptr<history::HistoryEngine> history_;
  std::unique_ptr<Scheduler> scheduler_;
};

TEST_F(SchedulerTest, StartsRunsNamedAfterTheNominalTimeWithTheScheduleAttributes) {
  Create(Request("s", 1min, enums::SCHEDULE_OVERLAP_POLICY_ALLOW_ALL));
  AdvanceTo(At(0, 1, 0));
  ASSERT_EQ(Started("s"), std::vector<std::string>{"wf-2026-01-01T00:01:00Z"});
  auto run = store_->GetCurrentExecution(kNamespace, "wf-2026-01-01T00:01:00Z");
  ASSERT_TRUE(run.ok());
  auto state = store_->GetExecution({kNamespace, "wf-2026-01-01T00:01:00Z", run->run_id});
  ASSERT_TRUE(state.ok());
  const auto& fields = state->state.search_attributes().indexed_fields();
  EXPECT_EQ(fields.at("TemporalScheduledById").data(), "\"s\"");
  EXPECT_EQ(fields.at("TemporalScheduledStartTime").data(), "\"2026-01-01T00:01:00Z\"");
  // Describe: counts, the next times, the conflict token.
  auto d = Describe("s");
  EXPECT_EQ(d.info().action_count(), 1);
  ASSERT_GE(d.info().future_action_times_size(), 2);
  EXPECT_EQ(FromTimestamp(d.info().future_action_times(0)), At(0, 2, 0));
  EXPECT_EQ(d.conflict_token().size(), 8u);
}

// Several nodes on one database: each schedule runs on one node only (runs_here), a schedule
// created through the node that does not run it is taken up by the one that does at its next
// reload, and when it moves the new node catches it up without running a time twice.
TEST_F(SchedulerTest, EachScheduleRunsOnTheNodeThatOwnsItAndMovesWithIt) {
  std::atomic<bool> a_runs_it{false};
  SchedulerOptions a_options;
  a_options.runs_here = [&](const std::string&, const std::string&) { return a_runs_it.load(); };
  SchedulerOptions b_options;
  b_options.runs_here = [&](const std::string&, const std::string&) { return !a_runs_it.load(); };
  // What the schedule's record says it started (read from the store: a describe through a
  // scheduler would bring the schedule up to date itself).
  auto Recorded = [&](const std::string& id) {
    std::vector<std::string> out;
    auto stored = store_->GetSchedule(kNamespace, id);
    EXPECT_TRUE(stored.ok());
    if (!stored.ok()) return out;
    for (const auto& action : stored->record.info().recent_actions())
      out.push_back(action.start_workflow_result().workflow_id());
    return out;
  };
  Scheduler a(*store_, clock_, *history_, a_options);
  Scheduler b(*store_, clock_, *history_, b_options);
  ASSERT_TRUE(a.Load().ok());
  ASSERT_TRUE(b.Load().ok());

  // Created through a, which does not run it: a never starts anything for it.
  ASSERT_TRUE(a.Create(kNamespace, Request("s", 1min, enums::SCHEDULE_OVERLAP_POLICY_ALLOW_ALL))
                  .ok());
  clock_.Advance(At(0, 1, 0) - clock_.Now());
  a.RunDueForTest();
  EXPECT_TRUE(Recorded("s").empty());
  // b takes it up at its reload and runs the time that came due.
  b.RunDueForTest();
  EXPECT_TRUE(Recorded("s").empty()) << "b ran a schedule it had not read yet";
  ASSERT_TRUE(b.Reload().ok());
  b.RunDueForTest();
  EXPECT_EQ(Recorded("s"), std::vector<std::string>{"wf-2026-01-01T00:01:00Z"});

  // It moves to a: b leaves it at once, a takes it up at its reload and catches up 00:02 and
  // 00:03 only (00:01 ran on b).
  a_runs_it = true;
  clock_.Advance(At(0, 3, 0) - clock_.Now());
  b.RunDueForTest();
  EXPECT_EQ(Recorded("s").size(), 1u);
  ASSERT_TRUE(a.Reload().ok());
  a.RunDueForTest();
  ASSERT_TRUE(b.Reload().ok());
  b.RunDueForTest();
  EXPECT_EQ(Recorded("s"),
            (std::vector<std::string>{"wf-2026-01-01T00:01:00Z", "wf-2026-01-01T00:02:00Z",
                                      "wf-2026-01-01T00:03:00Z"}));
}

TEST_F(SchedulerTest, SkipDropsTimesWhileTheLastRunRuns) {
  Create(Request("s", 1min, enums::SCHEDULE_OVERLAP_POLICY_SKIP));
  AdvanceTo(At(0, 1, 0));
  AdvanceTo(At(0, 2, 0));
  AdvanceTo(At(0, 3, 0));
  auto d = Describe("s");
  EXPECT_EQ(d.info().action_count(), 1);
  EXPECT_EQ(d.info().overlap_skipped(), 2);
  ASSERT_EQ(d.info().running_workflows_size(), 1);
  Terminate("wf-2026-01-01T00:01:00Z");
  AdvanceTo(At(0, 4, 0));
  EXPECT_EQ(Describe("s").info().action_count(), 2);
  EXPECT_EQ(Started("s").back(), "wf-2026-01-01T00:04:00Z");
}

TEST_F(SchedulerTest, BufferOneKeepsOneStartForWhenTheRunCloses) {
  Create(Request("s", 1min, enums::SCHEDULE_OVERLAP_POLICY_BUFFER_ONE));
  AdvanceTo(At(0, 1, 0));
  AdvanceTo(At(0, 2, 0));
  AdvanceTo(At(0, 3, 0));
  auto d = Describe("s");
  EXPECT_EQ(d.info().action_count(), 1);
  EXPECT_EQ(d.info().buffer_size(), 1);
  EXPECT_EQ(d.info().overlap_skipped(), 1);
  Terminate("wf-2026-01-01T00:01:00Z");
  AdvanceTo(At(0, 3, 1));
  // The buffered one (00:02) starts as soon as the first closed.
  EXPECT_EQ(Started("s"),
            (std::vector<std::string>{"wf-2026-01-01T00:01:00Z", "wf-2026-01-01T00:02:00Z"}));
}

TEST_F(SchedulerTest, BufferAllStartsEveryTimeInTurn) {
  Create(Request("s", 1min, enums::SCHEDULE_OVERLAP_POLICY_BUFFER_ALL));
  AdvanceTo(At(0, 1, 0));
  AdvanceTo(At(0, 2, 0));
  AdvanceTo(At(0, 3, 0));
  EXPECT_EQ(Describe("s").info().buffer_size(), 2);
  Terminate("wf-2026-01-01T00:01:00Z");
  AdvanceTo(At(0, 3, 1));
  Terminate("wf-2026-01-01T00:02:00Z");
  AdvanceTo(At(0, 3, 2));
  EXPECT_EQ(Started("s"),
            (std::vector<std::string>{"wf-2026-01-01T00:01:00Z", "wf-2026-01-01T00:02:00Z",
                                      "wf-2026-01-01T00:03:00Z"}));
  EXPECT_EQ(Describe("s").info().overlap_skipped(), 0);
}

TEST_F(SchedulerTest, AllowAllStartsOverlappingRunsAndDoesNotTrackThem) {
  Create(Request("s", 1min, enums::SCHEDULE_OVERLAP_POLICY_ALLOW_ALL));
  AdvanceTo(At(0, 1, 0));
  AdvanceTo(At(0, 2, 0));
  auto d = Describe("s");
  EXPECT_EQ(d.info().action_count(), 2);
  EXPECT_EQ(d.info().running_workflows_size(), 0);
  EXPECT_EQ(StatusOf("wf-2026-01-01T00:01:00Z"), enums::WORKFLOW_EXECUTION_STATUS_RUNNING);
  EXPECT_EQ(StatusOf("wf-2026-01-01T00:02:00Z"), enums::WORKFLOW_EXECUTION_STATUS_RUNNING);
}

TEST_F(SchedulerTest, TerminateOtherEndsTheRunningOneAndStartsTheNew) {
  Create(Request("s", 1min, enums::SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER));
  AdvanceTo(At(0, 1, 0));
  AdvanceTo(At(0, 2, 0));
  EXPECT_EQ(StatusOf("wf-2026-01-01T00:01:00Z"), enums::WORKFLOW_EXECUTION_STATUS_TERMINATED);
  AdvanceTo(At(0, 2, 1));
  EXPECT_EQ(StatusOf("wf-2026-01-01T00:02:00Z"), enums::WORKFLOW_EXECUTION_STATUS_RUNNING);
  EXPECT_EQ(Describe("s").info().action_count(), 2);
}

TEST_F(SchedulerTest, CancelOtherAsksTheRunningOneToCancel) {
  Create(Request("s", 1min, enums::SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER));
  AdvanceTo(At(0, 1, 0));
  AdvanceTo(At(0, 2, 0));
  auto run = history_->DescribeWorkflowExecution(kNamespace, [] {
    temporal::api::common::v1::WorkflowExecution e;
    e.set_workflow_id("wf-2026-01-01T00:01:00Z");
    return e;
  }());
  ASSERT_TRUE(run.ok());
  wfs::GetWorkflowExecutionHistoryRequest h;
  h.mutable_execution()->set_workflow_id("wf-2026-01-01T00:01:00Z");
  bool at_end = false;
  std::string run_id;
  auto history = history_->GetWorkflowExecutionHistory(kNamespace, h, &at_end, &run_id);
  ASSERT_TRUE(history.ok());
  bool cancel_requested = false;
  for (const auto& e : history->history().events())
    cancel_requested |= e.event_type() == enums::EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED;
  EXPECT_TRUE(cancel_requested);
  EXPECT_EQ(Describe("s").info().buffer_size(), 1);  // started once the first one closes
  Terminate("wf-2026-01-01T00:01:00Z");
  AdvanceTo(At(0, 2, 1));
  EXPECT_EQ(StatusOf("wf-2026-01-01T00:02:00Z"), enums::WORKFLOW_EXECUTION_STATUS_RUNNING);
}

TEST_F(SchedulerTest, PausedSchedulesTakeNoScheduledActionsButTriggerAndBackfillRun) {
  auto r = Request("s", 1min, enums::SCHEDULE_OVERLAP_POLICY_ALLOW_ALL);
  r.mutable_schedule()->mutable_state()->set_paused(true);
  Create(r);
  AdvanceTo(At(0, 5, 0));
  EXPECT_EQ(Describe("s").info().action_count(), 0);
  wfs::PatchScheduleRequest trigger;
  trigger.set_schedule_id("s");
  trigger.mutable_patch()->mutable_trigger_immediately();
  ASSERT_TRUE(scheduler_->Patch(kNamespace, trigger).ok());
  AdvanceTo(At(0, 5, 1));
  EXPECT_EQ(Describe("s").info().action_count(), 1);
  // Backfill 00:10..00:12 inclusive: three times, even while paused.
  wfs::PatchScheduleRequest backfill;
  backfill.set_schedule_id("s");
  auto* b = backfill.mutable_patch()->add_backfill_request();
  *b->mutable_start_time() = ToTimestamp(At(0, 10, 0));
  *b->mutable_end_time() = ToTimestamp(At(0, 12, 0));
  b->set_overlap_policy(enums::SCHEDULE_OVERLAP_POLICY_ALLOW_ALL);
  ASSERT_TRUE(scheduler_->Patch(kNamespace, backfill).ok());
  AdvanceTo(At(0, 5, 2));
  auto d = Describe("s");
  EXPECT_EQ(d.info().action_count(), 4);
  EXPECT_EQ(StatusOf("wf-2026-01-01T00:12:00Z"), enums::WORKFLOW_EXECUTION_STATUS_RUNNING);
  // Unpause with a note: scheduled actions resume from now, not from when it was paused.
  wfs::PatchScheduleRequest unpause;
  unpause.set_schedule_id("s");
  unpause.mutable_patch()->set_unpause("back to work");
  ASSERT_TRUE(scheduler_->Patch(kNamespace, unpause).ok());
  AdvanceTo(At(0, 6, 0));
  d = Describe("s");
  EXPECT_FALSE(d.schedule().state().paused());
  EXPECT_EQ(d.schedule().state().notes(), "back to work");
  EXPECT_EQ(d.info().action_count(), 5);
  EXPECT_EQ(d.info().missed_catchup_window(), 0);
}

TEST_F(SchedulerTest, CatchesUpAfterARestartAndNeverRunsATimeTwice) {
  Close();
  const std::string db = FileDb();
  ASSERT_NO_FATAL_FAILURE(Open(db));
  auto r = Request("s", 1min, enums::SCHEDULE_OVERLAP_POLICY_ALLOW_ALL);
  *r.mutable_schedule()->mutable_policies()->mutable_catchup_window() = ToProtoDuration(3min);
  Create(r);
  AdvanceTo(At(0, 1, 0));
  ASSERT_EQ(Describe("s").info().action_count(), 1);
  // Down from 00:01:30 to 00:06:30: 00:02 is outside the 3-minute catchup window, 00:04..00:06
  // are caught up, 00:01 is not run again.
  Close();
  clock_.Advance(At(0, 6, 30) - clock_.Now());
  ASSERT_NO_FATAL_FAILURE(Open(db));
  scheduler_->RunDueForTest();
  auto d = Describe("s");
  EXPECT_EQ(d.info().action_count(), 4);
  EXPECT_EQ(d.info().missed_catchup_window(), 2);  // 00:02 and 00:03
  std::set<std::string> ids;
  for (const auto& a : d.info().recent_actions())
    ids.insert(a.start_workflow_result().workflow_id());
  EXPECT_EQ(ids, (std::set<std::string>{"wf-2026-01-01T00:01:00Z", "wf-2026-01-01T00:04:00Z",
                                        "wf-2026-01-01T00:05:00Z", "wf-2026-01-01T00:06:00Z"}));
  // A second restart at the same time runs nothing again.
  Close();
  ASSERT_NO_FATAL_FAILURE(Open(db));
  scheduler_->RunDueForTest();
  EXPECT_EQ(Describe("s").info().action_count(), 4);
}

TEST_F(SchedulerTest, ABufferedStartSurvivesACrashAndIsStartedOnce) {
  Close();
  const std::string db = FileDb();
  ASSERT_NO_FATAL_FAILURE(Open(db));
  auto r = Request("s", 1h, enums::SCHEDULE_OVERLAP_POLICY_ALLOW_ALL);
  r.mutable_schedule()->mutable_state()->set_paused(true);
  Create(r);
  // Trigger is accepted (written to the buffer), then the process dies before it runs.
  wfs::PatchScheduleRequest trigger;
  trigger.set_schedule_id("s");
  trigger.mutable_patch()->mutable_trigger_immediately();
  ASSERT_TRUE(scheduler_->Patch(kNamespace, trigger).ok());
  Close();
  ASSERT_NO_FATAL_FAILURE(Open(db));
  scheduler_->RunDueForTest();
  scheduler_->RunDueForTest();
  EXPECT_EQ(Describe("s").info().action_count(), 1);
  EXPECT_EQ(Describe("s").info().buffer_size(), 0);
}

TEST_F(SchedulerTest, DuplicateIdsUpdatesConflictsAndDeletes) {
  auto r = Request("s", 1min, enums::SCHEDULE_OVERLAP_POLICY_SKIP);
  Create(r);
  EXPECT_TRUE(scheduler_->Create(kNamespace, r).ok());  // the same request again
  r.set_request_id(NewUuid());
  auto again = scheduler_->Create(kNamespace, r);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::ALREADY_EXISTS);
  ASSERT_TRUE(again.status().detail().has_value());
  EXPECT_TRUE(again.status()
                  .detail()
                  ->Is<temporal::api::errordetails::v1::WorkflowExecutionAlreadyStartedFailure>());

  auto d = Describe("s");
  wfs::UpdateScheduleRequest update;
  update.set_schedule_id("s");
  *update.mutable_schedule() = d.schedule();
  update.mutable_schedule()->mutable_action()->mutable_start_workflow()->set_workflow_id("wf2");
  update.set_conflict_token(d.conflict_token());
  ASSERT_TRUE(scheduler_->Update(kNamespace, update).ok());
  auto stale = scheduler_->Update(kNamespace, update);  // the token moved on
  EXPECT_EQ(stale.code(), StatusCode::FAILED_PRECONDITION);
  AdvanceTo(At(0, 1, 0));
  EXPECT_EQ(Started("s"), std::vector<std::string>{"wf2-2026-01-01T00:01:00Z"});

  ASSERT_TRUE(scheduler_->Delete(kNamespace, "s").ok());
  EXPECT_EQ(scheduler_->Describe(kNamespace, "s").status().code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(scheduler_->Delete(kNamespace, "s").code(), StatusCode::NOT_FOUND);
  AdvanceTo(At(0, 2, 0));  // nothing runs for a deleted schedule
  EXPECT_EQ(store_->GetCurrentExecution(kNamespace, "wf2-2026-01-01T00:02:00Z").status().code(),
            StatusCode::NOT_FOUND);
}

TEST_F(SchedulerTest, BadRequestsAreInvalidArguments) {
  auto zero = Request("s", 0s, enums::SCHEDULE_OVERLAP_POLICY_SKIP);
  auto no_type = Request("s", 1min, enums::SCHEDULE_OVERLAP_POLICY_SKIP);
  no_type.mutable_schedule()->mutable_action()->mutable_start_workflow()->clear_workflow_type();
  auto no_id = Request("", 1min, enums::SCHEDULE_OVERLAP_POLICY_SKIP);
  auto cron = Request("s", 1min, enums::SCHEDULE_OVERLAP_POLICY_SKIP);
  cron.mutable_schedule()->mutable_spec()->add_cron_string("@every .s");
  for (const auto* r : {&zero, &no_type, &no_id, &cron}) {
    auto created = scheduler_->Create(kNamespace, *r);
    ASSERT_FALSE(created.ok());
    EXPECT_EQ(created.status().code(), StatusCode::INVALID_ARGUMENT) << created.status().message();
  }
}

TEST_F(SchedulerTest, MatchingTimesAndLimitedActions) {
  auto r = Request("s", 1min, enums::SCHEDULE_OVERLAP_POLICY_ALLOW_ALL);
  r.mutable_schedule()->mutable_state()->set_limited_actions(true);
  r.mutable_schedule()->mutable_state()->set_remaining_actions(2);
  Create(r);
  wfs::ListScheduleMatchingTimesRequest m;
  m.set_schedule_id("s");
  *m.mutable_start_time() = ToTimestamp(At(1, 0, 0));
  *m.mutable_end_time() = ToTimestamp(At(1, 3, 0));
  auto times = scheduler_->MatchingTimes(kNamespace, m);
  ASSERT_TRUE(times.ok());
  ASSERT_EQ(times->start_time_size(), 3);  // 01:01, 01:02, 01:03
  EXPECT_EQ(FromTimestamp(times->start_time(0)), At(1, 1, 0));
  AdvanceTo(At(0, 1, 0));
  AdvanceTo(At(0, 2, 0));
  AdvanceTo(At(0, 3, 0));
  auto d = Describe("s");
  EXPECT_EQ(d.info().action_count(), 2);
  EXPECT_EQ(d.schedule().state().remaining_actions(), 0);
  EXPECT_EQ(d.info().future_action_times_size(), 0);
}

TEST_F(SchedulerTest, PauseOnFailurePausesWhenARunTimesOut) {
  auto r = Request("s", 1min, enums::SCHEDULE_OVERLAP_POLICY_SKIP);
  r.mutable_schedule()->mutable_policies()->set_pause_on_failure(true);
  *r.mutable_schedule()
       ->mutable_action()
       ->mutable_start_workflow()
       ->mutable_workflow_run_timeout() = ToProtoDuration(10s);
  Create(r);
  AdvanceTo(At(0, 1, 0));
  clock_.Advance(20s);
  // The history engine's timer thread times the run out (it looks at the clock every 200 ms).
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (StatusOf("wf-2026-01-01T00:01:00Z") != enums::WORKFLOW_EXECUTION_STATUS_TIMED_OUT &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_EQ(StatusOf("wf-2026-01-01T00:01:00Z"), enums::WORKFLOW_EXECUTION_STATUS_TIMED_OUT);
  AdvanceTo(At(0, 1, 30));
  auto d = Describe("s");
  EXPECT_TRUE(d.schedule().state().paused());
  EXPECT_EQ(d.schedule().state().notes(),
            "paused due to workflow timeout: wf-2026-01-01T00:01:00Z");
  ASSERT_EQ(d.info().recent_actions_size(), 1);
  EXPECT_EQ(d.info().recent_actions(0).start_workflow_status(),
            enums::WORKFLOW_EXECUTION_STATUS_TIMED_OUT);
  AdvanceTo(At(0, 3, 0));
  EXPECT_EQ(Describe("s").info().action_count(), 1);
}

}  // namespace
}  // namespace eon::worker
