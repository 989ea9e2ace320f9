// cluster: which node owns what, when several Eon nodes share one database (DESIGN.md section 8).
//
// History shards and task queues each have one owner among the live nodes. A node that is asked
// for something it does not own forwards the call to the owner's internal port. Ownership is what
// this node last read of the membership: it can be stale by up to one heartbeat. That is safe
// because a node that lost a shard can no longer write to it (range_id fencing): its writes fail
// with UNAVAILABLE and the caller retries, by then against the new owner.
//
// SingleNode is the one-process server (`eon server start-dev`): it owns everything. The
// several-node implementation (membership rows, rendezvous hashing) lives beside it.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace eon::cluster {

struct Node {
  std::string name;              // --node-name; unique among the live nodes
  std::string internal_address;  // "ip:port" of its internal gRPC server; "" for a lone node
  bool operator==(const Node&) const = default;
};

class Ownership {
 public:
  virtual ~Ownership() = default;
  virtual const Node& self() const = 0;
  // The node that owns history shard `shard_id` (in [0, shard count)).
  virtual Node ShardOwner(int32_t shard_id) const = 0;
  // The node that owns a task queue: its workflow and activity kinds and its sticky form go to
  // the same node, so a poll and the tasks added for it meet.
  virtual Node QueueOwner(const std::string& namespace_id, const std::string& queue_name) const = 0;
  // The nodes this node counts live now (itself among them while its lease holds), for the calls
  // that every node must see (ShutdownWorker: a worker's polls wait on the owners of its queues).
  virtual std::vector<Node> LiveNodes() const { return {self()}; }
  // Moves on each time this node's own lease lapsed (paused, or cut off from the database past
  // its lease) and it heartbeat again: the others may have taken its shards and changed them
  // meanwhile, so what it held before is given up and taken again (with a new range_id) rather
  // than trusted, even when the shards are its own again by then.
  virtual uint64_t LeaseEpoch() const { return 0; }

  bool OwnsShard(int32_t shard_id) const { return ShardOwner(shard_id) == self(); }
  bool OwnsQueue(const std::string& namespace_id, const std::string& queue_name) const {
    return QueueOwner(namespace_id, queue_name) == self();
  }
};

// A lone node: it owns every shard and every task queue.
class SingleNode final : public Ownership {
 public:
  explicit SingleNode(Node self = {"local", ""}) : self_(std::move(self)) {}
  const Node& self() const override { return self_; }
  Node ShardOwner(int32_t) const override { return self_; }
  Node QueueOwner(const std::string&, const std::string&) const override { return self_; }

 private:
  Node self_;
};

}  // namespace eon::cluster
