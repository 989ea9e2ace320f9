// Unit tests of LocalMatching, the poll handshake over the matching engine, with a history that
// answers as the test says (here: every task is stale).
#include "matching/local_matching.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>

#include "common/executor.h"
#include "persistence/sqlite_store.h"

namespace eon::matching {
namespace {

using namespace std::chrono_literals;

// Runs every closure at once, on the submitting thread: what would race on a pool happens in
// one order, the one the test means.
class InlineExecutor final : public Executor {
 public:
  void Submit(std::function<void()> fn) override { fn(); }
};

Status Unused() { return Status(StatusCode::UNIMPLEMENTED, "not used by this test"); }

// A history for which every task is stale (its execution moved on): record-started answers
// NOT_FOUND at once, on the calling thread. Nothing else is called.
class StaleHistory final : public history::HistoryService {
 public:
  std::atomic<int> started_calls{0};

  void StartWorkflowExecutionAsync(
      const std::string&, const wfs::StartWorkflowExecutionRequest&,
      std::function<void(Result<history::StartResult>)> done) override {
    done(Unused());
  }
  void RecordWorkflowTaskStartedAsync(
      const eon::v1::QueueTask&, const std::string&, const std::string&,
      std::function<void(Result<wfs::PollWorkflowTaskQueueResponse>)> done) override {
    ++started_calls;
    done(Status(StatusCode::NOT_FOUND, "the task is stale"));
  }
  void RecordActivityTaskStartedAsync(
      const eon::v1::QueueTask&, const std::string&, const std::string&,
      std::function<void(Result<wfs::PollActivityTaskQueueResponse>)> done) override {
    ++started_calls;
    done(Status(StatusCode::NOT_FOUND, "the task is stale"));
  }
  bool CanUpdateWithoutWaiting(const persistence::ExecutionKey&) override { return true; }
  void RespondWorkflowTaskCompletedAsync(
      const eon::v1::TaskToken&, const wfs::RespondWorkflowTaskCompletedRequest&,
      std::function<void(Result<wfs::RespondWorkflowTaskCompletedResponse>)> done) override {
    done(Unused());
  }
  void RespondWorkflowTaskFailedAsync(const eon::v1::TaskToken&,
                                      const wfs::RespondWorkflowTaskFailedRequest&,
                                      std::function<void(Status)> done) override {
    done(Unused());
  }
  void RespondActivityTaskCompletedAsync(const eon::v1::TaskToken&,
                                         const temporal::api::common::v1::Payloads&,
                                         const std::string&,
                                         std::function<void(Status)> done) override {
    done(Unused());
  }
  void RespondActivityTaskFailedAsync(const eon::v1::TaskToken&,
                                      const temporal::api::failure::v1::Failure&,
                                      const temporal::api::common::v1::Payloads*,
                                      const std::string&,
                                      std::function<void(Status)> done) override {
    done(Unused());
  }
  void RespondActivityTaskCanceledAsync(const eon::v1::TaskToken&,
                                        const temporal::api::common::v1::Payloads&,
                                        const std::string&,
                                        std::function<void(Status)> done) override {
    done(Unused());
  }
  Result<eon::v1::TaskToken> ActivityTokenById(const std::string&, const std::string&,
                                               const std::string&, const std::string&) override {
    return Unused();
  }
  void RecordActivityTaskHeartbeatAsync(const eon::v1::TaskToken&,
                                        const temporal::api::common::v1::Payloads&,
                                        const std::string&,
                                        std::function<void(Result<bool>)> done) override {
    done(Unused());
  }
  void TerminateWorkflowExecutionAsync(const std::string&,
                                       const wfs::TerminateWorkflowExecutionRequest&,
                                       std::function<void(Status)> done) override {
    done(Unused());
  }
  Status DeleteWorkflowExecution(const std::string&,
                                 const temporal::api::common::v1::WorkflowExecution&) override {
    return Unused();
  }
  void SignalWorkflowExecutionAsync(const std::string&, const wfs::SignalWorkflowExecutionRequest&,
                                    std::function<void(Status)> done) override {
    done(Unused());
  }
  void SignalWithStartWorkflowExecutionAsync(
      const std::string&, const wfs::SignalWithStartWorkflowExecutionRequest&,
      std::function<void(Result<history::StartResult>)> done) override {
    done(Unused());
  }
  Result<history::QueryTarget> PrepareQuery(const std::string&,
                                            const temporal::api::common::v1::WorkflowExecution&,
                                            temporal::api::enums::v1::QueryRejectCondition,
                                            const std::string&,
                                            const temporal::api::query::v1::WorkflowQuery&,
                                            std::chrono::system_clock::time_point,
                                            history::QueryWaiter) override {
    return Unused();
  }
  void StartChildWorkflowExecutionAsync(
      const std::string&, const wfs::StartWorkflowExecutionRequest&, const eon::v1::ParentInfo&,
      std::function<void(Result<history::StartResult>)> done) override {
    done(Unimplemented("not in this test"));
  }
  void DeliverExternalRequestAsync(const eon::v1::ExternalRequest&,
                                   const temporal::api::common::v1::WorkflowExecution&,
                                   std::function<void(Status)> done) override {
    done(Unimplemented("not in this test"));
  }
  void RecordChildClosedAsync(const persistence::ExecutionKey&, int64_t,
                              const temporal::api::common::v1::WorkflowExecution&,
                              const std::string&, const temporal::api::history::v1::HistoryEvent&,
                              std::function<void(Status)> done) override {
    done(Unimplemented("not in this test"));
  }
  bool ForgetQuery(const persistence::ExecutionKey&, const std::string&) override { return false; }
  Result<wfs::PollWorkflowTaskQueueResponse> QueryTaskResponse(
      const eon::v1::QueueTask&, const std::string&,
      const temporal::api::query::v1::WorkflowQuery&) override {
    return Unused();
  }
  Result<history::UpdateStatus> AdmitUpdate(const std::string&,
                                            const wfs::UpdateWorkflowExecutionRequest&) override {
    return Unused();
  }
  Result<history::UpdateStatus> UpdateState(const persistence::ExecutionKey&,
                                            const std::string&) override {
    return Unused();
  }
  Result<persistence::ExecutionKey> ResolveExecution(
      const std::string&, const temporal::api::common::v1::WorkflowExecution&) override {
    return Unused();
  }
  Result<std::string> ResetWorkflowExecution(const std::string&,
                                             const wfs::ResetWorkflowExecutionRequest&) override {
    return Unused();
  }
  Status ResetStickyTaskQueue(const std::string&,
                              const temporal::api::common::v1::WorkflowExecution&) override {
    return Unused();
  }
  void RequestCancelWorkflowExecutionAsync(const std::string&,
                                           const wfs::RequestCancelWorkflowExecutionRequest&,
                                           std::function<void(Status)> done) override {
    done(Unused());
  }
  Result<wfs::DescribeWorkflowExecutionResponse> DescribeWorkflowExecution(
      const std::string&, const temporal::api::common::v1::WorkflowExecution&) override {
    return Unused();
  }
  Result<wfs::GetWorkflowExecutionHistoryResponse> GetWorkflowExecutionHistory(
      const std::string&, const wfs::GetWorkflowExecutionHistoryRequest&, bool*,
      std::string*) override {
    return Unused();
  }
  uint64_t WatchRun(const persistence::ExecutionKey&, RunWatch, RunStatePredicate,
                    RunGone) override {
    return 0;
  }
  void Unwatch(uint64_t) override {}
  bool IsWatching(uint64_t) override { return false; }
  std::vector<persistence::ParkedTask> ParkedTasks() override { return {}; }
  int RetryParkedTasks(const std::vector<int64_t>&) override { return 0; }
};

class LocalMatchingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    persistence::SqliteOptions options;
    options.path = ":memory:";
    options.synchronous_full = false;
    auto store = persistence::SqliteStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(*store);
    scheduler_ = std::make_unique<ThreadDeadlineScheduler>();
    engine_ = std::make_unique<MatchingEngine>(*store_, *scheduler_, MatchingOptions{});
    ASSERT_TRUE(engine_->Recover().ok());
    matching_ = std::make_unique<LocalMatching>(*engine_, executor_);
    matching_->SetHistory(history_);
  }
  void TearDown() override {
    matching_.reset();
    engine_.reset();  // answers what is still parked
    scheduler_.reset();
    store_.reset();
  }

  static eon::v1::QueueTask Task(const std::string& workflow_id) {
    eon::v1::QueueTask task;
    task.set_namespace_id("ns");
    task.set_workflow_id(workflow_id);
    task.set_run_id("run-" + workflow_id);
    task.set_scheduled_event_id(2);
    task.set_attempt(1);
    return task;
  }

  int64_t ParkedPolls() {
    int64_t parked = 0;
    for (const auto& stats : engine_->Stats()) {
      if (stats.queue == queue_) parked += stats.parked_polls;
    }
    return parked;
  }

  const QueueId queue_{"ns", "queue", eon::v1::TASK_QUEUE_KIND_WORKFLOW};
  InlineExecutor executor_;
  StaleHistory history_;
  std::unique_ptr<persistence::Store> store_;
  std::unique_ptr<ThreadDeadlineScheduler> scheduler_;
  std::unique_ptr<MatchingEngine> engine_;
  std::unique_ptr<LocalMatching> matching_;
};

// A poll that finds a stale task waiting drops it and parks again, all before its first park
// is recorded. Cancel must reach the second park (the one still waiting), not the first
// (long answered): the caller hears its empty answer at once, not at the poll's deadline.
TEST_F(LocalMatchingTest, CancelReachesThePollParkedAgainAfterAStaleTask) {
  ASSERT_TRUE(engine_->AddTask(queue_, Task("wf"), nullptr, false).ok());  // to the backlog

  std::atomic<int> answers{0};
  std::atomic<bool> empty{false};
  PollRequest request;
  request.queue = queue_;
  request.namespace_name = "ns";
  request.poller.identity = "worker-1";
  request.poll_request_id = "poll-1";
  request.deadline = std::chrono::steady_clock::now() + 10min;  // far past the test
  auto poll = matching_->PollWorkflowTaskQueue(
      request, [&](Result<wfs::PollWorkflowTaskQueueResponse> response) {
        ++answers;
        empty = response.ok() && response->task_token().empty();
      });
  EXPECT_EQ(history_.started_calls.load(), 1);  // the stale task was tried
  EXPECT_EQ(answers.load(), 0);                 // and the poll waits again
  EXPECT_EQ(ParkedPolls(), 1);

  poll->Cancel();
  EXPECT_EQ(answers.load(), 1) << "the cancel missed the poll parked after the stale task";
  EXPECT_TRUE(empty.load());
  EXPECT_EQ(ParkedPolls(), 0);
  poll->Cancel();  // a second cancel does nothing
  EXPECT_EQ(answers.load(), 1);
}

}  // namespace
}  // namespace eon::matching
