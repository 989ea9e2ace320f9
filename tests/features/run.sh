#!/usr/bin/env bash
# Runs Temporal's public features suite (its TypeScript harness) against an Eon server, the
# compatibility bar (see README.md here). Not part of .ci/run: the suite is not on the npm
# registry, so it needs a checkout of temporalio/features.
#
#   tests/features/run.sh <features-checkout> [feature-dir...]
#
# With no feature dirs, runs every TypeScript feature. EON_BIN names the server binary
# (default build/eon); it is started on a fresh database in a temporary directory.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
features="$(cd "${1:?usage: run.sh <features-checkout> [feature-dir...]}" && pwd)"
shift
eon="${EON_BIN:-$root/build/eon}"
work="$(mktemp -d /tmp/eon-features.XXXXXX)"
port="${EON_FEATURES_PORT:-17933}"
proxy_port="${EON_FEATURES_PROXY_PORT:-17980}"

# The harness builds as the Go runner's generated TypeScript program would, with npm and one
# protobufjs (the pin the generator writes breaks SDK 1.24).
program="$features/program-ts"
mkdir -p "$program"
cp "$here/package.json" "$here/package-lock.json" "$here/tsconfig.json" "$program/"
rm -rf "$program/tslib" "$program"/*.tsbuildinfo  # a second build would read the first's output
(cd "$program" && npm ci --ignore-scripts --no-audit --no-fund >"$work/npm.log" 2>&1 &&
  npm run build >>"$work/npm.log" 2>&1) || { tail -30 "$work/npm.log"; exit 1; }

if [[ $# -eq 0 ]]; then
  mapfile -t wanted < <(cd "$features/features" && find . -name feature.ts -printf '%h\n' |
    sed 's|^\./||' | sort)
else
  wanted=("$@")
fi

"$eon" server start-dev --headless --port "$port" --db-filename "$work/eon.db" \
  >"$work/server.log" 2>&1 &
server=$!
node "$here/proxy.js" "$proxy_port" >"$work/proxy.log" 2>&1 &
proxy=$!
trap 'kill $server $proxy 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  "$eon" operator namespace describe default --address "127.0.0.1:$port" >/dev/null 2>&1 && break
  sleep 0.2
done

failed=()
for feature in "${wanted[@]}"; do
  # The Go runner reads this from the server's namespace capabilities; Eon's workers complete
  # their polls on shutdown.
  if (cd "$program" && FEATURE_NAMESPACE_CAPABILITIES='{"workerPollCompleteOnShutdown":true}' \
    node -r tsconfig-paths/register ./tslib/harness/ts/main.js \
    --server "127.0.0.1:$port" --namespace default \
    --http-proxy-url "http://127.0.0.1:$proxy_port" \
    "$feature:features-${feature//\//-}-$RANDOM$RANDOM") >"$work/${feature//\//-}.log" 2>&1; then
    echo "pass  $feature"
  else
    echo "FAIL  $feature  (log: $work/${feature//\//-}.log)"
    failed+=("$feature")
  fi
done
echo "features: $((${#wanted[@]} - ${#failed[@]})) of ${#wanted[@]} passed; server log: $work/server.log"
[[ ${#failed[@]} -eq 0 ]]
