"""Differential watch test: one seeded random write sequence (puts, deletes, range deletes,
multi-key txns) is applied to etcd 3.4 and to etcdpp; both are watched live (start revision 0)
and from several past revisions with keys, prefixes, ranges, from-key, prev_kv and filters. The
event streams (every mvccpb.Event byte for byte) and the compaction answers must be identical.

Each watcher stops at a sentinel change of its own range written after the random sequence, so
no wait depends on the clock (the deadline only decides when to give up)."""
import os
import queue
import random
import threading
import time
import unittest

import grpc
from etcd3.etcdrpc import rpc_pb2, rpc_pb2_grpc

import harness

GIVE_UP = 60.0
KEYS = ["k/a", "k/b", "k/b1", "k/c", "k/d", "k/e", "k/f", "x/1"]
NOPUT, NODELETE = rpc_pb2.WatchCreateRequest.NOPUT, rpc_pb2.WatchCreateRequest.NODELETE

# name, key, range_end, filters, prev_kv, sentinel key (in the range)
SPECS = [
    ("all", b"\0", b"\0", [], False, "k/s-all"),
    ("prefix", b"k/", b"k0", [], False, "k/s-prefix"),
    ("single", b"k/a", b"", [], False, "k/a"),
    ("fromkey", b"k/c", b"\0", [], False, "k/zz"),
    ("range", b"k/b", b"k/e", [], False, "k/d-s"),
    ("prevkv", b"k/", b"k0", [], True, "k/s-prev"),
    ("noput", b"k/", b"k0", [NOPUT], True, "k/s-noput"),
    ("nodelete", b"k/", b"k0", [NODELETE], False, "k/s-nodel"),
]


class WatchStream:
    """One bidi Watch stream driven from a request queue; responses land in a queue."""

    def __init__(self, channel):
        self.requests = queue.Queue()
        self.responses = queue.Queue()
        stub = rpc_pb2_grpc.WatchStub(channel)

        def gen():
            while True:
                r = self.requests.get()
                if r is None:
                    return
                yield r
        self.call = stub.Watch(gen())

        def pump():
            try:
                for resp in self.call:
                    self.responses.put(resp)
            except grpc.RpcError:
                pass
        threading.Thread(target=pump, daemon=True).start()

    def create(self, spec, start):
        """Watch ids are assigned 0, 1, 2... in creation order (python3-etcd3's bundled protos
        predate client-chosen ids)."""
        _, key, end, filters, prev_kv, _ = spec
        self.requests.put(rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(
            key=key, range_end=end, start_revision=start, filters=filters, prev_kv=prev_kv)))

    def next(self, deadline):
        while time.monotonic() < deadline:
            try:
                return self.responses.get(timeout=0.2)
            except queue.Empty:
                continue
        raise AssertionError("no watch response before the deadline")

    def close(self):
        self.requests.put(None)
        self.call.cancel()


def random_writes(kv, seed):
    rng = random.Random(seed)
    for _ in range(120):
        op = rng.random()
        if op < 0.55:
            k = rng.choice(KEYS)
            kv.Put(rpc_pb2.PutRequest(key=k.encode(), value=str(rng.random()).encode()))
        elif op < 0.7:
            kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=rng.choice(KEYS).encode()))
        elif op < 0.8:
            a, b = sorted(rng.sample(KEYS, 2))
            kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=a.encode(), range_end=b.encode()))
        else:
            ks = rng.sample(KEYS, 3)
            ops = []
            for k in ks:
                if rng.random() < 0.7:
                    ops.append(rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(
                        key=k.encode(), value=b"t")))
                else:
                    ops.append(rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(
                        key=k.encode())))
            kv.Txn(rpc_pb2.TxnRequest(success=ops))


def collect(stream, ids, targets, deadline):
    """Events per watch id until each id has seen an event at or past its target revision."""
    events = {i: [] for i in ids}
    created = {}
    pending = set(ids)
    while pending:
        r = stream.next(deadline)
        if r.created:
            created[r.watch_id] = (r.canceled, r.cancel_reason)
            continue
        if r.canceled:
            created[r.watch_id] = ("canceled", r.compact_revision)
            pending.discard(r.watch_id)
            continue
        if r.watch_id not in events:
            continue
        for e in r.events:
            if e.kv.mod_revision > targets[r.watch_id]:
                break  # later sentinels: how many arrive before the others finish is timing
            events[r.watch_id].append(e.SerializeToString())
            if e.kv.mod_revision >= targets[r.watch_id]:
                pending.discard(r.watch_id)
    return events, created


def run_scenario(binary, seed):
    server = harness.Server(binary=binary)
    try:
        server.start()
        channel = grpc.insecure_channel(server.endpoint)
        kv = rpc_pb2_grpc.KVStub(channel)
        deadline = time.monotonic() + GIVE_UP
        live = WatchStream(channel)
        for spec in SPECS:
            live.create(spec, 0)
        seen = 0
        while seen < len(SPECS):  # every live watcher exists before the first write
            if live.next(deadline).created:
                seen += 1
        random_writes(kv, seed)
        mid = kv.Range(rpc_pb2.RangeRequest(key=b"k")).header.revision // 2
        targets = {}
        for i, spec in enumerate(SPECS):
            s = spec[5].encode()
            put = kv.Put(rpc_pb2.PutRequest(key=s, value=b"sentinel")).header.revision
            dl = kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=s)).header.revision
            targets[i] = put if NODELETE in spec[3] else dl
        live_events, _ = collect(live, list(targets), targets, deadline)
        live.close()

        hist = WatchStream(channel)
        ids, htargets = [], {}
        for j, start in enumerate([1, 2, mid]):
            for i, spec in enumerate(SPECS):
                wid = j * len(SPECS) + i
                hist.create(spec, start)
                ids.append(wid)
                htargets[wid] = targets[i]
        hist_events, _ = collect(hist, ids, htargets, deadline)
        hist.close()

        # Compaction: a watch from before it is canceled with the compaction revision.
        kv.Compact(rpc_pb2.CompactionRequest(revision=mid, physical=True))
        comp = WatchStream(channel)
        comp.create(SPECS[0], 2)
        _, answers = collect(comp, [0], {0: 1 << 62}, deadline)
        comp.close()
        channel.close()
        return live_events, hist_events, answers.get(0), mid
    finally:
        server.cleanup()


class WatchDifferentialTest(unittest.TestCase):
    def test_event_streams_identical_to_etcd(self):
        if not os.path.exists(harness.ETCD_BIN):
            self.skipTest("etcd not installed")
        for seed in (1, 2):
            want = run_scenario(harness.ETCD_BIN, seed)
            got = run_scenario(harness.ETCDPP_BIN, seed)
            live_w, hist_w, comp_w, mid_w = want
            live_g, hist_g, comp_g, mid_g = got
            self.assertEqual(mid_g, mid_w, "the write sequence must give the same revisions")
            self.assertGreater(sum(len(v) for v in live_w.values()), 100)
            for wid in live_w:
                self.assertEqual(live_g[wid], live_w[wid], "seed %d live watcher %s" %
                                 (seed, SPECS[wid][0]))
            for wid in hist_w:
                self.assertEqual(hist_g[wid], hist_w[wid], "seed %d history watcher %d (%s)" %
                                 (seed, wid, SPECS[wid % len(SPECS)][0]))
            self.assertEqual(comp_g, comp_w)
            self.assertEqual(comp_w, ("canceled", mid_w))


if __name__ == "__main__":
    unittest.main()
