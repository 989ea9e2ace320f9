#include "frontend/request_check.h"

#include <gtest/gtest.h>

#include "temporal/api/workflowservice/v1/request_response.pb.h"

namespace eon::frontend {
namespace {

namespace wfs = temporal::api::workflowservice::v1;

TEST(CheckRequestFields, AcceptsOrdinaryDurationsAndTimestamps) {
  wfs::StartWorkflowExecutionRequest request;
  request.mutable_workflow_run_timeout()->set_seconds(3600);
  request.mutable_workflow_task_timeout()->set_nanos(500'000'000);
  EXPECT_TRUE(CheckRequestFields(request).ok());
}

TEST(CheckRequestFields, NamesTheFieldOutOfRange) {
  wfs::StartWorkflowExecutionRequest request;
  request.mutable_workflow_run_timeout()->set_nanos(1'000'000'000);
  Status status = CheckRequestFields(request);
  EXPECT_EQ(status.code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.message().find("workflow_run_timeout"), std::string::npos) << status.message();

  request.Clear();
  request.mutable_retry_policy()->mutable_initial_interval()->set_seconds(INT64_MAX);
  status = CheckRequestFields(request);
  EXPECT_EQ(status.code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.message().find("retry_policy.initial_interval"), std::string::npos)
      << status.message();

  request.Clear();
  request.mutable_workflow_start_delay()->set_seconds(1);
  request.mutable_workflow_start_delay()->set_nanos(-1);
  EXPECT_EQ(CheckRequestFields(request).code(), StatusCode::INVALID_ARGUMENT);
}

TEST(CheckRequestFields, LooksIntoRepeatedMessages) {
  wfs::RespondWorkflowTaskCompletedRequest request;
  request.add_commands();
  auto* command = request.add_commands();
  command->mutable_start_timer_command_attributes()->mutable_start_to_fire_timeout()->set_nanos(
      -5);
  command->mutable_start_timer_command_attributes()->mutable_start_to_fire_timeout()->set_seconds(
      3);
  Status status = CheckRequestFields(request);
  EXPECT_EQ(status.code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.message().find("commands.start_timer_command_attributes.start_to_fire_timeout"),
            std::string::npos)
      << status.message();
}

}  // namespace
}  // namespace eon::frontend
