#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (+ASan/UBSan) in build/fuzz and runs each for
# N seconds (default 60). Corpora persist in build/fuzz/corpus/<target>; crashes are written to
# build/fuzz/artifacts/ and make the script fail.
#   scripts/fuzz.sh [seconds]
set -euo pipefail
secs="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build/fuzz"
if [ ! -f "$build/build.ninja" ]; then
  CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DETCDPP_FUZZ=ON -DETCDPP_SANITIZE=ON -DETCDPP_WERROR=OFF \
    $(command -v ccache >/dev/null && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache) >/dev/null
fi
targets=(fuzz_http1 fuzz_h2_grpc)
cmake --build "$build" --target "${targets[@]}" make_h2_seeds -j2
mkdir -p "$build/artifacts" "$build/corpus/fuzz_http1" "$build/corpus/fuzz_h2_grpc"
"$build/fuzz/make_h2_seeds" "$build/corpus/fuzz_h2_grpc"
printf 'GET /health HTTP/1.1\r\nHost: a\r\n\r\n' > "$build/corpus/fuzz_http1/get"
printf 'POST /v3/kv HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n' \
  > "$build/corpus/fuzz_http1/chunked"
printf 'POST /v3/x HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /drop HTTP/1.1\r\n\r\n' \
  > "$build/corpus/fuzz_http1/pipelined"
status=0
for t in "${targets[@]}"; do
  echo "== $t for ${secs}s"
  # Sanitizer reports and crashes fail the run; -max_len keeps inputs near real requests.
  if ! ASAN_OPTIONS=detect_leaks=1 "$build/fuzz/$t" -max_total_time="$secs" -max_len=16384 \
      -artifact_prefix="$build/artifacts/$t-" -print_final_stats=1 \
      "$build/corpus/$t" >"$build/$t.log" 2>&1; then
    echo "!! $t failed; see $build/$t.log and $build/artifacts/"
    tail -40 "$build/$t.log"
    status=1
  else
    grep -E "stat::number_of_executed_units|cov:" "$build/$t.log" | tail -2
  fi
done
exit $status
