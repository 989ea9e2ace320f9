// eon_cluster_node: one node of a two-node cluster in which node "owner" owns every shard and
// task queue and node "relay" owns nothing, so every call made to the relay is forwarded to the
// owner. For measuring the forwarding hop with `eon bench` (scripts/bench-forwarding.sh) until
// `eon server start` runs real membership.
//
//   eon_cluster_node --name owner|relay --db PATH --port P --internal-port I --owner ADDR
//
// ADDR is the owner's internal address ("127.0.0.1:I" of the owner). Runs until SIGINT/SIGTERM.
#include <csignal>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

#include "cluster/ownership.h"
#include "server/server.h"

namespace {

class OwnerOwnsAll final : public eon::cluster::Ownership {
 public:
  OwnerOwnsAll(eon::cluster::Node self, eon::cluster::Node owner)
      : self_(std::move(self)), owner_(std::move(owner)) {}
  const eon::cluster::Node& self() const override { return self_; }
  eon::cluster::Node ShardOwner(int32_t) const override { return owner_; }
  eon::cluster::Node QueueOwner(const std::string&, const std::string&) const override {
    return owner_;
  }

 private:
  const eon::cluster::Node self_, owner_;
};

volatile std::sig_atomic_t stop = 0;

}  // namespace

int main(int argc, char** argv) {
  std::string name, db, owner;
  int port = -1, internal_port = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--name")
      name = value;
    else if (flag == "--db")
      db = value;
    else if (flag == "--owner")
      owner = value;
    else if (flag == "--port")
      port = std::stoi(value);
    else if (flag == "--internal-port")
      internal_port = std::stoi(value);
  }
  if ((name != "owner" && name != "relay") || db.empty() || owner.empty() || port < 0 ||
      internal_port < 0) {
    std::cerr << "usage: eon_cluster_node --name owner|relay --db PATH --port P "
                 "--internal-port I --owner ADDR\n";
    return 2;
  }
  eon::server::ServerOptions options;
  options.port = port;
  options.db_path = db;
  options.node_name = name;
  options.internal_port = internal_port;
  eon::cluster::Node owner_node{"owner", owner};
  eon::cluster::Node self =
      name == "owner" ? owner_node
                      : eon::cluster::Node{"relay", "127.0.0.1:" + std::to_string(internal_port)};
  options.ownership = std::make_shared<OwnerOwnsAll>(self, owner_node);
  auto server = eon::server::Server::Start(options);
  if (!server.ok()) {
    std::cerr << "eon_cluster_node: " << server.status().message() << "\n";
    return 1;
  }
  std::cout << name << " serving on " << (*server)->address() << ", internal "
            << (*server)->internal_address() << std::endl;
  std::signal(SIGINT, [](int) { stop = 1; });
  std::signal(SIGTERM, [](int) { stop = 1; });
  while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  (*server)->Shutdown();
  return 0;
}
