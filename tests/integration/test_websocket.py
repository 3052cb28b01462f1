"""The WebSocket protocol of api.md against the real server: framing, request ids, error frames,
close codes 1001/1003/1008/1009/1013, the rate limit, the per-account cap, a slow consumer,
permessage-deflate, and the connection metrics."""

import json
import re
import struct
import signal
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

    def test_permessage_deflate_when_enabled(self):
        self.server.close()
        self.server = self.start("server", config=FAST_AUTH + "[websocket]\npermessage_deflate = true\n")
        self.api = Api(self.server.port)
        s = self.api.user("fay")
        ws = WebSocket(self.server.port, "/api/v1/ws", headers={
            "Authorization": f"Bearer {s['access_token']}",
            "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"})
        self.assertIn("permessage-deflate", ws.response_head.lower())
        # Compressed frames both ways (RFC 7692 7.2: raw DEFLATE, the final empty stored block's
        # 00 00 ff ff left off, RSV1 set on the message's first frame).
        inflate = zlib.decompressobj(-zlib.MAX_WBITS)
        for i in range(3):
            deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
            text = json.dumps({"type": "ping", "id": f"compressed {i} " + "x" * 200}).encode()
            body = deflate.compress(text) + deflate.flush(zlib.Z_SYNC_FLUSH)
            self.assertEqual(body[-4:], b"\x00\x00\xff\xff")
            ws.send_frame(0x1, body[:-4], rsv1=True)
            opcode, data = ws.recv_frame()
            self.assertEqual(opcode, 0x1)
            self.assertTrue(ws.last_rsv1, "the server's answer is compressed")
            pong = json.loads(inflate.decompress(data + b"\x00\x00\xff\xff"))
            self.assertEqual((pong["type"], pong["id"]), ("pong", f"compressed {i} " + "x" * 200))
        # A client that does not offer compression is served by Parley's own engine (it writes
        # "Connection: Upgrade"; Beast's stream writes "upgrade") and works as usual.
        plain = WebSocket(self.server.port, "/api/v1/ws", headers={
            "Authorization": f"Bearer {s['access_token']}"})
        self.assertNotIn("permessage-deflate", plain.response_head.lower())
        self.assertIn("Connection: Upgrade", plain.response_head)
        self.assertIn("connection: upgrade", ws.response_head.lower())
        self.assertNotIn("Connection: Upgrade", ws.response_head)
        plain.send_json({"type": "ping", "id": "plain"})
        self.assertEqual(plain.recv()["id"], "plain")
        off = self.start("server", config=FAST_AUTH)
        api2 = Api(off.port)
        s2 = api2.user("gus")
        ws2 = WebSocket(off.port, "/api/v1/ws", headers={
            "Authorization": f"Bearer {s2['access_token']}",
            "Sec-WebSocket-Extensions": "permessage-deflate"})
        self.assertNotIn("permessage-deflate", ws2.response_head.lower())

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


if __name__ == "__main__":
    unittest.main()
