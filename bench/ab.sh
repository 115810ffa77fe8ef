#!/usr/bin/env bash
# Paired A/B comparison of two server builds (or two settings of one) on the put case with 1000
# clients: both run at once as single members on free 127.0.0.1 ports, fresh data dirs under
# build/bench/ab, and their runs alternate a few seconds apart (A B, B A, A B, ...). On this VM a
# run's server CPU per op drifts by about 15% between sessions minutes apart, so comparing two
# separate bench/run.sh runs cannot show a change of a few percent; the median of per-pair
# ratios can show about 5% with 16 pairs (see docs/benchmarks.md, "How to read the figures").
#
# Usage: bench/ab.sh [--pairs N] [--plain] [--env-b "VAR=value ..."] A_BIN B_BIN [loadgen args]
#   loadgen args replace the default shape: put --conns 100 --clients 1000 --total 15000
#   --key-size 8 --val-size 256 --key-space-size 100000
# Prints each pair (server CPU µs/op of A and B) and the median B/A ratio with its min-max.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=bench/lib.sh
. bench/lib.sh
pairs=16
transport=tls
env_b=""
while [ $# -gt 0 ]; do
  case $1 in
    --pairs) pairs=$2; shift ;;
    --plain) transport=plain ;;
    --env-b) env_b=$2; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) break ;;
  esac
  shift
done
[ $# -ge 2 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
bin_a=$1 bin_b=$2
shift 2
shape=("$@")
if [ ${#shape[@]} = 0 ]; then
  shape=(put --conns 100 --clients 1000 --total 15000 --key-size 8 --val-size 256
         --key-space-size 100000)
fi

LG=$(bench/loadgen/build.sh)
work=$root/build/bench/ab
rm -rf "$work"
mkdir -p "$work"
certs=$work/certs
tests/lib/make-certs.sh "$certs" >/dev/null

bench_tls_flags "$certs"
tls_client=()
if [ $transport = tls ]; then tls_client=("${TLS_CLIENT_FLAGS[@]}"); fi

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"/data-*' EXIT
declare -A pid=() ep=()
for side in a b; do
  bin=$bin_a; extra=""
  if [ $side = b ]; then bin=$bin_b; extra=$env_b; fi
  # shellcheck disable=SC2086 # extra is a list of VAR=value words
  start_single_member "$bin" "$work/data-$side" "$transport" "$("$LG" free-port)" \
    "$("$LG" free-port)" "$work/$side.log" $extra
  ep[$side]=$STARTED_EP
  pid[$side]=$STARTED_PID
  pids+=("$STARTED_PID")
  "$LG" --endpoints "${ep[$side]}" "${tls_client[@]}" wait-healthy --timeout 30s >/dev/null
done

# run <side>: one measured run; prints the server's CPU µs per op.
run() {
  "$LG" --endpoints "${ep[$1]}" "${tls_client[@]}" "${shape[@]}" --pid "${pid[$1]}" 2>/dev/null |
    /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["server_cpu_us_per_op"])'
}

out=$work/pairs.txt
: >"$out"
for ((i = 0; i < pairs; i++)); do
  if [ $((i % 2)) = 0 ]; then a=$(run a); b=$(run b); else b=$(run b); a=$(run a); fi
  printf '%s %s\n' "$a" "$b" | tee -a "$out"
done
/usr/bin/python3 - "$out" <<'EOF'
import statistics, sys
pairs = [tuple(map(float, line.split())) for line in open(sys.argv[1]) if line.strip()]
ratios = [b / a for a, b in pairs]
print("A median %.1f us/op, B median %.1f us/op; B/A per pair: median %.3f (min %.3f, max %.3f),"
      " %d pairs" % (statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs),
                     statistics.median(ratios), min(ratios), max(ratios), len(ratios)))
EOF
