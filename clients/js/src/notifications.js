// Notifications (docs/api.md "Notifications"): the mentions and invitations the server stores
// for this account. start() holds a subscription to account:me:notifications (sent again after
// every reconnect); each time, the server answers with the unread ones that arrived while the
// socket was away, then sends each new one as it is stored. `unread` and `items` follow the
// server; older ones are paged with list().
//
//   const notifications = new Notifications(client);
//   notifications.on("change", () => render(notifications.unread, notifications.items));
//   notifications.on("notification", (n) => toast(n));     // a new one, live
//   await notifications.start();
//   const { notifications: page, next } = await notifications.list({ before: next });
//   await notifications.markRead([n.id]);
//   await notifications.markAllRead();
import { Emitter } from "./emitter.js";

const TOPIC = "account:me:notifications";

export class Notifications extends Emitter {
  #byId = new Map(); // id -> notification, every one this object has seen
  #stop = null;

  constructor(client) {
    super();
    this.client = client;
    this.unread = 0;
    this.items = []; // the known notifications, newest first
    client.on("notifications", (f) => {
      for (const n of f.notifications ?? []) this.#remember(n);
      this.unread = f.unread ?? 0;
      this.#changed();
    });
    client.on("notification", (f) => {
      const { type, ...n } = f;
      if (this.#byId.has(n.id)) return; // already in the unread ones sent on subscribing
      this.#remember(n);
      if (n.read_at == null) this.unread += 1;
      this.emit("notification", n);
      this.#changed();
    });
    // Marked read on another device of the account.
    client.on("notifications_read", (f) => this.#apply(f));
  }

  // Subscribes (and keeps the subscription across reconnects); resolves once the server took it.
  async start() {
    if (!this.#stop) this.#stop = await this.client.subscribe(TOPIC);
  }

  // Unsubscribes and forgets what it knew (another account may sign in next).
  stop() {
    this.#stop?.();
    this.#stop = null;
    this.#byId.clear();
    this.items = [];
    this.unread = 0;
    this.#changed();
  }

  // One page, newest first: {notifications, unread, next}. Pass `next` back as `before`.
  async list({ limit, before, unreadOnly } = {}) {
    const q = new URLSearchParams();
    if (limit != null) q.set("limit", String(limit));
    if (before != null) q.set("before", String(before));
    if (unreadOnly) q.set("unread_only", "true");
    const query = q.toString();
    const page = await this.client.api("GET", `/api/v1/notifications${query ? `?${query}` : ""}`);
    for (const n of page.notifications) this.#remember(n);
    this.unread = page.unread;
    this.#changed();
    return page;
  }

  // The unread count as the server has it now.
  async unreadCount() {
    const { unread } = await this.client.api("GET", "/api/v1/notifications/unread");
    this.unread = unread;
    this.#changed();
    return unread;
  }

  // Marks these notifications read: {marked, unread}.
  async markRead(ids) {
    const list = [...ids];
    if (list.length === 0) return { marked: 0, unread: this.unread };
    const answer = await this.client.api("POST", "/api/v1/notifications/read", { ids: list });
    this.#apply({ ids: list, unread: answer.unread });
    return answer;
  }

  // Marks read every notification up to the newest this object knows of (one stored since, not
  // yet seen here, stays unread): {marked, unread}.
  async markAllRead() {
    const newest = this.items[0]?.id;
    if (newest == null) return { marked: 0, unread: this.unread };
    const answer = await this.client.api("POST", "/api/v1/notifications/read", { up_to: newest });
    this.#apply({ up_to: newest, unread: answer.unread });
    return answer;
  }

  #apply({ ids, up_to: upTo, unread }) {
    const at = Date.now();
    const hit = ids ? new Set(ids) : null;
    for (const n of this.#byId.values()) {
      if (n.read_at != null) continue;
      if (hit ? hit.has(n.id) : n.id <= upTo) n.read_at = at;
    }
    if (typeof unread === "number") this.unread = unread;
    this.#changed();
  }

  #remember(n) {
    const known = this.#byId.get(n.id);
    if (known) {
      Object.assign(known, n);
      return;
    }
    const copy = { ...n };
    this.#byId.set(copy.id, copy);
    this.items = [...this.#byId.values()].sort((a, b) => b.id - a.id);
  }

  #changed() {
    this.emit("change", { unread: this.unread, items: this.items });
  }
}
