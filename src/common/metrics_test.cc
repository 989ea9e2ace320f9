#include "common/metrics.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"

namespace eon::metrics {
namespace {

TEST(Metrics, TextHasTemporalNamesAndLabels) {
  RequestStarted("StartWorkflowExecution", "metrics-test");
  RequestFinished("StartWorkflowExecution", "metrics-test", StatusCode::OK, Seconds(0.003));
  RequestStarted("StartWorkflowExecution", "metrics-test");
  RequestFinished("StartWorkflowExecution", "metrics-test", StatusCode::NOT_FOUND, Seconds(0.1));
  PersistenceCall("UpdateWorkflowExecution", Seconds(0.001), true);
  GroupCommit(7);
  CacheLookup(false);
  WorkflowClosed("metrics-test", 2);
  ScheduleToStart("metrics-test", "tq1", "Workflow", Seconds(0.02));
  uint64_t id = AddCollector([](std::vector<GaugeSample>& out) {
    out.push_back({"approximate_backlog_count", "help", {{"taskqueue", "tq1"}}, 3});
  });
  std::string text = RenderText();
  RemoveCollector(id);
  for (const char* expected :
       {"service_requests{namespace=\"metrics-test\",operation=\"StartWorkflowExecution\"} 2",
        "service_error_with_type{error_type=\"serviceerror_NotFound\",namespace=\"metrics-test\","
        "operation=\"StartWorkflowExecution\"} 1",
        "service_latency_bucket{namespace=\"metrics-test\",operation=\"StartWorkflowExecution\","
        "le=\"0.005\"} 1",
        "persistence_latency_count{operation=\"UpdateWorkflowExecution\"}",
        "persistence_group_commit_batch_size_sum",
        "cache_miss{operation=\"HistoryCacheGetOrCreate\"}",
        "workflow_success{namespace=\"metrics-test\"} 1",
        "task_schedule_to_start_latency_count{namespace=\"metrics-test\",task_type=\"Workflow\","
        "taskqueue=\"tq1\"} 1",
        "approximate_backlog_count{taskqueue=\"tq1\"} 3"}) {
    EXPECT_NE(text.find(expected), std::string::npos) << expected << "\nin:\n" << text;
  }
  EXPECT_EQ(RenderText().find("approximate_backlog_count{taskqueue=\"tq1\"}"), std::string::npos)
      << "a removed collector still reports";
}

TEST(Metrics, EndpointRefusesABusyPortAndServesAFreeOne) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  int busy = ntohs(address.sin_port);
  auto refused = Endpoint::Start("127.0.0.1", busy);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::UNAVAILABLE);
  EXPECT_NE(refused.status().message().find(std::to_string(busy)), std::string::npos);
  close(fd);

  auto endpoint = Endpoint::Start("127.0.0.1", 0);
  ASSERT_TRUE(endpoint.ok()) << endpoint.status().message();
  EXPECT_GT((*endpoint)->port(), 0);
}

TEST(Metrics, ProcessCpuMemoryAndContextSwitchesAreInTheText) {
  const std::string text = RenderText();
  EXPECT_NE(text.find("\nprocess_cpu_seconds_total "), std::string::npos) << text;
  const size_t rss = text.find("\nprocess_resident_memory_bytes ");
  ASSERT_NE(rss, std::string::npos);
  EXPECT_GT(std::stod(text.substr(rss + 31)), 1024.0 * 1024.0);  // a process has its code resident
  EXPECT_NE(text.find("eon_process_context_switches_total{kind=\"voluntary\"} "),
            std::string::npos);
  EXPECT_NE(text.find("eon_process_context_switches_total{kind=\"involuntary\"} "),
            std::string::npos);
}

TEST(Log, JsonAndTextLinesCarryTheFields) {
  log::Fields fields{"default", "wf-\"1\"", "run-1"};
  log::SetFormat(log::Format::kJson);
  std::string json = log::FormatLine(log::Level::kWarn, "history", fields, "a \"quoted\"\nline");
  log::SetFormat(log::Format::kText);
  std::string text = log::FormatLine(log::Level::kInfo, "frontend", fields, "hello");
  EXPECT_NE(json.find(R"("level":"warn")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("component":"history")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("namespace":"default")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("workflow_id":"wf-\"1\"")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("run_id":"run-1")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("msg":"a \"quoted\"\nline")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("ts":")"), std::string::npos) << json;
  EXPECT_NE(text.find("INFO  [frontend] ns=default wf=wf-\"1\" run=run-1 hello"), std::string::npos)
      << text;
}

}  // namespace
}  // namespace eon::metrics
