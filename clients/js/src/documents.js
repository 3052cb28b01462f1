// Living documents (docs/api.md "Living documents"): a room as one JSON document that the
// server keeps in step with RFC 6902 patches.
//
//   const docs = new Documents(client);
//   const room = await docs.open(roomId);      // resolves once the whole document is here
//   room.value.title; room.value.messages; room.version;
//   room.on("change", (value, { version, ops, full }) => ...);
//   room.close();
//
// The first patch replaces the whole document; each later one must carry the version after
// the held one. After a reconnect the subscription is sent again with the held version, so
// the server sends only the missed patches (or the whole document when it no longer keeps
// them, or after its restart). A gap in the versions or a patch that does not apply makes
// the document ask for the whole document again; it never shows a state that skipped one.
import { Emitter } from "./emitter.js";
import { applyPatch, PatchError } from "./json_patch.js";

export class RoomDocument extends Emitter {
  #offs = [];
  #unsubscribe = null;
  #firstResolve;
  #firstReject;

  constructor(client, roomId) {
    super();
    this.client = client;
    this.roomId = roomId;
    this.topic = `room:${roomId}:doc`;
    this.value = null;
    this.version = null;
    this.resyncs = 0;
    this.closed = false;
    this.ready = new Promise((resolve, reject) => {
      this.#firstResolve = resolve;
      this.#firstReject = reject;
    });
    this.ready.catch(() => {});
    this.#offs.push(client.on("patch", (f) => f.topic === this.topic && this.#onPatch(f)));
    for (const type of ["removed", "room_deleted"]) {
      this.#offs.push(
        client.on(type, (f) => {
          if (f.room_id !== roomId) return;
          this.emit(type, f);
          this.close();
        }),
      );
    }
  }

  async start() {
    this.#unsubscribe = await this.client.subscribe(this.topic, {
      params: () => (this.version == null ? {} : { version: this.version }),
      onError: (err) => this.emit("error", err),
    });
    return this;
  }

  #onPatch(frame) {
    const ops = Array.isArray(frame.ops) ? frame.ops : [];
    const full = ops.length > 0 && ops[0].op === "replace" && ops[0].path === "";
    if (!full) {
      if (this.version == null || frame.version <= this.version) return; // not started, or already held
      if (frame.version !== this.version + 1) {
        this.#resync(`version ${frame.version} after ${this.version}`);
        return;
      }
    }
    let next;
    try {
      next = applyPatch(full ? null : this.value, ops);
    } catch (err) {
      if (!(err instanceof PatchError)) throw err;
      this.#resync(err.message);
      return;
    }
    this.value = next;
    this.version = frame.version;
    this.emit("change", this.value, { version: this.version, ops, full });
    if (full) this.#firstResolve(this);
  }

  // Drops the held state and asks for the whole document.
  #resync(why) {
    this.resyncs += 1;
    this.version = null;
    this.emit("resync", why);
    this.client.resubscribe(this.topic).catch(() => {});
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    for (const off of this.#offs) off();
    this.#unsubscribe?.();
    this.#firstReject(new Error("the document was closed"));
  }
}

export class Documents {
  #open = new Map();

  constructor(client) {
    this.client = client;
  }

  // The room's document, once its whole content has arrived (shared by every caller).
  async open(roomId) {
    let doc = this.#open.get(roomId);
    if (!doc || doc.closed) {
      doc = new RoomDocument(this.client, roomId);
      this.#open.set(roomId, doc);
      doc.on("removed", () => this.#open.delete(roomId));
      doc.on("room_deleted", () => this.#open.delete(roomId));
      try {
        await doc.start();
      } catch (err) {
        this.#open.delete(roomId);
        doc.close();
        throw err;
      }
    }
    await doc.ready;
    return doc;
  }

  get(roomId) {
    return this.#open.get(roomId) ?? null;
  }

  close(roomId) {
    this.#open.get(roomId)?.close();
    this.#open.delete(roomId);
  }
}
