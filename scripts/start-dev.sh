#!/usr/bin/env bash
# From a fresh Debian 12 machine to a running development server: installs the packages,
# builds, and starts `eon server start-dev` (extra arguments are passed on to it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh eon
exec build/eon server start-dev "$@"
