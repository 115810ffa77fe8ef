#!/usr/bin/env bash
# Builds the load generator offline against Debian's packaged Go sources (golang-etcd-server-dev
# and its dependencies under /usr/share/gocode), in GOPATH mode: Debian ships etcd 3.4's clientv3
# as plain source without module metadata for its dependencies, so module mode cannot resolve
# them without network access. Works with Debian 12's Go 1.19.
#
# Usage: bench/loadgen/build.sh [output]   (default build/bench/loadgen)
# Rebuilds only when a source file is newer than the binary. Prints the binary's path.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
src="$root/bench/loadgen"
out=${1:-$root/build/bench/loadgen}
mkdir -p "$(dirname "$out")" "$root/build/bench/gopath" "$root/build/bench/gocache"

if [ ! -d /usr/share/gocode/src/go.etcd.io/etcd/clientv3 ] || ! command -v go >/dev/null; then
  echo "loadgen: needs Debian packages golang-go and golang-etcd-server-dev" >&2
  echo "         (scripts/install-deps.sh installs them)" >&2
  exit 1
fi

stale=0
[ -x "$out" ] || stale=1
if [ $stale = 0 ] && [ -n "$(find "$src" -name '*.go' -newer "$out" -print -quit)" ]; then
  stale=1
fi
if [ $stale = 1 ]; then
  # An empty first GOPATH entry keeps go from writing into /usr/share/gocode; GOFLAGS is cleared
  # so a user's -mod=... setting cannot break GOPATH mode.
  (cd "$src" && GO111MODULE=off GOFLAGS= GOPROXY=off \
     GOPATH="$root/build/bench/gopath:/usr/share/gocode" \
     GOCACHE="$root/build/bench/gocache" \
     go build -o "$out.tmp" .)
  mv -f "$out.tmp" "$out"
fi
echo "$out"
