#!/usr/bin/env bash
# Configures (once) and builds Eon into build/: the `eon` binary and the unit tests.
# The Temporal API protos are fetched on the first configure and cached in build/.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${EON_BUILD_DIR:-build}
if [ ! -f "$build_dir/build.ninja" ]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${EON_BUILD_TYPE:-Release}"
fi
cmake --build "$build_dir" -- "$@"
