"""TLS on the public listener: HTTPS and WSS with a self-signed certificate made per test run,
plain HTTP refused on the TLS port, the handshake deadline, graceful stop over TLS, and start-up
refusing missing or broken certificate and key files (exit 1, the file named in the log)."""

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import FAST_AUTH, Api, ParleyTestCase, WebSocket, http_request, wait_until

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


def make_certificate(directory, name="server"):
    """A self-signed P-256 certificate for localhost / 127.0.0.1; returns (cert, key) paths."""
    cert = os.path.join(directory, f"{name}.crt")
    key = os.path.join(directory, f"{name}.key")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=30)
    return cert, key


def tls_config(cert, key, extra=""):
    return (FAST_AUTH + "[tls]\nenabled = true\n"
            f"certificate_file = {json.dumps(cert)}\nprivate_key_file = {json.dumps(key)}\n" + extra)


def https_request(context, method, port, path, body=None, headers=None, timeout=10, raw_body=None):
    """http_request of the harness, over TLS: (status, headers dict, parsed JSON or bytes)."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=context)
    try:
        hdrs = dict(headers or {})
        data = raw_body
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
        resp_headers = {k.lower(): v for k, v in resp.getheaders()}
        if resp_headers.get("content-type", "").startswith("application/json"):
            return resp.status, resp_headers, json.loads(payload)
        return resp.status, resp_headers, payload
    finally:
        conn.close()


class TlsApi(Api):
    """The harness's API client over HTTPS and WSS."""

    def __init__(self, port, context):
        super().__init__(port)
        self.context = context

    def call(self, method, path, body=None, token=None, headers=None, raw_body=None):
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        return https_request(self.context, method, self.port, path, body=body, headers=hdrs,
                             raw_body=raw_body)

    def socket(self, token, path="/api/v1/ws", via_query=False):
        if via_query:
            return WebSocket(self.port, f"{path}?token={token}", ssl_context=self.context)
        return WebSocket(self.port, path, headers={"Authorization": f"Bearer {token}"},
                         ssl_context=self.context)


class TlsTestCase(ParleyTestCase):
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.TemporaryDirectory(prefix="parley-tls-")
        self.cert, self.key = make_certificate(self.tmp.name)
        self.context = ssl.create_default_context(cafile=self.cert)

    def tearDown(self):
        super().tearDown()
        self.tmp.cleanup()

    def start_tls(self, extra="", args=None):
        p = self.start("server", config=tls_config(self.cert, self.key, extra), wait=False,
                       args=args)

        def healthy():
            if p.proc.poll() is not None:
                raise AssertionError(f"parley exited early ({p.proc.returncode}):\n{p.log()}")
            try:
                return https_request(self.context, "GET", p.port, "/api/v1/health", timeout=1)[0] == 200
            except (OSError, http.client.HTTPException):
                return False
        wait_until(healthy, 15, what="parley to serve HTTPS")
        return p


class TlsServerTest(TlsTestCase):
    READ_TIMEOUT_MS = 800

    def setUp(self):
        super().setUp()
        self.server = self.start_tls(f"[http]\nread_timeout_ms = {self.READ_TIMEOUT_MS}\n",
                                     args=["--log-level", "debug"])
        self.api = TlsApi(self.server.port, self.context)

    def assert_still_serving(self):
        status, _, body = https_request(self.context, "GET", self.server.port, "/api/v1/health")
        self.assertEqual((status, body["status"]), (200, "ok"))

    def test_https_health_with_the_certificate_trusted(self):
        self.assert_still_serving()
        self.assertIn("tls: certificate", self.server.log())
        # The served certificate is the configured one: without it as a CA, verification fails.
        with self.assertRaises(ssl.SSLCertVerificationError):
            https_request(ssl.create_default_context(), "GET", self.server.port, "/api/v1/health")
        # Only TLS 1.2+ with forward-secret AEAD suites.
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=5) as raw:
            with self.context.wrap_socket(raw, server_hostname="localhost") as s:
                self.assertIn(s.version(), ("TLSv1.2", "TLSv1.3"))
        tls12 = ssl.create_default_context(cafile=self.cert)
        tls12.maximum_version = ssl.TLSVersion.TLSv1_2
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=5) as raw:
            with tls12.wrap_socket(raw, server_hostname="localhost") as s:
                self.assertEqual(s.version(), "TLSv1.2")
                name = s.cipher()[0]
                self.assertTrue(name.startswith("ECDHE-"), name)
                self.assertTrue("GCM" in name or "CHACHA20" in name, name)

    def test_plain_http_on_the_tls_port_fails_cleanly(self):
        for _ in range(3):
            with self.assertRaises((OSError, http.client.HTTPException)):
                http_request("GET", self.server.port, "/api/v1/health", timeout=5)
        self.server.wait_log("TLS handshake with 127.0.0.1 failed")
        self.assert_still_serving()
        self.assertIsNone(self.server.proc.poll())

    def test_register_login_and_the_live_socket_rule_over_tls(self):
        s = self.api.user("tina")
        self.assertIn("access_token", s)
        status, _, body = self.api.call("GET", "/api/v1/profiles/me", token=s["access_token"])
        self.assertEqual(status, 401)
        self.assertIn("WebSocket", body["message"])
        ws = self.api.socket(s["access_token"], via_query=True)
        ws.send_json({"type": "ping", "id": "x"})
        self.assertEqual({k: v for k, v in ws.recv().items() if k != "time"}, {"type": "pong", "id": "x"})
        status, _, body = self.api.call("GET", "/api/v1/profiles/me", token=s["access_token"])
        self.assertEqual(status, 200, body)
        ws.close()

        def refused():
            return self.api.call("GET", "/api/v1/profiles/me", token=s["access_token"])[0] == 401
        wait_until(refused, 5, what="REST refused after the socket closed")

    def test_wss_ping_pong_errors_and_rejection(self):
        s = self.api.user("walt")
        ws = self.api.socket(s["access_token"])
        ws.send_json({"type": "ping", "id": 7})
        self.assertEqual({k: v for k, v in ws.recv().items() if k != "time"}, {"type": "pong", "id": 7})
        ws.send_json({"type": "frobnicate", "id": "q"})
        self.assertEqual(ws.recv()["error"], "bad_request")
        ws.send_text("not json")
        self.assertEqual(ws.expect_close(), 1003)
        # The rejection path (handshake, then 1008) over TLS too.
        bad = WebSocket(self.server.port, "/api/v1/ws?token=nonsense", ssl_context=self.context)
        self.assertEqual(bad.expect_close(), 1008)
        self.assert_still_serving()

    def test_oversized_body_gets_its_413_over_tls(self):
        # The error goes out before the body is read: the TLS close must not reset it away.
        status, _, body = self.api.call("POST", "/api/v1/accounts", raw_body=b"x" * 200000,
                                        headers={"Content-Type": "application/json"})
        self.assertEqual((status, body["error"]), (413, "too_large"))
        self.assert_still_serving()

    def test_client_that_never_starts_the_handshake_is_dropped(self):
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        started = time.monotonic()
        self.assert_still_serving()  # others are served meanwhile
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            data = b""
        elapsed = time.monotonic() - started
        self.assertEqual(data, b"")
        self.assertGreater(elapsed, self.READ_TIMEOUT_MS / 1000 * 0.7)
        self.assertLess(elapsed, self.READ_TIMEOUT_MS / 1000 + 3)
        s.close()
        self.server.wait_log("TLS handshake with 127.0.0.1 failed")

    def test_graceful_stop_over_tls(self):
        s = self.api.user("gail")
        ws = self.api.socket(s["access_token"])
        ws.send_json({"type": "ping"})
        ws.recv()
        # An idle keep-alive HTTPS connection and one still in its handshake.
        idle = http.client.HTTPSConnection("127.0.0.1", self.server.port, timeout=10,
                                           context=self.context)
        idle.request("GET", "/api/v1/health")
        resp = idle.getresponse()
        resp.read()
        self.assertEqual(resp.status, 200)
        silent = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        started = time.monotonic()
        self.server.send_signal(signal.SIGTERM)
        self.assertEqual(ws.expect_close(), 1001)
        ws.close()  # answer the close frame, so only the HTTP side can hold the stop up
        self.assertEqual(self.server.proc.wait(10), 0)
        self.assertLess(time.monotonic() - started, 5, "idle TLS connections did not hold the stop")
        idle.close()
        silent.close()


class TlsStartupTest(TlsTestCase):
    def assert_refuses(self, cert, key, named):
        p = self.start("server", config=tls_config(cert, key), wait=False)
        self.assertEqual(p.proc.wait(30), 1, p.log())
        log = p.log()
        self.assertIn(named, log)
        self.assertIn("critical", log.lower())
        self.assertNotIn("listening", log)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", p.port), timeout=1).close()
        return log

    def test_missing_certificate_file(self):
        missing = os.path.join(self.tmp.name, "nope.crt")
        log = self.assert_refuses(missing, self.key, missing)
        self.assertIn("tls.certificate_file", log)
        self.assertIn("No such file", log)

    def test_missing_key_file(self):
        missing = os.path.join(self.tmp.name, "nope.key")
        log = self.assert_refuses(self.cert, missing, missing)
        self.assertIn("tls.private_key_file", log)

    def test_garbage_certificate_and_key(self):
        garbage = os.path.join(self.tmp.name, "garbage.pem")
        with open(garbage, "w") as f:
            f.write("this is not PEM\n")
        self.assert_refuses(garbage, self.key, garbage)
        self.assert_refuses(self.cert, garbage, garbage)
        # A certificate where the key should be, and the other way round.
        self.assert_refuses(self.cert, self.cert, self.cert)

    def test_key_that_does_not_match_the_certificate(self):
        _, other_key = make_certificate(self.tmp.name, "other")
        log = self.assert_refuses(self.cert, other_key, other_key)
        self.assertIn("does not match", log)

    def test_plain_server_is_unchanged(self):
        # TLS off (the default): plain HTTP as before, and HTTPS is what fails.
        p = self.start("server", config=FAST_AUTH)
        status, _, _ = http_request("GET", p.port, "/api/v1/health")
        self.assertEqual(status, 200)
        with self.assertRaises((ssl.SSLError, OSError)):
            https_request(self.context, "GET", p.port, "/api/v1/health", timeout=5)


if __name__ == "__main__":
    unittest.main()
