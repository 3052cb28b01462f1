// Test doubles for the library's unit tests: a WebSocket whose server side the test plays,
// and a fetch that answers from a table of routes.
import { ParleyClient } from "../src/index.js";

export class FakeWebSocket {
  static instances = [];
  static autoOpen = true;

  constructor(url) {
    this.url = url;
    this.sent = [];
    this.closed = null;
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    FakeWebSocket.instances.push(this);
    if (FakeWebSocket.autoOpen) queueMicrotask(() => this.serverOpen());
  }

  static reset() {
    FakeWebSocket.instances = [];
    FakeWebSocket.autoOpen = true;
  }

  static get last() {
    return FakeWebSocket.instances.at(-1);
  }

  // The server side: accept, answer pings, send frames, close.
  serverOpen() {
    this.onopen?.();
  }

  receive(frame) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  serverClose(code = 1006, reason = "") {
    this.closed ??= { code, reason, by: "server" };
    this.onclose?.({ code, reason });
  }

  send(text) {
    const frame = JSON.parse(text);
    this.sent.push(frame);
    if (frame.type === "ping") queueMicrotask(() => this.receive({ type: "pong", id: frame.id }));
    if (frame.type === "subscribe" || frame.type === "unsubscribe") {
      const answer = FakeWebSocket.subscribeAnswer?.(frame, this) ?? { type: "ok", id: frame.id, topic: frame.topic };
      if (answer) queueMicrotask(() => this.receive(answer));
    }
  }

  close(code = 1000, reason = "") {
    this.closed ??= { code, reason, by: "client" };
  }

  sentOfType(type) {
    return this.sent.filter((f) => f.type === type);
  }
}

export function fakeFetch(routes) {
  const calls = [];
  const fn = async (url, init = {}) => {
    const u = new URL(url);
    const key = `${init.method ?? "GET"} ${u.pathname}`;
    calls.push({ key, url, init, body: init.body && typeof init.body === "string" ? JSON.parse(init.body) : init.body });
    const handler = routes[key];
    if (!handler) return new Response(JSON.stringify({ error: "not_found", message: key }), { status: 404 });
    const [status, body] = await handler(calls.at(-1));
    return new Response(body == null ? null : JSON.stringify(body), {
      status,
      headers: { "Content-Type": "application/json" },
    });
  };
  fn.calls = calls;
  return fn;
}

export function session(extra = {}) {
  return {
    account_id: "acc-me",
    session_id: "sess",
    access_token: "access-1",
    refresh_token: "refresh-1",
    access_expires_at: Date.now() + 3600_000,
    refresh_expires_at: Date.now() + 86400_000,
    ...extra,
  };
}

// A client with a session, connected to a fake socket.
export async function connectedClient(options = {}) {
  FakeWebSocket.reset();
  const client = new ParleyClient({
    baseUrl: "http://parley.test",
    WebSocket: FakeWebSocket,
    fetch: options.fetch ?? fakeFetch({}),
    session: session(),
    heartbeatMs: 0,
    backoff: { baseMs: 1, maxMs: 4 },
    requestTimeoutMs: 500,
    ...options,
  });
  await client.connect();
  return client;
}

export const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

export async function until(predicate, what = "condition", timeoutMs = 2000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await tick(1);
  }
}
