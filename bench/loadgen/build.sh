#!/usr/bin/env bash
# Builds the load generator (Go clientv3 from Debian's packages, offline; see
# scripts/go-clientv3-build.sh).
#
# Usage: bench/loadgen/build.sh [output]   (default build/bench/loadgen)
# Rebuilds only when a source file is newer than the binary. Prints the binary's path.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
exec "$root/scripts/go-clientv3-build.sh" "$root/bench/loadgen" \
  "${1:-$root/build/bench/loadgen}" "$root/build/bench"
