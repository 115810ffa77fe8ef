#!/usr/bin/env bash
# Builds the Go clientv3 programs the end-to-end tests run (tests/e2e/go/<name>), offline, from
# Debian's packages (scripts/go-clientv3-build.sh).
#
# Usage: tests/e2e/go/build.sh <name> [output]   (default build/e2e-go/<name>)
# Rebuilds only when a source file is newer than the binary. Prints the binary's path.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
name=$1
exec "$root/scripts/go-clientv3-build.sh" "$root/tests/e2e/go/$name" \
  "${2:-$root/build/e2e-go/$name}" "$root/build/e2e-go"
