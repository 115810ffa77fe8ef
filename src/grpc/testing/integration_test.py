#!/usr/bin/python3
"""End-to-end tests of the etcdpp transport with real clients.

Runs grpc_echo_server (path in argv[1] or $ECHO_SERVER) and drives it with:
  - curl --http1.1 / --http2 / --http2-prior-knowledge (TLS, client certs, unix socket, IPv6)
  - etcdctl 3.4 (grpc-go): `get foo` against a hand-encoded RangeResponse
  - python3-grpcio (grpc C-core): unary, server-streaming, bidi, deadlines, cancellation,
    metadata, errors, size limit
  - @grpc/grpc-js (node; installed with npm next to the server binary on first use, or taken
    from $ETCDPP_GRPC_JS_NODE_MODULES; skipped when node/npm are unavailable)
Certificates are made with openssl in a temp dir. Waits are for conditions (a port file, a
counter) with generous safety limits; nothing here decides correctness by elapsed time.
Must run with /usr/bin/python3 (Debian's python with grpcio).
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import grpc

SERVER = os.environ.get("ECHO_SERVER") or (sys.argv.pop(1) if len(sys.argv) > 1 else None)
IDENT = lambda b: b  # noqa: E731


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)


def make_certs(d):
    def sh(*args):
        subprocess.run(args, check=True, capture_output=True, cwd=d)

    def ca(name):
        sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
           "-nodes", "-keyout", name + ".key", "-out", name + ".crt", "-days", "2",
           "-subj", "/CN=" + name)

    def cert(name, ca_name, cn):
        sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
           "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn)
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
                    "extendedKeyUsage=serverAuth,clientAuth\n")
        sh("openssl", "x509", "-req", "-in", name + ".csr", "-CA", ca_name + ".crt", "-CAkey",
           ca_name + ".key", "-CAcreateserial", "-out", name + ".crt", "-days", "2",
           "-extfile", name + ".ext")

    ca("ca")
    ca("otherca")
    cert("server", "ca", "server-a")
    # Expired: valid until yesterday (negative -days), same CA and CN as "client".
    cert("expired", "ca", "root")
    sh("openssl", "x509", "-req", "-in", "expired.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
       "-CAcreateserial", "-out", "expired.crt", "-days", "-1", "-extfile", "expired.ext")
    cert("server2", "ca", "server-b")
    cert("client", "ca", "root")
    cert("stranger", "otherca", "root")


class EchoServer:
    def __init__(self, tmp, *args, max_fds=None):
        self.port_file = os.path.join(tmp, "ports-%d" % time.monotonic_ns())
        self.log = open(os.path.join(tmp, "server.log"), "a")

        def limit():
            if max_fds:
                import resource
                resource.setrlimit(resource.RLIMIT_NOFILE, (max_fds, max_fds))

        self.proc = subprocess.Popen([SERVER, "--port-file=" + self.port_file] + list(args),
                                     stdout=self.log, stderr=self.log, preexec_fn=limit)
        deadline = time.monotonic() + 30
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("echo server did not start; see %s" % self.log.name)
            time.sleep(0.02)
        with open(self.port_file) as f:
            self.ports = [int(line.split()[1]) for line in f if line.strip()]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


_GRPC_JS = {}


def grpc_js_modules():
    """node_modules holding @grpc/grpc-js: $ETCDPP_GRPC_JS_NODE_MODULES, or installed once with
    npm next to the server binary. None (test skipped) when node/npm are unavailable."""
    if "dir" in _GRPC_JS:
        return _GRPC_JS["dir"]
    d = os.environ.get("ETCDPP_GRPC_JS_NODE_MODULES")
    if not d:
        prefix = os.path.join(os.path.dirname(os.path.abspath(SERVER)), "grpcjs")
        d = os.path.join(prefix, "node_modules")
        if not os.path.isdir(os.path.join(d, "@grpc", "grpc-js")) and shutil.which("npm"):
            os.makedirs(prefix, exist_ok=True)
            subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", prefix,
                            "@grpc/grpc-js@1"], capture_output=True, timeout=300)
    ok = os.path.isdir(os.path.join(d, "@grpc", "grpc-js")) and shutil.which("node")
    _GRPC_JS["dir"] = d if ok else None
    return _GRPC_JS["dir"]


def run_grpc_js(test, *args):
    mods = grpc_js_modules()
    if mods is None:
        test.skipTest("node or @grpc/grpc-js not available")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grpcjs_client.js")
    r = run(["node", script] + list(args), env=dict(os.environ, NODE_PATH=mods))
    test.assertEqual(r.stdout.strip(), "OK", r.stdout + r.stderr)


def wait_until(pred, what, limit_s=20):
    deadline = time.monotonic() + limit_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.02)


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="etcdpp-grpc-it-")
        make_certs(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        if not os.environ.get("KEEP_TMP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)


class PlainTest(Base):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sock = os.path.join(cls.tmp, "echo.sock")
        cls.server = EchoServer(cls.tmp, "--listen-urls=http://127.0.0.1:0,http://[::1]:0,unix://"
                                + cls.sock, "--loops=2")
        cls.port = cls.server.ports[0]
        cls.port6 = cls.server.ports[1]
        cls.channel = grpc.insecure_channel("127.0.0.1:%d" % cls.port)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.stop()
        super().tearDownClass()

    def unary(self, method, req=b"", **kw):
        return self.channel.unary_unary(method, request_serializer=IDENT,
                                        response_deserializer=IDENT)(req, timeout=10, **kw)

    def test_curl_http1_and_h2c(self):
        r = run(["curl", "-sS", "-i", "--http1.1", "http://127.0.0.1:%d/health" % self.port])
        self.assertTrue(r.stdout.startswith("HTTP/1.1 200 OK"), r.stdout + r.stderr)
        self.assertIn('{"health":"true"}', r.stdout)
        r = run(["curl", "-sS", "-i", "--http2-prior-knowledge",
                 "http://127.0.0.1:%d/health" % self.port])
        self.assertTrue(r.stdout.startswith("HTTP/2 200"), r.stdout + r.stderr)
        r = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                 "http://127.0.0.1:%d/nope" % self.port])
        self.assertEqual(r.stdout, "404")
        r = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE",
                 "http://127.0.0.1:%d/health" % self.port])
        self.assertEqual(r.stdout, "405")

    def test_curl_ipv6_and_unix_socket(self):
        r = run(["curl", "-sS", "-g", "http://[::1]:%d/health" % self.port6])
        self.assertEqual(r.stdout, '{"health":"true"}', r.stderr)
        r = run(["curl", "-sS", "--unix-socket", self.sock, "http://localhost/health"])
        self.assertEqual(r.stdout, '{"health":"true"}', r.stderr)

    def test_etcdctl_get_over_h2c_and_unix(self):
        env = dict(os.environ, ETCDCTL_API="3")
        r = run(["etcdctl", "--endpoints=127.0.0.1:%d" % self.port, "get", "foo"], env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "foo\nbar\n")
        r = run(["etcdctl", "--endpoints=unix://" + self.sock, "get", "k2"], env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "k2\nbar\n")

    def test_python_unary_errors_and_metadata(self):
        self.assertEqual(self.unary("/etcdpp.test.Echo/Unary", b"hi"), b"hi")
        with self.assertRaises(grpc.RpcError) as e:
            self.unary("/etcdpp.test.Echo/Fail", "5:not found é 100%".encode())
        self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(e.exception.details(), "not found é 100%")
        with self.assertRaises(grpc.RpcError) as e:
            self.unary("/etcdpp.test.Nope/X")
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
        md = self.unary("/etcdpp.test.Echo/Metadata",
                        metadata=[("token", "abc"), ("hasleader", "true"),
                                  ("x-bin", b"\x00\x01\xff")])
        self.assertIn(b"token=abc\n", md)
        self.assertIn(b"hasleader=true\n", md)
        self.assertIn(b"x-bin=\x00\x01\xff\n", md)

    def test_python_size_limit(self):
        with self.assertRaises(grpc.RpcError) as e:
            self.unary("/etcdpp.test.Echo/Unary", b"x" * (1536 * 1024 + 1))
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(e.exception.details(), "etcdserver: request is too large")
        self.assertEqual(len(self.unary("/etcdpp.test.Echo/Unary", b"y" * (1024 * 1024))),
                         1024 * 1024)

    def test_python_deadline(self):
        self.assertEqual(self.unary("/etcdpp.test.Echo/Later", b"10"), b"done")
        call = self.channel.unary_unary("/etcdpp.test.Echo/Later", request_serializer=IDENT,
                                        response_deserializer=IDENT)
        with self.assertRaises(grpc.RpcError) as e:
            call(b"5000", timeout=0.2)
        self.assertEqual(e.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)

    def test_python_server_streaming_10mib(self):
        s = self.channel.unary_stream("/etcdpp.test.Echo/ServerStream",
                                      request_serializer=IDENT, response_deserializer=IDENT)
        msgs = list(s(b"100:104858", timeout=60))
        self.assertEqual(len(msgs), 100)
        self.assertEqual(sum(len(m) for m in msgs), 100 * 104858)

    def test_python_single_10mib_message(self):
        ch = grpc.insecure_channel("127.0.0.1:%d" % self.port,
                                   options=[("grpc.max_receive_message_length", 64 << 20)])
        s = ch.unary_stream("/etcdpp.test.Echo/ServerStream", request_serializer=IDENT,
                            response_deserializer=IDENT)
        msgs = list(s(b"1:10485760", timeout=60))
        ch.close()
        self.assertEqual([len(m) for m in msgs], [10485760])

    def test_python_bidi(self):
        b = self.channel.stream_stream("/etcdpp.test.Echo/Bidi", request_serializer=IDENT,
                                       response_deserializer=IDENT)
        self.assertEqual(list(b(iter([b"a", b"bb", b"ccc"]), timeout=10)), [b"a", b"bb", b"ccc"])

    def test_grpc_js_h2c(self):
        run_grpc_js(self, "127.0.0.1:%d" % self.port)

    def test_many_idle_connections_do_not_disturb_others(self):
        idle = []
        try:
            for i in range(10000):
                c = socket.create_connection(("127.0.0.1", self.port))
                if i % 2 == 0:
                    # Half stop right after the HTTP/2 preface, half never send a byte.
                    c.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                idle.append(c)
            self.assertEqual(self.unary("/etcdpp.test.Echo/Unary", b"still here"), b"still here")
            r = run(["curl", "-sS", "http://127.0.0.1:%d/health" % self.port])
            self.assertEqual(r.stdout, '{"health":"true"}', r.stderr)
        finally:
            for c in idle:
                c.close()
        # Garbage instead of a preface: an HTTP/1.1 400 and a close, nothing else disturbed.
        c = socket.create_connection(("127.0.0.1", self.port))
        c.sendall(b"\x16\x03\x01garbage-not-http\r\n\r\n")
        c.settimeout(10)
        data = b""
        while True:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
        c.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 400"), data)
        self.assertEqual(self.unary("/etcdpp.test.Echo/Unary", b"ok"), b"ok")

    def test_python_cancel_reaches_handler(self):
        def cancellations():
            r = run(["curl", "-sS", "http://127.0.0.1:%d/stats" % self.port])
            return int(r.stdout.strip().split("=")[1])

        before = cancellations()
        h = self.channel.stream_stream("/etcdpp.test.Echo/Hang", request_serializer=IDENT,
                                       response_deserializer=IDENT)
        it = h(iter([b"x"]), timeout=30)
        wait_until(lambda: it.is_active(), "call active")
        it.cancel()
        wait_until(lambda: cancellations() == before + 1, "server-side cancellation")


class TlsTest(Base):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Rotation target files, copied so the test can overwrite them.
        shutil.copy(cls.path(cls, "server.crt"), cls.path(cls, "live.crt"))
        shutil.copy(cls.path(cls, "server.key"), cls.path(cls, "live.key"))
        cls.server = EchoServer(cls.tmp, "--listen-urls=https://127.0.0.1:0",
                                "--cert-file=" + cls.path(cls, "live.crt"),
                                "--key-file=" + cls.path(cls, "live.key"),
                                "--trusted-ca-file=" + cls.path(cls, "ca.crt"),
                                "--client-cert-auth", "--tls-reload-check-ms=0")
        cls.port = cls.server.ports[0]

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        super().tearDownClass()

    def curl(self, *args, cert="client"):
        cmd = ["curl", "-sS", "-i", "--cacert", self.path("ca.crt")]
        if cert:
            cmd += ["--cert", self.path(cert + ".crt"), "--key", self.path(cert + ".key")]
        return run(cmd + list(args))

    def secure_channel(self):
        def rd(n):
            with open(self.path(n), "rb") as f:
                return f.read()
        creds = grpc.ssl_channel_credentials(rd("ca.crt"), rd("client.key"), rd("client.crt"))
        return grpc.secure_channel("127.0.0.1:%d" % self.port, creds)

    def test_curl_h2_and_http1_with_client_cert(self):
        r = self.curl("https://127.0.0.1:%d/health" % self.port)
        self.assertTrue(r.stdout.startswith("HTTP/2 200"), r.stdout + r.stderr)
        r = self.curl("--http1.1", "-d", "body", "https://127.0.0.1:%d/echo" % self.port)
        self.assertTrue(r.stdout.startswith("HTTP/1.1 200"), r.stdout + r.stderr)
        self.assertIn("x-client-cn: root", r.stdout)

    def test_handshake_refused_without_cert_or_with_foreign_ca(self):
        r = self.curl("https://127.0.0.1:%d/health" % self.port, cert=None)
        self.assertNotEqual(r.returncode, 0)
        r = self.curl("https://127.0.0.1:%d/health" % self.port, cert="stranger")
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn("HTTP/", r.stdout)
        r = self.curl("https://127.0.0.1:%d/health" % self.port, cert="expired")
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn("HTTP/", r.stdout)
        # The client sees the alert before the server has written its log line: poll (bounded).
        deadline = time.monotonic() + 10
        while True:
            with open(self.server.log.name) as f:
                log = f.read()
            if "certificate has expired" in log or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertIn("certificate has expired", log)
        self.assertIn("peer=127.0.0.1:", log)

    def test_etcdctl_over_tls(self):
        r = run(["etcdctl", "--endpoints=https://127.0.0.1:%d" % self.port,
                 "--cacert", self.path("ca.crt"), "--cert", self.path("client.crt"),
                 "--key", self.path("client.key"), "get", "foo"],
                env=dict(os.environ, ETCDCTL_API="3"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "foo\nbar\n")

    def test_python_tls_sees_client_cn(self):
        ch = self.secure_channel()
        md = ch.unary_unary("/etcdpp.test.Echo/Metadata", request_serializer=IDENT,
                            response_deserializer=IDENT)(b"", timeout=10)
        self.assertTrue(md.startswith(b"cn=root\n"), md)
        ch.close()

    def test_grpc_js_tls_with_client_cert(self):
        run_grpc_js(self, "localhost:%d" % self.port, self.path("ca.crt"),
                    self.path("client.crt"), self.path("client.key"))

    def test_zz_rotation_without_restart(self):
        ch = self.secure_channel()
        echo = ch.unary_unary("/etcdpp.test.Echo/Unary", request_serializer=IDENT,
                              response_deserializer=IDENT)
        self.assertEqual(echo(b"before", timeout=10), b"before")
        r = self.curl("-v", "https://127.0.0.1:%d/health" % self.port)
        self.assertIn("CN=server-a", r.stderr)
        # Rotate: write new files next to the live ones and rename over them (as kubelet does).
        shutil.copy(self.path("server2.key"), self.path("live.key.new"))
        shutil.copy(self.path("server2.crt"), self.path("live.crt.new"))
        os.rename(self.path("live.key.new"), self.path("live.key"))
        os.rename(self.path("live.crt.new"), self.path("live.crt"))
        r = self.curl("-v", "https://127.0.0.1:%d/health" % self.port)
        self.assertIn("CN=server-b", r.stderr)
        self.assertTrue(r.stdout.startswith("HTTP/2 200"))
        # The connection made before the rotation keeps working.
        self.assertEqual(echo(b"after", timeout=10), b"after")
        ch.close()


class AutoTlsTest(Base):
    def test_auto_tls_serves_https(self):
        server = EchoServer(self.tmp, "--listen-urls=https://127.0.0.1:0", "--auto-tls")
        try:
            r = run(["curl", "-sS", "-k", "https://127.0.0.1:%d/health" % server.ports[0]])
            self.assertEqual(r.stdout, '{"health":"true"}', r.stderr)
        finally:
            server.stop()

    def test_cipher_suites_and_minimum_version(self):
        server = EchoServer(self.tmp, "--listen-urls=https://127.0.0.1:0",
                            "--cert-file=" + self.path("server.crt"),
                            "--key-file=" + self.path("server.key"),
                            "--cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
        url = "https://127.0.0.1:%d/health" % server.ports[0]
        base = ["curl", "-sS", "--cacert", self.path("ca.crt"), "--tls-max", "1.2"]
        try:
            r = run(base + ["--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256", url])
            self.assertEqual(r.stdout, '{"health":"true"}', r.stderr)
            r = run(base + ["--ciphers", "ECDHE-ECDSA-AES256-GCM-SHA384", url])
            self.assertNotEqual(r.returncode, 0)
            r = run(["curl", "-sS", "--cacert", self.path("ca.crt"), "--tlsv1.1", "--tls-max",
                     "1.1", url])
            self.assertNotEqual(r.returncode, 0)
        finally:
            server.stop()

    def test_unixs_socket(self):
        sock = self.path("tls.sock")
        server = EchoServer(self.tmp, "--listen-urls=unixs://" + sock,
                            "--cert-file=" + self.path("server.crt"),
                            "--key-file=" + self.path("server.key"))
        try:
            r = run(["curl", "-sS", "--unix-socket", sock, "--cacert", self.path("ca.crt"),
                     "https://localhost/health"])
            self.assertEqual(r.stdout, '{"health":"true"}', r.stderr)
        finally:
            server.stop()

    def test_out_of_descriptors_pauses_accepting_and_recovers(self):
        with open(SERVER, "rb") as f:
            if b"__ubsan_handle_dynamic_type_cache_miss" in f.read():
                # UBSan's vptr check needs a free descriptor (it probes memory through a pipe)
                # and reports false errors when there is none; run this on a release build.
                self.skipTest("sanitized build")
        server = EchoServer(self.tmp, "--listen-urls=http://127.0.0.1:0", "--loops=1",
                            max_fds=64)
        port = server.ports[0]
        try:
            conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(100)]
            with open(server.log.name) as f:
                wait_until(lambda: "pausing accepts" in f.read() or f.seek(0), "EMFILE log")
            for c in conns:
                c.close()
            # Once descriptors are free again, new clients are served.
            r = run(["curl", "-sS", "--retry", "20", "--retry-all-errors", "--retry-delay", "1",
                     "http://127.0.0.1:%d/health" % port])
            self.assertEqual(r.stdout, '{"health":"true"}', r.stderr)
            self.assertIsNone(server.proc.poll())
        finally:
            server.stop()

    def test_bind_conflict_is_reported(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = run([SERVER, "--listen-urls=http://127.0.0.1:%d" % port])
        s.close()
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("already in use", r.stderr)


if __name__ == "__main__":
    if not SERVER:
        sys.exit("usage: integration_test.py <path to grpc_echo_server>")
    unittest.main(verbosity=2)
