# shellcheck shell=bash disable=SC2034 # sets globals for the scripts that source it
# bench/lib.sh: what bench/run.sh and bench/ab.sh share, sourced by both: the kubeadm TLS set-up
# and how one single-member server is started on 127.0.0.1.

# bench_tls_flags <certs dir>: sets TLS_SERVER_FLAGS (client and peer TLS, client certificates
# required on both, as kubeadm configures etcd) and TLS_CLIENT_FLAGS (loadgen's, as
# kube-apiserver's client certificate) for certificates made by tests/lib/make-certs.sh.
bench_tls_flags() {
  local certs=$1
  TLS_SERVER_FLAGS=(--trusted-ca-file "$certs/ca.crt" --cert-file "$certs/server.crt"
    --key-file "$certs/server.key" --client-cert-auth
    --peer-trusted-ca-file "$certs/ca.crt" --peer-cert-file "$certs/peer.crt"
    --peer-key-file "$certs/peer.key" --peer-client-cert-auth)
  TLS_CLIENT_FLAGS=(--cacert "$certs/ca.crt" --cert "$certs/apiserver-etcd-client.crt"
    --key "$certs/apiserver-etcd-client.key")
}

# start_single_member <binary> <data dir> <tls|plain> <client port> <peer port> <log file>
#     [VAR=value ...]: starts a one-member cluster named "bench" in the background, its output
# appended to the log file, the VAR=value words in its environment. Sets STARTED_PID and
# STARTED_EP (its client URL). Needs bench_tls_flags first for tls.
start_single_member() {
  local bin=$1 dir=$2 transport=$3 cport=$4 pport=$5 logfile=$6 scheme=http
  shift 6
  local -a tlsf=()
  if [ "$transport" = tls ]; then scheme=https; tlsf=("${TLS_SERVER_FLAGS[@]}"); fi
  STARTED_EP="$scheme://127.0.0.1:$cport"
  local purl="$scheme://127.0.0.1:$pport"
  env "$@" "$bin" --name bench --data-dir "$dir" \
    --listen-client-urls "$STARTED_EP" --advertise-client-urls "$STARTED_EP" \
    --listen-peer-urls "$purl" --initial-advertise-peer-urls "$purl" \
    --initial-cluster "bench=$purl" --initial-cluster-state new \
    "${tlsf[@]}" >>"$logfile" 2>&1 &
  STARTED_PID=$!
}
