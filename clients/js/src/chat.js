// Chat: sending messages and hearing new ones (docs/api.md "WebSocket frames for rooms").
//
//   const chat = new Chat(client, { signer });
//   await chat.watch(roomId);                  // "message" events for that room
//   chat.on("message", (m) => ...);            // {room_id, seq, sender_id, client_msg_id, text, sent_at}
//   const { seq } = await chat.send(roomId, "hello");
//
// A send carries a client_msg_id; when the socket drops before the answer it is sent again
// with the same id after the reconnect, and the server stores it once (a resend answers with
// the stored seq and "duplicate": true). In a room that requires signatures the message is
// signed with the Signer (which must be the key registered at join).
import { Emitter } from "./emitter.js";
import { RoomTopics } from "./room_topics.js";
import { ParleyError } from "./errors.js";

// The time in milliseconds (12 hex digits) and 8 random bytes: ids that sort by time are
// stored next to the sender's previous ones, which is the cheapest write for the server's
// resend index (docs/storage.md); the random half keeps two tabs of one account apart.
export function newClientMsgId() {
  const bytes = new Uint8Array(8);
  globalThis.crypto.getRandomValues(bytes);
  const time = Date.now().toString(16).padStart(12, "0");
  return time + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class Chat extends Emitter {
  #rooms;
  #signatureRule = new Map(); // room id -> require_signatures

  constructor(client, { signer = null, sendAttempts = 3 } = {}) {
    super();
    this.client = client;
    this.signer = signer;
    this.sendAttempts = sendAttempts;
    this.#rooms = new RoomTopics(client, "chat");
    client.on("message", (m) => this.emit("message", m));
  }

  watch(roomId) {
    return this.#rooms.watch(roomId);
  }

  unwatch(roomId) {
    this.#rooms.unwatch(roomId);
  }

  // What the room's document says (Documents tells Chat, so no extra request is needed).
  noteRoom(roomId, requireSignatures) {
    this.#signatureRule.set(roomId, Boolean(requireSignatures));
  }

  async requiresSignatures(roomId) {
    if (!this.#signatureRule.has(roomId)) {
      const { document } = await this.client.api("GET", `/api/v1/rooms/${encodeURIComponent(roomId)}`);
      this.#signatureRule.set(roomId, Boolean(document.require_signatures));
    }
    return this.#signatureRule.get(roomId);
  }

  // Resolves with {room_id, seq, sent_at, duplicate} once the message is stored. `media`: the
  // content id of one of this account's ready images to attach (text may then be "").
  async send(roomId, text, { clientMsgId = newClientMsgId(), media } = {}) {
    const frame = { type: "send", room_id: roomId, text, client_msg_id: clientMsgId };
    if (media) frame.media = media;
    if (await this.requiresSignatures(roomId)) {
      if (!this.signer) throw new ParleyError("invalid_signature", "this room requires signed messages: set chat.signer");
      await this.client.ready();
      frame.signature = await this.signer.signMessage(roomId, this.client.accountId, clientMsgId, text, media);
    }
    for (let attempt = 1; ; attempt++) {
      try {
        const ok = await this.client.request(frame);
        const { type, id, ...rest } = ok;
        return rest;
      } catch (err) {
        const retry = err instanceof ParleyError && (err.code === "disconnected" || err.code === "timeout");
        if (!retry || attempt >= this.sendAttempts) throw err;
      }
    }
  }

  // Stored messages after `afterSeq`, ascending (at most 1000 per call).
  async history(roomId, { afterSeq = 0, limit = 100 } = {}) {
    const q = `after_seq=${afterSeq}&limit=${limit}`;
    return (await this.client.api("GET", `/api/v1/rooms/${encodeURIComponent(roomId)}/messages?${q}`)).messages;
  }
}
