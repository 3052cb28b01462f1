// Chat: sending messages and hearing new ones (docs/api.md "WebSocket frames for rooms").
//
//   const chat = new Chat(client, { signer });
//   await chat.watch(roomId);                  // "message" events for that room
//   chat.on("message", (m) => ...);            // {room_id, seq, sender_id, client_msg_id, text, sent_at}
//   const { seq } = await chat.send(roomId, "hello");
//
// A send carries a client_msg_id; when the socket drops before the answer it is sent again
// with the same id after the reconnect, and the server stores it once (a resend answers with
// the stored seq and "duplicate": true).
//
// Signing: with a Signer, every message is signed where the room's document shows the Signer's
// public key registered for this account (chat.registerKey(roomId) registers it), as bots do;
// in a room that requires signatures a message cannot be sent without it. signByDefault: false
// signs only where the room requires it. Should an optional signature be refused (the key was
// changed from another device meanwhile), the message is sent again unsigned and the room's key
// is looked up again before the next.
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
  #signatureRule = new Map(); // room id -> {required, key: this account's registered key or null}

  constructor(client, { signer = null, sendAttempts = 3, signByDefault = true } = {}) {
    super();
    this.client = client;
    this.signer = signer;
    this.signByDefault = signByDefault;
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

  // What the room's document says (the web client passes each version it renders, so no extra
  // request is needed). publicKey: this account's registered key in the room (null: none);
  // left out, what was known stays.
  noteRoom(roomId, requireSignatures, publicKey) {
    const known = this.#signatureRule.get(roomId);
    const key = publicKey !== undefined ? publicKey ?? null : known?.key ?? null;
    this.#signatureRule.set(roomId, { required: Boolean(requireSignatures), key });
  }

  noteDocument(roomId, document) {
    const mine = document?.members?.[this.client.accountId];
    this.noteRoom(roomId, document?.require_signatures, mine?.public_key ?? null);
  }

  async #rule(roomId) {
    if (!this.#signatureRule.has(roomId)) {
      await this.client.ready();
      const { document } = await this.client.api("GET", `/api/v1/rooms/${encodeURIComponent(roomId)}`);
      this.noteDocument(roomId, document);
    }
    return this.#signatureRule.get(roomId);
  }

  async requiresSignatures(roomId) {
    return (await this.#rule(roomId)).required;
  }

  // Registers the Signer's public key as this account's key in the room (joining it, if it is
  // open and this account is not yet a member); later messages there are signed.
  async registerKey(roomId) {
    if (!this.signer) throw new ParleyError("invalid_signature", "no signer: set chat.signer first");
    const publicKey = this.signer.publicKey;
    await this.client.api("POST", `/api/v1/rooms/${encodeURIComponent(roomId)}/join`, { public_key: publicKey });
    const known = this.#signatureRule.get(roomId);
    if (known) known.key = publicKey;
  }

  // Resolves with {room_id, seq, sent_at, duplicate} once the message is stored. `media`: the
  // content id of one of this account's ready images to attach (text may then be "").
  async send(roomId, text, { clientMsgId = newClientMsgId(), media } = {}) {
    const frame = { type: "send", room_id: roomId, text, client_msg_id: clientMsgId };
    if (media) frame.media = media;
    const rule = await this.#rule(roomId);
    const optional = !rule.required && this.signByDefault && this.signer !== null && rule.key === this.signer.publicKey;
    if (rule.required || optional) {
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
        if (optional && frame.signature && err instanceof ParleyError && err.code === "invalid_signature") {
          // Refused for a signature the room does not ask for: nothing was stored.
          delete frame.signature;
          this.#signatureRule.delete(roomId);
          attempt--;
          continue;
        }
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
