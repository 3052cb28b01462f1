// The client library in Node against a real `parley server` (no browser): login and the
// live-socket rule, chat between two clients, a document that resumes from its held version
// after its client reconnects, presence, token refresh, and Ed25519 signatures made with
// Node's WebCrypto that the server verifies. Node 20 and 21 need --experimental-websocket for
// their WebSocket (ctest: web.js_live passes it); a Node without one (Debian bookworm's Node 18)
// uses the `ws` package instead, from tests/web/package-lock.json (npm ci on first use).
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { after, before, test } from "node:test";

import { Account, Chat, Documents, ParleyClient, Presence, Rooms, Signer } from "../../clients/js/src/index.js";
import { ensureModules } from "./node_modules.mjs";
import { ParleyServer } from "./parley_server.mjs";

if (typeof WebSocket === "undefined") {
  ensureModules(["ws"]);
  globalThis.WebSocket = (await import("ws")).WebSocket;
  console.log(`this Node (${process.version}) has no WebSocket: using the ws package`);
}
// Node 18 has WebCrypto as require("node:crypto").webcrypto, not yet as the global crypto.
globalThis.crypto ??= webcrypto;

let server;
const clients = [];
before(async () => {
  server = await ParleyServer.start();
});
after(async () => {
  for (const c of clients) c.close();
  await server?.close();
});

async function user(name) {
  const client = new ParleyClient({ baseUrl: server.baseUrl, backoff: { baseMs: 50, maxMs: 200 } });
  clients.push(client);
  await client.register(name, "correct horse");
  await client.login(name, "correct horse");
  return client;
}

function until(predicate, what, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const check = () => {
      if (predicate()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(check, 10);
    };
    check();
  });
}

test("two clients chat; a document resumes from its version after a reconnect", async () => {
  const alice = await user("alice");
  const bob = await user("bob");
  const roomId = await new Rooms(alice).create({ title: "Live", joinPolicy: "open", requireSignatures: false });
  await new Rooms(bob).join(roomId, { displayName: "Bob" });

  const bobChat = new Chat(bob);
  await bobChat.watch(roomId);
  const heard = [];
  bobChat.on("message", (m) => heard.push(m.text));
  const presence = new Presence(alice);
  await presence.watch(roomId);
  const doc = await new Documents(bob).open(roomId);
  assert.equal(doc.value.title, "Live");
  assert.equal(doc.value.members[bob.accountId].display_name, "Bob");
  await until(() => presence.users(roomId).includes(bob.accountId), "bob online");

  const sent = await new Chat(alice).send(roomId, "one");
  assert.equal(sent.seq, 1);
  await until(() => heard.includes("one") && doc.value.last_seq === 1, "message one");

  // Bob goes away; alice sends two messages and renames the room meanwhile.
  const held = doc.version;
  bob.close();
  await until(() => !presence.users(roomId).includes(bob.accountId), "bob offline");
  const aliceChat = new Chat(alice);
  await aliceChat.send(roomId, "two");
  await aliceChat.send(roomId, "three");
  await new Rooms(alice).rename(roomId, "Live, renamed");
  await bob.connect();
  await until(() => doc.value.last_seq === 3 && doc.value.title === "Live, renamed", "the missed changes");
  assert.equal(doc.resyncs, 0);
  assert.ok(doc.version > held);
  assert.deepEqual(doc.value.messages.map((m) => m.text), ["one", "two", "three"]);
  // The chat topic has no replay (the document and history have the missed messages), but it
  // is subscribed again: the next message is heard.
  await aliceChat.send(roomId, "four");
  await until(() => heard.includes("four"), "chat after the reconnect");
  assert.deepEqual(heard, ["one", "four"]);
  assert.deepEqual(await bobChat.history(roomId).then((ms) => ms.map((m) => m.seq)), [1, 2, 3, 4]);
  await until(() => presence.users(roomId).includes(bob.accountId), "bob back online");
});

test("refresh keeps the session and its socket usable; rooms list, create, leave", async () => {
  const carol = await user("carol");
  const before = carol.session.refresh_token;
  await carol.refresh();
  assert.notEqual(carol.session.refresh_token, before);
  const rooms = new Rooms(carol);
  assert.deepEqual(await rooms.list(), []);
  // Without requireSignatures a room gets the server's default: signed, on a new install.
  assert.deepEqual(await rooms.policy(), { require_signatures: true, allow_unsigned_rooms: true });
  const roomId = await rooms.create({ title: "Brief" });
  assert.equal((await rooms.get(roomId)).document.require_signatures, true);
  assert.deepEqual((await rooms.list()).map((r) => [r.room_id, r.title, r.role]), [[roomId, "Brief", "owner"]]);
  assert.deepEqual(await rooms.leave(roomId), { room_id: roomId, left: true });
  assert.deepEqual(await rooms.list(), []);
});

test("two devices: one lists the sessions, changes the password, and the other is signed out", async () => {
  const laptop = await user("nina");
  const phone = new ParleyClient({ baseUrl: server.baseUrl, backoff: { baseMs: 50, maxMs: 200 } });
  clients.push(phone);
  await phone.login("nina", "correct horse");
  await phone.ready();
  const account = new Account(laptop);
  const sessions = await account.sessions();
  assert.equal(sessions.length, 2);
  assert.deepEqual(sessions.filter((s) => s.current).map((s) => s.session_id), [laptop.session.session_id]);
  await assert.rejects(account.changePassword("not the one", "battery staple"), { code: "forbidden" });
  assert.deepEqual(await account.changePassword("correct horse", "battery staple"), { changed: true, sessions_revoked: 1 });
  await until(() => phone.state === "signed_out", "the phone signed out");
  assert.deepEqual((await account.sessions()).map((s) => s.session_id), [laptop.session.session_id]);
  await assert.rejects(phone.login("nina", "correct horse"), { code: "unauthorized" });
  await phone.login("nina", "battery staple");
});

test("signed messages: the server accepts the library's signatures and refuses others", async () => {
  const dana = await user("dana");
  const rooms = new Rooms(dana);
  const roomId = await rooms.create({ title: "Signed", requireSignatures: true });
  const chat = new Chat(dana, { signer: await Signer.generate() });
  await rooms.join(roomId, { publicKey: chat.signer.publicKey });
  const ok = await chat.send(roomId, "signed: ünïcödé ✓");
  assert.equal(ok.seq, 1);
  chat.signer = await Signer.generate(); // a key the room does not know
  await assert.rejects(chat.send(roomId, "wrong key"), { code: "invalid_signature" });
  const stored = await chat.history(roomId);
  assert.deepEqual(stored.map((m) => m.text), ["signed: ünïcödé ✓"]);
});
