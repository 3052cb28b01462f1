"""Presence when people leave and come back within one coalescing interval
(chat.presence_interval_ms): a subscriber is told the list at once on subscribing, and must
then hear every later change even when the room's coalesced list ends up where it was before
(found by the web client's browser test: two pages switching rooms together)."""

import time
import unittest

from harness import FAST_AUTH, Api, ParleyTestCase


class PresenceSnapshotTest(ParleyTestCase):
    def test_back_within_the_interval_still_hears_the_other_return(self):
        server = self.start("server", config=FAST_AUTH + "[chat]\npresence_interval_ms = 400\n")
        api = Api(server.port)
        a, wa = api.connected("alma")
        b, wb = api.connected("boris")
        _, _, r = api.call("POST", "/api/v1/rooms", {"title": "t", "members": [b["account_id"]]},
                           token=a["access_token"])
        topic = f"room:{r['room_id']}:presence"
        both = sorted([a["account_id"], b["account_id"]])

        def send(ws, kind, id_):
            ws.send_json({"type": kind, "topic": topic, "id": id_})
            return ws.recv_until(lambda m: m.get("id") == id_)

        send(wa, "subscribe", 1)
        send(wb, "subscribe", 2)
        wa.recv_until(lambda m: m["type"] == "presence" and sorted(m["online"]) == both)
        time.sleep(0.6)  # the coalesced list is now both of them
        # Both leave and come back within one interval; alma is back first.
        send(wb, "unsubscribe", 3)
        send(wa, "unsubscribe", 4)
        wa.send_json({"type": "subscribe", "topic": topic, "id": 5})
        snapshot = wa.recv_until(lambda m: m["type"] == "presence")
        self.assertEqual(snapshot["online"], [a["account_id"]])
        send(wb, "subscribe", 6)
        update = wa.recv_until(lambda m: m["type"] == "presence", timeout=3)
        self.assertEqual(sorted(update["online"]), both)


if __name__ == "__main__":
    unittest.main()
