#!/usr/bin/env bash
# Runs every test: installs and builds what is missing, then the unit tests (GoogleTest, via
# ctest) and the integration tests (the real `eon` binary driven by the official Temporal
# TypeScript SDK, installed from package-lock.json).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/install-deps.sh
scripts/build.sh

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
unit_status=0
integration_status=0

echo "== unit tests"
(cd build && ctest --output-on-failure -j"$(nproc)") 2>&1 | tee "$logs/unit.log" || unit_status=$?

echo "== integration tests"
(
  cd tests/integration
  npm ci --no-audit --no-fund --loglevel=error
  EON_BIN="$root/build/eon" npm test
) 2>&1 | tee "$logs/integration.log" || integration_status=$?

# One closing line over both suites.
unit_failed=$(sed -n 's/.* tests passed, \([0-9]*\) tests failed out of \([0-9]*\)/\1/p' "$logs/unit.log" | tail -1)
unit_total=$(sed -n 's/.* tests passed, \([0-9]*\) tests failed out of \([0-9]*\)/\2/p' "$logs/unit.log" | tail -1)
it_passed=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$logs/integration.log" | tail -1)
it_failed=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$logs/integration.log" | tail -1)
unit_failed=${unit_failed:-0}
unit_total=${unit_total:-0}
it_passed=${it_passed:-0}
it_failed=${it_failed:-0}
passed=$(( unit_total - unit_failed + it_passed ))
failed=$(( unit_failed + it_failed ))
if [ "$unit_status" -ne 0 ] || [ "$integration_status" -ne 0 ]; then
  [ "$failed" -gt 0 ] || failed=1
fi
echo "tests: $passed passed, $failed failed"
[ "$unit_status" -eq 0 ] && [ "$integration_status" -eq 0 ]
