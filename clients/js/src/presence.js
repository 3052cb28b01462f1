// Presence: who is connected to a room (docs/api.md: "presence {room_id, online}" on the
// room:{id}:presence topic, sent at once and on every change).
//
//   const presence = new Presence(client);
//   await presence.watch(roomId);
//   presence.users(roomId);                         // account ids online now
//   presence.on("change", ({ roomId, online }) => ...);
import { Emitter } from "./emitter.js";

export class Presence extends Emitter {
  #online = new Map(); // room id -> account ids
  #watched = new Map();

  constructor(client) {
    super();
    this.client = client;
    client.on("presence", (f) => {
      if (!this.#watched.has(f.room_id)) return;
      const online = Array.isArray(f.online) ? [...f.online] : [];
      this.#online.set(f.room_id, online);
      this.emit("change", { roomId: f.room_id, online });
    });
  }

  async watch(roomId) {
    if (this.#watched.has(roomId)) return;
    this.#watched.set(roomId, null);
    try {
      this.#watched.set(roomId, await this.client.subscribe(`room:${roomId}:presence`));
    } catch (err) {
      this.#watched.delete(roomId);
      throw err;
    }
  }

  unwatch(roomId) {
    const off = this.#watched.get(roomId);
    this.#watched.delete(roomId);
    this.#online.delete(roomId);
    off?.();
  }

  users(roomId) {
    return [...(this.#online.get(roomId) ?? [])];
  }

  isOnline(roomId, accountId) {
    return (this.#online.get(roomId) ?? []).includes(accountId);
  }
}
