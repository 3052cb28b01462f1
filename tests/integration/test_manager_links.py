"""Manager forwarding and links, and the server's side of the manager: real `parley manager`
processes on loopback with mutual TLS (certificates made with the openssl command), requests
naming a `target` manager forwarded by URL, over a link dialled by a manager with no open port,
and through a hub; loops, wrong keys and certificates, lost and silent links, bad frames on a
link; then `parley server` with a [manager] section: the `maintenance` WebSocket event and the
admin route /api/v1/admin/manager.

No D-Bus is needed: every method used here (ping, system.info, managers.list, schedule.*) works
without a bus.
"""

import json
import os
import signal
import socket
import sqlite3
import ssl
import struct
import tempfile
import time
import unittest

from harness import FAST_AUTH, Api, run_parley, free_port, wait_until
from test_manager import (ADMIN_KEY, READ_KEY, ApiConnection, ManagerTestCase, closed_by_peer,
                          frame, now_ms, recv_frame, sha256_hex)

PEER_KEY = "peer-key-for-the-link-tests-0123456789abcdef"
SERVER_KEY = "server-key-for-the-maintenance-tests-012345"


class LinkTestCase(ManagerTestCase):
    def setUp(self):
        super().setUp()
        self.require_tls()
        self.keydir = tempfile.TemporaryDirectory(prefix="parley-keys-")
        self.addCleanup(self.keydir.cleanup)

    def key_file(self, key, name="peer"):
        path = os.path.join(self.keydir.name, f"{name}.key")
        with open(path, "w") as f:
            f.write(key + "\n")
        return path

    def manager_config(self, name, port=None, peers=(), client_cert="client", extra=""):
        """A manager named `name`: admin key 'ops', read key 'monitor', admin key 'peers' (what
        other managers present); a TLS listener on `port` unless it is None; `peers` are dicts
        rendered as [[manager.peers]]."""
        c = self.certs
        text = f"""[manager]
name = "{name}"
port = {port or 0}

[[manager.api_keys]]
name = "ops"
sha256 = "{sha256_hex(ADMIN_KEY)}"

[[manager.api_keys]]
name = "monitor"
sha256 = "{sha256_hex(READ_KEY)}"
access = "read"

[[manager.api_keys]]
name = "peers"
sha256 = "{sha256_hex(PEER_KEY)}"
"""
        for p in peers:
            text += "\n[[manager.peers]]\n"
            for k, v in p.items():
                text += f"{k} = {json.dumps(v)}\n"
        text += f"""
[manager.api]
auth_timeout_ms = 2000
read_timeout_ms = 1000
idle_timeout_ms = 30000

[manager.forward]
timeout_ms = 1500

[manager.link]
ping_interval_ms = 300
timeout_ms = 1500
reconnect_base_ms = 100
reconnect_max_ms = 800

[manager.client_tls]
certificate_file = "{c.path(client_cert + '.pem')}"
private_key_file = "{c.path(client_cert + '.key')}"
ca_file = "{c.path('ca.pem')}"
"""
        if port:
            text += f"""
[manager.tls]
certificate_file = "{c.path('server.pem')}"
private_key_file = "{c.path('server.key')}"
ca_file = "{c.path('ca.pem')}"
"""
        return text + extra

    def start_named(self, name, port=None, peers=(), data_dir=None, **kw):
        p = self.start("manager", config=self.manager_config(name, port, peers, **kw), wait=False,
                       env={"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/bus"},
                       data_dir=data_dir, port=port or 0)
        p.wait_log("manager api listening on")
        p.socket_path = os.path.join(p.data_dir, "manager.sock")
        return p

    def link_pair(self, hub_name="b", edge_name="c", edge_key=PEER_KEY, edge_cert="client"):
        """`hub` listens on TLS; `edge` has no listener and links to it."""
        port = free_port()
        hub = self.start_named(hub_name, port, peers=[{"name": edge_name}])
        edge = self.start_named(edge_name, None, client_cert=edge_cert, peers=[
            {"name": hub_name, "url": f"tls://127.0.0.1:{port}", "key_file": self.key_file(edge_key),
             "link": True, "access": "admin"}])
        return hub, edge

    def wait_linked(self, manager, peer, timeout=10):
        def linked():
            conn = ApiConnection.unix(manager.socket_path)
            try:
                conn.auth()
                for m in conn.call("managers.list")["managers"]:
                    if m["name"] == peer and m["linked"]:
                        return True
                return False
            finally:
                conn.close()
        wait_until(linked, timeout, interval=0.1, what=f"a link to {peer}")


class ForwardingTest(LinkTestCase):
    def test_direct_forwarding_to_a_peer_url(self):
        port_b = free_port()
        b = self.start_named("b", port_b)
        a = self.start_named("a", free_port(), peers=[
            {"name": "b", "url": f"tls://127.0.0.1:{port_b}", "key_file": self.key_file(PEER_KEY)}])
        conn = self.connect(a)
        answer = conn.request("system.info", {"journal_lines": 0}, id="s-1")
        self.assertEqual(answer["id"], "s-1")
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(answer["result"]["manager"], "a")

        conn.send({"id": 7, "method": "system.info", "params": {"journal_lines": 0}, "target": "b"})
        answer = recv_frame(conn.sock)
        self.assertEqual(answer["id"], 7, "the original id comes back")
        self.assertEqual(answer["result"]["manager"], "b")
        conn.send({"id": 8, "method": "managers.list", "target": "b"})
        self.assertEqual(recv_frame(conn.sock)["result"]["self"]["name"], "b")
        # Errors of the target come back as they are.
        conn.send({"id": 9, "method": "schedule.remove", "params": {"id": 99}, "target": "b"})
        self.assertEqual(recv_frame(conn.sock)["error"]["code"], "not_found")
        # Its own name is local.
        conn.send({"id": 10, "method": "managers.list", "target": "a"})
        self.assertEqual(recv_frame(conn.sock)["result"]["self"]["name"], "a")
        # An unknown manager.
        conn.send({"id": 11, "method": "ping", "target": "nobody"})
        answer = recv_frame(conn.sock)
        self.assertEqual(answer["error"]["code"], "not_found")
        self.assertIn("nobody", answer["error"]["message"])
        # The target's audit names the forwarding manager's key; the forwarder logs the hop.
        b.wait_log("authenticated with key 'peers'")
        a.wait_log("-> 'b' over tls://127.0.0.1")

    def test_a_read_only_key_may_forward_only_reads(self):
        port_b = free_port()
        self.start_named("b", port_b)
        a = self.start_named("a", None, peers=[
            {"name": "b", "url": f"tls://127.0.0.1:{port_b}", "key_file": self.key_file(PEER_KEY)}])
        conn = self.connect(a, READ_KEY)
        conn.send({"id": 1, "method": "ping", "target": "b"})
        self.assertTrue(recv_frame(conn.sock)["ok"])
        conn.send({"id": 2, "method": "schedule.add", "target": "b",
                   "params": {"action": "restart", "at": now_ms() + 60000}})
        self.assertEqual(recv_frame(conn.sock)["error"]["code"], "forbidden")

    def test_wrong_key_at_the_peer_is_unavailable(self):
        port_b = free_port()
        b = self.start_named("b", port_b)
        a = self.start_named("a", None, peers=[
            {"name": "b", "url": f"tls://127.0.0.1:{port_b}", "key_file": self.key_file("not-the-key")}])
        conn = self.connect(a)
        conn.send({"id": 1, "method": "ping", "target": "b"})
        answer = recv_frame(conn.sock)
        self.assertEqual(answer["error"]["code"], "unavailable", answer)
        self.assertTrue(answer["error"]["details"]["refused_key"])
        self.assertIn("refused this manager's key", answer["error"]["message"])
        b.wait_log("wrong API key")
        self.assertNotIn("not-the-key", a.log() + b.log())

    def test_wrong_certificate_is_refused_in_the_handshake(self):
        port_b = free_port()
        b = self.start_named("b", port_b)
        a = self.start_named("a", None, client_cert="stranger", peers=[
            {"name": "b", "url": f"tls://127.0.0.1:{port_b}", "key_file": self.key_file(PEER_KEY)}])
        conn = self.connect(a)
        conn.send({"id": 1, "method": "ping", "target": "b"})
        answer = recv_frame(conn.sock)
        self.assertEqual(answer["error"]["code"], "unavailable", answer)
        b.wait_log("TLS handshake failed")
        self.assertNotIn("authenticated with key", b.log())

    def test_unreachable_and_silent_peers(self):
        # Nobody listens on the port.
        a = self.start_named("a", None, peers=[
            {"name": "gone", "url": f"tls://127.0.0.1:{free_port()}", "key_file": self.key_file(PEER_KEY)},
            {"name": "silent", "url": "tls://127.0.0.1:{}".format(self.silent_port()),
             "key_file": self.key_file(PEER_KEY)}])
        conn = self.connect(a)
        conn.send({"id": 1, "method": "ping", "target": "gone"})
        answer = recv_frame(conn.sock)
        self.assertEqual(answer["error"]["code"], "unavailable")
        self.assertIn("cannot connect", answer["error"]["message"])
        # A peer that accepts and never answers: the forward ends at timeout_ms (1500).
        started = time.monotonic()
        conn.send({"id": 2, "method": "ping", "target": "silent"})
        answer = recv_frame(conn.sock)
        elapsed = time.monotonic() - started
        self.assertEqual(answer["error"]["code"], "timeout", answer)
        self.assertGreater(elapsed, 1.3)
        self.assertLess(elapsed, 5.0)

    def silent_port(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        self.addCleanup(s.close)
        return s.getsockname()[1]

    def test_loops_and_hop_limits_end_at_once(self):
        port_a, port_b = free_port(), free_port()
        key = self.key_file(PEER_KEY)
        # Each thinks "x" is reached through the other.
        a = self.start_named("a", port_a, peers=[
            {"name": "b", "url": f"tls://127.0.0.1:{port_b}", "key_file": key},
            {"name": "x", "via": "b"}])
        b = self.start_named("b", port_b, peers=[
            {"name": "a", "url": f"tls://127.0.0.1:{port_a}", "key_file": key},
            {"name": "x", "via": "a"}])
        conn = self.connect(a)
        started = time.monotonic()
        conn.send({"id": 1, "method": "ping", "target": "x"})
        answer = recv_frame(conn.sock)
        self.assertLess(time.monotonic() - started, 1.4, "refused, not timed out")
        self.assertEqual(answer["error"]["code"], "bad_request", answer)
        self.assertIn("forwarding loop", answer["error"]["message"])
        self.assertEqual(answer["error"]["details"]["via"], ["a", "b"])
        b.wait_log("-> 'x' over")
        # A request that claims to have passed too many managers.
        conn.send({"id": 2, "method": "ping", "target": "b", "via": ["p", "q", "r", "s"]})
        self.assertEqual(recv_frame(conn.sock)["error"]["code"], "bad_request")
        conn.send({"id": 3, "method": "ping", "target": "b", "via": "nope"})
        self.assertEqual(recv_frame(conn.sock)["error"]["code"], "bad_request")


class LinkTest(LinkTestCase):
    def test_forwarding_over_a_link_both_ways(self):
        b, c = self.link_pair()
        self.wait_linked(b, "c")
        b.wait_log("link ")
        self.assertIn("'c' up", b.log())
        # c has no TCP listener at all.
        self.assertIn("TLS listener off", c.log())
        conn = self.connect(b)
        conn.send({"id": "x1", "method": "system.info", "params": {"journal_lines": 0}, "target": "c"})
        answer = recv_frame(conn.sock)
        self.assertEqual(answer["id"], "x1")
        self.assertEqual(answer["result"]["manager"], "c")
        # The linked side acts on what the hub sends (its peer entry has access = "admin").
        conn.send({"id": 2, "method": "schedule.add", "target": "c",
                   "params": {"action": "restart", "at": now_ms() + 3_600_000}})
        added = recv_frame(conn.sock)
        self.assertTrue(added["ok"], added)
        self.assertEqual(added["result"]["created_by"], "peer:b")
        # And the dialling side sends requests to the hub over the same link.
        cc = self.connect(c)
        cc.send({"id": 3, "method": "managers.list", "target": "b"})
        listed = recv_frame(cc.sock)
        self.assertEqual(listed["result"]["self"]["name"], "b")
        self.assertEqual(listed["result"]["managers"], [{"name": "c", "url": "", "linked": True}])
        # Many at once: answers are matched by id.
        for i in range(20):
            conn.send({"id": 100 + i, "method": "ping", "target": "c"})
        ids = sorted(recv_frame(conn.sock)["id"] for _ in range(20))
        self.assertEqual(ids, list(range(100, 120)))
        # Both stop cleanly with the link up (the hub while holding the accepted link).
        started = time.monotonic()
        self.assertEqual(b.stop(), 0, b.log())
        self.assertEqual(c.stop(), 0, c.log())
        self.assertLess(time.monotonic() - started, 5.0)

    def test_three_managers_through_a_hub(self):
        port_b = free_port()
        key = self.key_file(PEER_KEY)
        b = self.start_named("b", port_b, peers=[{"name": "c"}, {"name": "a"}])
        self.start_named("c", None, peers=[
            {"name": "b", "url": f"tls://127.0.0.1:{port_b}", "key_file": key, "link": True,
             "access": "admin"}])
        a = self.start_named("a", None, peers=[
            {"name": "b", "url": f"tls://127.0.0.1:{port_b}", "key_file": key},
            {"name": "c", "via": "b"}])
        self.wait_linked(b, "c")
        conn = self.connect(a)
        conn.send({"id": 1, "method": "system.info", "params": {"journal_lines": 0}, "target": "c"})
        answer = recv_frame(conn.sock)
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(answer["result"]["manager"], "c")
        a.wait_log("-> 'c' over tls://127.0.0.1:{} (via 'b')".format(port_b))

    def test_link_loss_and_reconnection(self):
        b, c = self.link_pair()
        self.wait_linked(b, "c")
        port = b.port
        data = b.data_dir
        b.kill()
        c.wait_log("attempt")  # redials fail while b is away
        b2 = self.start_named("b", port, peers=[{"name": "c"}], data_dir=data)
        self.wait_linked(b2, "c")
        conn = self.connect(b2)
        conn.send({"id": 1, "method": "ping", "target": "c"})
        self.assertTrue(recv_frame(conn.sock)["ok"])

        # The linked manager goes away: the hub says so at once (c has no url to fall back on).
        c.kill()
        wait_until(lambda: "to 'c' down" in b2.log(), 5, what="the hub to see the link drop")
        conn.send({"id": 2, "method": "ping", "target": "c"})
        answer = recv_frame(conn.sock)
        self.assertEqual(answer["error"]["code"], "unavailable")
        self.assertIn("no url and no link", answer["error"]["message"])

    def test_a_silent_linked_manager_times_out_then_the_link_closes(self):
        b, c = self.link_pair()
        self.wait_linked(b, "c")
        conn = self.connect(b)
        c.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            conn.send({"id": 1, "method": "ping", "target": "c"})
            answer = recv_frame(conn.sock)
            elapsed = time.monotonic() - started
            # forward.timeout_ms = 1500; the link (timeout_ms = 1500, pings every 300) may
            # also be found dead first: either way a clear error, in bounded time.
            self.assertIn(answer["error"]["code"], ("timeout", "unavailable"), answer)
            self.assertLess(elapsed, 4.0)
            b.wait_log("nothing received for", timeout=5)
        finally:
            c.send_signal(signal.SIGCONT)
        # c notices and dials again.
        self.wait_linked(b, "c", timeout=15)
        conn.send({"id": 2, "method": "ping", "target": "c"})
        self.assertTrue(recv_frame(conn.sock)["ok"])

    def test_wrong_key_or_certificate_gets_no_link(self):
        b, c = self.link_pair(edge_key="wrong-link-key")
        c.wait_log("auth refused: unauthorized")
        b.wait_log("wrong API key")
        self.assertNotIn("wrong-link-key", b.log() + c.log())
        b2, c2 = self.link_pair(hub_name="b2", edge_name="c2", edge_cert="stranger")
        b2.wait_log("TLS handshake failed")
        c2.wait_log("attempt")
        conn = self.connect(b2)
        conn.send({"id": 1, "method": "ping", "target": "c2"})
        self.assertEqual(recv_frame(conn.sock)["error"]["code"], "unavailable")

    def test_link_hello_needs_an_admin_key_and_a_known_name(self):
        port = free_port()
        b = self.start_named("b", port, peers=[{"name": "c"}])
        conn = ApiConnection.tls(port, self.certs)
        self.assertTrue(conn.auth(READ_KEY)["ok"])
        self.assertEqual(conn.request("link.hello", {"name": "c"})["error"]["code"], "forbidden")
        conn = ApiConnection.tls(port, self.certs)
        self.assertTrue(conn.auth(PEER_KEY)["ok"])
        self.assertEqual(conn.request("link.hello", {"name": "stranger"})["error"]["code"], "forbidden")
        self.assertIn("link.hello refused", b.log())


class FakeLinkPeer:
    """The dialling side of a link, played by the test: TLS, auth, link.hello, then raw frames."""

    def __init__(self, case, port, name="c"):
        self.conn = ApiConnection.tls(port, case.certs)
        assert self.conn.auth(PEER_KEY)["ok"]
        answer = self.conn.request("link.hello", {"name": name}, id="hello")
        assert answer["ok"], answer
        self.hub = answer["result"]["manager"]

    def next_request(self, timeout=5):
        """The next frame that is not a ping (pings are answered)."""
        self.conn.sock.settimeout(timeout)
        while True:
            msg = recv_frame(self.conn.sock)
            if msg is None:
                return None
            if msg.get("method") == "ping":
                self.conn.send({"id": msg["id"], "ok": True, "result": {"now": now_ms()}})
                continue
            if "ok" in msg:
                continue
            return msg


class LinkFramingTest(LinkTestCase):
    def hub(self):
        port = free_port()
        return self.start_named("b", port, peers=[{"name": "c"}]), port

    def test_requests_over_a_link_carry_via_and_are_matched_by_id(self):
        b, port = self.hub()
        peer = FakeLinkPeer(self, port)
        self.assertEqual(peer.hub, "b")
        conn = self.connect(b)
        conn.send({"id": "q", "method": "system.info", "params": {"journal_lines": 1}, "target": "c"})
        req = peer.next_request()
        self.assertEqual(req["method"], "system.info")
        self.assertEqual(req["params"], {"journal_lines": 1})
        self.assertEqual(req["target"], "c")
        self.assertEqual(req["via"], ["b"])
        peer.conn.send({"id": req["id"], "ok": True, "result": {"manager": "fake"}})
        self.assertEqual(recv_frame(conn.sock), {"id": "q", "ok": True, "result": {"manager": "fake"}})
        # The peer's own requests over the link run on the hub.
        peer.conn.send({"id": 5, "method": "managers.list"})
        peer.conn.sock.settimeout(5)
        while True:
            answer = recv_frame(peer.conn.sock)
            if answer.get("id") == 5:
                break
        self.assertEqual(answer["result"]["self"]["name"], "b")

    def test_a_silent_link_peer_gives_timeout(self):
        b, port = self.hub()
        peer = FakeLinkPeer(self, port)
        conn = self.connect(b)
        started = time.monotonic()
        conn.send({"id": 1, "method": "managers.list", "target": "c"})
        self.assertEqual(peer.next_request()["method"], "managers.list")  # never answered
        answer = recv_frame(conn.sock)
        self.assertIn(answer["error"]["code"], ("timeout", "unavailable"), answer)
        self.assertLess(time.monotonic() - started, 4.0)
        # With no pings answered, the hub closes the link after link.timeout_ms.
        peer.conn.sock.settimeout(5)
        self.assertTrue(closed_by_peer(peer.conn.sock, timeout=5))
        b.wait_log("nothing received for")

    def test_oversized_frame_on_a_link_closes_it(self):
        b, port = self.hub()
        peer = FakeLinkPeer(self, port)
        self.wait_linked(b, "c")
        peer.conn.sock.sendall(struct.pack("!I", 1024 * 1024 + 1) + b"x" * 64)
        self.assertTrue(closed_by_peer(peer.conn.sock))
        b.wait_log("announced a frame of 1048577 bytes")

    def test_truncated_frame_on_a_link_closes_it(self):
        b, port = self.hub()
        peer = FakeLinkPeer(self, port)
        self.wait_linked(b, "c")
        peer.conn.sock.sendall(struct.pack("!I", 100) + b"{" * 10)
        peer.conn.sock.close()
        wait_until(lambda: "to 'c' down" in b.log(), 5, what="the link to end")
        self.assertIn("the stream ended inside a frame", b.log())

    def test_bad_json_on_a_link_is_answered_and_the_link_stays(self):
        b, port = self.hub()
        peer = FakeLinkPeer(self, port)
        peer.conn.sock.sendall(frame(b"{nope"))
        while True:
            msg = recv_frame(peer.conn.sock)
            if "ok" in msg:
                break
        self.assertEqual(msg["error"]["code"], "bad_request")
        peer.conn.send({"id": 9, "method": "auth", "params": {"key": "x"}})
        while True:
            msg = recv_frame(peer.conn.sock)
            if msg.get("id") == 9:
                break
        self.assertEqual(msg["error"]["code"], "bad_request")
        self.wait_linked(b, "c")


class ServerWithManagerCase(LinkTestCase):
    """The server with a [manager] section."""

    def manager_extra(self):
        return f"""
[[manager.api_keys]]
name = "local-server"
sha256 = "{sha256_hex(SERVER_KEY)}"
"""

    def server_config(self, manager_socket):
        return FAST_AUTH + f"""
[manager]
socket = "{manager_socket}"
key_file = "{self.key_file(SERVER_KEY, 'server')}"
watch_wait_ms = 2000
reconnect_base_ms = 100
reconnect_max_ms = 500
request_timeout_ms = 5000
"""



class MaintenanceTest(ServerWithManagerCase):
    def test_schedule_watch_long_poll(self):
        m = self.start_named("m", None, extra=self.manager_extra())
        conn = self.connect(m)
        first = conn.call("schedule.watch")  # version 0: answered at once
        self.assertIsNone(first["maintenance"])
        started = time.monotonic()
        same = conn.call("schedule.watch", {"version": first["version"], "wait_ms": 300})
        self.assertGreater(time.monotonic() - started, 0.25)
        self.assertEqual(same["version"], first["version"])
        other = self.connect(m)
        at = now_ms() + 3_600_000
        conn.send({"id": "w", "method": "schedule.watch", "params": {"version": first["version"], "wait_ms": 10000}})
        time.sleep(0.2)
        started = time.monotonic()
        added = other.call("schedule.add", {"action": "reboot", "at": at})
        changed = recv_frame(conn.sock)
        self.assertLess(time.monotonic() - started, 2.0, "answered on the change, not at the end")
        self.assertEqual(changed["result"]["maintenance"], {"id": added["id"], "action": "reboot", "at": at})
        self.assertEqual(conn.request("schedule.watch", {"wait_ms": 999999})["error"]["code"], "bad_request")

    def test_maintenance_event_reaches_websocket_clients(self):
        m = self.start_named("m", None, extra=self.manager_extra())
        s = self.start("server", config=self.server_config(m.socket_path))
        s.wait_log("connected to the manager")
        api = Api(s.port)
        _, ws = api.connected("watcher")
        mc = self.connect(m)
        at = now_ms() + 3_600_000
        added = mc.call("schedule.add", {"action": "restart", "at": at})
        event = ws.recv_until(lambda msg: msg.get("type") == "maintenance")
        self.assertEqual(event, {"type": "maintenance", "at": at, "action": "restart"})
        # A socket opened now gets the notice on connect.
        _, ws2 = api.connected("latecomer")
        ws3 = api.socket(api.login("latecomer")["access_token"])
        self.assertEqual(ws3.recv_until(lambda msg: msg.get("type") == "maintenance"), event)
        # An earlier schedule becomes the notice; cancelling it brings back the later one.
        sooner = mc.call("schedule.add", {"action": "reboot", "at": at - 60_000})
        self.assertEqual(ws.recv_until(lambda msg: msg.get("type") == "maintenance")["at"], at - 60_000)
        mc.call("schedule.remove", {"id": sooner["id"]})
        self.assertEqual(ws.recv_until(lambda msg: msg.get("type") == "maintenance")["at"], at)
        mc.call("schedule.remove", {"id": added["id"]})
        self.assertEqual(ws.recv_until(lambda msg: msg.get("type") == "maintenance"),
                         {"type": "maintenance", "at": None})
        self.assertEqual(ws2.recv_until(lambda msg: msg.get("type") == "maintenance" and msg["at"] is None),
                         {"type": "maintenance", "at": None})
        for w in (ws, ws2, ws3):
            w.close()

    def test_a_schedule_that_fires_clears_the_notice(self):
        m = self.start_named("m", None, extra=self.manager_extra() + "\n[manager.schedule]\npoll_ms = 100\n")
        s = self.start("server", config=self.server_config(m.socket_path))
        s.wait_log("connected to the manager")
        _, ws = Api(s.port).connected("watcher")
        # Far enough out that the notice reaches the socket before it fires, on a loaded machine.
        self.connect(m).call("schedule.add", {"action": "restart", "at": now_ms() + 4000})
        self.assertIsNotNone(ws.recv_until(lambda msg: msg.get("type") == "maintenance")["at"])
        # It fires (and fails without D-Bus): no longer pending, so the notice is cleared.
        cleared = ws.recv_until(lambda msg: msg.get("type") == "maintenance", timeout=15)
        self.assertIsNone(cleared["at"])
        ws.close()

    def test_server_without_manager_then_manager_arrives_and_restarts(self):
        tmp = tempfile.TemporaryDirectory(prefix="parley-m-")
        self.addCleanup(tmp.cleanup)
        data = os.path.join(tmp.name, "m")
        socket_path = os.path.join(data, "manager.sock")
        s = self.start("server", config=self.server_config(socket_path))
        s.wait_log("cannot connect to the manager")
        status, _, _ = Api(s.port).call("GET", "/api/v1/health")
        self.assertEqual(status, 200, "the server runs without its manager")
        m = self.start_named("m", None, data_dir=data, extra=self.manager_extra())
        s.wait_log("connected to the manager", timeout=10)
        m.stop()
        s.wait_log("lost the manager")
        m2 = self.start_named("m", None, data_dir=data, extra=self.manager_extra())
        wait_until(lambda: s.log().count("connected to the manager") >= 2, 10, what="a reconnection")
        _, ws = Api(s.port).connected("watcher")
        self.connect(m2).call("schedule.add", {"action": "reboot", "at": now_ms() + 3_600_000})
        self.assertEqual(ws.recv_until(lambda msg: msg.get("type") == "maintenance")["action"], "reboot")
        ws.close()


class AdminRouteTest(ServerWithManagerCase):
    def admin_setup(self, manager_socket):
        """A server whose 'root' account is an admin (made with --make-admin) and 'pleb' is not."""
        config = self.server_config(manager_socket)
        s = self.start("server", config=config)
        api = Api(s.port)
        api.register("root")
        api.register("pleb")
        # Refused while the server runs on the directory.
        r = run_parley(["server", "--config", s.config_path, "--data-dir", s.data_dir, "--make-admin", "root"])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("stop the server first", r.stderr)
        self.assertEqual(s.stop(), 0)
        r = run_parley(["server", "--config", s.config_path, "--data-dir", s.data_dir, "--make-admin", "ROOT"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("now has the role admin", r.stdout)
        r = run_parley(["server", "--config", s.config_path, "--data-dir", s.data_dir, "--make-admin", "nobody"])
        self.assertEqual(r.returncode, 1)
        s2 = self.start("server", config=config, data_dir=s.data_dir)
        api = Api(s2.port)
        root, root_ws = api.connected("root", register=False)
        pleb, pleb_ws = api.connected("pleb", register=False)
        self.addCleanup(root_ws.close)
        self.addCleanup(pleb_ws.close)
        return s2, api, root["access_token"], pleb["access_token"]

    def test_admin_route_reaches_a_forwarded_manager(self):
        port_b = free_port()
        self.start_named("b", port_b)
        a = self.start_named("a", None, extra=self.manager_extra(), peers=[
            {"name": "b", "url": f"tls://127.0.0.1:{port_b}", "key_file": self.key_file(PEER_KEY)}])
        s, api, root, pleb = self.admin_setup(a.socket_path)
        path = "/api/v1/admin/manager"
        status, _, body = api.call("POST", path, {"method": "system.info", "params": {"journal_lines": 0},
                                                  "target": "b"}, token=root)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["result"]["manager"], "b")
        status, _, body = api.call("POST", path, {"method": "managers.list"}, token=root)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["result"]["self"]["name"], "a")
        status, _, body = api.call("POST", path, {"method": "ping", "target": "nowhere"}, token=root)
        self.assertEqual((status, body["error"]), (404, "not_found"))
        status, _, body = api.call("POST", path, {"method": "schedule.add", "params": {"action": "x", "at": 1}},
                                   token=root)
        self.assertEqual((status, body["error"]), (400, "bad_request"))
        status, _, body = api.call("POST", path, {"method": "ping", "bogus": 1}, token=root)
        self.assertEqual(status, 400)
        status, _, body = api.call("POST", path, {"method": "ping"}, token=pleb)
        self.assertEqual((status, body["error"]), (403, "forbidden"))
        status, _, body = api.call("GET", "/api/v1/admin/maintenance", token=root)
        self.assertEqual(status, 200)
        self.assertEqual(body["at"], None)
        self.assertTrue(body["manager_connected"])
        status, _, _ = api.call("GET", "/api/v1/admin/maintenance", token=pleb)
        self.assertEqual(status, 403)
        s.wait_log("admin: account")
        # The role change and every manager request are in history.db's audit_log.
        db = sqlite3.connect(os.path.join(s.data_dir, "db", "history.db"))
        rows = db.execute("SELECT actor, action, detail FROM audit_log ORDER BY id").fetchall()
        db.close()
        self.assertEqual(rows[0][:2], ("command-line", "account.role"))
        self.assertEqual(json.loads(rows[0][2])["to"], "admin")
        self.assertEqual(rows[1][1], "manager.system.info")
        self.assertTrue(rows[1][0].startswith("account:"))
        self.assertEqual(json.loads(rows[1][2]), {"target": "b", "outcome": "ok"})
        self.assertEqual(json.loads(rows[3][2]), {"target": "nowhere", "outcome": "not_found"})

    def test_admin_route_without_a_manager(self):
        s = self.start("server", config=FAST_AUTH)
        api = Api(s.port)
        api.register("root")
        self.assertEqual(s.stop(), 0)
        r = run_parley(["server", "--config", s.config_path, "--data-dir", s.data_dir, "--make-admin", "root"])
        self.assertEqual(r.returncode, 0, r.stderr)
        s2 = self.start("server", config=FAST_AUTH, data_dir=s.data_dir)
        api = Api(s2.port)
        root, ws = api.connected("root", register=False)
        status, _, body = api.call("POST", "/api/v1/admin/manager", {"method": "ping"},
                                   token=root["access_token"])
        self.assertEqual((status, body["error"]), (503, "unavailable"))
        self.assertIn("no manager is configured", body["message"])
        ws.close()


if __name__ == "__main__":
    unittest.main()
