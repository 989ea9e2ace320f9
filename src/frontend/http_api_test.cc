#include "frontend/http_api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/executor.h"
#include "temporal/api/workflowservice/v1/request_response.pb.h"

namespace eon::frontend {
namespace {

namespace wfs = temporal::api::workflowservice::v1;
using nlohmann::json;

// A router with two handlers that echo what they were asked, so the tests see the request the
// gateway built and the JSON it wrote back.
class HttpApiTest : public ::testing::Test {
 protected:
  HttpApiTest() : executor_("http-api-test", 2), router_(executor_) {
    router_.Unary<wfs::SignalWorkflowExecutionRequest, wfs::SignalWorkflowExecutionResponse>(
        kWorkflowService, "SignalWorkflowExecution",
        [this](CallContext&, const wfs::SignalWorkflowExecutionRequest& request)
            -> Result<wfs::SignalWorkflowExecutionResponse> {
          signal_ = request;
          if (request.signal_name() == "missing") return NotFound("no such workflow");
          return wfs::SignalWorkflowExecutionResponse();
        });
    router_.Unary<wfs::ListWorkflowExecutionsRequest, wfs::ListWorkflowExecutionsResponse>(
        kWorkflowService, "ListWorkflowExecutions",
        [this](CallContext&, const wfs::ListWorkflowExecutionsRequest& request)
            -> Result<wfs::ListWorkflowExecutionsResponse> {
          list_ = request;
          wfs::ListWorkflowExecutionsResponse response;
          auto* info = response.add_executions();
          info->mutable_execution()->set_workflow_id("w1");
          auto& memo = *info->mutable_memo()->mutable_fields();
          memo["json"].mutable_metadata()->insert({"encoding", "json/plain"});
          memo["json"].set_data(R"({"a":[1,2]})");
          memo["binary"].mutable_metadata()->insert({"encoding", "binary/plain"});
          memo["binary"].set_data("\x01\x02");
          response.set_next_page_token("\xff\x00t", 3);
          return response;
        });
  }

  HttpResponse Get(const std::string& path,
                   std::vector<std::pair<std::string, std::string>> query = {}) {
    return api_.Handle({"GET", path, std::move(query), "", "", "test"});
  }
  HttpResponse Post(const std::string& path, const std::string& body) {
    return api_.Handle({"POST", path, {}, body, "", "test"});
  }

  ThreadPool executor_;
  RpcRouter router_;
  HttpApi api_{router_, /*api_paths_only=*/true};
  wfs::SignalWorkflowExecutionRequest signal_;
  wfs::ListWorkflowExecutionsRequest list_;
};

TEST_F(HttpApiTest, RoutesComeFromTheProtoAnnotations) {
  EXPECT_GT(api_.route_count(), 100u);
  EXPECT_TRUE(api_.Matches("/api/v1/namespaces/default/workflows"));
  EXPECT_TRUE(api_.Matches("/api/v1/namespaces/default/workflows/a%2Fb/signal/go"));
  EXPECT_FALSE(api_.Matches("/namespaces/default/workflows"));  // the UI's page, not the API
  EXPECT_FALSE(api_.Matches("/api/v1/nothing"));
}

TEST_F(HttpApiTest, BodyPathAndShorthandPayloadsMakeTheRequest) {
  HttpResponse response = Post("/api/v1/namespaces/ns1/workflows/a%2Fb/signal/go",
                               R"({"input": ["x", {"k": 1}, null], "identity": "me"})");
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.body, "{}");
  EXPECT_EQ(signal_.namespace_(), "ns1");
  EXPECT_EQ(signal_.workflow_execution().workflow_id(), "a/b");  // decoded after the split
  EXPECT_EQ(signal_.signal_name(), "go");
  EXPECT_EQ(signal_.identity(), "me");
  ASSERT_EQ(signal_.input().payloads_size(), 3);
  EXPECT_EQ(signal_.input().payloads(0).metadata().at("encoding"), "json/plain");
  EXPECT_EQ(signal_.input().payloads(0).data(), R"("x")");
  EXPECT_EQ(signal_.input().payloads(1).data(), R"({"k":1})");
  EXPECT_EQ(signal_.input().payloads(2).metadata().at("encoding"), "binary/null");
}

TEST_F(HttpApiTest, StandardPayloadsPassAsTheyAre) {
  // {"metadata": {"encoding": base64("binary/plain")}, "data": base64("\x01")}
  HttpResponse response = Post(
      "/api/v1/namespaces/ns1/workflows/w/signal/go",
      R"({"input": {"payloads": [{"metadata": {"encoding": "YmluYXJ5L3BsYWlu"}, "data": "AQ=="}]}})");
  ASSERT_EQ(response.status, 200) << response.body;
  ASSERT_EQ(signal_.input().payloads_size(), 1);
  EXPECT_EQ(signal_.input().payloads(0).metadata().at("encoding"), "binary/plain");
  EXPECT_EQ(signal_.input().payloads(0).data(), "\x01");
}

TEST_F(HttpApiTest, QueryParametersAndAnswerJson) {
  HttpResponse response =
      Get("/api/v1/namespaces/ns1/workflows", {{"query", "WorkflowType = 'x'"}, {"pageSize", "7"}});
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(list_.namespace_(), "ns1");
  EXPECT_EQ(list_.query(), "WorkflowType = 'x'");
  EXPECT_EQ(list_.page_size(), 7);
  json body = json::parse(response.body);
  EXPECT_EQ(body["executions"][0]["execution"]["workflowId"], "w1");
  // json/plain is shown as its value; other encodings keep the standard form.
  EXPECT_EQ(body["executions"][0]["memo"]["fields"]["json"], json::parse(R"({"a":[1,2]})"));
  EXPECT_EQ(body["executions"][0]["memo"]["fields"]["binary"]["data"], "AQI=");
  EXPECT_EQ(body["nextPageToken"], "/wB0");

  // The token goes back as it came (bytes in base64).
  ASSERT_EQ(Get("/api/v1/namespaces/ns1/workflows", {{"nextPageToken", "/wB0"}}).status, 200);
  EXPECT_EQ(list_.next_page_token(), std::string("\xff\x00t", 3));

  // noPayloadShorthand keeps every payload standard.
  body = json::parse(Get("/api/v1/namespaces/ns1/workflows", {{"noPayloadShorthand", ""}}).body);
  EXPECT_EQ(body["executions"][0]["memo"]["fields"]["json"]["data"], "eyJhIjpbMSwyXX0=");
}

TEST_F(HttpApiTest, ErrorsAreJsonWithTheMatchingStatus) {
  HttpResponse missing = Post("/api/v1/namespaces/ns1/workflows/w/signal/missing", "{}");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(json::parse(missing.body)["code"], 5);
  EXPECT_EQ(json::parse(missing.body)["message"], "no such workflow");

  for (const char* bad : {"{", "[]", R"({"input": 5, "nope": 1})", R"({"identity": 5})"}) {
    HttpResponse response = Post("/api/v1/namespaces/ns1/workflows/w/signal/go", bad);
    EXPECT_EQ(response.status, 400) << bad;
    EXPECT_EQ(json::parse(response.body)["code"], 3) << bad;
  }
  EXPECT_EQ(Get("/api/v1/namespaces/ns1/workflows", {{"pageSize", "x"}}).status, 400);
  EXPECT_EQ(Get("/api/v1/namespaces/ns1/workflows", {{"nope", "1"}}).status, 400);
  EXPECT_EQ(Get("/api/v1/namespaces/ns1/workflows/w/signal/go").status, 405);
  EXPECT_EQ(Get("/api/v1/namespaces/ns1/nowhere").status, 404);
  // A path segment that is not valid percent-encoding matches no route.
  EXPECT_EQ(Post("/api/v1/namespaces/ns1/workflows/%zz/signal/go", "{}").status, 404);
  // A route whose method has no handler here.
  HttpResponse unimplemented = Get("/api/v1/namespaces/ns1/schedules");
  EXPECT_EQ(unimplemented.status, 501);
  EXPECT_NE(unimplemented.body.find("ListSchedules"), std::string::npos);
  // Bytes that are not UTF-8 in a path variable are repaired in the echo, not thrown on.
  EXPECT_EQ(Post("/api/v1/namespaces/%ff/workflows/w/signal/missing", "{}").status, 404);
}

TEST(HttpStatusFor, FollowsGrpcGateway) {
  EXPECT_EQ(HttpStatusFor(StatusCode::OK), 200);
  EXPECT_EQ(HttpStatusFor(StatusCode::INVALID_ARGUMENT), 400);
  EXPECT_EQ(HttpStatusFor(StatusCode::FAILED_PRECONDITION), 400);
  EXPECT_EQ(HttpStatusFor(StatusCode::NOT_FOUND), 404);
  EXPECT_EQ(HttpStatusFor(StatusCode::ALREADY_EXISTS), 409);
  EXPECT_EQ(HttpStatusFor(StatusCode::PERMISSION_DENIED), 403);
  EXPECT_EQ(HttpStatusFor(StatusCode::UNAUTHENTICATED), 401);
  EXPECT_EQ(HttpStatusFor(StatusCode::RESOURCE_EXHAUSTED), 429);
  EXPECT_EQ(HttpStatusFor(StatusCode::UNIMPLEMENTED), 501);
  EXPECT_EQ(HttpStatusFor(StatusCode::UNAVAILABLE), 503);
  EXPECT_EQ(HttpStatusFor(StatusCode::DEADLINE_EXCEEDED), 504);
  EXPECT_EQ(HttpStatusFor(StatusCode::INTERNAL), 500);
}

}  // namespace
}  // namespace eon::frontend
