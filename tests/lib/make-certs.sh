#!/usr/bin/env bash
# Creates a throw-away PKI for end-to-end tests and benchmarks, in the file layout kubeadm uses for
# etcd (/etc/kubernetes/pki/etcd), so tests exercise the flags exactly as clusters pass them.
#
# Usage: tests/lib/make-certs.sh <dir>
#
# Files written to <dir> (all keys EC P-256, because RSA key generation is what makes PKI set-up
# slow; the whole set takes well under a second):
#   ca.{crt,key}                    the cluster CA (trusted-ca-file / peer-trusted-ca-file)
#   server.{crt,key}                serving cert; SAN DNS:localhost, IP:127.0.0.1, IP:::1;
#                                   serverAuth + clientAuth like kubeadm's, because etcd's
#                                   grpc-gateway dials its own gRPC port with this certificate
#   peer.{crt,key}                  member-to-member cert; same SANs; serverAuth + clientAuth
#   healthcheck-client.{crt,key}    CN kube-etcd-healthcheck-client, clientAuth
#   apiserver-etcd-client.{crt,key} CN kube-apiserver-etcd-client, clientAuth
# For negative tests:
#   other-ca.{crt,key}              an unrelated CA the server must not trust
#   other-client.{crt,key}          client cert (CN other-client) signed by other-ca
#   expired-client.{crt,key}        client cert signed by the real CA, valid only in Jan 2020
#
# Idempotent: when every file is already there it does nothing (so many tests may share one
# directory); otherwise it regenerates the whole set. Concurrent callers on one directory are
# serialised with flock. Quiet unless something fails (then openssl's output is shown).
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 <dir>" >&2
  exit 2
fi
dir=$1
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

readonly NAMES=(ca server peer healthcheck-client apiserver-etcd-client other-ca other-client
                expired-client)
# Validity of the good certificates. Long enough for any test run, short enough that nobody
# mistakes them for real ones.
readonly DAYS=3650

all_present() {
  local n
  for n in "${NAMES[@]}"; do
    [ -s "$dir/$n.crt" ] && [ -s "$dir/$n.key" ] || return 1
  done
  return 0
}

exec 9>"$dir/.make-certs.lock"
flock 9
if all_present; then
  exit 0
fi

work=$(mktemp -d "$dir/.make-certs.XXXXXX")
trap 'rm -rf "$work"' EXIT
log="$work/openssl.log"

# Runs openssl with its chatter captured; prints it and fails only when openssl fails.
ossl() {
  if ! openssl "$@" >>"$log" 2>&1; then
    echo "make-certs.sh: openssl $1 failed:" >&2
    cat "$log" >&2
    exit 1
  fi
}

genkey() { # <name>
  ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/$1.key"
}

make_ca() { # <name> <CN>
  genkey "$1"
  ossl req -x509 -new -key "$work/$1.key" -subj "/CN=$2" -days "$DAYS" -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$work/$1.crt"
}

# Extension sections for leaf certificates, used with `x509 -req -extfile`.
cat >"$work/ext.cnf" <<'EOF'
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1

[peer]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1

[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
EOF

make_leaf() { # <name> <CN> <ext section> <ca name>
  genkey "$1"
  ossl req -new -key "$work/$1.key" -subj "/CN=$2" -out "$work/$1.csr"
  ossl x509 -req -in "$work/$1.csr" -CA "$work/$4.crt" -CAkey "$work/$4.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days "$DAYS" -sha256 \
    -extfile "$work/ext.cnf" -extensions "$3" -out "$work/$1.crt"
}

make_ca ca etcd-ca
make_leaf server localhost server ca
make_leaf peer localhost peer ca
make_leaf healthcheck-client kube-etcd-healthcheck-client client ca
make_leaf apiserver-etcd-client kube-apiserver-etcd-client client ca
make_ca other-ca other-ca
make_leaf other-client other-client client other-ca

# The expired certificate needs explicit past dates, which only `openssl ca` accepts in
# OpenSSL 3.0; it wants a minimal database.
genkey expired-client
ossl req -new -key "$work/expired-client.key" -subj "/CN=expired-client" \
  -out "$work/expired-client.csr"
mkdir -p "$work/cadb"
: >"$work/cadb/index.txt"
cat >"$work/ca.cnf" <<EOF
[ca]
default_ca = expired
[expired]
database = $work/cadb/index.txt
new_certs_dir = $work/cadb
serial = $work/cadb/serial
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[anything]
commonName = supplied
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
EOF
openssl rand -hex 16 >"$work/cadb/serial"
ossl ca -batch -notext -config "$work/ca.cnf" -cert "$work/ca.crt" -keyfile "$work/ca.key" \
  -startdate 20200101000000Z -enddate 20200102000000Z -extensions client \
  -in "$work/expired-client.csr" -out "$work/expired-client.crt"

for n in "${NAMES[@]}"; do
  chmod 600 "$work/$n.key"
  chmod 644 "$work/$n.crt"
done
# Keys first, certificates last: all_present() checks .crt files, so a reader that sees every
# certificate also sees every key.
for n in "${NAMES[@]}"; do mv -f "$work/$n.key" "$dir/$n.key"; done
for n in "${NAMES[@]}"; do mv -f "$work/$n.crt" "$dir/$n.crt"; done
