// Unit tests of the history engine's state transitions: what each request and each outbox task
// writes to the history, what it dispatches to matching, and which stale requests it refuses.
// The engine runs for real (SQLite store, matching engine, queue processors) on a ManualClock, so
// timeouts and retry backoffs are driven by advancing the clock.
#include "history/history_engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/executor.h"
#include "common/ids.h"
#include "common/test_wait.h"
#include "history/stored_failure.h"
#include "matching/local_matching.h"
#include "matching/matching_engine.h"
#include "persistence/sqlite_store.h"
#include "temporal/api/errordetails/v1/message.pb.h"
#include "visibility/query.h"

namespace eon::history {
namespace {

using namespace std::chrono_literals;
using std::chrono::steady_clock;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

namespace common = temporal::api::common::v1;
namespace command = temporal::api::command::v1;
namespace enums = temporal::api::enums::v1;
namespace failure = temporal::api::failure::v1;
namespace hist = temporal::api::history::v1;

constexpr char kNamespace[] = "ns-id";
constexpr char kQueue[] = "tq";
constexpr auto kWorkflowKind = eon::v1::TASK_QUEUE_KIND_WORKFLOW;
constexpr auto kActivityKind = eon::v1::TASK_QUEUE_KIND_ACTIVITY;

// Bounded at 5 s, well past the 200 ms at which the timer thread looks at the clock again.
using test_support::WaitFor;

// A task pool that holds what it is given until Release (then runs it, and what follows, on
// threads of its own): shows what gets done without it.
class GatedExecutor final : public Executor {
 public:
  void Submit(std::function<void()> fn) override {
    {
      std::lock_guard lock(mutex_);
      if (gated_) {
        held_.push_back(std::move(fn));
        return;
      }
    }
    pool_.Submit(std::move(fn));
  }
  void Release() {
    std::vector<std::function<void()>> held;
    {
      std::lock_guard lock(mutex_);
      gated_ = false;
      held.swap(held_);
    }
    for (auto& fn : held) pool_.Submit(std::move(fn));
  }

 private:
  ThreadPool pool_{"test-gated", 2};
  std::mutex mutex_;
  bool gated_ = true;                        // guarded by mutex_
  std::vector<std::function<void()>> held_;  // guarded by mutex_
};

common::Payloads Payload(const std::string& data) {
  common::Payloads payloads;
  auto* payload = payloads.add_payloads();
  (*payload->mutable_metadata())["encoding"] = "json/plain";
  payload->set_data(data);
  return payloads;
}

eon::v1::TaskToken TokenOf(const std::string& bytes) {
  eon::v1::TaskToken token;
  EXPECT_TRUE(token.ParseFromString(bytes)) << "task token is not an eon.v1.TaskToken";
  return token;
}

std::vector<enums::EventType> Types(const std::vector<hist::HistoryEvent>& events) {
  std::vector<enums::EventType> types;
  for (const auto& event : events) types.push_back(event.event_type());
  return types;
}

std::vector<enums::EventType> Types(const hist::History& history) {
  return Types(std::vector<hist::HistoryEvent>(history.events().begin(), history.events().end()));
}

common::RetryPolicy Retry(Duration initial, int32_t maximum_attempts) {
  common::RetryPolicy policy;
  *policy.mutable_initial_interval() = ToProtoDuration(initial);
  policy.set_maximum_attempts(maximum_attempts);
  return policy;
}

struct ActivitySpec {
  std::string id = "act-1";
  std::string type = "Greet";
  Duration start_to_close = 10s;
  Duration schedule_to_close{};
  Duration schedule_to_start{};
  Duration heartbeat{};
  std::optional<common::RetryPolicy> retry = std::nullopt;
};

command::Command ScheduleActivity(const ActivitySpec& spec) {
  command::Command c;
  c.set_command_type(enums::COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK);
  auto* a = c.mutable_schedule_activity_task_command_attributes();
  a->set_activity_id(spec.id);
  a->mutable_activity_type()->set_name(spec.type);
  *a->mutable_input() = Payload("\"input of " + spec.id + "\"");
  if (spec.start_to_close.count())
    *a->mutable_start_to_close_timeout() = ToProtoDuration(spec.start_to_close);
  if (spec.schedule_to_close.count())
    *a->mutable_schedule_to_close_timeout() = ToProtoDuration(spec.schedule_to_close);
  if (spec.schedule_to_start.count())
    *a->mutable_schedule_to_start_timeout() = ToProtoDuration(spec.schedule_to_start);
  if (spec.heartbeat.count()) *a->mutable_heartbeat_timeout() = ToProtoDuration(spec.heartbeat);
  if (spec.retry) *a->mutable_retry_policy() = *spec.retry;
  return c;
}

command::Command CompleteWorkflow(const std::string& result) {
  command::Command c;
  c.set_command_type(enums::COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION);
  *c.mutable_complete_workflow_execution_command_attributes()->mutable_result() = Payload(result);
  return c;
}

failure::Failure ApplicationFailure(const std::string& message, bool non_retryable = false,
                                    const std::string& type = "Error") {
  failure::Failure f;
  f.set_message(message);
  f.mutable_application_failure_info()->set_type(type);
  f.mutable_application_failure_info()->set_non_retryable(non_retryable);
  return f;
}

class HistoryEngineTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(Open(":memory:")); }

  void TearDown() override {
    Close();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Builds the process as server.cc does: store, matching (recovered), history (started).
  void Open(const std::string& path) {
    persistence::SqliteOptions store_options;
    store_options.path = path;
    store_options.synchronous_full = false;
    auto store = persistence::SqliteStore::Open(store_options);
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(*store);
    scheduler_ = std::make_unique<ThreadDeadlineScheduler>();
    if (gate_task_pool_) {
      auto gated = std::make_unique<GatedExecutor>();
      gated_ = gated.get();
      executor_ = std::move(gated);
    } else {
      executor_ = std::make_unique<ThreadPool>("test-tasks", 2);
    }
    matching::MatchingOptions matching_options;
    matching_options.clock = &clock_;  // sticky tasks expire on the engine's clock
    matching_ = std::make_unique<matching::MatchingEngine>(*store_, *scheduler_,
                                                           std::move(matching_options));
    Status recovered = matching_->Recover();
    ASSERT_TRUE(recovered.ok()) << recovered.message();
    local_matching_ = std::make_unique<matching::LocalMatching>(*matching_, *executor_);
    engine_ = std::make_unique<HistoryEngine>(*store_, env_, *local_matching_, *executor_,
                                              EngineOptions{});
    local_matching_->SetHistory(*engine_);
    Status started = engine_->Start();
    ASSERT_TRUE(started.ok()) << started.message();
  }

  // Tears the process down in the server's order (as a crash would leave the database).
  void Close() {
    if (engine_) engine_->Stop();
    executor_.reset();  // runs what is queued
    engine_.reset();
    local_matching_.reset();
    matching_.reset();  // answers parked polls with nothing
    scheduler_.reset();
    store_.reset();
  }

  // A file database in a fresh directory of this test's own.
  std::string FileDb() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    static std::atomic<int> counter{0};
    dir_ = (std::filesystem::temp_directory_path() /
            ("eon-history-test-" + std::to_string(::getpid()) + "-" + info->name() + "-" +
             std::to_string(counter++)))
               .string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    return dir_ + "/eon.db";
  }

  Result<StartResult> Start(const std::string& workflow_id, const std::string& request_id = "",
                            Duration task_timeout = {}) {
    wfs::StartWorkflowExecutionRequest request;
    request.set_workflow_id(workflow_id);
    request.mutable_workflow_type()->set_name("GreetingWorkflow");
    request.mutable_task_queue()->set_name(kQueue);
    *request.mutable_input() = Payload("\"world\"");
    request.set_identity("client-1");
    request.set_request_id(request_id.empty() ? NewUuid() : request_id);
    if (task_timeout.count())
      *request.mutable_workflow_task_timeout() = ToProtoDuration(task_timeout);
    return engine_->StartWorkflowExecution(kNamespace, request);
  }

  std::string StartOk(const std::string& workflow_id, Duration task_timeout = {}) {
    auto started = Start(workflow_id, "", task_timeout);
    EXPECT_TRUE(started.ok()) << started.status().message();
    return started.ok() ? started->run_id : "";
  }

  // Parks a poll on matching and waits for its answer (a task, or nothing at `wait`).
  std::optional<matching::MatchedTask> Take(eon::v1::TaskQueueKind kind,
                                            std::chrono::milliseconds wait = 5s,
                                            const std::string& queue = kQueue) {
    auto promise = std::make_shared<std::promise<std::optional<matching::MatchedTask>>>();
    auto answer = promise->get_future();
    matching_->Poll({kNamespace, queue, kind}, {"test-worker", ""}, steady_clock::now() + wait,
                    [promise](std::optional<matching::MatchedTask> task) {
                      promise->set_value(std::move(task));
                    });
    if (answer.wait_for(wait + 5s) != std::future_status::ready) {
      ADD_FAILURE() << "a poll was never answered";
      return std::nullopt;
    }
    return answer.get();
  }

  // A workflow task poll on the test queue, as the frontend makes one for `identity`.
  static matching::PollRequest WorkflowPollRequest(const std::string& identity, Duration wait) {
    matching::PollRequest poll;
    poll.queue = {kNamespace, kQueue, kWorkflowKind};
    poll.namespace_name = "ns";
    poll.poller = {identity, ""};
    poll.poll_request_id = NewUuid();
    poll.deadline = steady_clock::now() + wait;
    return poll;
  }

  // Parks a workflow task poll the way the frontend does.
  std::future<Result<wfs::PollWorkflowTaskQueueResponse>> ParkPoll(
      const std::string& request_id = NewUuid(), const std::string& queue = kQueue) {
    matching::PollRequest poll = WorkflowPollRequest("parked-worker", 30s);
    poll.queue.name = queue;
    poll.poll_request_id = request_id;
    return Parked<wfs::PollWorkflowTaskQueueResponse>(
        [&](auto answer) { return local_matching_->PollWorkflowTaskQueue(poll, answer); });
  }

  // Parks an activity task poll the way the frontend does.
  std::future<Result<wfs::PollActivityTaskQueueResponse>> ParkActivityPoll(
      const std::string& request_id) {
    matching::PollRequest poll = WorkflowPollRequest("parked-activity-worker", 30s);
    poll.queue.kind = kActivityKind;
    poll.poll_request_id = request_id;
    return Parked<wfs::PollActivityTaskQueueResponse>(
        [&](auto answer) { return local_matching_->PollActivityTaskQueue(poll, answer); });
  }

  // Runs `park(answer)` (a poll of LocalMatching's), keeps its pending poll, and returns the
  // poll's answer to come.
  template <typename Resp, typename Park>
  std::future<Result<Resp>> Parked(Park park) {
    auto polled = std::make_shared<std::promise<Result<Resp>>>();
    pending_polls_.push_back(park(std::function<void(Result<Resp>)>(
        [polled](Result<Resp> response) { polled->set_value(std::move(response)); })));
    return polled->get_future();
  }

  // Polls parked on all queues.
  int64_t ParkedPolls() {
    int64_t parked = 0;
    for (const auto& queue : matching_->Stats()) parked += queue.parked_polls;
    return parked;
  }

  // The version of the run's stored state: the number of commits that wrote it.
  int64_t StoredVersion(const std::string& workflow_id, const std::string& run_id) {
    auto stored = store_->GetExecution({kNamespace, workflow_id, run_id});
    EXPECT_TRUE(stored.ok()) << stored.status().message();
    return stored.ok() ? stored->db_version : -1;
  }

  // The frontend's poll path: take a workflow task from matching, record it started, Done.
  std::optional<wfs::PollWorkflowTaskQueueResponse> PollWorkflowTask(
      const std::string& identity = "wf-worker") {
    auto matched = Take(kWorkflowKind);
    if (!matched) {
      ADD_FAILURE() << "no workflow task was dispatched";
      return std::nullopt;
    }
    auto response = engine_->RecordWorkflowTaskStarted(matched->task, NewUuid(), identity);
    matching_->Done(*matched);
    if (!response.ok()) {
      ADD_FAILURE() << "RecordWorkflowTaskStarted: " << response.status().message();
      return std::nullopt;
    }
    return std::move(*response);
  }

  std::optional<wfs::PollActivityTaskQueueResponse> PollActivityTask(
      const std::string& identity = "act-worker") {
    auto matched = Take(kActivityKind);
    if (!matched) {
      ADD_FAILURE() << "no activity task was dispatched";
      return std::nullopt;
    }
    auto response = engine_->RecordActivityTaskStarted(matched->task, NewUuid(), identity);
    matching_->Done(*matched);
    if (!response.ok()) {
      ADD_FAILURE() << "RecordActivityTaskStarted: " << response.status().message();
      return std::nullopt;
    }
    return std::move(*response);
  }

  Result<wfs::RespondWorkflowTaskCompletedResponse> CompleteWorkflowTask(
      const wfs::PollWorkflowTaskQueueResponse& task, std::vector<command::Command> commands,
      bool force_new_workflow_task = false) {
    wfs::RespondWorkflowTaskCompletedRequest request;
    request.set_task_token(task.task_token());
    request.set_identity("wf-worker");
    for (auto& c : commands) *request.add_commands() = std::move(c);
    request.set_force_create_new_workflow_task(force_new_workflow_task);
    return engine_->RespondWorkflowTaskCompleted(TokenOf(task.task_token()), request);
  }

  Status CompleteActivity(const wfs::PollActivityTaskQueueResponse& task,
                          const std::string& result) {
    return engine_->RespondActivityTaskCompleted(TokenOf(task.task_token()), Payload(result),
                                                 "act-worker");
  }

  Status FailActivity(const wfs::PollActivityTaskQueueResponse& task, const failure::Failure& f) {
    return engine_->RespondActivityTaskFailed(TokenOf(task.task_token()), f, nullptr, "act-worker");
  }

  Status Terminate(const std::string& workflow_id, const std::string& reason = "enough") {
    wfs::TerminateWorkflowExecutionRequest request;
    request.mutable_workflow_execution()->set_workflow_id(workflow_id);
    request.set_reason(reason);
    *request.mutable_details() = Payload("\"details\"");
    request.set_identity("operator");
    return engine_->TerminateWorkflowExecution(kNamespace, request);
  }

  wfs::DescribeWorkflowExecutionResponse Describe(const std::string& workflow_id) {
    common::WorkflowExecution execution;
    execution.set_workflow_id(workflow_id);
    auto described = engine_->DescribeWorkflowExecution(kNamespace, execution);
    EXPECT_TRUE(described.ok()) << described.status().message();
    return described.ok() ? *described : wfs::DescribeWorkflowExecutionResponse();
  }

  // The one pending activity of a workflow, if it has exactly one.
  std::optional<temporal::api::workflow::v1::PendingActivityInfo> PendingActivity(
      const std::string& workflow_id) {
    auto described = Describe(workflow_id);
    if (described.pending_activities_size() != 1) return std::nullopt;
    return described.pending_activities(0);
  }

  // Waits until matching's durable backlog of a queue holds `n` tasks.
  bool BacklogReaches(eon::v1::TaskQueueKind kind, size_t n) {
    return WaitFor([&] {
      auto tasks = store_->LoadQueueTasks(kNamespace, kQueue, kind, 0, 100);
      return tasks.ok() && tasks->size() >= n;
    });
  }

  // Timer tasks of one type (and timeout type, if given) in the store, over all shards.
  int StoredTimers(eon::v1::HistoryTaskType type,
                   enums::TimeoutType timeout = enums::TIMEOUT_TYPE_UNSPECIFIED) {
    auto shards = store_->ShardCount();
    if (!shards.ok()) return -1;
    int count = 0;
    for (int32_t shard = 0; shard < *shards; ++shard) {
      auto tasks = store_->LoadTimerTasks(shard, clock_.Now() + 24h, TimePoint::min(), 0, 10'000);
      if (!tasks.ok()) return -1;
      for (const auto& task : *tasks) {
        count += task.task.type() == type && (timeout == enums::TIMEOUT_TYPE_UNSPECIFIED ||
                                              task.task.timeout_type() == timeout);
      }
    }
    return count;
  }

  // That `got` is the stored history from event `first` on, event for event.
  static void ExpectEvents(const hist::History& got, const std::vector<hist::HistoryEvent>& stored,
                           int64_t first) {
    ASSERT_EQ(got.events_size(), static_cast<int>(stored.size()) - (first - 1));
    for (int i = 0; i < got.events_size(); ++i) {
      EXPECT_EQ(got.events(i).SerializeAsString(), stored[first - 1 + i].SerializeAsString())
          << "event " << got.events(i).event_id() << " differs from the stored one";
    }
  }

  std::vector<hist::HistoryEvent> History(const std::string& run_id) {
    auto page = store_->ReadHistory(kNamespace, run_id, 1, 1000);
    EXPECT_TRUE(page.ok()) << page.status().message();
    if (!page.ok()) return {};
    for (size_t i = 0; i < page->events.size(); ++i) {
      EXPECT_EQ(page->events[i].event_id(), static_cast<int64_t>(i + 1)) << "event ids have a gap";
    }
    return page->events;
  }

  std::vector<enums::EventType> EventTypes(const std::string& run_id) {
    std::vector<enums::EventType> types;
    for (const auto& event : History(run_id)) types.push_back(event.event_type());
    return types;
  }

  bool HistoryLengthReaches(const std::string& run_id, size_t n) {
    return WaitFor([&] { return History(run_id).size() >= n; });
  }

  // Start -> first workflow task schedules one activity -> the activity is started.
  // History afterwards: 1 Started, 2 WFTScheduled, 3 WFTStarted, 4 WFTCompleted, 5 ActScheduled.
  struct Running {
    std::string run_id;
    wfs::PollActivityTaskQueueResponse activity;
  };
  std::optional<Running> RunUntilActivityStarted(const std::string& workflow_id,
                                                 ActivitySpec spec = {}) {
    Running running;
    running.run_id = StartOk(workflow_id);
    auto wft = PollWorkflowTask();
    if (!wft) return std::nullopt;
    auto completed = CompleteWorkflowTask(*wft, {ScheduleActivity(spec)});
    if (!completed.ok()) {
      ADD_FAILURE() << "completing the first workflow task: " << completed.status().message();
      return std::nullopt;
    }
    auto activity = PollActivityTask();
    if (!activity) return std::nullopt;
    running.activity = std::move(*activity);
    return running;
  }

  ManualClock clock_{TimePoint(std::chrono::seconds(1'700'000'000))};
  RealEnv env_{clock_};
  std::string dir_;
  std::unique_ptr<persistence::SqliteStore> store_;
  std::unique_ptr<DeadlineScheduler> scheduler_;
  std::unique_ptr<Executor> executor_;
  bool gate_task_pool_ = false;     // Open makes the task pool a GatedExecutor...
  GatedExecutor* gated_ = nullptr;  // ...this one
  std::unique_ptr<matching::MatchingEngine> matching_;
  std::unique_ptr<matching::LocalMatching> local_matching_;
  std::vector<std::shared_ptr<matching::PendingPoll>> pending_polls_;  // ParkPoll's
  std::unique_ptr<HistoryEngine> engine_;
};

// ---------------------------------------------------------------------------------------------
// Start

TEST_F(HistoryEngineTest, StartWritesStartedAndScheduledAndDispatchesAWorkflowTask) {
  auto started = Start("wf-1", "req-1");
  ASSERT_TRUE(started.ok()) << started.status().message();
  EXPECT_TRUE(started->started);
  const std::string run_id = started->run_id;
  ASSERT_FALSE(run_id.empty());

  auto events = History(run_id);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].event_type(), enums::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
  const auto& s = events[0].workflow_execution_started_event_attributes();
  EXPECT_EQ(s.workflow_type().name(), "GreetingWorkflow");
  EXPECT_EQ(s.task_queue().name(), kQueue);
  EXPECT_EQ(s.task_queue().kind(), enums::TASK_QUEUE_KIND_NORMAL);
  EXPECT_EQ(s.input().payloads(0).data(), "\"world\"");
  EXPECT_EQ(s.identity(), "client-1");
  EXPECT_EQ(s.attempt(), 1);
  EXPECT_EQ(s.original_execution_run_id(), run_id);
  EXPECT_EQ(s.first_execution_run_id(), run_id);
  EXPECT_EQ(FromProtoDuration(s.workflow_task_timeout()), 10s);
  EXPECT_EQ(FromTimestamp(events[0].event_time()), clock_.Now());

  EXPECT_EQ(events[1].event_type(), enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
  const auto& sch = events[1].workflow_task_scheduled_event_attributes();
  EXPECT_EQ(sch.task_queue().name(), kQueue);
  EXPECT_EQ(sch.task_queue().kind(), enums::TASK_QUEUE_KIND_NORMAL);
  EXPECT_EQ(FromProtoDuration(sch.start_to_close_timeout()), 10s);
  EXPECT_EQ(sch.attempt(), 1);

  auto matched = Take(kWorkflowKind);
  ASSERT_TRUE(matched.has_value());
  EXPECT_EQ(matched->task.namespace_id(), kNamespace);
  EXPECT_EQ(matched->task.workflow_id(), "wf-1");
  EXPECT_EQ(matched->task.run_id(), run_id);
  EXPECT_EQ(matched->task.scheduled_event_id(), 2);
  EXPECT_EQ(matched->task.attempt(), 1);
  matching_->Done(*matched);

  auto described = Describe("wf-1");
  EXPECT_EQ(described.workflow_execution_info().status(), enums::WORKFLOW_EXECUTION_STATUS_RUNNING);
  EXPECT_EQ(described.workflow_execution_info().history_length(), 2);
  EXPECT_EQ(described.pending_workflow_task().state(),
            enums::PENDING_WORKFLOW_TASK_STATE_SCHEDULED);
}

// A run without custom search attributes is listed as the start and the close are answered:
// its listing row is written with them, not by an outbox task afterwards.
TEST_F(HistoryEngineTest, TheListingRowIsWrittenWithTheCommitThatChangedIt) {
  auto all = visibility::ParseQuery("", {});
  ASSERT_TRUE(all.ok());
  auto listed_status = [&]() -> int {
    auto rows = store_->ListVisibility(kNamespace, *all, 10, 0);
    if (!rows.ok() || rows->size() != 1) return -1;
    temporal::api::workflow::v1::WorkflowExecutionInfo info;
    return info.ParseFromString((*rows)[0]) ? info.status() : -1;
  };
  const std::string run_id = StartOk("wf-listed");
  EXPECT_EQ(listed_status(), enums::WORKFLOW_EXECUTION_STATUS_RUNNING);
  auto shards = store_->ShardCount();
  ASSERT_TRUE(shards.ok());
  for (int32_t shard = 0; shard < *shards; ++shard) {
    auto tasks = store_->LoadTransferTasks(shard, 0, 1000);
    ASSERT_TRUE(tasks.ok());
    for (const auto& task : *tasks) {
      EXPECT_NE(task.task.type(), eon::v1::HISTORY_TASK_TYPE_UPSERT_VISIBILITY)
          << "an outbox task for the listing row";
    }
  }
  auto wft = PollWorkflowTask();
  ASSERT_TRUE(wft.has_value());
  ASSERT_TRUE(CompleteWorkflowTask(*wft, {CompleteWorkflow("\"done\"")}).ok());
  EXPECT_EQ(listed_status(), enums::WORKFLOW_EXECUTION_STATUS_COMPLETED);
}

TEST_F(HistoryEngineTest, SecondStartWhileRunningIsAlreadyExistsAndARetriedStartIsAnsweredAgain) {
  auto first = Start("wf-1", "req-1");
  ASSERT_TRUE(first.ok());

  auto duplicate = Start("wf-1", "req-2");
  ASSERT_FALSE(duplicate.ok());
  const Status& status = duplicate.status();
  EXPECT_EQ(status.code(), StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(status.message(), HasSubstr("Workflow execution is already running"));
  EXPECT_THAT(status.message(), HasSubstr("wf-1"));
  ASSERT_TRUE(status.detail().has_value());
  temporal::api::errordetails::v1::WorkflowExecutionAlreadyStartedFailure detail;
  ASSERT_TRUE(status.detail()->UnpackTo(&detail)) << status.detail()->type_url();
  EXPECT_EQ(detail.start_request_id(), "req-1");
  EXPECT_EQ(detail.run_id(), first->run_id);

  auto retried = Start("wf-1", "req-1");
  ASSERT_TRUE(retried.ok()) << retried.status().message();
  EXPECT_EQ(retried->run_id, first->run_id);
  // Neither wrote anything.
  EXPECT_THAT(EventTypes(first->run_id), ElementsAre(enums::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
                                                     enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED));
}

TEST_F(HistoryEngineTest, AlreadyStartedDetailCarriesTheFirstExecutionRunId) {
  auto first = Start("wf-1", "req-1");
  ASSERT_TRUE(first.ok());
  auto duplicate = Start("wf-1", "req-2");
  ASSERT_FALSE(duplicate.ok());
  ASSERT_TRUE(duplicate.status().detail().has_value());
  temporal::api::errordetails::v1::WorkflowExecutionAlreadyStartedFailure detail;
  ASSERT_TRUE(duplicate.status().detail()->UnpackTo(&detail));
  EXPECT_EQ(detail.first_execution_run_id(), first->run_id);
}

TEST_F(HistoryEngineTest, StartAfterTheRunClosedStartsANewRun) {
  const std::string first = StartOk("wf-1");
  ASSERT_TRUE(Terminate("wf-1").ok());
  auto second = Start("wf-1", "req-new");
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_NE(second->run_id, first);
  EXPECT_EQ(Describe("wf-1").workflow_execution_info().execution().run_id(), second->run_id);
}

// ---------------------------------------------------------------------------------------------
// Workflow tasks and activities

TEST_F(HistoryEngineTest, SingleActivityWorkflowRunsToCompletion) {
  const std::string run_id = StartOk("wf-1");

  auto wft1 = PollWorkflowTask("wf-worker");
  ASSERT_TRUE(wft1.has_value());
  EXPECT_EQ(wft1->started_event_id(), 3);
  EXPECT_EQ(wft1->previous_started_event_id(), 0);
  EXPECT_EQ(wft1->attempt(), 1);
  EXPECT_EQ(wft1->workflow_execution().run_id(), run_id);
  EXPECT_EQ(wft1->workflow_type().name(), "GreetingWorkflow");
  EXPECT_EQ(wft1->workflow_execution_task_queue().name(), kQueue);
  EXPECT_EQ(wft1->history().events_size(), 3);
  auto token1 = TokenOf(wft1->task_token());
  EXPECT_EQ(token1.kind(), kWorkflowKind);
  EXPECT_EQ(token1.run_id(), run_id);
  EXPECT_EQ(token1.scheduled_event_id(), 2);
  EXPECT_EQ(token1.started_event_id(), 3);
  EXPECT_EQ(token1.attempt(), 1);

  ASSERT_TRUE(CompleteWorkflowTask(*wft1, {ScheduleActivity({.id = "act-1"})}).ok());

  auto activity = PollActivityTask("act-worker");
  ASSERT_TRUE(activity.has_value());
  EXPECT_EQ(activity->activity_id(), "act-1");
  EXPECT_EQ(activity->activity_type().name(), "Greet");
  EXPECT_EQ(activity->attempt(), 1);
  EXPECT_EQ(activity->input().payloads(0).data(), "\"input of act-1\"");
  EXPECT_EQ(FromProtoDuration(activity->start_to_close_timeout()), 10s);
  EXPECT_TRUE(activity->has_scheduled_time());
  EXPECT_TRUE(activity->has_current_attempt_scheduled_time());
  EXPECT_TRUE(activity->has_schedule_to_close_timeout());
  EXPECT_EQ(activity->workflow_execution().run_id(), run_id);
  auto activity_token = TokenOf(activity->task_token());
  EXPECT_EQ(activity_token.kind(), kActivityKind);
  EXPECT_EQ(activity_token.scheduled_event_id(), 5);
  EXPECT_EQ(activity_token.attempt(), 1);
  EXPECT_EQ(activity_token.activity_id(), "act-1");

  // Starting an activity writes no event: ActivityTaskStarted comes only with its close.
  EXPECT_EQ(History(run_id).size(), 5u);
  auto pending = PendingActivity("wf-1");
  ASSERT_TRUE(pending.has_value());
  EXPECT_EQ(pending->state(), enums::PENDING_ACTIVITY_STATE_STARTED);
  EXPECT_EQ(pending->attempt(), 1);

  clock_.Advance(1500ms);  // the activity's run time, visible in the event times
  ASSERT_TRUE(CompleteActivity(*activity, "\"hello\"").ok());

  auto wft2 = PollWorkflowTask("wf-worker");
  ASSERT_TRUE(wft2.has_value());
  EXPECT_EQ(wft2->previous_started_event_id(), 3);
  EXPECT_EQ(wft2->started_event_id(), 9);
  EXPECT_EQ(wft2->history().events_size(), 9);
  ASSERT_TRUE(CompleteWorkflowTask(*wft2, {CompleteWorkflow("\"done\"")}).ok());

  auto events = History(run_id);
  std::vector<enums::EventType> types;
  for (const auto& e : events) types.push_back(e.event_type());
  EXPECT_THAT(types, ElementsAre(enums::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,      // 1
                                 enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,         // 2
                                 enums::EVENT_TYPE_WORKFLOW_TASK_STARTED,           // 3
                                 enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED,         // 4
                                 enums::EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,         // 5
                                 enums::EVENT_TYPE_ACTIVITY_TASK_STARTED,           // 6
                                 enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED,         // 7
                                 enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,         // 8
                                 enums::EVENT_TYPE_WORKFLOW_TASK_STARTED,           // 9
                                 enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED,         // 10
                                 enums::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED));  // 11
  ASSERT_EQ(events.size(), 11u);

  const auto& wft_started = events[2].workflow_task_started_event_attributes();
  EXPECT_EQ(wft_started.scheduled_event_id(), 2);
  EXPECT_EQ(wft_started.identity(), "wf-worker");
  const auto& wft_completed = events[3].workflow_task_completed_event_attributes();
  EXPECT_EQ(wft_completed.scheduled_event_id(), 2);
  EXPECT_EQ(wft_completed.started_event_id(), 3);
  EXPECT_EQ(wft_completed.identity(), "wf-worker");

  const auto& scheduled = events[4].activity_task_scheduled_event_attributes();
  EXPECT_EQ(scheduled.activity_id(), "act-1");
  EXPECT_EQ(scheduled.activity_type().name(), "Greet");
  EXPECT_EQ(scheduled.task_queue().name(), kQueue);
  EXPECT_EQ(scheduled.workflow_task_completed_event_id(), 4);
  EXPECT_EQ(FromProtoDuration(scheduled.start_to_close_timeout()), 10s);
  // Temporal's retry defaults are filled in.
  EXPECT_EQ(FromProtoDuration(scheduled.retry_policy().initial_interval()), 1s);
  EXPECT_DOUBLE_EQ(scheduled.retry_policy().backoff_coefficient(), 2.0);
  EXPECT_EQ(FromProtoDuration(scheduled.retry_policy().maximum_interval()), 100s);
  EXPECT_EQ(scheduled.retry_policy().maximum_attempts(), 0);

  const auto& act_started = events[5].activity_task_started_event_attributes();
  EXPECT_EQ(act_started.scheduled_event_id(), 5);
  EXPECT_EQ(act_started.attempt(), 1);
  EXPECT_EQ(act_started.identity(), "act-worker");
  EXPECT_FALSE(act_started.request_id().empty());
  EXPECT_FALSE(act_started.has_last_failure());
  // Stamped with the real start time, not the close time.
  EXPECT_EQ(FromTimestamp(events[5].event_time()), FromTimestamp(activity->started_time()));
  EXPECT_EQ(FromTimestamp(events[6].event_time()),
            FromTimestamp(activity->started_time()) + 1500ms);

  const auto& act_completed = events[6].activity_task_completed_event_attributes();
  EXPECT_EQ(act_completed.scheduled_event_id(), 5);
  EXPECT_EQ(act_completed.started_event_id(), 6);
  EXPECT_EQ(act_completed.result().payloads(0).data(), "\"hello\"");
  EXPECT_EQ(act_completed.identity(), "act-worker");

  EXPECT_EQ(events[7].workflow_task_scheduled_event_attributes().attempt(), 1);
  EXPECT_EQ(events[8].workflow_task_started_event_attributes().scheduled_event_id(), 8);
  EXPECT_EQ(events[9].workflow_task_completed_event_attributes().scheduled_event_id(), 8);
  EXPECT_EQ(events[9].workflow_task_completed_event_attributes().started_event_id(), 9);
  const auto& done = events[10].workflow_execution_completed_event_attributes();
  EXPECT_EQ(done.result().payloads(0).data(), "\"done\"");
  EXPECT_EQ(done.workflow_task_completed_event_id(), 10);

  auto described = Describe("wf-1");
  EXPECT_EQ(described.workflow_execution_info().status(),
            enums::WORKFLOW_EXECUTION_STATUS_COMPLETED);
  EXPECT_TRUE(described.workflow_execution_info().has_close_time());
  EXPECT_EQ(described.workflow_execution_info().history_length(), 11);
  EXPECT_EQ(described.pending_activities_size(), 0);
  EXPECT_FALSE(described.has_pending_workflow_task());
}

// A commit that fails is answered as an error, and the state it would have made is forgotten:
// reads and the next update see what the store holds, not the failed change.
TEST_F(HistoryEngineTest, AFailedCommitIsAnsweredAndItsStateIsForgotten) {
  auto running = RunUntilActivityStarted("wf-fail");
  ASSERT_TRUE(running.has_value());
  // Another process takes the shards: every later commit of this engine fails its range_id.
  ASSERT_TRUE(store_->AcquireShards().ok());
  Status completed = CompleteActivity(running->activity, "\"lost\"");
  EXPECT_FALSE(completed.ok());
  EXPECT_EQ(completed.code(), StatusCode::UNAVAILABLE) << completed.message();
  EXPECT_EQ(History(running->run_id).size(), 5u);
  auto pending = PendingActivity("wf-fail");
  ASSERT_TRUE(pending.has_value()) << "the failed completion must not show in describe";
  EXPECT_EQ(pending->state(), enums::PENDING_ACTIVITY_STATE_STARTED);
  // The same update again builds on the stored state (and fails the same way, not as stale).
  Status again = CompleteActivity(running->activity, "\"lost\"");
  EXPECT_EQ(again.code(), StatusCode::UNAVAILABLE) << again.message();
}

// Updates made one after another without waiting commit in that order, each on the one before.
TEST_F(HistoryEngineTest, UpdatesInFlightOnOneExecutionCommitInOrder) {
  auto running = RunUntilActivityStarted("wf-order");
  ASSERT_TRUE(running.has_value());
  const auto token = TokenOf(running->activity.task_token());
  std::promise<Status> completed;
  engine_->RespondActivityTaskCompletedAsync(token, Payload("\"first\""), "worker",
                                             [&](Status s) { completed.set_value(s); });
  wfs::SignalWorkflowExecutionRequest signal;
  signal.mutable_workflow_execution()->set_workflow_id("wf-order");
  signal.set_signal_name("after");
  ASSERT_TRUE(engine_->SignalWorkflowExecution(kNamespace, signal).ok());
  auto answer = completed.get_future();
  ASSERT_EQ(answer.wait_for(5s), std::future_status::ready);
  ASSERT_TRUE(answer.get().ok());
  auto types = EventTypes(running->run_id);
  ASSERT_GE(types.size(), 8u);
  EXPECT_EQ(types[5], enums::EVENT_TYPE_ACTIVITY_TASK_STARTED);
  EXPECT_EQ(types[6], enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED);
  EXPECT_EQ(types[7], enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
  EXPECT_EQ(types.back(), enums::EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED);
}

// The engine with its task pool held shut (until gated_->Release()), so that work handed to
// the pool waits there and what is done without it shows.
class GatedPoolTest : public HistoryEngineTest {
 protected:
  void SetUp() override {
    gate_task_pool_ = true;
    HistoryEngineTest::SetUp();
  }
  void TearDown() override {
    if (gated_) gated_->Release();
    HistoryEngineTest::TearDown();
  }
};

// The committer hands a committed dispatch task to TryDispatchWithoutWaiting before the task
// pool. Here it is called from the test thread, with the task pool held shut: the first
// workflow task's dispatch (from the start's commit) waits in the pool, not yet run.
class DispatchWithoutWaitingTest : public GatedPoolTest {
 protected:
  // The dispatch task of the run's first workflow task (scheduled as event 2).
  persistence::StoredTask FirstWorkflowTaskDispatch(const std::string& workflow_id,
                                                    const std::string& run_id) {
    persistence::StoredTask stored;
    stored.task.set_type(eon::v1::HISTORY_TASK_TYPE_DISPATCH_WORKFLOW_TASK);
    stored.task.set_namespace_id(kNamespace);
    stored.task.set_workflow_id(workflow_id);
    stored.task.set_run_id(run_id);
    stored.task.set_event_id(2);
    stored.task.set_attempt(1);
    stored.task.set_task_queue(kQueue);
    return stored;
  }
};

TEST_F(DispatchWithoutWaitingTest, HandsTheTaskToAParkedPollAndRecordsItStarted) {
  const std::string run_id = StartOk("dispatched-here");
  auto answer = ParkPoll();
  std::atomic<bool> settled{false};
  EXPECT_TRUE(engine_->TryDispatchWithoutWaiting(
      FirstWorkflowTaskDispatch("dispatched-here", run_id), [&] { settled = true; }));
  // The poll took the task and its start commits, all with the pool shut.
  EXPECT_TRUE(WaitFor([&] {
    return Describe("dispatched-here").pending_workflow_task().state() ==
           enums::PENDING_WORKFLOW_TASK_STATE_STARTED;
  }));
  // The answer carries the whole (short) history, from the cache: the pool is still shut.
  ASSERT_EQ(answer.wait_for(10s), std::future_status::ready) << "the parked poll got no task";
  auto response = answer.get();
  ASSERT_TRUE(response.ok()) << response.status().message();
  EXPECT_EQ(response->workflow_execution().run_id(), run_id);
  EXPECT_FALSE(response->task_token().empty());
  EXPECT_EQ(response->started_event_id(), 3);
  ExpectEvents(response->history(), History(run_id), 1);
  EXPECT_TRUE(WaitFor([&] { return settled.load(); }));  // once the poll has it
}

TEST_F(DispatchWithoutWaitingTest, WithNoParkedPollLeavesTheTaskForThePool) {
  const std::string run_id = StartOk("left-for-the-pool");
  std::atomic<bool> settled{false};
  EXPECT_FALSE(engine_->TryDispatchWithoutWaiting(
      FirstWorkflowTaskDispatch("left-for-the-pool", run_id), [&] { settled = true; }));
  EXPECT_FALSE(settled);
  // Nothing was written to the backlog (that is the pool's to do) and nothing started.
  EXPECT_EQ(matching_->Describe({kNamespace, kQueue, kWorkflowKind}).backlog_count, 0);
  EXPECT_EQ(Describe("left-for-the-pool").pending_workflow_task().state(),
            enums::PENDING_WORKFLOW_TASK_STATE_SCHEDULED);
  // The pool's run of the start's own dispatch task then brings it to a poll.
  gated_->Release();
  auto polled = PollWorkflowTask();
  ASSERT_TRUE(polled.has_value());
  EXPECT_EQ(polled->workflow_execution().run_id(), run_id);
}

TEST_F(DispatchWithoutWaitingTest, ATaskAlreadyStartedIsSettledWithoutAPoll) {
  const std::string run_id = StartOk("already-started");
  auto answer = ParkPoll();
  ASSERT_TRUE(engine_->TryDispatchWithoutWaiting(
      FirstWorkflowTaskDispatch("already-started", run_id), [] {}));
  gated_->Release();
  ASSERT_EQ(answer.wait_for(10s), std::future_status::ready);
  // The same task again (as the pool's copy would come): not current, settled, no poll needed.
  auto second = ParkPoll();
  std::atomic<bool> settled{false};
  EXPECT_TRUE(engine_->TryDispatchWithoutWaiting(
      FirstWorkflowTaskDispatch("already-started", run_id), [&] { settled = true; }));
  EXPECT_TRUE(settled);
  EXPECT_EQ(second.wait_for(200ms), std::future_status::timeout) << "a stale task reached a poll";
  for (auto& poll : pending_polls_) poll->Cancel();
}

// A workflow task scheduled while a poll waits on its queue is started in the commit that
// schedules it: the poll is claimed before that commit and answered once it is durable, with
// no second commit to record the start.
TEST_F(HistoryEngineTest, APollParkedForTheFirstTaskGetsItStartedInTheStartsOwnCommit) {
  auto poll = ParkPoll("poll-1");
  ASSERT_TRUE(WaitFor([&] { return ParkedPolls() == 1; }));
  const std::string run_id = StartOk("started-at-once");
  ASSERT_EQ(poll.wait_for(10s), std::future_status::ready) << "the parked poll got no task";
  auto response = poll.get();
  ASSERT_TRUE(response.ok()) << response.status().message();
  EXPECT_EQ(response->workflow_execution().run_id(), run_id);
  EXPECT_EQ(response->started_event_id(), 3);
  auto events = History(run_id);
  ASSERT_EQ(events.size(), 3u);
  ASSERT_EQ(events[2].event_type(), enums::EVENT_TYPE_WORKFLOW_TASK_STARTED);
  const auto& started = events[2].workflow_task_started_event_attributes();
  EXPECT_EQ(started.scheduled_event_id(), 2);
  EXPECT_EQ(started.identity(), "parked-worker");
  EXPECT_EQ(started.request_id(), "poll-1");
  ExpectEvents(response->history(), events, 1);
  // One commit wrote the run; the task's start-to-close timer went with it.
  EXPECT_EQ(StoredVersion("started-at-once", run_id), 1);
  EXPECT_EQ(StoredTimers(eon::v1::HISTORY_TASK_TYPE_WORKFLOW_TASK_TIMEOUT), 1);
  EXPECT_EQ(Describe("started-at-once").pending_workflow_task().state(),
            enums::PENDING_WORKFLOW_TASK_STATE_STARTED);
  // It completes like any task.
  ASSERT_TRUE(CompleteWorkflowTask(*response, {}).ok());
  EXPECT_EQ(History(run_id).size(), 4u);
}

TEST_F(HistoryEngineTest, AnActivityCompletionStartsTheNextTaskForAParkedPollInOneCommit) {
  auto running = RunUntilActivityStarted("next-at-once");
  ASSERT_TRUE(running.has_value());
  const int64_t before = StoredVersion("next-at-once", running->run_id);
  auto poll = ParkPoll("poll-2");
  ASSERT_TRUE(WaitFor([&] { return ParkedPolls() == 1; }));
  ASSERT_TRUE(CompleteActivity(running->activity, "\"done\"").ok());
  ASSERT_EQ(poll.wait_for(10s), std::future_status::ready) << "the parked poll got no task";
  auto response = poll.get();
  ASSERT_TRUE(response.ok()) << response.status().message();
  EXPECT_EQ(StoredVersion("next-at-once", running->run_id), before + 1);
  auto types = EventTypes(running->run_id);
  ASSERT_EQ(types.size(), 9u);
  EXPECT_EQ(types[6], enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED);
  EXPECT_EQ(types[7], enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
  EXPECT_EQ(types[8], enums::EVENT_TYPE_WORKFLOW_TASK_STARTED);
  EXPECT_EQ(response->started_event_id(), 9);
  EXPECT_EQ(response->previous_started_event_id(), 3);
  ExpectEvents(response->history(), History(running->run_id), 1);
}

// A sticky workflow task started in the commit that schedules it gets no schedule-to-start
// timer (it could only fire to find the task started); one scheduled with no poll waiting does.
TEST_F(HistoryEngineTest, AStickyTaskStartedInItsSchedulingCommitGetsNoScheduleToStartTimer) {
  const std::string sticky_queue = "no-moot-timer-sticky";
  auto complete_sticky = [&](const wfs::PollWorkflowTaskQueueResponse& task,
                             const std::string& activity) {
    wfs::RespondWorkflowTaskCompletedRequest request;
    request.set_task_token(task.task_token());
    request.set_identity("wf-worker");
    *request.add_commands() = ScheduleActivity({.id = activity, .start_to_close = 30s});
    request.mutable_sticky_attributes()->mutable_worker_task_queue()->set_name(sticky_queue);
    request.mutable_sticky_attributes()->mutable_schedule_to_start_timeout()->set_seconds(30);
    return engine_->RespondWorkflowTaskCompleted(TokenOf(task.task_token()), request);
  };
  auto schedule_to_start_timers = [&] {
    return StoredTimers(eon::v1::HISTORY_TASK_TYPE_WORKFLOW_TASK_TIMEOUT,
                        enums::TIMEOUT_TYPE_SCHEDULE_TO_START);
  };
  StartOk("no-moot-timer");
  auto first = PollWorkflowTask();
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(complete_sticky(*first, "a").ok());
  auto activity = PollActivityTask();
  ASSERT_TRUE(activity.has_value());

  auto poll = ParkPoll("sticky-poll", sticky_queue);
  ASSERT_TRUE(WaitFor([&] { return ParkedPolls() == 1; }));
  ASSERT_TRUE(CompleteActivity(*activity, "\"a\"").ok());
  ASSERT_EQ(poll.wait_for(10s), std::future_status::ready) << "the parked poll got no task";
  auto second = poll.get();
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(second->started_event_id(), 9);
  EXPECT_EQ(schedule_to_start_timers(), 0);

  // The same with no poll waiting: the sticky task's schedule-to-start timer is written.
  ASSERT_TRUE(complete_sticky(*second, "b").ok());
  auto other = PollActivityTask();
  ASSERT_TRUE(other.has_value());
  ASSERT_TRUE(CompleteActivity(*other, "\"b\"").ok());
  EXPECT_EQ(schedule_to_start_timers(), 1);
}

// The same for an activity with a schedule-to-start timeout.
TEST_F(HistoryEngineTest, AnActivityStartedInItsSchedulingCommitGetsNoScheduleToStartTimer) {
  auto schedule_to_start_timers = [&] {
    return StoredTimers(eon::v1::HISTORY_TASK_TYPE_ACTIVITY_TIMEOUT,
                        enums::TIMEOUT_TYPE_SCHEDULE_TO_START);
  };
  StartOk("no-moot-activity-timer");
  auto wft = PollWorkflowTask();
  ASSERT_TRUE(wft.has_value());
  auto poll = ParkActivityPoll("activity-poll");
  ASSERT_TRUE(WaitFor([&] { return ParkedPolls() == 1; }));
  ASSERT_TRUE(
      CompleteWorkflowTask(
          *wft, {ScheduleActivity({.id = "a", .start_to_close = 30s, .schedule_to_start = 30s})})
          .ok());
  ASSERT_EQ(poll.wait_for(10s), std::future_status::ready) << "the parked poll got no task";
  auto started = poll.get();
  ASSERT_TRUE(started.ok()) << started.status().message();
  EXPECT_EQ(started->activity_id(), "a");
  EXPECT_EQ(schedule_to_start_timers(), 0);

  // Completed: the next workflow task schedules another activity while no poll waits.
  ASSERT_TRUE(CompleteActivity(*started, "\"a\"").ok());
  auto next = PollWorkflowTask();
  ASSERT_TRUE(next.has_value());
  ASSERT_TRUE(
      CompleteWorkflowTask(
          *next, {ScheduleActivity({.id = "b", .start_to_close = 30s, .schedule_to_start = 30s})})
          .ok());
  EXPECT_EQ(schedule_to_start_timers(), 1);
}

// Activities too: two scheduled by one workflow task's completion while two activity polls
// wait are started in that completion's commit, one per poll.
TEST_F(HistoryEngineTest, ActivitiesScheduledWhilePollsWaitAreStartedInTheSchedulingCommit) {
  const std::string run_id = StartOk("activities-at-once");
  auto wft = PollWorkflowTask();
  ASSERT_TRUE(wft.has_value());
  const int64_t before = StoredVersion("activities-at-once", run_id);
  auto first = ParkActivityPoll("act-poll-1");
  auto second = ParkActivityPoll("act-poll-2");
  ASSERT_TRUE(WaitFor([&] { return ParkedPolls() == 2; }));
  ASSERT_TRUE(CompleteWorkflowTask(*wft, {ScheduleActivity({.id = "a", .start_to_close = 30s}),
                                          ScheduleActivity({.id = "b", .start_to_close = 30s})})
                  .ok());
  std::set<std::string> activities;
  for (auto* poll : {&first, &second}) {
    ASSERT_EQ(poll->wait_for(10s), std::future_status::ready) << "a parked poll got no task";
    auto response = poll->get();
    ASSERT_TRUE(response.ok()) << response.status().message();
    EXPECT_EQ(response->workflow_namespace(), "ns");
    EXPECT_EQ(response->workflow_execution().run_id(), run_id);
    EXPECT_FALSE(response->task_token().empty());
    activities.insert(response->activity_id());
  }
  EXPECT_EQ(activities, (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(StoredVersion("activities-at-once", run_id), before + 1);
  auto described = Describe("activities-at-once");
  ASSERT_EQ(described.pending_activities_size(), 2);
  for (const auto& activity : described.pending_activities()) {
    EXPECT_EQ(activity.state(), enums::PENDING_ACTIVITY_STATE_STARTED) << activity.activity_id();
    EXPECT_EQ(activity.last_worker_identity(), "parked-activity-worker");
  }
  // Each started activity's start-to-close timer was written with it.
  EXPECT_EQ(StoredTimers(eon::v1::HISTORY_TASK_TYPE_ACTIVITY_TIMEOUT), 2);
}

// One commit may start an activity and the next workflow task together, each for its own poll.
TEST_F(HistoryEngineTest, AnActivityAndTheNextWorkflowTaskAreStartedInOneCommit) {
  const std::string run_id = StartOk("both-at-once");
  auto wft = PollWorkflowTask();
  ASSERT_TRUE(wft.has_value());
  const int64_t before = StoredVersion("both-at-once", run_id);
  auto activity_poll = ParkActivityPoll("act-poll");
  auto workflow_poll = ParkPoll("wf-poll");
  ASSERT_TRUE(WaitFor([&] { return ParkedPolls() == 2; }));
  ASSERT_TRUE(CompleteWorkflowTask(*wft, {ScheduleActivity({.id = "a"})},
                                   /*force_new_workflow_task=*/true)
                  .ok());
  ASSERT_EQ(activity_poll.wait_for(10s), std::future_status::ready);
  ASSERT_EQ(workflow_poll.wait_for(10s), std::future_status::ready);
  auto activity = activity_poll.get();
  auto next = workflow_poll.get();
  ASSERT_TRUE(activity.ok()) << activity.status().message();
  ASSERT_TRUE(next.ok()) << next.status().message();
  EXPECT_EQ(activity->activity_id(), "a");
  EXPECT_EQ(StoredVersion("both-at-once", run_id), before + 1);
  auto events = History(run_id);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().event_type(), enums::EVENT_TYPE_WORKFLOW_TASK_STARTED);
  EXPECT_EQ(events.back().workflow_task_started_event_attributes().request_id(), "wf-poll");
  EXPECT_EQ(next->started_event_id(), events.back().event_id());
  ExpectEvents(next->history(), events, 1);
}

// The claim is made before the commit; a commit that fails sends the poll back to its queue,
// neither answered nor lost.
TEST_F(HistoryEngineTest, AClaimedPollWaitsAgainWhenItsCommitFails) {
  auto poll = ParkPoll();
  ASSERT_TRUE(WaitFor([&] { return ParkedPolls() == 1; }));
  // Another process takes the shards: the start's commit fails its range_id.
  ASSERT_TRUE(store_->AcquireShards().ok());
  auto started = Start("never-started");
  EXPECT_EQ(started.status().code(), StatusCode::UNAVAILABLE) << started.status().message();
  EXPECT_TRUE(WaitFor([&] { return ParkedPolls() == 1; })) << "the claimed poll was lost";
  EXPECT_EQ(poll.wait_for(100ms), std::future_status::timeout) << "the poll was answered";
}

// A poll parked straight on the engine (not through LocalMatching) does not take claims: the
// task goes to it through the outbox, as a task, and is recorded started by its own commit.
TEST_F(HistoryEngineTest, APollThatTakesNoClaimsGetsTheTaskThroughTheOutbox) {
  auto matched = std::async(std::launch::async, [&] { return Take(kWorkflowKind, 10s); });
  ASSERT_TRUE(WaitFor([&] { return ParkedPolls() == 1; }));
  const std::string run_id = StartOk("through-the-outbox");
  auto task = matched.get();
  ASSERT_TRUE(task.has_value());
  EXPECT_EQ(task->task.scheduled_event_id(), 2);
  EXPECT_EQ(History(run_id).size(), 2u) << "started before its poll recorded it";
  auto response = engine_->RecordWorkflowTaskStarted(task->task, NewUuid(), "wf-worker");
  matching_->Done(*task);
  ASSERT_TRUE(response.ok()) << response.status().message();
  EXPECT_EQ(StoredVersion("through-the-outbox", run_id), 2);
}

// The frontend's start (StartWorkflowExecutionAsync) assumes a workflow id with no start in
// flight has no current run, without reading, and lets the commit check it.
class GuessedStartTest : public GatedPoolTest {
 protected:
  static wfs::StartWorkflowExecutionRequest Request(
      const std::string& workflow_id, const std::string& request_id,
      enums::WorkflowIdReusePolicy reuse = enums::WORKFLOW_ID_REUSE_POLICY_UNSPECIFIED) {
    wfs::StartWorkflowExecutionRequest request;
    request.set_workflow_id(workflow_id);
    request.mutable_workflow_type()->set_name("GreetingWorkflow");
    request.mutable_task_queue()->set_name(kQueue);
    request.set_request_id(request_id);
    request.set_workflow_id_reuse_policy(reuse);
    return request;
  }

  std::future<Result<StartResult>> StartAsync(const wfs::StartWorkflowExecutionRequest& request) {
    auto promise = std::make_shared<std::promise<Result<StartResult>>>();
    auto answer = promise->get_future();
    engine_->StartWorkflowExecutionAsync(
        kNamespace, request,
        [promise](Result<StartResult> started) { promise->set_value(std::move(started)); });
    return answer;
  }

  std::string CurrentRun(const std::string& workflow_id) {
    return Describe(workflow_id).workflow_execution_info().execution().run_id();
  }
};

TEST_F(GuessedStartTest, ANewWorkflowIdStartsWithTheTaskPoolShut) {
  const auto request = Request("guessed-new", "req-1");
  EXPECT_TRUE(engine_->StartsWithoutWaiting(kNamespace, request));
  auto started = StartAsync(request);
  ASSERT_EQ(started.wait_for(10s), std::future_status::ready) << "the start waited for the pool";
  auto result = started.get();
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_TRUE(result->started);
  EXPECT_EQ(CurrentRun("guessed-new"), result->run_id);
  EXPECT_THAT(EventTypes(result->run_id), ElementsAre(enums::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
                                                      enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED));
  // A request that sets search attributes is checked against the registry (a read): not here.
  auto with_attributes = Request("guessed-attributes", "req-2");
  common::Payload keyword;
  keyword.set_data("\"x\"");
  (*with_attributes.mutable_search_attributes()->mutable_indexed_fields())["CustomKeywordField"] =
      keyword;
  EXPECT_FALSE(engine_->StartsWithoutWaiting(kNamespace, with_attributes));
}

// When the guess was wrong the commit fails on the current run it did not expect, and the start
// is made again on the task pool, reading that run: the workflow id's policies decide.
TEST_F(GuessedStartTest, AClosedRunFoundByTheCommitIsJudgedByTheReusePolicy) {
  const std::string first = StartOk("guessed-closed");
  ASSERT_TRUE(Terminate("guessed-closed").ok());

  auto rejected = StartAsync(
      Request("guessed-closed", "req-reject", enums::WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE));
  EXPECT_EQ(rejected.wait_for(300ms), std::future_status::timeout)
      << "the start that found a run was judged without the pool (on the committer)";
  gated_->Release();
  ASSERT_EQ(rejected.wait_for(10s), std::future_status::ready);
  auto refused = rejected.get();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::ALREADY_EXISTS) << refused.status().message();
  ASSERT_TRUE(refused.status().detail().has_value());
  temporal::api::errordetails::v1::WorkflowExecutionAlreadyStartedFailure detail;
  ASSERT_TRUE(refused.status().detail()->UnpackTo(&detail));
  EXPECT_EQ(detail.run_id(), first);
  EXPECT_EQ(CurrentRun("guessed-closed"), first);

  auto allowed = StartAsync(Request("guessed-closed", "req-allow",
                                    enums::WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY));
  ASSERT_EQ(allowed.wait_for(10s), std::future_status::ready);
  auto second = allowed.get();
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_TRUE(second->started);
  EXPECT_NE(second->run_id, first);
  EXPECT_EQ(CurrentRun("guessed-closed"), second->run_id);
}

TEST_F(GuessedStartTest, ARetriedRequestGetsItsRunAgainAndWritesNothing) {
  auto first = Start("guessed-retried", "req-1");
  ASSERT_TRUE(first.ok()) << first.status().message();
  gated_->Release();
  auto again = StartAsync(Request("guessed-retried", "req-1"));
  ASSERT_EQ(again.wait_for(10s), std::future_status::ready);
  auto retried = again.get();
  ASSERT_TRUE(retried.ok()) << retried.status().message();
  EXPECT_EQ(retried->run_id, first->run_id);
  EXPECT_THAT(EventTypes(first->run_id), ElementsAre(enums::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
                                                     enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED));
}

// Two starts of one new workflow id at once: whichever order their guesses and commits take,
// one run starts and the other start is told it exists.
TEST_F(GuessedStartTest, OfTwoStartsOfANewIdAtOnceOneStartsTheOtherFindsIt) {
  for (int round = 0; round < 20; ++round) {
    const std::string id = "guessed-race-" + std::to_string(round);
    auto a = StartAsync(Request(id, "req-a"));
    auto b = StartAsync(Request(id, "req-b"));
    gated_->Release();  // for a start that has to be made again
    ASSERT_EQ(a.wait_for(10s), std::future_status::ready);
    ASSERT_EQ(b.wait_for(10s), std::future_status::ready);
    auto first = a.get();
    auto second = b.get();
    ASSERT_NE(first.ok(), second.ok()) << "round " << round << ": " << first.status().message()
                                       << " / " << second.status().message();
    const auto& won = first.ok() ? first : second;
    const auto& lost = first.ok() ? second : first;
    EXPECT_EQ(lost.status().code(), StatusCode::ALREADY_EXISTS) << lost.status().message();
    EXPECT_EQ(CurrentRun(id), won->run_id);
  }
}

// A workflow task's events come from the cache's tail of the run's events when it holds them
// all, and from the store when it does not: either way they are the stored history's.
TEST_F(HistoryEngineTest, AWorkflowTaskCarriesTheStoredEventsWhereverTheyAreRead) {
  const std::string run_id = StartOk("wf-tail");
  auto first = PollWorkflowTask();  // 1-3, all cached
  ASSERT_TRUE(first.has_value());
  ExpectEvents(first->history(), History(run_id), 1);
  ASSERT_EQ(first->history().events_size(), 3);

  // Completed with a sticky queue (4, 5 ActivityTaskScheduled); the activity completes (6, 7)
  // and a sticky task is scheduled (8) and started (9).
  wfs::RespondWorkflowTaskCompletedRequest request;
  request.set_task_token(first->task_token());
  request.set_identity("wf-worker");
  *request.add_commands() = ScheduleActivity({.id = "a"});
  request.mutable_sticky_attributes()->mutable_worker_task_queue()->set_name("wf-tail-sticky");
  request.mutable_sticky_attributes()->mutable_schedule_to_start_timeout()->set_seconds(30);
  ASSERT_TRUE(engine_->RespondWorkflowTaskCompleted(TokenOf(first->task_token()), request).ok());
  auto activity = PollActivityTask();
  ASSERT_TRUE(activity.has_value());
  // The sticky worker polls its queue (a sticky queue nobody polls falls back to the normal one).
  auto sticky_poll =
      std::async(std::launch::async, [&] { return Take(kWorkflowKind, 5s, "wf-tail-sticky"); });
  ASSERT_TRUE(WaitFor([&] {
    return !matching_->Describe({kNamespace, "wf-tail-sticky", kWorkflowKind}).pollers.empty();
  }));
  ASSERT_TRUE(CompleteActivity(*activity, "\"a\"").ok());
  auto sticky = sticky_poll.get();
  ASSERT_TRUE(sticky.has_value());
  auto second = engine_->RecordWorkflowTaskStarted(sticky->task, NewUuid(), "wf-worker");
  matching_->Done(*sticky);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(second->previous_started_event_id(), 3);
  ExpectEvents(second->history(), History(run_id), 4);
  ASSERT_EQ(second->history().events_size(), 6);

  // Completed without stickiness: the next task goes to the normal queue with the whole history,
  // which the cache no longer holds from event 1 (read from the store).
  ASSERT_TRUE(CompleteWorkflowTask(*second, {ScheduleActivity({.id = "b"})}).ok());
  auto other = PollActivityTask();
  ASSERT_TRUE(other.has_value());
  ASSERT_TRUE(CompleteActivity(*other, "\"b\"").ok());
  auto third = PollWorkflowTask();
  ASSERT_TRUE(third.has_value());
  ExpectEvents(third->history(), History(run_id), 1);
  ASSERT_EQ(third->history().events_size(), 15);
}

TEST_F(HistoryEngineTest, RecordStartedTwiceWithTheSamePollRequestIdIsIdempotent) {
  const std::string run_id = StartOk("wf-1");
  auto matched = Take(kWorkflowKind);
  ASSERT_TRUE(matched.has_value());
  auto first = engine_->RecordWorkflowTaskStarted(matched->task, "poll-1", "wf-worker");
  ASSERT_TRUE(first.ok()) << first.status().message();
  auto retried = engine_->RecordWorkflowTaskStarted(matched->task, "poll-1", "wf-worker");
  ASSERT_TRUE(retried.ok()) << retried.status().message();
  EXPECT_EQ(retried->task_token(), first->task_token());
  auto other = engine_->RecordWorkflowTaskStarted(matched->task, "poll-2", "wf-worker");
  EXPECT_EQ(other.status().code(), StatusCode::NOT_FOUND);
  matching_->Done(*matched);
  EXPECT_EQ(History(run_id).size(), 3u);
}

TEST_F(HistoryEngineTest, ActivityCompletedWhileAWorkflowTaskRunsIsBufferedUntilItCompletes) {
  const std::string run_id = StartOk("wf-1");
  auto wft1 = PollWorkflowTask();
  ASSERT_TRUE(wft1.has_value());
  ASSERT_TRUE(
      CompleteWorkflowTask(*wft1, {ScheduleActivity({.id = "a"}), ScheduleActivity({.id = "b"})})
          .ok());
  // 5 ActivityTaskScheduled(a), 6 ActivityTaskScheduled(b).
  auto first = PollActivityTask();
  auto second = PollActivityTask();
  ASSERT_TRUE(first && second);
  auto& a = first->activity_id() == "a" ? *first : *second;
  auto& b = first->activity_id() == "a" ? *second : *first;
  ASSERT_EQ(a.activity_id(), "a");
  ASSERT_EQ(b.activity_id(), "b");

  // a completes with no workflow task running: written at once (7, 8) and a task scheduled (9).
  ASSERT_TRUE(CompleteActivity(a, "\"a\"").ok());
  auto wft2 = PollWorkflowTask();  // 10 WorkflowTaskStarted
  ASSERT_TRUE(wft2.has_value());
  ASSERT_EQ(History(run_id).size(), 10u);

  // b completes while that task runs: buffered, invisible in the history.
  ASSERT_TRUE(CompleteActivity(b, "\"b\"").ok());
  EXPECT_EQ(History(run_id).size(), 10u);
  EXPECT_EQ(Describe("wf-1").pending_activities_size(), 0);

  ASSERT_TRUE(CompleteWorkflowTask(*wft2, {}).ok());
  auto events = History(run_id);
  ASSERT_EQ(events.size(), 14u);
  std::vector<enums::EventType> tail;
  for (size_t i = 6; i < events.size(); ++i) tail.push_back(events[i].event_type());
  EXPECT_THAT(tail, ElementsAre(enums::EVENT_TYPE_ACTIVITY_TASK_STARTED,      // 7 (a)
                                enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED,    // 8 (a)
                                enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,    // 9
                                enums::EVENT_TYPE_WORKFLOW_TASK_STARTED,      // 10
                                enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED,    // 11
                                enums::EVENT_TYPE_ACTIVITY_TASK_STARTED,      // 12 (b, flushed)
                                enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED,    // 13 (b, flushed)
                                enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED));  // 14
  EXPECT_EQ(events[7].activity_task_completed_event_attributes().scheduled_event_id(), 5);
  EXPECT_EQ(events[7].activity_task_completed_event_attributes().started_event_id(), 7);
  EXPECT_EQ(events[11].activity_task_started_event_attributes().scheduled_event_id(), 6);
  EXPECT_EQ(events[11].activity_task_started_event_attributes().attempt(), 1);
  const auto& flushed = events[12].activity_task_completed_event_attributes();
  EXPECT_EQ(flushed.scheduled_event_id(), 6);
  EXPECT_EQ(flushed.started_event_id(), 12) << "started id fixed up when the buffer is flushed";
  EXPECT_EQ(flushed.result().payloads(0).data(), "\"b\"");
  EXPECT_EQ(events[13].workflow_task_scheduled_event_attributes().attempt(), 1);

  // The new workflow task is dispatched and sees everything.
  auto wft3 = PollWorkflowTask();
  ASSERT_TRUE(wft3.has_value());
  EXPECT_EQ(wft3->previous_started_event_id(), 10);
  EXPECT_EQ(wft3->started_event_id(), 15);
}

TEST_F(HistoryEngineTest, CompletingTheWorkflowWithBufferedEventsFailsTheTaskAsUnhandledCommand) {
  const std::string run_id = StartOk("wf-1");
  auto wft1 = PollWorkflowTask();
  ASSERT_TRUE(wft1.has_value());
  // force_create_new_workflow_task: a second task (6) is scheduled beside the activity (5).
  ASSERT_TRUE(CompleteWorkflowTask(*wft1, {ScheduleActivity({})}, /*force_new=*/true).ok());
  auto wft2 = PollWorkflowTask();  // 7
  ASSERT_TRUE(wft2.has_value());
  auto activity = PollActivityTask();
  ASSERT_TRUE(activity.has_value());
  ASSERT_TRUE(CompleteActivity(*activity, "\"r\"").ok());  // buffered
  ASSERT_EQ(History(run_id).size(), 7u);

  auto completed = CompleteWorkflowTask(*wft2, {CompleteWorkflow("\"too early\"")});
  ASSERT_FALSE(completed.ok());
  EXPECT_EQ(completed.status().code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(completed.status().message(), "UnhandledCommand");

  auto events = History(run_id);
  ASSERT_EQ(events.size(), 11u);
  std::vector<enums::EventType> tail;
  for (size_t i = 4; i < events.size(); ++i) tail.push_back(events[i].event_type());
  EXPECT_THAT(tail, ElementsAre(enums::EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,    // 5
                                enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,    // 6
                                enums::EVENT_TYPE_WORKFLOW_TASK_STARTED,      // 7
                                enums::EVENT_TYPE_WORKFLOW_TASK_FAILED,       // 8
                                enums::EVENT_TYPE_ACTIVITY_TASK_STARTED,      // 9
                                enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED,    // 10
                                enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED));  // 11
  const auto& failed = events[7].workflow_task_failed_event_attributes();
  EXPECT_EQ(failed.cause(), enums::WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND);
  EXPECT_EQ(failed.scheduled_event_id(), 6);
  EXPECT_EQ(failed.started_event_id(), 7);
  EXPECT_EQ(failed.failure().message(), "UnhandledCommand");
  EXPECT_EQ(events[9].activity_task_completed_event_attributes().started_event_id(), 9);
  EXPECT_EQ(events[10].workflow_task_scheduled_event_attributes().attempt(), 1)
      << "unhandled events are no fault of the task";

  EXPECT_EQ(Describe("wf-1").workflow_execution_info().status(),
            enums::WORKFLOW_EXECUTION_STATUS_RUNNING);
  auto wft3 = PollWorkflowTask();
  ASSERT_TRUE(wft3.has_value());
  EXPECT_EQ(wft3->attempt(), 1);
  ASSERT_TRUE(CompleteWorkflowTask(*wft3, {CompleteWorkflow("\"now\"")}).ok());
  EXPECT_EQ(Describe("wf-1").workflow_execution_info().status(),
            enums::WORKFLOW_EXECUTION_STATUS_COMPLETED);
}

TEST_F(HistoryEngineTest, InvalidScheduleActivityFailsTheWorkflowTaskAndWritesNoCommand) {
  struct Case {
    const char* name;
    command::Command invalid;
    const char* message;
  };
  command::Command no_id = ScheduleActivity({});
  no_id.mutable_schedule_activity_task_command_attributes()->clear_activity_id();
  command::Command no_timeout = ScheduleActivity({.start_to_close = {}});
  std::vector<Case> cases = {{"no activity id", no_id, "ActivityId"},
                             {"no timeout", no_timeout, "StartToClose"}};
  int n = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string workflow_id = "wf-" + std::to_string(n++);
    const std::string run_id = StartOk(workflow_id);
    auto wft = PollWorkflowTask();
    ASSERT_TRUE(wft.has_value());
    // A valid command before the invalid one is dropped too: all or nothing.
    auto completed = CompleteWorkflowTask(*wft, {ScheduleActivity({.id = "valid"}), c.invalid});
    ASSERT_FALSE(completed.ok());
    EXPECT_EQ(completed.status().code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(completed.status().message(), HasSubstr(c.message));

    // WorkflowTaskFailed; the retry (attempt 2) is transient, so not written yet.
    auto events = History(run_id);
    EXPECT_THAT(Types(events), ElementsAre(enums::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
                                           enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
                                           enums::EVENT_TYPE_WORKFLOW_TASK_STARTED,
                                           enums::EVENT_TYPE_WORKFLOW_TASK_FAILED));
    ASSERT_EQ(events.size(), 4u);
    const auto& failed = events[3].workflow_task_failed_event_attributes();
    EXPECT_EQ(failed.cause(), enums::WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_ACTIVITY_ATTRIBUTES);
    EXPECT_EQ(failed.scheduled_event_id(), 2);
    EXPECT_EQ(failed.started_event_id(), 3);
    EXPECT_EQ(failed.identity(), "wf-worker");
    EXPECT_EQ(failed.failure().message(), completed.status().message());
    EXPECT_EQ(Describe(workflow_id).pending_activities_size(), 0);
    EXPECT_EQ(Describe(workflow_id).pending_workflow_task().attempt(), 2);

    // The retry is dispatched with its Scheduled/Started events made up at the end of the
    // history the poller reads.
    auto retry = PollWorkflowTask();
    ASSERT_TRUE(retry.has_value());
    EXPECT_EQ(retry->attempt(), 2);
    EXPECT_EQ(TokenOf(retry->task_token()).scheduled_event_id(), 5);
    EXPECT_EQ(retry->started_event_id(), 6);
    EXPECT_EQ(retry->previous_started_event_id(), 0);
    EXPECT_THAT(Types(retry->history()), ElementsAre(enums::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
                                                     enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
                                                     enums::EVENT_TYPE_WORKFLOW_TASK_STARTED,
                                                     enums::EVENT_TYPE_WORKFLOW_TASK_FAILED,
                                                     enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
                                                     enums::EVENT_TYPE_WORKFLOW_TASK_STARTED));
    if (retry->history().events_size() == 6) {
      EXPECT_EQ(retry->history().events(4).event_id(), 5);
      EXPECT_EQ(retry->history().events(4).workflow_task_scheduled_event_attributes().attempt(), 2);
      EXPECT_EQ(retry->history().events(5).event_id(), 6);
    }
    EXPECT_EQ(History(run_id).size(), 4u) << "starting a transient task writes nothing";

    // Completing it writes its Scheduled and Started events first.
    ASSERT_TRUE(CompleteWorkflowTask(*retry, {CompleteWorkflow("\"ok\"")}).ok());
    events = History(run_id);
    std::vector<enums::EventType> tail;
    for (size_t i = 4; i < events.size(); ++i) tail.push_back(events[i].event_type());
    EXPECT_THAT(tail, ElementsAre(enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
                                  enums::EVENT_TYPE_WORKFLOW_TASK_STARTED,
                                  enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
                                  enums::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED));
    ASSERT_EQ(events.size(), 8u);
    EXPECT_EQ(events[4].workflow_task_scheduled_event_attributes().attempt(), 2);
    EXPECT_EQ(events[5].workflow_task_started_event_attributes().scheduled_event_id(), 5);
    EXPECT_EQ(events[5].workflow_task_started_event_attributes().identity(), "wf-worker");
    EXPECT_EQ(events[6].workflow_task_completed_event_attributes().scheduled_event_id(), 5);
    EXPECT_EQ(events[6].workflow_task_completed_event_attributes().started_event_id(), 6);
  }
  // No activity was ever dispatched.
  EXPECT_FALSE(Take(kActivityKind, 200ms).has_value());
}

TEST_F(HistoryEngineTest, RespondWorkflowTaskFailedWritesFailedOnceAndRetriesTransiently) {
  const std::string run_id = StartOk("wf-1");
  auto wft = PollWorkflowTask();
  ASSERT_TRUE(wft.has_value());
  wfs::RespondWorkflowTaskFailedRequest request;
  request.set_cause(enums::WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE);
  request.mutable_failure()->set_message("panic");
  request.set_identity("wf-worker");
  ASSERT_TRUE(engine_->RespondWorkflowTaskFailed(TokenOf(wft->task_token()), request).ok());
  auto events = History(run_id);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[3].event_type(), enums::EVENT_TYPE_WORKFLOW_TASK_FAILED);
  const auto& failed = events[3].workflow_task_failed_event_attributes();
  EXPECT_EQ(failed.cause(), enums::WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE);
  EXPECT_EQ(failed.failure().message(), "panic");
  EXPECT_EQ(failed.identity(), "wf-worker");
  // The failed task's token is stale now.
  EXPECT_EQ(engine_->RespondWorkflowTaskFailed(TokenOf(wft->task_token()), request).code(),
            StatusCode::NOT_FOUND);

  // Attempt 2 fails too: a transient attempt's failure is not written.
  auto second = PollWorkflowTask();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->attempt(), 2);
  ASSERT_TRUE(engine_->RespondWorkflowTaskFailed(TokenOf(second->task_token()), request).ok());
  EXPECT_EQ(History(run_id).size(), 4u);

  auto third = PollWorkflowTask();
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(third->attempt(), 3);
  EXPECT_EQ(third->started_event_id(), 6);
  ASSERT_TRUE(CompleteWorkflowTask(*third, {}).ok());
  events = History(run_id);
  ASSERT_EQ(events.size(), 7u);
  EXPECT_EQ(events[4].event_type(), enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
  EXPECT_EQ(events[4].workflow_task_scheduled_event_attributes().attempt(), 3);
  EXPECT_EQ(events[5].event_type(), enums::EVENT_TYPE_WORKFLOW_TASK_STARTED);
  EXPECT_EQ(events[6].event_type(), enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
}

TEST_F(HistoryEngineTest, NewEventMakesAScheduledTransientWorkflowTaskOrdinary) {
  const std::string run_id = StartOk("wf-1");
  auto wft1 = PollWorkflowTask();
  ASSERT_TRUE(wft1.has_value());
  // 4 Completed, 5 ActivityTaskScheduled, 6 WorkflowTaskScheduled (forced).
  ASSERT_TRUE(CompleteWorkflowTask(*wft1, {ScheduleActivity({})}, /*force_new=*/true).ok());
  auto activity = PollActivityTask();
  ASSERT_TRUE(activity.has_value());
  auto wft2 = PollWorkflowTask();  // 7
  ASSERT_TRUE(wft2.has_value());
  wfs::RespondWorkflowTaskFailedRequest failed;
  failed.set_cause(enums::WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE);
  ASSERT_TRUE(engine_->RespondWorkflowTaskFailed(TokenOf(wft2->task_token()), failed).ok());  // 8
  ASSERT_EQ(History(run_id).size(), 8u);
  EXPECT_EQ(Describe("wf-1").pending_workflow_task().attempt(), 2);

  // The activity completes while the transient retry waits for a poller.
  ASSERT_TRUE(CompleteActivity(*activity, "\"r\"").ok());
  auto events = History(run_id);
  std::vector<enums::EventType> tail;
  for (size_t i = 8; i < events.size(); ++i) tail.push_back(events[i].event_type());
  EXPECT_THAT(tail, ElementsAre(enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,    // 9
                                enums::EVENT_TYPE_ACTIVITY_TASK_STARTED,      // 10
                                enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED));  // 11
  ASSERT_EQ(events.size(), 11u);
  EXPECT_EQ(events[8].workflow_task_scheduled_event_attributes().attempt(), 1);
  EXPECT_EQ(events[10].activity_task_completed_event_attributes().started_event_id(), 10);

  auto wft3 = PollWorkflowTask();
  ASSERT_TRUE(wft3.has_value());
  EXPECT_EQ(wft3->attempt(), 1);
  EXPECT_EQ(TokenOf(wft3->task_token()).scheduled_event_id(), 9);
  EXPECT_EQ(wft3->started_event_id(), 12);
  EXPECT_EQ(History(run_id).size(), 12u);
}

TEST_F(HistoryEngineTest, StaleTokenOfAnEarlierTransientAttemptIsNotFound) {
  const std::string run_id = StartOk("wf-1", 5s);
  auto first = PollWorkflowTask();
  ASSERT_TRUE(first.has_value());
  clock_.Advance(6s);  // attempt 1 times out: WorkflowTaskTimedOut
  ASSERT_TRUE(HistoryLengthReaches(run_id, 4));
  auto second = PollWorkflowTask();  // transient attempt 2
  ASSERT_TRUE(second.has_value());
  ASSERT_EQ(second->attempt(), 2);
  clock_.Advance(6s);               // attempt 2 times out too (nothing written)
  auto third = PollWorkflowTask();  // attempt 3, same event ids as attempt 2
  ASSERT_TRUE(third.has_value());
  ASSERT_EQ(third->attempt(), 3);
  ASSERT_EQ(TokenOf(third->task_token()).started_event_id(),
            TokenOf(second->task_token()).started_event_id());
  auto late = CompleteWorkflowTask(*second, {CompleteWorkflow("\"from the timed-out worker\"")});
  EXPECT_EQ(late.status().code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(Describe("wf-1").workflow_execution_info().status(),
            enums::WORKFLOW_EXECUTION_STATUS_RUNNING);
}

// ---------------------------------------------------------------------------------------------
// Activity retries and timeouts

TEST_F(HistoryEngineTest, RetryableActivityFailureWritesNothingAndRetriesAfterTheBackoff) {
  auto running = RunUntilActivityStarted("wf-1", {.retry = Retry(2s, 0)});
  ASSERT_TRUE(running.has_value());
  const auto first_attempt = running->activity;

  ASSERT_TRUE(FailActivity(first_attempt, ApplicationFailure("flaky")).ok());
  EXPECT_EQ(History(running->run_id).size(), 5u) << "a retried failure writes no event";
  auto pending = PendingActivity("wf-1");
  ASSERT_TRUE(pending.has_value());
  EXPECT_EQ(pending->attempt(), 2);
  EXPECT_EQ(pending->state(), enums::PENDING_ACTIVITY_STATE_SCHEDULED);
  EXPECT_EQ(pending->last_failure().message(), "flaky");
  EXPECT_EQ(FromTimestamp(pending->scheduled_time()), clock_.Now() + 2s);
  // The old attempt's token is stale.
  EXPECT_EQ(CompleteActivity(first_attempt, "\"late\"").code(), StatusCode::NOT_FOUND);

  // Not before the backoff.
  EXPECT_FALSE(Take(kActivityKind, 300ms).has_value());
  clock_.Advance(2s);
  auto second_attempt = PollActivityTask();
  ASSERT_TRUE(second_attempt.has_value());
  EXPECT_EQ(second_attempt->attempt(), 2);
  EXPECT_EQ(TokenOf(second_attempt->task_token()).attempt(), 2);
  EXPECT_EQ(FromTimestamp(second_attempt->current_attempt_scheduled_time()), clock_.Now());
  EXPECT_LT(FromTimestamp(second_attempt->scheduled_time()), clock_.Now());

  ASSERT_TRUE(CompleteActivity(*second_attempt, "\"ok\"").ok());
  auto events = History(running->run_id);
  ASSERT_EQ(events.size(), 8u);
  EXPECT_EQ(events[5].event_type(), enums::EVENT_TYPE_ACTIVITY_TASK_STARTED);
  EXPECT_EQ(events[5].activity_task_started_event_attributes().attempt(), 2);
  EXPECT_EQ(events[5].activity_task_started_event_attributes().last_failure().message(), "flaky");
  EXPECT_EQ(events[6].event_type(), enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED);
  EXPECT_EQ(events[6].activity_task_completed_event_attributes().started_event_id(), 6);
  EXPECT_EQ(events[7].event_type(), enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
}

// Issue 11: a retried activity's last failure is kept in mutable state bounded, as Temporal keeps
// it (history/stored_failure.h); its final failure event keeps what the worker sent.
TEST_F(HistoryEngineTest, ADeepLastFailureIsStoredTruncatedAndReadsBackAfterARestart) {
  const std::string path = FileDb();
  Close();
  ASSERT_NO_FATAL_FAILURE(Open(path));
  auto running = RunUntilActivityStarted("wf-1", {.retry = Retry(1s, 2)});
  ASSERT_TRUE(running.has_value());
  failure::Failure deep = ApplicationFailure("level 0");
  failure::Failure* at = &deep;
  for (int i = 1; i < 98; ++i) {
    at = at->mutable_cause();
    *at = ApplicationFailure("level " + std::to_string(i));
  }
  ASSERT_TRUE(FailActivity(running->activity, deep).ok());
  Close();

  ASSERT_NO_FATAL_FAILURE(Open(path));
  auto pending = PendingActivity("wf-1");
  ASSERT_TRUE(pending.has_value());
  EXPECT_EQ(pending->attempt(), 2);
  EXPECT_EQ(pending->last_failure().message(), kFailureExceedsLimitMessage);
  EXPECT_LE(FailureCauseDepth(pending->last_failure()), kStoredFailureCauseDepthMax);
  EXPECT_EQ(pending->last_failure().cause().message(), "level 0");

  clock_.Advance(1s);
  auto second = PollActivityTask();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->attempt(), 2);
  ASSERT_TRUE(FailActivity(*second, deep).ok());  // the last attempt: the activity fails
  auto events = History(running->run_id);
  ASSERT_GE(events.size(), 7u);
  EXPECT_EQ(events[5].event_type(), enums::EVENT_TYPE_ACTIVITY_TASK_STARTED);
  EXPECT_EQ(events[5].activity_task_started_event_attributes().last_failure().message(),
            kFailureExceedsLimitMessage);
  EXPECT_EQ(events[6].event_type(), enums::EVENT_TYPE_ACTIVITY_TASK_FAILED);
  EXPECT_EQ(FailureCauseDepth(events[6].activity_task_failed_event_attributes().failure()), 97);
}

TEST_F(HistoryEngineTest, NonRetryableActivityFailureClosesTheActivity) {
  auto running = RunUntilActivityStarted("wf-1");
  ASSERT_TRUE(running.has_value());
  ASSERT_TRUE(
      FailActivity(running->activity, ApplicationFailure("fatal", /*non_retryable=*/true)).ok());

  auto events = History(running->run_id);
  ASSERT_EQ(events.size(), 8u);
  EXPECT_EQ(events[5].event_type(), enums::EVENT_TYPE_ACTIVITY_TASK_STARTED);
  EXPECT_EQ(events[5].activity_task_started_event_attributes().attempt(), 1);
  EXPECT_EQ(events[6].event_type(), enums::EVENT_TYPE_ACTIVITY_TASK_FAILED);
  const auto& failed = events[6].activity_task_failed_event_attributes();
  EXPECT_EQ(failed.scheduled_event_id(), 5);
  EXPECT_EQ(failed.started_event_id(), 6);
  EXPECT_EQ(failed.retry_state(), enums::RETRY_STATE_NON_RETRYABLE_FAILURE);
  EXPECT_EQ(failed.failure().message(), "fatal");
  EXPECT_EQ(failed.identity(), "act-worker");
  EXPECT_EQ(events[7].event_type(), enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
  EXPECT_EQ(Describe("wf-1").pending_activities_size(), 0);
}

TEST_F(HistoryEngineTest, FailureOfANonRetryableErrorTypeClosesTheActivity) {
  common::RetryPolicy policy = Retry(1s, 0);
  policy.add_non_retryable_error_types("FatalError");
  auto running = RunUntilActivityStarted("wf-1", {.retry = policy});
  ASSERT_TRUE(running.has_value());
  ASSERT_TRUE(FailActivity(running->activity, ApplicationFailure("bad", false, "FatalError")).ok());
  auto events = History(running->run_id);
  ASSERT_EQ(events.size(), 8u);
  EXPECT_EQ(events[6].activity_task_failed_event_attributes().retry_state(),
            enums::RETRY_STATE_NON_RETRYABLE_FAILURE);
}

TEST_F(HistoryEngineTest, ActivityFailureAtMaximumAttemptsClosesTheActivity) {
  auto running = RunUntilActivityStarted("wf-1", {.retry = Retry(1s, 2)});
  ASSERT_TRUE(running.has_value());
  ASSERT_TRUE(FailActivity(running->activity, ApplicationFailure("first")).ok());
  EXPECT_EQ(History(running->run_id).size(), 5u);
  clock_.Advance(1s);
  auto second = PollActivityTask();
  ASSERT_TRUE(second.has_value());
  ASSERT_EQ(second->attempt(), 2);
  ASSERT_TRUE(FailActivity(*second, ApplicationFailure("second")).ok());

  auto events = History(running->run_id);
  ASSERT_EQ(events.size(), 8u);
  const auto& started = events[5].activity_task_started_event_attributes();
  EXPECT_EQ(started.attempt(), 2);
  EXPECT_EQ(started.last_failure().message(), "first");
  const auto& failed = events[6].activity_task_failed_event_attributes();
  EXPECT_EQ(failed.retry_state(), enums::RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED);
  EXPECT_EQ(failed.failure().message(), "second");
  EXPECT_EQ(failed.started_event_id(), 6);
}

TEST_F(HistoryEngineTest, ActivityStartToCloseTimeoutAtMaximumAttemptsWritesTimedOut) {
  auto running = RunUntilActivityStarted("wf-1", {.start_to_close = 10s, .retry = Retry(1s, 1)});
  ASSERT_TRUE(running.has_value());
  clock_.Advance(11s);
  ASSERT_TRUE(HistoryLengthReaches(running->run_id, 8)) << "the start-to-close timer never fired";

  auto events = History(running->run_id);
  ASSERT_EQ(events.size(), 8u);
  EXPECT_EQ(events[5].event_type(), enums::EVENT_TYPE_ACTIVITY_TASK_STARTED);
  EXPECT_EQ(events[5].activity_task_started_event_attributes().attempt(), 1);
  EXPECT_EQ(events[5].activity_task_started_event_attributes().identity(), "act-worker");
  EXPECT_EQ(events[6].event_type(), enums::EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT);
  const auto& timed_out = events[6].activity_task_timed_out_event_attributes();
  EXPECT_EQ(timed_out.scheduled_event_id(), 5);
  EXPECT_EQ(timed_out.started_event_id(), 6);
  ASSERT_TRUE(timed_out.failure().has_timeout_failure_info());
  EXPECT_EQ(timed_out.failure().timeout_failure_info().timeout_type(),
            enums::TIMEOUT_TYPE_START_TO_CLOSE);
  EXPECT_EQ(timed_out.retry_state(), enums::RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED);
  EXPECT_EQ(events[7].event_type(), enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);

  // The worker that comes back late is told the task is gone.
  EXPECT_EQ(CompleteActivity(running->activity, "\"late\"").code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(History(running->run_id).size(), 8u);
}

TEST_F(HistoryEngineTest, ActivityStartToCloseTimeoutIsRetried) {
  auto running = RunUntilActivityStarted("wf-1", {.start_to_close = 10s, .retry = Retry(1s, 0)});
  ASSERT_TRUE(running.has_value());
  clock_.Advance(11s);
  ASSERT_TRUE(WaitFor([&] {
    auto pending = PendingActivity("wf-1");
    return pending && pending->attempt() == 2;
  })) << "the start-to-close timer never fired";
  EXPECT_EQ(History(running->run_id).size(), 5u);
  EXPECT_EQ(PendingActivity("wf-1")->last_failure().timeout_failure_info().timeout_type(),
            enums::TIMEOUT_TYPE_START_TO_CLOSE);
  clock_.Advance(1s);
  auto second = PollActivityTask();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->attempt(), 2);
  EXPECT_EQ(CompleteActivity(running->activity, "\"late\"").code(), StatusCode::NOT_FOUND);
  ASSERT_TRUE(CompleteActivity(*second, "\"ok\"").ok());
  auto events = History(running->run_id);
  ASSERT_EQ(events.size(), 8u);
  EXPECT_EQ(events[5].activity_task_started_event_attributes().attempt(), 2);
  EXPECT_EQ(events[5]
                .activity_task_started_event_attributes()
                .last_failure()
                .timeout_failure_info()
                .timeout_type(),
            enums::TIMEOUT_TYPE_START_TO_CLOSE);
}

// Schedule-to-start defaults to schedule-to-close, so both fall due at the same instant; as in
// Temporal (deadline, then event id, then timeout type) schedule-to-start wins.
TEST_F(HistoryEngineTest,
       ActivityNobodyStartedTimesOutScheduleToStartAtTheScheduleToCloseDeadline) {
  const std::string run_id = StartOk("wf-1");
  auto wft = PollWorkflowTask();
  ASSERT_TRUE(wft.has_value());
  ASSERT_TRUE(CompleteWorkflowTask(
                  *wft, {ScheduleActivity({.start_to_close = {}, .schedule_to_close = 20s})})
                  .ok());
  auto scheduled = History(run_id).at(4).activity_task_scheduled_event_attributes();
  // Normalized: start-to-close and schedule-to-start default to schedule-to-close.
  EXPECT_EQ(FromProtoDuration(scheduled.start_to_close_timeout()), 20s);
  EXPECT_EQ(FromProtoDuration(scheduled.schedule_to_start_timeout()), 20s);
  clock_.Advance(21s);
  ASSERT_TRUE(HistoryLengthReaches(run_id, 7)) << "no activity timer fired";
  auto events = History(run_id);
  ASSERT_EQ(events.size(), 7u);
  EXPECT_EQ(events[5].event_type(), enums::EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT)
      << "no ActivityTaskStarted for an activity that never started";
  const auto& timed_out = events[5].activity_task_timed_out_event_attributes();
  EXPECT_EQ(timed_out.failure().timeout_failure_info().timeout_type(),
            enums::TIMEOUT_TYPE_SCHEDULE_TO_START);
  EXPECT_EQ(timed_out.retry_state(), enums::RETRY_STATE_TIMEOUT);
  EXPECT_EQ(timed_out.scheduled_event_id(), 5);
  EXPECT_EQ(timed_out.started_event_id(), 0);
  EXPECT_EQ(events[6].event_type(), enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
  // The dispatched task is stale now.
  auto matched = Take(kActivityKind);
  ASSERT_TRUE(matched.has_value());
  EXPECT_EQ(engine_->RecordActivityTaskStarted(matched->task, "poll", "w").status().code(),
            StatusCode::NOT_FOUND);
  matching_->Done(*matched);
}

TEST_F(HistoryEngineTest, ActivityScheduleToStartTimeoutWithoutScheduleToClose) {
  const std::string run_id = StartOk("wf-1");
  auto wft = PollWorkflowTask();
  ASSERT_TRUE(wft.has_value());
  ASSERT_TRUE(CompleteWorkflowTask(
                  *wft, {ScheduleActivity({.start_to_close = 10s, .schedule_to_start = 5s})})
                  .ok());
  // Nobody polls the activity queue.
  clock_.Advance(6s);
  ASSERT_TRUE(HistoryLengthReaches(run_id, 7)) << "the schedule-to-start timer never fired";
  auto events = History(run_id);
  ASSERT_EQ(events.size(), 7u);
  EXPECT_EQ(events[5].event_type(), enums::EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT);
  const auto& timed_out = events[5].activity_task_timed_out_event_attributes();
  EXPECT_EQ(timed_out.failure().timeout_failure_info().timeout_type(),
            enums::TIMEOUT_TYPE_SCHEDULE_TO_START);
  EXPECT_EQ(timed_out.started_event_id(), 0);
  EXPECT_EQ(timed_out.retry_state(), enums::RETRY_STATE_TIMEOUT);
  EXPECT_EQ(events[6].event_type(), enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
}

TEST_F(HistoryEngineTest, ActivityHeartbeatTimeoutIsEnforcedAndMovedOnByHeartbeats) {
  auto running = RunUntilActivityStarted(
      "wf-1", {.start_to_close = 60s, .heartbeat = 5s, .retry = Retry(1s, 1)});
  ASSERT_TRUE(running.has_value());
  const auto token = TokenOf(running->activity.task_token());
  EXPECT_EQ(FromProtoDuration(running->activity.heartbeat_timeout()), 5s);

  clock_.Advance(3s);
  auto heartbeat = engine_->RecordActivityTaskHeartbeat(token, Payload("\"3s\""), "act-worker");
  ASSERT_TRUE(heartbeat.ok()) << heartbeat.status().message();
  // 6 s after the start, but only 3 s after the heartbeat: still running.
  clock_.Advance(3s);
  EXPECT_FALSE(WaitFor([&] { return History(running->run_id).size() > 5; }, 500ms));
  EXPECT_TRUE(PendingActivity("wf-1").has_value());

  // 5 s without a heartbeat: timed out.
  clock_.Advance(3s);
  ASSERT_TRUE(HistoryLengthReaches(running->run_id, 8)) << "the heartbeat timer never fired";
  auto events = History(running->run_id);
  ASSERT_EQ(events.size(), 8u);
  EXPECT_EQ(events[5].event_type(), enums::EVENT_TYPE_ACTIVITY_TASK_STARTED);
  EXPECT_EQ(events[6].event_type(), enums::EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT);
  const auto& timed_out = events[6].activity_task_timed_out_event_attributes();
  EXPECT_EQ(timed_out.failure().timeout_failure_info().timeout_type(),
            enums::TIMEOUT_TYPE_HEARTBEAT);
  EXPECT_EQ(timed_out.failure().timeout_failure_info().last_heartbeat_details().payloads(0).data(),
            "\"3s\"");
  EXPECT_EQ(timed_out.retry_state(), enums::RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED);
  EXPECT_EQ(timed_out.started_event_id(), 6);
  EXPECT_EQ(engine_->RecordActivityTaskHeartbeat(token, Payload("1"), "w").status().code(),
            StatusCode::NOT_FOUND);
}

TEST_F(HistoryEngineTest, ActivityHeartbeatTimeoutIsRetried) {
  auto running = RunUntilActivityStarted(
      "wf-1", {.start_to_close = 60s, .heartbeat = 5s, .retry = Retry(1s, 0)});
  ASSERT_TRUE(running.has_value());
  clock_.Advance(6s);
  ASSERT_TRUE(WaitFor([&] {
    auto pending = PendingActivity("wf-1");
    return pending && pending->attempt() == 2;
  })) << "the heartbeat timer never fired";
  EXPECT_EQ(History(running->run_id).size(), 5u);
  EXPECT_EQ(PendingActivity("wf-1")->last_failure().timeout_failure_info().timeout_type(),
            enums::TIMEOUT_TYPE_HEARTBEAT);
  clock_.Advance(1s);
  auto second = PollActivityTask();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->attempt(), 2);
}

TEST_F(HistoryEngineTest, HeartbeatDetailsAreKeptForTheNextAttempt) {
  auto running = RunUntilActivityStarted("wf-1", {.retry = Retry(1s, 0)});
  ASSERT_TRUE(running.has_value());
  auto cancel = engine_->RecordActivityTaskHeartbeat(TokenOf(running->activity.task_token()),
                                                     Payload("\"50%\""), "act-worker");
  ASSERT_TRUE(cancel.ok()) << cancel.status().message();
  EXPECT_FALSE(*cancel);
  auto pending = PendingActivity("wf-1");
  ASSERT_TRUE(pending.has_value());
  EXPECT_EQ(pending->heartbeat_details().payloads(0).data(), "\"50%\"");
  ASSERT_TRUE(FailActivity(running->activity, ApplicationFailure("flaky")).ok());
  clock_.Advance(1s);
  auto second = PollActivityTask();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->heartbeat_details().payloads(0).data(), "\"50%\"");
}

TEST_F(HistoryEngineTest, EagerActivityIsStartedInTheCompletionResponse) {
  const std::string run_id = StartOk("wf-1");
  auto wft = PollWorkflowTask();
  ASSERT_TRUE(wft.has_value());
  command::Command eager = ScheduleActivity({.id = "eager"});
  eager.mutable_schedule_activity_task_command_attributes()->set_request_eager_execution(true);
  command::Command elsewhere = ScheduleActivity({.id = "elsewhere"});
  elsewhere.mutable_schedule_activity_task_command_attributes()->set_request_eager_execution(true);
  elsewhere.mutable_schedule_activity_task_command_attributes()->mutable_task_queue()->set_name(
      "other-queue");
  auto completed = CompleteWorkflowTask(*wft, {eager, elsewhere});
  ASSERT_TRUE(completed.ok()) << completed.status().message();
  // Only the activity on the worker's own queue is handed out.
  ASSERT_EQ(completed->activity_tasks_size(), 1);
  const auto& task = completed->activity_tasks(0);
  EXPECT_EQ(task.activity_id(), "eager");
  EXPECT_EQ(task.attempt(), 1);
  EXPECT_EQ(TokenOf(task.task_token()).scheduled_event_id(), 5);
  EXPECT_EQ(Describe("wf-1").pending_activities_size(), 2);
  // Not dispatched through matching.
  EXPECT_FALSE(Take(kActivityKind, 200ms).has_value());

  ASSERT_TRUE(CompleteActivity(task, "\"fast\"").ok());
  auto events = History(run_id);
  ASSERT_EQ(events.size(), 9u);
  EXPECT_EQ(events[6].event_type(), enums::EVENT_TYPE_ACTIVITY_TASK_STARTED);
  EXPECT_EQ(events[6].activity_task_started_event_attributes().scheduled_event_id(), 5);
  EXPECT_EQ(events[6].activity_task_started_event_attributes().identity(), "wf-worker");
  EXPECT_EQ(events[7].event_type(), enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED);
  EXPECT_EQ(events[7].activity_task_completed_event_attributes().started_event_id(), 7);
  EXPECT_EQ(events[8].event_type(), enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
}

// An activity started eagerly in its scheduling commit gets no schedule-to-start timer either;
// one that waits on its queue does.
TEST_F(HistoryEngineTest, AnEagerActivityGetsNoScheduleToStartTimer) {
  StartOk("eager-no-moot-timer");
  auto wft = PollWorkflowTask();
  ASSERT_TRUE(wft.has_value());
  command::Command eager = ScheduleActivity({.id = "eager", .schedule_to_start = 30s});
  eager.mutable_schedule_activity_task_command_attributes()->set_request_eager_execution(true);
  command::Command waiting = ScheduleActivity({.id = "waiting", .schedule_to_start = 30s});
  waiting.mutable_schedule_activity_task_command_attributes()->mutable_task_queue()->set_name(
      "idle-queue");
  auto completed = CompleteWorkflowTask(*wft, {eager, waiting});
  ASSERT_TRUE(completed.ok()) << completed.status().message();
  ASSERT_EQ(completed->activity_tasks_size(), 1);
  EXPECT_EQ(StoredTimers(eon::v1::HISTORY_TASK_TYPE_ACTIVITY_TIMEOUT,
                         enums::TIMEOUT_TYPE_SCHEDULE_TO_START),
            1);
}

TEST_F(HistoryEngineTest, CancellingActivitiesThatAreAndAreNotRunning) {
  const std::string run_id = StartOk("wf-1");
  auto wft1 = PollWorkflowTask();
  ASSERT_TRUE(wft1.has_value());
  // 5 running, 6 waiting (on a queue nobody polls); 7 a forced workflow task to cancel them in.
  command::Command waiting = ScheduleActivity({.id = "waiting"});
  waiting.mutable_schedule_activity_task_command_attributes()->mutable_task_queue()->set_name(
      "idle-queue");
  ASSERT_TRUE(
      CompleteWorkflowTask(*wft1, {ScheduleActivity({.id = "running"}), waiting}, true).ok());
  auto running = PollActivityTask();
  ASSERT_TRUE(running.has_value());
  auto wft2 = PollWorkflowTask();  // 8
  ASSERT_TRUE(wft2.has_value());
  auto cancel = [](int64_t scheduled_id) {
    command::Command c;
    c.set_command_type(enums::COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK);
    c.mutable_request_cancel_activity_task_command_attributes()->set_scheduled_event_id(
        scheduled_id);
    return c;
  };
  ASSERT_TRUE(CompleteWorkflowTask(*wft2, {cancel(5), cancel(6)}).ok());
  auto events = History(run_id);
  std::vector<enums::EventType> tail;
  for (size_t i = 8; i < events.size(); ++i) tail.push_back(events[i].event_type());
  EXPECT_THAT(tail, ElementsAre(enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED,         // 9
                                enums::EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED,  // 10 (5)
                                enums::EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED,  // 11 (6)
                                enums::EVENT_TYPE_ACTIVITY_TASK_CANCELED,          // 12 (6)
                                enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED));       // 13
  ASSERT_EQ(events.size(), 13u);
  EXPECT_EQ(events[9].activity_task_cancel_requested_event_attributes().scheduled_event_id(), 5);
  EXPECT_EQ(events[9]
                .activity_task_cancel_requested_event_attributes()
                .workflow_task_completed_event_id(),
            9);
  EXPECT_EQ(events[11].activity_task_canceled_event_attributes().scheduled_event_id(), 6);
  EXPECT_EQ(events[11].activity_task_canceled_event_attributes().latest_cancel_requested_event_id(),
            11);

  // The running one learns of it from its heartbeat and answers Canceled.
  const auto token = TokenOf(running->task_token());
  auto heartbeat = engine_->RecordActivityTaskHeartbeat(token, Payload("1"), "act-worker");
  ASSERT_TRUE(heartbeat.ok());
  EXPECT_TRUE(*heartbeat);
  auto pending = PendingActivity("wf-1");
  ASSERT_TRUE(pending.has_value());
  EXPECT_EQ(pending->state(), enums::PENDING_ACTIVITY_STATE_CANCEL_REQUESTED);
  auto wft3 = PollWorkflowTask();  // 14
  ASSERT_TRUE(wft3.has_value());
  ASSERT_TRUE(CompleteWorkflowTask(*wft3, {}).ok());  // 15
  ASSERT_TRUE(engine_->RespondActivityTaskCanceled(token, Payload("\"bye\""), "act-worker").ok());
  events = History(run_id);
  ASSERT_EQ(events.size(), 18u);
  EXPECT_EQ(events[15].event_type(), enums::EVENT_TYPE_ACTIVITY_TASK_STARTED);
  EXPECT_EQ(events[16].event_type(), enums::EVENT_TYPE_ACTIVITY_TASK_CANCELED);
  const auto& canceled = events[16].activity_task_canceled_event_attributes();
  EXPECT_EQ(canceled.scheduled_event_id(), 5);
  EXPECT_EQ(canceled.started_event_id(), 16);
  EXPECT_EQ(canceled.latest_cancel_requested_event_id(), 10);
  EXPECT_EQ(canceled.details().payloads(0).data(), "\"bye\"");
  EXPECT_EQ(events[17].event_type(), enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
  EXPECT_EQ(Describe("wf-1").pending_activities_size(), 0);
}

TEST_F(HistoryEngineTest, FailureAfterACancelRequestIsNotRetried) {
  const std::string run_id = StartOk("wf-1");
  auto wft1 = PollWorkflowTask();
  ASSERT_TRUE(wft1.has_value());
  ASSERT_TRUE(CompleteWorkflowTask(*wft1, {ScheduleActivity({.retry = Retry(1s, 0)})}, true).ok());
  auto activity = PollActivityTask();
  ASSERT_TRUE(activity.has_value());
  auto wft2 = PollWorkflowTask();  // 7
  ASSERT_TRUE(wft2.has_value());
  command::Command cancel;
  cancel.set_command_type(enums::COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK);
  cancel.mutable_request_cancel_activity_task_command_attributes()->set_scheduled_event_id(5);
  ASSERT_TRUE(CompleteWorkflowTask(*wft2, {cancel}).ok());  // 8 Completed, 9 CancelRequested
  ASSERT_EQ(History(run_id).size(), 9u) << "a running activity's cancel waits for the worker";

  ASSERT_TRUE(FailActivity(*activity, ApplicationFailure("interrupted")).ok());
  auto events = History(run_id);
  ASSERT_EQ(events.size(), 12u);
  EXPECT_EQ(events[9].event_type(), enums::EVENT_TYPE_ACTIVITY_TASK_STARTED);
  EXPECT_EQ(events[10].event_type(), enums::EVENT_TYPE_ACTIVITY_TASK_FAILED);
  EXPECT_EQ(events[10].activity_task_failed_event_attributes().retry_state(),
            enums::RETRY_STATE_CANCEL_REQUESTED);
  EXPECT_EQ(events[11].event_type(), enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
}

TEST_F(HistoryEngineTest, BufferedCompletionsAreWrittenAfterTheOtherBufferedEvents) {
  const std::string run_id = StartOk("wf-1");
  auto wft1 = PollWorkflowTask();
  ASSERT_TRUE(wft1.has_value());
  ASSERT_TRUE(CompleteWorkflowTask(*wft1,
                                   {ScheduleActivity({.id = "a"}), ScheduleActivity({.id = "b"})},
                                   /*force_new=*/true)
                  .ok());  // 5 a, 6 b, 7 WorkflowTaskScheduled
  auto first = PollActivityTask();
  auto second = PollActivityTask();
  ASSERT_TRUE(first && second);
  auto wft2 = PollWorkflowTask();  // 8
  ASSERT_TRUE(wft2.has_value());
  ASSERT_TRUE(CompleteActivity(*first, "\"1\"").ok());
  ASSERT_TRUE(CompleteActivity(*second, "\"2\"").ok());
  ASSERT_EQ(History(run_id).size(), 8u);
  ASSERT_TRUE(CompleteWorkflowTask(*wft2, {}).ok());
  auto events = History(run_id);
  std::vector<enums::EventType> tail;
  for (size_t i = 8; i < events.size(); ++i) tail.push_back(events[i].event_type());
  EXPECT_THAT(tail, ElementsAre(enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED,    // 9
                                enums::EVENT_TYPE_ACTIVITY_TASK_STARTED,      // 10
                                enums::EVENT_TYPE_ACTIVITY_TASK_STARTED,      // 11
                                enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED,    // 12
                                enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED,    // 13
                                enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED));  // 14
  ASSERT_EQ(events.size(), 14u);
  // Every completion points at its own activity's Started event.
  for (int i : {11, 12}) {
    const auto& completed = events[i].activity_task_completed_event_attributes();
    int64_t started_id = completed.started_event_id();
    ASSERT_GE(started_id, 10);
    ASSERT_LE(started_id, 11);
    EXPECT_EQ(events[started_id - 1].activity_task_started_event_attributes().scheduled_event_id(),
              completed.scheduled_event_id());
  }
  EXPECT_NE(events[11].activity_task_completed_event_attributes().scheduled_event_id(),
            events[12].activity_task_completed_event_attributes().scheduled_event_id());
}

TEST_F(HistoryEngineTest, RecordMarkerWritesMarkerRecorded) {
  const std::string run_id = StartOk("wf-1");
  auto wft = PollWorkflowTask();
  ASSERT_TRUE(wft.has_value());
  command::Command marker;
  marker.set_command_type(enums::COMMAND_TYPE_RECORD_MARKER);
  marker.mutable_record_marker_command_attributes()->set_marker_name("core_patch");
  (*marker.mutable_record_marker_command_attributes()->mutable_details())["id"] = Payload("\"p1\"");
  ASSERT_TRUE(CompleteWorkflowTask(*wft, {marker, CompleteWorkflow("\"ok\"")}).ok());
  auto events = History(run_id);
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[4].event_type(), enums::EVENT_TYPE_MARKER_RECORDED);
  const auto& m = events[4].marker_recorded_event_attributes();
  EXPECT_EQ(m.marker_name(), "core_patch");
  EXPECT_EQ(m.details().at("id").payloads(0).data(), "\"p1\"");
  EXPECT_EQ(m.workflow_task_completed_event_id(), 4);

  // Without a name the task fails.
  const std::string other = StartOk("wf-2");
  auto wft2 = PollWorkflowTask();
  ASSERT_TRUE(wft2.has_value());
  marker.mutable_record_marker_command_attributes()->clear_marker_name();
  auto failed = CompleteWorkflowTask(*wft2, {marker});
  EXPECT_EQ(failed.status().code(), StatusCode::INVALID_ARGUMENT);
  auto other_events = History(other);
  ASSERT_EQ(other_events.size(), 4u);
  EXPECT_EQ(other_events[3].workflow_task_failed_event_attributes().cause(),
            enums::WORKFLOW_TASK_FAILED_CAUSE_BAD_RECORD_MARKER_ATTRIBUTES);
}

TEST_F(HistoryEngineTest, ActivityTokenByIdNamesTheCurrentAttempt) {
  auto running = RunUntilActivityStarted("wf-1", {.retry = Retry(1s, 0)});
  ASSERT_TRUE(running.has_value());
  auto token = engine_->ActivityTokenById(kNamespace, "wf-1", "", "act-1");
  ASSERT_TRUE(token.ok()) << token.status().message();
  EXPECT_EQ(token->scheduled_event_id(), 5);
  EXPECT_EQ(token->attempt(), 1);
  EXPECT_EQ(token->run_id(), running->run_id);
  ASSERT_TRUE(engine_->RespondActivityTaskCompleted(*token, Payload("\"by id\""), "cli").ok());
  EXPECT_EQ(History(running->run_id).at(6).activity_task_completed_event_attributes().identity(),
            "cli");

  auto unknown = engine_->ActivityTokenById(kNamespace, "wf-1", "", "no-such-activity");
  EXPECT_EQ(unknown.status().code(), StatusCode::NOT_FOUND);
  EXPECT_THAT(unknown.status().message(), HasSubstr("no-such-activity"));
}

TEST_F(HistoryEngineTest, EagerActivityInATaskThatAlsoCompletesTheWorkflow) {
  const std::string run_id = StartOk("wf-1");
  auto wft = PollWorkflowTask();
  ASSERT_TRUE(wft.has_value());
  command::Command eager = ScheduleActivity({.id = "eager"});
  eager.mutable_schedule_activity_task_command_attributes()->set_request_eager_execution(true);
  auto completed = CompleteWorkflowTask(*wft, {eager, CompleteWorkflow("\"done\"")});
  ASSERT_TRUE(completed.ok()) << completed.status().message();
  EXPECT_EQ(completed->activity_tasks_size(), 0) << "the workflow is closed: nothing to run";
  EXPECT_EQ(Describe("wf-1").workflow_execution_info().status(),
            enums::WORKFLOW_EXECUTION_STATUS_COMPLETED);
}

TEST_F(HistoryEngineTest, ScheduleToStartTimeoutAppliesToEveryAttempt) {
  auto running = RunUntilActivityStarted(
      "wf-1", {.start_to_close = 10s, .schedule_to_start = 5s, .retry = Retry(1s, 0)});
  ASSERT_TRUE(running.has_value());
  ASSERT_TRUE(FailActivity(running->activity, ApplicationFailure("flaky")).ok());
  clock_.Advance(1s);
  ASSERT_TRUE(BacklogReaches(kActivityKind, 1)) << "attempt 2 was not dispatched";
  // Nobody polls for attempt 2.
  clock_.Advance(6s);
  ASSERT_TRUE(HistoryLengthReaches(running->run_id, 7)) << "attempt 2 never timed out";
  auto events = History(running->run_id);
  EXPECT_EQ(events[5].event_type(), enums::EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT);
  EXPECT_EQ(events[5]
                .activity_task_timed_out_event_attributes()
                .failure()
                .timeout_failure_info()
                .timeout_type(),
            enums::TIMEOUT_TYPE_SCHEDULE_TO_START);
}

// ---------------------------------------------------------------------------------------------
// Workflow task timeout

TEST_F(HistoryEngineTest, WorkflowTaskStartToCloseTimeoutSchedulesTheNextAttempt) {
  const std::string run_id = StartOk("wf-1", 5s);
  auto wft = PollWorkflowTask();
  ASSERT_TRUE(wft.has_value());
  clock_.Advance(4s);
  EXPECT_FALSE(Take(kWorkflowKind, 300ms).has_value()) << "timed out too early";
  EXPECT_EQ(History(run_id).size(), 3u);
  clock_.Advance(2s);
  ASSERT_TRUE(HistoryLengthReaches(run_id, 4)) << "the workflow task timer never fired";

  auto events = History(run_id);
  ASSERT_EQ(events.size(), 4u) << "the retry is transient: no WorkflowTaskScheduled yet";
  EXPECT_EQ(events[3].event_type(), enums::EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT);
  const auto& timed_out = events[3].workflow_task_timed_out_event_attributes();
  EXPECT_EQ(timed_out.scheduled_event_id(), 2);
  EXPECT_EQ(timed_out.started_event_id(), 3);
  EXPECT_EQ(timed_out.timeout_type(), enums::TIMEOUT_TYPE_START_TO_CLOSE);

  // Attempt 2 is dispatched again.
  auto retry = PollWorkflowTask();
  ASSERT_TRUE(retry.has_value());
  EXPECT_EQ(retry->attempt(), 2);
  EXPECT_EQ(TokenOf(retry->task_token()).scheduled_event_id(), 5);
  EXPECT_EQ(TokenOf(retry->task_token()).attempt(), 2);
  EXPECT_EQ(retry->started_event_id(), 6);
  ASSERT_EQ(retry->history().events_size(), 6);
  EXPECT_EQ(retry->history().events(4).event_type(), enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
  EXPECT_EQ(retry->history().events(4).workflow_task_scheduled_event_attributes().attempt(), 2);
  EXPECT_EQ(FromProtoDuration(retry->history()
                                  .events(4)
                                  .workflow_task_scheduled_event_attributes()
                                  .start_to_close_timeout()),
            5s);
  EXPECT_EQ(retry->history().events(5).event_type(), enums::EVENT_TYPE_WORKFLOW_TASK_STARTED);
  // The timed-out task's worker is told it is gone.
  EXPECT_EQ(CompleteWorkflowTask(*wft, {}).status().code(), StatusCode::NOT_FOUND);

  // Attempt 2 times out as well: nothing is written, attempt 3 is dispatched.
  clock_.Advance(6s);
  auto third = PollWorkflowTask();
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(third->attempt(), 3);
  EXPECT_EQ(History(run_id).size(), 4u);

  ASSERT_TRUE(CompleteWorkflowTask(*third, {CompleteWorkflow("\"ok\"")}).ok());
  events = History(run_id);
  std::vector<enums::EventType> tail;
  for (size_t i = 4; i < events.size(); ++i) tail.push_back(events[i].event_type());
  EXPECT_THAT(tail, ElementsAre(enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
                                enums::EVENT_TYPE_WORKFLOW_TASK_STARTED,
                                enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
                                enums::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED));
  ASSERT_EQ(events.size(), 8u);
  EXPECT_EQ(events[4].workflow_task_scheduled_event_attributes().attempt(), 3);
}

TEST_F(HistoryEngineTest, WorkflowTaskCompletedInTimeDoesNotTimeOut) {
  const std::string run_id = StartOk("wf-1", 5s);
  auto wft = PollWorkflowTask();
  ASSERT_TRUE(wft.has_value());
  ASSERT_TRUE(CompleteWorkflowTask(*wft, {}).ok());
  clock_.Advance(6s);
  // The stale timer fires and must do nothing; give it the time to.
  EXPECT_FALSE(WaitFor([&] { return History(run_id).size() > 4; }, 500ms));
  EXPECT_THAT(EventTypes(run_id), ElementsAre(enums::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
                                              enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
                                              enums::EVENT_TYPE_WORKFLOW_TASK_STARTED,
                                              enums::EVENT_TYPE_WORKFLOW_TASK_COMPLETED));
}

// ---------------------------------------------------------------------------------------------
// Stale tokens

TEST_F(HistoryEngineTest, CompletingAWorkflowTaskTwiceIsNotFound) {
  const std::string run_id = StartOk("wf-1");
  auto wft = PollWorkflowTask();
  ASSERT_TRUE(wft.has_value());
  ASSERT_TRUE(CompleteWorkflowTask(*wft, {ScheduleActivity({})}).ok());
  auto again = CompleteWorkflowTask(*wft, {ScheduleActivity({.id = "act-2"})});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(again.status().message(), "Workflow task not found.");
  EXPECT_EQ(History(run_id).size(), 5u);
}

TEST_F(HistoryEngineTest, ActivityTokenOfAnotherAttemptIsNotFound) {
  auto running = RunUntilActivityStarted("wf-1");
  ASSERT_TRUE(running.has_value());
  auto token = TokenOf(running->activity.task_token());
  token.set_attempt(2);
  Status completed = engine_->RespondActivityTaskCompleted(token, Payload("\"x\""), "act-worker");
  EXPECT_EQ(completed.code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(completed.message(),
            "invalid activityID or activity already timed out or invoking workflow is completed");
  EXPECT_EQ(engine_->RespondActivityTaskFailed(token, ApplicationFailure("x"), nullptr, "w").code(),
            StatusCode::NOT_FOUND);
  EXPECT_EQ(engine_->RecordActivityTaskHeartbeat(token, Payload("1"), "w").status().code(),
            StatusCode::NOT_FOUND);
  token.set_attempt(1);
  token.set_scheduled_event_id(99);
  EXPECT_EQ(engine_->RespondActivityTaskCompleted(token, Payload("\"x\""), "w").code(),
            StatusCode::NOT_FOUND);
  EXPECT_EQ(History(running->run_id).size(), 5u);
  // The real token still works.
  EXPECT_TRUE(CompleteActivity(running->activity, "\"ok\"").ok());
}

TEST_F(HistoryEngineTest, EverythingOnATerminatedWorkflowIsNotFound) {
  const std::string run_id = StartOk("wf-1");
  auto wft1 = PollWorkflowTask();
  ASSERT_TRUE(wft1.has_value());
  ASSERT_TRUE(CompleteWorkflowTask(*wft1,
                                   {ScheduleActivity({.id = "a"}), ScheduleActivity({.id = "b"})},
                                   /*force_new=*/true)
                  .ok());
  // One activity started, one only dispatched, a workflow task started.
  auto started = PollActivityTask();
  ASSERT_TRUE(started.has_value());
  auto dispatched = Take(kActivityKind);
  ASSERT_TRUE(dispatched.has_value());
  auto wft2 = PollWorkflowTask();
  ASSERT_TRUE(wft2.has_value());

  ASSERT_TRUE(Terminate("wf-1").ok());
  const size_t length = History(run_id).size();

  const auto activity_token = TokenOf(started->task_token());
  EXPECT_EQ(CompleteWorkflowTask(*wft2, {}).status().code(), StatusCode::NOT_FOUND);
  wfs::RespondWorkflowTaskFailedRequest failed;
  EXPECT_EQ(engine_->RespondWorkflowTaskFailed(TokenOf(wft2->task_token()), failed).code(),
            StatusCode::NOT_FOUND);
  Status completed = CompleteActivity(*started, "\"x\"");
  EXPECT_EQ(completed.code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(completed.message(), "workflow execution already completed");
  EXPECT_EQ(FailActivity(*started, ApplicationFailure("x")).code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(engine_->RespondActivityTaskCanceled(activity_token, Payload("1"), "w").code(),
            StatusCode::NOT_FOUND);
  EXPECT_EQ(engine_->RecordActivityTaskHeartbeat(activity_token, Payload("1"), "w").status().code(),
            StatusCode::NOT_FOUND);
  EXPECT_EQ(engine_->RecordActivityTaskStarted(dispatched->task, "poll", "w").status().code(),
            StatusCode::NOT_FOUND);
  matching_->Done(*dispatched);
  Status again = Terminate("wf-1");
  EXPECT_EQ(again.code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(again.message(), "workflow execution already completed");
  EXPECT_EQ(History(run_id).size(), length) << "nothing was written after the termination";
}

// ---------------------------------------------------------------------------------------------
// Updates that meet the close of their run

wfs::UpdateWorkflowExecutionRequest UpdateRequest(const std::string& workflow_id,
                                                  const std::string& update_id) {
  wfs::UpdateWorkflowExecutionRequest request;
  request.mutable_workflow_execution()->set_workflow_id(workflow_id);
  request.mutable_request()->mutable_meta()->set_update_id(update_id);
  request.mutable_request()->mutable_input()->set_name("add");
  return request;
}

TEST_F(HistoryEngineTest, UpdateAdmittedWhileTheRunContinuesAsNewIsToldToRetry) {
  const std::string run_id = StartOk("wf-1");
  auto wft = PollWorkflowTask();
  ASSERT_TRUE(wft.has_value());
  auto admitted = engine_->AdmitUpdate(kNamespace, UpdateRequest("wf-1", "u1"));
  ASSERT_TRUE(admitted.ok()) << admitted.status().message();
  EXPECT_EQ(admitted->stage, enums::UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED);
  EXPECT_EQ(admitted->key.run_id, run_id);

  command::Command can;
  can.set_command_type(enums::COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION);
  can.mutable_continue_as_new_workflow_execution_command_attributes()
      ->mutable_workflow_type()
      ->set_name("wf-type");
  ASSERT_TRUE(CompleteWorkflowTask(*wft, {can}).ok());

  // Its waiters get Temporal's retryable "workflow is closing".
  auto waiting = engine_->UpdateState(admitted->key, "u1");
  ASSERT_FALSE(waiting.ok());
  EXPECT_EQ(waiting.status().code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(waiting.status().message(),
            "workflow operation can not be applied because workflow is closing");
  ASSERT_TRUE(waiting.status().detail().has_value());
  temporal::api::errordetails::v1::ResourceExhaustedFailure detail;
  ASSERT_TRUE(waiting.status().detail()->UnpackTo(&detail));
  EXPECT_EQ(detail.cause(), enums::RESOURCE_EXHAUSTED_CAUSE_BUSY_WORKFLOW);
  EXPECT_EQ(detail.scope(), enums::RESOURCE_EXHAUSTED_SCOPE_NAMESPACE);

  // Sent again by workflow id only, it lands on the new run; by the old run id it is unknown.
  auto retried = engine_->AdmitUpdate(kNamespace, UpdateRequest("wf-1", "u1"));
  ASSERT_TRUE(retried.ok()) << retried.status().message();
  EXPECT_NE(retried->key.run_id, run_id);
  EXPECT_EQ(retried->stage, enums::UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED);
  auto to_old_run = UpdateRequest("wf-1", "u1");
  to_old_run.mutable_workflow_execution()->set_run_id(run_id);
  auto old = engine_->AdmitUpdate(kNamespace, to_old_run);
  EXPECT_EQ(old.status().code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(old.status().message(), "workflow execution already completed");
}

TEST_F(HistoryEngineTest, UpdateAdmittedWhenTheRunIsTerminatedIsAbortedAsNotFound) {
  const std::string run_id = StartOk("wf-1");
  auto admitted = engine_->AdmitUpdate(kNamespace, UpdateRequest("wf-1", "u1"));
  ASSERT_TRUE(admitted.ok()) << admitted.status().message();
  ASSERT_TRUE(Terminate("wf-1").ok());
  auto waiting = engine_->UpdateState(admitted->key, "u1");
  EXPECT_EQ(waiting.status().code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(waiting.status().message(), "workflow update was aborted by closing workflow");
}

// ---------------------------------------------------------------------------------------------
// Terminate

TEST_F(HistoryEngineTest, TerminateWritesTerminatedAndDescribeReportsIt) {
  const std::string run_id = StartOk("wf-1");
  ASSERT_TRUE(BacklogReaches(kWorkflowKind, 1)) << "the first workflow task was not dispatched";
  ASSERT_TRUE(Terminate("wf-1", "operator said so").ok());
  auto events = History(run_id);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].event_type(), enums::EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED);
  const auto& t = events[2].workflow_execution_terminated_event_attributes();
  EXPECT_EQ(t.reason(), "operator said so");
  EXPECT_EQ(t.identity(), "operator");
  EXPECT_EQ(t.details().payloads(0).data(), "\"details\"");

  auto described = Describe("wf-1");
  EXPECT_EQ(described.workflow_execution_info().status(),
            enums::WORKFLOW_EXECUTION_STATUS_TERMINATED);
  EXPECT_TRUE(described.workflow_execution_info().has_close_time());
  EXPECT_FALSE(described.has_pending_workflow_task());

  // The workflow task still in the queue is stale now.
  auto matched = Take(kWorkflowKind);
  ASSERT_TRUE(matched.has_value());
  EXPECT_EQ(engine_->RecordWorkflowTaskStarted(matched->task, "poll", "w").status().code(),
            StatusCode::NOT_FOUND);
  matching_->Done(*matched);
  EXPECT_EQ(History(run_id).size(), 3u);
}

TEST_F(HistoryEngineTest, TerminateWhileAWorkflowTaskRunsFailsItWithForceClose) {
  const std::string run_id = StartOk("wf-1");
  auto wft = PollWorkflowTask();
  ASSERT_TRUE(wft.has_value());
  ASSERT_TRUE(Terminate("wf-1").ok());
  auto events = History(run_id);
  std::vector<enums::EventType> types;
  for (const auto& e : events) types.push_back(e.event_type());
  EXPECT_THAT(types, ElementsAre(enums::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
                                 enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
                                 enums::EVENT_TYPE_WORKFLOW_TASK_STARTED,
                                 enums::EVENT_TYPE_WORKFLOW_TASK_FAILED,
                                 enums::EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED));
  ASSERT_EQ(events.size(), 5u);
  const auto& failed = events[3].workflow_task_failed_event_attributes();
  EXPECT_EQ(failed.cause(), enums::WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND);
  EXPECT_EQ(failed.scheduled_event_id(), 2);
  EXPECT_EQ(failed.started_event_id(), 3);
  EXPECT_EQ(Describe("wf-1").workflow_execution_info().status(),
            enums::WORKFLOW_EXECUTION_STATUS_TERMINATED);
}

TEST_F(HistoryEngineTest, TerminateFlushesBufferedEventsBeforeTheTerminatedEvent) {
  const std::string run_id = StartOk("wf-1");
  auto wft1 = PollWorkflowTask();
  ASSERT_TRUE(wft1.has_value());
  ASSERT_TRUE(CompleteWorkflowTask(*wft1, {ScheduleActivity({})}, /*force_new=*/true).ok());
  auto wft2 = PollWorkflowTask();  // 7
  ASSERT_TRUE(wft2.has_value());
  auto activity = PollActivityTask();
  ASSERT_TRUE(activity.has_value());
  ASSERT_TRUE(CompleteActivity(*activity, "\"r\"").ok());  // buffered
  ASSERT_TRUE(Terminate("wf-1").ok());
  auto events = History(run_id);
  ASSERT_EQ(events.size(), 11u);
  EXPECT_EQ(events[7].event_type(), enums::EVENT_TYPE_WORKFLOW_TASK_FAILED);
  EXPECT_EQ(events[8].event_type(), enums::EVENT_TYPE_ACTIVITY_TASK_STARTED);
  EXPECT_EQ(events[9].event_type(), enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED);
  EXPECT_EQ(events[9].activity_task_completed_event_attributes().started_event_id(), 9);
  EXPECT_EQ(events[10].event_type(), enums::EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED);
}

TEST_F(HistoryEngineTest, TerminateOfAnUnknownWorkflowIsNotFoundWithDetail) {
  Status status = Terminate("no-such-workflow");
  EXPECT_EQ(status.code(), StatusCode::NOT_FOUND);
  ASSERT_TRUE(status.detail().has_value());
  temporal::api::errordetails::v1::NotFoundFailure detail;
  EXPECT_TRUE(status.detail()->UnpackTo(&detail));
}

// ---------------------------------------------------------------------------------------------
// Restart durability

TEST_F(HistoryEngineTest, PendingWorkflowTaskDispatchIsRecoveredFromTheOutboxAfterARestart) {
  const std::string path = FileDb();
  Close();
  ASSERT_NO_FATAL_FAILURE(Open(path));

  // A poller takes the dispatch (sync match) and the process dies before it records it: the
  // transfer task is never settled, so it stays in the outbox.
  auto promise = std::make_shared<std::promise<std::optional<matching::MatchedTask>>>();
  auto answer = promise->get_future();
  matching_->Poll(
      {kNamespace, kQueue, kWorkflowKind}, {"doomed", ""}, steady_clock::now() + 10s,
      [promise](std::optional<matching::MatchedTask> t) { promise->set_value(std::move(t)); });
  const std::string run_id = StartOk("wf-1");
  ASSERT_EQ(answer.wait_for(5s), std::future_status::ready);
  auto lost = answer.get();
  ASSERT_TRUE(lost.has_value());
  EXPECT_EQ(lost->backlog_task_id, 0) << "sync-matched, so not in the matching backlog";
  auto backlog = store_->LoadQueueTasks(kNamespace, kQueue, kWorkflowKind, 0, 10);
  ASSERT_TRUE(backlog.ok());
  EXPECT_TRUE(backlog->empty());
  lost.reset();
  Close();

  // Only the outbox knows about the task now; the restart dispatches it again.
  ASSERT_NO_FATAL_FAILURE(Open(path));
  EXPECT_TRUE(BacklogReaches(kWorkflowKind, 1)) << "the dispatch was not redone";
  auto wft = PollWorkflowTask();
  ASSERT_TRUE(wft.has_value());
  EXPECT_EQ(wft->workflow_execution().run_id(), run_id);
  EXPECT_EQ(TokenOf(wft->task_token()).scheduled_event_id(), 2);
  ASSERT_TRUE(CompleteWorkflowTask(*wft, {CompleteWorkflow("\"ok\"")}).ok());
  EXPECT_EQ(History(run_id).size(), 5u);
}

// Fencing (DESIGN.md): a process whose shards another process took stops serving them. Its
// next commit finds the range_id moved on; it drops the shard's cached state and refuses its
// updates, and the new owner serves the workflow from the database.
TEST_F(HistoryEngineTest, AProcessWhoseShardWasTakenRefusesItsUpdatesAndTheNewOwnerServesThem) {
  const std::string path = FileDb();
  Close();
  ASSERT_NO_FATAL_FAILURE(Open(path));
  const std::string run_id = StartOk("wf-1");
  auto signal = [&](HistoryEngine& engine, const std::string& name) {
    wfs::SignalWorkflowExecutionRequest request;
    request.mutable_workflow_execution()->set_workflow_id("wf-1");
    request.set_signal_name(name);
    request.set_request_id(NewUuid());
    return engine.SignalWorkflowExecution(kNamespace, request);
  };
  ASSERT_TRUE(signal(*engine_, "before").ok());
  std::promise<Status> ended;
  auto watch_ended = ended.get_future();
  engine_->WatchRun(
      {kNamespace, "wf-1", run_id}, [](const auto&, const auto&) {}, nullptr,
      [&ended](const Status& status) { ended.set_value(status); });

  // A second process on the same database takes every shard.
  persistence::SqliteOptions options;
  options.path = path;
  options.synchronous_full = false;
  auto other_store = persistence::SqliteStore::Open(options);
  ASSERT_TRUE(other_store.ok()) << other_store.status().message();
  ThreadDeadlineScheduler other_deadlines;
  ThreadPool other_tasks("other-tasks", 2);
  matching::MatchingEngine other_matching(**other_store, other_deadlines, {});
  ASSERT_TRUE(other_matching.Recover().ok());
  matching::LocalMatching other_local(other_matching, other_tasks);
  auto other = std::make_unique<HistoryEngine>(**other_store, env_, other_local, other_tasks,
                                               EngineOptions{});
  other_local.SetHistory(*other);
  ASSERT_TRUE(other->Start().ok());

  // The first process had wf-1 cached; its commit is fenced off, and so is every later update.
  for (int i = 0; i < 2; ++i) {
    Status refused = signal(*engine_, "after-" + std::to_string(i));
    EXPECT_EQ(refused.code(), StatusCode::UNAVAILABLE) << refused.ToString();
    EXPECT_NE(refused.message().find("taken by another process"), std::string::npos)
        << refused.message();
  }
  // A long-poll parked here before the takeover ends when the fenced commit drops the shard: the
  // run's changes are committed by the other process now, and this one would hear of none.
  EXPECT_EQ(watch_ended.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(watch_ended.get().code(), StatusCode::UNAVAILABLE);
  // The new owner serves it.
  EXPECT_TRUE(signal(*other, "owner").ok());
  std::vector<std::string> signals;
  for (const auto& event : History(run_id)) {
    if (event.event_type() == enums::EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
      signals.push_back(event.workflow_execution_signaled_event_attributes().signal_name());
  }
  EXPECT_EQ(signals, (std::vector<std::string>{"before", "owner"}));
  other->Stop();
}

// A long-poll on a run (GetWorkflowExecutionHistory's wait, an update's) parks a watch on the
// run's shard's owner. When this node gives the shard up, the run's next changes are committed
// by the new owner: the watch ends at once with UNAVAILABLE, so the caller asks again and
// reaches the new owner, instead of waiting out its deadline here. A watch on a shard not held
// ends at once the same way.
TEST_F(HistoryEngineTest, AWatchOnARunEndsWithUnavailableWhenItsShardIsGivenUp) {
  const std::string run_id = StartOk("wf-1");
  const persistence::ExecutionKey run{kNamespace, "wf-1", run_id};
  const int32_t shard = engine_->ShardFor(kNamespace, "wf-1");
  std::atomic<int> changes{0};
  auto watch = [&](std::promise<Status>& ended) {
    return engine_->WatchRun(
        run, [&changes](const auto&, const auto&) { changes++; }, nullptr,
        [&ended](const Status& status) { ended.set_value(status); });
  };

  // Given up while parked: ends with UNAVAILABLE naming the shard, and is no longer watching.
  std::promise<Status> first;
  auto first_ended = first.get_future();
  const uint64_t id = watch(first);
  ASSERT_TRUE(engine_->IsWatching(id));
  engine_->ReleaseShard(shard);
  ASSERT_EQ(first_ended.wait_for(5s), std::future_status::ready);
  const Status gone = first_ended.get();
  EXPECT_EQ(gone.code(), StatusCode::UNAVAILABLE) << gone.ToString();
  EXPECT_NE(gone.message().find("shard " + std::to_string(shard)), std::string::npos)
      << gone.message();
  EXPECT_FALSE(engine_->IsWatching(id));

  // Parked while the shard is not held: ends at once.
  std::promise<Status> second;
  auto second_ended = second.get_future();
  const uint64_t late = watch(second);
  ASSERT_EQ(second_ended.wait_for(0s), std::future_status::ready);
  EXPECT_EQ(second_ended.get().code(), StatusCode::UNAVAILABLE);
  EXPECT_FALSE(engine_->IsWatching(late));

  // Taken again, the shard's watches wait for changes as before and are not ended.
  ASSERT_TRUE(engine_->AcquireShard(shard).ok());
  std::promise<Status> third;
  auto third_ended = third.get_future();
  const uint64_t again = watch(third);
  EXPECT_TRUE(engine_->IsWatching(again));
  wfs::SignalWorkflowExecutionRequest signal;
  signal.mutable_workflow_execution()->set_workflow_id("wf-1");
  signal.set_signal_name("wake");
  signal.set_request_id(NewUuid());
  ASSERT_TRUE(engine_->SignalWorkflowExecution(kNamespace, signal).ok());
  EXPECT_EQ(changes.load(), 1);
  EXPECT_FALSE(engine_->IsWatching(again));
  EXPECT_EQ(third_ended.wait_for(0s), std::future_status::timeout);
}

TEST_F(HistoryEngineTest, TimersSurviveARestart) {
  const std::string path = FileDb();
  Close();
  ASSERT_NO_FATAL_FAILURE(Open(path));
  const std::string run_id = StartOk("wf-1", 5s);
  auto wft = PollWorkflowTask();
  ASSERT_TRUE(wft.has_value());
  Close();

  ASSERT_NO_FATAL_FAILURE(Open(path));
  clock_.Advance(6s);
  ASSERT_TRUE(HistoryLengthReaches(run_id, 4)) << "the workflow task timer was lost in the restart";
  EXPECT_EQ(History(run_id)[3].event_type(), enums::EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT);
  auto retry = PollWorkflowTask();
  ASSERT_TRUE(retry.has_value());
  EXPECT_EQ(retry->attempt(), 2);
}

TEST_F(HistoryEngineTest, ActivityRetryDispatchSurvivesACrashBeforeItIsRecorded) {
  const std::string path = FileDb();
  Close();
  ASSERT_NO_FATAL_FAILURE(Open(path));
  auto running = RunUntilActivityStarted("wf-1", {.retry = Retry(1s, 0)});
  ASSERT_TRUE(running.has_value());
  ASSERT_TRUE(FailActivity(running->activity, ApplicationFailure("flaky")).ok());

  // The retry is sync-matched to a poller that dies before recording it.
  auto promise = std::make_shared<std::promise<std::optional<matching::MatchedTask>>>();
  auto answer = promise->get_future();
  matching_->Poll(
      {kNamespace, kQueue, kActivityKind}, {"doomed", ""}, steady_clock::now() + 10s,
      [promise](std::optional<matching::MatchedTask> t) { promise->set_value(std::move(t)); });
  clock_.Advance(1s);
  ASSERT_EQ(answer.wait_for(5s), std::future_status::ready);
  auto lost = answer.get();
  ASSERT_TRUE(lost.has_value());
  EXPECT_EQ(lost->task.attempt(), 2);
  lost.reset();
  // The retry timer is deleted although its dispatch never settled.
  EXPECT_TRUE(
      WaitFor([&] { return StoredTimers(eon::v1::HISTORY_TASK_TYPE_ACTIVITY_RETRY) == 0; }, 1s));
  Close();

  ASSERT_NO_FATAL_FAILURE(Open(path));
  clock_.Advance(1s);
  auto again = Take(kActivityKind, 2s);
  ASSERT_TRUE(again.has_value()) << "attempt 2 was never dispatched again";
  EXPECT_EQ(again->task.attempt(), 2);
  matching_->Done(*again);
}

TEST_F(HistoryEngineTest, MoreDueTimersThanOneLoadBatchAreAllProcessed) {
  // More timer tasks are due than one LoadTimers page (1000) holds, and their ids do not follow
  // their fire times. All must run (and be deleted) without the clock moving.
  Close();
  {
    auto store = persistence::SqliteStore::Open({});
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
  }
  auto ranges = store_->AcquireShards();
  ASSERT_TRUE(ranges.ok());
  persistence::ExecutionWrite write;
  write.shard_id = 0;
  write.range_id = (*ranges)[0];
  write.state.set_namespace_id(kNamespace);
  write.state.set_workflow_id("ghost");
  write.state.set_run_id("ghost-run");
  write.state.set_status(enums::WORKFLOW_EXECUTION_STATUS_RUNNING);
  write.state.set_next_event_id(1);
  constexpr int kTimers = 1'100;
  for (int i = 0; i < kTimers; ++i) {
    persistence::NewTask task;
    task.category = persistence::TaskCategory::kTimer;
    task.task.set_type(eon::v1::HISTORY_TASK_TYPE_WORKFLOW_TASK_TIMEOUT);  // stale: does nothing
    task.task.set_namespace_id(kNamespace);
    task.task.set_workflow_id("ghost");
    task.task.set_run_id("ghost-run");
    task.task.set_event_id(2);
    task.task.set_attempt(1);
    // Descending fire times: the first ids are due last.
    *task.task.mutable_fire_time() = ToTimestamp(clock_.Now() - std::chrono::seconds(1) * i);
    write.new_tasks.push_back(task);
  }
  ASSERT_TRUE(store_->CommitExecution(write, nullptr).ok());
  auto remaining = [&] {
    auto tasks = store_->LoadTimerTasks(0, clock_.Now() + 1h, TimePoint::min(), 0, 2 * kTimers);
    return tasks.ok() ? static_cast<int>(tasks->size()) : -1;
  };
  ASSERT_EQ(remaining(), kTimers);

  scheduler_ = std::make_unique<ThreadDeadlineScheduler>();
  executor_ = std::make_unique<ThreadPool>("test-tasks", 2);
  matching_ =
      std::make_unique<matching::MatchingEngine>(*store_, *scheduler_, matching::MatchingOptions{});
  local_matching_ = std::make_unique<matching::LocalMatching>(*matching_, *executor_);
  engine_ =
      std::make_unique<HistoryEngine>(*store_, env_, *local_matching_, *executor_, EngineOptions{});
  local_matching_->SetHistory(*engine_);
  ASSERT_TRUE(engine_->Start().ok());
  EXPECT_TRUE(WaitFor([&] { return remaining() == 0; }))
      << remaining() << " due timer tasks were never processed";
}

enums::TimeoutType TimedOutType(const hist::HistoryEvent& event) {
  return event.activity_task_timed_out_event_attributes()
      .failure()
      .timeout_failure_info()
      .timeout_type();
}

// An eager activity starts after it was scheduled (never at the same instant): with
// start-to-close equal to schedule-to-close, schedule-to-close falls due first, and
// ActivityTaskStarted carries the time the attempt started.
TEST_F(HistoryEngineTest, EagerActivityStartsAfterItWasScheduledSoScheduleToCloseWins) {
  const std::string run_id = StartOk("wf-1");
  auto wft = PollWorkflowTask();
  ASSERT_TRUE(wft.has_value());
  auto schedule = ScheduleActivity({.start_to_close = {}, .schedule_to_close = 300ms});
  schedule.mutable_schedule_activity_task_command_attributes()->set_request_eager_execution(true);
  auto completed = CompleteWorkflowTask(*wft, {schedule});
  ASSERT_TRUE(completed.ok()) << completed.status().message();
  ASSERT_EQ(completed->activity_tasks_size(), 1);
  const auto& eager = completed->activity_tasks(0);
  EXPECT_GT(FromTimestamp(eager.started_time()), FromTimestamp(eager.scheduled_time()));
  clock_.Advance(1s);  // every timeout of the activity is due now
  ASSERT_TRUE(HistoryLengthReaches(run_id, 8)) << "no activity timer fired";
  auto events = History(run_id);
  ASSERT_EQ(events[5].event_type(), enums::EVENT_TYPE_ACTIVITY_TASK_STARTED);
  EXPECT_EQ(FromTimestamp(events[5].event_time()), FromTimestamp(eager.started_time()));
  EXPECT_NE(FromTimestamp(events[5].event_time()), FromTimestamp(events[4].event_time()));
  ASSERT_EQ(events[6].event_type(), enums::EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT);
  EXPECT_EQ(TimedOutType(events[6]), enums::TIMEOUT_TYPE_SCHEDULE_TO_CLOSE);
}

// A started activity whose start-to-close and schedule-to-close deadlines are the same instant
// times out start-to-close (the lower timeout type), whichever timer the queue runs first.
TEST_F(HistoryEngineTest, ActivityTimeoutsDueAtTheSameInstantPickTheLowerTimeoutType) {
  const std::string run_id = StartOk("wf-1");
  auto wft = PollWorkflowTask();
  ASSERT_TRUE(wft.has_value());
  ASSERT_TRUE(CompleteWorkflowTask(*wft, {ScheduleActivity({.start_to_close = {},
                                                            .schedule_to_close = 10s,
                                                            .retry = Retry(1s, 1)})})
                  .ok());
  auto activity = PollActivityTask();  // at the scheduled instant: the clock has not moved
  ASSERT_TRUE(activity.has_value());
  clock_.Advance(10s);
  ASSERT_TRUE(HistoryLengthReaches(run_id, 8)) << "no activity timer fired";
  auto events = History(run_id);
  ASSERT_EQ(events[6].event_type(), enums::EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT);
  EXPECT_EQ(TimedOutType(events[6]), enums::TIMEOUT_TYPE_START_TO_CLOSE);
}

// Consistent queries: held while a workflow task is scheduled or running, carried by the next
// workflow task that starts, answered from its completion.
class ConsistentQueryTest : public HistoryEngineTest {
 protected:
  struct Waiting {
    std::mutex mutex;
    std::vector<QueryOutcome> outcomes;  // guarded by mutex
  };

  Result<QueryTarget> Query(
      const std::string& workflow_id, const std::string& query_id, Waiting& waiting,
      enums::QueryRejectCondition condition = enums::QUERY_REJECT_CONDITION_UNSPECIFIED) {
    common::WorkflowExecution execution;
    execution.set_workflow_id(workflow_id);
    temporal::api::query::v1::WorkflowQuery query;
    query.set_query_type("state");
    return engine_->PrepareQuery(kNamespace, execution, condition, query_id, query,
                                 std::chrono::system_clock::now() + 30s,
                                 [&waiting](QueryOutcome outcome) {
                                   std::lock_guard lock(waiting.mutex);
                                   waiting.outcomes.push_back(std::move(outcome));
                                 });
  }

  std::vector<QueryOutcome> Outcomes(Waiting& waiting) {
    std::lock_guard lock(waiting.mutex);
    return waiting.outcomes;
  }

  Result<wfs::RespondWorkflowTaskCompletedResponse> CompleteAnswering(
      const wfs::PollWorkflowTaskQueueResponse& task, std::vector<command::Command> commands,
      const std::string& query_id, const std::string& answer) {
    wfs::RespondWorkflowTaskCompletedRequest request;
    request.set_task_token(task.task_token());
    request.set_identity("wf-worker");
    for (auto& c : commands) *request.add_commands() = std::move(c);
    auto& result = (*request.mutable_query_results())[query_id];
    result.set_result_type(enums::QUERY_RESULT_TYPE_ANSWERED);
    *result.mutable_answer() = Payload(answer);
    return engine_->RespondWorkflowTaskCompleted(TokenOf(task.task_token()), request);
  }

  Status Signal(const std::string& workflow_id) {
    wfs::SignalWorkflowExecutionRequest request;
    request.mutable_workflow_execution()->set_workflow_id(workflow_id);
    request.set_signal_name("go");
    request.set_request_id(NewUuid());
    return engine_->SignalWorkflowExecution(kNamespace, request);
  }
};

TEST_F(ConsistentQueryTest,
       AQueryBeforeTheFirstTaskCompletedRidesOnItAndIsAnsweredByItsCompletion) {
  StartOk("wf-1");
  Waiting waiting;
  auto target = Query("wf-1", "q-1", waiting);
  ASSERT_TRUE(target.ok()) << target.status().message();
  EXPECT_TRUE(target->buffered);
  auto wft = PollWorkflowTask();
  ASSERT_TRUE(wft.has_value());
  ASSERT_EQ(wft->queries().size(), 1u);
  EXPECT_EQ(wft->queries().at("q-1").query_type(), "state");
  EXPECT_TRUE(Outcomes(waiting).empty()) << "answered before the worker answered";
  ASSERT_TRUE(CompleteAnswering(*wft, {}, "q-1", "\"after the first task\"").ok());
  auto outcomes = Outcomes(waiting);
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, QueryOutcome::Kind::kAnswered);
  EXPECT_EQ(outcomes[0].result.answer().payloads(0).data(), "\"after the first task\"");
}

// A task carries the queries held when it started, not those held between its start and the
// moment its poll answer is built (after its commit, on another thread): such a query may follow
// a change the task does not show. Here the answer is built while the task threads are busy,
// after a query came; the query waits, and goes directly once the task completes.
TEST_F(ConsistentQueryTest, AQueryHeldAfterATaskStartedDoesNotRideOnIt) {
  const std::string run_id = StartOk("wf-1");
  // Both task threads wait, so the first task's answer (built on a task thread) waits too. The
  // gate is shared with them: a thread may still be waking up from it after the test returned
  // (ASan saw one check `open` on the test's finished stack frame), and it opens on every way
  // out of the test, so that no thread is left waiting on it.
  struct Gate {
    std::mutex mutex;
    std::condition_variable changed;
    bool open = false;
    int blocked = 0;
    void Open() {
      {
        std::lock_guard lock(mutex);
        open = true;
      }
      changed.notify_all();
    }
  };
  auto gate = std::make_shared<Gate>();
  struct OpenAtExit {
    std::shared_ptr<Gate> gate;
    ~OpenAtExit() { gate->Open(); }
  } open_at_exit{gate};
  for (int i = 0; i < 2; ++i) {
    executor_->Submit([gate] {
      std::unique_lock lock(gate->mutex);
      ++gate->blocked;
      gate->changed.notify_all();
      gate->changed.wait(lock, [&] { return gate->open; });
    });
  }
  {
    std::unique_lock lock(gate->mutex);
    ASSERT_TRUE(gate->changed.wait_for(lock, 5s, [&] { return gate->blocked == 2; }));
  }
  eon::v1::QueueTask task;
  task.set_namespace_id(kNamespace);
  task.set_workflow_id("wf-1");
  task.set_run_id(run_id);
  task.set_scheduled_event_id(2);
  auto answered = std::make_shared<std::promise<Result<wfs::PollWorkflowTaskQueueResponse>>>();
  engine_->RecordWorkflowTaskStartedAsync(
      task, "poll-1", "wf-worker",
      [answered](Result<wfs::PollWorkflowTaskQueueResponse> r) { answered->set_value(r); });
  // The start is durable once the execution shows it (its answer is still to be built).
  ASSERT_TRUE(WaitFor([&] {
    return Describe("wf-1").pending_workflow_task().state() ==
           enums::PENDING_WORKFLOW_TASK_STATE_STARTED;
  }));
  Waiting waiting;
  auto target = Query("wf-1", "q-late", waiting);
  ASSERT_TRUE(target.ok()) << target.status().message();
  EXPECT_TRUE(target->buffered);
  gate->Open();
  auto future = answered->get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  auto wft = future.get();
  ASSERT_TRUE(wft.ok()) << wft.status().message();
  EXPECT_TRUE(wft->queries().empty()) << "a query held after the task started rode on it";
  // Nothing came after the query: once the task completes it may go to the worker directly.
  ASSERT_TRUE(CompleteWorkflowTask(*wft, {}).ok());
  auto outcomes = Outcomes(waiting);
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, QueryOutcome::Kind::kDispatchDirectly);
}

TEST_F(ConsistentQueryTest, AQueryWhileATaskRunsWaitsForTheTaskThatCarriesTheSignalBeforeIt) {
  StartOk("wf-1");
  auto first = PollWorkflowTask();
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(CompleteWorkflowTask(*first, {}).ok());
  // Nothing pending: a query goes directly.
  Waiting direct;
  auto target = Query("wf-1", "q-0", direct);
  ASSERT_TRUE(target.ok());
  EXPECT_FALSE(target->buffered);
  // A signal schedules a task; a query after it must wait for that task.
  ASSERT_TRUE(Signal("wf-1").ok());
  Waiting waiting;
  target = Query("wf-1", "q-1", waiting);
  ASSERT_TRUE(target.ok());
  EXPECT_TRUE(target->buffered);
  auto second = PollWorkflowTask();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->queries().count("q-1"), 1u);
  // Another query while that task runs is not in it; the task ends with nothing new, so the
  // unanswered query may go directly now.
  Waiting later;
  ASSERT_TRUE(Query("wf-1", "q-2", later).ok());
  ASSERT_TRUE(CompleteAnswering(*second, {}, "q-1", "\"saw the signal\"").ok());
  auto outcomes = Outcomes(waiting);
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, QueryOutcome::Kind::kAnswered);
  auto later_outcomes = Outcomes(later);
  ASSERT_EQ(later_outcomes.size(), 1u);
  EXPECT_EQ(later_outcomes[0].kind, QueryOutcome::Kind::kDispatchDirectly);
}

// A task started in the commit that schedules it (a poll was parked) carries the queries held
// then, as one a poll records started does.
TEST_F(ConsistentQueryTest, AHeldQueryRidesOnATaskStartedInTheCommitThatSchedulesIt) {
  StartOk("wf-claimed");
  auto first = PollWorkflowTask();
  ASSERT_TRUE(first.has_value());
  Waiting waiting;
  auto target = Query("wf-claimed", "q-1", waiting);
  ASSERT_TRUE(target.ok()) << target.status().message();
  EXPECT_TRUE(target->buffered);
  // A signal while the task runs: its completion schedules the next task.
  ASSERT_TRUE(Signal("wf-claimed").ok());
  auto poll = ParkPoll();
  ASSERT_TRUE(WaitFor([&] { return ParkedPolls() == 1; }));
  ASSERT_TRUE(CompleteWorkflowTask(*first, {}).ok());
  ASSERT_EQ(poll.wait_for(10s), std::future_status::ready) << "the parked poll got no task";
  auto next = poll.get();
  ASSERT_TRUE(next.ok()) << next.status().message();
  ASSERT_EQ(next->queries().size(), 1u);
  EXPECT_EQ(next->queries().count("q-1"), 1u);
  EXPECT_TRUE(Outcomes(waiting).empty()) << "answered before the worker answered";
  ASSERT_TRUE(CompleteAnswering(*next, {}, "q-1", "\"after the signal\"").ok());
  auto outcomes = Outcomes(waiting);
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, QueryOutcome::Kind::kAnswered);
}

TEST_F(ConsistentQueryTest, AHeldQuerySurvivesAFailedTaskAndGoesWithTheRetry) {
  StartOk("wf-1");
  Waiting waiting;
  ASSERT_TRUE(Query("wf-1", "q-1", waiting).ok());
  auto wft = PollWorkflowTask();
  ASSERT_TRUE(wft.has_value());
  ASSERT_EQ(wft->queries().size(), 1u);
  wfs::RespondWorkflowTaskFailedRequest failed;
  failed.set_cause(enums::WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE);
  ASSERT_TRUE(engine_->RespondWorkflowTaskFailed(TokenOf(wft->task_token()), failed).ok());
  EXPECT_TRUE(Outcomes(waiting).empty());
  auto retry = PollWorkflowTask();
  ASSERT_TRUE(retry.has_value());
  EXPECT_EQ(retry->attempt(), 2);
  EXPECT_EQ(retry->queries().count("q-1"), 1u);
  ASSERT_TRUE(CompleteAnswering(*retry, {}, "q-1", "1").ok());
  ASSERT_EQ(Outcomes(waiting).size(), 1u);
}

// A node that gives up the shard fails the queries it holds with UNAVAILABLE: the workflow task
// that would carry them starts and completes on the new owner, so they would wait out their
// caller's deadline here. The caller asks again and reaches the new owner. Queries of the other
// shards' executions stay held.
TEST_F(ConsistentQueryTest, AHeldQueryFailsWithUnavailableWhenItsShardIsGivenUp) {
  StartOk("wf-1");
  std::string other = "wf-2";
  for (int i = 3; engine_->ShardFor(kNamespace, other) == engine_->ShardFor(kNamespace, "wf-1");
       ++i) {
    other = "wf-" + std::to_string(i);
  }
  StartOk(other);
  Waiting waiting, stays;
  ASSERT_TRUE(Query("wf-1", "q-1", waiting).ok());
  ASSERT_TRUE(Query(other, "q-2", stays).ok());
  EXPECT_TRUE(Outcomes(waiting).empty());

  engine_->ReleaseShard(engine_->ShardFor(kNamespace, "wf-1"));
  auto outcomes = Outcomes(waiting);
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, QueryOutcome::Kind::kFailed);
  EXPECT_EQ(outcomes[0].error.code(), StatusCode::UNAVAILABLE) << outcomes[0].error.ToString();
  EXPECT_TRUE(Outcomes(stays).empty()) << "another shard's held query was settled";
}

// SettleIf is given each execution's whole key, even for a workflow id that holds the registry's
// own separator (NUL is valid UTF-8, so a workflow id may carry it).
TEST(QueryRegistryTest, SettleIfIsGivenTheWholeKeyOfEachExecution) {
  QueryRegistry registry(10);
  const persistence::ExecutionKey odd{"ns-id", std::string("wf\0with\0nuls\0", 13), "run-id"};
  const persistence::ExecutionKey plain{"ns-id", "wf", "run-id"};
  std::vector<std::string> settled;
  auto waiter = [&settled](const std::string& name) {
    return [&settled, name](QueryOutcome) { settled.push_back(name); };
  };
  ASSERT_TRUE(registry.Buffer(odd, "q-1", {}, waiter("odd")).ok());
  ASSERT_TRUE(registry.Buffer(plain, "q-2", {}, waiter("plain")).ok());
  std::vector<std::string> seen;
  registry.SettleIf(
      [&](const persistence::ExecutionKey& key) {
        seen.push_back(key.workflow_id);
        return key.namespace_id == odd.namespace_id && key.workflow_id == odd.workflow_id &&
               key.run_id == odd.run_id;
      },
      QueryOutcome{});
  EXPECT_THAT(settled, ElementsAre("odd"));
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_TRUE(registry.HasBuffered(plain));
  EXPECT_FALSE(registry.HasBuffered(odd));
}

TEST_F(ConsistentQueryTest, AWorkflowClosedBeforeItsFirstTaskCompletedFailsItsHeldQuery) {
  StartOk("wf-1");
  Waiting waiting;
  ASSERT_TRUE(Query("wf-1", "q-1", waiting).ok());
  ASSERT_TRUE(Terminate("wf-1").ok());
  auto outcomes = Outcomes(waiting);
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, QueryOutcome::Kind::kFailed);
  EXPECT_EQ(outcomes[0].error.code(), StatusCode::FAILED_PRECONDITION);
  // And so does a new one, unless its reject condition rejects it first.
  Waiting again;
  EXPECT_EQ(Query("wf-1", "q-2", again).status().code(), StatusCode::FAILED_PRECONDITION);
  auto rejected = Query("wf-1", "q-3", again, enums::QUERY_REJECT_CONDITION_NOT_OPEN);
  ASSERT_TRUE(rejected.ok());
  EXPECT_TRUE(rejected->rejected);
  EXPECT_EQ(rejected->status, enums::WORKFLOW_EXECUTION_STATUS_TERMINATED);
}

TEST_F(ConsistentQueryTest, AWorkflowClosedByItsTaskLetsTheHeldQueryGoDirectly) {
  StartOk("wf-1");
  auto first = PollWorkflowTask();
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(CompleteWorkflowTask(*first, {}).ok());
  ASSERT_TRUE(Signal("wf-1").ok());
  auto second = PollWorkflowTask();
  ASSERT_TRUE(second.has_value());
  Waiting waiting;
  ASSERT_TRUE(Query("wf-1", "q-1", waiting).ok());
  ASSERT_TRUE(CompleteWorkflowTask(*second, {CompleteWorkflow("\"done\"")}).ok());
  auto outcomes = Outcomes(waiting);
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, QueryOutcome::Kind::kDispatchDirectly);
  // Closed cleanly: NOT_COMPLETED_CLEANLY lets a query through, NOT_OPEN rejects it.
  Waiting after;
  auto target = Query("wf-1", "q-2", after, enums::QUERY_REJECT_CONDITION_NOT_COMPLETED_CLEANLY);
  ASSERT_TRUE(target.ok());
  EXPECT_FALSE(target->rejected);
  EXPECT_FALSE(target->buffered);
  target = Query("wf-1", "q-3", after, enums::QUERY_REJECT_CONDITION_NOT_OPEN);
  ASSERT_TRUE(target.ok());
  EXPECT_TRUE(target->rejected);
}

TEST_F(ConsistentQueryTest, AForgottenQueryIsNotCarriedAndTheBufferIsBounded) {
  StartOk("wf-1");
  Waiting waiting;
  ASSERT_TRUE(Query("wf-1", "q-1", waiting).ok());
  common::WorkflowExecution execution;
  execution.set_workflow_id("wf-1");
  auto key = engine_->ResolveExecution(kNamespace, execution);
  ASSERT_TRUE(key.ok());
  EXPECT_TRUE(engine_->ForgetQuery(*key, "q-1"));
  EXPECT_FALSE(engine_->ForgetQuery(*key, "q-1"));
  for (int i = 0; i < EngineOptions{}.buffered_queries_max; ++i) {
    ASSERT_TRUE(Query("wf-1", "many-" + std::to_string(i), waiting).ok());
  }
  EXPECT_EQ(Query("wf-1", "one-too-many", waiting).status().code(), StatusCode::RESOURCE_EXHAUSTED);
  auto wft = PollWorkflowTask();
  ASSERT_TRUE(wft.has_value());
  EXPECT_EQ(wft->queries().count("q-1"), 0u);
  EXPECT_EQ(static_cast<int>(wft->queries().size()), EngineOptions{}.buffered_queries_max);
}

// The engine's threads at once (scripts/sanitize.sh runs this under ThreadSanitizer): signals
// sent from several threads through the asynchronous entry point, a worker polling through
// matching's handshake and completing its workflow tasks asynchronously, and a reader
// describing, on three workflows at a time. Every signal lands in its workflow's history exactly
// once, with event ids in order (History checks for gaps).
TEST_F(HistoryEngineTest, SignalsPollsCompletionsAndReadsFromManyThreadsLoseNothing) {
  constexpr int kWorkflows = 3;
  constexpr int kSenders = 4;
  constexpr int kSignalsPerSender = 15;  // to each workflow
  auto workflow_id = [](int w) { return "wf-busy-" + std::to_string(w); };
  std::vector<std::string> run_ids;
  for (int w = 0; w < kWorkflows; ++w) run_ids.push_back(StartOk(workflow_id(w)));

  std::atomic<int> answered{0};
  std::atomic<int> refused{0};
  std::atomic<bool> busy{true};
  std::vector<std::thread> threads;
  for (int s = 0; s < kSenders; ++s) {
    threads.emplace_back([&, s] {
      for (int i = 0; i < kSignalsPerSender; ++i) {
        for (int w = 0; w < kWorkflows; ++w) {
          wfs::SignalWorkflowExecutionRequest request;
          request.mutable_workflow_execution()->set_workflow_id(workflow_id(w));
          request.set_signal_name("s" + std::to_string(s) + "-" + std::to_string(i));
          request.set_request_id(NewUuid());
          engine_->SignalWorkflowExecutionAsync(kNamespace, request, [&](Status status) {
            if (!status.ok()) ++refused;
            ++answered;
          });
        }
      }
    });
  }
  std::atomic<int> completed_tasks{0};
  std::atomic<int> failed_completions{0};
  threads.emplace_back([&] {  // the worker
    while (busy) {
      const matching::PollRequest poll = WorkflowPollRequest("busy-worker", 200ms);
      std::promise<Result<wfs::PollWorkflowTaskQueueResponse>> polled;
      auto pending = local_matching_->PollWorkflowTaskQueue(
          poll, [&](Result<wfs::PollWorkflowTaskQueueResponse> response) {
            polled.set_value(std::move(response));
          });
      auto response = polled.get_future().get();  // empty at the deadline at the latest
      if (!response.ok() || response->task_token().empty()) continue;
      wfs::RespondWorkflowTaskCompletedRequest request;
      request.set_task_token(response->task_token());
      request.set_identity("busy-worker");
      std::promise<Status> completed;
      engine_->RespondWorkflowTaskCompletedAsync(
          TokenOf(response->task_token()), request,
          [&](Result<wfs::RespondWorkflowTaskCompletedResponse> answer) {
            completed.set_value(answer.status());
          });
      if (completed.get_future().get().ok()) {
        ++completed_tasks;
      } else {
        ++failed_completions;
      }
    }
  });
  std::atomic<int> reads{0};
  threads.emplace_back([&] {  // the reader
    while (busy) {
      for (int w = 0; w < kWorkflows; ++w) {
        common::WorkflowExecution execution;
        execution.set_workflow_id(workflow_id(w));
        if (engine_->DescribeWorkflowExecution(kNamespace, execution).ok()) ++reads;
      }
    }
  });

  const int sent = kSenders * kSignalsPerSender * kWorkflows;
  EXPECT_TRUE(WaitFor([&] { return answered == sent; }, 60s)) << answered << " of " << sent;
  // The worker completes the tasks the last signals scheduled.
  EXPECT_TRUE(WaitFor(
      [&] {
        for (int w = 0; w < kWorkflows; ++w) {
          if (Describe(workflow_id(w)).has_pending_workflow_task()) return false;
        }
        return true;
      },
      30s));
  busy = false;
  for (auto& thread : threads) thread.join();

  EXPECT_EQ(refused.load(), 0);
  EXPECT_EQ(failed_completions.load(), 0);
  EXPECT_GT(completed_tasks.load(), 0);
  EXPECT_GT(reads.load(), 0);
  for (int w = 0; w < kWorkflows; ++w) {
    std::set<std::string> names;
    int signals = 0;
    for (const auto& event : History(run_ids[w])) {
      if (event.event_type() != enums::EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) continue;
      ++signals;
      names.insert(event.workflow_execution_signaled_event_attributes().signal_name());
    }
    EXPECT_EQ(signals, kSenders * kSignalsPerSender) << workflow_id(w);
    EXPECT_EQ(names.size(), static_cast<size_t>(kSenders * kSignalsPerSender)) << workflow_id(w);
  }
}

}  // namespace
}  // namespace eon::history

namespace eon::history {
namespace {

// Issue 11: search attributes must be registered and of their type, at start and on upsert.
TEST_F(HistoryEngineTest, UnregisteredOrMistypedSearchAttributesAreRefused) {
  wfs::StartWorkflowExecutionRequest request;
  request.set_workflow_id("wf-sa");
  request.mutable_workflow_type()->set_name("T");
  request.mutable_task_queue()->set_name(kQueue);
  auto& value = (*request.mutable_search_attributes()->mutable_indexed_fields())["CustomInt"];
  (*value.mutable_metadata())["encoding"] = "json/plain";
  value.set_data(std::string(100'000, '[') + std::string(100'000, ']'));
  auto refused = engine_->StartWorkflowExecution(kNamespace, request);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(refused.status().message(), "search attribute CustomInt is not defined");

  ASSERT_TRUE(
      store_->AddSearchAttribute(kNamespace, "CustomInt", enums::INDEXED_VALUE_TYPE_INT).ok());
  refused = engine_->StartWorkflowExecution(kNamespace, request);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(),
              HasSubstr("is not a valid value for search attribute CustomInt of type Int"));
  value.set_data("7");
  ASSERT_TRUE(engine_->StartWorkflowExecution(kNamespace, request).ok());

  // An upsert of a wrong type fails the workflow task with BAD_SEARCH_ATTRIBUTES.
  auto wft = PollWorkflowTask();
  ASSERT_TRUE(wft.has_value());
  command::Command upsert;
  upsert.set_command_type(enums::COMMAND_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES);
  auto& bad = (*upsert.mutable_upsert_workflow_search_attributes_command_attributes()
                    ->mutable_search_attributes()
                    ->mutable_indexed_fields())["CustomInt"];
  bad.set_data("\"seven\"");
  auto completed = CompleteWorkflowTask(*wft, {upsert});
  ASSERT_FALSE(completed.ok());
  EXPECT_EQ(completed.status().code(), StatusCode::INVALID_ARGUMENT);
  auto events = History(Describe("wf-sa").workflow_execution_info().execution().run_id());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().workflow_task_failed_event_attributes().cause(),
            enums::WORKFLOW_TASK_FAILED_CAUSE_BAD_SEARCH_ATTRIBUTES);
}

}  // namespace
}  // namespace eon::history

// ---------------------------------------------------------------------------------------------
// Reset (history/reset.cc)

namespace eon::history {
namespace {

class ResetTest : public HistoryEngineTest {
 protected:
  Status Signal(const std::string& workflow_id, const std::string& name) {
    wfs::SignalWorkflowExecutionRequest request;
    request.mutable_workflow_execution()->set_workflow_id(workflow_id);
    request.set_signal_name(name);
    *request.mutable_input() = Payload("\"" + name + " input\"");
    request.set_identity("client-1");
    request.set_request_id(NewUuid());
    return engine_->SignalWorkflowExecution(kNamespace, request);
  }

  Result<std::string> Reset(const std::string& workflow_id, const std::string& run_id,
                            int64_t event_id, const std::string& request_id = NewUuid()) {
    wfs::ResetWorkflowExecutionRequest request;
    request.mutable_workflow_execution()->set_workflow_id(workflow_id);
    request.mutable_workflow_execution()->set_run_id(run_id);
    request.set_workflow_task_finish_event_id(event_id);
    request.set_reason("operator: try again");
    request.set_request_id(request_id);
    return engine_->ResetWorkflowExecution(kNamespace, request);
  }
};

TEST_F(ResetTest, ResetToTheFirstWorkflowTaskCopiesTheHistoryReappliesSignalsAndTerminates) {
  // 1 Started, 2 WFTScheduled, 3 WFTStarted, 4 WFTCompleted, 5 ActScheduled; the activity
  // completes: 6 ActStarted, 7 ActCompleted, 8 WFTScheduled, 9 WFTStarted, 10 WFTCompleted.
  auto running = RunUntilActivityStarted("reset-1");
  ASSERT_TRUE(running);
  ASSERT_TRUE(CompleteActivity(running->activity, "\"done\"").ok());
  auto second = PollWorkflowTask();
  ASSERT_TRUE(second);
  ASSERT_TRUE(CompleteWorkflowTask(*second, {}).ok());
  // A signal and a workflow task a worker holds when the reset comes: 11 Signaled,
  // 12 WFTScheduled, 13 WFTStarted.
  ASSERT_TRUE(Signal("reset-1", "approve").ok());
  ASSERT_TRUE(PollWorkflowTask());
  const std::string base = running->run_id;
  ASSERT_EQ(History(base).size(), 13u);

  const std::string request_id = NewUuid();
  auto reset = Reset("reset-1", base, 4, request_id);
  ASSERT_TRUE(reset.ok()) << reset.status().message();
  const std::string run = *reset;
  EXPECT_NE(run, base);

  // The new run: the base history up to the reset point, the failed task, the signal again, a
  // new task; nothing of the activity (scheduled after the point).
  auto events = History(run);
  EXPECT_THAT(Types(events), ElementsAre(enums::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
                                         enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
                                         enums::EVENT_TYPE_WORKFLOW_TASK_STARTED,
                                         enums::EVENT_TYPE_WORKFLOW_TASK_FAILED,
                                         enums::EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
                                         enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED));
  auto base_events = History(base);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(events[i].SerializeAsString(), base_events[i].SerializeAsString())
        << "event " << i + 1 << " is not a copy";
  }
  const auto& failed = events[3].workflow_task_failed_event_attributes();
  EXPECT_EQ(failed.cause(), enums::WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW);
  EXPECT_EQ(failed.scheduled_event_id(), 2);
  EXPECT_EQ(failed.started_event_id(), 3);
  EXPECT_EQ(failed.base_run_id(), base);
  EXPECT_EQ(failed.new_run_id(), run);
  EXPECT_EQ(failed.failure().message(), "operator: try again");
  EXPECT_TRUE(failed.failure().has_reset_workflow_failure_info());
  EXPECT_EQ(events[4].workflow_execution_signaled_event_attributes().signal_name(), "approve");

  // The base run was terminated in the same change, its held task failed first.
  auto closed = History(base);
  ASSERT_EQ(closed.size(), 15u);
  EXPECT_EQ(closed[13].event_type(), enums::EVENT_TYPE_WORKFLOW_TASK_FAILED);
  EXPECT_EQ(closed[14].event_type(), enums::EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED);
  EXPECT_EQ(closed[14].workflow_execution_terminated_event_attributes().identity(),
            "history-resetter");
  EXPECT_EQ(closed[14].workflow_execution_terminated_event_attributes().reason(),
            "operator: try again");

  // The new run is the current one, and its workflow task goes out with the whole history.
  auto described = Describe("reset-1");
  EXPECT_EQ(described.workflow_execution_info().execution().run_id(), run);
  EXPECT_EQ(described.workflow_execution_info().status(), enums::WORKFLOW_EXECUTION_STATUS_RUNNING);
  auto task = PollWorkflowTask();
  ASSERT_TRUE(task);
  EXPECT_EQ(task->workflow_execution().run_id(), run);
  EXPECT_EQ(task->history().events_size(), 7);

  // A retried request is answered with the run it made.
  auto again = Reset("reset-1", base, 4, request_id);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(*again, run);
}

TEST_F(ResetTest, AnActivityPendingAtTheResetPointIsScheduledAgainInTheNewRun) {
  // 1-5 as above with the activity running; 6 Signaled, 7 WFTScheduled, 8 WFTStarted,
  // 9 WFTCompleted: the reset point, with activity 5 pending.
  auto running = RunUntilActivityStarted("reset-2");
  ASSERT_TRUE(running);
  ASSERT_TRUE(Signal("reset-2", "poke").ok());
  auto task = PollWorkflowTask();
  ASSERT_TRUE(task);
  ASSERT_TRUE(CompleteWorkflowTask(*task, {}).ok());
  auto reset = Reset("reset-2", "", 9);
  ASSERT_TRUE(reset.ok()) << reset.status().message();
  // 1-8 copied, 9 WFTFailed, 10 WFTScheduled; the signal came before the point, so it is not
  // applied again.
  EXPECT_THAT(EventTypes(*reset).back(), enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
  EXPECT_EQ(History(*reset).size(), 10u);
  // Its timeouts are those it was scheduled with (here start-to-close only).
  auto stored = store_->GetExecution({kNamespace, "reset-2", *reset});
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  const auto& info = stored->state.activities().at(5);
  EXPECT_FALSE(info.has_schedule_to_close_timeout());
  EXPECT_FALSE(info.has_heartbeat_timeout());
  EXPECT_EQ(FromProtoDuration(info.start_to_close_timeout()), 10s);
  auto activity = PollActivityTask();
  ASSERT_TRUE(activity);
  EXPECT_EQ(activity->workflow_execution().run_id(), *reset);
  EXPECT_EQ(activity->activity_id(), "act-1");
  EXPECT_EQ(activity->attempt(), 1);
  auto described = Describe("reset-2");
  ASSERT_EQ(described.pending_activities_size(), 1);
  EXPECT_EQ(described.pending_activities(0).activity_id(), "act-1");
}

TEST_F(ResetTest, BadResetPointsAndUnknownRunsAreRefused) {
  auto running = RunUntilActivityStarted("reset-3");
  ASSERT_TRUE(running);
  // Event 5 (ActivityTaskScheduled) follows a completed task: no task is pending before it.
  auto not_a_task = Reset("reset-3", running->run_id, 5);
  EXPECT_EQ(not_a_task.status().code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(not_a_task.status().message(), HasSubstr("WorkflowTaskScheduled +1"));
  // Event 2 (the first WorkflowTaskScheduled): only the start is before it.
  EXPECT_EQ(Reset("reset-3", running->run_id, 2).status().code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reset("reset-3", running->run_id, 1).status().code(), StatusCode::INVALID_ARGUMENT);
  auto out_of_range = Reset("reset-3", running->run_id, 99);
  EXPECT_EQ(out_of_range.status().code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(out_of_range.status().message(), HasSubstr("last event ID"));
  EXPECT_EQ(Reset("reset-3", NewUuid(), 4).status().code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(Reset("no-such-workflow", "", 4).status().code(), StatusCode::NOT_FOUND);
  // Nothing changed.
  EXPECT_EQ(Describe("reset-3").workflow_execution_info().execution().run_id(), running->run_id);
  EXPECT_EQ(History(running->run_id).size(), 5u);
}

}  // namespace
}  // namespace eon::history
