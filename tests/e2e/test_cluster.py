"""Three-member etcdpp clusters on loopback, driven by real clients (etcdctl, python-etcd3).

What is checked: every member reports the same cluster and leader (`endpoint status`), is healthy
(`endpoint health`), lists all members with peer and client URLs (`member list`); writes through
any member are visible to linearizable reads on every member; after `kill -9` of the leader under
writers a new leader is elected and writes continue; the killed member catches up after a
restart; no acknowledged write is lost and every member holds the same gap-free history. A
variant runs the peer traffic (and client traffic) over mutual TLS.

Every wait is bounded; none decides correctness by elapsed time.
"""
import os
import sys
import threading
import time
import unittest

import etcd3

import harness

# Short raft timers keep the failover part of the test quick (etcd's defaults are 100/1000 ms).
TIMERS = ["--heartbeat-interval", "50", "--election-timeout", "500"]


class Member(harness.Server):
    def __init__(self, name, tls=False, peer_tls=False):
        super().__init__(name=name, tls=tls)
        self.peer_tls = peer_tls
        self.initial_cluster = None

    @property
    def peer_url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.peer_tls else "http", self.peer_port)

    def args(self):
        a = [self.binary, "--name", self.name, "--data-dir", self.data_dir,
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", self.peer_url,
             "--initial-advertise-peer-urls", self.peer_url,
             "--initial-cluster", self.initial_cluster,
             "--initial-cluster-token", "e2e-cluster",
             "--initial-cluster-state", "new"] + TIMERS
        c = harness.certs_dir() if (self.tls or self.peer_tls) else None
        if self.tls:
            a += ["--trusted-ca-file", os.path.join(c, "ca.crt"),
                  "--cert-file", os.path.join(c, "server.crt"),
                  "--key-file", os.path.join(c, "server.key"),
                  "--client-cert-auth=true"]
        if self.peer_tls:
            a += ["--peer-trusted-ca-file", os.path.join(c, "ca.crt"),
                  "--peer-cert-file", os.path.join(c, "peer.crt"),
                  "--peer-key-file", os.path.join(c, "peer.key"),
                  "--peer-client-cert-auth=true"]
        return a

    def client(self):
        if not self.tls:
            return etcd3.client("127.0.0.1", self.client_port, timeout=10)
        c = harness.certs_dir()
        return etcd3.client("localhost", self.client_port, timeout=10,
                            ca_cert=os.path.join(c, "ca.crt"),
                            cert_key=os.path.join(c, "apiserver-etcd-client.key"),
                            cert_cert=os.path.join(c, "apiserver-etcd-client.crt"))


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # a member still starting / electing: try again
            last = e
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


class ClusterTestBase(unittest.TestCase):
    TLS = False
    PEER_TLS = False

    def setUp(self):
        if not os.path.exists(harness.ETCDPP_BIN):
            self.fail("etcdpp binary not found at %s" % harness.ETCDPP_BIN)
        self.members = [Member("m%d" % i, tls=self.TLS, peer_tls=self.PEER_TLS)
                        for i in range(3)]
        ic = ",".join("%s=%s" % (m.name, m.peer_url) for m in self.members)
        for m in self.members:
            m.initial_cluster = ic
            self.addCleanup(m.cleanup)
        for m in self.members:
            m.start(wait=False)
        for m in self.members:
            m.wait_healthy(timeout=30)

    def status(self, m):
        return m.etcdctl_json("endpoint", "status")[0]["Status"]

    def leader_id(self, live, not_id=None):
        """The leader every live member agrees on (waits, bounded, for agreement), other than
        not_id (a killed leader, which the others believe in until their election timeout)."""
        def agreed():
            leaders = {self.status(m)["leader"] for m in live}
            if len(leaders) != 1 or 0 in leaders or not_id in leaders:
                return None
            return leaders.pop()
        return wait_until(agreed, 30, "one leader on %s" % [m.name for m in live])

    def member_by_id(self, member_id):
        for m in self.members:
            if self.status(m)["header"]["member_id"] == member_id:
                return m
        raise AssertionError("no member with id %x" % member_id)


class ClusterTest(ClusterTestBase):
    def test_members_agree_list_each_other_and_serve_linearizable_kv(self):
        statuses = [self.status(m) for m in self.members]
        self.assertEqual(len({s["header"]["cluster_id"] for s in statuses}), 1)
        self.assertEqual(len({s["header"]["member_id"] for s in statuses}), 3)
        leader = self.leader_id(self.members)
        self.assertIn(leader, {s["header"]["member_id"] for s in statuses})
        for m in self.members:
            out = m.etcdctl("endpoint", "health").stdout + m.etcdctl("endpoint", "health").stderr
            self.assertIn("is healthy", out)

        # member list, from every member: all three with peer URLs and (once the peers have
        # connected and introduced themselves) client URLs.
        want = {m.name: (m.peer_url, m.url) for m in self.members}
        for m in self.members:
            def complete():
                ms = m.etcdctl_json("member", "list")["members"]
                got = {x["name"]: (x["peerURLs"][0], (x.get("clientURLs") or [""])[0])
                       for x in ms}
                return got == want and ms
            wait_until(complete, 15, "member list with every URL on %s" % m.name)

        # Writes through every member; linearizable reads from every member see all of them.
        for i, m in enumerate(self.members):
            m.etcdctl("put", "k%d" % i, "v%d" % i)
        for m in self.members:
            out = m.etcdctl("get", "--prefix", "k").stdout.split()
            self.assertEqual(out, ["k0", "v0", "k1", "v1", "k2", "v2"], m.name)

    def test_lease_keepalive_on_every_member(self):
        # Only the leader renews leases; followers relay keep-alives to it.
        out = self.members[1].etcdctl("lease", "grant", "30").stdout
        lease = out.split()[1]
        self.members[2].etcdctl("put", "--lease", lease, "leased", "v")
        for m in self.members:
            out = m.etcdctl("lease", "keep-alive", "--once", lease).stdout
            self.assertIn("lease %s keepalived with TTL(30)" % lease, out, m.name)
        self.members[0].etcdctl("lease", "revoke", lease)
        for m in self.members:
            out = m.etcdctl("lease", "keep-alive", "--once", lease, check=False)
            self.assertIn("not found", out.stdout + out.stderr, m.name)
            self.assertEqual(m.etcdctl("get", "leased").stdout, "", m.name)

    def test_leader_kill_under_writers_loses_no_acknowledged_write(self):
        old_leader_id = self.leader_id(self.members)
        leader = self.member_by_id(old_leader_id)
        acked = {}   # key -> (value, revision), acknowledged writes
        lock = threading.Lock()
        stop = threading.Event()
        killed = threading.Event()
        after_kill = [0]
        errors = []

        def writer(t):
            clients = [m.client() for m in self.members]
            cur = t % 3
            i = 0
            # Bounded: 25 s at most, and each writer stops once enough writes landed after the
            # kill.
            deadline = time.monotonic() + 25
            while not stop.is_set() and time.monotonic() < deadline:
                key, value = "w/%d/%05d" % (t, i), "value-%d-%d" % (t, i)
                try:
                    resp = clients[cur].put(key, value)
                except Exception as e:  # unknown outcome; try the next member with a new key
                    errors.append(type(e).__name__)
                    cur = (cur + 1) % 3
                    i += 1
                    time.sleep(0.05)
                    continue
                with lock:
                    acked[key] = (value, resp.header.revision)
                    if killed.is_set():
                        after_kill[0] += 1
                        if after_kill[0] >= 300:
                            stop.set()
                i += 1

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(6)]
        for th in threads:
            th.start()
        wait_until(lambda: len(acked) >= 100, 20, "100 writes before the kill")
        leader.kill9()
        killed.set()
        survivors = [m for m in self.members if m is not leader]
        new_leader = self.leader_id(survivors, not_id=old_leader_id)
        self.assertIn(new_leader, [self.status(m)["header"]["member_id"] for m in survivors])
        for th in threads:
            th.join(timeout=40)
        self.assertGreaterEqual(after_kill[0], 300, "writes did not continue after the kill")
        sys.stderr.write("\n  %d writes acknowledged (%d after the kill), %d failed: %s\n" %
                         (len(acked), after_kill[0], len(errors), sorted(set(errors))))

        leader.start(wait=False)
        leader.wait_healthy(timeout=30)
        final_rev = max(rev for _, rev in acked.values())

        # Every member (the restarted one too) has every acknowledged write, and the same
        # gap-free history of revisions.
        histories = []
        for m in self.members:
            c = m.client()
            got = {md.key.decode(): v for v, md in c.get_prefix("w/")}
            for key, (value, _) in acked.items():
                self.assertEqual(got.get(key), value.encode(), "%s lost %s" % (m.name, key))
            histories.append(self.history(c, final_rev))
        self.assertEqual(histories[0], histories[1])
        self.assertEqual(histories[0], histories[2])
        revs = [rev for rev, _, _ in histories[0]]
        # The first write of a new cluster is revision 2; no revision is skipped after it.
        self.assertEqual(revs, list(range(2, 2 + len(revs))), "revision gap")
        for key, (value, rev) in acked.items():
            self.assertIn((rev, key, value), set(histories[0]))

    def history(self, client, upto):
        """Every event of the w/ prefix from revision 1 up to `upto`, as (rev, key, value)."""
        events, cancel = client.watch_prefix("w/", start_revision=1)
        out = []
        done = threading.Event()

        def drain():
            for ev in events:
                out.append((ev.mod_revision, ev.key.decode(), ev.value.decode()))
                if ev.mod_revision >= upto:
                    break
            done.set()

        th = threading.Thread(target=drain, daemon=True)
        th.start()
        done.wait(timeout=20)
        cancel()
        self.assertTrue(done.is_set(), "history up to %d not delivered" % upto)
        return out


class PeerTlsClusterTest(ClusterTestBase):
    TLS = True
    PEER_TLS = True

    def test_members_talk_over_mutual_tls(self):
        leader = self.leader_id(self.members)
        self.assertNotEqual(leader, 0)
        self.members[0].etcdctl("put", "tls-key", "tls-value")
        for m in self.members:
            self.assertEqual(m.etcdctl("get", "tls-key").stdout.split(), ["tls-key", "tls-value"])
        ms = self.members[1].etcdctl_json("member", "list")["members"]
        self.assertEqual(sorted(x["peerURLs"][0] for x in ms),
                         sorted(m.peer_url for m in self.members))
        self.assertTrue(all(u.startswith("https://") for x in ms for u in x["peerURLs"]))


if __name__ == "__main__":
    unittest.main()
