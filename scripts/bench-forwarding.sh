#!/usr/bin/env bash
# Measures the cost of the forwarding hop between nodes: single-activity workflows with
# `eon bench` against the node that owns everything, then the same through a node that owns
# nothing and forwards every call (build/eon_cluster_node, tests/cluster/cluster_node.cc).
# Both nodes share one database (a SQLite file in a temporary directory, or the PostgreSQL URL in
# EON_BENCH_DATABASE).
#
#   scripts/bench-forwarding.sh [workflows (default 400)] [concurrency (default 32)]
set -euo pipefail
cd "$(dirname "$0")/.."
workflows="${1:-400}"
concurrency="${2:-32}"
build="${EON_BUILD_DIR:-build}"
dir="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
db="${EON_BENCH_DATABASE:-$dir/eon.db}"
owner_port=$(free_port); owner_internal=$(free_port)
relay_port=$(free_port); relay_internal=$(free_port)
"$build/eon_cluster_node" --name owner --db "$db" --port "$owner_port" \
  --internal-port "$owner_internal" --owner "127.0.0.1:$owner_internal" >"$dir/owner.log" 2>&1 &
pids+=($!)
sleep 2
"$build/eon_cluster_node" --name relay --db "$db" --port "$relay_port" \
  --internal-port "$relay_internal" --owner "127.0.0.1:$owner_internal" >"$dir/relay.log" 2>&1 &
pids+=($!)
sleep 2
for target in "owner:$owner_port" "relay:$relay_port"; do
  name="${target%%:*}"; port="${target##*:}"
  echo "== through the $name node (127.0.0.1:$port)"
  "$build/eon" bench --address "127.0.0.1:$port" --scenario activity \
    --workflows "$workflows" --concurrency "$concurrency"
done
