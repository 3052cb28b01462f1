// The rooms a feature follows on one topic field (room:{id}:<field>): one subscription per
// room, none left behind when subscribing fails, and a room counts as followed from the
// moment watch() is called (frames arriving during the subscribe round trip are kept).
export class RoomTopics {
  #offs = new Map(); // room id -> unsubscribe (null while subscribing)

  constructor(client, field) {
    this.client = client;
    this.field = field;
  }

  has(roomId) {
    return this.#offs.has(roomId);
  }

  async watch(roomId) {
    if (this.#offs.has(roomId)) return;
    this.#offs.set(roomId, null);
    try {
      this.#offs.set(roomId, await this.client.subscribe(`room:${roomId}:${this.field}`));
    } catch (err) {
      this.#offs.delete(roomId);
      throw err;
    }
  }

  unwatch(roomId) {
    const off = this.#offs.get(roomId);
    this.#offs.delete(roomId);
    off?.();
  }
}
