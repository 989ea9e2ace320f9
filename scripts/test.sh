#!/usr/bin/env bash
# Runs every test: installs and builds what is missing, then the unit tests (GoogleTest, via
# ctest), the integration tests (the real `eon` binary driven by the official Temporal
# TypeScript SDK, installed from package-lock.json; then a part of them again against a node on
# PostgreSQL, EON_PG_IT_FILES), and the sanitizer and fuzzing stage
# (scripts/sanitize.sh: the unit tests, the C++ SDK's tests and a part of the integration tests
# under ASan+UBSan, the structure-aware request fuzzer; with EON_TSAN=1 the unit tests under
# TSan). EON_SKIP_SANITIZE=1 leaves that stage out (local runs only). EON_BUILD_SANITIZERS_EARLY=1
# builds the sanitizer trees in the background while the release tests run (not yet the default:
# not yet measured in a whole run). Everything runs beside a throwaway PostgreSQL
# (scripts/with-postgres.sh), for the store tests' PostgreSQL half.
# Each stage prints its wall time, "(<stage>: N s)".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
if [ "${EON_TEST_BESIDE_POSTGRES:-0}" != 1 ]; then
  scripts/install-deps.sh
  started=$SECONDS
  scripts/build.sh
  echo "(release build: $(( SECONDS - started )) s)"
  # The PostgreSQL halves of the store conformance suite need a real server: the rest of this
  # script runs beside a throwaway PostgreSQL 15 (EON_TEST_POSTGRES_URL). If it cannot start,
  # the run fails; under CI a missing server fails those tests rather than skipping them.
  EON_TEST_BESIDE_POSTGRES=1 exec scripts/with-postgres.sh "$root/scripts/test.sh" "$@"
fi

logs=$(mktemp -d)
background_build=
cleanup() {
  # The sanitizer trees' build, if this script ends early: its whole process group.
  if [ -n "$background_build" ]; then kill -- "-$background_build" 2>/dev/null || true; fi
  rm -rf "$logs"
}
trap cleanup EXIT
unit_status=0
integration_status=0
integration_pg_status=0
sanitize_status=0
# The whole integration suite runs again against PostgreSQL: every server a test starts (start-dev
# or `eon server start`) on a fresh schema of the throwaway PostgreSQL, a test that needs a SQLite
# file (a path it names) on that file. cluster.test.js runs only here: three `eon server start`
# nodes on one schema through kill -9, SIGSTOP and a rolling restart, and two nodes with mTLS
# between them. About 4.5 minutes on 2 quiet cores (2026-12-01). EON_PG_IT_FILES picks files.
pg_it_files=${EON_PG_IT_FILES:-"*.test.js"}

if [ "${EON_SKIP_SANITIZE:-0}" != 1 ] && [ "${EON_BUILD_SANITIZERS_EARLY:-0}" = 1 ]; then
  # The sanitizer trees (ASan+UBSan, then TSan) build in the background, at the lowest CPU
  # priority, while the release tests run: the tests wait on servers, workers and fsyncs much of
  # the time, and the compiler takes only the CPU they leave idle. setsid: a process group of its
  # own, so that cleanup can stop it whole.
  setsid nice -n 19 scripts/sanitize.sh build >"$logs/sanitize-build.log" 2>&1 &
  background_build=$!
fi

echo "== unit tests"
started=$SECONDS
(cd build && ctest --output-on-failure -j"$(nproc)") 2>&1 | tee "$logs/unit.log" || unit_status=$?
echo "(unit tests: $(( SECONDS - started )) s)"

echo "== integration tests"
started=$SECONDS
(
  cd tests/integration
  npm ci --no-audit --no-fund --loglevel=error
  EON_BIN="$root/build/eon" npm test
) 2>&1 | tee "$logs/integration.log" || integration_status=$?
echo "(integration tests: $(( SECONDS - started )) s)"

echo "== integration tests on PostgreSQL"
started=$SECONDS
(
  cd tests/integration
  # shellcheck disable=SC2086 # a list of file names
  EON_IT_POSTGRES=1 EON_BIN="$root/build/eon" node --test --test-concurrency=2 --test-force-exit $pg_it_files
) 2>&1 | tee "$logs/integration-pg.log" || integration_pg_status=$?
echo "(integration tests on PostgreSQL: $(( SECONDS - started )) s)"

if [ "${EON_SKIP_SANITIZE:-0}" != 1 ]; then
  echo "== sanitizers and fuzzing"
  started=$SECONDS
  if [ -n "$background_build" ]; then
    # A failed background build is built again (and reported) by the stage itself.
    wait "$background_build" || true
    background_build=
    grep -E "^\((ASan|TSan)" "$logs/sanitize-build.log" || true
    echo "(waited for the background build of the sanitizer trees: $(( SECONDS - started )) s)"
  fi
  scripts/sanitize.sh 2>&1 | tee "$logs/sanitize.log" || sanitize_status=$?
  echo "(sanitizers and fuzzing, with that wait: $(( SECONDS - started )) s)"
fi

# One closing line over all suites.
unit_failed=$(sed -n 's/.* tests passed, \([0-9]*\) tests failed out of \([0-9]*\)/\1/p' "$logs/unit.log" | tail -1)
unit_total=$(sed -n 's/.* tests passed, \([0-9]*\) tests failed out of \([0-9]*\)/\2/p' "$logs/unit.log" | tail -1)
it_passed=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$logs/integration.log" | tail -1)
it_failed=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$logs/integration.log" | tail -1)
pg_passed=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$logs/integration-pg.log" | tail -1)
pg_failed=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$logs/integration-pg.log" | tail -1)
it_passed=$(( ${it_passed:-0} + ${pg_passed:-0} ))
it_failed=$(( ${it_failed:-0} + ${pg_failed:-0} ))
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
if [ "$unit_status" -ne 0 ] || [ "$integration_status" -ne 0 ] || [ "$integration_pg_status" -ne 0 ] ||
  [ "$sanitize_status" -ne 0 ]; then
  [ "$failed" -gt 0 ] || failed=1
fi
# What failed, named, just above the closing line: CI shows only the end of a run.
if [ "$failed" -gt 0 ]; then
  echo "== what failed"
  sed -n '/The following tests FAILED:/,/^$/p' "$logs/unit.log" | head -30
  for stage in integration integration-pg; do
    if grep -aqE "^ *not ok " "$logs/$stage.log" 2>/dev/null; then
      echo "$stage:"
      grep -aE "^ *not ok " "$logs/$stage.log" | head -30
    fi
  done
  if [ -f "$logs/sanitize.log" ]; then
    sed -n '/^Sanitizer steps that failed:$/,/^sanitizers: /p' "$logs/sanitize.log" | sed '$d'
  fi
fi
echo "tests: $passed passed, $failed failed"
[ "$unit_status" -eq 0 ] && [ "$integration_status" -eq 0 ] && [ "$integration_pg_status" -eq 0 ] &&
  [ "$sanitize_status" -eq 0 ]
