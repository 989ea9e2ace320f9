#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL 15 (Debian's postgresql-15): initdb into a
# temporary directory, started on a free loopback port (as the `postgres` user when run as root,
# since PostgreSQL refuses to run as root), stopped and deleted when the command ends. The
# command sees EON_TEST_POSTGRES_URL (postgresql://eon@127.0.0.1:PORT/postgres, trust auth);
# the PostgreSQL halves of the store tests run on it (src/persistence/store_test.cc).
# Exits with the command's status; if PostgreSQL cannot be started, fails without running it.
#   scripts/with-postgres.sh build/eon_unit_tests --gtest_filter='*Postgres*'
set -euo pipefail
bin=${EON_POSTGRES_BIN:-/usr/lib/postgresql/15/bin}
if [ ! -x "$bin/initdb" ] || [ ! -x "$bin/pg_ctl" ]; then
  echo "with-postgres: no PostgreSQL 15 in $bin (scripts/install-deps.sh installs postgresql-15)" >&2
  exit 1
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/eon-postgres.XXXXXX")
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres "$dir"
  as_owner=(runuser -u postgres --)
fi
stop() {
  "${as_owner[@]}" "$bin/pg_ctl" stop -D "$dir/data" -m immediate >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
started=$SECONDS
"${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U eon -A trust -E UTF8 --locale=C --no-sync \
  >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; echo "with-postgres: initdb failed" >&2; exit 1; }
# A few random ports: one that is taken makes pg_ctl fail, and the next is tried.
port=""
for attempt in 1 2 3 4 5 6 7 8; do
  candidate=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
  if "${as_owner[@]}" "$bin/pg_ctl" start -D "$dir/data" -w -t 60 -l "$dir/server.log" \
      -o "-p $candidate -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300" \
      >/dev/null 2>&1; then
    port=$candidate
    break
  fi
done
if [ -z "$port" ]; then
  tail -20 "$dir/server.log" >&2 || true
  echo "with-postgres: PostgreSQL did not start" >&2
  exit 1
fi
echo "with-postgres: PostgreSQL 15 on 127.0.0.1:$port (started in $(( SECONDS - started )) s)"
export EON_TEST_POSTGRES_URL="postgresql://eon@127.0.0.1:$port/postgres"
status=0
"$@" || status=$?
exit $status
