// Typing indicators (docs/api.md: "typing {room_id}" from the client, at most one per
// chat.typing_interval_ms reaches the others as "typing {room_id, account_id, active: true}" on
// the room:{id}:typing topic; "typing {room_id, active: false}" says the typist stopped). A
// typist counts as typing until its stop, its message, or `expireMs` after the last notice;
// notify() sends at most one frame per `intervalMs`, so it can be called on every keystroke,
// and stop() when the draft is cleared.
//
//   const typing = new Typing(client);
//   await typing.watch(roomId);
//   input.oninput = () => typing.notify(roomId);
//   typing.on("change", ({ roomId, users }) => ...);
import { Emitter } from "./emitter.js";
import { RoomTopics } from "./room_topics.js";

export class Typing extends Emitter {
  #typists = new Map(); // room id -> Map(account id -> timer)
  #lastSent = new Map(); // room id -> time
  #rooms;

  constructor(client, { expireMs = 4000, intervalMs = 2000, now = () => Date.now() } = {}) {
    super();
    this.client = client;
    this.expireMs = expireMs;
    this.intervalMs = intervalMs;
    this.now = now;
    this.#rooms = new RoomTopics(client, "typing");
    client.on("typing", (f) => {
      if (!this.#rooms.has(f.room_id) || f.account_id === client.accountId) return;
      if (f.active === false) {
        this.#stopped(f.room_id, f.account_id);
        return;
      }
      let room = this.#typists.get(f.room_id);
      if (!room) this.#typists.set(f.room_id, (room = new Map()));
      clearTimeout(room.get(f.account_id));
      room.set(
        f.account_id,
        setTimeout(() => this.#stopped(f.room_id, f.account_id), this.expireMs),
      );
      this.emit("change", { roomId: f.room_id, users: this.users(f.room_id) });
    });
    // A message from a typist ends its typing.
    client.on("message", (m) => this.ended(m.room_id, m.sender_id));
  }

  // Says that `accountId` stopped typing in the room: a message from it arrived (through a
  // document, when the room's chat topic is not watched). The caller's own message ends its
  // typing on the others' screens too, so its next notify() is sent at once.
  ended(roomId, accountId) {
    if (accountId === this.client.accountId) this.#lastSent.delete(roomId);
    this.#stopped(roomId, accountId);
  }

  #stopped(roomId, accountId) {
    const room = this.#typists.get(roomId);
    if (!room?.has(accountId)) return;
    clearTimeout(room.get(accountId));
    room.delete(accountId);
    this.emit("change", { roomId, users: this.users(roomId) });
  }

  watch(roomId) {
    return this.#rooms.watch(roomId);
  }

  unwatch(roomId) {
    this.#rooms.unwatch(roomId);
    for (const timer of this.#typists.get(roomId)?.values() ?? []) clearTimeout(timer);
    this.#typists.delete(roomId);
  }

  // Account ids typing in the room now (never the caller).
  users(roomId) {
    return [...(this.#typists.get(roomId)?.keys() ?? [])];
  }

  // Says "I am typing"; returns whether a frame was sent (throttled to one per intervalMs).
  notify(roomId) {
    const now = this.now();
    if (now - (this.#lastSent.get(roomId) ?? -Infinity) < this.intervalMs) return false;
    if (!this.client.notify({ type: "typing", room_id: roomId })) return false;
    this.#lastSent.set(roomId, now);
    return true;
  }

  // Says "I stopped typing" (the draft was cleared), only if a notice of typing went out
  // within expireMs; returns whether a frame was sent. The next notify() is sent at once.
  stop(roomId) {
    const last = this.#lastSent.get(roomId);
    this.#lastSent.delete(roomId);
    if (last === undefined || this.now() - last >= this.expireMs) return false;
    return this.client.notify({ type: "typing", room_id: roomId, active: false });
  }
}
