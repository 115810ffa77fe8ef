"""Random KV request sequences through python3-etcd3's gRPC stubs (grpc C-core), sent to real
etcd 3.4 and to etcdpp: every response and error must be identical (random_rpc_diff.py)."""
import os
import unittest

import random_rpc_diff
import test_kv_diff

SEEDS = [int(s) for s in os.environ.get("ETCDPP_RPC_DIFF_SEEDS", "1,2,3").split(",")]


class RandomRpcDiffTest(unittest.TestCase):
    def test_random_sequences(self):
        for seed in SEEDS:
            with self.subTest(seed=seed):
                pair = test_kv_diff.Pair(self)
                rc = random_rpc_diff.main(seed, 300, pair.etcd.client_port,
                                          pair.etcdpp.client_port)
                self.assertEqual(rc, 0, "seed %d differs (see output above)" % seed)


if __name__ == "__main__":
    unittest.main()
