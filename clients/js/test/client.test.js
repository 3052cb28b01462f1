import assert from "node:assert/strict";
import { afterEach, test } from "node:test";

import { ParleyClient, ParleyError } from "../src/index.js";
import { connectedClient, FakeWebSocket, fakeFetch, session, tick, until } from "./fakes.js";

let client;
afterEach(() => client?.close());

test("login: tokens, then the socket with ?token=, open after a ping round trip", async () => {
  FakeWebSocket.reset();
  const fetch = fakeFetch({
    "POST /api/v1/accounts": () => [201, { account_id: "acc-1" }],
    "POST /api/v1/sessions": ({ body }) => [200, session({ account_id: "acc-1", access_token: `tok/${body.username}` })],
  });
  client = new ParleyClient({ baseUrl: "http://parley.test/", WebSocket: FakeWebSocket, fetch, heartbeatMs: 0 });
  const states = [];
  client.on("state", (s) => states.push(s));
  assert.equal(await client.register("alice", "pw"), "acc-1");
  await client.login("alice", "pw");
  assert.equal(FakeWebSocket.last.url, "ws://parley.test/api/v1/ws?token=tok%2Falice");
  assert.equal(FakeWebSocket.last.sent[0].type, "ping");
  assert.deepEqual(states, ["connecting", "open"]);
  assert.equal(client.accountId, "acc-1");
  assert.equal(fetch.calls[1].body.username, "alice");
  assert.equal(fetch.calls[0].init.headers.Authorization, undefined, "no token on the public routes");
});

test("REST calls wait for the socket and carry the bearer token", async () => {
  FakeWebSocket.reset();
  FakeWebSocket.autoOpen = false;
  const fetch = fakeFetch({ "GET /api/v1/rooms": () => [200, { rooms: [{ room_id: "r" }] }] });
  client = new ParleyClient({ baseUrl: "http://parley.test", WebSocket: FakeWebSocket, fetch, session: session(), heartbeatMs: 0 });
  client.connect();
  const rooms = client.api("GET", "/api/v1/rooms");
  await tick(5);
  assert.equal(fetch.calls.length, 0, "no REST call before the socket is open");
  FakeWebSocket.last.serverOpen();
  assert.deepEqual(await rooms, { rooms: [{ room_id: "r" }] });
  assert.equal(fetch.calls[0].init.headers.Authorization, "Bearer access-1");
});

test("REST errors become ParleyError with the server's code and status", async () => {
  client = await connectedClient({
    fetch: fakeFetch({ "POST /api/v1/rooms": () => [403, { error: "forbidden", message: "too many rooms" }] }),
  });
  await assert.rejects(client.api("POST", "/api/v1/rooms", { title: "x" }), (err) => {
    assert.ok(err instanceof ParleyError);
    assert.equal(err.code, "forbidden");
    assert.equal(err.status, 403);
    assert.equal(err.message, "too many rooms");
    return true;
  });
});

test("requests are matched to answers by id; errors reject", async () => {
  client = await connectedClient();
  const ws = FakeWebSocket.last;
  const a = client.request({ type: "send", room_id: "r", text: "a" });
  const b = client.request({ type: "ack", room_id: "r", seq: 1 });
  await tick();
  const [sa, sb] = ws.sent.slice(-2);
  assert.notEqual(sa.id, sb.id);
  ws.receive({ type: "error", id: sb.id, error: "not_found", message: "no such room" });
  ws.receive({ type: "ok", id: sa.id, seq: 7 });
  assert.equal((await a).seq, 7);
  await assert.rejects(b, { code: "not_found" });
});

test("a lost socket fails pending requests, reconnects with back-off and subscribes again", async () => {
  client = await connectedClient();
  const first = FakeWebSocket.last;
  let params = { version: 5 };
  await client.subscribe("room:r:doc", { params: () => params });
  await client.subscribe("room:r:presence");
  const pending = client.request({ type: "send", room_id: "r", text: "x" });
  await tick();
  const events = [];
  client.on("disconnect", (d) => events.push(["disconnect", d.code]));
  client.on("reconnect", () => events.push(["reconnect"]));
  params = { version: 9 };
  first.serverClose(1006);
  await assert.rejects(pending, { code: "disconnected" });
  assert.equal(client.state, "waiting");
  await until(() => client.state === "open", "the reconnect");
  const second = FakeWebSocket.last;
  assert.notEqual(second, first);
  const subs = second.sentOfType("subscribe");
  assert.deepEqual(subs.map((s) => [s.topic, s.version]), [["room:r:doc", 9], ["room:r:presence", undefined]]);
  assert.deepEqual(events, [["disconnect", 1006], ["reconnect"]]);
});

test("an unsubscribed topic is not sent again after a reconnect", async () => {
  client = await connectedClient();
  const off = await client.subscribe("room:r:typing");
  off();
  assert.equal(FakeWebSocket.last.sentOfType("unsubscribe")[0].topic, "room:r:typing");
  FakeWebSocket.last.serverClose(1001);
  await until(() => client.state === "open");
  assert.equal(FakeWebSocket.last.sentOfType("subscribe").length, 0);
});

test("a refused subscription rejects and is forgotten", async () => {
  client = await connectedClient();
  FakeWebSocket.subscribeAnswer = (f) => ({ type: "error", id: f.id, error: "forbidden", message: "not a member" });
  try {
    await assert.rejects(client.subscribe("room:x:chat"), { code: "forbidden" });
    assert.equal(client.hasSubscription("room:x:chat"), false);
  } finally {
    FakeWebSocket.subscribeAnswer = undefined;
  }
});

test("a subscription refused after a reconnect goes to onError, not to an unhandled rejection", async () => {
  client = await connectedClient();
  const errors = [];
  await client.subscribe("room:gone:chat", { onError: (err) => errors.push(err.code) });
  FakeWebSocket.subscribeAnswer = (f) => ({ type: "error", id: f.id, error: "forbidden", message: "not a member" });
  try {
    FakeWebSocket.last.serverClose(1006);
    await until(() => errors.length === 1, "the refusal");
    assert.deepEqual(errors, ["forbidden"]);
    assert.equal(client.hasSubscription("room:gone:chat"), false);
  } finally {
    FakeWebSocket.subscribeAnswer = undefined;
  }
});

test("close 4001 (revoked) signs out and does not reconnect", async () => {
  client = await connectedClient();
  const sessions = [];
  client.on("session", (s) => sessions.push(s));
  FakeWebSocket.last.serverClose(4001, "revoked");
  assert.equal(client.state, "signed_out");
  assert.deepEqual(sessions, [null]);
  await tick(20);
  assert.equal(FakeWebSocket.instances.length, 1);
  await assert.rejects(client.api("GET", "/api/v1/rooms"), { code: "signed_out" });
});

test("an access token about to expire is refreshed before connecting", async () => {
  FakeWebSocket.reset();
  const fetch = fakeFetch({
    "POST /api/v1/sessions/refresh": ({ body }) => [200, session({ access_token: `new-for-${body.refresh_token}`, refresh_token: "refresh-2" })],
  });
  client = new ParleyClient({
    baseUrl: "http://parley.test",
    WebSocket: FakeWebSocket,
    fetch,
    heartbeatMs: 0,
    session: session({ access_expires_at: Date.now() + 1000 }),
  });
  await client.connect();
  assert.equal(FakeWebSocket.last.url, "ws://parley.test/api/v1/ws?token=new-for-refresh-1");
  assert.equal(client.session.refresh_token, "refresh-2");
});

test("REST: a token near its end is refreshed first; a 401 refreshes once and retries", async () => {
  let refreshes = 0;
  const fetch = fakeFetch({
    "POST /api/v1/sessions/refresh": () => [200, session({ access_token: `access-r${++refreshes}` })],
    "GET /api/v1/profiles/me": ({ init }) =>
      init.headers.Authorization === "Bearer access-r2" ? [200, { username: "me" }] : [401, { error: "unauthorized", message: "expired" }],
    "GET /api/v1/rooms": () => [401, { error: "unauthorized", message: "still no" }],
  });
  client = await connectedClient({ fetch });
  client.session = session({ access_expires_at: Date.now() + 5000 });
  assert.deepEqual(await client.api("GET", "/api/v1/profiles/me"), { username: "me" });
  assert.deepEqual(fetch.calls.map((c) => c.key), [
    "POST /api/v1/sessions/refresh", // expiring soon
    "GET /api/v1/profiles/me", // 401 with access-r1
    "POST /api/v1/sessions/refresh",
    "GET /api/v1/profiles/me", // access-r2
  ]);
  await assert.rejects(client.api("GET", "/api/v1/rooms"), { code: "unauthorized" });
  assert.equal(refreshes, 3, "one refresh per failed call, no loop");
});

test("a socket closed with 1008 refreshes the token once and reconnects", async () => {
  const fetch = fakeFetch({ "POST /api/v1/sessions/refresh": () => [200, session({ access_token: "access-2" })] });
  client = await connectedClient({ fetch });
  FakeWebSocket.last.serverClose(1008, "token");
  await until(() => client.state === "open" && FakeWebSocket.instances.length === 2);
  assert.match(FakeWebSocket.last.url, /token=access-2$/);
});

test("a refresh the server refuses signs out", async () => {
  const fetch = fakeFetch({ "POST /api/v1/sessions/refresh": () => [401, { error: "unauthorized", message: "revoked" }] });
  client = await connectedClient({ fetch });
  FakeWebSocket.last.serverClose(1008, "token");
  await until(() => client.state === "signed_out");
});

test("no answer to the heartbeat drops the socket and reconnects", async () => {
  client = await connectedClient({ heartbeatMs: 20, requestTimeoutMs: 30 });
  const first = FakeWebSocket.last;
  first.send = (text) => first.sent.push(JSON.parse(text)); // the server stops answering
  await until(() => FakeWebSocket.instances.length === 2 && client.state === "open", "a new socket", 3000);
  assert.equal(first.closed.by, "client");
});

test("logout deletes the session and closes the socket", async () => {
  const fetch = fakeFetch({ "DELETE /api/v1/sessions/current": () => [204, null] });
  client = await connectedClient({ fetch });
  const ws = FakeWebSocket.last;
  await client.logout();
  assert.equal(fetch.calls[0].init.headers.Authorization, "Bearer access-1");
  assert.equal(client.state, "signed_out");
  assert.equal(client.session, null);
  assert.ok(ws.closed);
});

test("server frames are emitted by type; url() adds the token", async () => {
  client = await connectedClient();
  const got = [];
  client.on("notification", (f) => got.push(f.kind));
  FakeWebSocket.last.receive({ type: "notification", kind: "mention" });
  FakeWebSocket.last.onmessage({ data: "not json" });
  assert.deepEqual(got, ["mention"]);
  assert.equal(client.url("/api/v1/media/x"), "http://parley.test/api/v1/media/x?token=access-1");
});
