#!/usr/bin/env bash
# Runs every test: installs and builds what is missing, then the unit tests (GoogleTest, via
# ctest), the integration tests (the real `eon` binary driven by the official Temporal
# TypeScript SDK, installed from package-lock.json), and the sanitizer and fuzzing stage
# (scripts/sanitize.sh: the unit tests under ASan+UBSan, the structure-aware request fuzzer, and
# with EON_TSAN=1 the threaded tests under TSan). EON_SKIP_SANITIZE=1 leaves that stage out (local
# runs only). Everything runs beside a throwaway PostgreSQL (scripts/with-postgres.sh), for the
# store tests' PostgreSQL half.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
if [ "${EON_TEST_BESIDE_POSTGRES:-0}" != 1 ]; then
  scripts/install-deps.sh
  scripts/build.sh
  # The PostgreSQL halves of the store conformance suite need a real server: the rest of this
  # script runs beside a throwaway PostgreSQL 15 (EON_TEST_POSTGRES_URL). If it cannot start,
  # the run fails; under CI a missing server fails those tests rather than skipping them.
  EON_TEST_BESIDE_POSTGRES=1 exec scripts/with-postgres.sh "$root/scripts/test.sh" "$@"
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
unit_status=0
integration_status=0
sanitize_status=0

echo "== unit tests"
(cd build && ctest --output-on-failure -j"$(nproc)") 2>&1 | tee "$logs/unit.log" || unit_status=$?

echo "== integration tests"
(
  cd tests/integration
  npm ci --no-audit --no-fund --loglevel=error
  EON_BIN="$root/build/eon" npm test
) 2>&1 | tee "$logs/integration.log" || integration_status=$?

if [ "${EON_SKIP_SANITIZE:-0}" != 1 ]; then
  echo "== sanitizers and fuzzing"
  scripts/sanitize.sh 2>&1 | tee "$logs/sanitize.log" || sanitize_status=$?
fi

# One closing line over all suites.
unit_failed=$(sed -n 's/.* tests passed, \([0-9]*\) tests failed out of \([0-9]*\)/\1/p' "$logs/unit.log" | tail -1)
unit_total=$(sed -n 's/.* tests passed, \([0-9]*\) tests failed out of \([0-9]*\)/\2/p' "$logs/unit.log" | tail -1)
it_passed=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$logs/integration.log" | tail -1)
it_failed=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$logs/integration.log" | tail -1)
unit_failed=${unit_failed:-0}
unit_total=${unit_total:-0}
it_passed=${it_passed:-0}
it_failed=${it_failed:-0}
san_passed=0
san_failed=0
if [ -f "$logs/sanitize.log" ]; then
  san_passed=$(sed -n 's/^sanitizers: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$logs/sanitize.log" | tail -1)
  san_failed=$(sed -n 's/^sanitizers: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$logs/sanitize.log" | tail -1)
  san_passed=${san_passed:-0}
  san_failed=${san_failed:-0}
  # The stage stopped before its closing line (a build error): one failure.
  if [ "$sanitize_status" -ne 0 ] && [ "$san_failed" -eq 0 ]; then san_failed=1; fi
fi
passed=$(( unit_total - unit_failed + it_passed + san_passed ))
failed=$(( unit_failed + it_failed + san_failed ))
if [ "$unit_status" -ne 0 ] || [ "$integration_status" -ne 0 ] || [ "$sanitize_status" -ne 0 ]; then
  [ "$failed" -gt 0 ] || failed=1
fi
echo "tests: $passed passed, $failed failed"
[ "$unit_status" -eq 0 ] && [ "$integration_status" -eq 0 ] && [ "$sanitize_status" -eq 0 ]
