"""The Watch service end to end, with real clients: etcdctl (grpc-go), python3-etcd3
(grpc C-core) and Go clientv3 (tests/e2e/go/watchcheck). etcdctl scenarios run against real
etcd 3.4 as well and the outputs must be identical (same writes from a fresh server give the same
revisions)."""
import os
import queue
import subprocess
import threading
import time
import unittest

import harness

GO_BUILD = os.path.join(harness.ROOT, "tests/e2e/go/build.sh")
GIVE_UP = 30.0


def start_watch(server, *args):
    """Starts `etcdctl watch ...`; returns (process, line queue)."""
    env = dict(os.environ, ETCDCTL_API="3")
    cmd = [harness.ETCDCTL_BIN, "--endpoints", server.url] + server.client_cert_args() + \
        ["watch"] + list(args)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=env)
    lines = queue.Queue()

    def pump():
        for line in p.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)
    threading.Thread(target=pump, daemon=True).start()
    return p, lines


def read_until(p, lines, sentinel=None, count=None):
    """Lines of the watch output up to and including the line `sentinel`, or the first `count`
    lines (or until the process ends), then stops the watch. Gives up after GIVE_UP seconds."""
    out = []
    deadline = time.monotonic() + GIVE_UP
    while time.monotonic() < deadline and (count is None or len(out) < count):
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        if line is None:
            break
        out.append(line)
        if line == sentinel:
            break
    p.kill()
    p.wait(timeout=10)
    return out


def etcdctl_scenario(server):
    """Writes, then watches from past revisions with --prefix, --prev-kv and --rev; returns
    every watch output."""
    e = server.etcdctl
    e("put", "w/a", "1")                               # rev 2
    e("put", "w/b", "1")                               # rev 3
    e("put", "w/a", "2")                               # rev 4
    e("put", "x", "outside")                           # rev 5
    e("del", "w/b")                                    # rev 6
    e("txn", input_text="\nput w/c 3\nput w/d 4\ndel w/a\n\n\n")  # rev 7: 3 events
    e("del", "w/", "--prefix")                         # rev 8: c, d
    e("put", "w/end", "x")                             # rev 9
    outputs = {}
    for name, args in [
        ("prefix", ["--prefix", "--rev=2", "w/"]),
        ("prev_kv", ["--prefix", "--prev-kv", "--rev=2", "w/"]),
        ("key", ["--rev=1", "w/a"]),
        ("range", ["--rev=3", "w/b", "w/d"]),
        ("from_rev", ["--prefix", "--rev=7", "w/"]),
    ]:
        p, lines = start_watch(server, *args)
        if name in ("key", "range"):
            # Single key / range watches never see w/end: stop after a fixed line count.
            out = read_until(p, lines, count={"key": 9, "range": 12}[name])
        else:
            out = read_until(p, lines, "w/end")
        outputs[name] = out
    return outputs


class EtcdctlDifferentialTest(unittest.TestCase):
    """The same writes and watches against etcd 3.4 and etcdpp print the same."""

    def run_on(self, binary):
        s = harness.Server(binary=binary)
        self.addCleanup(s.cleanup)
        s.start()
        # etcdctl txn reads stdin: give Server.etcdctl an input.
        orig = s.etcdctl

        def etcdctl(*args, input_text=None, check=True):
            if input_text is None:
                return orig(*args, check=check)
            env = dict(os.environ, ETCDCTL_API="3")
            r = subprocess.run([harness.ETCDCTL_BIN, "--endpoints", s.url] + list(args),
                               input=input_text, capture_output=True, text=True, env=env,
                               timeout=20)
            if check and r.returncode != 0:
                raise AssertionError("etcdctl %s: %s%s" % (args, r.stdout, r.stderr))
            return r
        s.etcdctl = etcdctl
        return etcdctl_scenario(s)

    def test_watch_outputs_match_etcd(self):
        if not os.path.exists(harness.ETCD_BIN):
            self.skipTest("etcd not installed")
        want = self.run_on(harness.ETCD_BIN)
        got = self.run_on(harness.ETCDPP_BIN)
        # Sanity: the scenario produced what we think it did.
        self.assertEqual(want["key"][:3], ["PUT", "w/a", "1"])
        self.assertIn("DELETE", want["prefix"])
        for name in want:
            self.assertEqual(got[name], want[name], name)

    def test_compacted_revision_matches_etcd(self):
        if not os.path.exists(harness.ETCD_BIN):
            self.skipTest("etcd not installed")
        results = []
        for binary in (harness.ETCD_BIN, harness.ETCDPP_BIN):
            s = harness.Server(binary=binary)
            self.addCleanup(s.cleanup)
            s.start()
            for i in range(5):
                s.etcdctl("put", "k", str(i))
            s.etcdctl("compact", "4")
            p, lines = start_watch(s, "--rev=2", "k")
            out = read_until(p, lines, "never")
            results.append(out)
        self.assertEqual(results[1], results[0])
        self.assertTrue(any("compacted" in l for l in results[0]), results[0])


class Etcd3ClientTest(harness.ServerTestCase):
    """python3-etcd3 (grpc C-core) watches and callbacks."""

    def client(self):
        import etcd3
        host, port = self.server.endpoint.split(":")
        c = etcd3.client(host=host, port=int(port), timeout=10)
        self.addCleanup(c.close)
        return c

    def test_watch_iterator_prefix_and_cancel(self):
        c = self.client()
        events, cancel = c.watch_prefix("py/")
        c.put("py/a", "1")
        c.put("other", "x")
        c.put("py/b", "2")
        c.delete("py/a")
        got = []
        for ev in events:
            got.append((type(ev).__name__, ev.key.decode(), ev.value.decode()))
            if len(got) == 3:
                break
        cancel()
        self.assertEqual(got, [("PutEvent", "py/a", "1"), ("PutEvent", "py/b", "2"),
                               ("DeleteEvent", "py/a", "")])

    def test_callbacks_start_revision_and_prev_kv(self):
        c = self.client()
        c.put("cb", "1")
        c.put("cb", "2")
        rev = c.get("cb")[1].mod_revision
        c.put("cb", "3")
        got = queue.Queue()
        wid = c.add_watch_callback("cb", lambda resp: [got.put(e) for e in resp.events],
                                   start_revision=rev, prev_kv=True)
        c.put("cb", "4")
        vals = []
        deadline = time.monotonic() + GIVE_UP
        while len(vals) < 3 and time.monotonic() < deadline:
            try:
                e = got.get(timeout=0.2)
            except queue.Empty:
                continue
            vals.append((e.value.decode(), e.prev_value.decode() if e.prev_value else None))
        c.cancel_watch(wid)
        self.assertEqual(vals, [("2", "1"), ("3", "2"), ("4", "3")])

    def test_many_watchers_one_connection(self):
        c = self.client()
        iters = [c.watch("many/%d" % i) for i in range(50)]
        for i in range(50):
            c.put("many/%d" % i, str(i))
        for i, (events, cancel) in enumerate(iters):
            ev = next(iter(events))
            self.assertEqual(ev.value.decode(), str(i))
            cancel()


def go_check(server, check):
    binary = subprocess.run([GO_BUILD, "watchcheck"], capture_output=True, text=True,
                            check=True, timeout=600).stdout.strip()
    return subprocess.run([binary, server.url, check], capture_output=True, text=True,
                          timeout=120)


class GoClientTest(harness.ServerTestCase):
    """clientv3 features: WithRequireLeader, RequestProgress, completeness under load."""

    def check(self, name):
        r = go_check(self.server, name)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(r.stdout.startswith("OK"), r.stdout)
        return r.stdout

    def test_require_leader(self):
        self.check("require-leader")

    def test_request_progress(self):
        self.check("request-progress")

    def test_completeness_under_load(self):
        out = self.check("completeness")
        print(out.strip())


class GoProgressNotifyTest(harness.ServerTestCase):
    EXTRA_ARGS = ("--experimental-watch-progress-notify-interval=200ms",)

    def test_progress_notify(self):
        r = go_check(self.server, "progress-notify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class GoFragmentTest(harness.ServerTestCase):
    EXTRA_ARGS = ("--max-request-bytes=65536",)

    def test_fragment(self):
        r = go_check(self.server, "fragment")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()


class SlowConsumerTest(harness.ServerTestCase):
    """A client that stops reading its watch stream while 8 MiB are written: the server moves
    its watcher to catch-up instead of buffering (the stream is not reset at the transport's
    8 MiB limit), and once the client reads again it receives every revision exactly once, in
    order."""

    def test_stalled_reader_catches_up(self):
        import grpc
        from etcd3.etcdrpc import rpc_pb2, rpc_pb2_grpc
        channel = grpc.insecure_channel(self.server.endpoint)
        self.addCleanup(channel.close)
        kv = rpc_pb2_grpc.KVStub(channel)
        reqs = queue.Queue()

        def gen():
            while True:
                r = reqs.get()
                if r is None:
                    return
                yield r
        call = rpc_pb2_grpc.WatchStub(channel).Watch(gen())
        self.addCleanup(call.cancel)
        reqs.put(rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(
            key=b"slow/", range_end=b"slow0")))
        it = iter(call)
        self.assertTrue(next(it).created)
        value = b"v" * 8192
        n = 1024  # 8 MiB of events while the client reads nothing
        first = None
        for i in range(n):
            rev = kv.Put(rpc_pb2.PutRequest(key=b"slow/%04d" % (i % 100), value=value)) \
                .header.revision
            first = first or rev
        revs = []
        for resp in it:
            self.assertFalse(resp.canceled, resp)
            revs.extend(e.kv.mod_revision for e in resp.events)
            if revs and revs[-1] >= rev:
                break
        reqs.put(None)
        self.assertEqual(revs, list(range(first, first + n)))
        # The catch-up path was taken (the client's stall reached the server).
        with open(self.server.log_path, "rb") as f:
            self.assertIn(b"client is not reading", f.read())
        # The server is still healthy and serving.
        self.assertEqual(self.server.etcdctl("get", "slow/0001", "--print-value-only").stdout
                         .strip(), "v" * 8192)


class LeaseExpiryTest(harness.ServerTestCase):
    """Keys of an expired lease are deleted in one revision: a watcher sees one DELETE event per
    key, together, as etcd sends them."""

    def test_expired_lease_deletes_are_watched(self):
        import etcd3
        import grpc
        host, port = self.server.endpoint.split(":")
        c = etcd3.client(host=host, port=int(port), timeout=10)
        self.addCleanup(c.close)
        try:
            lease = c.lease(1)
        except (grpc.RpcError, etcd3.exceptions.Etcd3Exception) as e:
            self.skipTest("Lease service not available yet: %s" % e)
        c.put("lease/a", "1", lease=lease)
        c.put("lease/b", "2", lease=lease)
        c.put("lease/c", "3")
        got = queue.Queue()
        wid = c.add_watch_prefix_callback("lease/", lambda r: got.put(r))
        self.addCleanup(c.cancel_watch, wid)
        deadline = time.monotonic() + GIVE_UP
        resp = None
        while time.monotonic() < deadline:
            try:
                resp = got.get(timeout=0.2)
                break
            except queue.Empty:
                continue
        self.assertIsNotNone(resp, "no DELETE events after the lease expired")
        evs = [(type(e).__name__, e.key.decode()) for e in resp.events]
        self.assertEqual(evs, [("DeleteEvent", "lease/a"), ("DeleteEvent", "lease/b")])
        self.assertEqual(resp.events[0].mod_revision, resp.events[1].mod_revision)
