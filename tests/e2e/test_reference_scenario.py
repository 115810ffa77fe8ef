"""DESIGN §1, steps 1-3, literally: a CA and server certificate in the kubeadm layout, etcdpp
started with exactly the static-pod flags, and the health check an external checker runs."""
import os
import subprocess
import unittest

import harness


class ReferenceScenarioTest(unittest.TestCase):
    def setUp(self):
        self.certs = harness.certs_dir()
        self.server = harness.Server(tls=True, name="master-0")
        self.addCleanup(self.server.cleanup)
        c = lambda f: os.path.join(self.certs, f)
        port = self.server.client_port
        # The scenario's flags, with the listen address narrowed to loopback (tests bind
        # loopback only).
        self.server.args = lambda: [
            harness.ETCDPP_BIN, "--name=master-0",
            "--trusted-ca-file=" + c("ca.crt"), "--cert-file=" + c("server.crt"),
            "--key-file=" + c("server.key"), "--client-cert-auth=true",
            "--listen-client-urls=https://127.0.0.1:%d" % port,
            "--advertise-client-urls=https://localhost:%d" % port,
            "--data-dir=" + self.server.data_dir,
            "--listen-peer-urls=http://127.0.0.1:%d" % self.server.peer_port,
        ]
        self.server.start()

    def curl(self, *args):
        return subprocess.run(["curl", "-sS", "--max-time", "5"] + list(args),
                              capture_output=True, text=True)

    def test_server_certificate_verifies(self):
        r = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(self.certs, "ca.crt"),
                            os.path.join(self.certs, "server.crt")], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("OK", r.stdout)

    def test_health_check_with_healthcheck_client_certificate(self):
        c = lambda f: os.path.join(self.certs, f)
        url = "https://localhost:%d/health" % self.server.client_port
        r = self.curl("-i", "--cacert", c("ca.crt"), "--cert", c("healthcheck-client.crt"),
                      "--key", c("healthcheck-client.key"), url)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("HTTP/2 200"), r.stdout)
        self.assertEqual(r.stdout.rstrip().splitlines()[-1], '{"health":"true"}')
        # And over HTTP/1.1, as some health checkers speak it.
        r = self.curl("-i", "--http1.1", "--cacert", c("ca.crt"), "--cert",
                      c("healthcheck-client.crt"), "--key", c("healthcheck-client.key"), url)
        self.assertTrue(r.stdout.startswith("HTTP/1.1 200"), r.stdout)
        self.assertTrue(r.stdout.rstrip().endswith('{"health":"true"}'), r.stdout)

    def test_handshake_refused_without_or_with_foreign_client_certificate(self):
        c = lambda f: os.path.join(self.certs, f)
        url = "https://localhost:%d/health" % self.server.client_port
        r = self.curl("--cacert", c("ca.crt"), url)
        self.assertNotEqual(r.returncode, 0, "no client cert must be refused: " + r.stdout)
        r = self.curl("--cacert", c("ca.crt"), "--cert", c("other-client.crt"), "--key",
                      c("other-client.key"), url)
        self.assertNotEqual(r.returncode, 0, "a foreign CA's cert must be refused: " + r.stdout)
        r = self.curl("--cacert", c("ca.crt"), "--cert", c("expired-client.crt"), "--key",
                      c("expired-client.key"), url)
        self.assertNotEqual(r.returncode, 0, "an expired cert must be refused: " + r.stdout)
        # The server keeps serving everyone else.
        r = self.curl("--cacert", c("ca.crt"), "--cert", c("healthcheck-client.crt"), "--key",
                      c("healthcheck-client.key"), url)
        self.assertEqual(r.stdout, '{"health":"true"}')

    def test_etcdctl_as_the_apiserver(self):
        s = self.server
        s.etcdctl("put", "/registry/pods/default/p1", "v1")
        out = s.etcdctl_json("get", "/registry/pods/", "--prefix")
        self.assertEqual(out["count"], 1)
        self.assertEqual(out["kvs"][0]["version"], 1)
        r = s.etcdctl("endpoint", "health")
        self.assertIn("is healthy", r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
