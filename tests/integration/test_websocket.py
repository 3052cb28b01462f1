"""The WebSocket protocol of api.md against the real server: framing, request ids, error frames,
close codes 1001/1003/1008/1009/1013, the rate limit, the per-account cap, a slow consumer,
permessage-deflate (negotiation, compressed frames both ways, shared compressed broadcasts,
the inflate bound), and the connection metrics."""

import json
import re
import struct
import signal
import socket
import time
import unittest
import zlib

from harness import (FAST_AUTH, Api, Closed, HandshakeRefused, ParleyTestCase, WebSocket, http_request,
                     wait_until)


def metric(port, name):
    status, _, body = http_request("GET", port, "/metrics")
    assert status == 200
    m = re.search(rf"^{re.escape(name)} (\S+)$", body.decode(), re.M)
    return float(m.group(1)) if m else None


class WebSocketTest(ParleyTestCase):
    config = FAST_AUTH + "[websocket]\nmax_frame_bytes = 8192\nrate_per_second = 50\nrate_burst = 50\n"

    def setUp(self):
        super().setUp()
        self.server = self.start("server", config=self.config)
        self.api = Api(self.server.port)

    def test_a_socket_chooses_its_features(self):
        status, _, listed = self.api.call("GET", "/api/v1/features")
        self.assertEqual(status, 200, listed)
        names = {f["name"]: f["message_types"] for f in listed["features"]}
        self.assertIn("send", names["chat"])
        self.assertIn("maintenance", names)
        s = self.api.user("fern")
        # Only maintenance: chat frames are refused, saying why; the socket stays usable.
        ws = self.api.socket(s["access_token"], path="/api/v1/ws?features=maintenance")
        ws.send_json({"type": "subscribe", "topic": "room:x:chat", "id": "c"})
        err = ws.recv_until(lambda m: m.get("id") == "c")
        self.assertEqual(err["error"], "bad_request")
        self.assertIn('"chat"', err["message"])
        ws.send_json({"type": "ping", "id": "p"})
        self.assertEqual(ws.recv_until(lambda m: m.get("id") == "p")["type"], "pong")
        ws.close()
        # Unknown names are ignored next to a known one; none known closes with 1008.
        ws = self.api.socket(s["access_token"], path="/api/v1/ws?features=chat,nope")
        ws.send_json({"type": "subscribe", "topic": "account:me:notifications", "id": "n"})
        self.assertEqual(ws.recv_until(lambda m: m.get("id") == "n")["type"], "ok")
        ws.close()
        ws = self.api.socket(s["access_token"], path="/api/v1/ws?features=nope")
        self.assertEqual(ws.expect_close(), 1008)

    def test_ping_pong_and_request_ids(self):
        s = self.api.user("ann")
        ws = self.api.socket(s["access_token"])
        ws.send_json({"type": "ping", "id": 7})
        pong = ws.recv()
        # The pong carries the server's clock (Unix ms).
        self.assertAlmostEqual(pong.pop("time") / 1000, time.time(), delta=60)
        self.assertEqual(pong, {"type": "pong", "id": 7})
        # Only a scalar id is echoed (a nested one was copied and dumped recursively).
        ws.send_json({"type": "ping", "id": {"nested": [1, 2]}})
        err = ws.recv()
        self.assertEqual((err["type"], err["error"], "id" in err), ("error", "bad_request", False))
        ws.send_json({"type": "ping", "id": "s"})
        self.assertEqual({k: v for k, v in ws.recv().items() if k != "time"}, {"type": "pong", "id": "s"})
        ws.send_json({"type": "frobnicate", "id": "q1"})
        err = ws.recv()
        self.assertEqual((err["type"], err["id"], err["error"]), ("error", "q1", "bad_request"))
        self.assertIn("frobnicate", err["message"])
        ws.send_json({"id": 3})
        err = ws.recv()
        self.assertEqual((err["type"], err["id"], err["error"]), ("error", 3, "bad_request"))
        ws.send_json({"type": "ping"})
        self.assertEqual({k: v for k, v in ws.recv().items() if k != "time"}, {"type": "pong"},
                         "the socket still works after errors")

    def test_not_json_closes_1003(self):
        s = self.api.user("ben")
        ws = self.api.socket(s["access_token"])
        ws.send_text("hello there")
        self.assertEqual(ws.expect_close(), 1003)
        ws2 = self.api.socket(s["access_token"])
        ws2.send_text("[1, 2, 3]")
        self.assertEqual(ws2.expect_close(), 1003)
        ws3 = self.api.socket(s["access_token"])
        ws3.send_frame(0x2, b"\x00\x01binary")
        self.assertEqual(ws3.expect_close(), 1003)

    def test_protocol_framing(self):
        """RFC 6455 details of the plain-socket engine: fragments, control frames between
        them, ping/pong, close echo, and each protocol error's close code."""
        s = self.api.user("fay")
        ws = self.api.socket(s["access_token"])
        msg = json.dumps({"type": "ping", "id": "frag"}).encode()
        ws.send_frame(0x1, msg[:5], fin=False)
        ws.send_frame(0x9, b"between")           # a control frame inside a fragmented message
        ws.send_frame(0x0, msg[5:12], fin=False)
        ws.send_frame(0x0, msg[12:], fin=True)
        self.assertEqual(ws.recv_frame(), (0xA, b"between"), "a ping is answered with its payload")
        self.assertEqual({k: v for k, v in ws.recv().items() if k != "time"}, {"type": "pong", "id": "frag"})
        ws.send_frame(0x8, struct.pack("!H", 1000) + b"bye")
        op, data = ws.recv_frame()
        self.assertEqual((op, struct.unpack("!H", data[:2])[0]), (0x8, 1000), "the close is echoed")
        ws.sock.settimeout(5)
        self.assertEqual(ws.sock.recv(10), b"", "and the server closes the TCP connection")

        cases = [
            ("unmasked", lambda w: w.send_frame(0x1, b'{"type":"ping"}', mask=False), 1002),
            ("reserved bit", lambda w: w.sock.sendall(bytes([0xC1, 0x80]) + b"\0\0\0\0"), 1002),
            ("bad opcode", lambda w: w.send_frame(0x3, b""), 1002),
            ("long control", lambda w: w.send_frame(0x9, b"x" * 126), 1002),
            ("lone continuation", lambda w: w.send_frame(0x0, b"{}"), 1002),
            ("invalid UTF-8", lambda w: w.send_frame(0x1, b'{"type":"ping","id":"\xff"}'), 1007),
            ("fragments too big", lambda w: [w.send_frame(0x1, b"x" * 5000, fin=False),
                                             w.send_frame(0x0, b"x" * 5000)], 1009),
        ]
        for name, act, code in cases:
            with self.subTest(name):
                w = self.api.socket(s["access_token"])
                act(w)
                self.assertEqual(w.expect_close(), code)
        ok = self.api.socket(s["access_token"])
        ok.send_json({"type": "ping", "id": 1})
        self.assertEqual(ok.recv()["type"], "pong", "the server still serves others")

    def test_frames_trickling_in_pieces(self):
        """Frames that arrive a few bytes at a time, and one larger than a read, are put
        together across reads: the server reads what is there, keeps the partial frame and
        waits again."""
        s = self.api.user("tom")
        ws = self.api.socket(s["access_token"])
        ws.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        big_id = "b" * 6000  # more than one 4 KiB read, within max_frame_bytes (8 KiB)
        wire = b"".join(ws.frame_bytes(0x1, json.dumps({"type": "ping", "id": i}).encode())
                        for i in ("one", "two", big_id))
        small, rest = wire[:60], wire[60:]
        for at in range(0, len(small), 3):
            ws.sock.sendall(small[at:at + 3])
            time.sleep(0.005)
        for at in range(0, len(rest), 1500):
            ws.sock.sendall(rest[at:at + 1500])
            time.sleep(0.005)
        ids = [ws.recv()["id"] for _ in range(3)]
        self.assertEqual(ids, ["one", "two", big_id])
        ws.send_json({"type": "ping", "id": "after"})
        self.assertEqual(ws.recv()["id"], "after", "and the socket goes on as usual")

    def test_idle_socket_is_pinged_then_closed(self):
        self.server.close()
        self.server = self.start("server", config=FAST_AUTH + "[websocket]\nidle_timeout_ms = 1000\n")
        self.api = Api(self.server.port)
        s = self.api.user("gil")
        ws = self.api.socket(s["access_token"])
        ws.sock.settimeout(3)
        started = time.monotonic()
        op, _ = ws.recv_frame()
        self.assertEqual(op, 0x9, "a silent client is pinged")
        self.assertGreater(time.monotonic() - started, 0.4)
        ws.send_frame(0xA, b"")  # answering keeps it open
        ws.sock.settimeout(0.8)
        try:
            op, _ = ws.recv_frame()
            self.assertEqual(op, 0x9, "only pings while the client answers")
        except TimeoutError:
            pass
        ws2 = self.api.socket(s["access_token"])
        ws2.sock.settimeout(5)
        t0 = time.monotonic()
        frames = []
        try:
            while True:
                frames.append(ws2.recv_frame()[0])  # never answers
        except ConnectionError:
            pass
        self.assertIn(0x9, frames)
        self.assertLess(time.monotonic() - t0, 3, "closed after the idle timeout")

    def test_oversized_frame_closes_1009(self):
        s = self.api.user("cat")
        ws = self.api.socket(s["access_token"])
        ws.send_json({"type": "ping", "id": "x" * 10000})
        self.assertEqual(ws.expect_close(), 1009)
        other = self.api.socket(s["access_token"])
        other.send_json({"type": "ping", "id": 1})
        self.assertEqual(other.recv()["type"], "pong", "the server still serves others")

    def test_bad_or_missing_token_closes_1008(self):
        for headers, path in [({}, "/api/v1/ws"),
                              ({"Authorization": "Bearer " + "x" * 43}, "/api/v1/ws"),
                              ({}, "/api/v1/ws?token=nonsense")]:
            ws = WebSocket(self.server.port, path, headers=headers)
            self.assertEqual(ws.expect_close(), 1008, path)
        # Without an Upgrade header the socket route explains itself.
        status, _, body = http_request("GET", self.server.port, "/api/v1/ws")
        self.assertEqual((status, body["error"]), (400, "bad_request"))

    def test_rate_limit(self):
        s = self.api.user("dan")
        ws = self.api.socket(s["access_token"])
        for i in range(80):
            ws.send_json({"type": "ping", "id": i})
        replies = [ws.recv() for _ in range(80)]
        limited = [r for r in replies if r.get("error") == "rate_limited"]
        pongs = [r for r in replies if r["type"] == "pong"]
        self.assertGreater(len(limited), 0)
        self.assertGreaterEqual(len(pongs), 50)
        # A client that keeps going far past the limit is closed with 1008.
        for i in range(400):
            try:
                ws.send_json({"type": "ping", "id": i})
            except OSError:
                break
        self.assertEqual(ws.expect_close(), 1008)

    def test_per_account_connection_cap(self):
        self.server.close()
        self.server = self.start("server", config=FAST_AUTH + "[websocket]\nmax_connections_per_account = 2\n")
        self.api = Api(self.server.port)
        s = self.api.user("eve")
        a = self.api.socket(s["access_token"])
        b = self.api.socket(s["access_token"])
        for ws in (a, b):
            ws.send_json({"type": "ping"})
            ws.recv()
        c = self.api.socket(s["access_token"])
        self.assertEqual(c.expect_close(), 1008)
        a.close()
        time.sleep(0.2)
        d = self.api.socket(s["access_token"])
        d.send_json({"type": "ping"})
        self.assertEqual(d.recv()["type"], "pong", "a slot frees up when a socket closes")

    def test_slow_consumer_is_closed_1013_others_keep_going(self):
        self.server.close()
        self.server = self.start("server", config=FAST_AUTH + "[websocket]\nsend_queue_limit = 8\n"
                                 "rate_per_second = 100000\nrate_burst = 100000\nmax_frame_bytes = 70000\n"
                                 "close_timeout_ms = 20000\n")
        self.api = Api(self.server.port)
        slow_session = self.api.user("slow")
        fast_session = self.api.user("fast")
        slow = self.api.socket(slow_session["access_token"])
        fast = self.api.socket(fast_session["access_token"])
        big = "y" * 60000
        # The slow client asks for ~12 MB of pongs and reads none of them.
        for i in range(200):
            try:
                slow.send_json({"type": "ping", "id": big})
            except OSError:
                break
        fast.send_json({"type": "ping", "id": "still here"})
        self.assertEqual({k: v for k, v in fast.recv(timeout=5).items() if k != "time"}, {"type": "pong", "id": "still here"})
        self.assertEqual(slow.expect_close(timeout=20), 1013)
        self.assertIn("closing with 1013", self.server.log())
        self.assertGreaterEqual(metric(self.server.port, "parley_ws_slow_consumers_total"), 1)

    def test_writes_to_a_busy_socket_are_paced(self):
        self.server.close()
        self.server = self.start("server", config=FAST_AUTH + "[websocket]\nwrite_pace_us = 400000\n")
        self.api = Api(self.server.port)
        ws = self.api.socket(self.api.user("pace")["access_token"])

        def pong(expected_id):
            reply = ws.recv(timeout=5)
            self.assertEqual((reply["type"], reply.get("id")), ("pong", expected_id))
            return time.monotonic()

        # Not written for a while: answered at once.
        sent = time.monotonic()
        ws.send_json({"type": "ping", "id": "first"})
        first = pong("first")
        self.assertLess(first - sent, 0.3)
        # Written just now: the next answers wait out the pace, and go out together, in order.
        for i in range(3):
            ws.send_json({"type": "ping", "id": f"paced-{i}"})
        arrivals = [pong(f"paced-{i}") for i in range(3)]
        self.assertGreaterEqual(arrivals[0] - first, 0.35)
        self.assertLess(arrivals[-1] - arrivals[0], 0.05)
        # Quiet for longer than the pace: at once again.
        time.sleep(0.5)
        sent = time.monotonic()
        ws.send_json({"type": "ping", "id": "after"})
        self.assertLess(pong("after") - sent, 0.3)
        ws.close()

    def test_unpaced_writes_go_out_every_turn(self):
        self.server.close()
        self.server = self.start("server", config=FAST_AUTH + "[websocket]\nwrite_pace_us = 0\n")
        self.api = Api(self.server.port)
        ws = self.api.socket(self.api.user("nopace")["access_token"])
        for i in range(5):
            sent = time.monotonic()
            ws.send_json({"type": "ping", "id": str(i)})
            reply = ws.recv(timeout=5)
            self.assertEqual(reply.get("id"), str(i))
            self.assertLess(time.monotonic() - sent, 0.3)
        ws.close()

    def test_metrics(self):
        s = self.api.user("hal")
        self.assertEqual(metric(self.server.port, "parley_ws_connections"), 0)
        ws = self.api.socket(s["access_token"])
        ws.send_json({"type": "ping"})
        ws.recv()
        self.assertEqual(metric(self.server.port, "parley_ws_connections"), 1)
        ws.close()
        ws = self.api.socket(s["access_token"])
        ws.send_json({"type": "ping"})
        ws.recv()
        self.assertEqual(metric(self.server.port, "parley_ws_reconnects_total"), 1)
        self.assertGreaterEqual(metric(self.server.port, "parley_ws_messages_received_total"), 2)
        # A frame is counted as sent when its write completes, which may be just after the
        # client has read it.
        wait_until(lambda: metric(self.server.port, "parley_ws_messages_sent_total") >= 2, 5,
                   what="both pongs counted as sent")
        _, _, text = http_request("GET", self.server.port, "/metrics")
        text = text.decode()
        self.assertIn('parley_http_requests_total{route="POST /api/v1/accounts",status="201"} 1', text)
        self.assertIn("parley_db_commit_seconds_count", text)
        self.assertIn("parley_http_request_seconds_bucket", text)
        # The first socket's duration is observed when the server has seen it close.
        wait_until(lambda: "parley_ws_connection_duration_seconds_count 1" in
                   http_request("GET", self.server.port, "/metrics")[2].decode(), 5,
                   what="the closed socket's duration")

    def test_shutdown_closes_sockets_with_1001(self):
        s = self.api.user("ivy")
        ws = self.api.socket(s["access_token"])
        ws.send_json({"type": "ping"})
        ws.recv()
        self.server.send_signal(signal.SIGTERM)
        self.assertEqual(ws.expect_close(), 1001)
        self.assertEqual(self.server.proc.wait(10), 0)



def deflate(data, wbits=zlib.MAX_WBITS, compressor=None):
    """One message compressed as RFC 7692 7.2.1 says: raw DEFLATE, sync-flushed, its final
    00 00 ff ff left off. `compressor`: a client that keeps its context across messages."""
    c = compressor or zlib.compressobj(wbits=-wbits)
    body = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert body[-4:] == b"\x00\x00\xff\xff"
    return body[:-4]


def recv_message(ws, timeout=10):
    """The next data message as (compressed?, wire bytes, JSON). A compressed one is inflated
    with a fresh context: the server never carries its context from one message to the next."""
    _, data = ws.recv_data_frame(timeout)
    compressed = ws.last_rsv1
    assert ws.last_fin, "the server sends every message in one frame"
    text = data
    if compressed:
        text = zlib.decompressobj(-zlib.MAX_WBITS).decompress(data + b"\x00\x00\xff\xff")
    return compressed, data, json.loads(text)


class PermessageDeflateTest(ParleyTestCase):
    """permessage-deflate (RFC 7692) in Parley's own engine, against Python's zlib."""

    config = FAST_AUTH + "[websocket]\npermessage_deflate = true\nmax_frame_bytes = 8192\n"

    def setUp(self):
        super().setUp()
        self.server = self.start("server", config=self.config)
        self.api = Api(self.server.port)

    def socket(self, session, offer=None):
        headers = {"Authorization": f"Bearer {session['access_token']}"}
        if offer is not None:
            headers["Sec-WebSocket-Extensions"] = offer
        ws = WebSocket(self.server.port, "/api/v1/ws", headers=headers)
        self.addCleanup(ws.sock.close)
        return ws

    @staticmethod
    def extensions(ws):
        for line in ws.response_head.split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "sec-websocket-extensions":
                return value.strip()
        return None

    def ping(self, ws, ident, frame_bytes, compressor=None, rsv1=True):
        text = json.dumps({"type": "ping", "id": ident}).encode()
        ws.send_frame(0x1, deflate(text, compressor=compressor) if rsv1 else text, rsv1=rsv1)
        compressed, _, pong = recv_message(ws)
        self.assertEqual((pong["type"], pong["id"]), ("pong", ident))
        return compressed

    def test_compressed_frames_both_ways_in_the_own_engine(self):
        s = self.api.user("fay")
        ws = self.socket(s, "permessage-deflate; client_max_window_bits")
        self.assertEqual(self.extensions(ws), "permessage-deflate; server_no_context_takeover")
        # Parley's own engine writes "Connection: Upgrade" (Beast's stream: "upgrade").
        self.assertIn("Connection: Upgrade", ws.response_head)
        # The client keeps its context across messages (no client_no_context_takeover), so the
        # later messages refer back into the earlier ones: the server's inflater must keep it.
        keeper = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        for i in range(4):
            big = f"compressed {i} " + "x" * 300
            self.assertTrue(self.ping(ws, big, None, compressor=keeper), "a long pong is compressed")
        # Uncompressed messages stay valid on a compressing socket; a short answer (under 64
        # bytes) goes uncompressed.
        self.assertFalse(self.ping(ws, "short", None, rsv1=False))
        self.assertTrue(self.ping(ws, "y" * 500, None, rsv1=False))
        # A fragmented compressed message: RSV1 on its first frame only.
        body = deflate(json.dumps({"type": "ping", "id": "z" * 400}).encode())
        ws.send_frame(0x1, body[:5], fin=False, rsv1=True)
        ws.send_frame(0x0, body[5:10], fin=False)
        ws.send_frame(0x9, b"between")  # control frames may come between fragments
        ws.send_frame(0x0, body[10:])
        compressed, _, pong = recv_message(ws)
        self.assertEqual((compressed, pong["id"]), (True, "z" * 400))
        # A client that offers nothing is served as before, uncompressed, by the same engine.
        plain = self.socket(s)
        self.assertIsNone(self.extensions(plain))
        self.assertIn("Connection: Upgrade", plain.response_head)
        self.assertFalse(self.ping(plain, "p" * 300, None, rsv1=False))
        # With compression off (the default), an offer is not answered.
        off = self.start("server", config=FAST_AUTH)
        s2 = Api(off.port).user("gus")
        ws2 = WebSocket(off.port, "/api/v1/ws", headers={
            "Authorization": f"Bearer {s2['access_token']}", "Sec-WebSocket-Extensions": "permessage-deflate"})
        self.addCleanup(ws2.sock.close)
        self.assertIsNone(self.extensions(ws2))
        ws2.send_frame(0x1, deflate(b'{"type":"ping"}'), rsv1=True)
        self.assertEqual(ws2.expect_close(), 1002)

    def test_negotiation_takes_the_first_acceptable_offer(self):
        s = self.api.user("ned")
        cases = [
            # A 256-byte server window is declined (zlib cannot write one): the next offer wins.
            ("permessage-deflate; server_max_window_bits=8, permessage-deflate; client_no_context_takeover",
             "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
            ("permessage-deflate; server_max_window_bits=10; client_max_window_bits=12",
             "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12"),
            ('permessage-deflate; server_max_window_bits="11"',
             "permessage-deflate; server_no_context_takeover; server_max_window_bits=11"),
            ("x-webkit-deflate-frame, permessage-deflate; server_no_context_takeover",
             "permessage-deflate; server_no_context_takeover"),
            # Nothing acceptable: unknown or repeated parameters, malformed values.
            ("permessage-deflate; level=9", None),
            ("permessage-deflate; client_no_context_takeover; client_no_context_takeover", None),
            ("permessage-deflate; server_max_window_bits", None),
            ("permessage-deflate; client_max_window_bits=16", None),
            ("permessage-deflate; server_max_window_bits=010", None),
        ]
        for offer, answer in cases:
            with self.subTest(offer=offer):
                ws = self.socket(s, offer)
                self.assertEqual(self.extensions(ws), answer)
                if answer is None:
                    # An uncompressed socket: RSV1 is a protocol error there.
                    ws.send_frame(0x1, deflate(b'{"type":"ping"}'), rsv1=True)
                    self.assertEqual(ws.expect_close(), 1002)
                ws.close()
        # server_max_window_bits=10 is honoured: a long, repetitive answer inflates with a
        # 1 KiB window (a longer reference would fail here).
        ws = self.socket(s, "permessage-deflate; server_max_window_bits=10")
        ident = "".join(f"{i:04d}" for i in range(600))
        ident = ident + ident  # repeats at a distance of 2400 bytes: beyond the window
        ws.send_json({"type": "ping", "id": ident})
        opcode, data = ws.recv_frame()
        self.assertTrue(ws.last_rsv1)
        pong = json.loads(zlib.decompressobj(-10).decompress(data + b"\x00\x00\xff\xff"))
        self.assertEqual(pong["id"], ident)

    def test_client_no_context_takeover(self):
        s = self.api.user("cal")
        ws = self.socket(s, "permessage-deflate; client_no_context_takeover; client_max_window_bits=9")
        self.assertEqual(
            self.extensions(ws),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=9")
        for i in range(3):
            self.assertTrue(self.ping(ws, f"fresh {i} " + "q" * 200, None))
        # The client promised to reset its context: a message that refers back into the one
        # before cannot be inflated, and closes the socket (1007).
        keeper = zlib.compressobj(wbits=-9)
        self.ping(ws, "r" * 200, None, compressor=keeper)
        ws.send_frame(0x1, deflate(json.dumps({"type": "ping", "id": "r" * 200}).encode(), compressor=keeper),
                      rsv1=True)
        self.assertEqual(ws.expect_close(), 1007)

    def test_broadcast_is_compressed_for_deflate_sockets_only(self):
        a, b, c = (self.api.user(n) for n in ("amy", "ben", "cid"))
        sockets = {"a": self.socket(a, "permessage-deflate"),
                   "b": self.socket(b, "permessage-deflate; client_max_window_bits"),
                   "c": self.socket(c)}
        for ws in sockets.values():  # registered before the REST calls need a live socket
            ws.send_json({"type": "ping", "id": "up"})
            recv_message(ws)
        status, _, room = self.api.call("POST", "/api/v1/rooms", {
            "title": "t", "kind": "group", "members": [b["account_id"], c["account_id"]]}, token=a["access_token"])
        self.assertEqual(status, 201, room)
        rid = room["room_id"]
        for ws in sockets.values():
            ws.send_json({"type": "subscribe", "topic": f"room:{rid}:chat", "id": "sub"})
            while recv_message(ws)[2].get("id") != "sub":
                pass
        text = "the same message for everyone in the room " * 5
        status, _, sent = self.api.call("POST", f"/api/v1/rooms/{rid}/messages",
                                        {"text": text, "client_msg_id": "m1"}, token=a["access_token"])
        self.assertEqual(status, 200, sent)
        got = {}
        for name, ws in sockets.items():
            while True:
                compressed, wire, msg = recv_message(ws)
                if msg.get("type") == "message":
                    break
            self.assertEqual((msg["text"], msg["seq"]), (text, sent["seq"]))
            got[name] = (compressed, wire, msg)
        self.assertTrue(got["a"][0] and got["b"][0], "deflate sockets get the frame compressed")
        self.assertFalse(got["c"][0], "a plain socket gets it uncompressed")
        self.assertEqual(got["a"][1], got["b"][1], "one compression, the same bytes for both")
        self.assertLess(len(got["a"][1]), len(got["c"][1]))
        self.assertEqual(got["a"][2], got["c"][2])

    def test_a_zip_bomb_closes_with_1009(self):
        s = self.api.user("zed")
        ws = self.socket(s, "permessage-deflate")
        # Within the limit once inflated: fine.
        self.assertTrue(self.ping(ws, "k" * 7000, None))
        # 1 MiB of JSON in about a kilobyte on the wire, against max_frame_bytes = 8192.
        bomb = deflate(b'{"type":"ping","id":"' + b"a" * (1 << 20) + b'"}')
        self.assertLess(len(bomb), 8192)
        ws.send_frame(0x1, bomb, rsv1=True)
        self.assertEqual(ws.expect_close(), 1009)
        self.assertIn("inflates past 8192 bytes", self.server.log())
        # The same bomb in fragments, and from a client that resets its context.
        ws = self.socket(s, "permessage-deflate; client_no_context_takeover")
        ws.send_frame(0x1, bomb[:100], fin=False, rsv1=True)
        ws.send_frame(0x0, bomb[100:])
        self.assertEqual(ws.expect_close(), 1009)
        # The server is still serving.
        ws = self.socket(s, "permessage-deflate")
        self.assertTrue(self.ping(ws, "after " * 30, None))

    def test_rsv1_where_it_is_not_allowed_closes_with_1002(self):
        s = self.api.user("rex")
        # On a control frame.
        ws = self.socket(s, "permessage-deflate")
        ws.send_frame(0x9, b"x", rsv1=True)
        self.assertEqual(ws.expect_close(), 1002)
        # On a continuation.
        ws = self.socket(s, "permessage-deflate")
        body = deflate(b'{"type":"ping","id":"' + b"c" * 200 + b'"}')
        ws.send_frame(0x1, body[:10], fin=False, rsv1=True)
        ws.send_frame(0x0, body[10:], rsv1=True)
        self.assertEqual(ws.expect_close(), 1002)
        # Without negotiation, on a server that allows compression.
        ws = self.socket(s)
        ws.send_frame(0x1, deflate(b'{"type":"ping"}'), rsv1=True)
        self.assertEqual(ws.expect_close(), 1002)
        # Data that is not DEFLATE.
        ws = self.socket(s, "permessage-deflate")
        ws.send_frame(0x1, b"\xff\xff\xff\xff\xff", rsv1=True)
        self.assertEqual(ws.expect_close(), 1007)


class OneThreadWebSocketTest(WebSocketTest):
    """The WebSocket tests again with one network thread (see test_chat.OneThreadChatTest):
    slow consumers, idle pings, close handshakes and limits when no strand orders a socket."""
    server_threads = 1


class OneThreadPermessageDeflateTest(PermessageDeflateTest):
    """permessage-deflate with one network thread."""
    server_threads = 1


if __name__ == "__main__":
    unittest.main()
