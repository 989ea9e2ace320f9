#!/usr/bin/env bash
# Fetches the Temporal API .proto files (a build input, never committed) from the pinned npm
# package and lays out the copy the build compiles, with the package rewrite protobuf 3.21 needs
# (DESIGN.md section 1). The tarball is cached in OUT_DIR, so a rebuild needs no network.
#
# usage: fetch-protos.sh OUT_DIR
set -euo pipefail

out_dir=$1
version=1.24.0
tarball="$out_dir/temporalio-core-bridge-$version.tgz"
root=package/sdk-core/crates/protos/protos

mkdir -p "$out_dir"
if [ ! -s "$tarball" ]; then
  (cd "$out_dir" && npm pack --silent "@temporalio/core-bridge@$version" >/dev/null)
fi

unpacked="$out_dir/unpacked"
rm -rf "$unpacked" "$out_dir/src"
mkdir -p "$unpacked" "$out_dir/src"
tar -xzf "$tarball" -C "$unpacked" "$root/api_upstream" "$root/testsrv_upstream" "$root/google/rpc"

src="$out_dir/src"
cp -r "$unpacked/$root/api_upstream/temporal" "$src/"
cp -r "$unpacked/$root/api_upstream/nexusannotations" "$src/"
mkdir -p "$src/google"
cp -r "$unpacked/$root/api_upstream/google/api" "$src/google/"
cp -r "$unpacked/$root/google/rpc" "$src/google/"
cp -r "$unpacked/$root/testsrv_upstream/temporal/api/testservice" "$src/temporal/api/"
rm -rf "$unpacked"

# protobuf 3.21 emits C++ namespaces from package names without escaping keywords.
find "$src" -name '*.proto' -print0 | xargs -0 sed -i \
  -e 's/temporal\.api\.namespace\.v1/temporal.api.namespace_.v1/g' \
  -e 's/temporal\.api\.export\.v1/temporal.api.export_.v1/g'

find "$src" -name '*.proto' | sort > "$out_dir/proto-files.txt"
