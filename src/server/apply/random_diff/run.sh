#!/bin/bash
# usage: ETCDPP_BIN=build/<dir>/src/cmd/etcdpp run.sh <seed> <number of requests>
# Starts real etcd 3.4 and etcdpp on free 127.0.0.1 ports with fresh data dirs, runs
# random_diff.py against both, stops both (keeps the data dirs if they differed).
seed=$1; n=$2
fp() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
d=${TMPDIR:-/tmp}/etcdpp-random-diff-$seed; rm -rf $d; mkdir -p $d
P1=$(fp); Q1=$(fp); P2=$(fp); Q2=$(fp)
/usr/bin/etcd --data-dir $d/etcd --listen-client-urls http://127.0.0.1:$P1 --advertise-client-urls http://127.0.0.1:$P1 --listen-peer-urls http://127.0.0.1:$Q1 --initial-advertise-peer-urls http://127.0.0.1:$Q1 --initial-cluster default=http://127.0.0.1:$Q1 > $d/etcd.log 2>&1 &
E1=$!
${ETCDPP_BIN:?set ETCDPP_BIN to the etcdpp binary} --data-dir $d/etcdpp --listen-client-urls http://127.0.0.1:$P2 --advertise-client-urls http://127.0.0.1:$P2 --listen-peer-urls http://127.0.0.1:$Q2 --initial-advertise-peer-urls http://127.0.0.1:$Q2 --initial-cluster default=http://127.0.0.1:$Q2 > $d/etcdpp.log 2>&1 &
E2=$!
for i in $(seq 50); do
  ETCDCTL_API=3 etcdctl --endpoints=127.0.0.1:$P1 endpoint health >/dev/null 2>&1 && ETCDCTL_API=3 etcdctl --endpoints=127.0.0.1:$P2 get x >/dev/null 2>&1 && break
  sleep 0.2
done
/usr/bin/python3 $(dirname "$0")/random_diff.py $seed $n $P1 $P2; rc=$?
kill $E1 $E2; wait $E1 $E2 2>/dev/null
[ $rc = 0 ] && rm -rf $d
exit $rc
