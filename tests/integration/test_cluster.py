"""Cluster mode against a real redis-server and real `parley server` processes: a primary
publishes every committed room event (messages, removals, membership and room changes, typing)
to the room's Redis stream, in seq order and with the exact frame its own sockets receive;
Redis killed and restarted loses nothing committed meanwhile; a single node never contacts
Redis. An edge serves WebSocket clients: a client on the edge and one on the primary exchange
messages both ways in one order, errors come back with the single node's codes, a Redis
restart and a stream gap lose nothing, and the edge refuses clearly while the primary is down.

Redis is started by the test from /usr/bin/redis-server on a free port with its own directory
and no persistence; without it every test is skipped with a message saying so."""

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import types
import time
import unittest

from harness import FAST_AUTH, Api, Closed, ParleyTestCase, WebSocket, free_port, wait_until

REDIS_SERVER = "/usr/bin/redis-server"


class Redis:
    """A redis-server child process and a minimal RESP client of it (standard library only)."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="parley-redis-")
        self.port = free_port()
        self.proc = None
        self.commands = 0

    def start(self):
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir.name,
             "--save", "", "--appendonly", "no", "--logfile", os.path.join(self.dir.name, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up():
            try:
                return self.command("PING") == "PONG"
            except OSError:
                return False
        wait_until(up, 10, what=f"redis-server on port {self.port}")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def close(self):
        self.kill()
        self.dir.cleanup()

    def command(self, *args):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            self.commands += 1
            out = f"*{len(args)}\r\n".encode()
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += f"${len(a)}\r\n".encode() + a + b"\r\n"
            s.sendall(out)
            return self._read(s.makefile("rb"))

    def _read(self, f):
        line = f.readline()
        if not line:
            raise OSError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = f.read(n + 2)[:-2]
            return data.decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read(f) for _ in range(n)]
        raise RuntimeError(f"unexpected RESP line {line!r}")

    def stream(self, key):
        """The entries of a stream as a list of field dicts."""
        out = []
        for _, fields in self.command("XRANGE", key, "-", "+"):
            out.append(dict(zip(fields[0::2], fields[1::2])))
        return out


@unittest.skipUnless(os.path.exists(REDIS_SERVER),
                     f"{REDIS_SERVER} is missing (scripts/setup installs redis-server)")
class ClusterPrimaryTest(ParleyTestCase):
    def setUp(self):
        super().setUp()
        self.redis = Redis()
        self.addCleanup(self.redis.close)
        self.redis.start()

    def primary(self, extra=""):
        config = (FAST_AUTH + "[websocket]\nrate_per_second = 10000\nrate_burst = 10000\n"
                  f"[cluster]\nrole = \"primary\"\nnode_id = \"p1\"\nredis = \"127.0.0.1:{self.redis.port}\"\n"
                  "publish_retry_ms = 50\nredis_backoff_max_ms = 200\n" + extra)
        return self.start("server", config=config)

    def room(self, api, owner, members):
        status, _, r = api.call("POST", "/api/v1/rooms", {"title": "t", "kind": "group", "members": members},
                                token=owner["access_token"])
        self.assertEqual(status, 201, r)
        return r["room_id"]

    def send(self, ws, rid, text, cmid):
        ws.send_json({"type": "send", "id": cmid, "room_id": rid, "text": text, "client_msg_id": cmid})
        reply = ws.recv_until(lambda m: m.get("id") == cmid)
        self.assertEqual(reply["type"], "ok", reply)
        return reply["seq"]

    def test_committed_events_reach_the_room_stream_in_order_with_the_socket_frames(self):
        server = self.primary()
        api = Api(server.port)
        a, wa = api.connected("alice")
        b, wb = api.connected("bob")
        c = api.user("carol")
        rid = self.room(api, a, [b["account_id"], c["account_id"]])
        wb.send_json({"type": "subscribe", "topic": f"room:{rid}:chat", "id": "s"})
        wb.recv_until(lambda m: m.get("id") == "s")
        wb.send_json({"type": "subscribe", "topic": f"room:{rid}:typing", "id": "t"})
        wb.recv_until(lambda m: m.get("id") == "t")

        received = []
        for i in range(1, 21):
            self.assertEqual(self.send(wa, rid, f"hello {i}", f"m{i}"), i)
        for _ in range(20):
            received.append(wb.recv_until(lambda m: m.get("type") == "message"))
        wa.send_json({"type": "typing", "room_id": rid, "id": "ty"})
        wa.recv_until(lambda m: m.get("id") == "ty")
        status, _, _ = api.call("DELETE", f"/api/v1/rooms/{rid}/messages/3", token=a["access_token"])
        self.assertEqual(status, 200)
        status, _, _ = api.call("DELETE", f"/api/v1/rooms/{rid}/members/{c['account_id']}", token=a["access_token"])
        self.assertIn(status, (200, 204))

        key = f"parley:room:{rid}"
        wait_until(lambda: len(self.redis.stream(key)) >= 24, 10, what="24 entries in the room stream")
        entries = self.redis.stream(key)
        messages = [e for e in entries if e["kind"] == "message"]
        self.assertEqual([int(e["seq"]) for e in messages], list(range(1, 21)))
        # The frame in the stream is the frame the room's sockets got.
        for e, got in zip(messages, received):
            self.assertEqual(json.loads(e["frame"]), got)
        kinds = [e["kind"] for e in entries]
        self.assertIn("typing", kinds)
        removed = [e for e in entries if e["kind"] == "message_removed"]
        self.assertEqual(len(removed), 1)
        self.assertEqual(removed[0]["seq"], "3")
        self.assertEqual(removed[0]["account"], a["account_id"])
        gone = [e for e in entries if e["kind"] == "member_removed"]
        self.assertEqual([e["account"] for e in gone], [c["account_id"]])
        self.assertIn("room_changed", kinds[kinds.index("member_removed"):])

        status, _, health = api.call("GET", "/api/v1/health")
        self.assertEqual(health["cluster"]["role"], "primary")
        self.assertEqual(health["cluster"]["node_id"], "p1")
        self.assertEqual(health["cluster"]["redis"], "up")
        status, _, metrics = api.call("GET", "/metrics")
        self.assertIn('parley_cluster_events_published_total{node="p1"}', metrics.decode())

    def test_redis_killed_and_restarted_loses_no_committed_message(self):
        server = self.primary()
        api = Api(server.port)
        a, wa = api.connected("alice")
        b = api.user("bob")
        rid = self.room(api, a, [b["account_id"]])
        key = f"parley:room:{rid}"
        for i in range(1, 6):
            self.send(wa, rid, f"before {i}", f"b{i}")
        wait_until(lambda: len(self.redis.stream(key)) == 5, 10, what="5 entries before the kill")

        self.redis.kill()
        # Writes go on while Redis is away: SQLite is the source of truth.
        for i in range(6, 31):
            self.assertEqual(self.send(wa, rid, f"during {i}", f"d{i}"), i)
        wait_until(lambda: api.call("GET", "/api/v1/health")[2]["cluster"]["redis"] == "down", 10,
                   what="health to report redis down")
        time.sleep(0.3)  # a few failed retries
        self.redis.start()  # no persistence: the stream comes back empty
        wait_until(lambda: len(self.redis.stream(key)) >= 25, 15, what="the messages committed meanwhile")
        seqs = [int(e["seq"]) for e in self.redis.stream(key)]
        self.assertEqual(seqs, list(range(6, 31)))
        # Logged once the pipeline's answer is handled, a moment after Redis stored it.
        wait_until(lambda: "publishing to Redis again" in server.log(), 10, what="the recovery log line")
        wait_until(lambda: api.call("GET", "/api/v1/health")[2]["cluster"]["redis"] == "up", 10,
                   what="health to report redis up")

    def test_a_single_node_never_contacts_redis(self):
        # role = "single" with a Redis address: the address is not used.
        config = FAST_AUTH + f"[cluster]\nrole = \"single\"\nredis = \"127.0.0.1:{self.redis.port}\"\n"
        server = self.start("server", config=config)
        api = Api(server.port)
        a, wa = api.connected("alice")
        rid = self.room(api, a, [])
        self.send(wa, rid, "hi", "m1")
        status, _, health = api.call("GET", "/api/v1/health")
        self.assertNotIn("cluster", health)
        self.assertEqual(self.redis.command("DBSIZE"), 0)
        # Every connection Redis ever accepted: the test's own (one per command, PING included).
        info = self.redis.command("INFO", "stats")
        accepted = int(info.split("total_connections_received:")[1].split()[0])
        self.assertLessEqual(accepted, self.redis.commands)

    def test_bad_cluster_config_is_refused_with_the_key_named(self):
        server = self.start("server", config="[cluster]\nrole = \"primary\"\nredis = \"nowhere\"\n", wait=False)
        self.assertNotEqual(server.proc.wait(15), 0)
        self.assertIn("cluster.redis", server.log())
        self.assertIn("host:port", server.log())


SOCKET_CONFIG = "[websocket]\nrate_per_second = 10000\nrate_burst = 10000\n"
MEDIA_CONFIG = "[media]\nmax_upload_bytes = 2000000\n"


@unittest.skipUnless(os.path.exists(REDIS_SERVER),
                     f"{REDIS_SERVER} is missing (scripts/setup installs redis-server)")
class ClusterEdgeTest(ParleyTestCase):
    """A primary and an edge `parley server` on free ports with temp data dirs, and Redis."""

    def setUp(self):
        super().setUp()
        self.inboxes = {}
        self.redis = Redis()
        self.addCleanup(self.redis.close)
        self.redis.start()
        self.secret_dir = tempfile.TemporaryDirectory(prefix="parley-cluster-")
        self.addCleanup(self.secret_dir.cleanup)
        self.secret = os.path.join(self.secret_dir.name, "cluster.secret")
        fd = os.open(self.secret, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, os.urandom(24).hex().encode() + b"\n")
        os.close(fd)

    def cluster_config(self, role, extra=""):
        return (f"[cluster]\nrole = \"{role}\"\nnode_id = \"{role}-1\"\n"
                f"redis = \"127.0.0.1:{self.redis.port}\"\nsecret_file = \"{self.secret}\"\n"
                "publish_retry_ms = 50\nredis_backoff_max_ms = 200\nredis_command_timeout_ms = 1000\n"
                "read_block_ms = 200\n" + extra)

    def start_primary(self, extra="", port=None, data_dir=None):
        kwargs = {}
        if port:
            kwargs["port"] = port
        if data_dir:
            kwargs["data_dir"] = data_dir
        return self.start("server", config=FAST_AUTH + SOCKET_CONFIG + self.cluster_config("primary", extra),
                          **kwargs)

    def start_edge(self, primary, config="", node="edge-1", read_block_ms=200):
        return self.start("server", config=SOCKET_CONFIG + config + self.cluster_config(
            "edge", f"primary = \"http://127.0.0.1:{primary.port}\"\n").replace(
                'node_id = "edge-1"', f'node_id = "{node}"').replace(
                    "read_block_ms = 200", f"read_block_ms = {read_block_ms}"))

    def metric(self, node, name):
        _, _, metrics = Api(node.port).call("GET", "/metrics")
        m = re.search(r"^" + re.escape(name) + r"\{[^}]*\} (\d+)$", metrics.decode(), re.M)
        self.assertIsNotNone(m, name)
        return int(m.group(1))

    def edge_socket(self, edge, session):
        ws = WebSocket(edge.port, "/api/v1/ws", headers={"Authorization": f"Bearer {session['access_token']}"})
        ws.send_json({"type": "ping", "id": 0})
        ws.recv_until(lambda m: m.get("type") == "pong")
        return ws

    def room(self, api, owner, members):
        status, _, r = api.call("POST", "/api/v1/rooms", {"title": "t", "kind": "group", "members": members},
                                token=owner["access_token"])
        self.assertEqual(status, 201, r)
        return r["room_id"]

    def subscribe(self, ws, topic):
        ws.send_json({"type": "subscribe", "topic": topic, "id": "sub " + topic})
        return ws.recv_until(lambda m: m.get("id") == "sub " + topic)

    def recv_keeping_messages(self, ws, predicate, timeout=15):
        """The next frame matching `predicate`; message frames read on the way are kept for
        messages()."""
        inbox = self.inboxes.setdefault(id(ws), [])
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            self.assertGreater(left, 0, "timed out waiting for a WebSocket frame")
            m = ws.recv(timeout=left)
            if predicate(m):
                return m
            if m.get("type") == "message":
                inbox.append(m)

    def send(self, ws, rid, text, cmid, expect_ok=True):
        ws.send_json({"type": "send", "id": cmid, "room_id": rid, "text": text, "client_msg_id": cmid})
        reply = self.recv_keeping_messages(ws, lambda m: m.get("id") == cmid)
        if expect_ok:
            self.assertEqual(reply["type"], "ok", reply)
        return reply

    def messages(self, ws, count, timeout=15):
        """The next `count` message frames of `ws` (those read by send() first)."""
        inbox = self.inboxes.setdefault(id(ws), [])
        while len(inbox) < count:
            try:
                inbox.append(self.recv_keeping_messages(ws, lambda m: m.get("type") == "message", timeout))
            except (AssertionError, TimeoutError):
                self.fail(f"got {len(inbox)} of {count} messages; last: {inbox[-3:]}")
        out, inbox[:] = inbox[:count], inbox[count:]
        return out

    def setup_pair(self, extra=""):
        """Primary, edge, alice with a socket on the primary, bob with one on the edge, a room."""
        primary = self.start_primary(extra)
        edge = self.start_edge(primary)
        api = Api(primary.port)
        alice, wa = api.connected("alice")
        bob = api.user("bob")
        wb = self.edge_socket(edge, bob)
        rid = self.room(api, alice, [bob["account_id"]])
        self.assertEqual(self.subscribe(wa, f"room:{rid}:chat")["type"], "ok")
        self.assertEqual(self.subscribe(wb, f"room:{rid}:chat")["type"], "ok")
        return primary, edge, api, alice, wa, bob, wb, rid

    def setup_two_edges(self):
        """Primary, edges A and B, alice with a socket on A and bob on B, both subscribed to
        their room; everything (accounts, sessions, the room) through the edges."""
        primary = self.start_primary()
        edge_a = self.start_edge(primary, node="edge-a")
        edge_b = self.start_edge(primary, node="edge-b")
        alice = Api(edge_a.port).user("alice")
        bob = Api(edge_b.port).user("bob")
        wa, wb = self.edge_socket(edge_a, alice), self.edge_socket(edge_b, bob)
        rid = self.room(Api(edge_a.port), alice, [bob["account_id"]])
        self.assertEqual(self.subscribe(wa, f"room:{rid}:chat")["type"], "ok")
        self.assertEqual(self.subscribe(wb, f"room:{rid}:chat")["type"], "ok")
        return primary, edge_a, edge_b, alice, wa, bob, wb, rid

    def test_clients_on_edge_and_primary_exchange_messages_in_one_order(self):
        primary, edge, api, alice, wa, bob, wb, rid = self.setup_pair()
        for i in range(1, 11):
            self.assertEqual(self.send(wa, rid, f"from primary {i}", f"a{i}")["seq"], i)
        for i in range(11, 21):
            self.assertEqual(self.send(wb, rid, f"from edge {i}", f"b{i}")["seq"], i)
        on_primary = self.messages(wa, 20)
        on_edge = self.messages(wb, 20)
        self.assertEqual([m["seq"] for m in on_edge], list(range(1, 21)))
        self.assertEqual(on_edge, on_primary)
        self.assertEqual(on_edge[10]["sender_id"], bob["account_id"])
        self.assertEqual(on_edge[10]["text"], "from edge 11")
        # A resend with the same client_msg_id is the same message, as on one node.
        again = self.send(wb, rid, "from edge 11", "b11")
        self.assertEqual((again["seq"], again["duplicate"]), (11, True))

        # Errors carry the single node's codes.
        carol, wc = Api(primary.port).connected("carol")
        other = self.room(api, carol, [])
        on_single = self.send(wa, other, "x", "x1", expect_ok=False)
        on_edge_err = self.send(wb, other, "x", "x2", expect_ok=False)
        self.assertEqual(on_single["type"], "error")
        self.assertEqual(on_edge_err["error"], on_single["error"])
        refused = self.subscribe(wb, f"room:{other}:chat")
        self.assertEqual((refused["type"], refused["error"]), ("error", "forbidden"))
        refused = self.subscribe(wb, f"room:{other}:doc")
        self.assertEqual((refused["type"], refused["error"]), ("error", "forbidden"))

        # A wrong token is refused at the upgrade, as on one node.
        bad = WebSocket(edge.port, "/api/v1/ws", headers={"Authorization": "Bearer nope"})
        self.assertEqual(bad.expect_close(), 1008)

        # A removal reaches the edge's sockets.
        status, _, _ = api.call("DELETE", f"/api/v1/rooms/{rid}/messages/2", token=alice["access_token"])
        self.assertEqual(status, 200)
        removed = wb.recv_until(lambda m: m.get("type") == "message_removed")
        self.assertEqual(removed["seq"], 2)

        status, _, health = Api(edge.port).call("GET", "/api/v1/health")
        self.assertEqual(health["cluster"], {"role": "edge", "node_id": "edge-1", "redis": "up", "primary": "up"})
        status, _, metrics = Api(edge.port).call("GET", "/metrics")
        self.assertIn('parley_cluster_deliveries_total{node="edge-1"}', metrics.decode())
        # The internal link keeps its connections: far fewer connections than requests.
        text = metrics.decode()
        requests = int(re.search(r'parley_cluster_link_requests_total\{node="edge-1"\} (\d+)', text).group(1))
        connections = int(re.search(r'parley_cluster_link_connections_total\{node="edge-1"\} (\d+)', text).group(1))
        self.assertGreater(requests, 10, (connections, requests))
        self.assertLess(connections * 3, requests, (connections, requests))

    def test_redis_restart_and_a_stream_gap_lose_nothing_on_the_edge(self):
        # A publish buffer of 100: while Redis is away, the 101st event onwards is not kept and
        # reaches the edge only through the gap fill from the primary.
        primary, edge, api, alice, wa, bob, wb, rid = self.setup_pair("publish_buffer = 100\n")
        for i in range(1, 4):
            self.send(wa, rid, f"before {i}", f"a{i}")
        self.assertEqual([m["seq"] for m in self.messages(wb, 3)], [1, 2, 3])

        self.redis.kill()
        for i in range(4, 154):
            self.send(wa, rid, f"during {i}", f"d{i}")
        self.redis.start()  # no persistence: the stream comes back empty
        wait_until(lambda: "publishing to Redis again" in primary.log(), 15, what="the publisher to reconnect")
        self.send(wa, rid, "after", "z1")  # seq 154
        got = self.messages(wb, 151, timeout=30)
        self.assertEqual([m["seq"] for m in got], list(range(4, 155)))
        self.assertEqual(got[-1]["text"], "after")
        self.assertIn("filled a stream gap", edge.log())
        _, _, metrics = Api(primary.port).call("GET", "/metrics")
        # At least the 50 messages past the bound are dropped; one more when another room event
        # (a read marker, a presence change) was waiting in the buffer as Redis went away.
        dropped = int(re.search(r'parley_cluster_events_dropped_total\{node="primary-1"\} (\d+)',
                                metrics.decode()).group(1))
        self.assertGreaterEqual(dropped, 50)
        self.assertLessEqual(dropped, 53)

    def test_a_session_ended_on_the_primary_closes_its_edge_socket(self):
        primary = self.start_primary()
        edge = self.start_edge(primary)
        api = Api(primary.port)
        on_edge = api.user("bob")
        ws_edge = self.edge_socket(edge, on_edge)
        # The same account on the primary ends the edge's session (as "log out that device").
        on_primary = api.login("bob")
        ws_primary = api.socket(on_primary["access_token"])
        ws_primary.send_json({"type": "ping", "id": 0})
        ws_primary.recv_until(lambda m: m.get("type") == "pong")
        started = time.monotonic()
        status, _, _ = api.call("DELETE", f"/api/v1/sessions/{on_edge['session_id']}",
                                token=on_primary["access_token"])
        self.assertIn(status, (200, 204))
        self.assertEqual(ws_edge.expect_close(timeout=10), 4001)
        self.assertLess(time.monotonic() - started, 3.0)
        wait_until(lambda: "ended on the primary" in edge.log(), 5, what="the edge's log line")
        # Its token no longer opens a socket on the edge.
        again = WebSocket(edge.port, "/api/v1/ws", headers={"Authorization": f"Bearer {on_edge['access_token']}"})
        self.assertEqual(again.expect_close(), 1008)

    def test_the_edge_refuses_clearly_while_the_primary_is_down(self):
        primary, edge, api, alice, wa, bob, wb, rid = self.setup_pair()
        self.assertEqual(self.send(wb, rid, "one", "b1")["seq"], 1)
        unseen = api.login("bob")  # a token the edge has never checked
        primary.kill()
        reply = self.send(wb, rid, "two", "b2", expect_ok=False)
        self.assertEqual(reply["type"], "error")
        self.assertEqual(reply["error"], "unavailable")
        self.assertTrue(reply["retryable"])
        self.assertIn("primary cannot be reached", reply["message"])
        # New sockets with a token the edge has not cached cannot be authenticated: 1013, try
        # again later, with the reason.
        late = WebSocket(edge.port, "/api/v1/ws", headers={"Authorization": f"Bearer {unseen['access_token']}"})
        with self.assertRaises(Closed) as closed:
            late.recv(timeout=10)
        self.assertEqual(closed.exception.code, 1013)
        self.assertIn("primary cannot be reached", closed.exception.reason)
        _, _, health = Api(edge.port).call("GET", "/api/v1/health")
        self.assertEqual(health["cluster"]["primary"], "down")
        # The edge keeps its sockets: the existing one still answers.
        wb.send_json({"type": "ping", "id": "still"})
        wb.recv_until(lambda m: m.get("type") == "pong")
        # A token the primary accepted before (cached on the edge) reconnects without it.
        again = self.edge_socket(edge, bob)
        again.close()

    def test_rest_through_an_edge_is_the_primarys(self):
        primary = self.start_primary(MEDIA_CONFIG)
        edge = self.start_edge(primary, MEDIA_CONFIG)
        primary.wait_log("imageproc child pid", timeout=15)
        via_edge, direct = Api(edge.port), Api(primary.port)
        # Accounts and sessions through the edge, with the primary's answers and codes.
        bob = via_edge.user("bob")
        status, headers, body = via_edge.call("POST", "/api/v1/sessions",
                                              {"username": "bob", "password": "wrong"})
        self.assertEqual((status, body["error"]), (401, "unauthorized"), body)
        self.assertEqual(direct.call("POST", "/api/v1/sessions", {"username": "bob", "password": "wrong"})[2],
                         body)
        # The REST rule holds cluster-wide: no socket anywhere, no REST.
        status, _, body = via_edge.call("GET", "/api/v1/profiles/me", token=bob["access_token"])
        self.assertEqual(status, 401, body)
        ws = self.edge_socket(edge, bob)
        # A socket on the edge makes the token work at once, through the edge and on the primary.
        for api in (via_edge, direct):
            status, _, me = api.call("GET", "/api/v1/profiles/me", token=bob["access_token"])
            self.assertEqual(status, 200, me)
            self.assertEqual(me["account_id"], bob["account_id"])
        alice, wa = direct.connected("alice")
        self.addCleanup(wa.close)
        rid = self.room(via_edge, bob, [alice["account_id"]])
        self.assertEqual(self.subscribe(ws, f"room:{rid}:chat")["type"], "ok")
        for i in range(1, 4):
            self.assertEqual(self.send(ws, rid, f"m{i}", f"c{i}")["seq"], i)
        status, _, history = via_edge.call("GET", f"/api/v1/rooms/{rid}/messages", token=bob["access_token"])
        self.assertEqual(status, 200, history)
        self.assertEqual(history, direct.call("GET", f"/api/v1/rooms/{rid}/messages",
                                              token=alice["access_token"])[2])
        self.assertEqual([m["text"] for m in history["messages"]], ["m1", "m2", "m3"])
        # Errors keep their status and code.
        status, _, body = via_edge.call("GET", "/api/v1/rooms/nosuchroom/messages", token=bob["access_token"])
        d_status, _, d_body = direct.call("GET", "/api/v1/rooms/nosuchroom/messages",
                                          token=alice["access_token"])
        self.assertEqual((status, body), (d_status, d_body))
        self.assertGreaterEqual(status, 400)
        # An upload is spooled on the edge and stored on the primary; the image comes back
        # through the edge byte for byte, with its ETag, and a 304 for it.
        from test_media import Images
        images = Images()
        self.addCleanup(images.tmp.cleanup)
        status, _, up = via_edge.call("POST", "/api/v1/media", token=bob["access_token"],
                                      raw_body=images.make("photo.jpg", 320, 200),
                                      headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(status, 202, up)
        cid = up["content_id"]

        # The primary's "processed" frame reaches bob's socket on the edge (the control stream).
        done = ws.recv_until(lambda m: m.get("type") == "media" and m.get("content_id") == cid, timeout=30)
        info = via_edge.call("GET", f"/api/v1/media/{cid}/info", token=bob["access_token"])[2]
        self.assertEqual(done["state"], info["state"])
        self.assertNotEqual(done["state"], "processing")
        # The gallery (GET on the upload's path) is forwarded too.
        status, _, listing = via_edge.call("GET", "/api/v1/media", token=bob["access_token"])
        self.assertEqual(status, 200, listing)
        self.assertEqual(listing, direct.call("GET", "/api/v1/media", token=bob["access_token"])[2])
        status, headers, image = via_edge.call("GET", f"/api/v1/media/{cid}", token=bob["access_token"])
        self.assertEqual(status, 200)
        d_status, d_headers, d_image = direct.call("GET", f"/api/v1/media/{cid}", token=bob["access_token"])
        self.assertEqual((status, image), (d_status, d_image))
        for h in ("content-type", "etag", "cache-control", "x-content-type-options"):
            self.assertEqual(headers.get(h), d_headers.get(h), h)
        status, _, _ = via_edge.call("GET", f"/api/v1/media/{cid}", token=bob["access_token"],
                                     headers={"If-None-Match": headers["etag"]})
        self.assertEqual(status, 304)
        # The edge's own limits, as on one node, before anything reaches the primary.
        status, _, body = via_edge.call("POST", "/api/v1/media", token=bob["access_token"],
                                        raw_body=b"x" * 2_000_001)
        self.assertEqual((status, body["error"]), (413, "too_large"))
        status, _, body = via_edge.call("POST", "/api/v1/rooms", {"title": "x" * 70_000}, token=bob["access_token"])
        self.assertEqual((status, body["error"]), (413, "too_large"))
        # The web client's files come through the edge as from the primary.
        for path in ("/", "/index.html"):
            e_status, e_headers, e_page = via_edge.call("GET", path)
            d_status, d_headers, d_page = direct.call("GET", path)
            self.assertEqual((e_status, e_page), (d_status, d_page), path)
            self.assertEqual(e_headers.get("content-security-policy"), d_headers.get("content-security-policy"))
        # The internal link is never reachable through an edge.
        status, _, _ = via_edge.call("POST", "/internal/cluster/session", {"token": bob["access_token"]})
        self.assertEqual(status, 404)
        # Per-address limits see the client's address, which the primary takes from an edge
        # only with the cluster secret.
        with open(self.secret) as f:
            secret = f.read().strip()
        direct.call("POST", "/api/v1/sessions", {"username": "bob", "password": "bad"},
                    headers={"X-Parley-Edge": secret, "X-Parley-Client": "10.1.2.3"})
        primary.wait_log("from 10.1.2.3", timeout=5)
        direct.call("POST", "/api/v1/sessions", {"username": "bob", "password": "bad"},
                    headers={"X-Parley-Edge": "x" * len(secret), "X-Parley-Client": "10.4.5.6"})
        primary.wait_log("edge header without the cluster secret", timeout=5)
        self.assertNotIn("10.4.5.6", primary.log())
        # Once the edge socket is gone, the token stops working within the edge's report window.
        ws.close()
        wait_until(lambda: via_edge.call("GET", "/api/v1/profiles/me", token=bob["access_token"])[0] == 401,
                   8, interval=0.2, what="REST refused once the edge socket closed")
        _, _, metrics = via_edge.call("GET", "/metrics")
        self.assertRegex(metrics.decode(), r'parley_cluster_forwarded_total\{node="edge-1",outcome="answered"\} [1-9]')
        # The primary down: 503 unavailable, retry after a second.
        primary.kill()
        status, headers, body = via_edge.call("GET", "/api/v1/profiles/me", token=alice["access_token"])
        self.assertEqual((status, body["error"], headers.get("retry-after")), (503, "unavailable", "1"))
        self.assertIn("primary cannot be reached", body["message"])

    def test_two_edges_one_order_and_a_logout_on_one_closes_the_other(self):
        primary, edge_a, edge_b, alice, wa, bob, wb, rid = self.setup_two_edges()
        # Both send at once, without waiting for answers: one order, no gap, on both edges.
        for i in range(30):
            for ws, who in ((wa, "a"), (wb, "b")):
                ws.send_json({"type": "send", "id": f"{who}{i}", "room_id": rid, "text": f"{who} {i}",
                              "client_msg_id": f"{who}{i}"})
        on_a, on_b = self.messages(wa, 60), self.messages(wb, 60)
        self.assertEqual([m["seq"] for m in on_a], list(range(1, 61)))
        self.assertEqual([(m["seq"], m["text"]) for m in on_a], [(m["seq"], m["text"]) for m in on_b])
        self.assertEqual(sorted(m["text"] for m in on_a),
                         sorted([f"a {i}" for i in range(30)] + [f"b {i}" for i in range(30)]))
        # Bob logs out through edge A: his socket on edge B closes within a second, told by the
        # control stream rather than the session check.
        started = time.monotonic()
        status, _, _ = Api(edge_a.port).call("DELETE", "/api/v1/sessions/current", token=bob["access_token"])
        self.assertIn(status, (200, 204))
        self.assertEqual(wb.expect_close(timeout=5), 4001)
        self.assertLess(time.monotonic() - started, 1.0)
        wait_until(lambda: "(control stream)" in edge_b.log(), 5, what="edge B's log line")
        self.assertIn("published to parley:control", primary.log())
        # The token is dead everywhere.
        for edge in (edge_a, edge_b):
            again = WebSocket(edge.port, "/api/v1/ws", headers={"Authorization": f"Bearer {bob['access_token']}"})
            self.assertEqual(again.expect_close(), 1008)
        # Alice is untouched.
        wa.send_json({"type": "ping", "id": "still"})
        wa.recv_until(lambda m: m.get("type") == "pong")

    def test_redis_down_mid_load_edges_refuse_sends_and_lose_nothing_acknowledged(self):
        primary, edge_a, edge_b, alice, wa, bob, wb, rid = self.setup_two_edges()
        acknowledged, refusals, i, killed = {}, [], 0, False
        deadline = time.monotonic() + 60
        while len(acknowledged) < 80:
            self.assertLess(time.monotonic(), deadline, "the load did not finish")
            if i == 20 and not killed:
                killed = True
                self.redis.kill()
                wait_until(lambda: Api(edge_a.port).call("GET", "/api/v1/health")[2]["cluster"]["redis"] == "down",
                           10, what="edge A to see Redis down")
                # The same send over REST through the edge is refused the same way; reads go on.
                status, headers, body = Api(edge_a.port).call(
                    "POST", f"/api/v1/rooms/{rid}/messages", {"text": "by rest", "client_msg_id": "rest1"},
                    token=alice["access_token"])
                self.assertEqual((status, body["error"]), (503, "unavailable"), body)
                self.assertIn("Redis", body["message"])
                self.assertEqual(headers.get("retry-after"), "1")
                status, _, page = Api(edge_a.port).call("GET", f"/api/v1/rooms/{rid}/messages?after_seq=0",
                                                        token=alice["access_token"])
                self.assertEqual((status, len(page["messages"])), (200, 20))
            if len(refusals) == 5 and self.redis.proc.poll() is not None:
                self.redis.start()  # no persistence: the streams come back empty
            reply = self.send(wa, rid, f"load {i}", f"l{i}", expect_ok=False)
            if reply["type"] == "ok":
                acknowledged[reply["seq"]] = f"load {i}"
                i += 1
            else:
                self.assertEqual((reply["error"], reply["retryable"]), ("unavailable", True), reply)
                self.assertIn("Redis", reply["message"])
                refusals.append(reply)
                time.sleep(0.1)  # as a client does before retrying the same message
        self.assertGreaterEqual(len(refusals), 5)
        # Both edges keep their sockets and deliver every acknowledged message once, in order.
        for ws in (wb, wa):
            got = self.messages(ws, 80, timeout=30)
            self.assertEqual([m["seq"] for m in got], list(range(1, 81)))
            self.assertEqual({m["seq"]: m["text"] for m in got}, acknowledged)


    def frames_until(self, ws, predicate, timeout=15):
        """Every frame up to and including the first matching `predicate`."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            self.assertGreater(left, 0, f"timed out; got {out[-5:]}")
            out.append(ws.recv(timeout=left))
            if predicate(out[-1]):
                return out

    def doc_subscribe(self, ws, rid, version=None, ident="doc"):
        """Subscribes to the room's document; the patch frames before the ok, and the ok."""
        frame = {"type": "subscribe", "topic": f"room:{rid}:doc", "id": ident}
        if version is not None:
            frame["version"] = version
        ws.send_json(frame)
        got = self.frames_until(ws, lambda m: m.get("id") == ident)
        return [m for m in got if m.get("type") == "patch"], got[-1]

    def test_documents_presence_typing_and_the_other_room_frames_across_two_edges(self):
        primary, edge_a, edge_b, alice, wa, bob, wb, rid = self.setup_two_edges()
        # The document on edge A: the whole of it first, then a patch per message, whichever
        # edge the message was sent from.
        patches, ok = self.doc_subscribe(wa, rid)
        self.assertEqual(ok["type"], "ok")
        self.assertEqual(len(patches), 1)
        self.assertEqual(patches[0]["ops"][0]["op"], "replace")
        doc, version = patches[0]["ops"][0]["value"], patches[0]["version"]
        self.assertEqual(set(doc["members"]), {alice["account_id"], bob["account_id"]})
        self.send(wb, rid, "hello from B", "b1")
        patch = wa.recv_until(lambda m: m.get("type") == "patch")
        self.assertEqual(patch["version"], version + 1)
        self.assertIn({"op": "add", "path": "/messages/-"}, [{"op": o["op"], "path": o["path"]} for o in patch["ops"]])
        version += 1

        # Presence cluster-wide: bob on edge B sees alice, who is subscribed on edge A (edge A
        # reports within 200 ms; the list a subscriber gets first may precede that report).
        both = sorted([alice["account_id"], bob["account_id"]])
        wb.send_json({"type": "subscribe", "topic": f"room:{rid}:presence", "id": "p"})
        got = self.frames_until(wb, lambda m: m.get("id") == "p")
        online = [m for m in got if m.get("type") == "presence"]
        self.assertIn(bob["account_id"], online[0]["online"])
        if online[0]["online"] != both:
            wb.recv_until(lambda m: m.get("type") == "presence" and m["online"] == both, timeout=5)

        # Typing on edge A reaches bob's typing subscription on edge B; the answer is the
        # primary's own (viewers and non-members refused as on one node).
        self.assertEqual(self.subscribe(wb, f"room:{rid}:typing")["type"], "ok")
        wa.send_json({"type": "typing", "room_id": rid, "id": "t1"})
        self.assertEqual(wa.recv_until(lambda m: m.get("id") == "t1")["type"], "ok")
        typing = wb.recv_until(lambda m: m.get("type") == "typing")
        self.assertEqual((typing["account_id"], typing["active"]), (alice["account_id"], True))
        wa.send_json({"type": "typing", "room_id": "nope", "id": "t2"})
        self.assertEqual(wa.recv_until(lambda m: m.get("id") == "t2")["error"], "not_found")

        # ack: the read marker, stored by the primary.
        wb.send_json({"type": "ack", "room_id": rid, "seq": 1, "id": "a1"})
        ack = wb.recv_until(lambda m: m.get("id") == "a1")
        self.assertEqual((ack["type"], ack["read_seq"]), ("ok", 1))
        wb.send_json({"type": "ack", "room_id": rid, "id": "a2"})
        self.assertEqual(wb.recv_until(lambda m: m.get("id") == "a2")["error"], "bad_request")

        # request_sync from bob (edge B) reaches the owner alice's socket on edge A; sync is for
        # owners only.
        wb.send_json({"type": "request_sync", "room_id": rid, "id": "r1"})
        self.assertEqual(wb.recv_until(lambda m: m.get("id") == "r1")["type"], "ok")
        asked = wa.recv_until(lambda m: m.get("type") == "request_sync")
        self.assertEqual((asked["room_id"], asked["from"]), (rid, bob["account_id"]))
        wb.send_json({"type": "sync", "room_id": rid, "state": {}, "id": "s1"})
        self.assertEqual(wb.recv_until(lambda m: m.get("id") == "s1")["error"], "forbidden")

        # Resume on the other edge: a new socket on edge B holding the version gets exactly the
        # patch it missed, not the whole document; one up to date gets nothing.
        # The patch comes over the bus and the send's ok as the primary's answer: either may be
        # first.
        wa.send_json({"type": "send", "id": "a1", "room_id": rid, "text": "missed", "client_msg_id": "a1"})
        seen = set()

        def ok_and_patch(m):
            if m.get("id") == "a1":
                self.assertEqual(m["type"], "ok", m)
                seen.add("ok")
            if m.get("type") == "patch" and m["version"] == version + 1:
                seen.add("patch")
            return seen == {"ok", "patch"}

        self.frames_until(wa, ok_and_patch)
        moved = self.edge_socket(edge_b, alice)
        patches, _ = self.doc_subscribe(moved, rid, version=version)
        self.assertEqual([p["version"] for p in patches], [version + 1])
        self.assertNotEqual(patches[0]["ops"][0]["path"], "")
        current = self.edge_socket(edge_b, alice)
        patches, _ = self.doc_subscribe(current, rid, version=version + 1)
        self.assertEqual(patches, [])
        # ... and a patch after that reaches both, once.
        self.send(wb, rid, "next", "b2")
        for ws in (moved, current, wa):
            p = ws.recv_until(lambda m: m.get("type") == "patch")
            self.assertEqual(p["version"], version + 2)

        # A room socket on an edge starts subscribed to the four topics, as on one node.
        room_ws = WebSocket(edge_b.port, f"/api/v1/rooms/{rid}/ws",
                            headers={"Authorization": f"Bearer {bob['access_token']}"})
        first = room_ws.recv_until(lambda m: m.get("type") == "patch")
        self.assertEqual(first["ops"][0]["path"], "")
        self.assertEqual(room_ws.recv_until(lambda m: m.get("type") == "presence")["room_id"], rid)
        self.send(wa, rid, "to the room socket", "a2")
        self.assertEqual(room_ws.recv_until(lambda m: m.get("type") == "message")["text"], "to the room socket")
        carol = Api(edge_a.port).user("carol")
        self.edge_socket(edge_a, carol)  # REST needs a live socket of the session
        other = self.room(Api(edge_a.port), carol, [])
        stranger = WebSocket(edge_b.port, f"/api/v1/rooms/{other}/ws",
                             headers={"Authorization": f"Bearer {bob['access_token']}"})
        self.assertEqual(stranger.recv_until(lambda m: m.get("type") == "error")["error"], "not_found")

        # Alice leaves edge A entirely: bob's presence on edge B drops her (she still has the
        # two sockets on edge B subscribed to the document: close those too).
        for ws in (wa, moved, current):
            ws.close()
        gone = wb.recv_until(lambda m: m.get("type") == "presence" and alice["account_id"] not in m["online"],
                             timeout=10)
        self.assertEqual(gone["online"], [bob["account_id"]])

    def test_typing_on_an_edge_skips_only_the_typing_socket(self):
        primary, edge_a, edge_b, alice, wa, bob, wb, rid = self.setup_two_edges()
        # Alice has a second socket on edge A and one on the primary; as on one node, every
        # socket subscribed to typing hears her but the one she types on, her own included.
        wa2 = self.edge_socket(edge_a, alice)
        wp = WebSocket(primary.port, "/api/v1/ws", headers={"Authorization": f"Bearer {alice['access_token']}"})
        for ws in (wa, wa2, wb, wp):
            self.assertEqual(self.subscribe(ws, f"room:{rid}:typing")["type"], "ok")
        wa.send_json({"type": "typing", "room_id": rid, "id": "t1"})
        self.assertEqual(wa.recv_until(lambda m: m.get("id") == "t1")["type"], "ok")
        for ws in (wa2, wb, wp):
            typing = ws.recv_until(lambda m: m.get("type") == "typing")
            self.assertEqual((typing["account_id"], typing["active"]), (alice["account_id"], True))
        # By now the entry has been read on edge A too (wa2 got it from there): nothing for wa.
        wa.send_json({"type": "ping", "id": "p"})
        got = self.frames_until(wa, lambda m: m.get("type") == "pong")
        self.assertEqual([m for m in got if m.get("type") == "typing"], [])
        # Typing on the primary's socket reaches both of her sockets on edge A.
        wp.send_json({"type": "typing", "room_id": rid, "active": False, "id": "t2"})
        for ws in (wa, wa2):
            typing = ws.recv_until(lambda m: m.get("type") == "typing")
            self.assertEqual((typing["account_id"], typing["active"]), (alice["account_id"], False))

    def test_a_new_subscription_starts_at_the_stream_position_at_once_with_no_gap(self):
        # A long block: a subscription that waited for the reader's next round would be seen.
        primary = self.start_primary()
        edge = self.start_edge(primary, read_block_ms=5000)
        api = Api(primary.port)
        alice, wa = api.connected("alice")
        bob = api.user("bob")
        rid = self.room(api, alice, [bob["account_id"]])
        for i in range(1, 301):  # a stream the edge must not read through
            self.send(wa, rid, f"old {i}", f"o{i}")

        # Subscribed while the reader is blocked: the next message arrives at once, and the
        # edge read none of the 300 entries before it.
        wb = self.edge_socket(edge, bob)
        time.sleep(0.5)
        for attempt in range(3):
            self.assertEqual(self.subscribe(wb, f"room:{rid}:chat")["type"], "ok")
            ok = self.send(wa, rid, f"live {attempt}", f"l{attempt}")
            started = time.monotonic()
            got = wb.recv_until(lambda m: m.get("type") == "message", timeout=10)
            self.assertLess(time.monotonic() - started, 1.5, "the reader waited for its block")
            self.assertEqual(got["seq"], ok["seq"])
            wb.send_json({"type": "unsubscribe", "topic": f"room:{rid}:chat", "id": f"u{attempt}"})
            wb.recv_until(lambda m: m.get("id") == f"u{attempt}")
            time.sleep(0.3)
        self.assertLess(self.metric(edge, "parley_cluster_entries_read_total"), 100)

        # Subscriptions under concurrent sends: each socket gets every message sent after its
        # subscription was answered, once and in order, and none acknowledged before it asked.
        acked = [ok["seq"]]
        sent_at = []  # (when the send was written, its seq)
        stop = threading.Event()

        def sender():
            n = 0
            while not stop.is_set() and n < 5000:
                n += 1
                time.sleep(0.002)
                started = time.monotonic()
                acked.append(self.send(wa, rid, f"busy {n}", f"b{n}")["seq"])
                sent_at.append((started, acked[-1]))

        thread = threading.Thread(target=sender)
        thread.start()
        subscribers = []
        try:
            for i in range(6):
                ws = self.edge_socket(edge, bob)
                before = acked[-1]
                self.assertEqual(self.subscribe(ws, f"room:{rid}:chat")["type"], "ok")
                subscribers.append((ws, before, time.monotonic()))
                time.sleep(0.15)
        finally:
            time.sleep(0.3)
            stop.set()
            thread.join()
        last = acked[-1]
        for ws, before, answered in subscribers:
            after = [seq for started, seq in sent_at if started > answered]
            self.assertTrue(after, "the sends were not concurrent")
            seqs = []
            while not seqs or seqs[-1] < last:
                seqs.append(ws.recv_until(lambda m: m.get("type") == "message")["seq"])
            self.assertGreater(seqs[0], before, "history delivered as live")
            self.assertLessEqual(seqs[0], min(after), "a message after the subscription is missing")
            self.assertEqual(seqs, list(range(seqs[0], last + 1)))
        self.assertEqual(self.metric(edge, "parley_cluster_gap_fills_total"), 0)

    def test_rest_through_an_edge_reuses_connections_to_the_primary(self):
        primary = self.start_primary()
        edge = self.start_edge(primary)
        via_edge = Api(edge.port)
        alice = via_edge.user("alice")
        ws = self.edge_socket(edge, alice)  # REST needs a live socket of the session
        for i in range(20):
            rid = self.room(via_edge, alice, [])
            status, _, r = via_edge.call("GET", f"/api/v1/rooms/{rid}", token=alice["access_token"])
            self.assertEqual(status, 200, r)
        answered = self.metric(edge, "parley_cluster_forwarded_total")
        self.assertGreaterEqual(answered, 42)
        self.assertLessEqual(self.metric(edge, "parley_cluster_forward_connections_total"), 4)
        # The primary restarted: its old connections are dropped unused, writes go through.
        port, data_dir = primary.port, primary.data_dir
        self.assertEqual(primary.stop(), 0)
        self.start_primary(port=port, data_dir=data_dir)
        ws.close()
        ws = self.edge_socket(edge, alice)
        wait_until(lambda: via_edge.call("GET", "/api/v1/rooms", token=alice["access_token"])[0] == 200,
                   15, interval=0.3, what="REST through the edge after the primary restarted")
        self.room(via_edge, alice, [])

    def test_a_kept_connection_failing_repeats_only_requests_safe_to_repeat(self):
        # A stand-in primary that answers the first probe on each connection and closes the
        # connection on the next one after reading it, as a primary closing an idle connection
        # just as the edge sends on it.
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        self.addCleanup(listener.close)
        seen = []

        def serve(conn):
            probes = 0
            buf = b""
            with conn:
                while True:
                    while b"\r\n\r\n" not in buf:
                        data = conn.recv(65536)
                        if not data:
                            return
                        buf += data
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    length = re.search(rb"(?i)content-length: *(\d+)", head)
                    need = int(length.group(1)) if length else 0
                    while len(buf) < need:
                        buf += conn.recv(65536)
                    buf = buf[need:]
                    line = head.split(b"\r\n")[0].decode()
                    if "/api/v1/probe" in line:
                        seen.append(line.split(" ")[0])
                        probes += 1
                        if probes > 1:
                            return
                    body = b"{}"
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: 2\r\n\r\n" + body)

        def accept():
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                threading.Thread(target=serve, args=(conn,), daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()
        edge = self.start_edge(types.SimpleNamespace(port=listener.getsockname()[1]))
        via_edge = Api(edge.port)
        # GET: the first opens a connection, the second fails on it and is sent again on a new
        # one, so the client gets its answer.
        for _ in range(2):
            status, _, body = via_edge.call("GET", "/api/v1/probe")
            self.assertEqual(status, 200, body)
        self.assertEqual(seen, ["GET", "GET", "GET"])
        self.assertEqual(self.metric(edge, "parley_cluster_forward_retries_total"), 1)
        # POST on the connection kept from the repeated GET: it fails and is not sent again
        # (it may have been applied): a 503 saying so. The next one opens a new connection.
        seen.clear()
        status, _, body = via_edge.call("POST", "/api/v1/probe", {"a": 1})
        self.assertEqual(status, 503, body)
        self.assertEqual(body["error"], "unavailable")
        self.assertIn("may or may not have been applied", body["message"])
        self.assertEqual(seen, ["POST"])
        status, _, body = via_edge.call("POST", "/api/v1/probe", {"a": 2})
        self.assertEqual(status, 200, body)
        self.assertEqual(seen, ["POST", "POST"])
        self.assertEqual(self.metric(edge, "parley_cluster_forward_retries_total"), 1)

    def test_presence_stays_right_while_redis_is_down_and_converges_when_it_returns(self):
        primary, edge_a, edge_b, alice, wa, bob, wb, rid = self.setup_two_edges()
        both = sorted([alice["account_id"], bob["account_id"]])
        wb.send_json({"type": "subscribe", "topic": f"room:{rid}:presence", "id": "p"})
        wb.recv_until(lambda m: m.get("type") == "presence" and m["online"] == both, timeout=10)

        self.redis.kill()
        time.sleep(0.5)
        # Alice leaves on edge A: bob on edge B sees it without Redis.
        wa.send_json({"type": "unsubscribe", "topic": f"room:{rid}:chat", "id": "u"})
        wa.recv_until(lambda m: m.get("id") == "u")
        wb.recv_until(lambda m: m.get("type") == "presence" and m["online"] == [bob["account_id"]],
                      timeout=10)
        # ... and comes back, subscribing to presence on edge A while Redis is still away.
        wa.send_json({"type": "subscribe", "topic": f"room:{rid}:presence", "id": "p"})
        got = self.frames_until(wa, lambda m: m.get("id") == "p")
        self.assertIn(alice["account_id"], [m for m in got if m.get("type") == "presence"][0]["online"])
        wb.recv_until(lambda m: m.get("type") == "presence" and m["online"] == both, timeout=10)
        wa.recv_until(lambda m: m.get("type") == "presence" and m["online"] == both, timeout=10)

        # Redis back (empty): the lists kept while it was away reach the stream, and no edge
        # delivers an older list than it has.
        self.redis.start()
        wait_until(lambda: self.redis.command("XLEN", f"parley:room:{rid}") > 0, 15, interval=0.2,
                   what="the kept events published")
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            try:
                m = wb.recv(timeout=max(0.05, deadline - time.monotonic()))
            except TimeoutError:
                break
            if m.get("type") == "presence":
                self.assertEqual(m["online"], both, "a stale presence list after Redis returned")
        # And the stream carries changes again: alice's socket on edge A closes.
        wa.close()
        wb.recv_until(lambda m: m.get("type") == "presence" and m["online"] == [bob["account_id"]],
                      timeout=10)

    def test_notifications_and_account_frames_reach_sockets_on_edges(self):
        primary, edge_a, edge_b, alice, wa, bob, wb, rid = self.setup_two_edges()
        self.assertEqual(self.subscribe(wb, "account:me:notifications")["type"], "ok")
        # The subscription starts with the unread ones the primary stored: the invitation into
        # the first room, made before bob subscribed.
        summary = wb.recv_until(lambda m: m.get("type") == "notifications", timeout=10)
        self.assertEqual(summary["unread"], 1)
        self.assertEqual((summary["notifications"][0]["kind"], summary["notifications"][0]["room_id"]),
                         ("invitation", rid))
        # An invitation made on edge A (a room with bob) notifies bob's socket on edge B.
        # (The invitation to the first room, published before the subscription, may arrive too.)
        other = self.room(Api(edge_a.port), alice, [bob["account_id"]])
        note = wb.recv_until(lambda m: m.get("type") == "notification" and m["room_id"] == other, timeout=10)
        self.assertEqual((note["kind"], note["from"]), ("invitation", alice["account_id"]))
        # A socket that did not subscribe to notifications gets none.
        plain = self.edge_socket(edge_b, bob)
        third = self.room(Api(edge_a.port), alice, [bob["account_id"]])
        wb.recv_until(lambda m: m.get("type") == "notification" and m["room_id"] == third, timeout=10)
        plain.send_json({"type": "ping", "id": "p"})
        self.assertEqual([m["type"] for m in self.frames_until(plain, lambda m: m.get("id") == "p")], ["pong"])
        # The stored ones through edge B's REST (forwarded to the primary), and marking them.
        status, _, listed = Api(edge_b.port).call("GET", "/api/v1/notifications", token=bob["access_token"])
        self.assertEqual(status, 200, listed)
        self.assertEqual([n["room_id"] for n in listed["notifications"]], [third, other, rid])
        status, _, marked = Api(edge_b.port).call("POST", "/api/v1/notifications/read",
                                                  {"up_to": listed["notifications"][0]["id"]},
                                                  token=bob["access_token"])
        self.assertEqual((status, marked), (200, {"marked": 3, "unread": 0}))
        told = wb.recv_until(lambda m: m.get("type") == "notifications_read", timeout=10)
        self.assertEqual(told["unread"], 0)

    def test_a_client_resumes_exactly_on_the_other_edge_after_its_edge_is_killed(self):
        primary, edge_a, edge_b, alice, wa, bob, wb, rid = self.setup_two_edges()
        for i in range(1, 11):
            self.send(wa, rid, f"m {i}", f"a{i}")
        seen = self.messages(wb, 10)
        self.assertEqual([m["seq"] for m in seen], list(range(1, 11)))
        edge_b.kill()
        for i in range(11, 21):
            self.send(wa, rid, f"m {i}", f"a{i}")
        # Bob reconnects to edge A: subscribe first, then the history after the last seq he
        # saw; live frames and history joined by seq, as the web client does.
        wb2 = self.edge_socket(edge_a, bob)
        self.assertEqual(self.subscribe(wb2, f"room:{rid}:chat")["type"], "ok")
        status, _, history = Api(edge_a.port).call("GET", f"/api/v1/rooms/{rid}/messages?after_seq=10",
                                                   token=bob["access_token"])
        self.assertEqual(status, 200, history)
        missed = [m["seq"] for m in history["messages"]]
        self.assertEqual(missed, list(range(11, 21)))
        for i in range(21, 26):
            self.send(wa, rid, f"m {i}", f"a{i}")
        live = self.messages(wb2, 5)
        # Nothing from before the subscription arrives live (no duplicate), nothing is missing.
        self.assertEqual([m["seq"] for m in live], list(range(21, 26)))
        self.assertEqual(sorted(set(missed + [m["seq"] for m in live])), list(range(11, 26)))
        wb2.send_json({"type": "ping", "id": "end"})
        extra = self.frames_until(wb2, lambda m: m.get("id") == "end")
        self.assertEqual([m["type"] for m in extra], ["pong"])

    def test_primary_restarted_edges_reconnect_and_catch_up(self):
        primary, edge_a, edge_b, alice, wa, bob, wb, rid = self.setup_two_edges()
        wdoc = self.edge_socket(edge_a, alice)
        patches, _ = self.doc_subscribe(wdoc, rid)
        version = patches[0]["version"]
        for i in range(1, 6):
            self.send(wa, rid, f"before {i}", f"a{i}")
        for ws in (wa, wb):
            self.assertEqual([m["seq"] for m in self.messages(ws, 5)], list(range(1, 6)))
        port, data_dir = primary.port, primary.data_dir
        self.assertEqual(primary.stop(), 0)
        # While it is away: writes refused as retryable, sockets kept.
        reply = self.send(wb, rid, "while down", "w1", expect_ok=False)
        self.assertEqual((reply["error"], reply["retryable"]), ("unavailable", True), reply)
        wa.send_json({"type": "typing", "room_id": rid, "id": "t"})
        self.assertEqual(wa.recv_until(lambda m: m.get("id") == "t")["error"], "unavailable")
        self.start_primary(port=port, data_dir=data_dir)
        # Edges take writes again, and deliver in order on both edges.
        wait_until(lambda: self.send(wb, rid, "after", "z1", expect_ok=False)["type"] == "ok", 15,
                   interval=0.3, what="a send through edge B after the restart")
        for i in range(7, 11):
            self.send(wa, rid, f"after {i}", f"c{i}")
        for ws in (wa, wb):
            self.assertEqual([m["seq"] for m in self.messages(ws, 5)], list(range(6, 11)))
        # The document subscriber catches up: the restarted primary's versions are new, so it
        # gets the whole document again, then the patches after it.
        replaced = wdoc.recv_until(lambda m: m.get("type") == "patch" and m["ops"][0]["path"] == "", timeout=20)
        self.assertGreater(replaced["version"], version)
        self.send(wb, rid, "patched", "z2")
        last = wdoc.recv_until(lambda m: m.get("type") == "patch" and
                               {"op": "replace", "path": "/last_seq", "value": 11} in m["ops"])
        self.assertGreater(last["version"], replaced["version"])
        # Presence is rebuilt from the edges' reports: alice (edge A) is online for bob again.
        def both_online():
            wb.send_json({"type": "subscribe", "topic": f"room:{rid}:presence", "id": "p"})
            got = [m for m in self.frames_until(wb, lambda m: m.get("id") == "p") if m.get("type") == "presence"]
            return got and got[-1]["online"] == sorted([alice["account_id"], bob["account_id"]])
        wait_until(both_online, 10, interval=0.5, what="presence rebuilt after the restart")

if __name__ == "__main__":
    unittest.main()
