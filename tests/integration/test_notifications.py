"""Stored notifications against the real server: a mention and an invitation are stored per
account and listed newest first, marked read by id or up to an id, delivered to a socket that
subscribes after they arrived (the account was offline), kept under [notifications]
keep_per_account, kept across a restart, and never shown to or marked by another account."""

import unittest

from harness import FAST_AUTH, Api, ParleyTestCase


class NotificationsTest(ParleyTestCase):
    config = FAST_AUTH + "[notifications]\nkeep_per_account = 5\n"

    def setUp(self):
        super().setUp()
        self.server = self.start("server", config=self.config)
        self.api = Api(self.server.port)

    def get(self, session, query=""):
        status, _, body = self.api.call("GET", "/api/v1/notifications" + query, token=session["access_token"])
        self.assertEqual(status, 200, body)
        return body

    def mark(self, session, body):
        return self.api.call("POST", "/api/v1/notifications/read", body, token=session["access_token"])

    def room(self, owner, members):
        status, _, body = self.api.call("POST", "/api/v1/rooms", {"title": "t", "members": members},
                                        token=owner["access_token"])
        self.assertEqual(status, 201, body)
        return body["room_id"]

    def say(self, session, rid, text, cmid):
        status, _, body = self.api.call("POST", f"/api/v1/rooms/{rid}/messages",
                                        {"text": text, "client_msg_id": cmid}, token=session["access_token"])
        self.assertEqual(status, 200, body)
        return body["seq"]

    def subscribe(self, ws):
        ws.send_json({"type": "subscribe", "topic": "account:me:notifications", "id": "n"})
        self.assertEqual(ws.recv_until(lambda m: m.get("id") == "n")["type"], "ok")
        return ws.recv_until(lambda m: m.get("type") == "notifications")

    def test_stored_while_offline_then_listed_delivered_and_marked(self):
        olga, wo = self.api.connected("olga")
        pete = self.api.user("pete")  # logged in, no socket: offline
        rid = self.room(olga, [pete["account_id"]])
        self.say(olga, rid, "nothing for anyone", "m1")
        seq = self.say(olga, rid, "hey @pete, look", "m2")
        self.say(olga, rid, "@petex is someone else", "m3")

        # Pete connects: the subscription brings what arrived while he was away.
        ws = self.api.socket(pete["access_token"])
        summary = self.subscribe(ws)
        self.assertEqual(summary["unread"], 2)
        self.assertFalse(summary["more"])
        kinds = [(n["kind"], n["room_id"], n.get("seq"), n["from"]) for n in summary["notifications"]]
        self.assertEqual(kinds, [("mention", rid, seq, olga["account_id"]),
                                 ("invitation", rid, None, olga["account_id"])])
        mention, invitation = summary["notifications"]
        self.assertGreater(mention["id"], invitation["id"])
        self.assertIsNone(mention["read_at"])

        listed = self.get(pete)
        self.assertEqual(listed["notifications"], summary["notifications"])
        self.assertEqual((listed["unread"], listed["next"]), (2, None))
        status, _, count = self.api.call("GET", "/api/v1/notifications/unread", token=pete["access_token"])
        self.assertEqual((status, count), (200, {"unread": 2}))

        # Live as before, now with its stored id.
        self.say(olga, rid, "@pete again", "m4")
        live = ws.recv_until(lambda m: m.get("type") == "notification")
        self.assertEqual((live["kind"], live["seq"]), ("mention", seq + 2))
        self.assertEqual(self.get(pete)["notifications"][0]["id"], live["id"])

        # Marked by id: the others stay unread; a second socket of pete hears of it.
        other_device = self.api.socket(self.api.login("pete")["access_token"])
        self.subscribe(other_device)
        status, _, marked = self.mark(pete, {"ids": [mention["id"]]})
        self.assertEqual((status, marked), (200, {"marked": 1, "unread": 2}))
        told = other_device.recv_until(lambda m: m.get("type") == "notifications_read")
        self.assertEqual((told["ids"], told["unread"]), ([mention["id"]], 2))
        unread = self.get(pete, "?unread_only=true")["notifications"]
        self.assertEqual([n["id"] for n in unread], [live["id"], invitation["id"]])
        self.assertIsNotNone(self.get(pete)["notifications"][1]["read_at"])
        # Up to an id: everything up to it.
        status, _, marked = self.mark(pete, {"up_to": live["id"]})
        self.assertEqual((status, marked), (200, {"marked": 2, "unread": 0}))
        self.assertEqual(self.get(pete, "?unread_only=true")["notifications"], [])

        # Stored: a restart keeps them, read state included.
        for w in (wo, ws, other_device):
            w.close()
        self.server.stop()
        self.server = self.start("server", config=self.config, data_dir=self.server.data_dir)
        self.api = Api(self.server.port)
        pete = self.api.login("pete")
        ws = self.api.socket(pete["access_token"])
        summary = self.subscribe(ws)
        self.assertEqual((summary["unread"], summary["notifications"]), (0, []))
        after = self.get(pete)
        self.assertEqual(len(after["notifications"]), 3)
        self.assertTrue(all(n["read_at"] for n in after["notifications"]))

    def test_invitation_by_adding_a_member(self):
        olga, wo = self.api.connected("olga")
        zoe, wz = self.api.connected("zoe")
        self.subscribe(wz)
        rid = self.room(olga, [])
        status, _, _ = self.api.call("POST", f"/api/v1/rooms/{rid}/members",
                                     {"account_id": zoe["account_id"], "role": "member"},
                                     token=olga["access_token"])
        self.assertEqual(status, 200)
        live = wz.recv_until(lambda m: m.get("type") == "notification")
        self.assertEqual((live["kind"], live["room_id"], live["from"]), ("invitation", rid, olga["account_id"]))
        # A role change of a member is no new invitation.
        self.api.call("POST", f"/api/v1/rooms/{rid}/members", {"account_id": zoe["account_id"], "role": "viewer"},
                      token=olga["access_token"])
        self.assertEqual([n["id"] for n in self.get(zoe)["notifications"]], [live["id"]])

    def test_capped_per_account_oldest_read_first_and_paged(self):
        # The sockets are kept open: REST needs them.
        olga, wo = self.api.connected("olga")
        pete, wp = self.api.connected("pete")
        rid = self.room(olga, [pete["account_id"]])
        for i in range(1, 5):
            self.say(olga, rid, f"@pete {i}", f"c{i}")
        first = self.get(pete)["notifications"]
        self.assertEqual(len(first), 5)  # the invitation and four mentions: the cap
        # The newest is read; two more arrive: the read one goes first, then the oldest unread.
        self.mark(pete, {"ids": [first[0]["id"]]})
        self.say(olga, rid, "@pete 5", "c5")
        after = self.get(pete)["notifications"]
        self.assertEqual([n.get("seq") for n in after], [5, 3, 2, 1, None])
        self.say(olga, rid, "@pete 6", "c6")
        after = self.get(pete)["notifications"]
        self.assertEqual([n.get("seq") for n in after], [6, 5, 3, 2, 1])

        # Pages of two, newest first, "next" until the last.
        seen, query = [], "?limit=2"
        while True:
            page = self.get(pete, query)
            seen += [n.get("seq") for n in page["notifications"]]
            if page["next"] is None:
                break
            query = f"?limit=2&before={page['next']}"
        self.assertEqual(seen, [6, 5, 3, 2, 1])

    def test_other_accounts_cannot_see_or_mark_them_and_bad_requests(self):
        # The sockets are kept open: REST needs them.
        olga, wo = self.api.connected("olga")
        pete, wp = self.api.connected("pete")
        rid = self.room(olga, [pete["account_id"]])
        self.say(olga, rid, "@pete hi", "c1")
        petes = self.get(pete)["notifications"]
        self.assertEqual(len(petes), 2)
        # Olga has none, and marking pete's ids changes nothing of his.
        self.assertEqual(self.get(olga)["notifications"], [])
        status, _, marked = self.mark(olga, {"ids": [n["id"] for n in petes]})
        self.assertEqual((status, marked), (200, {"marked": 0, "unread": 0}))
        status, _, marked = self.mark(olga, {"up_to": petes[0]["id"]})
        self.assertEqual(marked["marked"], 0)
        self.assertEqual(self.get(pete)["unread"], 2)

        # Auth and the error envelope, as on every route.
        status, _, body = self.api.call("GET", "/api/v1/notifications")
        self.assertEqual((status, body["error"]), (401, "unauthorized"))
        offline = self.api.login("pete")  # a session with no socket
        status, _, body = self.api.call("GET", "/api/v1/notifications", token=offline["access_token"])
        self.assertEqual((status, body["error"]), (401, "unauthorized"))
        for query in ("?limit=0", "?limit=201", "?limit=x", "?before=abc", "?unread_only=perhaps"):
            status, _, body = self.api.call("GET", "/api/v1/notifications" + query, token=pete["access_token"])
            self.assertEqual((status, body["error"]), (400, "bad_request"), query)
        for bad in ({}, {"ids": []}, {"ids": ["1"]}, {"up_to": 0}, {"ids": [1], "up_to": 1},
                    {"ids": list(range(1, 202))}, {"up_to": 1, "extra": True}):
            status, _, body = self.mark(pete, bad)
            self.assertEqual((status, body["error"]), (400, "bad_request"), bad)
        status, _, body = self.api.call("POST", "/api/v1/notifications/read", raw_body=b"not json",
                                        headers={"Content-Type": "application/json"},
                                        token=pete["access_token"])
        self.assertEqual(status, 400)


if __name__ == "__main__":
    unittest.main()
