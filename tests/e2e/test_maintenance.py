"""Maintenance RPCs operators run with etcdctl: defrag, endpoint status, endpoint hashkv, and
snapshot save / `etcdpp snapshot restore`. Bulk data goes in with python3-etcd3 (grpc C-core);
the operations themselves are run with Debian's etcdctl (grpc-go), as an operator would."""
import os
import subprocess
import threading
import time
import unittest

import etcd3

import harness

KEYS = 3000
VALUE = b"v" * 2048


def status(server):
    return server.etcdctl_json("endpoint", "status")[0]["Status"]


def hashkv(server, rev=0):
    args = ["endpoint", "hashkv"] + (["--rev", str(rev)] if rev else [])
    return server.etcdctl_json(*args)[0]["HashKV"]


def all_kvs(client):
    return sorted((m.key, v, m.mod_revision, m.create_revision, m.version)
                  for v, m in client.get_all())


class MaintenanceTest(harness.ServerTestCase):
    def fill_and_churn(self, client):
        """Writes KEYS keys of 2 KiB, deletes nine in ten, compacts: most pages become free."""
        for i in range(KEYS):
            client.put("/churn/%05d" % i, VALUE)
        for i in range(KEYS):
            if i % 10:
                client.delete("/churn/%05d" % i)
        client.put("/marker", "m")
        current = client.get("/marker")[1].mod_revision
        client.compact(current, physical=True)
        return current

    def test_defrag_shrinks_the_file_and_keeps_data_revisions_and_hash(self):
        client = etcd3.client(host="127.0.0.1", port=self.server.client_port, timeout=10)
        compact_rev = self.fill_and_churn(client)
        before = status(self.server)
        kvs_before = all_kvs(client)
        hash_before = hashkv(self.server)
        self.assertEqual(hash_before["compact_revision"], compact_rev)
        self.assertGreater(before["dbSize"], before["dbSizeInUse"])

        r = self.server.etcdctl("defrag")
        self.assertIn("Finished defragmenting etcd member[%s]" % self.server.url, r.stdout)

        after = status(self.server)
        self.assertLess(after["dbSize"], before["dbSize"] // 2, (before, after))
        self.assertEqual(after["header"]["revision"], before["header"]["revision"])
        self.assertEqual(all_kvs(client), kvs_before)
        self.assertEqual(hashkv(self.server), hash_before)

        # Still serving writes, and the defragmented file is what a restart opens.
        client.put("/after", "defrag")
        rev = client.get("/after")[1].mod_revision
        self.assertEqual(rev, before["header"]["revision"] + 1)
        hash_at_rev = hashkv(self.server, rev)
        self.server.stop()
        self.server.start()
        client = etcd3.client(host="127.0.0.1", port=self.server.client_port, timeout=10)
        self.assertEqual(client.get("/after")[0], b"defrag")
        after_restart = hashkv(self.server, rev)
        self.assertEqual(after_restart["hash"], hash_at_rev["hash"])
        self.assertEqual(after_restart["compact_revision"], hash_at_rev["compact_revision"])
        self.assertEqual(len(all_kvs(client)), len(kvs_before) + 1)

    def test_defrag_under_concurrent_writes_reads_and_a_watch(self):
        port = self.server.client_port
        client = etcd3.client(host="127.0.0.1", port=port, timeout=10)
        for i in range(300):
            client.put("/old/%04d" % i, VALUE)
        client.delete_prefix("/old/")
        events, cancel = client.watch_prefix("/c/")
        seen = []
        watcher = threading.Thread(target=lambda: [seen.append(e.key) for e in events])
        watcher.start()
        stop = threading.Event()
        acked, errors = [], []

        def writer(w):
            c = etcd3.client(host="127.0.0.1", port=port, timeout=30)
            i = 0
            while not stop.is_set() and i < 20000:  # bounded
                key = "/c/w%d/%06d" % (w, i)
                try:
                    c.put(key, "x" * 100)
                    acked.append(key.encode())
                except Exception as e:  # noqa: BLE001 - any failure is a test failure
                    errors.append("put %s: %r" % (key, e))
                    return
                i += 1

        def reader():
            c = etcd3.client(host="127.0.0.1", port=port, timeout=30)
            last = 0
            while not stop.is_set():
                try:
                    n = len(list(c.get_prefix("/c/", keys_only=True)))
                except Exception as e:  # noqa: BLE001
                    errors.append("range: %r" % (e,))
                    return
                if n < last:
                    errors.append("range went back from %d to %d keys" % (last, n))
                last = n

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(2)]
        threads.append(threading.Thread(target=reader))
        for t in threads:
            t.start()
        try:
            for k in range(3):
                # Each defrag starts while writes are flowing (bounded wait for some progress).
                deadline = time.monotonic() + 20
                while len(acked) < 20 * (k + 1) and not errors and time.monotonic() < deadline:
                    time.sleep(0.01)
                self.server.etcdctl("defrag", timeout=60)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
        self.assertEqual(errors, [])
        self.assertGreater(len(acked), 0)
        got = set(k for _, k in [(v, m.key) for v, m in client.get_prefix("/c/", keys_only=True)])
        self.assertEqual(got, set(acked))
        deadline = time.monotonic() + 20
        while len(seen) < len(acked) and time.monotonic() < deadline:
            time.sleep(0.05)
        cancel()
        watcher.join(timeout=10)
        self.assertEqual(sorted(seen), sorted(acked), "every acknowledged put reached the watch")

    def test_streamed_reads_are_whole_snapshots_under_writes_compaction_and_defrag(self):
        """Answers over 1 MiB are streamed from their snapshot while the client reads, and ranges
        over a few thousand keys are read on a large-read thread (or, when both are busy, on the
        loop). Several such reads at once, racing writes, compactions and defragmentations, must
        each return exactly the state at their header's revision."""
        port = self.server.client_port
        client = etcd3.client(host="127.0.0.1", port=port, timeout=30)
        keys = ["/big/%04d" % i for i in range(5000)]  # ~2.7 MiB per answer
        history = {k: [] for k in keys}  # key -> [(mod_revision, value)], in revision order
        for k in keys:
            value = ("load-%s-" % k).ljust(512, "x")
            history[k].append((client.put(k, value).header.revision, value))
        stop = threading.Event()
        answers, errors = [], []

        def writer():
            c = etcd3.client(host="127.0.0.1", port=port, timeout=30)
            for n in range(100000):  # bounded
                if stop.is_set():
                    return
                k = keys[(n * 7919) % len(keys)]
                value = ("w%d-" % n).ljust(512, "y")
                try:
                    history[k].append((c.put(k, value).header.revision, value))
                except Exception as e:  # noqa: BLE001 - any failure is a test failure
                    errors.append("put %s: %r" % (k, e))
                    return

        def reader():
            c = etcd3.client(host="127.0.0.1", port=port, timeout=30)
            for i in range(1000):  # bounded
                if stop.is_set():
                    return
                descending = i % 2 == 1  # sorted answers are built whole, off the loop too
                try:
                    r = c.get_prefix_response("/big/", sort_order="descend" if descending else None)
                except Exception as e:  # noqa: BLE001
                    errors.append("range: %r" % (e,))
                    return
                kvs = [(kv.key.decode(), kv.mod_revision, kv.value.decode()) for kv in r.kvs]
                answers.append((r.header.revision, r.count, kvs[::-1] if descending else kvs))

        threads = [threading.Thread(target=writer)]
        threads += [threading.Thread(target=reader) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            for _ in range(3):
                time.sleep(0.5)
                client.compact(client.put("/marker", "m").header.revision)
                self.server.etcdctl("defrag", timeout=60)
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
        self.assertEqual(errors, [])
        self.assertGreater(len(answers), 3)
        for rev, count, kvs in answers:
            want = []
            for k in keys:
                latest = [(r, v) for r, v in history[k] if r <= rev][-1]
                want.append((k, latest[0], latest[1]))
            self.assertEqual(count, len(keys))
            self.assertEqual(kvs, want, "the answer at revision %d is not that revision's state"
                             % rev)

    def test_kill9_at_any_moment_of_a_defrag_leaves_a_valid_database(self):
        client = etcd3.client(host="127.0.0.1", port=self.server.client_port, timeout=10)
        for batch in range(30):  # 3000 keys of 2 KiB, 100 per txn
            client.transaction(compare=[], failure=[], success=[
                client.transactions.put("/k/%05d" % (batch * 100 + i), VALUE)
                for i in range(100)])
        client.delete_prefix("/k/0")
        client.put("/marker", "m")
        rev = client.get("/marker")[1].mod_revision
        client.compact(rev, physical=True)
        expected = hashkv(self.server)
        count = len(all_kvs(client))
        db = os.path.join(self.server.data_dir, "member", "snap", "db")
        # Kill points spread from "before the copy started" to "after the swap".
        for delay in (0.0, 0.005, 0.02, 0.05, 0.1, 0.2, 0.5):
            defrag = subprocess.Popen(
                [harness.ETCDCTL_BIN, "--endpoints", self.server.url, "defrag"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env=dict(os.environ, ETCDCTL_API="3"))
            time.sleep(delay)  # where the kill lands; any outcome must be correct
            self.server.kill9()
            defrag.wait(timeout=30)
            self.server.start()
            self.assertFalse(os.path.exists(db + ".tmp"), "leftover removed at start")
            got = hashkv(self.server)
            self.assertEqual((got["hash"], got["compact_revision"], got["header"]["revision"]),
                             (expected["hash"], expected["compact_revision"],
                              expected["header"]["revision"]), "kill after %ss" % delay)
            client = etcd3.client(host="127.0.0.1", port=self.server.client_port, timeout=10)
            self.assertEqual(len(all_kvs(client)), count)

    def test_hashkv_errors_and_hash_are_those_of_etcd(self):
        client = etcd3.client(host="127.0.0.1", port=self.server.client_port, timeout=10)
        for i in range(5):
            client.put("k%d" % i, "v")
        h = hashkv(self.server)
        # Never compacted: etcd reports compact_revision -1 (omitted from JSON when 0).
        self.assertEqual(h["compact_revision"], -1)
        self.assertEqual(h["header"]["revision"], 6)
        # The same revision hashes the same whatever is written later.
        at3 = hashkv(self.server, 3)["hash"]
        client.put("k9", "later")
        self.assertEqual(hashkv(self.server, 3)["hash"], at3)
        self.assertNotEqual(hashkv(self.server)["hash"], at3)
        r = self.server.etcdctl("endpoint", "hashkv", "--rev", "100", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("required revision is a future revision", r.stderr)
        client.compact(4, physical=True)
        r = self.server.etcdctl("endpoint", "hashkv", "--rev", "2", check=False)
        self.assertIn("required revision has been compacted", r.stderr)
        self.assertEqual(hashkv(self.server)["compact_revision"], 4)
        # Whole-database Hash (etcd's testing aid): stable while nothing is written, changed
        # by a write.
        h1 = client.hash()
        self.assertEqual(client.hash(), h1)
        client.put("k10", "v")
        self.assertNotEqual(client.hash(), h1)

    def test_snapshot_save_then_restore_serves_the_same_keys_as_a_new_member(self):
        client = etcd3.client(host="127.0.0.1", port=self.server.client_port, timeout=10)
        for i in range(500):
            client.put("/snap/%04d" % i, "value-%d" % i)
        client.delete("/snap/0007")
        lease = client.lease(3600)
        client.put("/leased", "x", lease=lease)
        expected = all_kvs(client)
        rev = client.get("/leased")[1].mod_revision
        path = os.path.join(self.server.tmp, "backup.db")
        # Writes go on while the snapshot streams; the snapshot is one consistent state.
        r = self.server.etcdctl("snapshot", "save", path, timeout=60)
        self.assertIn("Snapshot saved at %s" % path, r.stdout)
        self.assertEqual(os.path.getsize(path) % 512, 32, "etcd's trailing sha256")

        restored = harness.Server(name="restored")
        self.addCleanup(restored.cleanup)
        peer = "http://127.0.0.1:%d" % restored.peer_port
        r = subprocess.run([harness.ETCDPP_BIN, "snapshot", "restore", path,
                            "--data-dir", restored.data_dir, "--name", "restored",
                            "--initial-cluster", "restored=" + peer,
                            "--initial-advertise-peer-urls", peer],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # A second restore into the same dir is refused, as etcdctl does.
        again = subprocess.run([harness.ETCDPP_BIN, "snapshot", "restore", path,
                                "--data-dir", restored.data_dir, "--name", "restored",
                                "--initial-cluster", "restored=" + peer,
                                "--initial-advertise-peer-urls", peer],
                               capture_output=True, text=True, timeout=60)
        self.assertNotEqual(again.returncode, 0)
        self.assertIn("exists", again.stderr)

        restored.start()
        c2 = etcd3.client(host="127.0.0.1", port=restored.client_port, timeout=10)
        self.assertEqual(all_kvs(c2), expected)
        self.assertEqual(hashkv(restored, rev)["hash"], hashkv(self.server, rev)["hash"])
        self.assertNotEqual(status(restored)["header"]["member_id"],
                            status(self.server)["header"]["member_id"])
        self.assertEqual(status(restored)["header"]["revision"], rev)
        # The lease came along (its keys too): its TTL still runs on the new member.
        ttl = restored.etcdctl_json("lease", "timetolive", "%x" % lease.id)
        self.assertGreater(ttl["ttl"], 0, ttl)
        c2.put("/after-restore", "y")
        self.assertEqual(c2.get("/after-restore")[1].mod_revision, rev + 1)

    def test_snapshot_of_a_corrupt_transfer_is_refused_by_restore(self):
        client = etcd3.client(host="127.0.0.1", port=self.server.client_port, timeout=10)
        client.put("k", "v")
        path = os.path.join(self.server.tmp, "backup.db")
        self.server.etcdctl("snapshot", "save", path, timeout=60)
        with open(path, "r+b") as f:
            f.seek(64)
            b = f.read(1)
            f.seek(64)
            f.write(bytes([b[0] ^ 0xff]))
        r = subprocess.run([harness.ETCDPP_BIN, "snapshot", "restore", path, "--data-dir",
                            os.path.join(self.server.tmp, "bad")],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("expected sha256", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.server.tmp, "bad")))


class MaintenanceOverTlsTest(harness.ServerTestCase):
    """The reference scenario's set-up: https, client certificates required."""
    TLS = True

    def test_defrag_hashkv_and_snapshot_save_with_client_certificates(self):
        for i in range(50):
            self.server.etcdctl("put", "k%02d" % i, "v" * 1000)
        before = hashkv(self.server)
        r = self.server.etcdctl("defrag")
        self.assertIn("Finished defragmenting etcd member", r.stdout)
        self.assertEqual(hashkv(self.server)["hash"], before["hash"])
        path = os.path.join(self.server.tmp, "tls-backup.db")
        r = self.server.etcdctl("snapshot", "save", path, timeout=60)
        self.assertIn("Snapshot saved at %s" % path, r.stdout)
        self.assertEqual(os.path.getsize(path) % 512, 32)


if __name__ == "__main__":
    unittest.main()
