"""Crash test (issue 4): kill -9 the server at random moments under concurrent writes, many
times; after each restart every acknowledged write is present and the revision sequence has no
gaps. Writers use python3-etcd3 (grpc C-core)."""
import os
import random
import threading
import time
import unittest

import etcd3

import harness

ROUNDS = int(os.environ.get("ETCDPP_CRASH_ROUNDS", "6"))
WRITERS = 4


class CrashRecoveryTest(unittest.TestCase):
    def test_acknowledged_writes_survive_kill9(self):
        server = harness.Server()
        self.addCleanup(server.cleanup)
        rng = random.Random(int(os.environ.get("ETCDPP_CRASH_SEED", "1")))
        acked = {}  # key -> value, only for puts whose response arrived
        acked_lock = threading.Lock()
        for rnd in range(ROUNDS):
            server.start()
            client = etcd3.client(host="127.0.0.1", port=server.client_port, timeout=5)
            self.check_state(client, acked, rnd)
            stop = threading.Event()

            def writer(w):
                c = etcd3.client(host="127.0.0.1", port=server.client_port, timeout=5)
                i = 0
                while not stop.is_set() and i < 100000:  # bounded
                    key, value = "/crash/r%d/w%d/%06d" % (rnd, w, i), "v%d" % i
                    try:
                        c.put(key, value)
                    except Exception:
                        return  # the server died; unacknowledged writes may or may not exist
                    with acked_lock:
                        acked[key] = value
                    i += 1

            threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.2, 1.0))
            server.kill9()
            stop.set()
            for t in threads:
                t.join(timeout=30)
            client.close()
        server.start()
        client = etcd3.client(host="127.0.0.1", port=server.client_port, timeout=5)
        self.check_state(client, acked, ROUNDS)
        self.assertGreater(len(acked), 0)

    def check_state(self, client, acked, rnd):
        present = {}
        for value, meta in client.get_prefix("/crash/"):
            present[meta.key.decode()] = (value.decode(), meta.mod_revision)
        missing = [k for k in acked if k not in present]
        self.assertEqual(missing[:5], [], "round %d: %d acknowledged writes lost" % (rnd, len(missing)))
        for k, v in acked.items():
            self.assertEqual(present[k][0], v)
        # Every put created one revision: the revisions in use are exactly 2..current.
        # Each put is to a new key, so the live keys' mod revisions must be exactly 2..N: a gap
        # would be a revision (an applied write) that vanished.
        revisions = sorted(r for _, r in present.values())
        self.assertEqual(revisions, list(range(2, 2 + len(revisions))),
                         "round %d: revision sequence has gaps" % rnd)


if __name__ == "__main__":
    unittest.main()
