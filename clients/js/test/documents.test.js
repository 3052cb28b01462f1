import assert from "node:assert/strict";
import { afterEach, test } from "node:test";

import { Documents } from "../src/index.js";
import { connectedClient, FakeWebSocket, tick, until } from "./fakes.js";

let client;
afterEach(() => client?.close());

const TOPIC = "room:r1:doc";
const whole = (version, value) => ({ type: "patch", topic: TOPIC, version, ops: [{ op: "replace", path: "", value }] });
const add = (version, seq) => ({
  type: "patch",
  topic: TOPIC,
  version,
  ops: [
    { op: "add", path: "/messages/-", value: { seq, text: `m${seq}` } },
    { op: "replace", path: "/last_seq", value: seq },
  ],
});

// Opens the document; the fake server answers the subscribe with the whole document.
async function open(docs, version = 100) {
  FakeWebSocket.subscribeAnswer = (f, ws) => {
    if (f.topic === TOPIC && f.version === undefined) queueMicrotask(() => ws.receive(whole(version, { title: "t", last_seq: 0, messages: [] })));
    return undefined; // answered below, after the patch, as the server does
  };
  const opening = docs.open("r1");
  await until(() => FakeWebSocket.last.sentOfType("subscribe").length > 0);
  const sub = FakeWebSocket.last.sentOfType("subscribe").at(-1);
  await tick();
  FakeWebSocket.last.receive({ type: "ok", id: sub.id, topic: TOPIC });
  return opening;
}

afterEach(() => (FakeWebSocket.subscribeAnswer = undefined));

test("the whole document first, then patches in version order", async () => {
  client = await connectedClient();
  const doc = await open(new Documents(client));
  assert.equal(doc.version, 100);
  const changes = [];
  doc.on("change", (value, info) => changes.push([info.version, value.last_seq, info.full]));
  FakeWebSocket.last.receive(add(101, 1));
  FakeWebSocket.last.receive(add(102, 2));
  FakeWebSocket.last.receive(add(102, 2)); // a duplicate is ignored
  FakeWebSocket.last.receive({ type: "patch", topic: "room:other:doc", version: 103, ops: [] });
  assert.deepEqual(changes, [[101, 1, false], [102, 2, false]]);
  assert.deepEqual(doc.value.messages.map((m) => m.seq), [1, 2]);
});

test("after a reconnect it subscribes with the held version and applies the missed patches", async () => {
  client = await connectedClient();
  const doc = await open(new Documents(client));
  FakeWebSocket.last.receive(add(101, 1));
  FakeWebSocket.subscribeAnswer = undefined;
  FakeWebSocket.last.serverClose(1006);
  await until(() => client.state === "open");
  const resub = FakeWebSocket.last.sentOfType("subscribe").find((f) => f.topic === TOPIC);
  assert.equal(resub.version, 101);
  FakeWebSocket.last.receive(add(102, 2));
  FakeWebSocket.last.receive(add(103, 3));
  assert.equal(doc.version, 103);
  assert.deepEqual(doc.value.messages.map((m) => m.seq), [1, 2, 3]);
  assert.equal(doc.resyncs, 0);
});

test("a whole document after a reconnect (server restart) replaces the held one", async () => {
  client = await connectedClient();
  const doc = await open(new Documents(client));
  FakeWebSocket.last.receive(add(101, 1));
  FakeWebSocket.subscribeAnswer = undefined;
  FakeWebSocket.last.serverClose(1001);
  await until(() => client.state === "open");
  FakeWebSocket.last.receive(whole(5000, { title: "t", last_seq: 2, messages: [{ seq: 1 }, { seq: 2 }] }));
  assert.equal(doc.version, 5000);
  assert.equal(doc.value.last_seq, 2);
  FakeWebSocket.last.receive(add(5001, 3));
  assert.equal(doc.value.last_seq, 3);
});

test("a gap in the versions asks for the whole document again", async () => {
  client = await connectedClient();
  const doc = await open(new Documents(client));
  const resyncs = [];
  doc.on("resync", (why) => resyncs.push(why));
  const before = FakeWebSocket.last.sentOfType("subscribe").length;
  FakeWebSocket.last.receive(add(103, 3)); // 101 and 102 are missing
  assert.equal(resyncs.length, 1);
  assert.equal(doc.version, null);
  await tick();
  const again = FakeWebSocket.last.sentOfType("subscribe").slice(before);
  assert.equal(again.length, 1);
  assert.equal(again[0].version, undefined, "no version: the server sends the whole document");
  FakeWebSocket.last.receive(add(104, 4)); // ignored until the whole document comes
  FakeWebSocket.last.receive(whole(104, { title: "t", last_seq: 4, messages: [] }));
  assert.equal(doc.version, 104);
  assert.equal(doc.value.last_seq, 4);
});

test("a patch that does not apply asks for the whole document again", async () => {
  client = await connectedClient();
  const doc = await open(new Documents(client));
  FakeWebSocket.last.receive({ type: "patch", topic: TOPIC, version: 101, ops: [{ op: "remove", path: "/nope" }] });
  assert.equal(doc.resyncs, 1);
  assert.equal(doc.value.title, "t", "the held value is kept meanwhile");
});

test("removed from the room: the document closes and unsubscribes", async () => {
  client = await connectedClient();
  const docs = new Documents(client);
  const doc = await open(docs);
  let removed = false;
  doc.on("removed", () => (removed = true));
  FakeWebSocket.last.receive({ type: "removed", room_id: "r1" });
  assert.ok(removed && doc.closed);
  assert.equal(docs.get("r1"), null);
  assert.equal(client.hasSubscription(TOPIC), false);
});
