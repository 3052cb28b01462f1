// Rooms over REST (docs/api.md "Rooms"): list, create, join by id (optionally registering a
// signing key), leave, read the document, rename, add members, move the read marker.
export class Rooms {
  constructor(client) {
    this.client = client;
  }

  async list() {
    return (await this.client.api("GET", "/api/v1/rooms")).rooms;
  }

  // kind: "group" | "direct" | "ephemeral"; members: account ids to invite. joinPolicy:
  // "invite" (the server's default: only members and invited accounts may join) or "open"
  // (anyone with the id). requireSignatures: left out, the server's default applies (see
  // policy()); false is refused (forbidden) by a server that requires signed messages and
  // allows no unsigned rooms.
  async create({ title, kind = "group", members = [], requireSignatures, joinPolicy } = {}) {
    const body = { title, kind, members };
    if (requireSignatures !== undefined) body.require_signatures = requireSignatures;
    if (joinPolicy !== undefined) body.join_policy = joinPolicy;
    return (await this.client.api("POST", "/api/v1/rooms", body)).room_id;
  }

  // {require_signatures, allow_unsigned_rooms}: what a new room gets without
  // requireSignatures, and whether it may be created unsigned.
  policy() {
    return this.client.api("GET", "/api/v1/room-policy");
  }

  // Joins (or, as a member, updates the display name and key). publicKey: base64 Ed25519.
  join(roomId, { displayName, publicKey } = {}) {
    const body = {};
    if (displayName !== undefined) body.display_name = displayName;
    if (publicKey !== undefined) body.public_key = publicKey;
    return this.client.api("POST", `/api/v1/rooms/${encodeURIComponent(roomId)}/join`, body);
  }

  leave(roomId) {
    return this.client.api("POST", `/api/v1/rooms/${encodeURIComponent(roomId)}/leave`, {});
  }

  // {version, document}
  get(roomId) {
    return this.client.api("GET", `/api/v1/rooms/${encodeURIComponent(roomId)}`);
  }

  rename(roomId, title) {
    return this.client.api("PATCH", `/api/v1/rooms/${encodeURIComponent(roomId)}`, { title });
  }

  addMember(roomId, accountId, role = "member") {
    return this.client.api("POST", `/api/v1/rooms/${encodeURIComponent(roomId)}/members`, { account_id: accountId, role });
  }

  async markRead(roomId, seq) {
    return (await this.client.request({ type: "ack", room_id: roomId, seq })).read_seq;
  }
}
