#!/usr/bin/env bash
# Installs the Debian packages that building, running, testing and benchmarking etcdpp need.
# Idempotent: skips apt entirely when every package is already present.
set -euo pipefail
pkgs=(
  build-essential cmake ninja-build pkg-config git curl openssl ccache
  libssl-dev libnghttp2-dev libprotobuf-dev protobuf-compiler liblmdb-dev libhttp-parser-dev
  libcli11-dev libyaml-cpp-dev libspdlog-dev libxxhash-dev zlib1g-dev libcrypt-dev libjwt-dev
  prometheus-cpp-dev libgtest-dev librapidcheck-dev libbenchmark-dev libjemalloc-dev
  etcd-server etcd-client golang-etcd-server-dev golang-go python3 python3-etcd3
  nodejs gnuplot-nox clang-14 libfuzzer-14-dev libclang-rt-14-dev
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "installing: ${missing[*]}"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
