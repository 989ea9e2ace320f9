#!/usr/bin/env bash
# Checks that the installed SDK works for a project outside the tree: installs <build-dir> into
# a temporary prefix, configures sdk/tests/consumer against it with find_package(EonSdk), builds
# it with Ninja, runs it and checks its output. Exits non-zero on any failure.
#
#   sdk/tests/find_package_test.sh <build-dir>
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 <build-dir>" >&2
  exit 2
fi
build_dir=$(cd "$1" && pwd)
consumer_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/consumer" && pwd)
work_dir=$(mktemp -d "${TMPDIR:-/tmp}/eon-sdk-find-package.XXXXXX")
trap 'rm -rf "$work_dir"' EXIT
prefix="$work_dir/prefix"

fail() {
  echo "find_package_test: FAILED: $*" >&2
  exit 1
}

# The install needs the SDK libraries and the eon binary; build them if the build directory
# has not yet.
cmake --build "$build_dir" --target eon_sdk eon_sdk_testing temporal_api eon >"$work_dir/build-sdk.log" 2>&1 ||
  { cat "$work_dir/build-sdk.log" >&2; fail "building eon_sdk in $build_dir"; }

echo "find_package_test: installing $build_dir into $prefix"
cmake --install "$build_dir" --prefix "$prefix" >"$work_dir/install.log" 2>&1 ||
  { cat "$work_dir/install.log" >&2; fail "cmake --install"; }
# lib/ or lib64/ or lib/<multiarch>/, as GNUInstallDirs decided.
[[ -n "$(find "$prefix" -name EonSdkConfig.cmake -print -quit)" ]] ||
  fail "no EonSdkConfig.cmake installed"
[[ -f "$prefix/include/eon/sdk/sdk.h" ]] || fail "no eon/sdk/sdk.h installed"

echo "find_package_test: configuring the consumer"
cmake -S "$consumer_dir" -B "$work_dir/consumer" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" >"$work_dir/configure.log" 2>&1 ||
  { cat "$work_dir/configure.log" >&2; fail "configuring the consumer"; }

echo "find_package_test: building the consumer"
ninja -C "$work_dir/consumer" >"$work_dir/build.log" 2>&1 ||
  { cat "$work_dir/build.log" >&2; fail "building the consumer"; }

echo "find_package_test: running the consumer"
# Without EON_BIN, so the test environment starts the eon installed with the package.
output=$(env -u EON_BIN "$work_dir/consumer/consumer" 2>&1) || { echo "$output" >&2; fail "running the consumer"; }
echo "$output"
expected=(
  "workflows: Hello"
  "activities: Greet"
  "encoding: json/plain"
  'data: "Zoë"'
  "activity environment: Hello, Ada!"
  "test environment: Hello, Zoë!"
)
for line in "${expected[@]}"; do
  grep -qxF -- "$line" <<<"$output" || fail "the consumer did not print '$line'"
done
grep -qx -- "connect: UNAVAILABLE: .*" <<<"$output" ||
  fail "the consumer's connection to a closed port did not fail with UNAVAILABLE"
echo "find_package_test: OK"
