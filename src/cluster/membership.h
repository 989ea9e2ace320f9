// cluster::Membership: who owns what when several Eon nodes share one database (DESIGN.md
// section 8), decided by the nodes alone through the database.
//
// Every node heartbeats a row of its own (name, internal address, lease expiry) and reads every
// row. A node is live while its lease has not expired; this node counts itself live only while
// the lease it last wrote is unexpired (a node that cannot reach the database stops claiming
// anything once the others stop seeing it). Shards and task queues go to live nodes by
// rendezvous (highest-random-weight) hashing: each key goes to the live node whose hash of
// (node name, key) is highest, so the load is spread evenly, and a node joining or leaving moves
// only the keys it takes or held.
//
// The view is what this node last read: other nodes may disagree for up to one heartbeat. That
// is safe: a shard's owner writes under its range_id, and a node that takes a shard bumps it, so
// the writes of a node that still thinks it owns the shard fail (persistence::ShardOwnershipLost).
//
// Liveness compares lease expiries, written with each node's wall clock (Env::clock()), to this
// node's wall clock: nodes' clocks must agree to well within the lease (NTP does).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/ownership.h"
#include "common/env.h"
#include "common/status.h"
#include "persistence/store.h"

namespace eon::cluster {

struct MembershipOptions {
  Duration heartbeat_interval = std::chrono::seconds(1);  // how often the row is written and read
  // How long a row written now keeps its node live. A node that stops heartbeating (dead,
  // paused, cut off from the database) loses its shards after at most this plus one heartbeat.
  Duration lease = std::chrono::seconds(5);
};

// The node among `live` that owns `key` by rendezvous hashing; Node{} when `live` is empty.
Node RendezvousOwner(const std::vector<Node>& live, std::string_view key);
// The keys Ownership hashes: one per shard, one per task queue (its kinds and sticky form
// alike; the caller names the queue).
std::string ShardKey(int32_t shard_id);
std::string QueueKey(const std::string& namespace_id, const std::string& queue_name);

class Membership final : public Ownership {
 public:
  // Writes this node's row (so it is live at once), reads the others, and starts heartbeating on
  // an Env loop. FAILED_PRECONDITION when self has no name; the store's error when the first
  // heartbeat fails. `store` and `env` must outlive the Membership.
  static Result<std::unique_ptr<Membership>> Start(persistence::Store& store, Env& env, Node self,
                                                   MembershipOptions options = {});
  // Stops heartbeating and deletes this node's row, so the others take its shards over at their
  // next heartbeat instead of after the lease.
  ~Membership() override;

  const Node& self() const override { return self_; }
  // By rendezvous hashing over the live nodes of the last heartbeat, leaving this node out once
  // its own lease has passed (it could not heartbeat: the others count it dead). Node{} (no
  // name) when no node is live in this node's view.
  Node ShardOwner(int32_t shard_id) const override;
  Node QueueOwner(const std::string& namespace_id, const std::string& queue_name) const override;

  // The live nodes as last read, by name.
  std::vector<Node> LiveNodes() const override;
  uint64_t LeaseEpoch() const override { return lease_epoch_.load(std::memory_order_acquire); }
  // `changed` runs (on the heartbeat loop's thread, so it must be short: wake a worker of one's
  // own) after each heartbeat that changed the live nodes, and so maybe the assignment. Returns
  // an id for Unsubscribe. Subscribe before anything relies on it; Unsubscribe waits for a call
  // in progress.
  int Subscribe(std::function<void()> changed);
  void Unsubscribe(int id);

  // One heartbeat (the loop runs it; tests call it directly): writes this node's row with a
  // lease from now, reads every row, and tells the subscribers if the live nodes changed.
  Status Heartbeat();
  // Stops the heartbeat loop, leaving the row to expire as a dead node's would (tests: a node
  // paused or cut off). Heartbeat still works when called.
  void StopHeartbeating();

 private:
  Membership(persistence::Store& store, Env& env, Node self, MembershipOptions options);
  // The live nodes of `rows` at `now_ns`, with self counted as its own last written lease says.
  // REQUIRES: mutex_ held.
  std::vector<Node> LiveLocked(int64_t now_ns) const;
  Node Owner(std::string_view key) const;

  persistence::Store& store_;
  Env& env_;
  const Node self_;
  const MembershipOptions options_;

  mutable std::mutex mutex_;
  std::vector<persistence::MemberRow> rows_;  // the others' rows as last read; guarded by mutex_
  int64_t own_lease_expiry_ns_ = 0;           // of the last row written; guarded by mutex_
  std::atomic<uint64_t> lease_epoch_{0};      // see LeaseEpoch; written under mutex_
  std::vector<Node> live_;                    // as of the last heartbeat; guarded by mutex_

  std::mutex subscribers_mutex_;  // held while subscribers run, so Unsubscribe can wait
  std::map<int, std::function<void()>> subscribers_;  // guarded by subscribers_mutex_
  int next_subscriber_ = 1;                           // guarded by subscribers_mutex_

  std::mutex loop_mutex_;
  std::unique_ptr<Env::Loop> loop_;  // guarded by loop_mutex_
};

}  // namespace eon::cluster
