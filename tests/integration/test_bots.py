"""Bots against the real server: local bots run by the server in a `parley botclient` child
(loopback-only bot listener, one-time secret on stdin, restart after a crash, stop on
shutdown), remote bots with bot keys (login, lock-out that survives a restart, the admin route
and the command line), a remote `parley botclient`, the moderator bot with the message removal
route, and the load mode."""

import os
import re
import sqlite3
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import FAST_AUTH, Api, ParleyTestCase, http_request, run_parley, wait_until

CHAT = FAST_AUTH + "[websocket]\nrate_per_second = 1000\nrate_burst = 1000\n"


def bot_port(server):
    m = re.search(r"bot listener on http://127\.0\.0\.1:(\d+)", server.log())
    return int(m.group(1)) if m else None


def child_pids(server):
    return [int(p) for p in re.findall(r"bot child started: pid (\d+)", server.log())]


def non_loopback_ipv4():
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        addr = line.split()[3].split("/")[0]
        if not addr.startswith("127."):
            return addr
    return None


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie of an already dead child still answers kill(0); /proc says which.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


class BotTestCase(ParleyTestCase):
    def tearDown(self):
        # A failed test shows the logs of its processes.
        result = getattr(getattr(self, "_outcome", None), "result", None)
        failed = result is not None and any(t is self for t, _ in result.errors + result.failures)
        if failed:
            for p in self._processes:
                print(f"--- parley {p.mode} log ---\n{p.log()[-6000:]}")
        super().tearDown()

    def bots_by_name(self, api, token):
        status, _, body = api.call("GET", "/api/v1/bots", token=token)
        self.assertEqual(status, 200, body)
        return {b["username"]: b for b in body["bots"]}

    def room_with(self, api, owner, members, require_signatures=True):
        status, _, r = api.call("POST", "/api/v1/rooms",
                                {"title": "bots", "kind": "group", "members": members,
                                 "require_signatures": require_signatures},
                                token=owner["access_token"])
        self.assertEqual(status, 201, r)
        return r["room_id"]

    def subscribe(self, ws, topic):
        ws.send_json({"type": "subscribe", "topic": topic, "id": topic})
        reply = ws.recv_until(lambda m: m.get("id") == topic)
        self.assertEqual(reply["type"], "ok", reply)

    def wait_joined(self, api, owner, room_id, bot_ids, timeout=10):
        """Until every bot has joined with its public key (it can sign from then on)."""
        def joined():
            status, _, r = api.call("GET", f"/api/v1/rooms/{room_id}", token=owner["access_token"])
            members = r["document"]["members"]
            return all(members.get(b, {}).get("public_key") for b in bot_ids)
        wait_until(joined, timeout, what="the bots to join the room with their keys")


class LocalBotsTest(BotTestCase):
    config = CHAT + "[bots]\nlocal = 2\nbehaviours = [\"echo\", \"greeter\"]\nrestart_backoff_ms = 100\n"

    def setUp(self):
        super().setUp()
        self.server = self.start("server", config=self.config)
        self.server.wait_log("2 local bots started")
        self.api = Api(self.server.port)

    def test_two_local_bots_answer_in_a_signed_room_within_a_second(self):
        alice, ws = self.api.connected("alice")
        bots = self.bots_by_name(self.api, alice["access_token"])
        self.assertEqual(set(bots), {"bot1-echo", "bot2-greeter"})
        self.assertTrue(all(b["kind"] == "local" for b in bots.values()))
        ids = [bots["bot1-echo"]["account_id"], bots["bot2-greeter"]["account_id"]]
        rid = self.room_with(self.api, alice, ids)
        self.subscribe(ws, f"room:{rid}:chat")
        self.wait_joined(self.api, alice, rid, ids)
        # alice has no key in this room: the bots' messages pass only because they sign.
        status, _, r = self.api.call("POST", f"/api/v1/rooms/{rid}/messages",
                                     {"text": "unsigned", "client_msg_id": "x"}, token=alice["access_token"])
        self.assertEqual((status, r["error"]), (400, "invalid_signature"))
        # Ask through the echo bot: a message of alice's own would need her signature, so
        # greet a new member and time the greeter, then time the echo of the greeting.
        bob = self.api.user("bob")
        started = time.monotonic()
        status, _, r = self.api.call("POST", f"/api/v1/rooms/{rid}/members",
                                     {"account_id": bob["account_id"], "role": "member"},
                                     token=alice["access_token"])
        self.assertEqual(status, 200, r)
        welcome = ws.recv_until(lambda m: m.get("type") == "message" and m["sender_id"] == ids[1], timeout=5)
        greet_s = time.monotonic() - started
        self.assertEqual(welcome["text"], "Welcome, bob!")
        self.assertIn("signature", welcome)
        echo = ws.recv_until(lambda m: m.get("type") == "message" and m["sender_id"] == ids[0], timeout=5)
        echo_s = time.monotonic() - started
        self.assertEqual(echo["text"], "echo: Welcome, bob!")
        self.assertIn("signature", echo)
        self.assertLess(greet_s, 1.0, "the greeter answered within a second")
        self.assertLess(echo_s, 1.0, "the echo bot answered within a second")

    def test_unsigned_room_echo_answers_within_a_second(self):
        alice, ws = self.api.connected("alice")
        bots = self.bots_by_name(self.api, alice["access_token"])
        echo_id = bots["bot1-echo"]["account_id"]
        rid = self.room_with(self.api, alice, [echo_id], require_signatures=False)
        self.subscribe(ws, f"room:{rid}:chat")
        self.wait_joined(self.api, alice, rid, [echo_id])
        started = time.monotonic()
        ws.send_json({"type": "send", "id": 1, "room_id": rid, "text": "hello bots", "client_msg_id": "m1"})
        reply = ws.recv_until(lambda m: m.get("type") == "message" and m["sender_id"] == echo_id, timeout=5)
        self.assertEqual(reply["text"], "echo: hello bots")
        self.assertLess(time.monotonic() - started, 1.0)

    def echoes_in(self, api, owner, rid, echo_id):
        """The texts of the echo bot's messages in the room, from its history."""
        status, _, hist = api.call("GET", f"/api/v1/rooms/{rid}/messages?after_seq=0&limit=1000",
                                   token=owner["access_token"])
        self.assertEqual(status, 200, hist)
        return [m["text"] for m in hist["messages"] if m["sender_id"] == echo_id]

    def test_echo_answers_what_was_sent_before_it_joined_exactly_once(self):
        # As a new user does it: create the room with the bot and send at once, before the
        # bot has heard the invitation (it joins some 40 ms later).
        alice, ws = self.api.connected("alice")
        echo_id = self.bots_by_name(self.api, alice["access_token"])["bot1-echo"]["account_id"]
        rid = self.room_with(self.api, alice, [echo_id], require_signatures=False)
        ws.send_json({"type": "send", "id": 1, "room_id": rid, "text": "first", "client_msg_id": "m1"})
        status, _, r = self.api.call("POST", f"/api/v1/rooms/{rid}/messages",
                                     {"text": "second", "client_msg_id": "m2"}, token=alice["access_token"])
        self.assertEqual(status, 200, r)
        self.subscribe(ws, f"room:{rid}:chat")
        wait_until(lambda: len(self.echoes_in(self.api, alice, rid, echo_id)) >= 2, 5,
                   what="the echoes of both messages")
        ws.send_json({"type": "send", "id": 2, "room_id": rid, "text": "third", "client_msg_id": "m3"})
        reply = ws.recv_until(lambda m: m.get("type") == "message" and m["text"] == "echo: third", timeout=5)
        self.assertEqual(reply["sender_id"], echo_id)
        time.sleep(1.5)  # room for a duplicate to show up
        # The socket send and the REST send race to the writer, so "first" and "second" may be
        # stored in either order; the echoes follow the stored order, each exactly once.
        echoes = self.echoes_in(self.api, alice, rid, echo_id)
        said = self.echoes_in(self.api, alice, rid, alice["account_id"])
        self.assertEqual(sorted(said[:2]), ["first", "second"])
        self.assertEqual(echoes, ["echo: " + text for text in said])

    def test_echo_added_later_answers_from_its_membership_on_and_once_across_a_restart(self):
        alice, ws = self.api.connected("alice")
        echo_id = self.bots_by_name(self.api, alice["access_token"])["bot1-echo"]["account_id"]
        rid = self.room_with(self.api, alice, [], require_signatures=False)
        self.subscribe(ws, f"room:{rid}:chat")
        ws.send_json({"type": "send", "id": 1, "room_id": rid, "text": "before the bot", "client_msg_id": "m1"})
        ws.recv_until(lambda m: m.get("id") == 1)
        status, _, r = self.api.call("POST", f"/api/v1/rooms/{rid}/members",
                                     {"account_id": echo_id, "role": "member"}, token=alice["access_token"])
        self.assertEqual(status, 200, r)
        ws.send_json({"type": "send", "id": 2, "room_id": rid, "text": "after", "client_msg_id": "m2"})
        ws.recv_until(lambda m: m.get("type") == "message" and m["text"] == "echo: after", timeout=5)
        # The bot acknowledges what it handled (within a second); a new bot process, after a
        # crash, resumes from there: what was sent while it was down is answered, nothing twice.
        time.sleep(1.5)
        first = child_pids(self.server)[-1]
        os.kill(first, signal.SIGKILL)
        ws.send_json({"type": "send", "id": 3, "room_id": rid, "text": "while down", "client_msg_id": "m3"})
        ws.recv_until(lambda m: m.get("type") == "message" and m["text"] == "echo: while down", timeout=10)
        self.assertNotEqual(child_pids(self.server)[-1], first)
        time.sleep(1.5)
        self.assertEqual(self.echoes_in(self.api, alice, rid, echo_id), ["echo: after", "echo: while down"])

    def test_bot_listener_refuses_a_non_loopback_peer(self):
        port = bot_port(self.server)
        self.assertIsNotNone(port, self.server.log())
        # From loopback the listener answers (so a refusal below is about the peer).
        status, _, body = http_request("GET", port, "/api/v1/health")
        self.assertEqual(status, 200, body)
        address = non_loopback_ipv4()
        if address is None:
            self.skipTest("this machine has no non-loopback IPv4 address")
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        s.bind((address, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(b'POST /api/v1/bots/local-login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
                  b'Content-Length: 13\r\n\r\n{"secret":""}')
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            data = b""
        s.close()
        self.assertEqual(data, b"", "no answer to a non-loopback peer")
        self.server.wait_log(f"refused a connection from {address}: not an allowed peer")

    def test_bot_listener_refuses_a_wrong_secret_and_is_not_on_the_public_listener(self):
        port = bot_port(self.server)
        status, _, body = http_request("POST", port, "/api/v1/bots/local-login", {"secret": "A" * 43})
        self.assertEqual((status, body["error"]), (401, "unauthorized"))
        self.server.wait_log("local bot login refused: wrong or already used secret")
        # The child has spent its secret: nothing is left to guess, and bots keep working.
        status, _, body = http_request("POST", port, "/api/v1/bots/local-login", {"secret": ""})
        self.assertEqual(status, 401)
        status, _, body = http_request("POST", self.server.port, "/api/v1/bots/local-login", {"secret": "x"})
        self.assertEqual(status, 404, "the local bot login exists only on the bot listener")
        # Bot accounts cannot log in with a password.
        status, _, body = self.api.call("POST", "/api/v1/sessions", {"username": "bot1-echo", "password": "!"})
        self.assertEqual(status, 401)

    def test_a_killed_bot_child_is_restarted_and_stopped_on_shutdown(self):
        first = child_pids(self.server)[0]
        # The secret travels on stdin only: the command line is the config file and the flags.
        with open(f"/proc/{first}/cmdline", "rb") as f:
            argv = f.read().decode().split("\0")[:-1]
        self.assertEqual(argv[1:4], ["botclient", "--config", os.path.join(self.server.data_dir, "bots", "botclient.toml")])
        self.assertEqual(len(argv), 8, argv)
        with open(os.path.join(self.server.data_dir, "bots", "botclient.toml")) as f:
            self.assertNotIn("secret", f.read())
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: len(child_pids(self.server)) >= 2, 10, what="a new bot child")
        second = child_pids(self.server)[-1]
        self.assertNotEqual(first, second)
        self.assertIn(f"bot child pid {first} ended: signal 9", self.server.log())
        wait_until(lambda: self.server.log().count("2 local bots started") >= 2, 10,
                   what="the new child's bots")
        # The restarted bots answer.
        alice, ws = self.api.connected("alice")
        echo_id = self.bots_by_name(self.api, alice["access_token"])["bot1-echo"]["account_id"]
        rid = self.room_with(self.api, alice, [echo_id], require_signatures=False)
        self.subscribe(ws, f"room:{rid}:chat")
        self.wait_joined(self.api, alice, rid, [echo_id])
        ws.send_json({"type": "send", "id": 1, "room_id": rid, "text": "still there?", "client_msg_id": "m1"})
        reply = ws.recv_until(lambda m: m.get("type") == "message" and m["sender_id"] == echo_id, timeout=5)
        self.assertEqual(reply["text"], "echo: still there?")
        ws.close()
        # Shutdown stops the child.
        self.assertEqual(self.server.stop(), 0)
        wait_until(lambda: not pid_alive(second), 5, what="the bot child to end")


class BotConfigTest(BotTestCase):
    def test_bot_listener_must_be_loopback(self):
        server = self.start("server", config=CHAT + "[bots]\nlocal = 1\nbehaviours = [\"echo\"]\nlisten = \"0.0.0.0\"\n",
                            wait=False)
        self.assertEqual(server.proc.wait(15), 3)
        self.assertIn("must be a loopback address", server.log())

    def test_behaviours_must_match_local(self):
        server = self.start("server", config=CHAT + "[bots]\nlocal = 2\nbehaviours = [\"echo\"]\n", wait=False)
        self.assertEqual(server.proc.wait(15), 3)
        self.assertIn("one behaviour per local bot", server.log())


class RemoteBotsTest(BotTestCase):
    config = CHAT + "[bots]\nkey_failure_threshold = 2\nkey_lockout_base_ms = 4000\n"

    def make_bot(self, data_dir, config_path, name):
        out = run_parley(["server", "--config", config_path, "--data-dir", data_dir, "--make-bot", name])
        self.assertEqual(out.returncode, 0, out.stderr)
        fields = dict(re.findall(r"^(\w+) = (\S+)$", out.stdout, re.M))
        return fields["account_id"], fields["bot_key"]

    def test_key_login_lock_out_persists_across_a_restart(self):
        server = self.start("server", config=self.config)
        data_dir, config_path = server.data_dir, server.config_path
        self.assertEqual(server.stop(), 0)
        bot_id, key = self.make_bot(data_dir, config_path, "helper")
        self.assertEqual(len(key), 43)
        again = run_parley(["server", "--config", config_path, "--data-dir", data_dir, "--make-bot", "helper"])
        self.assertEqual(again.returncode, 1, "the name is taken")

        server = self.start("server", config=self.config, data_dir=data_dir)
        api = Api(server.port)
        status, _, body = api.call("POST", "/api/v1/bots/login", {"account_id": bot_id, "bot_key": key})
        self.assertEqual(status, 200, body)
        ws = api.socket(body["access_token"])
        ws.send_json({"type": "ping", "id": 1})
        self.assertEqual(ws.recv_until(lambda m: m.get("id") == 1)["type"], "pong")
        ws.close()
        wrong = "B" * 43
        for _ in range(2):
            status, _, body = api.call("POST", "/api/v1/bots/login", {"account_id": bot_id, "bot_key": wrong})
            self.assertEqual((status, body["error"]), (401, "unauthorized"))
        status, headers, body = api.call("POST", "/api/v1/bots/login", {"account_id": bot_id, "bot_key": key})
        self.assertEqual((status, body["error"]), (429, "rate_limited"), "locked out, even with the right key")
        self.assertGreaterEqual(int(headers["retry-after"]), 1)
        log = server.log()
        self.assertIn(f"wrong bot key for bot {bot_id}", log)
        self.assertNotIn(wrong, log)
        self.assertNotIn(key, log)
        locked_at = time.monotonic()

        # A restart does not lift the lock-out.
        self.assertEqual(server.stop(), 0)
        server = self.start("server", config=self.config, data_dir=data_dir)
        api = Api(server.port)
        status, _, body = api.call("POST", "/api/v1/bots/login", {"account_id": bot_id, "bot_key": key})
        self.assertEqual(status, 429, "the lock-out survived the restart")
        self.assertLess(time.monotonic() - locked_at, 4.0, "checked within the lock-out")
        # Once it has passed, the right key works again.
        def logged_in():
            s, _, _ = api.call("POST", "/api/v1/bots/login", {"account_id": bot_id, "bot_key": key})
            return s == 200
        wait_until(logged_in, 10, interval=0.25, what="the lock-out to end")
        self.assertGreaterEqual(time.monotonic() - locked_at, 3.5)

    def test_admin_route_creates_a_bot_and_the_remote_botclient_answers(self):
        server = self.start("server", config=self.config)
        api = Api(server.port)
        api.register("root")
        self.assertEqual(server.stop(), 0)
        out = run_parley(["server", "--config", server.config_path, "--data-dir", server.data_dir,
                          "--make-admin", "root"])
        self.assertEqual(out.returncode, 0, out.stderr)
        server = self.start("server", config=self.config, data_dir=server.data_dir)
        api = Api(server.port)
        root, root_ws = api.connected("root", register=False)
        user, user_ws = api.connected("carol")
        status, _, body = api.call("POST", "/api/v1/admin/bots", {"username": "remote-echo"},
                                   token=user["access_token"])
        self.assertEqual(status, 403, "admins only")
        status, _, bot = api.call("POST", "/api/v1/admin/bots", {"username": "remote-echo"},
                                  token=root["access_token"])
        self.assertEqual(status, 201, bot)
        status, _, body = api.call("POST", "/api/v1/admin/bots", {"username": "remote-echo"},
                                   token=root["access_token"])
        self.assertEqual(status, 409)

        key_file = os.path.join(server.tmp.name, "remote-echo.key")
        with open(key_file, "w") as f:
            f.write(bot["bot_key"] + "\n")
        os.chmod(key_file, 0o600)
        client = self.start("botclient", config=(
            f"[botclient]\nserver_url = \"{server.base_url}\"\nlogin = \"key\"\n"
            f"[[botclient.bots]]\nname = \"remote-echo\"\nbehaviour = \"echo\"\n"
            f"account_id = \"{bot['account_id']}\"\nkey_file = \"{key_file}\"\n"))
        client.wait_log("bot remote-echo (echo) connected as", timeout=15)
        rid = self.room_with(api, user, [bot["account_id"]])
        self.subscribe(user_ws, f"room:{rid}:chat")
        self.wait_joined(api, user, rid, [bot["account_id"]])
        # A signed room: the bot joined with its key. carol sends in a plain room (she holds no
        # key); the bot's answer there is signed all the same.
        rid2 = self.room_with(api, user, [bot["account_id"]], require_signatures=False)
        self.subscribe(user_ws, f"room:{rid2}:chat")
        self.wait_joined(api, user, rid2, [bot["account_id"]])
        user_ws.send_json({"type": "send", "id": 9, "room_id": rid2, "text": "ping?", "client_msg_id": "c1"})
        reply = user_ws.recv_until(lambda m: m.get("type") == "message" and m["sender_id"] == bot["account_id"], timeout=5)
        self.assertEqual(reply["text"], "echo: ping?")
        self.assertIn("signature", reply)
        self.assertEqual(client.stop(), 0)


    def test_admin_rotates_and_revokes_a_bot_key(self):
        server = self.start("server", config=self.config)
        data_dir, config_path = server.data_dir, server.config_path
        Api(server.port).register("root")
        self.assertEqual(server.stop(), 0)
        out = run_parley(["server", "--config", config_path, "--data-dir", data_dir, "--make-admin", "root"])
        self.assertEqual(out.returncode, 0, out.stderr)
        bot_id, key = self.make_bot(data_dir, config_path, "rotor")
        server = self.start("server", config=self.config, data_dir=data_dir)
        api = Api(server.port)
        root, root_ws = api.connected("root", register=False)  # REST needs a live socket
        user, user_ws = api.connected("dave")
        admin = root["access_token"]

        def bot_login(k):
            return api.call("POST", "/api/v1/bots/login", {"account_id": bot_id, "bot_key": k})

        status, _, session = bot_login(key)
        self.assertEqual(status, 200, session)
        bot_ws = api.socket(session["access_token"])
        bot_ws.send_json({"type": "ping", "id": 1})
        bot_ws.recv_until(lambda m: m.get("id") == 1)

        path = f"/api/v1/admin/bots/{bot_id}/key"
        status, _, body = api.call("POST", path, token=user["access_token"])
        self.assertEqual((status, body["error"]), (403, "forbidden"), "admins only")
        status, _, body = api.call("POST", f"/api/v1/admin/bots/{user['account_id']}/key", token=admin)
        self.assertEqual((status, body["error"]), (404, "not_found"), "not a bot")

        # Rotation: a new key, shown once; the old one and its sessions stop at once.
        status, _, rotated = api.call("POST", path, token=admin)
        self.assertEqual(status, 200, rotated)
        self.assertEqual((rotated["account_id"], rotated["sessions_revoked"]), (bot_id, 1))
        new_key = rotated["bot_key"]
        self.assertEqual(len(new_key), 43)
        self.assertNotEqual(new_key, key)
        self.assertEqual(bot_ws.expect_close(), 4001, "the bot's socket is closed as revoked")
        status, _, body = api.call("POST", "/api/v1/sessions/refresh", {"refresh_token": session["refresh_token"]})
        self.assertEqual(status, 401, "its refresh token is dead too")
        status, _, body = bot_login(key)
        self.assertEqual((status, body["error"]), (401, "unauthorized"), "the old key")
        status, _, session = bot_login(new_key)
        self.assertEqual(status, 200, session)

        # Revocation: no key works until the next rotation, and no lock-out builds up.
        status, _, revoked = api.call("DELETE", path, token=admin)
        self.assertEqual(status, 200, revoked)
        self.assertEqual((revoked["revoked"], revoked["sessions_revoked"]), (True, 1))
        self.assertNotIn("bot_key", revoked)
        for _ in range(4):  # above the threshold of 2: still 401, never 429
            status, _, body = bot_login(new_key)
            self.assertEqual((status, body["error"]), (401, "unauthorized"))
        self.assertIn(f"bot login for bot {bot_id} from 127.0.0.1 refused: its key is revoked", server.log())
        # Still revoked after a restart; a rotation brings it back.
        self.assertEqual(server.stop(), 0)
        server = self.start("server", config=self.config, data_dir=data_dir)
        api = Api(server.port)
        status, _, _ = bot_login(new_key)
        self.assertEqual(status, 401)
        root, root_ws = api.connected("root", register=False)
        status, _, rotated = api.call("POST", path, token=root["access_token"])
        self.assertEqual((status, rotated["sessions_revoked"]), (200, 0))
        status, _, _ = bot_login(rotated["bot_key"])
        self.assertEqual(status, 200)
        log = server.log()
        for secret in (key, new_key, rotated["bot_key"]):
            self.assertNotIn(secret, log)
        self.assertEqual(server.stop(), 0)
        db = sqlite3.connect(os.path.join(data_dir, "db", "history.db"))
        actions = [r[0] for r in db.execute("SELECT action FROM audit_log WHERE action LIKE 'bot.key_%' ORDER BY id")]
        db.close()
        self.assertEqual(actions, ["bot.key_rotate", "bot.key_revoke", "bot.key_rotate"])


class RemoteBotOverTlsTest(BotTestCase):
    def test_botclient_speaks_https_and_wss_and_verifies_the_certificate(self):
        from test_tls import make_certificate, tls_config
        work = tempfile.TemporaryDirectory(prefix="parley-bot-tls-")
        self.addCleanup(work.cleanup)
        cert, key = make_certificate(work.name)
        data_dir = os.path.join(work.name, "data")
        out = run_parley(["server", "--data-dir", data_dir, "--make-bot", "tls-echo"])
        self.assertEqual(out.returncode, 0, out.stderr)
        fields = dict(re.findall(r"^(\w+) = (\S+)$", out.stdout, re.M))
        server = self.start("server", config=tls_config(cert, key), data_dir=data_dir, wait=False)
        server.wait_log("listening on")
        key_file = os.path.join(work.name, "bot.key")
        with open(key_file, "w") as f:
            f.write(fields["bot_key"])
        bots = (f"[[botclient.bots]]\nname = \"tls-echo\"\nbehaviour = \"echo\"\n"
                f"account_id = \"{fields['account_id']}\"\nkey_file = \"{key_file}\"\n")
        url = f"https://localhost:{server.port}"
        # Without the CA the certificate is refused: the bot never logs in.
        untrusting = self.start("botclient", config=(
            f"[botclient]\nserver_url = \"{url}\"\nreconnect_base_ms = 50\nreconnect_max_ms = 100\n" + bots))
        untrusting.wait_log("certificate verify failed", timeout=15)
        self.assertNotIn("connected as", untrusting.log())
        self.assertEqual(untrusting.stop(), 0)
        # With it, the bot logs in over HTTPS and holds its socket over WSS.
        client = self.start("botclient", config=(
            f"[botclient]\nserver_url = \"{url}\"\nca_file = \"{cert}\"\n" + bots))
        client.wait_log("bot tls-echo (echo) connected as", timeout=15)
        self.assertIn(f"bot {fields['account_id']} logged in with its key", server.log())
        self.assertEqual(client.stop(), 0)


class ModerationTest(BotTestCase):
    config = CHAT + ("[bots]\nlocal = 1\nbehaviours = [\"moderator\"]\nmoderator_words = [\"spam\"]\n"
                     "moderator_action = \"remove\"\n")

    def test_moderator_bot_removes_matching_messages_and_the_route_broadcasts_it(self):
        server = self.start("server", config=self.config)
        server.wait_log("1 local bots started")
        api = Api(server.port)
        owner, owner_ws = api.connected("olga")
        member, member_ws = api.connected("mike")
        mod_id = self.bots_by_name(api, owner["access_token"])["bot1-moderator"]["account_id"]
        rid = self.room_with(api, owner, [member["account_id"], mod_id], require_signatures=False)
        status, _, r = api.call("POST", f"/api/v1/rooms/{rid}/members", {"account_id": mod_id, "role": "moderator"},
                                token=owner["access_token"])
        self.assertEqual((status, r["role"]), (200, "moderator"))
        self.wait_joined(api, owner, rid, [mod_id])
        self.subscribe(owner_ws, f"room:{rid}:chat")
        owner_ws.send_json({"type": "subscribe", "topic": f"room:{rid}:doc", "id": "doc"})
        owner_ws.recv_until(lambda m: m.get("type") == "patch")

        member_ws.send_json({"type": "send", "id": 1, "room_id": rid, "text": "hello", "client_msg_id": "a"})
        member_ws.send_json({"type": "send", "id": 2, "room_id": rid, "text": "buy SPAM now!", "client_msg_id": "b"})
        removed = owner_ws.recv_until(lambda m: m.get("type") == "message_removed", timeout=5)
        self.assertEqual((removed["seq"], removed["removed_by"]), (2, mod_id))
        patch = owner_ws.recv_until(lambda m: m.get("type") == "patch" and
                                    any(op["op"] == "remove" and op["path"].startswith("/messages/") for op in m["ops"]))
        status, _, hist = api.call("GET", f"/api/v1/rooms/{rid}/messages?after_seq=0", token=owner["access_token"])
        self.assertEqual([m["text"] for m in hist["messages"]], ["hello"])
        status, _, doc = api.call("GET", f"/api/v1/rooms/{rid}", token=owner["access_token"])
        self.assertEqual([m["seq"] for m in doc["document"]["messages"]], [1])

        # The route itself: members may not remove, owners may, once.
        status, _, r = api.call("DELETE", f"/api/v1/rooms/{rid}/messages/1", token=member["access_token"])
        self.assertEqual((status, r["error"]), (403, "forbidden"))
        status, _, r = api.call("DELETE", f"/api/v1/rooms/{rid}/messages/1", token=owner["access_token"])
        self.assertEqual((status, r["removed"]), (200, True))
        status, _, r = api.call("DELETE", f"/api/v1/rooms/{rid}/messages/1", token=owner["access_token"])
        self.assertEqual(status, 404)
        status, _, r = api.call("DELETE", f"/api/v1/rooms/{rid}/messages/x", token=owner["access_token"])
        self.assertEqual(status, 400)
        gone = owner_ws.recv_until(lambda m: m.get("type") == "message_removed" and m["seq"] == 1)
        self.assertEqual(gone["removed_by"], owner["account_id"])


class LoadModeTest(BotTestCase):
    def test_load_mode_prints_each_second_and_a_summary(self):
        server = self.start("server", config=FAST_AUTH + "register_per_minute = 100000\n" +
                            "[websocket]\nrate_per_second = 1000\nrate_burst = 1000\n")
        out = run_parley(["botclient", "load", "--url", server.base_url, "--users", "6", "--rooms", "2",
                          "--rate", "30", "--duration", "3"], timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        seconds = re.findall(r"^\s+(\d+) s\s+sent\s+([\d.]+)/s\s+delivered\s+([\d.]+)/s\s+p50 .* p90 .* p99 .*$",
                             out.stdout, re.M)
        self.assertEqual([s[0] for s in seconds], ["1", "2", "3"], out.stdout)
        # The senders together keep to the asked rate, second by second.
        for _, sent_per_s, _ in seconds:
            self.assertLessEqual(float(sent_per_s), 36, out.stdout)
            self.assertGreaterEqual(float(sent_per_s), 24, out.stdout)
        summary = re.search(r"summary: 6 connections \(6 ready\).*sent (\d+) .*delivered (\d+) .*p50 .*p90 .*p99",
                            out.stdout)
        self.assertIsNotNone(summary, out.stdout)
        sent, delivered = int(summary.group(1)), int(summary.group(2))
        self.assertGreaterEqual(sent, 80)
        # Each message reaches the 3 or 4 members of its room.
        self.assertGreaterEqual(delivered, 3 * sent - 30)


if __name__ == "__main__":
    unittest.main()
