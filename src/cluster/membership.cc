#include "cluster/membership.h"

#include <algorithm>

#include "common/hash.h"
#include "common/log.h"

namespace eon::cluster {

namespace {

int64_t Nanos(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// FNV-1a over the node's name and the key, then a 64-bit finalizer (splitmix64's), so that
// names and keys that differ in one character still get unrelated weights.
uint64_t Weight(std::string_view node, std::string_view key) {
  uint64_t h = Fnv1a().Add(node).Add(std::string_view("\0", 1)).Add(key).value();
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

std::string Names(const std::vector<Node>& nodes) {
  std::string out;
  for (const auto& node : nodes) out += (out.empty() ? "" : ", ") + node.name;
  return out.empty() ? "none" : out;
}

}  // namespace

Node RendezvousOwner(const std::vector<Node>& live, std::string_view key) {
  const Node* best = nullptr;
  uint64_t best_weight = 0;
  for (const auto& node : live) {
    const uint64_t weight = Weight(node.name, key);
    // Ties (vanishingly rare) go to the smaller name, so every node decides alike.
    if (!best || weight > best_weight || (weight == best_weight && node.name < best->name)) {
      best = &node;
      best_weight = weight;
    }
  }
  return best ? *best : Node{};
}

std::string ShardKey(int32_t shard_id) { return "shard/" + std::to_string(shard_id); }

std::string QueueKey(const std::string& namespace_id, const std::string& queue_name) {
  return "queue/" + namespace_id + "/" + queue_name;
}

Membership::Membership(persistence::Store& store, Env& env, Node self, MembershipOptions options)
    : store_(store), env_(env), self_(std::move(self)), options_(options) {}

Result<std::unique_ptr<Membership>> Membership::Start(persistence::Store& store, Env& env,
                                                      Node self, MembershipOptions options) {
  if (self.name.empty()) return FailedPrecondition("a cluster node needs a name (--node-name)");
  if (options.heartbeat_interval.count() <= 0 || options.lease <= options.heartbeat_interval) {
    return InvalidArgument("the membership lease must be longer than the heartbeat interval");
  }
  auto membership =
      std::unique_ptr<Membership>(new Membership(store, env, std::move(self), options));
  EON_RETURN_IF_ERROR(membership->Heartbeat());
  LOG_INFO("node " << membership->self_.name
                   << " joined; live nodes: " << Names(membership->LiveNodes()));
  auto loop = env.StartLoop(
      "membership",
      [raw = membership.get()]() -> Duration {
        Status beat = raw->Heartbeat();
        if (!beat.ok()) LOG_WARN("heartbeat failed: " << beat.message());
        return raw->options_.heartbeat_interval;
      },
      options.heartbeat_interval);
  {
    std::lock_guard lock(membership->loop_mutex_);
    membership->loop_ = std::move(loop);
  }
  return membership;
}

Membership::~Membership() {
  StopHeartbeating();
  Status left = store_.DeleteMember(self_.name);
  if (!left.ok()) {
    LOG_WARN(
        "cannot delete this node's membership row (the others take its shards "
        "once its lease expires): "
        << left.message());
  }
}

void Membership::StopHeartbeating() {
  std::unique_ptr<Env::Loop> loop;
  {
    std::lock_guard lock(loop_mutex_);
    loop = std::move(loop_);
  }
  loop.reset();  // outside the lock: waits for a heartbeat in progress
}

std::vector<Node> Membership::LiveLocked(int64_t now_ns) const {
  std::vector<Node> live;
  for (const auto& row : rows_) {
    if (row.lease_expiry_ns > now_ns) live.push_back({row.name, row.internal_address});
  }
  if (own_lease_expiry_ns_ > now_ns) live.push_back(self_);
  std::sort(live.begin(), live.end(), [](const Node& a, const Node& b) { return a.name < b.name; });
  return live;
}

Status Membership::Heartbeat() {
  const int64_t started_ns = Nanos(env_.clock().Now());
  const TimePoint expiry = env_.clock().Now() + options_.lease;
  Status put = store_.PutMember({self_.name, self_.internal_address, Nanos(expiry)});
  auto rows = store_.ListMembers();
  bool changed = false;
  bool lapsed = false;
  int64_t lapsed_ms = 0;
  std::vector<Node> live;
  {
    std::lock_guard lock(mutex_);
    if (put.ok() && own_lease_expiry_ns_ != 0 && own_lease_expiry_ns_ <= started_ns) {
      // The lease had lapsed before this row was written: the others counted this node dead.
      lease_epoch_.fetch_add(1, std::memory_order_acq_rel);
      lapsed_ms = (started_ns - own_lease_expiry_ns_) / 1'000'000;
      lapsed = true;
    }
    if (put.ok()) own_lease_expiry_ns_ = std::max(own_lease_expiry_ns_, Nanos(expiry));
    if (rows.ok()) {
      rows_.clear();
      for (auto& row : *rows) {
        if (row.name != self_.name) rows_.push_back(std::move(row));
      }
    }
    live = LiveLocked(Nanos(env_.clock().Now()));
    changed = live != live_;
    if (changed) live_ = live;
  }
  if (lapsed) {
    LOG_WARN("this node's membership lease lapsed " << lapsed_ms
                                                    << " ms ago (it could not heartbeat): it gives "
                                                       "up the shards it held and takes its own "
                                                       "again");
  }
  if (changed || lapsed) {
    if (changed) LOG_INFO("live nodes now " << Names(live));
    std::lock_guard lock(subscribers_mutex_);
    for (const auto& [id, fn] : subscribers_) fn();
  }
  if (!put.ok()) return put;
  return rows.status();
}

Node Membership::Owner(std::string_view key) const {
  std::lock_guard lock(mutex_);
  if (own_lease_expiry_ns_ > Nanos(env_.clock().Now())) return RendezvousOwner(live_, key);
  // This node's lease lapsed (it could not heartbeat): the others count it dead by now.
  std::vector<Node> others;
  for (const auto& node : live_) {
    if (node.name != self_.name) others.push_back(node);
  }
  return RendezvousOwner(others, key);
}

Node Membership::ShardOwner(int32_t shard_id) const { return Owner(ShardKey(shard_id)); }

Node Membership::QueueOwner(const std::string& namespace_id, const std::string& queue_name) const {
  return Owner(QueueKey(namespace_id, queue_name));
}

std::vector<Node> Membership::LiveNodes() const {
  std::lock_guard lock(mutex_);
  return live_;
}

int Membership::Subscribe(std::function<void()> changed) {
  std::lock_guard lock(subscribers_mutex_);
  const int id = next_subscriber_++;
  subscribers_[id] = std::move(changed);
  return id;
}

void Membership::Unsubscribe(int id) {
  std::lock_guard lock(subscribers_mutex_);
  subscribers_.erase(id);
}

}  // namespace eon::cluster
