// ParleyClient: one account's connection to a Parley server — the REST calls (fetch) and one
// WebSocket that every feature (Chat, Presence, Typing, Documents, Media, Maintenance) shares.
//
// The server accepts an access token on REST routes only while its session has a live socket
// (docs/api.md "The live-socket rule"), so every REST call waits until the socket is open.
// The socket reconnects by itself after a loss, with jittered exponential back-off, and then
// sends again every subscription that features hold (each may add fields, as Documents adds
// the version it holds). An access token that is about to expire is refreshed before a
// (re)connection and before a REST call; a session the server revoked (close 4001) or a refresh that fails ends in
// the "signed_out" state, with no further attempt.
//
// States (event "state"): "idle" (no session), "connecting", "open", "waiting" (back-off
// before the next attempt), "signed_out". Server frames are emitted by their "type" (client.on(
// "message", ...), client.on("patch", ...)), and every frame as "frame".
import { Backoff } from "./backoff.js";
import { Emitter } from "./emitter.js";
import { ParleyError } from "./errors.js";

const CLOSE_REVOKED = 4001;
const CLOSE_POLICY = 1008;

function defaultBaseUrl() {
  return globalThis.location?.origin ?? "http://127.0.0.1:8080";
}

export class ParleyClient extends Emitter {
  #ws = null;
  #nextId = 1;
  #pending = new Map(); // request id -> {resolve, reject, timer}
  #subscriptions = new Map(); // topic -> {params: () => object, onError}
  #openWaiters = [];
  #reconnectTimer = null;
  #heartbeatTimer = null;
  #heartbeatDeadline = null;
  #wanted = false; // whether the client should be connected
  #refreshing = null;
  #policyFailures = 0;
  #everOpened = false;
  #stableTimer = null;

  constructor(options = {}) {
    super();
    this.baseUrl = (options.baseUrl ?? defaultBaseUrl()).replace(/\/+$/, "");
    this.WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this.fetch = options.fetch ?? globalThis.fetch?.bind(globalThis);
    this.requestTimeoutMs = options.requestTimeoutMs ?? 15000;
    this.heartbeatMs = options.heartbeatMs ?? 25000;
    this.refreshMarginMs = options.refreshMarginMs ?? 30000;
    this.backoff = options.backoff instanceof Backoff ? options.backoff : new Backoff(options.backoff);
    this.now = options.now ?? (() => Date.now());
    this.session = options.session ?? null;
    this.state = this.session ? "closed" : "idle";
  }

  get accountId() {
    return this.session?.account_id ?? null;
  }

  get connected() {
    return this.state === "open";
  }

  #setState(state, detail) {
    if (this.state === state) return;
    this.state = state;
    this.emit("state", state, detail);
  }

  // --- accounts and sessions -----------------------------------------------------------------

  async register(username, password) {
    const body = await this.#http("POST", "/api/v1/accounts", { username, password }, { auth: false });
    return body.account_id;
  }

  // Logs in and connects the socket; resolves once it is open.
  async login(username, password) {
    const session = await this.#http("POST", "/api/v1/sessions", { username, password }, { auth: false });
    this.#useSession(session);
    await this.connect();
    return session;
  }

  // Logs out (the server closes the session's sockets with 4001) and forgets the session.
  async logout() {
    const token = this.session?.access_token;
    this.#wanted = false;
    if (token) {
      try {
        await this.#http("DELETE", "/api/v1/sessions/current", undefined, { token });
      } catch (err) {
        if (!(err instanceof ParleyError) || err.code !== "unauthorized") throw err;
      }
    }
    this.#signedOut("logged out");
  }

  // Trades the refresh token for a new pair (the old refresh token stops working).
  async refresh() {
    if (!this.#refreshing) {
      this.#refreshing = (async () => {
        try {
          const refresh_token = this.session?.refresh_token;
          if (!refresh_token) throw new ParleyError("signed_out", "no session to refresh");
          const session = await this.#http("POST", "/api/v1/sessions/refresh", { refresh_token }, { auth: false });
          this.#useSession(session);
          return session;
        } finally {
          this.#refreshing = null;
        }
      })();
    }
    return this.#refreshing;
  }

  #useSession(session) {
    this.session = session;
    this.emit("session", session);
  }

  #signedOut(reason) {
    this.#wanted = false;
    this.session = null;
    this.#teardown(new ParleyError("signed_out", reason));
    this.emit("session", null);
    this.#setState("signed_out", reason);
  }

  // --- the socket ----------------------------------------------------------------------------

  // Opens the socket (and keeps it open until close()); resolves when it is usable.
  connect() {
    if (!this.session) return Promise.reject(new ParleyError("signed_out", "log in first"));
    this.#wanted = true;
    if (this.state !== "open" && this.state !== "connecting") {
      clearTimeout(this.#reconnectTimer);
      this.#reconnectTimer = null;
      this.#open();
    }
    return this.ready();
  }

  // Resolves when the socket is open (at once if it is).
  ready() {
    if (this.state === "open") return Promise.resolve();
    if (!this.#wanted) return Promise.reject(new ParleyError("disconnected", "the client is not connecting"));
    return new Promise((resolve, reject) => this.#openWaiters.push({ resolve, reject }));
  }

  // Closes the socket for good (until connect() again); keeps the session.
  close() {
    this.#wanted = false;
    this.#teardown(new ParleyError("disconnected", "the client was closed"));
    this.#setState("closed");
  }

  // Drops the current socket as a network loss would, and reconnects at once (the features
  // resume from what they hold). Useful after the browser reports it is online again.
  reconnectNow() {
    if (!this.#wanted) return;
    this.backoff.reset();
    if (this.#ws) {
      this.#ws.close(4000, "reconnect");
      this.#lost(null);
    } else {
      clearTimeout(this.#reconnectTimer);
      this.#reconnectTimer = null;
      this.#open();
    }
  }

  #teardown(error) {
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;
    this.#stopHeartbeat();
    if (this.#ws) {
      const ws = this.#ws;
      this.#ws = null;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(1000, "bye");
      } catch {
        // already closed
      }
    }
    this.#failPending(error);
    for (const w of this.#openWaiters.splice(0)) w.reject(error);
  }

  #failPending(error) {
    for (const [, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(error);
    }
    this.#pending.clear();
  }

  async #open() {
    this.#setState("connecting");
    try {
      if (this.#expiresSoon()) await this.refresh();
    } catch (err) {
      if (err instanceof ParleyError && (err.code === "unauthorized" || err.code === "signed_out")) {
        this.#signedOut("the session expired");
      } else {
        this.#lost(null);
      }
      return;
    }
    if (!this.#wanted) return;
    const url = `${this.baseUrl.replace(/^http/, "ws")}/api/v1/ws?token=${encodeURIComponent(this.session.access_token)}`;
    let ws;
    try {
      ws = new this.WebSocket(url);
    } catch {
      this.#lost(null);
      return;
    }
    this.#ws = ws;
    ws.onopen = () => {
      // A ping round trip proves the server has registered the socket (REST calls need it).
      this.#sendRaw({ type: "ping", id: this.#takeId(ws) });
    };
    ws.onmessage = (event) => this.#onFrame(ws, event.data);
    ws.onclose = (event) => {
      if (this.#ws !== ws) return;
      this.#lost(event);
    };
    ws.onerror = () => {};
  }

  #takeId(ws) {
    const id = this.#nextId++;
    this.#pending.set(id, {
      resolve: () => this.#opened(ws),
      reject: () => {},
      timer: setTimeout(() => {
        this.#pending.delete(id);
        if (this.#ws === ws) {
          ws.close(4000, "no answer");
          this.#lost(null);
        }
      }, this.requestTimeoutMs),
    });
    return id;
  }

  #opened(ws) {
    if (this.#ws !== ws) return;
    const reconnect = this.#everOpened;
    this.#everOpened = true;
    this.#policyFailures = 0;
    this.#setState("open");
    this.#startHeartbeat();
    // A refusal now (removed from the room meanwhile) reaches the subscription's onError.
    for (const [topic, sub] of this.#subscriptions) this.#sendSubscribe(topic, sub).catch(() => {});
    for (const w of this.#openWaiters.splice(0)) w.resolve();
    this.emit(reconnect ? "reconnect" : "connect");
    // A connection that stays up for a while resets the back-off.
    clearTimeout(this.#stableTimer);
    this.#stableTimer = setTimeout(() => {
      if (this.#ws === ws && this.state === "open") this.backoff.reset();
    }, 5000);
  }

  #lost(event) {
    const ws = this.#ws;
    this.#ws = null;
    if (ws) ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    this.#stopHeartbeat();
    this.#failPending(new ParleyError("disconnected", "the connection was lost"));
    const code = event?.code;
    if (code === CLOSE_REVOKED) {
      this.#signedOut("the session was revoked");
      return;
    }
    if (!this.#wanted) return;
    this.emit("disconnect", { code, reason: event?.reason });
    if (code === CLOSE_POLICY) {
      // A refused token, or a per-account limit: refresh once, then back off.
      this.#policyFailures += 1;
      if (this.#policyFailures === 1 && this.session?.refresh_token) {
        this.refresh().then(
          () => this.#schedule(),
          (err) => (err?.code === "unauthorized" ? this.#signedOut("the session expired") : this.#schedule()),
        );
        return;
      }
    }
    this.#schedule();
  }

  #schedule() {
    if (!this.#wanted || this.#reconnectTimer) return;
    const delay = this.backoff.next();
    this.#setState("waiting", { delayMs: delay });
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      if (this.#wanted) this.#open();
    }, delay);
  }

  #startHeartbeat() {
    this.#stopHeartbeat();
    if (!(this.heartbeatMs > 0)) return;
    this.#heartbeatTimer = setInterval(() => {
      this.request({ type: "ping" }, { timeoutMs: Math.min(this.requestTimeoutMs, this.heartbeatMs) }).catch((err) => {
        if (err.code === "timeout" && this.#ws) {
          // No answer: the connection is dead even if the browser has not noticed.
          this.#ws.close(4000, "no pong");
          this.#lost(null);
        }
      });
    }, this.heartbeatMs);
  }

  #stopHeartbeat() {
    clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = null;
    clearTimeout(this.#stableTimer);
    this.#stableTimer = null;
  }

  #sendRaw(frame) {
    this.#ws.send(JSON.stringify(frame));
  }

  #onFrame(ws, data) {
    if (this.#ws !== ws) return;
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (!frame || typeof frame !== "object") return;
    if ((frame.type === "ok" || frame.type === "error" || frame.type === "pong") && frame.id != null) {
      const p = this.#pending.get(frame.id);
      if (p) {
        this.#pending.delete(frame.id);
        clearTimeout(p.timer);
        if (frame.type === "error") {
          p.reject(new ParleyError(frame.error, frame.message));
        } else {
          p.resolve(frame);
        }
        return;
      }
    }
    this.emit("frame", frame);
    if (typeof frame.type === "string") this.emit(frame.type, frame);
  }

  // Sends one request frame and resolves with the server's "ok" (or "pong") answer; rejects
  // with ParleyError (the server's error code, "disconnected" or "timeout").
  async request(frame, { timeoutMs = this.requestTimeoutMs } = {}) {
    await this.ready();
    return this.#requestNow(frame, timeoutMs);
  }

  #requestNow(frame, timeoutMs) {
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new ParleyError("timeout", `no answer to ${frame.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#sendRaw({ ...frame, id });
    });
  }

  // Sends a frame that needs no answer, if the socket is open; returns whether it was sent.
  notify(frame) {
    if (this.state !== "open") return false;
    this.#sendRaw(frame);
    return true;
  }

  // Holds a subscription to `topic` for as long as it is not removed: sent now if the socket
  // is open and again after every reconnect. `params()` adds fields to each subscribe frame.
  // Resolves with a function that unsubscribes; rejects when the server refuses the topic.
  subscribe(topic, { params = () => ({}), onError } = {}) {
    const sub = { params, onError };
    this.#subscriptions.set(topic, sub);
    const unsubscribe = () => this.unsubscribe(topic, sub);
    if (this.state !== "open") return Promise.resolve(unsubscribe);
    return this.#sendSubscribe(topic, sub).then(() => unsubscribe);
  }

  // Sends the subscription again now (Documents uses it to ask for a whole document).
  resubscribe(topic) {
    const sub = this.#subscriptions.get(topic);
    if (!sub || this.state !== "open") return Promise.resolve();
    return this.#sendSubscribe(topic, sub);
  }

  #sendSubscribe(topic, sub) {
    return this.#requestNow({ type: "subscribe", topic, ...sub.params() }, this.requestTimeoutMs).catch((err) => {
      if (err.code === "disconnected") return; // sent again on reconnect
      if (this.#subscriptions.get(topic) === sub) this.#subscriptions.delete(topic);
      sub.onError?.(err);
      throw err;
    });
  }

  unsubscribe(topic, sub) {
    if (sub && this.#subscriptions.get(topic) !== sub) return;
    if (!this.#subscriptions.delete(topic)) return;
    if (this.state === "open") this.#requestNow({ type: "unsubscribe", topic }, this.requestTimeoutMs).catch(() => {});
  }

  hasSubscription(topic) {
    return this.#subscriptions.has(topic);
  }

  // --- REST ----------------------------------------------------------------------------------

  // An authenticated REST call, made once the socket is open. `body`: a JSON value, or a
  // Blob/ArrayBuffer/Uint8Array sent raw. Resolves with the parsed JSON answer (null for 204).
  // An access token near its end is refreshed first; a 401 refreshes once and retries (the
  // session, and so its live socket, stays the same across a refresh).
  async api(method, path, body, options = {}) {
    if (!this.session) throw new ParleyError("signed_out", "log in first");
    await this.ready();
    if (this.#expiresSoon()) await this.#refreshOrSignOut();
    try {
      return await this.#http(method, path, body, options);
    } catch (err) {
      if (!(err instanceof ParleyError) || err.status !== 401 || !this.session?.refresh_token) throw err;
      await this.#refreshOrSignOut();
      return this.#http(method, path, body, options);
    }
  }

  #expiresSoon() {
    const at = this.session?.access_expires_at;
    return Boolean(at) && at - this.now() < this.refreshMarginMs;
  }

  async #refreshOrSignOut() {
    try {
      await this.refresh();
    } catch (err) {
      if (err instanceof ParleyError && (err.code === "unauthorized" || err.code === "signed_out")) {
        this.#signedOut("the session expired");
      }
      throw err;
    }
  }

  // The URL of an authenticated GET that a browser makes by itself (an <img src>).
  url(path) {
    const token = this.session?.access_token ?? "";
    return `${this.baseUrl}${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`;
  }

  async #http(method, path, body, { auth = true, token, headers = {} } = {}) {
    const h = { ...headers };
    const bearer = token ?? (auth ? this.session?.access_token : null);
    if (bearer) h.Authorization = `Bearer ${bearer}`;
    let payload;
    if (body !== undefined) {
      const raw = (typeof Blob !== "undefined" && body instanceof Blob) || body instanceof ArrayBuffer || ArrayBuffer.isView(body);
      if (raw) {
        payload = body;
        h["Content-Type"] ??= "application/octet-stream";
      } else {
        payload = JSON.stringify(body);
        h["Content-Type"] = "application/json";
      }
    }
    let res;
    try {
      res = await this.fetch(`${this.baseUrl}${path}`, { method, headers: h, body: payload });
    } catch (err) {
      throw new ParleyError("network", `${method} ${path}: ${err?.message ?? err}`);
    }
    if (res.status === 204) return null;
    const text = await res.text();
    let json = null;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
    }
    if (!res.ok) {
      const code = json?.error ?? (res.status === 404 ? "not_found" : "internal");
      const err = new ParleyError(code, json?.message ?? `${method} ${path}: HTTP ${res.status}`, {
        status: res.status,
        details: json?.details,
      });
      const retryAfter = res.headers?.get?.("Retry-After");
      if (retryAfter) err.retryAfterSeconds = Number(retryAfter);
      throw err;
    }
    return json;
  }
}
