#!/usr/bin/env bash
# Keeps the README's C++ example true: extracts it, builds it against this build's SDK, and
# runs it against a fresh `eon server start-dev`, expecting "Hello, World!".
# Usage: readme_example_test.sh <build-dir>
set -euo pipefail
build=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The first ```cpp block of the "The C++ SDK" section.
awk '/^## The C\+\+ SDK/{s=1} s&&/^```cpp/{c=1;next} c&&/^```/{exit} c{print}' \
  "$root/README.md" > "$work/example.cc"
lines=$(wc -l < "$work/example.cc")
[ "$lines" -gt 10 ] || { echo "README example not found"; exit 1; }
[ "$lines" -lt 40 ] || { echo "README example has $lines lines; keep it under 40"; exit 1; }

# A free port: try random ones until the server starts (it refuses a port that is taken).
for _ in 1 2 3 4 5 6 7 8; do
  port=$(shuf -i 20000-60999 -n 1)
  "$build/eon" server start-dev --headless --ip 127.0.0.1 --port "$port" --log-level warn &
  server_pid=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break 2
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null
  server_pid=
done
[ -n "$server_pid" ] || { echo "eon server did not start"; exit 1; }

sed -i "s/localhost:7233/127.0.0.1:$port/" "$work/example.cc"
launcher=$(command -v ccache || true)
$launcher g++ -std=c++20 -O0 -I"$root/sdk/include" -isystem "$build/gen" "$work/example.cc" \
  "$build/sdk/libeon_sdk.a" "$build/libtemporal_api.a" \
  $(pkg-config --libs grpc++ protobuf) -lpthread -o "$work/example"

out=$(timeout 60 "$work/example")
echo "$out"
[ "$out" = "Hello, World!" ]
