#!/usr/bin/env bash
# Installs what building and testing Eon needs, from Debian 12's packages. Idempotent: packages
# already present are skipped, so a warm machine spends no time here.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libgrpc++-dev protobuf-compiler protobuf-compiler-grpc libprotobuf-dev
  libabsl-dev  # gRPC's Abseil, whose mutex settings main.cc sets
  libsqlite3-dev libgtest-dev libgmock-dev nlohmann-json3-dev
  sqlite3  # the shell, with which an integration test makes the database refuse a write
  prometheus-cpp-dev libssl-dev openssl prometheus
  clang libclang-rt-14-dev  # the sanitizer build and libFuzzer (scripts/sanitize.sh)
  tzdata  # IANA time zones for schedules (read from /usr/share/zoneinfo)
  libcpp-httplib-dev  # the web UI's and the HTTP API's server
  chromium  # the web UI's browser tests (driven by playwright-core, which downloads no browser)
  libpq-dev  # the PostgreSQL store's client library
  postgresql-15  # the PostgreSQL the tests start (scripts/with-postgres.sh)
  libyaml-cpp-dev  # eon server start --config eon.yaml
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "Installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Temporal TypeScript SDK (the test client, and the npm package the protos come from)
# needs Node.js 20.3 or newer.
node_version=$(node -e 'process.stdout.write(process.versions.node)')
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=3)?0:1)'; then
  echo "Error: Node.js $node_version is too old; Eon's tests need Node.js 20.3 or newer." >&2
  exit 1
fi
