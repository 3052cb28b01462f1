"""The native load client (`parley botclient --load PLAN`) behind bench/ws_bench.py, against the
real server: a small fan-out delivers every message to every member and measures latency, an
idle plan holds its sockets until stdin closes, a refused token and a bad plan are reported."""

import json
import os
import subprocess
import tempfile

from harness import BINARY, FAST_AUTH, Api, ParleyTestCase

CONFIG = FAST_AUTH + ("[websocket]\nrate_per_second = 100000\nrate_burst = 100000\nmax_connections_per_account = 50\n"
                      "permessage_deflate = true\n")


class LoadClientTest(ParleyTestCase):
    def setUp(self):
        super().setUp()
        self.server = self.start("server", config=CONFIG)
        self.api = Api(self.server.port)
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()
        super().tearDown()

    def url(self, session):
        return f"ws://127.0.0.1:{self.server.port}/api/v1/ws?token={session['access_token']}"

    def plan_file(self, plan):
        path = os.path.join(self.tmp.name, "plan.json")
        with open(path, "w") as f:
            json.dump(plan, f)
        return path

    def load(self, plan, **kwargs):
        return subprocess.run([BINARY, "botclient", "--load", self.plan_file(plan), "--log-level", "warn"],
                              capture_output=True, text=True, timeout=60, **kwargs)

    def test_fanout_delivers_every_message_to_every_member(self):
        # Without deflate the load client frames on the bare socket; with it, Beast's stream
        # negotiates permessage-deflate with the server. Both must count the same way.
        owner, ws = self.api.connected("owner")
        members = [self.api.user(f"member{i}") for i in range(3)]
        for deflate in (False, True):
            with self.subTest(deflate=deflate):
                status, _, r = self.api.call("POST", "/api/v1/rooms",
                                             {"title": f"load {deflate}", "members": [m["account_id"] for m in members]},
                                             token=owner["access_token"])
                rid = r["room_id"]
                plan = {"scenario": "fanout", "window": 2, "warmup_s": 0.2, "seconds": 1.0, "deflate": deflate,
                        "connections": [{"url": self.url(m), "subscribe": [f"room:{rid}:chat"]} for m in members],
                        "senders": [{"connection": 0, "room_id": rid}, {"connection": 2, "room_id": rid}]}
                out = self.load(plan)
                self.assertEqual(out.returncode, 0, out.stderr)
                report = json.loads(out.stdout.strip().splitlines()[-1])
                self.assertEqual((report["ready"], report["failed"], report["errors"]), (3, 0, 0), report)
                self.assertGreater(report["deliveries"], 30)
                self.assertGreater(report["latency_us"]["p50"], 0)
                self.assertLessEqual(report["latency_us"]["p50"], report["latency_us"]["p99"])
                self.assertGreater(report["client_user_s"] + report["client_sys_s"], 0)
                # Every message committed by the server went to all three members: the stored
                # count matches what was sent, and nothing was refused.
                status, _, rooms = self.api.call("GET", "/api/v1/rooms", token=owner["access_token"])
                last_seq = next(x["last_seq"] for x in rooms["rooms"] if x["room_id"] == rid)
                self.assertGreaterEqual(last_seq, report["deliveries"] // 3)
                self.assertLessEqual(last_seq, report["sent"])

    def test_idle_sockets_held_until_stdin_closes_and_bad_tokens_fail(self):
        s = self.api.user("idler")
        good = [{"url": self.url(s)} for _ in range(20)]
        plan = {"scenario": "idle", "hold_s": 60, "connections": good}
        proc = subprocess.Popen([BINARY, "botclient", "--load", self.plan_file(plan), "--log-level", "warn"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready = json.loads(proc.stdout.readline())
        self.assertEqual((ready["event"], ready["ready"], ready["failed"]), ("ready", 20, 0))
        proc.stdin.close()
        final = json.loads(proc.stdout.read().strip())
        self.assertEqual(proc.wait(timeout=30), 0)
        self.assertEqual(final["lost"], 0)

        bad = {"scenario": "idle", "hold_s": 0,
               "connections": good[:2] + [{"url": f"ws://127.0.0.1:{self.server.port}/api/v1/ws?token=nope"}]}
        out = self.load(bad, stdin=subprocess.DEVNULL)
        self.assertEqual(out.returncode, 1, "a refused socket fails the run")
        report = json.loads(out.stdout.strip().splitlines()[-1])
        self.assertEqual((report["ready"], report["failed"]), (2, 1))

    def test_bad_plan_is_refused_before_connecting(self):
        out = self.load({"scenario": "fanout", "connections": [{"url": "ws://127.0.0.1:1/"}]})
        self.assertEqual(out.returncode, 2)
        self.assertIn("needs senders", out.stderr)


if __name__ == "__main__":
    import unittest

    unittest.main()
