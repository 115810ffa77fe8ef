"""Shared helpers for end-to-end tests: start real etcdpp (or etcd) processes on free loopback
ports and drive them with real clients (etcdctl, curl, python3-etcd3).

Run with Debian's /usr/bin/python3 (it has python3-etcd3 and grpcio). The server binary comes
from $ETCDPP_BIN (set by `make test`), else build/release/src/cmd/etcdpp in the source tree.
Every wait is bounded; a test never waits on the wall clock to decide correctness, only to give
up.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ETCDPP_BIN = os.environ.get("ETCDPP_BIN", os.path.join(ROOT, "build/release/src/cmd/etcdpp"))
ETCD_BIN = "/usr/bin/etcd"
ETCDCTL_BIN = "/usr/bin/etcdctl"


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_CERTS_DIR = None


def certs_dir():
    """The kubeadm-layout test PKI (tests/lib/make-certs.sh), made once per process."""
    global _CERTS_DIR
    if _CERTS_DIR is None:
        _CERTS_DIR = tempfile.mkdtemp(prefix="etcdpp-certs-")
        subprocess.run([os.path.join(ROOT, "tests/lib/make-certs.sh"), _CERTS_DIR], check=True)
    return _CERTS_DIR


class Server:
    """One server process (etcdpp by default, or real etcd with binary=ETCD_BIN).

    tls=True starts it the way the reference scenario does: https client URL, server cert,
    trusted CA and --client-cert-auth=true.
    """

    def __init__(self, binary=None, tls=False, name="default", extra_args=(), data_dir=None,
                 env=None):
        self.binary = binary or ETCDPP_BIN
        self.tls = tls
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix="etcdpp-e2e-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.client_port = free_port()
        self.peer_port = free_port()
        self.extra_args = list(extra_args)
        self.env = env
        self.proc = None
        # True from the moment this process answered /health until the harness signals it: if it
        # has exited by cleanup time, it died on its own and cleanup shows why.
        self.serving = False
        self.log_path = os.path.join(self.tmp, "server.log")

    @property
    def scheme(self):
        return "https" if self.tls else "http"

    @property
    def endpoint(self):
        return "127.0.0.1:%d" % self.client_port

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.client_port)

    def args(self):
        peer = "http://127.0.0.1:%d" % self.peer_port
        a = [self.binary, "--name", self.name, "--data-dir", self.data_dir,
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", "%s=%s" % (self.name, peer)]
        if self.tls:
            c = certs_dir()
            a += ["--trusted-ca-file", os.path.join(c, "ca.crt"),
                  "--cert-file", os.path.join(c, "server.crt"),
                  "--key-file", os.path.join(c, "server.key"),
                  "--client-cert-auth=true"]
        return a + self.extra_args

    def start(self, wait=True):
        if getattr(self, "log", None):
            self.log.close()
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args(), stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.env)
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("server exited with %s; log:\n%s" %
                                     (self.proc.returncode, self.read_log()))
            r = self.curl("/health", check=False)
            if r.returncode == 0 and '"health":"true"' in r.stdout:
                self.serving = True
                return
            time.sleep(0.05)
        raise AssertionError("server not healthy within %ss; log:\n%s" % (timeout, self.read_log()))

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-8000:]
        except OSError:
            return ""

    def client_cert_args(self, who="apiserver-etcd-client"):
        if not self.tls:
            return []
        c = certs_dir()
        return ["--cacert", os.path.join(c, "ca.crt"),
                "--cert", os.path.join(c, who + ".crt"), "--key", os.path.join(c, who + ".key")]

    def curl(self, path, extra=(), check=True, who="healthcheck-client"):
        cmd = ["curl", "-sS", "--max-time", "5"] + self.client_cert_args(who) + list(extra)
        cmd.append(self.url.replace("127.0.0.1", "localhost") + path if self.tls else self.url + path)
        return subprocess.run(cmd, capture_output=True, text=True, check=check)

    def etcdctl(self, *args, check=True, who="apiserver-etcd-client", timeout=20, input=None):
        env = dict(os.environ, ETCDCTL_API="3")
        cmd = [ETCDCTL_BIN, "--endpoints", self.url, "--dial-timeout", "3s",
               "--command-timeout", "5s"] + self.client_cert_args(who) + list(args)
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                           input=input)
        if check and r.returncode != 0:
            raise AssertionError("etcdctl %s failed (%d): %s%s" % (" ".join(args), r.returncode,
                                                                  r.stdout, r.stderr))
        return r

    def etcdctl_json(self, *args):
        return json.loads(self.etcdctl("-w", "json", *args).stdout)

    def kill9(self):
        self.serving = False
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self):
        self.serving = False
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()
        if getattr(self, "log", None):
            self.log.close()

    def cleanup(self):
        if self.serving and self.proc.poll() is not None:
            # The test's own failure (a refused connection, say) rarely says why; the log does.
            sys.stderr.write("\n%s server exited on its own with %s; last log lines:\n%s\n" %
                             (self.name, self.proc.returncode, self.read_log()))
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


class ServerTestCase(unittest.TestCase):
    """Starts one etcdpp per test; the subclass may set TLS = True."""
    TLS = False
    EXTRA_ARGS = ()

    def setUp(self):
        if not os.path.exists(ETCDPP_BIN):
            self.fail("etcdpp binary not found at %s (run `make build`)" % ETCDPP_BIN)
        self.server = Server(tls=self.TLS, extra_args=self.EXTRA_ARGS)
        self.addCleanup(self.server.cleanup)
        self.server.start()
