#!/usr/bin/env bash
# Builds the Go clientv3 programs the end-to-end tests run (tests/e2e/go/<name>), offline, from
# Debian's golang-etcd-server-dev sources in GOPATH mode (the approach of bench/loadgen/build.sh:
# Debian ships etcd 3.4's clientv3 as plain sources without module metadata).
#
# Usage: tests/e2e/go/build.sh <name> [output]   (default build/e2e-go/<name>)
# Rebuilds only when a source file is newer than the binary. Prints the binary's path.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
name=$1
src="$root/tests/e2e/go/$name"
out=${2:-$root/build/e2e-go/$name}
mkdir -p "$(dirname "$out")" "$root/build/e2e-go/gopath" "$root/build/e2e-go/gocache"
if [ ! -d /usr/share/gocode/src/go.etcd.io/etcd/clientv3 ] || ! command -v go >/dev/null; then
  echo "e2e-go: needs Debian packages golang-go and golang-etcd-server-dev" >&2
  exit 1
fi
if [ ! -x "$out" ] || [ -n "$(find "$src" -name '*.go' -newer "$out" -print -quit)" ]; then
  # An empty-ish first GOPATH entry keeps go from writing into /usr/share/gocode.
  (cd "$src" && GO111MODULE=off GOFLAGS= GOPROXY=off \
     GOPATH="$root/build/e2e-go/gopath:/usr/share/gocode" \
     GOCACHE="$root/build/e2e-go/gocache" \
     go build -o "$out.tmp" .)
  mv -f "$out.tmp" "$out"
fi
echo "$out"
