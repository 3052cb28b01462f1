import assert from "node:assert/strict";
import { afterEach, test } from "node:test";

import { Notifications } from "../src/index.js";
import { connectedClient, FakeWebSocket, fakeFetch, until } from "./fakes.js";

let client;
afterEach(() => client?.close());

const note = (id, extra = {}) => ({ id, kind: "mention", room_id: "r1", seq: id, from: "acc-olga", created_at: id, read_at: null, ...extra });

test("Notifications: the unread ones on subscribing, new ones live, each once", async () => {
  client = await connectedClient();
  const notifications = new Notifications(client);
  const live = [];
  notifications.on("notification", (n) => live.push(n.id));
  await notifications.start();
  assert.equal(FakeWebSocket.last.sentOfType("subscribe")[0].topic, "account:me:notifications");
  // The live one may come before the unread frame that also holds it.
  FakeWebSocket.last.receive({ type: "notification", ...note(3) });
  FakeWebSocket.last.receive({ type: "notifications", unread: 3, notifications: [note(3), note(2), note(1, { kind: "invitation" })], more: false });
  assert.equal(notifications.unread, 3);
  assert.deepEqual(notifications.items.map((n) => n.id), [3, 2, 1]);
  FakeWebSocket.last.receive({ type: "notification", ...note(2) }); // known: not counted again
  FakeWebSocket.last.receive({ type: "notification", ...note(4) });
  assert.equal(notifications.unread, 4);
  assert.deepEqual(live, [3, 4]);
  assert.equal(notifications.items[0].type, undefined);

  // After a reconnect the subscription is sent again and the server's count replaces ours.
  FakeWebSocket.last.serverClose(1006);
  await until(() => client.state === "open" && FakeWebSocket.last.sentOfType("subscribe").length === 1);
  FakeWebSocket.last.receive({ type: "notifications", unread: 1, notifications: [note(5)], more: false });
  assert.equal(notifications.unread, 1);
  assert.deepEqual(notifications.items.map((n) => n.id), [5, 4, 3, 2, 1]);

  // Stopping unsubscribes and forgets them.
  notifications.stop();
  await until(() => FakeWebSocket.last.sentOfType("unsubscribe").length === 1);
  assert.deepEqual([notifications.unread, notifications.items], [0, []]);
});

test("Notifications: list pages, markRead and markAllRead follow the server", async () => {
  const fetch = fakeFetch({
    "GET /api/v1/notifications": () => [200, { notifications: [note(9), note(8, { read_at: 5 })], unread: 6, next: "8" }],
    "POST /api/v1/notifications/read": (call) => [200, { marked: call.body.ids ? call.body.ids.length : 3, unread: call.body.ids ? 5 : 0 }],
    "GET /api/v1/notifications/unread": () => [200, { unread: 0 }],
  });
  client = await connectedClient({ fetch });
  const notifications = new Notifications(client);
  const changes = [];
  notifications.on("change", ({ unread }) => changes.push(unread));
  const page = await notifications.list({ limit: 2, before: 10, unreadOnly: true });
  assert.equal(page.next, "8");
  assert.match(fetch.calls.at(-1).url, /\/api\/v1\/notifications\?limit=2&before=10&unread_only=true$/);
  assert.equal(notifications.unread, 6);
  assert.deepEqual(notifications.items.map((n) => n.id), [9, 8]);

  assert.deepEqual(await notifications.markRead([9]), { marked: 1, unread: 5 });
  assert.deepEqual(fetch.calls.at(-1).body, { ids: [9] });
  assert.ok(notifications.items[0].read_at > 0);
  assert.equal(notifications.unread, 5);
  assert.deepEqual(await notifications.markRead([]), { marked: 0, unread: 5 }); // nothing asked
  assert.equal(fetch.calls.filter((c) => c.key === "POST /api/v1/notifications/read").length, 1);

  await notifications.markAllRead();
  assert.deepEqual(fetch.calls.at(-1).body, { up_to: 9 });
  assert.equal(notifications.unread, 0);
  assert.equal(await notifications.unreadCount(), 0);
  assert.deepEqual(changes, [6, 5, 0, 0]);

  // Another device marked some read: the server says which, and the count.
  FakeWebSocket.last.receive({ type: "notification", ...note(12) });
  FakeWebSocket.last.receive({ type: "notification", ...note(13) });
  assert.equal(notifications.unread, 2);
  FakeWebSocket.last.receive({ type: "notifications_read", up_to: 12, unread: 1 });
  assert.equal(notifications.unread, 1);
  assert.ok(notifications.items.find((n) => n.id === 12).read_at > 0);
  assert.equal(notifications.items.find((n) => n.id === 13).read_at, null);
});
