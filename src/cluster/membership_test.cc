#include "cluster/membership.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "common/sim_env.h"
#include "persistence/fault_store.h"
#include "persistence/sqlite_store.h"

namespace eon::cluster {
namespace {

constexpr int kKeys = 3'000;

std::vector<Node> Nodes(std::initializer_list<const char*> names) {
  std::vector<Node> nodes;
  for (const char* name : names) nodes.push_back({name, std::string(name) + ":7234"});
  return nodes;
}

std::map<std::string, std::string> Assign(const std::vector<Node>& live) {
  std::map<std::string, std::string> owners;
  for (int key = 0; key < kKeys; ++key) {
    owners[ShardKey(key)] = RendezvousOwner(live, ShardKey(key)).name;
  }
  return owners;
}

TEST(Rendezvous, SpreadsKeysEvenlyOverTheLiveNodes) {
  for (const auto& live : {Nodes({"a", "b"}), Nodes({"node-1", "node-2", "node-3"}),
                           Nodes({"n1", "n2", "n3", "n4", "n5"})}) {
    std::map<std::string, int> counts;
    for (const auto& [key, owner] : Assign(live)) ++counts[owner];
    ASSERT_EQ(counts.size(), live.size());
    const double fair = static_cast<double>(kKeys) / live.size();
    for (const auto& [owner, count] : counts) {
      EXPECT_GT(count, fair * 0.85) << owner << " of " << live.size();
      EXPECT_LT(count, fair * 1.15) << owner << " of " << live.size();
    }
  }
  EXPECT_EQ(RendezvousOwner({}, ShardKey(0)), Node{});
}

// A node joining takes only keys for itself; a node leaving gives away only its own keys.
TEST(Rendezvous, AJoinOrALeaveMovesOnlyTheKeysOfThatNode) {
  const auto three = Assign(Nodes({"a", "b", "c"}));
  const auto four = Assign(Nodes({"a", "b", "c", "d"}));
  int moved = 0;
  for (const auto& [key, owner] : three) {
    if (four.at(key) != owner) {
      EXPECT_EQ(four.at(key), "d") << key << " moved between nodes that stayed";
      ++moved;
    }
  }
  EXPECT_GT(moved, kKeys / 4 * 0.85);
  EXPECT_LT(moved, kKeys / 4 * 1.15);
  const auto without_b = Assign(Nodes({"a", "c"}));
  for (const auto& [key, owner] : three) {
    if (owner != "b") EXPECT_EQ(without_b.at(key), owner) << key << " moved though b held it not";
    EXPECT_NE(without_b.at(key), "b");
  }
}

// Two nodes on one database, in simulated time: each sees the other; they agree on every
// owner; when one stops heartbeating, the other takes everything once the lease has passed
// (and not before), and hears of it.
class MembershipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = persistence::SqliteStore::Open({});
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(*store);
  }
  std::unique_ptr<Membership> Join(const std::string& name) {
    auto joined = Membership::Start(*store_, env_, {name, name + ":7234"}, options_);
    EXPECT_TRUE(joined.ok()) << joined.status().message();
    return joined.ok() ? std::move(*joined) : nullptr;
  }
  // Runs the simulation until virtual time reaches `until`.
  void RunUntil(TimePoint until) {
    while (env_.now() < until && env_.Step()) {
    }
  }
  // Runs until `done` or `limit` of virtual time; returns how long it took (or `limit`).
  Duration RunUntil(const std::function<bool()>& done, Duration limit) {
    const TimePoint start = env_.now();
    while (!done() && env_.now() - start < limit && env_.Step()) {
    }
    return env_.now() - start;
  }

  SimEnv env_{7, TimePoint(std::chrono::seconds(1'800'000'000))};
  MembershipOptions options_;  // 1 s heartbeat, 5 s lease
  std::unique_ptr<persistence::Store> store_;
};

TEST_F(MembershipTest, NodesSeeEachOtherAgreeOnOwnersAndTakeOverFromOneThatStops) {
  auto a = Join("a");
  auto b = Join("b");
  ASSERT_TRUE(a && b);
  int a_changes = 0;
  a->Subscribe([&] { ++a_changes; });
  RunUntil(env_.now() + std::chrono::seconds(3));
  ASSERT_EQ(a->LiveNodes(), (std::vector<Node>{a->self(), b->self()}));
  EXPECT_EQ(b->LiveNodes(), a->LiveNodes());
  std::set<std::string> owners;
  for (int32_t shard = 0; shard < 64; ++shard) {
    EXPECT_EQ(a->ShardOwner(shard), b->ShardOwner(shard)) << "shard " << shard;
    EXPECT_NE(a->OwnsShard(shard), b->OwnsShard(shard)) << "shard " << shard;
    owners.insert(a->ShardOwner(shard).name);
  }
  EXPECT_EQ(owners.size(), 2u) << "64 shards over two nodes all went to one";
  EXPECT_EQ(a->QueueOwner("ns", "orders"), b->QueueOwner("ns", "orders"));

  // b stops heartbeating (dead or paused): a takes everything once b's lease expires.
  const int changes_before = a_changes;
  b->StopHeartbeating();
  const TimePoint stopped = env_.now();
  const Duration takeover =
      RunUntil([&] { return a->LiveNodes().size() == 1; }, std::chrono::seconds(30));
  EXPECT_EQ(a->LiveNodes(), std::vector<Node>{a->self()});
  // Not before the lease (b's last heartbeat was at most one interval before it stopped), and
  // within the lease plus a heartbeat.
  EXPECT_GE(env_.now() - stopped, options_.lease - options_.heartbeat_interval);
  EXPECT_LE(takeover, options_.lease + options_.heartbeat_interval);
  EXPECT_EQ(a_changes, changes_before + 1);
  for (int32_t shard = 0; shard < 64; ++shard) EXPECT_TRUE(a->OwnsShard(shard));
  std::printf("simulated takeover after a node stopped heartbeating: %.1f s (lease %.0f s)\n",
              std::chrono::duration<double>(takeover).count(),
              std::chrono::duration<double>(options_.lease).count());

  // b resumes: it is live again (to both), and gets its share back, in a new lease epoch (what
  // it held before is not to be trusted: a took it meanwhile). a's epoch never moved.
  const uint64_t b_epoch = b->LeaseEpoch();
  int b_changes = 0;
  b->Subscribe([&] { ++b_changes; });
  ASSERT_TRUE(b->Heartbeat().ok());
  EXPECT_EQ(b->LeaseEpoch(), b_epoch + 1);
  EXPECT_GE(b_changes, 1) << "b's subscribers hear that its lease had lapsed";
  EXPECT_EQ(a->LeaseEpoch(), 0u);
  RunUntil(env_.now() + std::chrono::seconds(2));
  EXPECT_EQ(a->LiveNodes().size(), 2u);
  EXPECT_EQ(a->LiveNodes(), b->LiveNodes());
}

TEST_F(MembershipTest, ANodeThatLeavesIsGoneAtTheNextHeartbeat) {
  auto a = Join("a");
  auto b = Join("b");
  ASSERT_TRUE(a && b);
  RunUntil(env_.now() + std::chrono::seconds(2));
  ASSERT_EQ(a->LiveNodes().size(), 2u);
  b.reset();  // a graceful stop deletes its row
  const Duration gone =
      RunUntil([&] { return a->LiveNodes().size() == 1; }, std::chrono::seconds(30));
  EXPECT_LE(gone, options_.heartbeat_interval);
  auto rows = store_->ListMembers();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].name, "a");
}

// A node that cannot write its row claims nothing once its own lease has passed, so it does
// not go on believing it owns what the others have taken; it is back once its writes work.
TEST_F(MembershipTest, ANodeCutOffFromTheDatabaseOwnsNothingOnceItsLeasePassed) {
  persistence::FaultStore cut_off(
      *store_, [this] { return env_.Random(); }, [this](Duration d) { env_.Sleep(d); }, [] {});
  auto a_joined = Membership::Start(cut_off, env_, {"a", "a:7234"}, options_);
  ASSERT_TRUE(a_joined.ok()) << a_joined.status().message();
  auto a = std::move(*a_joined);
  auto b = Join("b");
  ASSERT_TRUE(b);
  RunUntil(env_.now() + std::chrono::seconds(2));
  ASSERT_EQ(a->LiveNodes().size(), 2u);

  persistence::FaultOptions failing;
  failing.write_failure_per_mille = 1'000;
  cut_off.set_options(failing);
  const Duration lapsed = RunUntil([&] { return a->LiveNodes() == std::vector<Node>{b->self()}; },
                                   std::chrono::seconds(30));
  EXPECT_LE(lapsed, options_.lease + options_.heartbeat_interval);
  for (int32_t shard = 0; shard < 32; ++shard) EXPECT_FALSE(a->OwnsShard(shard));
  RunUntil([&] { return b->LiveNodes().size() == 1; }, std::chrono::seconds(30));
  for (int32_t shard = 0; shard < 32; ++shard) EXPECT_TRUE(b->OwnsShard(shard));

  const uint64_t a_epoch = a->LeaseEpoch();
  cut_off.set_options({});
  RunUntil(env_.now() + std::chrono::seconds(2));
  EXPECT_EQ(a->LiveNodes().size(), 2u);
  EXPECT_EQ(a->LeaseEpoch(), a_epoch + 1) << "a heartbeat again after its lease lapsed";
  EXPECT_EQ(a->LiveNodes(), b->LiveNodes());
}

TEST_F(MembershipTest, RefusesANodeWithoutANameAndALeaseNoLongerThanAHeartbeat) {
  EXPECT_EQ(Membership::Start(*store_, env_, {"", ""}, options_).status().code(),
            StatusCode::FAILED_PRECONDITION);
  MembershipOptions bad;
  bad.lease = bad.heartbeat_interval;
  EXPECT_EQ(Membership::Start(*store_, env_, {"c", ""}, bad).status().code(),
            StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace eon::cluster
