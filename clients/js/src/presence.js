// Presence: who is connected to a room (docs/api.md: "presence {room_id, online}" on the
// room:{id}:presence topic, sent at once and on every change).
//
//   const presence = new Presence(client);
//   await presence.watch(roomId);
//   presence.users(roomId);                         // account ids online now
//   presence.on("change", ({ roomId, online }) => ...);
import { Emitter } from "./emitter.js";
import { RoomTopics } from "./room_topics.js";

export class Presence extends Emitter {
  #online = new Map(); // room id -> account ids
  #rooms;

  constructor(client) {
    super();
    this.client = client;
    this.#rooms = new RoomTopics(client, "presence");
    client.on("presence", (f) => {
      if (!this.#rooms.has(f.room_id)) return;
      const online = Array.isArray(f.online) ? [...f.online] : [];
      this.#online.set(f.room_id, online);
      this.emit("change", { roomId: f.room_id, online });
    });
  }

  watch(roomId) {
    return this.#rooms.watch(roomId);
  }

  unwatch(roomId) {
    this.#rooms.unwatch(roomId);
    this.#online.delete(roomId);
  }

  users(roomId) {
    return [...(this.#online.get(roomId) ?? [])];
  }

  isOnline(roomId, accountId) {
    return (this.#online.get(roomId) ?? []).includes(accountId);
  }
}
