#!/usr/bin/env bash
# eon bench on PostgreSQL (issue 15's figures): one node, then three nodes on one database, each
# with 8 shards, single-activity and three-activity workflows, 16 in flight. The bench targets
# node1 (the others are reached by forwarding). Prints the bench's line, then the CPU of all Eon
# processes per workflow (from /proc) and pg_stat_database's commits per workflow (reads,
# heartbeats and the warm-up included). Run it beside a throwaway PostgreSQL:
#   scripts/with-postgres.sh scripts/bench-postgres.sh
set -uo pipefail
cd "$(dirname "$0")/.."
EON=${EON:-$PWD/build/eon}
URL=$EON_TEST_POSTGRES_URL
base=${URL%/postgres}
psql_() { psql "$URL" -Atc "$1"; }
cpu_of() { local t=0; for p in "$@"; do t=$(( t + $(awk '{print $14+$15}' /proc/$p/stat) )); done; echo $t; }
xacts() { psql_ "SELECT xact_commit FROM pg_stat_database WHERE datname = '$1'"; }
wait_port() { for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.2; done; return 1; }
run() { # run <database name> <node count>
  local db=$1; shift
  local pids=() ports=() i=0
  psql_ "CREATE DATABASE $db" >/dev/null
  local n=$1; shift
  for i in $(seq 1 $n); do
    local port=$((27230 + i*10))
    if [ "$n" = 1 ]; then extra=(); else extra=(--internal-port $((port+1))); fi
    $EON server start --database "$base/$db" --port $port --metrics-port $((port+2)) --node-name node$i \
      --num-shards 8 "${extra[@]}" --log-level warn > /tmp/pgbench-node$i.log 2>&1 &
    pids+=($!); ports+=($port)
    wait_port $port || { echo "node$i did not start"; cat /tmp/pgbench-node$i.log; }
  done
  sleep 7  # membership settles (lease 5 s)
  for scenario in activity activities3; do
    local c0 x0; c0=$(cpu_of "${pids[@]}"); x0=$(xacts $db)
    local out; out=$($EON bench --address 127.0.0.1:${ports[0]} --metrics-address 127.0.0.1:$((ports[0]+2)) \
      --scenario $scenario --workflows 1000 --concurrency 16 2>&1 | tail -1)
    local c1 x1; c1=$(cpu_of "${pids[@]}"); x1=$(xacts $db)
    echo "nodes=$n $out"
    awk -v cpu=$((c1 - c0)) -v tx=$((x1 - x0)) -v hz="$(getconf CLK_TCK)" 'BEGIN {
      printf "  all nodes: server_cpu_ms/wf=%.2f pg_xact_commits/wf=%.1f (1100 wf, warm-up included)\n",
        cpu * 1000 / hz / 1100, tx / 1100 }'
  done
  kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null
}
run bench1 1
run bench3 3
