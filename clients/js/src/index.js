// The Parley client library: one ParleyClient (one socket, REST) and features over it.
export { ParleyClient } from "./client.js";
export { ParleyError } from "./errors.js";
export { Backoff } from "./backoff.js";
export { Emitter } from "./emitter.js";
export { applyPatch, applyOperation, parsePointer, deepEqual, PatchError } from "./json_patch.js";
export { Chat, newClientMsgId } from "./chat.js";
export { Rooms } from "./rooms.js";
export { Presence } from "./presence.js";
export { Typing } from "./typing.js";
export { Documents, RoomDocument } from "./documents.js";
export { Media } from "./media.js";
export { Profiles } from "./profiles.js";
export { Account } from "./account.js";
export { Maintenance } from "./maintenance.js";
export { Notifications } from "./notifications.js";
export { Signer, canonicalMessage, verifyMessage, bytesToBase64, base64ToBytes } from "./signing.js";
