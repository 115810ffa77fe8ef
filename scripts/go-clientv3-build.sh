#!/usr/bin/env bash
# Builds a Go program that uses etcd's clientv3, offline, against Debian's packaged Go sources
# (golang-etcd-server-dev and its dependencies under /usr/share/gocode) in GOPATH mode: Debian
# ships etcd 3.4's clientv3 as plain source without module metadata for its dependencies, so
# module mode cannot resolve them without network access. Works with Debian 12's Go 1.19.
#
# Usage: scripts/go-clientv3-build.sh <source dir> <output binary> <work dir for GOPATH/GOCACHE>
# Rebuilds only when a source file is newer than the binary. Prints the binary's path.
set -euo pipefail
src=$1
out=$2
work=$3
mkdir -p "$(dirname "$out")" "$work/gopath" "$work/gocache"
if [ ! -d /usr/share/gocode/src/go.etcd.io/etcd/clientv3 ] || ! command -v go >/dev/null; then
  echo "$(basename "$src"): needs Debian packages golang-go and golang-etcd-server-dev" >&2
  echo "         (scripts/install-deps.sh installs them)" >&2
  exit 1
fi
if [ ! -x "$out" ] || [ -n "$(find "$src" -name '*.go' -newer "$out" -print -quit)" ]; then
  # An empty first GOPATH entry keeps go from writing into /usr/share/gocode; GOFLAGS is cleared
  # so a user's -mod=... setting cannot break GOPATH mode.
  (cd "$src" && GO111MODULE=off GOFLAGS= GOPROXY=off \
     GOPATH="$work/gopath:/usr/share/gocode" \
     GOCACHE="$work/gocache" \
     go build -o "$out.tmp" .)
  mv -f "$out.tmp" "$out"
fi
echo "$out"
