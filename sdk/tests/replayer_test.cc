// The replayer's history reader and its checks on malformed histories (no server needed).
#include "eon/sdk/replayer.h"

#include <gtest/gtest.h>

#include "temporal/api/enums/v1/event_type.pb.h"

namespace eon::sdk {
namespace {

namespace enums = temporal::api::enums::v1;

Task<int> Seven(WorkflowContext&) { co_return 7; }

TEST(HistoryFromJson, ReadsTheFormsToolsPrint) {
  // `eon workflow show --output json` / `temporal workflow show --output json`.
  auto plain = Replayer::HistoryFromJson(
      R"({"events":[{"eventId":"1","eventType":"EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"}]})");
  ASSERT_TRUE(plain.ok()) << plain.error().ToString();
  ASSERT_EQ(plain->events_size(), 1);
  EXPECT_EQ(plain->events(0).event_type(), enums::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);

  // A GetWorkflowExecutionHistory response, with the short event type names older exports use
  // and fields this SDK does not know.
  auto wrapped = Replayer::HistoryFromJson(
      R"({"history":{"events":[{"eventId":"1","eventType":"WorkflowExecutionStarted"},
          {"eventId":"2","eventType":"WorkflowTaskScheduled","someNewField":true}]},
          "nextPageToken":""})");
  ASSERT_TRUE(wrapped.ok()) << wrapped.error().ToString();
  ASSERT_EQ(wrapped->events_size(), 2);
  EXPECT_EQ(wrapped->events(1).event_type(), enums::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
  EXPECT_EQ(wrapped->events(1).event_id(), 2);

  // A bare array of events.
  auto array = Replayer::HistoryFromJson(R"([{"eventId":"1","eventType":"TimerFired"}])");
  ASSERT_TRUE(array.ok());
  EXPECT_EQ(array->events(0).event_type(), enums::EVENT_TYPE_TIMER_FIRED);
}

TEST(HistoryFromJson, RejectsWhatIsNotAHistory) {
  for (const char* bad : {"", "{", "42", R"({"events":3})", R"({"nothing":[]})",
                          R"({"events":[{"eventId":"not a number"}]})"}) {
    auto parsed = Replayer::HistoryFromJson(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.error().code, grpc::StatusCode::INVALID_ARGUMENT) << bad;
  }
}

TEST(Replayer, RejectsEmptyForeignAndUnregisteredHistories) {
  Replayer replayer;
  replayer.register_workflow("Seven", Seven);
  History empty;
  auto result = replayer.replay(empty);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, grpc::StatusCode::INVALID_ARGUMENT);

  History other =
      Replayer::HistoryFromJson(
          R"({"events":[{"eventId":"1","eventType":"EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
      "workflowExecutionStartedEventAttributes":{"workflowType":{"name":"Other"}}}]})")
          .value();
  result = replayer.replay(other);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(result.error().message.find("Other"), std::string::npos) << result.error().message;
}

TEST(Replayer, AHistoryWithoutTheCompletionTheCodeIssuesIsNondeterministic) {
  // The workflow completes in its first task, but the history says the task completed with no
  // command at all.
  History history = Replayer::HistoryFromJson(R"({"events":[
      {"eventId":"1","eventType":"EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
       "workflowExecutionStartedEventAttributes":{"workflowType":{"name":"Seven"}}},
      {"eventId":"2","eventType":"EVENT_TYPE_WORKFLOW_TASK_SCHEDULED"},
      {"eventId":"3","eventType":"EVENT_TYPE_WORKFLOW_TASK_STARTED"},
      {"eventId":"4","eventType":"EVENT_TYPE_WORKFLOW_TASK_COMPLETED"},
      {"eventId":"5","eventType":"EVENT_TYPE_TIMER_STARTED",
       "timerStartedEventAttributes":{"timerId":"1"}}]})")
                        .value();
  Replayer replayer;
  replayer.register_workflow("Seven", Seven);
  // The history records no workflow id (hand-written), so it must be given.
  auto no_id = replayer.replay(history);
  ASSERT_FALSE(no_id.ok());
  EXPECT_EQ(no_id.error().code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(no_id.error().message.find("workflow id"), std::string::npos) << no_id.error().message;
  auto result = replayer.replay(history, "seven-1");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(result.error().message.find("COMPLETE_WORKFLOW_EXECUTION"), std::string::npos)
      << result.error().message;
  EXPECT_NE(result.error().message.find("event 5 TIMER_STARTED(timer_id=1)"), std::string::npos)
      << result.error().message;
}

}  // namespace
}  // namespace eon::sdk
