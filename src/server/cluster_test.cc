// The server's cluster wiring (issue 15): with an internal port and a database file, a server
// heartbeats a membership row and leaves it when it stops; without one it stays a lone node.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "persistence/sqlite_store.h"
#include "server/server.h"

namespace eon::server {
namespace {

class ServerClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() /
            ("eon-cluster-test-" + std::to_string(::getpid())))
               .string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  ServerOptions Options(const std::string& db, const std::string& name, int internal_port) {
    ServerOptions options;
    options.port = 0;
    options.db_path = dir_ + "/" + db;
    options.synchronous_full = false;
    options.node_name = name;
    options.internal_port = internal_port;
    options.request_threads = 2;
    options.task_threads = 2;
    return options;
  }
  std::vector<std::string> Members(const std::string& db) {
    auto store = persistence::SqliteStore::Open({.path = dir_ + "/" + db});
    EXPECT_TRUE(store.ok()) << store.status().message();
    if (!store.ok()) return {};
    auto rows = (*store)->ListMembers();
    EXPECT_TRUE(rows.ok());
    std::vector<std::string> names;
    for (const auto& row : *rows) names.push_back(row.name + "@" + row.internal_address);
    return names;
  }

  std::string dir_;
};

TEST_F(ServerClusterTest, ClusterNodesHeartbeatARowAndLeaveItWhenTheyStop) {
  auto a = Server::Start(Options("shared.db", "node-a", 17001));
  ASSERT_TRUE(a.ok()) << a.status().message();
  auto b = Server::Start(Options("shared.db", "node-b", 17002));
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(Members("shared.db"),
            (std::vector<std::string>{"node-a@127.0.0.1:17001", "node-b@127.0.0.1:17002"}));
  (*b)->Shutdown();
  EXPECT_EQ(Members("shared.db"), std::vector<std::string>{"node-a@127.0.0.1:17001"});
  (*a)->Shutdown();
  EXPECT_TRUE(Members("shared.db").empty());
}

TEST_F(ServerClusterTest, ALoneServerWritesNoMembershipRow) {
  auto lone = Server::Start(Options("lone.db", "local", -1));
  ASSERT_TRUE(lone.ok()) << lone.status().message();
  EXPECT_TRUE(Members("lone.db").empty());
  (*lone)->Shutdown();
}

}  // namespace
}  // namespace eon::server
