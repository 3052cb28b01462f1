"""The web client's static files as `parley server` serves them: / and the files under it,
the library under /lib/, Content-Type, ETag and 304, the security headers, and nothing outside
the embedded table (no traversal, no directory listing, 404 for unknown names)."""

import hashlib
import os
import socket
import unittest

from harness import ParleyTestCase, SOURCE_DIR, http_request


def raw_get(port, target):
    """A GET sent byte for byte as given (no client-side normalisation of the path)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


class WebStaticTest(ParleyTestCase):
    def setUp(self):
        super().setUp()
        self.server = self.start("server")
        self.port = self.server.port

    def test_index_and_files_with_types_and_security_headers(self):
        with open(os.path.join(SOURCE_DIR, "web", "index.html"), "rb") as f:
            index = f.read()
        for path in ("/", "/index.html"):
            status, headers, body = http_request("GET", self.port, path)
            self.assertEqual(status, 200, path)
            self.assertEqual(body, index, "the embedded file is the source file")
            self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
            self.assertEqual(headers["etag"], f'"{hashlib.sha256(index).hexdigest()}"')
            self.assertEqual(headers["cache-control"], "no-cache")
            self.assertEqual(headers["x-content-type-options"], "nosniff")
            csp = headers["content-security-policy"]
            self.assertIn("default-src 'self'", csp)
            self.assertIn("script-src 'self'", csp)
            self.assertIn("connect-src 'self'", csp)
            self.assertNotIn("unsafe-inline", csp)
            self.assertEqual(headers["x-frame-options"], "DENY")
        expected = {
            "/app.js": "text/javascript; charset=utf-8",
            "/style.css": "text/css; charset=utf-8",
            "/icon.svg": "image/svg+xml",
            "/lib/index.js": "text/javascript; charset=utf-8",
            "/lib/client.js": "text/javascript; charset=utf-8",
            "/lib/index.d.ts": "text/plain; charset=utf-8",
        }
        for path, ctype in expected.items():
            status, headers, body = http_request("GET", self.port, path)
            self.assertEqual((status, headers["content-type"]), (200, ctype), path)
            self.assertGreater(len(body), 0)
        with open(os.path.join(SOURCE_DIR, "clients", "js", "src", "client.js"), "rb") as f:
            self.assertEqual(http_request("GET", self.port, "/lib/client.js")[2], f.read())

    def test_etag_revalidation(self):
        _, headers, _ = http_request("GET", self.port, "/app.js")
        etag = headers["etag"]
        status, headers2, body = http_request("GET", self.port, "/app.js", headers={"If-None-Match": etag})
        self.assertEqual((status, body), (304, b""))
        self.assertEqual(headers2["etag"], etag)
        status, _, body = http_request("GET", self.port, "/app.js", headers={"If-None-Match": '"stale"'})
        self.assertEqual(status, 200)
        self.assertGreater(len(body), 0)

    def test_nothing_outside_the_table(self):
        for target in ("/nope.html", "/lib/", "/lib", "/lib/nope.js", "/web/index.html", "/../index.html",
                       "/lib/../index.html", "/lib/..%2findex.html", "/%2e%2e/etc/passwd", "/lib/%2e%2e/app.js",
                       "/..%5c..%5cindex.html", "/index.html/", "//etc/passwd", "/server.toml", "/data/db/current.db"):
            status = raw_get(self.port, target)
            # "/index.html/" has the segments of "/index.html"; nothing else is found.
            self.assertEqual(status, 200 if target == "/index.html/" else 404, target)
        status, _, body = http_request("POST", self.port, "/index.html", body={})
        self.assertEqual((status, body["error"]), (405, "bad_request"))
        status, _, body = http_request("GET", self.port, "/nope.js")
        self.assertEqual((status, body["error"]), (404, "not_found"))

    def test_api_routes_unchanged(self):
        status, headers, body = http_request("GET", self.port, "/api/v1/health")
        self.assertEqual((status, body["status"]), (200, "ok"))
        self.assertNotIn("content-security-policy", headers)


if __name__ == "__main__":
    unittest.main()
