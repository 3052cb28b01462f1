import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { afterEach, test } from "node:test";

import { Account, canonicalMessage, Chat, Maintenance, Media, Presence, Rooms, Signer, Typing, verifyMessage } from "../src/index.js";
import { connectedClient, FakeWebSocket, fakeFetch, tick, until } from "./fakes.js";

globalThis.crypto ??= webcrypto;

let client;
afterEach(() => client?.close());

function roomRoute(requireSignatures) {
  return () => [200, { version: 1, document: { id: "r1", require_signatures: requireSignatures } }];
}

test("Chat.send: one send frame with a client_msg_id; resent with the same id after a drop", async () => {
  client = await connectedClient({ fetch: fakeFetch({ "GET /api/v1/rooms/r1": roomRoute(false) }) });
  const chat = new Chat(client);
  const sending = chat.send("r1", "hello");
  await until(() => FakeWebSocket.last.sentOfType("send").length === 1);
  const first = FakeWebSocket.last.sentOfType("send")[0];
  assert.equal(first.room_id, "r1");
  assert.equal(first.text, "hello");
  assert.match(first.client_msg_id, /^[0-9a-f]{28}$/);
  assert.ok(parseInt(first.client_msg_id.slice(0, 12), 16) <= Date.now(), "time first");
  assert.equal(first.signature, undefined);
  FakeWebSocket.last.serverClose(1006); // no answer came
  await until(() => client.state === "open" && FakeWebSocket.last.sentOfType("send").length === 1);
  const again = FakeWebSocket.last.sentOfType("send")[0];
  assert.equal(again.client_msg_id, first.client_msg_id);
  FakeWebSocket.last.receive({ type: "ok", id: again.id, room_id: "r1", seq: 4, sent_at: 1, duplicate: true });
  assert.deepEqual(await sending, { room_id: "r1", seq: 4, sent_at: 1, duplicate: true });
});

test("Rooms.create leaves require_signatures to the server unless asked; policy() reads the rule", async () => {
  const fetch = fakeFetch({
    "POST /api/v1/rooms": () => [201, { room_id: "r9" }],
    "GET /api/v1/room-policy": () => [200, { require_signatures: true, allow_unsigned_rooms: false }],
  });
  client = await connectedClient({ fetch });
  const rooms = new Rooms(client);
  assert.equal(await rooms.create({ title: "t" }), "r9");
  assert.equal(await rooms.create({ title: "u", requireSignatures: false }), "r9");
  const bodies = fetch.calls.filter((c) => c.key === "POST /api/v1/rooms").map((c) => c.body);
  assert.equal("require_signatures" in bodies[0], false);
  assert.equal(bodies[1].require_signatures, false);
  assert.deepEqual(await rooms.policy(), { require_signatures: true, allow_unsigned_rooms: false });
});

test("Chat.send signs in a room that requires signatures, verifiable with the public key", async () => {
  client = await connectedClient({ fetch: fakeFetch({ "GET /api/v1/rooms/r1": roomRoute(true) }) });
  const chat = new Chat(client);
  await assert.rejects(chat.send("r1", "unsigned"), { code: "invalid_signature" });
  chat.signer = await Signer.generate();
  assert.equal(Buffer.from(chat.signer.publicKey, "base64").length, 32);
  const sending = chat.send("r1", "héllo ✓", { clientMsgId: "c1" });
  await until(() => FakeWebSocket.last.sentOfType("send").length === 1);
  const frame = FakeWebSocket.last.sentOfType("send")[0];
  const message = { room_id: "r1", sender_id: "acc-me", client_msg_id: "c1", text: "héllo ✓", signature: frame.signature };
  assert.ok(await verifyMessage(message, chat.signer.publicKey));
  assert.equal(await verifyMessage({ ...message, text: "tampered" }, chat.signer.publicKey), false);
  // The same bytes as the server's canonical string, checked with Node's own Ed25519.
  const key = await webcrypto.subtle.importKey("raw", chat.signer.publicKeyRaw, { name: "Ed25519" }, false, ["verify"]);
  const data = new TextEncoder().encode("parley-message-v1\nr1\nacc-me\nc1\nhéllo ✓");
  assert.ok(await webcrypto.subtle.verify({ name: "Ed25519" }, key, Buffer.from(frame.signature, "base64"), data));
  assert.equal(canonicalMessage("r", "s", "c", "t"), "parley-message-v1\nr\ns\nc\nt");
  assert.equal(canonicalMessage("r", "s", "c", "", "img"), "parley-message-v1\nr\ns\nc\n\nimg");
  FakeWebSocket.last.receive({ type: "ok", id: frame.id, room_id: "r1", seq: 1, sent_at: 2, duplicate: false });
  assert.equal((await sending).seq, 1);
  // With an image: the frame names it and the signature covers it.
  const withImage = chat.send("r1", "", { clientMsgId: "c2", media: "img1" });
  await until(() => FakeWebSocket.last.sentOfType("send").length === 2);
  const imageFrame = FakeWebSocket.last.sentOfType("send")[1];
  assert.equal(imageFrame.media, "img1");
  const imageMessage = { room_id: "r1", sender_id: "acc-me", client_msg_id: "c2", text: "", media: "img1", signature: imageFrame.signature };
  assert.ok(await verifyMessage(imageMessage, chat.signer.publicKey));
  assert.equal(await verifyMessage({ ...imageMessage, media: "img2" }, chat.signer.publicKey), false);
  const imageData = new TextEncoder().encode("parley-message-v1\nr1\nacc-me\nc2\n\nimg1");
  assert.ok(await webcrypto.subtle.verify({ name: "Ed25519" }, key, Buffer.from(imageFrame.signature, "base64"), imageData));
  FakeWebSocket.last.receive({ type: "ok", id: imageFrame.id, room_id: "r1", seq: 2, sent_at: 3, duplicate: false });
  assert.equal((await withImage).seq, 2);
});

test("Chat signs every message where its key is registered, and only there; a refused optional signature is sent again unsigned", async () => {
  const signer = await Signer.generate();
  const doc = (id, key) => () => [200, { version: 1, document: { id, require_signatures: false, members: { "acc-me": { public_key: key } } } }];
  const fetch = fakeFetch({
    "GET /api/v1/rooms/keyed": doc("keyed", signer.publicKey),
    "GET /api/v1/rooms/bare": doc("bare", null),
    "POST /api/v1/rooms/bare/join": () => [200, { room_id: "bare", account_id: "acc-me", role: "member" }],
  });
  client = await connectedClient({ fetch });
  const chat = new Chat(client, { signer });
  const answer = async (n, seq) => {
    await until(() => FakeWebSocket.last.sentOfType("send").length === n);
    const frame = FakeWebSocket.last.sentOfType("send")[n - 1];
    FakeWebSocket.last.receive({ type: "ok", id: frame.id, room_id: frame.room_id, seq, sent_at: 1, duplicate: false });
    return frame;
  };
  // The room's document shows this signer's key: signed, though the room does not require it.
  let sending = chat.send("keyed", "hi", { clientMsgId: "k1" });
  const keyed = await answer(1, 1);
  await sending;
  assert.ok(await verifyMessage({ room_id: "keyed", sender_id: "acc-me", client_msg_id: "k1", text: "hi", signature: keyed.signature }, signer.publicKey));
  // No key registered: unsigned, until registerKey().
  sending = chat.send("bare", "plain");
  assert.equal((await answer(2, 1)).signature, undefined);
  await sending;
  await chat.registerKey("bare");
  assert.deepEqual(fetch.calls.find((c) => c.key === "POST /api/v1/rooms/bare/join").body, { public_key: signer.publicKey });
  sending = chat.send("bare", "now signed");
  assert.equal(typeof (await answer(3, 2)).signature, "string");
  await sending;
  // signByDefault: false signs only where the room requires it.
  const quiet = new Chat(client, { signer, signByDefault: false });
  sending = quiet.send("keyed", "unsigned");
  assert.equal((await answer(4, 2)).signature, undefined);
  await sending;
  // The key was changed from another device: the refused signature is dropped, the message is
  // sent again with the same id, and the room's key is looked up again before the next send.
  sending = chat.send("keyed", "retry me", { clientMsgId: "k2" });
  await until(() => FakeWebSocket.last.sentOfType("send").length === 5);
  const refused = FakeWebSocket.last.sentOfType("send")[4];
  assert.equal(typeof refused.signature, "string");
  FakeWebSocket.last.receive({ type: "error", id: refused.id, error: "invalid_signature", message: "the signature does not match the message" });
  const resent = await answer(6, 3);
  assert.equal(resent.client_msg_id, "k2");
  assert.equal(resent.signature, undefined);
  assert.equal((await sending).seq, 3);
  const lookups = () => fetch.calls.filter((c) => c.key === "GET /api/v1/rooms/keyed").length;
  const before = lookups();
  sending = chat.send("keyed", "again");
  await answer(7, 4);
  await sending;
  assert.equal(lookups(), before + 1);
  // In a room that requires signatures a refusal stays a refusal.
  chat.noteRoom("strict", true, "another-key");
  sending = chat.send("strict", "x");
  await until(() => FakeWebSocket.last.sentOfType("send").length === 8);
  const strict = FakeWebSocket.last.sentOfType("send")[7];
  FakeWebSocket.last.receive({ type: "error", id: strict.id, error: "invalid_signature", message: "no" });
  await assert.rejects(sending, { code: "invalid_signature" });
});

test("Chat.watch subscribes room:{id}:chat and emits messages; errors keep their code", async () => {
  client = await connectedClient({ fetch: fakeFetch({ "GET /api/v1/rooms/r1": roomRoute(false) }) });
  const chat = new Chat(client);
  chat.noteRoom("r1", false);
  await chat.watch("r1");
  assert.equal(FakeWebSocket.last.sentOfType("subscribe")[0].topic, "room:r1:chat");
  const got = [];
  chat.on("message", (m) => got.push(m.text));
  FakeWebSocket.last.receive({ type: "message", room_id: "r1", seq: 1, text: "hi" });
  assert.deepEqual(got, ["hi"]);
  const sending = chat.send("r1", "x");
  await until(() => FakeWebSocket.last.sentOfType("send").length === 1);
  const f = FakeWebSocket.last.sentOfType("send")[0];
  FakeWebSocket.last.receive({ type: "error", id: f.id, error: "forbidden", message: "viewers cannot send" });
  await assert.rejects(sending, { code: "forbidden" });
});

test("Presence: users() follows the presence frames of watched rooms", async () => {
  client = await connectedClient();
  const presence = new Presence(client);
  await presence.watch("r1");
  assert.equal(FakeWebSocket.last.sentOfType("subscribe")[0].topic, "room:r1:presence");
  const changes = [];
  presence.on("change", (c) => changes.push(c));
  FakeWebSocket.last.receive({ type: "presence", room_id: "r1", online: ["a", "b"] });
  FakeWebSocket.last.receive({ type: "presence", room_id: "other", online: ["z"] });
  assert.deepEqual(presence.users("r1"), ["a", "b"]);
  assert.deepEqual(presence.users("other"), []);
  FakeWebSocket.last.receive({ type: "presence", room_id: "r1", online: ["a"] });
  assert.ok(!presence.isOnline("r1", "b"));
  assert.deepEqual(changes.map((c) => c.online), [["a", "b"], ["a"]]);
});

test("Typing: throttled notify, typists expire, a message ends typing, never the caller", async () => {
  client = await connectedClient();
  let now = 0;
  const typing = new Typing(client, { expireMs: 30, intervalMs: 1000, now: () => now });
  await typing.watch("r1");
  assert.equal(typing.notify("r1"), true);
  assert.equal(typing.notify("r1"), false);
  now = 1000;
  assert.equal(typing.notify("r1"), true);
  typing.ended("r1", "acc-me"); // my message: the next keystroke says "typing" again at once
  assert.equal(typing.notify("r1"), true);
  now = 1500;
  assert.equal(typing.notify("r1"), false);
  assert.equal(FakeWebSocket.last.sentOfType("typing").length, 3);
  assert.deepEqual(FakeWebSocket.last.sentOfType("typing")[0], { type: "typing", room_id: "r1" });
  const ws = FakeWebSocket.last;
  ws.receive({ type: "typing", room_id: "r1", account_id: "bob" });
  ws.receive({ type: "typing", room_id: "r1", account_id: "acc-me" });
  ws.receive({ type: "typing", room_id: "r1", account_id: "carl" });
  assert.deepEqual(typing.users("r1").sort(), ["bob", "carl"]);
  ws.receive({ type: "message", room_id: "r1", sender_id: "carl", seq: 1 });
  assert.deepEqual(typing.users("r1"), ["bob"]);
  await tick(60);
  assert.deepEqual(typing.users("r1"), [], "expired");
  typing.ended("r1", "x"); // no effect on someone not typing
  assert.deepEqual(typing.users("r1"), []);
});

test("Typing.stop: sent once after a notice, heard as a stop; the next notice goes at once", async () => {
  client = await connectedClient();
  let now = 0;
  const typing = new Typing(client, { expireMs: 4000, intervalMs: 2000, now: () => now });
  await typing.watch("r1");
  const ws = FakeWebSocket.last;
  assert.equal(typing.stop("r1"), false, "nothing to stop");
  assert.equal(typing.notify("r1"), true);
  now = 500;
  assert.equal(typing.stop("r1"), true);
  assert.equal(typing.stop("r1"), false, "once");
  assert.deepEqual(ws.sentOfType("typing").at(-1), { type: "typing", room_id: "r1", active: false });
  assert.equal(typing.notify("r1"), true, "not throttled after a stop");
  now = 9000;
  assert.equal(typing.stop("r1"), false, "the others' screens expired it already");
  ws.receive({ type: "typing", room_id: "r1", account_id: "bob", active: true });
  assert.deepEqual(typing.users("r1"), ["bob"]);
  ws.receive({ type: "typing", room_id: "r1", account_id: "bob", active: false });
  assert.deepEqual(typing.users("r1"), []);
  typing.unwatch("r1");
});

test("Media.upload: the raw body, then the media event's outcome", async () => {
  const fetch = fakeFetch({ "POST /api/v1/media": () => [202, { content_id: "c1", state: "processing" }] });
  client = await connectedClient({ fetch });
  const media = new Media(client);
  const uploading = media.upload(new Uint8Array([1, 2, 3]));
  await until(() => fetch.calls.length === 1);
  assert.equal(fetch.calls[0].init.headers["Content-Type"], "application/octet-stream");
  assert.ok(fetch.calls[0].init.body instanceof Uint8Array);
  await tick();
  FakeWebSocket.last.receive({ type: "media", content_id: "c1", state: "ready", width: 300, height: 200 });
  assert.deepEqual(await uploading, { content_id: "c1", state: "ready", width: 300, height: 200 });
  assert.equal(media.thumbnailUrl("c1"), "http://parley.test/api/v1/media/c1/thumbnail?token=access-1");

  // The event may come before the 202; a failure rejects with its code.
  const early = fakeFetch({
    "POST /api/v1/media": () => {
      FakeWebSocket.last.receive({ type: "media", content_id: "c2", state: "failed", error: "too_small", message: "small" });
      return [202, { content_id: "c2", state: "processing" }];
    },
  });
  client.fetch = early;
  await assert.rejects(media.upload(new Uint8Array([1])), { code: "too_small" });
});

test("Media.list pages with the cursor; Media.remove deletes; the deleted event is heard", async () => {
  const fetch = fakeFetch({
    "GET /api/v1/media": (call) => {
      const q = new URL(call.url).searchParams;
      return q.get("cursor") === "10.b"
        ? [200, { media: [{ content_id: "a", state: "ready" }], next: null, usage_bytes: 5, quota_bytes: 9 }]
        : [200, { media: [{ content_id: "b", state: "ready" }], next: "10.b", usage_bytes: 5, quota_bytes: 9 }];
    },
    "DELETE /api/v1/media/a%2Fb": () => [200, { content_id: "a/b", deleted: true, freed_bytes: 3, usage_bytes: 2 }],
  });
  client = await connectedClient({ fetch });
  const media = new Media(client);
  const first = await media.list({ limit: 1 });
  assert.equal(new URL(fetch.calls[0].url).search, "?limit=1");
  const second = await media.list({ limit: 1, cursor: first.next });
  assert.deepEqual([...first.media, ...second.media].map((m) => m.content_id), ["b", "a"]);
  assert.equal(second.next, null);
  assert.equal((await media.remove("a/b")).freed_bytes, 3);
  assert.equal(fetch.calls.at(-1).init.method, "DELETE");
  const deleted = [];
  media.on("deleted", (id) => deleted.push(id));
  FakeWebSocket.last.receive({ type: "media", content_id: "a/b", state: "deleted", updated_at: 1 });
  assert.deepEqual(deleted, ["a/b"]);
});

test("Account: password change, the session list, ending one", async () => {
  const fetch = fakeFetch({
    "PUT /api/v1/accounts/me/password": (call) =>
      call.body.current_password === "old password"
        ? [200, { changed: true, sessions_revoked: 2 }]
        : [403, { error: "forbidden", message: "the current password is wrong" }],
    "GET /api/v1/sessions": () => [200, { sessions: [{ session_id: "s1", current: true }, { session_id: "s/2", current: false }] }],
    "DELETE /api/v1/sessions/s%2F2": () => [200, { session_id: "s/2", revoked: true }],
  });
  client = await connectedClient({ fetch });
  const account = new Account(client);
  assert.deepEqual(await account.changePassword("old password", "new password"), { changed: true, sessions_revoked: 2 });
  assert.deepEqual(fetch.calls[0].body, { current_password: "old password", new_password: "new password" });
  await assert.rejects(account.changePassword("guess", "new password"), { code: "forbidden" });
  const sessions = await account.sessions();
  assert.deepEqual(sessions.map((s) => s.session_id), ["s1", "s/2"]);
  assert.equal((await account.endSession("s/2")).revoked, true);
});

test("Maintenance: a notice, its clearing, and a clearing missed while disconnected", async () => {
  client = await connectedClient();
  const maintenance = new Maintenance(client);
  const seen = [];
  maintenance.on("change", (n) => seen.push(n));
  FakeWebSocket.last.receive({ type: "maintenance", at: 1767261600000, action: "reboot" });
  assert.deepEqual(maintenance.notice, { at: 1767261600000, action: "reboot" });
  FakeWebSocket.last.receive({ type: "maintenance", at: null });
  assert.equal(maintenance.notice, null);
  FakeWebSocket.last.receive({ type: "maintenance", at: 5, action: "restart" });
  // The server sends a standing notice right after the handshake; none means it was cleared.
  FakeWebSocket.last.serverClose(1006);
  await until(() => client.state === "open");
  assert.equal(maintenance.notice, null);
  assert.deepEqual(seen, [{ at: 1767261600000, action: "reboot" }, null, { at: 5, action: "restart" }, null]);
});
