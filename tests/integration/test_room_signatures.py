"""Signed messages by default ([rooms] require_signatures and allow_unsigned_rooms) against the
real server and its real current.db: a new install requires signatures, an install upgraded from
the schema before the setting keeps unsigned rooms, the config overrides both ways, and an
opt-out is allowed or refused as configured."""

import base64
import os
import sqlite3
import tempfile
import unittest

from harness import FAST_AUTH, Api, ParleyTestCase
from test_chat import canonical, ed25519_keypair, ed25519_sign


class RoomSignaturesTest(ParleyTestCase):
    def server(self, rooms="", data_dir=None):
        config = FAST_AUTH + (f"[rooms]\n{rooms}" if rooms else "")
        s = self.start("server", config=config, data_dir=data_dir, real_room_defaults=True)
        return s, Api(s.port)

    def user(self, api, name, register=True):
        """A logged-in account with its live socket (REST needs one), kept open for the test."""
        session, ws = api.connected(name, register=register)
        self.addCleanup(ws.close)
        return session

    def create(self, api, owner, **extra):
        body = {"title": "t", "kind": "group"}
        body.update(extra)
        return api.call("POST", "/api/v1/rooms", body, token=owner["access_token"])

    def room_signed(self, api, owner, **extra):
        status, _, r = self.create(api, owner, **extra)
        self.assertEqual(status, 201, r)
        _, _, doc = api.call("GET", f"/api/v1/rooms/{r['room_id']}", token=owner["access_token"])
        return r["room_id"], doc["document"]["require_signatures"]

    def policy(self, api, user):
        status, _, p = api.call("GET", "/api/v1/room-policy", token=user["access_token"])
        self.assertEqual(status, 200, p)
        return p

    def test_new_install_requires_signatures_and_refuses_the_opt_out(self):
        s, api = self.server()
        s.wait_log("new rooms require signed messages ([rooms] require_signatures unset; the "
                   "default of a new install)")
        a = self.user(api, "ann")
        self.assertEqual(self.policy(api, a), {"require_signatures": True, "allow_unsigned_rooms": False})
        for kind in ("group", "ephemeral"):
            status, _, r = self.create(api, a, kind=kind, require_signatures=False)
            self.assertEqual((status, r["error"]), (403, "forbidden"), r)
        rid, signed = self.room_signed(api, a)
        self.assertTrue(signed)
        with tempfile.TemporaryDirectory() as tmp:
            key, pub = ed25519_keypair(tmp)
            status, _, _ = api.call("POST", f"/api/v1/rooms/{rid}/join",
                                    {"public_key": base64.b64encode(pub).decode()}, token=a["access_token"])
            self.assertEqual(status, 200)
            msg = {"text": "hello", "client_msg_id": "m1"}
            status, _, r = api.call("POST", f"/api/v1/rooms/{rid}/messages", msg, token=a["access_token"])
            self.assertEqual((status, r["error"]), (400, "invalid_signature"), "unsigned is refused")
            sig = ed25519_sign(key, canonical(rid, a["account_id"], "m1", "hello"))
            status, _, r = api.call("POST", f"/api/v1/rooms/{rid}/messages",
                                    dict(msg, signature=base64.b64encode(sig).decode()), token=a["access_token"])
            self.assertEqual((status, r["seq"]), (200, 1), r)
        # A direct room, made with the other account's id, is signed too.
        b = self.user(api, "bea")
        _, signed = self.room_signed(api, a, kind="direct", members=[b["account_id"]])
        self.assertTrue(signed)

    def test_upgraded_install_keeps_unsigned_rooms_and_the_config_wins(self):
        tmp = tempfile.TemporaryDirectory(prefix="parley-upgrade-")
        self.addCleanup(tmp.cleanup)
        data = os.path.join(tmp.name, "data")
        s, api = self.server(data_dir=data)
        a = self.user(api, "old")
        self.create(api, a)
        s.stop()
        # The data directory as schema 11, before the setting, left it: an account and a room,
        # no server_facts table, and the message log in one half (its second half came with
        # schema 13, its media indexes with 14). The next start migrates it.
        db = sqlite3.connect(os.path.join(data, "db", "current.db"))
        columns = "room_id, seq, sender_id, client_msg_id, text, signature, sent_at, deleted, media"
        db.executescript(f"""
            DROP TABLE server_facts;
            DROP INDEX message_log_media;
            DROP VIEW all_messages;
            DROP TABLE message_log_b;
            DROP TABLE message_log_moved;
            CREATE VIEW all_messages AS
                SELECT {columns} FROM messages UNION ALL SELECT {columns} FROM message_log;
            PRAGMA user_version = 11;
        """)
        db.close()

        s, api = self.server(data_dir=data)
        s.wait_log("new rooms do not require signed messages ([rooms] require_signatures unset; "
                   "this data directory predates the setting")
        a = self.user(api, "old", register=False)
        self.assertEqual(self.policy(api, a), {"require_signatures": False, "allow_unsigned_rooms": True})
        rid, signed = self.room_signed(api, a)
        self.assertFalse(signed)
        status, _, r = api.call("POST", f"/api/v1/rooms/{rid}/messages", {"text": "hi", "client_msg_id": "u1"},
                                token=a["access_token"])
        self.assertEqual(status, 200, r)
        _, signed = self.room_signed(api, a, require_signatures=True)
        self.assertTrue(signed, "asking for signatures is always allowed")
        s.stop()

        # The config overrides the install's default; the mark stays what the migration wrote.
        s, api = self.server("require_signatures = true\n", data_dir=data)
        s.wait_log("new rooms require signed messages (set by [rooms] require_signatures)")
        a = self.user(api, "old", register=False)
        _, signed = self.room_signed(api, a)
        self.assertTrue(signed)
        self.assertEqual(self.create(api, a, require_signatures=False)[0], 403)

    def test_config_turns_the_new_install_default_off_and_allows_the_opt_out(self):
        s, api = self.server("require_signatures = false\n")
        a = self.user(api, "cat")
        _, signed = self.room_signed(api, a)
        self.assertFalse(signed)
        s.stop()
        s, api = self.server("allow_unsigned_rooms = true\n")
        a = self.user(api, "dan")
        self.assertEqual(self.policy(api, a), {"require_signatures": True, "allow_unsigned_rooms": True})
        _, signed = self.room_signed(api, a)
        self.assertTrue(signed)
        rid, signed = self.room_signed(api, a, require_signatures=False)
        self.assertFalse(signed)
        status, _, r = api.call("POST", f"/api/v1/rooms/{rid}/messages", {"text": "hi", "client_msg_id": "u1"},
                                token=a["access_token"])
        self.assertEqual(status, 200, r)
        status, _, r = self.create(api, a, require_signatures="no")
        self.assertEqual((status, r["error"]), (400, "bad_request"), r)

    def test_a_bad_value_stops_the_start(self):
        s = self.start("server", config=FAST_AUTH + "[rooms]\nrequire_signatures = \"yes\"\n", wait=False,
                       real_room_defaults=True)
        self.assertNotEqual(s.proc.wait(timeout=15), 0)
        self.assertIn("rooms.require_signatures", s.log())


if __name__ == "__main__":
    unittest.main()
