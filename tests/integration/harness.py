"""Test harness for Parley integration tests: starts the real `parley` binary on free ports
with a temporary data directory and talks to it over real sockets (HTTP and WebSocket).

Standard library only, so it runs on Debian's /usr/bin/python3 with nothing installed.
"""

import base64
import contextlib
import http.client
import json
import os
import sys
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest
import warnings

# Tests close what matters; a socket left to the garbage collector is not a failure.
warnings.simplefilter("ignore", ResourceWarning)

BINARY = os.environ.get("PARLEY_BINARY", os.path.join(os.path.dirname(__file__), "../../build/parley"))
SOURCE_DIR = os.environ.get("PARLEY_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))


def free_port():
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_parley(args, timeout=30, **kwargs):
    """Runs `parley ARGS` to completion and returns the CompletedProcess (text mode)."""
    return subprocess.run([BINARY] + args, capture_output=True, text=True, timeout=timeout, **kwargs)


def wait_until(predicate, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class ParleyProcess:
    """One running `parley <mode>` with its own data directory and log file."""

    def __init__(self, mode="server", config="", data_dir=None, env=None, args=None, port=None,
                 stdin=subprocess.DEVNULL, wrapper=None, real_room_defaults=False, threads=2):
        self.mode = mode
        self.tmp = tempfile.TemporaryDirectory(prefix=f"parley-{mode}-")
        self.data_dir = data_dir or os.path.join(self.tmp.name, "data")
        self.port = port if port is not None else free_port()
        self.config_path = os.path.join(self.tmp.name, f"{mode}.toml")
        if mode == "server" and "[server]" not in config:
            config = f"[server]\nport = {self.port}\nthreads = {threads}\n" + config
        # Most tests send unsigned messages in rooms they create without asking: they run with
        # signatures off by default unless they test the real default (or set [rooms] themselves).
        if mode == "server" and not real_room_defaults and "[rooms]" not in config:
            config += "\n[rooms]\nrequire_signatures = false\n"
        with open(self.config_path, "w") as f:
            f.write(config)
        self.log_path = os.path.join(self.tmp.name, f"{mode}.log")
        self.log_file = open(self.log_path, "w")
        full_env = dict(os.environ)
        full_env.update(env or {})
        cmd = [BINARY, mode, "--config", self.config_path, "--data-dir", self.data_dir]
        cmd += args or []
        # A command that runs the binary (e.g. ["prlimit", "--nofile=400:400", "--"]).
        cmd = list(wrapper or []) + cmd
        self.proc = subprocess.Popen(cmd, stdout=self.log_file, stderr=subprocess.STDOUT,
                                     env=full_env, stdin=stdin)

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_ready(self, timeout=15.0):
        """Waits until GET /api/v1/health answers (server mode)."""
        def healthy():
            if self.proc.poll() is not None:
                raise AssertionError(f"parley {self.mode} exited early ({self.proc.returncode}):\n{self.log()}")
            try:
                status, _, _ = http_request("GET", self.port, "/api/v1/health", timeout=1)
                return status == 200
            except OSError:
                return False
        wait_until(healthy, timeout, what=f"parley {self.mode} to serve /api/v1/health")
        return self

    def wait_log(self, text, timeout=10.0):
        def found():
            if text in self.log():
                return True
            if self.proc.poll() is not None:
                raise AssertionError(f"parley {self.mode} exited ({self.proc.returncode}) before logging {text!r}:\n{self.log()}")
            return False
        wait_until(found, timeout, what=f"log line {text!r}")

    def send_signal(self, signo):
        self.proc.send_signal(signo)

    def stop(self, signo=signal.SIGTERM, timeout=15.0):
        """Sends `signo` and returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signo)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"parley {self.mode} did not stop within {timeout}s:\n{self.log()}")
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        self.kill()
        self.log_file.close()
        self.tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def http_request(method, port, path, body=None, headers=None, timeout=10, raw_body=None):
    """One HTTP request on a fresh connection; returns (status, headers dict, parsed JSON or bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
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


class WebSocket:
    """A minimal RFC 6455 client (text frames, ping/pong, close), enough to test the server
    and to send deliberately bad frames."""

    def __init__(self, port, path, headers=None, timeout=10, ssl_context=None, rcvbuf=None):
        if rcvbuf:
            # A small receive buffer (set before connecting, so the window stays small) makes a
            # client that stops reading fill up quickly: the slow-consumer tests use it.
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            self.sock.connect(("127.0.0.1", port))
        else:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if ssl_context is not None:
            # WSS: the same protocol over a TLS socket (the test certificates name localhost).
            self.sock = ssl_context.wrap_socket(self.sock, server_hostname="localhost")
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("connection closed during the WebSocket handshake")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.response_head = head.decode(errors="replace")
        status_line = head.split(b"\r\n")[0].decode()
        self.status = int(status_line.split()[1])
        self.handshake_body = b""
        if self.status != 101:
            self.handshake_body = self.buf
            self.sock.close()
            raise HandshakeRefused(self.status, head.decode(errors="replace"))
        self.close_code = None

    def send_frame(self, opcode, payload, fin=True, mask=True, rsv1=False):
        self.sock.sendall(self.frame_bytes(opcode, payload, fin, mask, rsv1))

    @staticmethod
    def frame_bytes(opcode, payload, fin=True, mask=True, rsv1=False):
        """One client frame as it goes on the wire."""
        header = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
        n = len(payload)
        mbit = 0x80 if mask else 0
        if n < 126:
            header += bytes([mbit | n])
        elif n < 65536:
            header += bytes([mbit | 126]) + struct.pack("!H", n)
        else:
            header += bytes([mbit | 127]) + struct.pack("!Q", n)
        if mask:
            key = os.urandom(4)
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            header += key
        return header + payload

    def send_text(self, text):
        self.send_frame(0x1, text.encode())

    def send_json(self, obj):
        self.send_text(json.dumps(obj))

    def _read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self):
        b0, b1 = self._read_exact(2)
        self.last_fin = bool(b0 & 0x80)
        self.last_rsv1 = bool(b0 & 0x40)  # permessage-deflate: the message is compressed
        opcode = b0 & 0x0F
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read_exact(8))[0]
        if b1 & 0x80:
            key = self._read_exact(4)
            data = bytes(b ^ key[i % 4] for i, b in enumerate(self._read_exact(n)))
        else:
            data = self._read_exact(n)
        return opcode, data

    def recv_data_frame(self, timeout=10):
        """Returns the next data frame as (opcode, payload), its flags in last_fin and last_rsv1;
        answers pings; raises Closed on close."""
        self.sock.settimeout(timeout)
        while True:
            opcode, data = self.recv_frame()
            if opcode == 0x9:
                self.send_frame(0xA, data)
                continue
            if opcode == 0xA:
                continue
            if opcode == 0x8:
                self.close_code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
                raise Closed(self.close_code, data[2:].decode(errors="replace"))
            return opcode, data

    def recv(self, timeout=10):
        """Returns the next text message parsed as JSON; answers pings; raises Closed on close."""
        text = b""
        while True:
            opcode, data = self.recv_data_frame(timeout)
            text += data
            if opcode in (0x1, 0x0) and self.last_fin:
                return json.loads(text)

    def recv_until(self, predicate, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out waiting for a matching WebSocket message")
            msg = self.recv(timeout=left)
            if predicate(msg):
                return msg

    def expect_close(self, timeout=10):
        """Reads until the server closes; returns the close code."""
        try:
            while True:
                self.recv(timeout=timeout)
        except Closed as c:
            return c.code
        except ConnectionError:
            return self.close_code

    def close(self):
        try:
            self.send_frame(0x8, struct.pack("!H", 1000))
        except OSError:
            pass
        self.sock.close()


class HandshakeRefused(Exception):
    def __init__(self, status, head):
        super().__init__(f"WebSocket handshake refused with {status}: {head}")
        self.status = status


class Closed(Exception):
    def __init__(self, code, reason):
        super().__init__(f"WebSocket closed with {code}: {reason}")
        self.code = code
        self.reason = reason


class NotifySocket:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="parley-notify-")
        self.path = os.path.join(self.dir.name, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []

    def receive(self, timeout):
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096).decode()
        self.messages.append(data)
        return data

    def wait_for(self, text, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self.receive(max(0.01, deadline - time.monotonic()))
            except socket.timeout:
                break
            if text in msg.split("\n"):
                return True
        raise AssertionError(f"no {text!r} on NOTIFY_SOCKET; got {self.messages}")

    def close(self):
        self.sock.close()
        self.dir.cleanup()


class ParleyTestCase(unittest.TestCase):
    """Base class: tracks processes and closes them after each test."""

    # Network threads of the servers a test starts (the harness's default, 2, when None). One
    # thread is a mode of its own: sockets then share the context's executor, with no strand.
    server_threads = None

    def setUp(self):
        self._processes = []

    def _failed(self):
        # Python 3.11+: a failed test method is already on the result when tearDown runs.
        result = getattr(getattr(self, "_outcome", None), "result", None)
        if result is None:
            return False
        return any(test is self for test, _ in list(result.failures) + list(result.errors))

    def tearDown(self):
        # A failure in CI is often one of timing: the processes' last log lines say what they saw.
        if self._failed():
            for p in self._processes:
                try:
                    tail = p.log().splitlines()[-60:]
                except Exception:  # the log may be gone with its directory
                    continue
                sys.stderr.write(f"--- last log lines of parley {p.mode} ---\n" + "\n".join(tail) + "\n")
        # Every process stops before any directory goes: a restarted process may share the data
        # directory of one started earlier and still be writing into it.
        for p in self._processes:
            p.kill()
        for p in self._processes:
            p.close()

    def start(self, mode="server", config="", wait=True, **kwargs):
        if mode == "server" and self.server_threads is not None:
            kwargs.setdefault("threads", self.server_threads)
        p = ParleyProcess(mode, config, **kwargs)
        self._processes.append(p)
        if wait and mode == "server":
            p.wait_ready()
        return p


# Fast password hashing for tests (the production defaults take ~50 ms per hash).
FAST_AUTH = "[auth]\nargon2_t_cost = 1\nargon2_m_cost_kib = 1024\n"


class Api:
    """A small client of the public API for tests."""

    def __init__(self, port):
        self.port = port

    def call(self, method, path, body=None, token=None, headers=None, raw_body=None):
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        return http_request(method, self.port, path, body=body, headers=hdrs, raw_body=raw_body)

    def register(self, username, password="correct horse"):
        status, _, body = self.call("POST", "/api/v1/accounts", {"username": username, "password": password})
        assert status == 201, (status, body)
        return body["account_id"]

    def login(self, username, password="correct horse"):
        status, _, body = self.call("POST", "/api/v1/sessions", {"username": username, "password": password})
        assert status == 200, (status, body)
        return body

    def user(self, username, password="correct horse"):
        """Registers and logs in; returns the session body."""
        self.register(username, password)
        return self.login(username, password)

    def socket(self, token, path="/api/v1/ws", via_query=False):
        if via_query:
            return WebSocket(self.port, f"{path}?token={token}")
        return WebSocket(self.port, path, headers={"Authorization": f"Bearer {token}"})

    def connected(self, username, register=True):
        """A logged-in user with a live socket: (session body, WebSocket)."""
        s = self.user(username) if register else self.login(username)
        ws = self.socket(s["access_token"])
        # A ping round trip proves the socket is registered before REST calls rely on it.
        ws.send_json({"type": "ping", "id": 0})
        ws.recv_until(lambda m: m.get("type") == "pong")
        return s, ws
