// Profiles (docs/api.md "Profiles"): {account_id, username, name, text, visibility, avatar}.
// Others' profiles are cached for `ttlMs`, since a chat shows the same few people again and
// again; a private profile of someone who shares no room with the caller is not_found.
export class Profiles {
  #cache = new Map(); // account id -> {at, promise}

  constructor(client, { ttlMs = 60000 } = {}) {
    this.client = client;
    this.ttlMs = ttlMs;
  }

  me() {
    return this.client.api("GET", "/api/v1/profiles/me");
  }

  // Any of name, text, visibility ("public" | "private"), avatar (a ready content id, or null).
  async update(fields) {
    const profile = await this.client.api("PUT", "/api/v1/profiles/me", fields);
    this.#cache.set(profile.account_id, { at: Date.now(), promise: Promise.resolve(profile) });
    return profile;
  }

  get(accountId, { fresh = false } = {}) {
    const hit = this.#cache.get(accountId);
    if (hit && !fresh && Date.now() - hit.at < this.ttlMs) return hit.promise;
    const promise = this.client.api("GET", `/api/v1/profiles/${encodeURIComponent(accountId)}`);
    this.#cache.set(accountId, { at: Date.now(), promise });
    promise.catch(() => this.#cache.delete(accountId));
    return promise;
  }
}
