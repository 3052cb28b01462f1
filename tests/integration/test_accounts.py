"""Server core over HTTP: accounts, sessions (rotation, reuse, logout), the live-socket rule,
profiles and their visibility, bad input, and persistence across a restart."""

import json
import os
import socket
import sqlite3
import time
import unittest

from harness import FAST_AUTH, Api, ParleyTestCase, http_request, run_parley


class AccountsTest(ParleyTestCase):
    def setUp(self):
        super().setUp()
        self.server = self.start("server", config=FAST_AUTH)
        self.api = Api(self.server.port)

    def test_register_login_refresh_logout(self):
        account_id = self.api.register("alice")
        s = self.api.login("alice")
        self.assertEqual(s["account_id"], account_id)
        self.assertEqual(len(s["access_token"]), 43)
        self.assertNotEqual(s["access_token"], s["refresh_token"])

        status, _, r = self.api.call("POST", "/api/v1/sessions/refresh", {"refresh_token": s["refresh_token"]})
        self.assertEqual(status, 200, r)
        self.assertNotEqual(r["access_token"], s["access_token"])
        self.assertEqual(r["session_id"], s["session_id"])
        # The old access token no longer works; the new one does.
        ws = self.api.socket(r["access_token"])
        ws.send_json({"type": "ping", "id": 1})
        self.assertEqual(ws.recv()["type"], "pong")
        status, _, _ = self.api.call("GET", "/api/v1/profiles/me", token=s["access_token"])
        self.assertEqual(status, 401)
        status, _, me = self.api.call("GET", "/api/v1/profiles/me", token=r["access_token"])
        self.assertEqual(status, 200, me)

        status, _, _ = self.api.call("DELETE", "/api/v1/sessions/current", token=r["access_token"])
        self.assertEqual(status, 204)
        self.assertEqual(ws.expect_close(), 4001, "logout closes the session's sockets with 4001")
        status, _, _ = self.api.call("GET", "/api/v1/profiles/me", token=r["access_token"])
        self.assertEqual(status, 401)
        status, _, _ = self.api.call("POST", "/api/v1/sessions/refresh", {"refresh_token": r["refresh_token"]})
        self.assertEqual(status, 401)

    def test_refresh_token_reuse_revokes_the_session(self):
        s = self.api.user("bob")
        status, _, r1 = self.api.call("POST", "/api/v1/sessions/refresh", {"refresh_token": s["refresh_token"]})
        self.assertEqual(status, 200)
        ws = self.api.socket(r1["access_token"])
        ws.send_json({"type": "ping"})
        ws.recv()
        # The rotated-away token comes back: someone copied it. The whole session dies.
        status, _, body = self.api.call("POST", "/api/v1/sessions/refresh", {"refresh_token": s["refresh_token"]})
        self.assertEqual(status, 401)
        self.assertEqual(body["error"], "unauthorized")
        self.assertIn("revoked", body["message"])
        self.assertEqual(ws.expect_close(), 4001)
        status, _, _ = self.api.call("POST", "/api/v1/sessions/refresh", {"refresh_token": r1["refresh_token"]})
        self.assertEqual(status, 401, "the newest refresh token of a revoked session is dead too")
        self.assertIn("presented again", self.server.log())

    def test_wrong_password_and_unknown_user(self):
        self.api.register("carol")
        for name, pw in [("carol", "wrong password"), ("nobody", "whatever123")]:
            status, _, body = self.api.call("POST", "/api/v1/sessions", {"username": name, "password": pw})
            self.assertEqual(status, 401)
            self.assertEqual(body["message"], "wrong username or password")

    def test_username_rules_and_conflict(self):
        self.api.register("dave")
        status, _, body = self.api.call("POST", "/api/v1/accounts", {"username": "DAVE", "password": "password123"})
        self.assertEqual(status, 409)
        self.assertEqual(body["error"], "conflict")
        for bad in ["ab", "x" * 33, "has space", "_lead", "ünï"]:
            status, _, body = self.api.call("POST", "/api/v1/accounts", {"username": bad, "password": "password123"})
            self.assertEqual(status, 400, bad)
            self.assertEqual(body["error"], "bad_request")
        status, _, body = self.api.call("POST", "/api/v1/accounts", {"username": "erin", "password": "short"})
        self.assertEqual(status, 400)
        self.assertIn("password", body["message"])

    def test_rest_needs_a_live_socket(self):
        s = self.api.user("frank")
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
        deadline = time.monotonic() + 5
        while not refused():
            self.assertLess(time.monotonic(), deadline, "REST still accepted after the socket closed")
            time.sleep(0.05)

    def test_sessions_listed_and_ended_one_by_one(self):
        phone, phone_ws = self.api.connected("hugo")
        laptop, laptop_ws = self.api.connected("hugo", register=False)
        other, other_ws = self.api.connected("iris")
        status, _, body = self.api.call("GET", "/api/v1/sessions", token=laptop["access_token"])
        self.assertEqual(status, 200, body)
        listed = {s["session_id"]: s for s in body["sessions"]}
        self.assertEqual(set(listed), {phone["session_id"], laptop["session_id"]}, "only hugo's")
        self.assertTrue(listed[laptop["session_id"]]["current"])
        self.assertFalse(listed[phone["session_id"]]["current"])
        self.assertGreater(listed[phone["session_id"]]["expires_at"], listed[phone["session_id"]]["created_at"])
        # Someone else's session is unknown, whatever its id.
        status, _, body = self.api.call("DELETE", f"/api/v1/sessions/{phone['session_id']}", token=other["access_token"])
        self.assertEqual((status, body["error"]), (404, "not_found"))
        # The laptop ends the phone's session: its socket closes, its refresh token is dead.
        status, _, body = self.api.call("DELETE", f"/api/v1/sessions/{phone['session_id']}", token=laptop["access_token"])
        self.assertEqual((status, body["revoked"]), (200, True))
        self.assertEqual(phone_ws.expect_close(), 4001)
        status, _, _ = self.api.call("POST", "/api/v1/sessions/refresh", {"refresh_token": phone["refresh_token"]})
        self.assertEqual(status, 401)
        status, _, body = self.api.call("DELETE", f"/api/v1/sessions/{phone['session_id']}", token=laptop["access_token"])
        self.assertEqual(status, 404, "ended once")
        status, _, body = self.api.call("GET", "/api/v1/sessions", token=laptop["access_token"])
        self.assertEqual([s["session_id"] for s in body["sessions"]], [laptop["session_id"]])
        self.assertIn(f"session {phone['session_id']} of account {phone['account_id']} ended", self.server.log())

    def test_password_change_needs_the_current_one_and_ends_other_sessions(self):
        here, here_ws = self.api.connected("jane")
        there, there_ws = self.api.connected("jane", register=False)
        path = "/api/v1/accounts/me/password"
        for body, why in [({}, "missing"), ({"current_password": "correct horse", "new_password": "short"}, "too short"),
                          ({"current_password": "correct horse", "new_password": "correct horse"}, "the same")]:
            status, _, answer = self.api.call("PUT", path, body, token=here["access_token"])
            self.assertEqual((status, answer["error"]), (400, "bad_request"), why)
        status, _, answer = self.api.call("PUT", path, {"current_password": "wrong horse", "new_password": "battery staple"},
                                          token=here["access_token"])
        self.assertEqual((status, answer["error"]), (403, "forbidden"))
        self.assertIn("password change refused, wrong current password", self.server.log())
        status, _, answer = self.api.call("PUT", path, {"current_password": "correct horse", "new_password": "battery staple"},
                                          token=here["access_token"])
        self.assertEqual(status, 200, answer)
        self.assertEqual(answer["sessions_revoked"], 1)
        self.assertEqual(there_ws.expect_close(), 4001, "the other session ends")
        # This session goes on; the old password is refused, the new one works.
        here_ws.send_json({"type": "ping", "id": 5})
        self.assertEqual(here_ws.recv_until(lambda m: m.get("id") == 5)["type"], "pong")
        status, _, _ = self.api.call("GET", "/api/v1/profiles/me", token=here["access_token"])
        self.assertEqual(status, 200)
        status, _, _ = self.api.call("POST", "/api/v1/sessions", {"username": "jane", "password": "correct horse"})
        self.assertEqual(status, 401)
        self.api.login("jane", "battery staple")
        log = self.server.log()
        self.assertNotIn("battery staple", log)
        self.assertIn(f"account {here['account_id']} changed its password", log)

    def test_password_change_guesses_count_toward_the_lock_out(self):
        self.server.close()
        self.server = self.start("server", config=FAST_AUTH + "login_failure_threshold = 2\nlogin_lockout_base_ms = 3000\n")
        self.api = Api(self.server.port)
        me, ws = self.api.connected("kurt")
        guess = {"current_password": "guess one", "new_password": "battery staple"}
        codes = [self.api.call("PUT", "/api/v1/accounts/me/password", guess, token=me["access_token"])[0] for _ in range(3)]
        self.assertEqual(codes, [403, 403, 429])
        # The lock-out is the account's: a password login waits too.
        status, _, _ = self.api.call("POST", "/api/v1/sessions", {"username": "kurt", "password": "correct horse"})
        self.assertEqual(status, 429)

    def test_failed_logins_are_rate_limited(self):
        self.server.close()
        self.server = self.start("server", config=FAST_AUTH + "login_failure_threshold = 3\nlogin_lockout_base_ms = 2000\n")
        self.api = Api(self.server.port)
        self.api.register("grace")
        codes = []
        for _ in range(4):
            status, headers, _ = self.api.call("POST", "/api/v1/sessions", {"username": "grace", "password": "bad password"})
            codes.append(status)
        self.assertEqual(codes[:3], [401, 401, 401])
        self.assertEqual(codes[3], 429)
        status, headers, body = self.api.call("POST", "/api/v1/sessions", {"username": "grace", "password": "correct horse"})
        self.assertEqual(status, 429, "locked out even with the right password")
        self.assertEqual(body["error"], "rate_limited")
        self.assertIn("retry-after", headers)
        time.sleep(2.2)
        self.api.login("grace")

    def test_profiles_and_private_visibility(self):
        a, wa = self.api.connected("henry")
        b, wb = self.api.connected("irene")
        status, _, p = self.api.call("PUT", "/api/v1/profiles/me", {"name": "Henry", "text": "hi ✓", "visibility": "private"},
                                     token=a["access_token"])
        self.assertEqual(status, 200, p)
        self.assertEqual(p["name"], "Henry")
        self.assertEqual(p["text"], "hi ✓")
        status, _, own = self.api.call("GET", f"/api/v1/profiles/{a['account_id']}", token=a["access_token"])
        self.assertEqual(status, 200, "the owner sees a private profile")
        status, _, body = self.api.call("GET", f"/api/v1/profiles/{a['account_id']}", token=b["access_token"])
        self.assertEqual(status, 404, "a stranger does not")
        self.assertEqual(body["error"], "not_found")
        # Sharing a room makes it visible. Rooms have no API yet in this test's scope, so the
        # membership rows go straight into the server's database (WAL allows a second writer).
        db = sqlite3.connect(os.path.join(self.server.data_dir, "db", "current.db"), timeout=10)
        now = int(time.time() * 1000)
        db.execute("INSERT INTO rooms(id, kind, title, created_by, created_at) VALUES ('r1', 'group', 't', ?, ?)",
                   (a["account_id"], now))
        for acc in (a["account_id"], b["account_id"]):
            db.execute("INSERT INTO members(room_id, account_id, role, joined_at) VALUES ('r1', ?, 'member', ?)", (acc, now))
        db.commit()
        status, _, p = self.api.call("GET", f"/api/v1/profiles/{a['account_id']}", token=b["access_token"])
        self.assertEqual(status, 200, "a room-mate sees a private profile")
        self.assertEqual(p["visibility"], "private")
        db.execute("DELETE FROM members WHERE account_id = ?", (b["account_id"],))
        db.commit()
        db.close()
        status, _, _ = self.api.call("GET", f"/api/v1/profiles/{a['account_id']}", token=b["access_token"])
        self.assertEqual(status, 404, "not after leaving the room")
        self.api.call("PUT", "/api/v1/profiles/me", {"visibility": "public"}, token=a["access_token"])
        status, _, p = self.api.call("GET", f"/api/v1/profiles/{a['account_id']}", token=b["access_token"])
        self.assertEqual(status, 200)
        self.assertEqual(p["name"], "Henry")
        for bad in [{"visibility": "friends"}, {"name": "x" * 65}, {"text": 3}, {"colour": "red"}]:
            status, _, body = self.api.call("PUT", "/api/v1/profiles/me", bad, token=a["access_token"])
            self.assertEqual(status, 400, bad)
        status, _, _ = self.api.call("GET", "/api/v1/profiles/nosuchaccount", token=a["access_token"])
        self.assertEqual(status, 404)


class BadInputTest(ParleyTestCase):
    def setUp(self):
        super().setUp()
        self.server = self.start("server", config=FAST_AUTH + "[http]\nbody_limit_bytes = 4096\nheader_limit_bytes = 4096\n")
        self.api = Api(self.server.port)

    def assert_still_serving(self):
        status, _, _ = http_request("GET", self.server.port, "/api/v1/health")
        self.assertEqual(status, 200)

    def test_malformed_json_and_wrong_content_type(self):
        status, _, body = self.api.call("POST", "/api/v1/accounts", raw_body=b"{not json",
                                        headers={"Content-Type": "application/json"})
        self.assertEqual(status, 400)
        self.assertEqual(body["error"], "bad_request")
        status, _, body = self.api.call("POST", "/api/v1/accounts", raw_body=b"[1,2]",
                                        headers={"Content-Type": "application/json"})
        self.assertEqual(status, 400)
        status, _, body = self.api.call("POST", "/api/v1/accounts", raw_body=b"username=a",
                                        headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 415)
        self.assertEqual(body["error"], "bad_request")
        status, _, body = self.api.call("POST", "/api/v1/accounts", raw_body=b'{"username":"a\xff\xfe"}',
                                        headers={"Content-Type": "application/json"})
        self.assertEqual(status, 400, "invalid UTF-8 is refused")
        self.assert_still_serving()

    def test_oversized_body_and_header(self):
        status, _, body = self.api.call("POST", "/api/v1/accounts", raw_body=b"x" * 10000,
                                        headers={"Content-Type": "application/json"})
        self.assertEqual(status, 413)
        self.assertEqual(body["error"], "too_large")
        s = socket.create_connection(("127.0.0.1", self.server.port))
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n")
        data = s.recv(4096)
        self.assertIn(b"431", data.split(b"\r\n")[0])
        s.close()
        self.assert_still_serving()

    def test_garbage_and_slow_clients(self):
        s = socket.create_connection(("127.0.0.1", self.server.port))
        s.sendall(b"\x00\x01\x02 garbage\r\n\r\n")
        self.assertIn(b"400", s.recv(4096))
        s.close()
        # A client that sends half a request and stalls is cut off by the read timeout,
        # while others are served.
        slow = socket.create_connection(("127.0.0.1", self.server.port))
        slow.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost:")
        self.assert_still_serving()
        slow.close()

    def test_unknown_route_and_method(self):
        status, _, body = self.api.call("GET", "/api/v1/nope")
        self.assertEqual((status, body["error"]), (404, "not_found"))
        status, _, body = self.api.call("DELETE", "/api/v1/health")
        self.assertEqual(status, 405)

    def test_bad_tokens(self):
        for token in ["", "x" * 43, "x" * 1000]:
            status, _, body = self.api.call("GET", "/api/v1/profiles/me", token=token or None)
            self.assertEqual(status, 401)
            self.assertEqual(body["error"], "unauthorized")


class ReadTimeoutTest(ParleyTestCase):
    def test_stalled_request_is_closed(self):
        p = self.start("server", config="[http]\nread_timeout_ms = 300\n")
        s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\n")
        started = time.monotonic()
        self.assertEqual(s.recv(4096), b"")
        self.assertLess(time.monotonic() - started, 3)


class RestartTest(ParleyTestCase):
    def test_accounts_and_sessions_survive_a_restart(self):
        p = self.start("server", config=FAST_AUTH)
        api = Api(p.port)
        s = api.user("judy")
        status, _, _ = api.call("POST", "/api/v1/sessions/refresh", {"refresh_token": s["refresh_token"]})
        self.assertEqual(status, 200)
        data_dir = p.data_dir
        self.assertEqual(p.stop(), 0)
        q = self.start("server", config=FAST_AUTH, data_dir=data_dir)
        api = Api(q.port)
        api.login("judy")
        status, _, _ = api.call("POST", "/api/v1/sessions/refresh", {"refresh_token": s["refresh_token"]})
        self.assertEqual(status, 401, "rotation state survived: the old refresh token is reuse")
        self.assertIn("loaded 1 accounts", q.log())

    def test_kill_9_keeps_acknowledged_accounts(self):
        p = self.start("server", config=FAST_AUTH)
        api = Api(p.port)
        for i in range(10):
            api.register(f"user{i}")
        data_dir = p.data_dir
        p.kill()
        q = self.start("server", config=FAST_AUTH, data_dir=data_dir)
        api = Api(q.port)
        for i in range(10):
            api.login(f"user{i}")


class AdminAccountsTest(ParleyTestCase):
    def test_admins_list_disable_and_enable_accounts(self):
        server = self.start("server", config=FAST_AUTH)
        data_dir = server.data_dir
        api = Api(server.port)
        for name in ("root", "Eve", "evan", "fay"):
            api.register(name)
        self.assertEqual(server.stop(), 0)
        out = run_parley(["server", "--config", server.config_path, "--data-dir", data_dir, "--make-admin", "root"])
        self.assertEqual(out.returncode, 0, out.stderr)
        server = self.start("server", config=FAST_AUTH, data_dir=data_dir)
        api = Api(server.port)
        root, root_ws = api.connected("root", register=False)
        eve, eve_ws = api.connected("Eve", register=False)
        admin = root["access_token"]

        status, _, body = api.call("GET", "/api/v1/admin/accounts", token=eve["access_token"])
        self.assertEqual((status, body["error"]), (403, "forbidden"), "admins only")
        # By name without regard to case, a page at a time; a prefix narrows it.
        names, cursor = [], None
        while True:
            status, _, page = api.call("GET", "/api/v1/admin/accounts?limit=3" + (f"&cursor={cursor}" if cursor else ""), token=admin)
            self.assertEqual(status, 200, page)
            names += [a["username"] for a in page["accounts"]]
            cursor = page["next"]
            if cursor is None:
                break
        self.assertEqual(names, ["evan", "Eve", "fay", "root"])
        status, _, page = api.call("GET", "/api/v1/admin/accounts?prefix=EV", token=admin)
        listed = {a["username"]: a for a in page["accounts"]}
        self.assertEqual(set(listed), {"Eve", "evan"})
        self.assertEqual((listed["Eve"]["sessions"], listed["Eve"]["disabled_at"], listed["Eve"]["role"]), (1, None, "user"))
        status, _, body = api.call("GET", "/api/v1/admin/accounts?limit=0", token=admin)
        self.assertEqual(status, 400)

        path = f"/api/v1/admin/accounts/{eve['account_id']}"
        status, _, body = api.call("POST", f"{path}/disable", {"reason": "spam " * 200}, token=admin)
        self.assertEqual(status, 400, "a reason of at most 500 bytes")
        status, _, body = api.call("POST", f"{path}/disable", {"reason": "spam in #general"}, token=admin)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["sessions_revoked"], 1)
        self.assertIsInstance(body["disabled_at"], int)
        self.assertEqual(eve_ws.expect_close(), 4001, "her socket closes at once")
        status, _, body = api.call("POST", "/api/v1/sessions", {"username": "eve", "password": "correct horse"})
        self.assertEqual((status, body["error"]), (403, "forbidden"))
        self.assertIn("disabled", body["message"])
        status, _, body = api.call("POST", "/api/v1/sessions", {"username": "eve", "password": "wrong horse"})
        self.assertEqual(status, 401, "a wrong password learns nothing of the account's state")
        status, _, body = api.call("POST", "/api/v1/sessions/refresh", {"refresh_token": eve["refresh_token"]})
        self.assertEqual(status, 401)
        status, _, body = api.call("POST", f"/api/v1/admin/accounts/{root['account_id']}/disable", token=admin)
        self.assertEqual((status, body["error"]), (409, "conflict"))
        status, _, body = api.call("POST", "/api/v1/admin/accounts/nosuchaccount/disable", token=admin)
        self.assertEqual(status, 404)

        # Still disabled after a restart; enabled again, she logs in.
        self.assertEqual(server.stop(), 0)
        server = self.start("server", config=FAST_AUTH, data_dir=data_dir)
        api = Api(server.port)
        status, _, _ = api.call("POST", "/api/v1/sessions", {"username": "eve", "password": "correct horse"})
        self.assertEqual(status, 403)
        root, root_ws = api.connected("root", register=False)
        status, _, body = api.call("POST", f"{path}/enable", token=root["access_token"])
        self.assertEqual((status, body["disabled_at"]), (200, None))
        api.connected("Eve", register=False)
        self.assertEqual(server.stop(), 0)
        db = sqlite3.connect(os.path.join(data_dir, "db", "history.db"))
        rows = [(a, json.loads(d)) for a, d in db.execute(
            "SELECT action, detail FROM audit_log WHERE action LIKE 'account.%able' ORDER BY id")]
        db.close()
        self.assertEqual([a for a, _ in rows], ["account.disable", "account.enable"])
        self.assertEqual(rows[0][1]["reason"], "spam in #general")


if __name__ == "__main__":
    unittest.main()
