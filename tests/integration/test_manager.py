"""Manager mode: the manager API over its unix socket and mutual TLS, run as the real
`parley manager` against a private dbus-daemon with python3-dbusmock's systemd and logind
templates (extended by manager/system/testdata/mockctl.py), whose address is put in
DBUS_SYSTEM_BUS_ADDRESS. Covers authentication and lock-out per address, bounded, truncated and
silent frames, the exact D-Bus calls behind service.* and host.reboot, schedules (also across a
manager restart, and firing), TLS client certificates and the `parley manager-api` CLI.

Standard library only (plus the system's dbusmock, run as separate processes); the test
certificates are made with the openssl command.
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import unittest

from harness import BINARY, SOURCE_DIR, ParleyTestCase, free_port, run_parley, wait_until

ADMIN_KEY = "admin-key-for-the-manager-tests-0123456789"
READ_KEY = "read-only-key-for-the-manager-tests-9876543"
UNIT = "parley-server.service"
MOCKCTL = os.path.join(SOURCE_DIR, "manager", "system", "testdata", "mockctl.py")
PYTHON = "/usr/bin/python3"  # the one with dbusmock and dbus-python


def sha256_hex(text):
    return hashlib.sha256(text.encode()).hexdigest()


def now_ms():
    return int(time.time() * 1000)


# --- frames ---------------------------------------------------------------------------------

def frame(payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return struct.pack("!I", len(payload)) + payload


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def recv_frame(sock):
    """The next frame's payload as JSON, or None when the stream ends (or is reset)."""
    try:
        header = recv_exact(sock, 4)
        if header is None:
            return None
        payload = recv_exact(sock, struct.unpack("!I", header)[0])
    except (ConnectionResetError, ssl.SSLError, ssl.SSLEOFError):
        return None
    return None if payload is None else json.loads(payload)


def closed_by_peer(sock, timeout=5.0):
    """True when the peer closes the stream (EOF or reset) within `timeout`; skips any frames."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
        return True
    except socket.timeout:
        return False


class ApiConnection:
    """One connection to the manager API (unix socket or TLS)."""

    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(10)
        self.next_id = 0

    @classmethod
    def unix(cls, path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        return cls(s)

    @classmethod
    def tls(cls, port, certs, cert="client", source="127.0.0.1"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(certs.path("ca.pem"))
        if cert:
            ctx.load_cert_chain(certs.path(f"{cert}.pem"), certs.path(f"{cert}.key"))
        raw = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
        return cls(ctx.wrap_socket(raw, server_hostname="127.0.0.1"))

    def send(self, obj):
        self.sock.sendall(frame(json.dumps(obj)))

    def request(self, method, params=None, id=None):
        self.next_id += 1
        rid = id if id is not None else self.next_id
        msg = {"id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        answer = recv_frame(self.sock)
        assert answer is not None, f"connection closed instead of answering {method}"
        assert answer["id"] == rid, answer
        return answer

    def auth(self, key=ADMIN_KEY):
        return self.request("auth", {"key": key}, id="auth")

    def call(self, method, params=None):
        answer = self.request(method, params)
        assert answer["ok"], answer
        return answer["result"]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --- the private system bus -----------------------------------------------------------------

class MockBus:
    """dbus-daemon on a private address with the systemd and logind mocks on it."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="parley-bus-")
        self.log = open(os.path.join(self.tmp.name, "bus.log"), "w")
        self.procs = []
        self.daemon = subprocess.Popen(
            ["/usr/bin/dbus-daemon", "--session", "--nofork", "--nopidfile",
             f"--address=unix:path={self.tmp.name}/system_bus", "--print-address"],
            stdout=subprocess.PIPE, stderr=self.log)
        self.procs.append(self.daemon)
        self.address = self.daemon.stdout.readline().decode().strip()
        assert self.address.startswith("unix:"), self.address
        self.env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address)
        for template in ("systemd", "logind"):
            self.procs.append(subprocess.Popen([PYTHON, "-m", "dbusmock", "--template", template],
                                               env=self.env, stdout=self.log, stderr=self.log))
        self.ctl("setup")

    def ctl(self, *args):
        r = subprocess.run([PYTHON, MOCKCTL] + list(args), env=self.env, capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, f"mockctl {args}: {r.stdout}{r.stderr}"
        return r.stdout

    def calls(self, service, method):
        return json.loads(self.ctl("calls", service, method))

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if self.daemon.stdout:
            self.daemon.stdout.close()
        self.log.close()
        self.tmp.cleanup()


# --- certificates ---------------------------------------------------------------------------

class Certs:
    """A CA, a server certificate for 127.0.0.1, a client certificate from the same CA and one
    from another CA, all made with the openssl command."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="parley-certs-")
        self.ca("ca", "Parley Test CA")
        self.ca("other-ca", "Some Other CA")
        self.leaf("server", "ca", "manager-a", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                  "extendedKeyUsage=serverAuth\n")
        self.leaf("client", "ca", "manager-b", "extendedKeyUsage=clientAuth\n")
        self.leaf("stranger", "other-ca", "manager-x", "extendedKeyUsage=clientAuth\n")

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def openssl(self, *args):
        r = subprocess.run(["openssl"] + list(args), capture_output=True, text=True, cwd=self.tmp.name)
        assert r.returncode == 0, r.stderr

    def ca(self, name, cn):
        self.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={cn}",
                     "-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def leaf(self, name, ca, cn, extensions):
        with open(self.path(f"{name}.ext"), "w") as f:
            f.write(extensions)
        self.openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}")
        self.openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                     "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")

    def close(self):
        self.tmp.cleanup()


# --- the tests ------------------------------------------------------------------------------

class ManagerTestCase(ParleyTestCase):
    certs = None

    @classmethod
    def setUpClass(cls):
        if shutil.which("openssl"):
            cls.certs = Certs()

    @classmethod
    def tearDownClass(cls):
        if cls.certs:
            cls.certs.close()

    def mock_bus(self):
        bus = MockBus()
        self.addCleanup(bus.close)
        return bus

    def config(self, port=0, tls=False, extra=""):
        text = f"""[manager]
name = "test-manager"
port = {port}

[[manager.api_keys]]
name = "ops"
sha256 = "{sha256_hex(ADMIN_KEY)}"

[[manager.api_keys]]
name = "monitor"
sha256 = "{sha256_hex(READ_KEY)}"
access = "read"

[[manager.peers]]
name = "backup"
url = "tls://backup.example:8443"

[manager.api]
auth_timeout_ms = 2000
read_timeout_ms = 1000
idle_timeout_ms = 3000
auth_failure_threshold = 3
lockout_base_ms = 60000

[manager.schedule]
poll_ms = 100
"""
        if tls:
            text += f"""
[manager.tls]
certificate_file = "{self.certs.path('server.pem')}"
private_key_file = "{self.certs.path('server.key')}"
ca_file = "{self.certs.path('ca.pem')}"
"""
        return text + extra

    def start_manager(self, bus=None, tls=False, data_dir=None, extra=""):
        port = free_port() if tls else 0
        env = dict(bus.env) if bus else {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/bus"}
        p = self.start("manager", config=self.config(port, tls, extra), wait=False, env=env,
                       data_dir=data_dir, port=port)
        p.wait_log("manager api listening on")
        p.socket_path = os.path.join(p.data_dir, "manager.sock")
        return p

    def connect(self, manager, key=ADMIN_KEY):
        conn = ApiConnection.unix(manager.socket_path)
        self.addCleanup(conn.close)
        if key is not None:
            answer = conn.auth(key)
            self.assertTrue(answer["ok"], answer)
        return conn

    def require_tls(self):
        if not self.certs:
            self.skipTest("the openssl command is not installed")


class AuthenticationTest(ManagerTestCase):
    def test_socket_mode_and_auth_answer(self):
        m = self.start_manager()
        self.assertEqual(os.stat(m.socket_path).st_mode & 0o777, 0o660)
        conn = ApiConnection.unix(m.socket_path)
        answer = conn.auth()
        self.assertEqual(answer, {"id": "auth", "ok": True,
                                  "result": {"manager": "test-manager", "version": answer["result"]["version"],
                                             "access": "admin"}})
        pong = conn.request("ping", id="p-1")
        self.assertEqual(pong["id"], "p-1")
        self.assertTrue(pong["ok"])
        self.assertEqual(conn.call("managers.list"),
                         {"self": {"name": "test-manager"},
                          "managers": [{"name": "backup", "url": "tls://backup.example:8443", "linked": False}]})
        conn.close()
        self.assertEqual(m.stop(), 0, m.log())
        self.assertFalse(os.path.exists(m.socket_path), "the socket file is removed on stop")

    def test_wrong_key_is_refused_and_closed(self):
        m = self.start_manager()
        conn = ApiConnection.unix(m.socket_path)
        answer = conn.auth("not-the-key")
        self.assertEqual(answer["error"]["code"], "unauthorized")
        self.assertTrue(closed_by_peer(conn.sock))
        self.assertIn("wrong API key", m.log())
        self.assertNotIn("not-the-key", m.log(), "a presented key is never logged")

    def test_first_request_must_be_auth(self):
        m = self.start_manager()
        conn = ApiConnection.unix(m.socket_path)
        answer = conn.request("service.restart", id=5)
        self.assertEqual(answer["error"]["code"], "unauthorized")
        self.assertTrue(closed_by_peer(conn.sock))

    def test_read_only_key_cannot_act(self):
        bus = self.mock_bus()
        m = self.start_manager(bus)
        conn = self.connect(m, READ_KEY)
        self.assertEqual(conn.request("service.restart")["error"]["code"], "forbidden")
        self.assertEqual(conn.request("schedule.add", {"action": "reboot", "at": now_ms() + 60000})
                         ["error"]["code"], "forbidden")
        self.assertEqual(bus.calls("systemd", "RestartUnit"), [])
        self.assertIn("schedules", conn.call("schedule.list"))

    def test_lockout_after_repeated_failures_is_per_address(self):
        self.require_tls()
        m = self.start_manager(tls=True)
        for _ in range(3):
            conn = ApiConnection.tls(m.port, self.certs)
            self.assertEqual(conn.auth("wrong")["error"]["code"], "unauthorized")
            conn.close()
        # 127.0.0.1 is locked out now: even the right key is not looked at.
        conn = ApiConnection.tls(m.port, self.certs)
        answer = conn.auth(ADMIN_KEY)
        self.assertEqual(answer["error"]["code"], "rate_limited", answer)
        self.assertGreater(answer["error"]["details"]["retry_after_ms"], 0)
        conn.close()
        # Another address, and the unix socket, are not.
        other = ApiConnection.tls(m.port, self.certs, source="127.0.0.2")
        self.assertTrue(other.auth(ADMIN_KEY)["ok"])
        self.assertTrue(other.request("ping")["ok"])
        other.close()
        self.assertTrue(ApiConnection.unix(m.socket_path).auth()["ok"])
        self.assertIn("now locked out", m.log())


class FramingTest(ManagerTestCase):
    def test_oversized_frame_before_auth_is_refused_and_closed(self):
        m = self.start_manager()
        conn = ApiConnection.unix(m.socket_path)
        conn.sock.sendall(struct.pack("!I", 4097) + b"x" * 100)
        answer = recv_frame(conn.sock)
        if answer is not None:  # the error may be lost to the close; the close is what counts
            self.assertEqual(answer["error"]["code"], "bad_request")
            self.assertIn("4096", answer["error"]["message"])
        self.assertTrue(closed_by_peer(conn.sock))
        m.wait_log("first frame announces 4097 bytes")

    def test_after_auth_larger_frames_are_fine_up_to_the_limit(self):
        m = self.start_manager()
        conn = self.connect(m)
        padding = "p" * 200_000
        answer = conn.request("ping", {"padding": padding})
        self.assertEqual(answer["error"]["code"], "bad_request")  # unknown parameter, but read
        self.assertTrue(conn.request("ping")["ok"], "the connection is still in step")
        conn.sock.sendall(struct.pack("!I", 1024 * 1024 + 1))
        answer = recv_frame(conn.sock)
        if answer is not None:
            self.assertEqual(answer["error"]["code"], "bad_request")
        self.assertTrue(closed_by_peer(conn.sock))

    def test_bad_json_is_answered_and_the_connection_stays(self):
        m = self.start_manager()
        conn = self.connect(m)
        conn.sock.sendall(frame(b"{not json"))
        answer = recv_frame(conn.sock)
        self.assertEqual(answer, {"id": None, "ok": False,
                                  "error": {"code": "bad_request", "message": "the frame is not valid JSON"}})
        conn.sock.sendall(frame(json.dumps({"id": 9, "params": {}})))
        self.assertEqual(recv_frame(conn.sock)["error"]["code"], "bad_request")
        self.assertEqual(conn.request("no.such.method")["error"]["code"], "not_found")
        self.assertTrue(conn.request("ping")["ok"])

    def test_truncated_frame_closes(self):
        m = self.start_manager()
        conn = ApiConnection.unix(m.socket_path)
        conn.sock.sendall(struct.pack("!I", 100) + b"{" * 10)
        conn.sock.shutdown(socket.SHUT_WR)
        self.assertIsNone(recv_frame(conn.sock))
        m.wait_log("the stream ended inside a frame")

    def test_silent_client_is_closed_at_the_deadline(self):
        m = self.start_manager()
        started = time.monotonic()
        silent = ApiConnection.unix(m.socket_path)
        self.assertTrue(closed_by_peer(silent.sock, timeout=10))
        elapsed = time.monotonic() - started
        self.assertGreater(elapsed, 1.8)  # auth_timeout_ms = 2000
        self.assertLess(elapsed, 8.0)
        m.wait_log("no authentication within 2000 ms")

        # Half a frame, then silence: the read deadline closes it too.
        half = ApiConnection.unix(m.socket_path)
        half.sock.sendall(struct.pack("!I", 50) + b"{")
        self.assertTrue(closed_by_peer(half.sock, timeout=10))

        # An authenticated connection that stays idle is closed after idle_timeout_ms.
        idle = self.connect(m)
        started = time.monotonic()
        self.assertTrue(closed_by_peer(idle.sock, timeout=10))
        self.assertGreater(time.monotonic() - started, 2.5)
        m.wait_log("idle deadline passed")

    def test_idle_connection_does_not_delay_shutdown(self):
        m = self.start_manager()
        conn = self.connect(m)
        started = time.monotonic()
        self.assertEqual(m.stop(), 0, m.log())
        self.assertLess(time.monotonic() - started, 3.0)
        self.assertTrue(closed_by_peer(conn.sock, timeout=2))


class SystemdTest(ManagerTestCase):
    def test_service_restart_makes_the_exact_call(self):
        bus = self.mock_bus()
        m = self.start_manager(bus)
        conn = self.connect(m)
        result = conn.call("service.restart")
        self.assertEqual(result["unit"], UNIT)
        self.assertEqual(result["result"], "done")
        self.assertTrue(result["job"].startswith("/org/freedesktop/systemd1/job/"), result)
        self.assertEqual(bus.calls("systemd", "RestartUnit"), [[UNIT, "replace"]])
        self.assertEqual(bus.calls("systemd", "Subscribe"), [[]])

        self.assertEqual(conn.call("service.stop")["result"], "done")
        self.assertEqual(conn.call("service.start")["result"], "done")
        self.assertEqual(bus.calls("systemd", "StopUnit"), [[UNIT, "replace"]])
        self.assertEqual(bus.calls("systemd", "StartUnit"), [[UNIT, "replace"]])
        log = m.log()
        self.assertIn("key='ops'", log)
        self.assertIn("service.restart", log)

    def test_failing_job_is_reported_as_failure(self):
        bus = self.mock_bus()
        bus.ctl("job", "RestartUnit", "failed")
        m = self.start_manager(bus)
        conn = self.connect(m)
        answer = conn.request("service.restart")
        self.assertFalse(answer["ok"])
        self.assertEqual(answer["error"]["code"], "failed")
        self.assertEqual(answer["error"]["details"]["result"], "failed")
        self.assertEqual(answer["error"]["details"]["unit"], UNIT)
        self.assertEqual(bus.calls("systemd", "RestartUnit"), [[UNIT, "replace"]])

    def test_refused_call_is_a_failure_with_the_dbus_error(self):
        bus = self.mock_bus()
        bus.ctl("fail", "systemd", "StopUnit", "ss", "o", "org.freedesktop.DBus.Error.AccessDenied",
                "polkit says no")
        m = self.start_manager(bus)
        answer = self.connect(m).request("service.stop")
        self.assertEqual(answer["error"]["code"], "failed")
        self.assertIn("AccessDenied", answer["error"]["details"]["error"])

    def test_host_reboot_calls_logind(self):
        bus = self.mock_bus()
        m = self.start_manager(bus)
        self.assertEqual(self.connect(m).call("host.reboot"), {"rebooting": True})
        self.assertEqual(bus.calls("logind", "Reboot"), [[False]])

    def test_system_info(self):
        bus = self.mock_bus()
        m = self.start_manager(bus)
        info = self.connect(m).call("system.info", {"journal_lines": 5})
        self.assertEqual(info["manager"], "test-manager")
        self.assertGreater(info["uptime_s"], 0)
        self.assertEqual(len(info["load"]), 3)
        self.assertGreater(info["memory"]["total_bytes"], 0)
        self.assertEqual(info["disks"][0]["path"], "/")
        self.assertGreater(info["disks"][0]["total_bytes"], 0)
        self.assertEqual(info["unit"]["name"], UNIT)
        self.assertEqual(info["unit"]["load_state"], "loaded")
        self.assertIn("active_state", info["unit"])
        self.assertIn("lines", info["journal"])

    def test_without_a_bus_the_answer_says_unavailable(self):
        m = self.start_manager()  # DBUS_SYSTEM_BUS_ADDRESS points nowhere
        conn = self.connect(m)
        self.assertEqual(conn.request("service.restart")["error"]["code"], "unavailable")
        self.assertIn("error", conn.call("system.info")["unit"])


class ScheduleTest(ManagerTestCase):
    def test_add_list_remove(self):
        m = self.start_manager()
        conn = self.connect(m)
        at = now_ms() + 3_600_000
        restart = conn.call("schedule.add", {"action": "restart", "at": at})
        self.assertEqual(restart["state"], "pending")
        self.assertEqual(restart["action"], "restart")
        self.assertEqual(restart["at"], at)
        self.assertEqual(restart["created_by"], "ops")
        reboot = conn.call("schedule.add", {"action": "reboot", "at": at - 1000})
        listed = conn.call("schedule.list")["schedules"]
        self.assertEqual([s["id"] for s in listed], [reboot["id"], restart["id"]])
        removed = conn.call("schedule.remove", {"id": reboot["id"]})
        self.assertEqual(removed["state"], "cancelled")
        self.assertEqual([s["id"] for s in conn.call("schedule.list")["schedules"]], [restart["id"]])
        self.assertEqual(len(conn.call("schedule.list", {"all": True})["schedules"]), 2)
        self.assertEqual(conn.request("schedule.remove", {"id": reboot["id"]})["error"]["code"], "not_found")
        self.assertEqual(conn.request("schedule.add", {"action": "restart", "at": now_ms() - 1})
                         ["error"]["code"], "bad_request")
        self.assertEqual(conn.request("schedule.add", {"action": "halt", "at": at})["error"]["code"],
                         "bad_request")
        self.assertIn(f"schedule.add", m.log())

    def test_schedule_persists_across_a_restart_and_fires(self):
        bus = self.mock_bus()
        first = self.start_manager(bus)
        conn = self.connect(first)
        # Due after the restart below, which under a sanitizer on a loaded machine took 5 s.
        at = now_ms() + 12_000
        scheduled = conn.call("schedule.add", {"action": "restart", "at": at})
        later = conn.call("schedule.add", {"action": "reboot", "at": now_ms() + 3_600_000})
        conn.close()
        self.assertEqual(first.stop(), 0, first.log())

        second = self.start_manager(bus, data_dir=first.data_dir)
        conn = self.connect(second)
        pending = conn.call("schedule.list")["schedules"]
        self.assertEqual([s["id"] for s in pending], [scheduled["id"], later["id"]])
        self.assertEqual(bus.calls("systemd", "RestartUnit"), [], "not before its time")

        wait_until(lambda: bus.calls("systemd", "RestartUnit"), timeout=30, interval=0.2,
                   what="the scheduled RestartUnit")
        self.assertGreaterEqual(now_ms(), at)
        self.assertEqual(bus.calls("systemd", "RestartUnit"), [[UNIT, "replace"]])
        conn.close()
        conn = self.connect(second)  # the first one may have passed its idle deadline

        def finished():
            for s in conn.call("schedule.list", {"all": True})["schedules"]:
                if s["id"] == scheduled["id"] and s["state"] != "fired":
                    return s
            return None
        done = wait_until(finished, timeout=10, what="the schedule to be recorded done")
        self.assertEqual(done["state"], "done", done)
        self.assertEqual([s["id"] for s in conn.call("schedule.list")["schedules"]], [later["id"]])
        self.assertEqual(bus.calls("logind", "Reboot"), [])
        second.wait_log(f"schedule={scheduled['id']} restart of {UNIT} done")

        # It does not run again after another restart.
        conn.close()
        self.assertEqual(second.stop(), 0, second.log())
        third = self.start_manager(bus, data_dir=first.data_dir)
        time.sleep(0.5)
        self.assertEqual(len(bus.calls("systemd", "RestartUnit")), 1)
        self.assertEqual(third.stop(), 0)

    def test_a_due_reboot_calls_logind(self):
        bus = self.mock_bus()
        m = self.start_manager(bus)
        conn = self.connect(m)
        conn.call("schedule.add", {"action": "reboot", "at": now_ms() + 300})
        wait_until(lambda: bus.calls("logind", "Reboot"), timeout=10, interval=0.1,
                   what="the scheduled Reboot")
        self.assertEqual(bus.calls("logind", "Reboot"), [[False]])


class TlsTest(ManagerTestCase):
    def setUp(self):
        super().setUp()
        self.require_tls()

    def test_mutual_tls_with_the_right_certificate(self):
        m = self.start_manager(tls=True)
        conn = ApiConnection.tls(m.port, self.certs)
        self.assertTrue(conn.auth()["ok"])
        self.assertTrue(conn.request("ping")["ok"])
        conn.close()
        m.wait_log("cn=manager-b authenticated with key 'ops'")

    def test_wrong_or_missing_client_certificate_is_refused(self):
        m = self.start_manager(tls=True)
        for cert in ("stranger", None):
            try:
                conn = ApiConnection.tls(m.port, self.certs, cert=cert)
            except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
                continue  # refused during the handshake
            # TLS 1.3: the client finishes first; the refusal arrives as an alert on read.
            try:
                conn.send({"id": "auth", "method": "auth", "params": {"key": ADMIN_KEY}})
            except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
                continue
            self.assertIsNone(recv_frame(conn.sock), f"{cert}: no answer without a valid certificate")
            conn.close()
        m.wait_log("TLS handshake failed")
        self.assertNotIn("authenticated with key", m.log())

    def test_plain_tcp_is_not_served(self):
        m = self.start_manager(tls=True)
        s = socket.create_connection(("127.0.0.1", m.port), timeout=5)
        s.sendall(frame(json.dumps({"id": "auth", "method": "auth", "params": {"key": ADMIN_KEY}})))
        self.assertIsNone(recv_frame(s))
        s.close()

    def test_tcp_listener_is_off_without_tls(self):
        m = self.start_manager()
        self.assertIn("TLS listener off", m.log())


class CliTest(ManagerTestCase):
    def cli(self, *args, key=ADMIN_KEY, env=None):
        full_env = dict(os.environ)
        full_env.pop("PARLEY_MANAGER_KEY", None)
        if key is not None:
            full_env["PARLEY_MANAGER_KEY"] = key
        full_env.update(env or {})
        return run_parley(["manager-api"] + list(args), env=full_env)

    def test_cli_against_the_unix_socket(self):
        bus = self.mock_bus()
        m = self.start_manager(bus)
        r = self.cli("ping", "--url", f"unix:{m.socket_path}")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(json.loads(r.stdout)["ok"])

        # The socket is found from the data directory, as the manager finds it.
        r = self.cli("service.restart", "-d", m.data_dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["result"]["result"], "done")
        self.assertEqual(bus.calls("systemd", "RestartUnit"), [[UNIT, "replace"]])

        r = self.cli("schedule.add", "action=reboot", "at=+1h", "-d", m.data_dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        added = json.loads(r.stdout)["result"]
        self.assertAlmostEqual(added["at"], now_ms() + 3_600_000, delta=60_000)
        r = self.cli("schedule.list", "-d", m.data_dir)
        self.assertEqual([s["id"] for s in json.loads(r.stdout)["result"]["schedules"]], [added["id"]])
        r = self.cli("schedule.remove", f"id={added['id']}", "-d", m.data_dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.cli("schedule.remove", f"id={added['id']}", "-d", m.data_dir)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(json.loads(r.stdout)["error"]["code"], "not_found")

        with tempfile.NamedTemporaryFile("w", suffix=".key") as f:
            f.write(ADMIN_KEY + "\n")
            f.flush()
            r = self.cli("system.info", "journal_lines=2", "--key-file", f.name, "-d", m.data_dir, key=None)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(json.loads(r.stdout)["result"]["unit"]["name"], UNIT)

    def test_cli_error_answers_and_usage(self):
        m = self.start_manager()
        r = self.cli("ping", "-d", m.data_dir, key="wrong-key")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(json.loads(r.stdout)["error"]["code"], "unauthorized")
        r = self.cli("ping", "-d", m.data_dir, key=None)
        self.assertEqual(r.returncode, 2)
        self.assertIn("PARLEY_MANAGER_KEY", r.stderr)
        r = self.cli("schedule.remove", "3", "-d", m.data_dir)
        self.assertEqual(r.returncode, 2)
        self.assertIn("key=value", r.stderr)
        r = self.cli("ping", "--url", "http://x")
        self.assertEqual(r.returncode, 2)
        r = self.cli()
        self.assertEqual(r.returncode, 2)
        r = self.cli("ping", "--url", "unix:/nonexistent/manager.sock")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot connect", r.stderr)
        r = run_parley(["manager-api", "--help"])
        self.assertEqual(r.returncode, 0)
        self.assertIn("--key-file", r.stdout)

    def test_cli_over_tls(self):
        self.require_tls()
        m = self.start_manager(tls=True)
        c = self.certs
        r = self.cli("managers.list", "--url", f"tls://127.0.0.1:{m.port}", "--cert", c.path("client.pem"),
                     "--cert-key", c.path("client.key"), "--ca", c.path("ca.pem"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["result"]["self"]["name"], "test-manager")
        r = self.cli("ping", "--url", f"tls://127.0.0.1:{m.port}", "--cert", c.path("stranger.pem"),
                     "--cert-key", c.path("stranger.key"), "--ca", c.path("ca.pem"))
        self.assertEqual(r.returncode, 1)
        r = self.cli("ping", "--url", f"tls://127.0.0.1:{m.port}")
        self.assertEqual(r.returncode, 2)


class ConfigTest(ManagerTestCase):
    def test_bad_key_hash_and_partial_tls_are_config_errors(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m.toml")
            with open(path, "w") as f:
                f.write('[[manager.api_keys]]\nname = "x"\nsha256 = "my-plain-secret"\n')
            r = run_parley(["manager", "--config", path, "--data-dir", os.path.join(tmp, "d")])
            self.assertEqual(r.returncode, 3)
            self.assertIn("manager.api_keys", r.stderr)
            self.assertNotIn("my-plain-secret", r.stderr)
            with open(path, "w") as f:
                f.write('[manager.tls]\ncertificate_file = "/x.pem"\n')
            r = run_parley(["manager", "--config", path, "--data-dir", os.path.join(tmp, "d")])
            self.assertEqual(r.returncode, 3)
            self.assertIn("manager.tls", r.stderr)
            self.assertFalse(os.path.exists(os.path.join(tmp, "d")))

    def test_missing_certificate_stops_start_up(self):
        self.require_tls()
        p = self.start("manager", wait=False, config=self.config(free_port()) + """
[manager.tls]
certificate_file = "/nonexistent/server.pem"
private_key_file = "/nonexistent/server.key"
ca_file = "/nonexistent/ca.pem"
""")
        self.assertEqual(p.proc.wait(15), 1, p.log())
        self.assertIn("manager.tls.certificate_file", p.log())

    def test_default_config_documents_the_new_keys(self):
        r = run_parley(["manager", "--print-default-config"])
        self.assertEqual(r.returncode, 0)
        for text in ("[manager.tls]", "[manager.api]", "[manager.schedule]", "# [[manager.api_keys]]",
                     "# [[manager.peers]]", "socket = "):
            self.assertIn(text, r.stdout)


if __name__ == "__main__":
    unittest.main()
