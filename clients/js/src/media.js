// Media (docs/api.md "Media"): upload an image, learn its outcome from the "media" event, and
// build the URLs of the processed image and its thumbnail (with ?token= for <img src>).
//
//   const media = new Media(client);
//   const record = await media.upload(file);   // {content_id, state: "ready", width, ...}
//   img.src = media.thumbnailUrl(record.content_id);
//   const { media: mine, next } = await media.list({ limit: 50 });
//   await media.remove(record.content_id);
import { Emitter } from "./emitter.js";
import { ParleyError } from "./errors.js";

export class Media extends Emitter {
  #results = new Map(); // content id -> final record (the event may come before the 202)
  #waiters = new Map(); // content id -> [resolve]

  constructor(client, { processTimeoutMs = 60000 } = {}) {
    super();
    this.client = client;
    this.processTimeoutMs = processTimeoutMs;
    client.on("media", (f) => {
      const { type, ...record } = f;
      if (record.state === "processing") return;
      if (record.state === "deleted") {
        this.#results.delete(record.content_id);
        this.emit("deleted", record.content_id);
        return;
      }
      this.#results.set(record.content_id, record);
      this.emit("result", record);
      for (const resolve of this.#waiters.get(record.content_id) ?? []) resolve(record);
      this.#waiters.delete(record.content_id);
    });
  }

  // Uploads a Blob/File/ArrayBuffer and resolves with the processed record (state "ready");
  // rejects with the failure's code (not_an_image, too_small, ...) when processing fails.
  async upload(data) {
    const accepted = await this.client.api("POST", "/api/v1/media", data);
    const record = await this.#result(accepted.content_id);
    if (record.state !== "ready") throw new ParleyError(record.error ?? "failed", record.message, { details: record });
    return record;
  }

  #result(contentId) {
    const known = this.#results.get(contentId);
    if (known) return Promise.resolve(known);
    return new Promise((resolve, reject) => {
      const list = this.#waiters.get(contentId) ?? [];
      list.push(resolve);
      this.#waiters.set(contentId, list);
      // A reconnect in between would miss the event: ask the server as a fallback.
      const poll = setInterval(async () => {
        try {
          const info = await this.info(contentId);
          if (info.state !== "processing") {
            clearInterval(poll);
            clearTimeout(timeout);
            resolve(info);
          }
        } catch {
          // try again at the next tick
        }
      }, 3000);
      const timeout = setTimeout(() => {
        clearInterval(poll);
        reject(new ParleyError("timeout", "the image was not processed in time"));
      }, this.processTimeoutMs);
      list.push(() => {
        clearInterval(poll);
        clearTimeout(timeout);
      });
    });
  }

  // One page of this account's own images, newest first:
  // {media: [record...], next: cursor|null, usage_bytes, quota_bytes}. Pass `next` back as
  // `cursor` for the following page.
  list({ limit, cursor } = {}) {
    const q = new URLSearchParams();
    if (limit != null) q.set("limit", String(limit));
    if (cursor != null) q.set("cursor", cursor);
    const query = q.toString();
    return this.client.api("GET", `/api/v1/media${query ? `?${query}` : ""}`);
  }

  // Deletes one of this account's images (not one still processing, not the avatar):
  // {content_id, deleted: true, freed_bytes, usage_bytes}. Every page of the account also
  // hears of it ("deleted" event).
  remove(contentId) {
    return this.client.api("DELETE", `/api/v1/media/${encodeURIComponent(contentId)}`);
  }

  info(contentId) {
    return this.client.api("GET", `/api/v1/media/${encodeURIComponent(contentId)}/info`);
  }

  imageUrl(contentId) {
    return this.client.url(`/api/v1/media/${encodeURIComponent(contentId)}`);
  }

  thumbnailUrl(contentId) {
    return this.client.url(`/api/v1/media/${encodeURIComponent(contentId)}/thumbnail`);
  }
}
