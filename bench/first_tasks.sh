#!/usr/bin/env bash
# Issue 17's check, by hand (too heavy for CI): a fresh `eon server start-dev` with a database
# file, one C++ SDK worker, and N workflows (16 starts at a time) that each wait an hour on a
# timer. Every workflow must run its first workflow task (the run fails if none runs for 60 s
# while some wait); the database must then hold no workflow whose history stops at
# WorkflowTaskScheduled and no backlog task.
#
#   bench/first_tasks.sh [workflows=20000] [build dir=build]
set -euo pipefail
cd "$(dirname "$0")/.."
workflows=${1:-20000}
build=${2:-build}
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
  shuf -i 20000-60000 -n 1)
"$build/eon" server start-dev --db-filename "$dir/eon.db" --port "$port" --headless >"$dir/server.log" 2>&1 &
server=$!
keep=0  # on failure the database and the server log stay for a look
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; [ $keep = 1 ] && echo "kept $dir" || rm -rf "$dir"' EXIT
for _ in $(seq 100); do
  grep -q "listening\|serving\|started" "$dir/server.log" 2>/dev/null && break
  sleep 0.1
done
status=0
"$build/eon" bench --address "127.0.0.1:$port" --open-timers "$workflows" --concurrency 16 ||
  status=$?
stuck=$(sqlite3 "$dir/eon.db" "SELECT COUNT(*) FROM (SELECT run_id, MAX(event_id) AS last
  FROM history_events GROUP BY run_id) WHERE last <= 2")
runs=$(sqlite3 "$dir/eon.db" "SELECT COUNT(DISTINCT run_id) FROM history_events")
backlog=$(sqlite3 "$dir/eon.db" "SELECT COUNT(*) FROM task_queue_tasks")
faults=$(grep -c "matching fault" "$dir/server.log" || true)
echo "database: $runs runs, $stuck with only WorkflowExecutionStarted and WorkflowTaskScheduled," \
  "$backlog backlog tasks; $faults matching fault(s) logged"
if [ "$status" -eq 0 ] && [ "$stuck" -eq 0 ] && [ "$backlog" -eq 0 ] && [ "$runs" -eq "$workflows" ]; then
  exit 0
fi
keep=1
exit 1
