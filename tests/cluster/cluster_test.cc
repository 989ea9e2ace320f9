// Two Eon nodes on one database, with a static Ownership (shards split by parity, task queues
// by name), driven by the C++ SDK: a client and workers connected to either node run workflows
// whose shard and task queue are on the other one, activities, signals, queries and describe
// included; a workflow acts on workflows whose shard is on the other node (a child and its
// result, a signal and a cancel request to another workflow, a parent close policy), and a
// schedule starts a workflow whose shard is on the other node; work owned by no live node is
// refused with UNAVAILABLE, not a hang.
//
// The database is PostgreSQL when EON_TEST_POSTGRES_URL is set (scripts/with-postgres.sh; each
// run gets a schema of its own), a SQLite file otherwise.
#include <arpa/inet.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <random>
#include <thread>

#include "cluster/ownership.h"
#include "eon/sdk/sdk.h"
#include "eon/v1/admin.pb.h"
#include "history/history_engine.h"
#include "persistence/postgres_db.h"
#include "server/server.h"
#include "temporal/api/workflowservice/v1/service.grpc.pb.h"

namespace eon {
namespace {

using namespace std::chrono_literals;
using sdk::ActivityOptions;
using sdk::Client;
using sdk::Task;
using sdk::Worker;
using sdk::WorkflowContext;

constexpr int32_t kShards = 4;

// A port nobody listens on right now, for a node's internal address, which the ownership map
// names before the node starts. Drawn below the kernel's ephemeral range (32768 and up), so a
// server of a test running beside this one, which listens on port 0, cannot be given it between
// this check and the node's start (as happened under ctest -j2).
int FreePort() {
  static std::mt19937 random(std::random_device{}());
  for (;;) {
    const int port = std::uniform_int_distribution<int>(20000, 32000)(random);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    const bool free = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    if (free) return port;
  }
}

// Even shards on node A, odd ones on B; task queues by name ("b-..." on B, "nobody-..." on no
// live node, "down-..." on node D, which is not running; the rest on A). Shard overrides move a
// shard's ownership after the start (to D, for the down-node case).
struct ClusterMap {
  cluster::Node a, b, down, nobody;
  std::map<int32_t, cluster::Node> shard_overrides;  // set before the servers start
};

class StaticOwnership final : public cluster::Ownership {
 public:
  StaticOwnership(const ClusterMap& map, cluster::Node self) : map_(map), self_(std::move(self)) {}
  const cluster::Node& self() const override { return self_; }
  cluster::Node ShardOwner(int32_t shard) const override {
    if (auto it = map_.shard_overrides.find(shard); it != map_.shard_overrides.end())
      return it->second;
    return shard % 2 == 0 ? map_.a : map_.b;
  }
  cluster::Node QueueOwner(const std::string&, const std::string& queue) const override {
    if (queue.rfind("b-", 0) == 0) return map_.b;
    if (queue.rfind("nobody-", 0) == 0) return map_.nobody;
    if (queue.rfind("down-", 0) == 0) return map_.down;
    return map_.a;
  }

 private:
  const ClusterMap& map_;
  const cluster::Node self_;
};

std::string ComposeGreeting(std::string name) { return "Hello, " + name + "!"; }

Task<std::string> Greeting(WorkflowContext& ctx, std::string name) {
  co_return co_await ctx.execute_activity<std::string>("ComposeGreeting",
                                                       ActivityOptions().start_to_close(20s), name);
}

// Adds what it is signalled, answers the total to queries, ends on "done" with one activity.
Task<std::string> Counter(WorkflowContext& ctx) {
  int total = 0;
  bool done = false;
  ctx.set_signal_handler("add", [&total](int amount) { total += amount; });
  ctx.set_signal_handler("done", [&done]() { done = true; });
  ctx.set_query_handler("total", [&total]() { return total; });
  co_await ctx.wait_condition([&done] { return done; });
  co_return co_await ctx.execute_activity<std::string>(
      "ComposeGreeting", ActivityOptions().start_to_close(20s), std::to_string(total));
}

// Runs a Greeting child (its id given) and answers with the child's result.
Task<std::string> Parent(WorkflowContext& ctx, std::string child_id) {
  std::string answer = co_await ctx.execute_child_workflow<std::string>(
      "Greeting", sdk::ChildWorkflowOptions().id(child_id), child_id);
  co_return "parent of " + answer;
}

// Signals a Counter (its id given) to add 7, then to finish.
Task<std::string> Signaller(WorkflowContext& ctx, std::string target) {
  co_await ctx.signal_external_workflow(target, "", "add", 7);
  co_await ctx.signal_external_workflow(target, "", "done");
  co_return "signalled";
}

// Asks another workflow to cancel.
Task<std::string> Canceller(WorkflowContext& ctx, std::string target) {
  co_await ctx.cancel_external_workflow(target);
  co_return "cancel requested";
}

// Starts a Counter child that its close terminates, and ends once the child started.
Task<std::string> Abandoner(WorkflowContext& ctx, std::string child_id) {
  auto child = ctx.start_child_workflow<std::string>(
      "Counter", sdk::ChildWorkflowOptions().id(child_id).parent_close_policy(
                     temporal::api::enums::v1::PARENT_CLOSE_POLICY_TERMINATE));
  co_return co_await child.started;
}

Task<std::string> Scheduled(WorkflowContext&) { co_return "scheduled run"; }

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string database;
    if (const char* server = std::getenv("EON_TEST_POSTGRES_URL"); server && *server) {
      schema_ = "eon_cluster_" + std::to_string(::getpid());
      auto admin = persistence::PgConnection::Connect(server);
      ASSERT_TRUE(admin.ok()) << admin.status().message();
      ASSERT_TRUE(
          (*admin)
              ->Exec("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE; CREATE SCHEMA " + schema_)
              .ok());
      std::string url = server;
      database = url + (url.find('?') == std::string::npos ? "?" : "&") +
                 "options=-csearch_path%3D" + schema_;
      postgres_server_ = server;
    } else {
      dir_ = std::filesystem::temp_directory_path() / ("eon-cluster-" + std::to_string(::getpid()));
      std::filesystem::remove_all(dir_);
      std::filesystem::create_directories(dir_);
      database = (dir_ / "eon.db").string();
    }
    map_.a = {"A", "127.0.0.1:" + std::to_string(FreePort())};
    map_.b = {"B", "127.0.0.1:" + std::to_string(FreePort())};
    map_.down = {"D", "127.0.0.1:" + std::to_string(FreePort())};  // never started
    map_.nobody = {"N", ""};
    ConfigureShards();
    for (const auto* node : {&map_.a, &map_.b}) {
      server::ServerOptions options;
      options.ip = "127.0.0.1";
      options.port = 0;
      options.db_path = database;
      options.shard_count = kShards;
      options.node_name = node->name;
      options.internal_port = std::stoi(node->internal_address.substr(10));
      options.ownership = std::make_shared<StaticOwnership>(map_, *node);
      options.request_threads = 8;
      options.task_threads = 2;
      options.task_failures_before_parking = failures_before_parking_;
      auto started = server::Server::Start(options);
      ASSERT_TRUE(started.ok()) << started.status().message();
      ASSERT_EQ((*started)->internal_address(), node->internal_address);
      servers_.push_back(std::move(started).value());
    }
    for (auto& server : servers_) {
      sdk::ClientOptions options;
      options.address = server->address();
      auto client = Client::Connect(options);
      ASSERT_TRUE(client.ok()) << client.error().ToString();
      clients_.push_back(std::make_unique<Client>(std::move(client).value()));
    }
    temporal::api::workflowservice::v1::DescribeNamespaceRequest request;
    request.set_namespace_("default");
    temporal::api::workflowservice::v1::DescribeNamespaceResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(clients_[0]->stub().DescribeNamespace(&context, request, &response).ok());
    namespace_id_ = response.namespace_info().id();
  }

  virtual void ConfigureShards() {}

  void TearDown() override {
    for (auto& worker : workers_) worker->shutdown();
    workers_.clear();
    clients_.clear();
    for (auto& server : servers_) server->Shutdown();
    servers_.clear();
    if (!schema_.empty()) {
      auto admin = persistence::PgConnection::Connect(postgres_server_);
      if (admin.ok()) (void)(*admin)->Exec("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  Client& via_a() { return *clients_[0]; }
  Client& via_b() { return *clients_[1]; }

  Worker& StartWorker(Client& client, const std::string& queue) {
    workers_.push_back(std::make_unique<Worker>(client, sdk::WorkerOptions{.task_queue = queue}));
    Worker& worker = *workers_.back();
    worker.register_workflow("Greeting", Greeting);
    worker.register_workflow("Counter", Counter);
    worker.register_workflow("Parent", Parent);
    worker.register_workflow("Signaller", Signaller);
    worker.register_workflow("Canceller", Canceller);
    worker.register_workflow("Abandoner", Abandoner);
    worker.register_workflow("Scheduled", Scheduled);
    worker.register_activity("ComposeGreeting", ComposeGreeting);
    EXPECT_TRUE(worker.start().ok());
    return worker;
  }

  // A workflow id whose shard is `shard` (ids are tried in turn).
  std::string IdOnShard(const std::string& prefix, int32_t shard) {
    for (int i = 0;; ++i) {
      std::string id = prefix + "-" + std::to_string(i);
      if (history::ShardOf(namespace_id_, id, kShards) == shard) return id;
    }
  }

  // The workflow's status once it closed (RUNNING if it did not within a minute: on a node
  // that cannot reach the other node's shards, work across them never happens).
  temporal::api::enums::v1::WorkflowExecutionStatus WaitClosed(Client& client,
                                                               const std::string& id) {
    auto handle = client.get_handle(id);
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto description = handle.describe();
      if (description.ok() && description->workflow_execution_info().status() !=
                                  temporal::api::enums::v1::WORKFLOW_EXECUTION_STATUS_RUNNING)
        return description->workflow_execution_info().status();
      std::this_thread::sleep_for(100ms);
    }
    return temporal::api::enums::v1::WORKFLOW_EXECUTION_STATUS_RUNNING;
  }

  // An admin call (eon.v1.AdminService) made to a node.
  grpc::Status CallAdmin(Client& client, const std::string& method,
                         const google::protobuf::Message& request,
                         google::protobuf::Message* response) {
    grpc::GenericStub stub(client.channel());
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 30s);
    std::string bytes = request.SerializeAsString();
    grpc::Slice slice(bytes);
    grpc::ByteBuffer in(&slice, 1), out;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, "/eon.v1.AdminService/" + method, grpc::StubOptions(), &in, &out,
                   [&done](grpc::Status status) { done.set_value(std::move(status)); });
    grpc::Status status = done.get_future().get();
    if (!status.ok()) return status;
    std::vector<grpc::Slice> slices;
    std::string received;
    if (out.Dump(&slices).ok()) {
      for (const auto& s : slices)
        received.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    if (!response->ParseFromString(received))
      return grpc::Status(grpc::StatusCode::INTERNAL, "the answer does not parse");
    return status;
  }

  int failures_before_parking_ = 10;  // set by ConfigureShards
  ClusterMap map_;
  std::vector<std::unique_ptr<server::Server>> servers_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::string namespace_id_;
  std::string schema_, postgres_server_;
  std::filesystem::path dir_;
};

// A client on B starts workflows on A's shards and on B's own; their task queue is A's; one
// worker polls it through B (the poll is forwarded to A, whose matching has B record the
// start of B's executions), another through A. Every workflow runs its activity and completes.
TEST_F(ClusterTest, WorkflowsAndActivitiesRunAcrossNodes) {
  StartWorker(via_b(), "a-greetings");
  std::vector<std::pair<std::string, sdk::WorkflowHandle>> started;
  for (int32_t shard = 0; shard < kShards; ++shard) {
    for (int i = 0; i < 2; ++i) {
      std::string id = IdOnShard("greet-" + std::to_string(shard) + "-" + std::to_string(i), shard);
      Client& client = i == 0 ? via_b() : via_a();
      auto handle = client.start_workflow("Greeting", {.id = id, .task_queue = "a-greetings"}, id);
      ASSERT_TRUE(handle.ok()) << handle.error().ToString();
      started.emplace_back(id, *handle);
    }
  }
  for (auto& [id, handle] : started) {
    auto result = handle.result<std::string>();
    ASSERT_TRUE(result.ok()) << id << ": " << result.error().ToString();
    EXPECT_EQ(*result, "Hello, " + id + "!");
  }
  // Now a worker on A only, for a queue B owns: polls forwarded the other way.
  workers_.front()->shutdown();
  StartWorker(via_a(), "b-greetings");
  for (int32_t shard : {0, 1}) {
    std::string id = IdOnShard("greet-b-" + std::to_string(shard), shard);
    auto result = via_a().execute_workflow<std::string>(
        "Greeting", {.id = id, .task_queue = "b-greetings"}, id);
    ASSERT_TRUE(result.ok()) << id << ": " << result.error().ToString();
    EXPECT_EQ(*result, "Hello, " + id + "!");
  }
}

// Signals, queries and describe reach a workflow through either node, whichever owns it.
TEST_F(ClusterTest, SignalsQueriesAndDescribeThroughEitherNode) {
  StartWorker(via_a(), "b-counters");
  for (int32_t shard : {0, 1}) {
    std::string id = IdOnShard("counter-" + std::to_string(shard), shard);
    auto started = via_b().start_workflow("Counter", {.id = id, .task_queue = "b-counters"});
    ASSERT_TRUE(started.ok()) << started.error().ToString();
    auto on_a = via_a().get_handle(id);
    auto on_b = via_b().get_handle(id);
    ASSERT_TRUE(on_a.signal("add", 2).ok());
    ASSERT_TRUE(on_b.signal("add", 3).ok());
    // Queries are consistent through either node: they see every signal acknowledged before
    // them. (A query answered 2 here once, on PostgreSQL: the first workflow task, started
    // before the second signal, had its poll answer built after the query was held and carried
    // it. A task now carries only the queries held when it started;
    // ConsistentQueryTest.AQueryHeldAfterATaskStartedDoesNotRideOnIt.)
    for (auto* handle : {&on_a, &on_b}) {
      auto total = handle->query<int>("total");
      ASSERT_TRUE(total.ok()) << total.error().ToString();
      EXPECT_EQ(*total, 5);
    }
    for (auto* handle : {&on_a, &on_b}) {
      auto description = handle->describe();
      ASSERT_TRUE(description.ok()) << description.error().ToString();
      EXPECT_EQ(description->workflow_execution_info().execution().workflow_id(), id);
      EXPECT_EQ(description->workflow_execution_info().task_queue(), "b-counters");
    }
    ASSERT_TRUE(on_a.signal("done").ok());
    auto result = on_b.result<std::string>();
    ASSERT_TRUE(result.ok()) << result.error().ToString();
    EXPECT_EQ(*result, "Hello, 5!");
  }
}

using temporal::api::enums::v1::WORKFLOW_EXECUTION_STATUS_CANCELED;
using temporal::api::enums::v1::WORKFLOW_EXECUTION_STATUS_COMPLETED;
using temporal::api::enums::v1::WORKFLOW_EXECUTION_STATUS_TERMINATED;

// A parent whose shard is on A starts a child whose shard is on B (A's outbox has B start it);
// the child completes and the parent gets its result (B's outbox tells A).
TEST_F(ClusterTest, ChildOnTheOtherNodeRunsAndItsParentGetsTheResult) {
  StartWorker(via_b(), "a-greetings");
  std::string parent_id = IdOnShard("parent", 0);
  std::string child_id = IdOnShard("child", 1);
  auto parent =
      via_a().start_workflow("Parent", {.id = parent_id, .task_queue = "a-greetings"}, child_id);
  ASSERT_TRUE(parent.ok()) << parent.error().ToString();
  ASSERT_EQ(WaitClosed(via_a(), parent_id), WORKFLOW_EXECUTION_STATUS_COMPLETED);
  auto result = parent->result<std::string>();
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(*result, "parent of Hello, " + child_id + "!");
  auto child = via_b().get_handle(child_id).describe();
  ASSERT_TRUE(child.ok()) << child.error().ToString();
  EXPECT_EQ(child->workflow_execution_info().parent_execution().workflow_id(), parent_id);
  EXPECT_EQ(child->workflow_execution_info().status(), WORKFLOW_EXECUTION_STATUS_COMPLETED);
}

// A workflow on A signals one on B; one on B asks one on A to cancel.
TEST_F(ClusterTest, SignalAndCancelReachAWorkflowOnTheOtherNode) {
  StartWorker(via_a(), "a-greetings");
  std::string counter_id = IdOnShard("signalled", 1);
  std::string signaller_id = IdOnShard("signaller", 0);
  auto counter = via_a().start_workflow("Counter", {.id = counter_id, .task_queue = "a-greetings"});
  ASSERT_TRUE(counter.ok()) << counter.error().ToString();
  ASSERT_TRUE(via_b()
                  .start_workflow("Signaller", {.id = signaller_id, .task_queue = "a-greetings"},
                                  counter_id)
                  .ok());
  EXPECT_EQ(WaitClosed(via_b(), signaller_id), WORKFLOW_EXECUTION_STATUS_COMPLETED);
  ASSERT_EQ(WaitClosed(via_b(), counter_id), WORKFLOW_EXECUTION_STATUS_COMPLETED);
  auto total = counter->result<std::string>();
  ASSERT_TRUE(total.ok()) << total.error().ToString();
  EXPECT_EQ(*total, "Hello, 7!");

  std::string target_id = IdOnShard("cancelled", 0);
  std::string canceller_id = IdOnShard("canceller", 1);
  ASSERT_TRUE(
      via_b().start_workflow("Counter", {.id = target_id, .task_queue = "a-greetings"}).ok());
  ASSERT_TRUE(
      via_a()
          .start_workflow("Canceller", {.id = canceller_id, .task_queue = "a-greetings"}, target_id)
          .ok());
  EXPECT_EQ(WaitClosed(via_a(), canceller_id), WORKFLOW_EXECUTION_STATUS_COMPLETED);
  EXPECT_EQ(WaitClosed(via_a(), target_id), WORKFLOW_EXECUTION_STATUS_CANCELED);
}

// A parent on B ends; its close policy terminates its child on A.
TEST_F(ClusterTest, ParentClosePolicyTerminatesAChildOnTheOtherNode) {
  StartWorker(via_a(), "a-greetings");
  std::string parent_id = IdOnShard("abandoner", 1);
  std::string child_id = IdOnShard("abandoned", 0);
  ASSERT_TRUE(
      via_a()
          .start_workflow("Abandoner", {.id = parent_id, .task_queue = "a-greetings"}, child_id)
          .ok());
  ASSERT_EQ(WaitClosed(via_a(), parent_id), WORKFLOW_EXECUTION_STATUS_COMPLETED);
  EXPECT_EQ(WaitClosed(via_b(), child_id), WORKFLOW_EXECUTION_STATUS_TERMINATED);
}

// A schedule that A runs (its id's shard is A's) starts a workflow whose shard is B's.
TEST_F(ClusterTest, ScheduleStartsAWorkflowOnTheOtherNode) {
  namespace wfs = temporal::api::workflowservice::v1;
  StartWorker(via_b(), "a-greetings");
  std::string schedule_id = IdOnShard("schedule", 0);
  std::string workflow_id = IdOnShard("scheduled", 1);
  wfs::CreateScheduleRequest request;
  request.set_namespace_("default");
  request.set_schedule_id(schedule_id);
  request.set_request_id("create-" + schedule_id);
  auto* schedule = request.mutable_schedule();
  schedule->mutable_spec()->add_interval()->mutable_interval()->set_seconds(3600);
  auto* action = schedule->mutable_action()->mutable_start_workflow();
  action->set_workflow_id(workflow_id);
  action->mutable_workflow_type()->set_name("Scheduled");
  action->mutable_task_queue()->set_name("a-greetings");
  schedule->mutable_policies()->set_keep_original_workflow_id(true);
  request.mutable_initial_patch()->mutable_trigger_immediately();
  wfs::CreateScheduleResponse response;
  grpc::ClientContext context;
  auto status = via_a().stub().CreateSchedule(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(WaitClosed(via_a(), workflow_id), WORKFLOW_EXECUTION_STATUS_COMPLETED);
  auto result = via_a().get_handle(workflow_id).result<std::string>();
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(*result, "scheduled run");
}

class ClusterDownNodeTest : public ClusterTest {
 protected:
  void ConfigureShards() override { map_.shard_overrides[2] = map_.down; }
};

// Work owned by no live node, or by a node that is down, is refused with UNAVAILABLE at once.
TEST_F(ClusterDownNodeTest, WorkOfNoLiveNodeIsUnavailableNotAHang) {
  namespace wfs = temporal::api::workflowservice::v1;
  const auto began = std::chrono::steady_clock::now();
  {
    wfs::PollActivityTaskQueueRequest request;
    request.set_namespace_("default");
    request.mutable_task_queue()->set_name("nobody-queue");
    wfs::PollActivityTaskQueueResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 30s);
    auto status = via_b().stub().PollActivityTaskQueue(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_NE(status.error_message().find("no live node serves task queue nobody-queue"),
              std::string::npos)
        << status.error_message();
  }
  {
    wfs::PollWorkflowTaskQueueRequest request;
    request.set_namespace_("default");
    request.mutable_task_queue()->set_name("down-queue");
    wfs::PollWorkflowTaskQueueResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 30s);
    auto status = via_a().stub().PollWorkflowTaskQueue(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_NE(status.error_message().find(map_.down.internal_address), std::string::npos)
        << status.error_message();
  }
  {
    std::string id = IdOnShard("on-the-down-node", 2);
    wfs::StartWorkflowExecutionRequest request;
    request.set_namespace_("default");
    request.set_workflow_id(id);
    request.mutable_workflow_type()->set_name("Greeting");
    request.mutable_task_queue()->set_name("a-greetings");
    request.set_request_id("r-" + id);
    wfs::StartWorkflowExecutionResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 30s);
    auto status = via_b().stub().StartWorkflowExecution(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - began, 20s);
  // The nodes still serve what they own.
  StartWorker(via_a(), "a-greetings");
  std::string id = IdOnShard("still-served", 1);
  auto result = via_b().execute_workflow<std::string>("Greeting",
                                                      {.id = id, .task_queue = "a-greetings"}, id);
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(*result, "Hello, " + id + "!");
}

class ClusterParkingTest : public ClusterTest {
 protected:
  void ConfigureShards() override {
    map_.shard_overrides[2] = map_.down;
    failures_before_parking_ = 1;
  }
};

// A task parked on B (its signal's target is on the down node) is listed and retried through A;
// the down node, which cannot answer, is left out.
TEST_F(ClusterParkingTest, ParkedTasksOfEveryNodeAreListedAndRetriedThroughAny) {
  StartWorker(via_a(), "a-greetings");
  std::string signaller_id = IdOnShard("stuck-signaller", 1);
  std::string target_id = IdOnShard("on-the-down-node", 2);
  ASSERT_TRUE(
      via_a()
          .start_workflow("Signaller", {.id = signaller_id, .task_queue = "a-greetings"}, target_id)
          .ok());
  int64_t task_id = 0;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (task_id == 0 && std::chrono::steady_clock::now() < deadline) {
    eon::v1::ListParkedTasksResponse listed;
    auto status = CallAdmin(via_a(), "ListParkedTasks", eon::v1::ListParkedTasksRequest(), &listed);
    ASSERT_TRUE(status.ok()) << status.error_message();
    for (const auto& task : listed.tasks()) {
      if (task.workflow_id() == signaller_id) {
        EXPECT_EQ(task.task_type(), "HISTORY_TASK_TYPE_SIGNAL_EXTERNAL");
        EXPECT_NE(task.last_error().find(map_.down.internal_address), std::string::npos)
            << task.last_error();
        task_id = task.task_id();
      }
    }
    if (task_id == 0) std::this_thread::sleep_for(200ms);
  }
  ASSERT_NE(task_id, 0) << "the task parked on B was not listed through A";
  eon::v1::RetryParkedTasksRequest retry;
  retry.add_task_ids(task_id);
  eon::v1::RetryParkedTasksResponse retried;
  auto status = CallAdmin(via_a(), "RetryParkedTasks", retry, &retried);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(retried.retried(), 1);
}

}  // namespace
}  // namespace eon
