// Types of the Parley client library (hand-written; the library is plain ES modules).

export type Unsubscribe = () => void;

export class Emitter {
  on(event: string, handler: (...args: any[]) => void): Unsubscribe;
  once(event: string, handler: (...args: any[]) => void): Unsubscribe;
  off(event: string, handler: (...args: any[]) => void): void;
  emit(event: string, ...args: any[]): void;
}

export class ParleyError extends Error {
  constructor(code: string, message?: string, options?: { status?: number; details?: unknown });
  /** The server's machine code, or "disconnected" | "timeout" | "network" | "signed_out". */
  code: string;
  /** The HTTP status of a REST failure; 0 for socket and local failures. */
  status: number;
  details?: unknown;
  retryAfterSeconds?: number;
}

export interface BackoffOptions {
  baseMs?: number;
  maxMs?: number;
  random?: () => number;
}

export class Backoff {
  constructor(options?: BackoffOptions);
  baseMs: number;
  maxMs: number;
  attempt: number;
  /** The next delay in ms: uniform in [cap/2, cap], cap = min(maxMs, baseMs * 2^attempt). */
  next(): number;
  reset(): void;
}

export interface Session {
  account_id: string;
  session_id: string;
  access_token: string;
  refresh_token: string;
  access_expires_at: number;
  refresh_expires_at: number;
}

export type ClientState = "idle" | "connecting" | "open" | "waiting" | "closed" | "signed_out";

/** A frame from the server: every frame is a JSON object with a `type`. */
export interface ServerFrame {
  type: string;
  [field: string]: unknown;
}

export interface ClientOptions {
  /** Defaults to location.origin in a browser. */
  baseUrl?: string;
  WebSocket?: typeof WebSocket;
  fetch?: typeof fetch;
  session?: Session | null;
  requestTimeoutMs?: number;
  /** An application ping every heartbeatMs; no answer closes and reconnects. 0: none. */
  heartbeatMs?: number;
  /** Refresh the access token when it expires within this margin before (re)connecting. */
  refreshMarginMs?: number;
  backoff?: Backoff | BackoffOptions;
  now?: () => number;
}

export class ParleyClient extends Emitter {
  constructor(options?: ClientOptions);
  baseUrl: string;
  session: Session | null;
  state: ClientState;
  backoff: Backoff;
  readonly accountId: string | null;
  readonly connected: boolean;

  register(username: string, password: string): Promise<string>;
  /** Logs in and resolves once the socket is open. */
  login(username: string, password: string): Promise<Session>;
  logout(): Promise<void>;
  refresh(): Promise<Session>;

  connect(): Promise<void>;
  ready(): Promise<void>;
  close(): void;
  reconnectNow(): void;

  /** One request frame; resolves with the server's "ok" answer. */
  request(frame: { type: string; [field: string]: unknown }, options?: { timeoutMs?: number }): Promise<ServerFrame>;
  /** A frame that needs no answer, sent only while open; returns whether it was sent. */
  notify(frame: { type: string; [field: string]: unknown }): boolean;
  subscribe(topic: string, options?: { params?: () => object; onError?: (err: ParleyError) => void }): Promise<Unsubscribe>;
  resubscribe(topic: string): Promise<void>;
  unsubscribe(topic: string): void;
  hasSubscription(topic: string): boolean;

  api<T = any>(method: string, path: string, body?: unknown, options?: { headers?: Record<string, string> }): Promise<T>;
  /** An authenticated URL for a GET the browser makes itself (?token=). */
  url(path: string): string;

  on(event: "state", handler: (state: ClientState, detail?: unknown) => void): Unsubscribe;
  on(event: "session", handler: (session: Session | null) => void): Unsubscribe;
  on(event: "connect" | "reconnect", handler: () => void): Unsubscribe;
  on(event: "disconnect", handler: (info: { code?: number; reason?: string }) => void): Unsubscribe;
  on(event: string, handler: (frame: ServerFrame) => void): Unsubscribe;
}

export interface Message {
  room_id: string;
  seq: number;
  sender_id: string;
  client_msg_id: string;
  text: string;
  /** The content id of an attached image. */
  media?: string;
  sent_at: number;
  signature?: string;
}

export interface SendResult {
  room_id: string;
  seq: number;
  sent_at: number;
  duplicate: boolean;
}

export function newClientMsgId(): string;

export class Chat extends Emitter {
  constructor(client: ParleyClient, options?: { signer?: Signer | null; sendAttempts?: number; signByDefault?: boolean });
  signer: Signer | null;
  signByDefault: boolean;
  watch(roomId: string): Promise<void>;
  unwatch(roomId: string): void;
  noteRoom(roomId: string, requireSignatures: boolean, publicKey?: string | null): void;
  noteDocument(roomId: string, document: RoomDocumentValue): void;
  requiresSignatures(roomId: string): Promise<boolean>;
  registerKey(roomId: string): Promise<void>;
  send(roomId: string, text: string, options?: { clientMsgId?: string; media?: string }): Promise<SendResult>;
  history(roomId: string, options?: { afterSeq?: number; limit?: number }): Promise<Message[]>;
  on(event: "message", handler: (message: Message) => void): Unsubscribe;
}

export interface RoomSummary {
  room_id: string;
  kind: "group" | "direct" | "ephemeral";
  title: string;
  role: "owner" | "member" | "viewer";
  last_seq: number;
  read_seq: number;
  unread: number;
}

export interface RoomMember {
  display_name: string;
  role: "owner" | "member" | "viewer";
  username: string;
  public_key: string | null;
}

export interface RoomDocumentValue {
  id: string;
  kind: "group" | "direct" | "ephemeral";
  title: string;
  require_signatures: boolean;
  created_by: string;
  created_at: number;
  last_seq: number;
  members: Record<string, RoomMember>;
  messages: Message[];
}

export class Rooms {
  constructor(client: ParleyClient);
  list(): Promise<RoomSummary[]>;
  /** joinPolicy: "invite" (default: members and invited accounts only) or "open" (anyone with the id). */
  create(options?: { title?: string; kind?: "group" | "direct" | "ephemeral"; members?: string[]; requireSignatures?: boolean; joinPolicy?: "invite" | "open" }): Promise<string>;
  policy(): Promise<{ require_signatures: boolean; allow_unsigned_rooms: boolean }>;
  join(roomId: string, options?: { displayName?: string; publicKey?: string }): Promise<{ room_id: string; account_id: string; role: string; display_name: string }>;
  leave(roomId: string): Promise<{ room_id: string; left: boolean }>;
  get(roomId: string): Promise<{ version: number; document: RoomDocumentValue }>;
  rename(roomId: string, title: string): Promise<unknown>;
  addMember(roomId: string, accountId: string, role?: "owner" | "member" | "viewer"): Promise<unknown>;
  markRead(roomId: string, seq: number): Promise<number>;
}

export class Presence extends Emitter {
  constructor(client: ParleyClient);
  watch(roomId: string): Promise<void>;
  unwatch(roomId: string): void;
  users(roomId: string): string[];
  isOnline(roomId: string, accountId: string): boolean;
  on(event: "change", handler: (change: { roomId: string; online: string[] }) => void): Unsubscribe;
}

export class Typing extends Emitter {
  constructor(client: ParleyClient, options?: { expireMs?: number; intervalMs?: number; now?: () => number });
  watch(roomId: string): Promise<void>;
  unwatch(roomId: string): void;
  users(roomId: string): string[];
  notify(roomId: string): boolean;
  stop(roomId: string): boolean;
  /** accountId stopped typing: a message from it arrived. */
  ended(roomId: string, accountId: string): void;
  on(event: "change", handler: (change: { roomId: string; users: string[] }) => void): Unsubscribe;
}

export interface JsonPatchOperation {
  op: "add" | "remove" | "replace" | "move" | "copy" | "test";
  path: string;
  from?: string;
  value?: unknown;
}

export class PatchError extends Error {
  op?: JsonPatchOperation;
}
export function parsePointer(pointer: string): string[];
export function applyOperation<T = unknown>(doc: T, op: JsonPatchOperation): T;
/** Atomic: returns a new document, or throws PatchError and leaves `doc` untouched. */
export function applyPatch<T = unknown>(doc: T, ops: JsonPatchOperation[]): T;
export function deepEqual(a: unknown, b: unknown): boolean;

export class RoomDocument extends Emitter {
  constructor(client: ParleyClient, roomId: string);
  readonly roomId: string;
  readonly topic: string;
  value: RoomDocumentValue | null;
  version: number | null;
  resyncs: number;
  closed: boolean;
  ready: Promise<RoomDocument>;
  start(): Promise<RoomDocument>;
  close(): void;
  on(event: "change", handler: (value: RoomDocumentValue, info: { version: number; ops: JsonPatchOperation[]; full: boolean }) => void): Unsubscribe;
  on(event: "resync", handler: (why: string) => void): Unsubscribe;
  on(event: "removed" | "room_deleted", handler: (frame: ServerFrame) => void): Unsubscribe;
  on(event: "error", handler: (err: ParleyError) => void): Unsubscribe;
}

export class Documents {
  constructor(client: ParleyClient);
  open(roomId: string): Promise<RoomDocument>;
  get(roomId: string): RoomDocument | null;
  close(roomId: string): void;
}

export interface MediaRecord {
  content_id: string;
  state: "processing" | "ready" | "failed";
  /** The uploaded original's format (jpeg, png, webp, gif); the served files are always JPEG. */
  format?: string;
  width?: number;
  height?: number;
  bytes?: number;
  etag?: string;
  thumbnail?: { width: number; height: number; bytes: number; etag: string };
  created_at?: number;
  updated_at?: number;
  error?: string;
  message?: string;
}

export interface MediaPage {
  media: MediaRecord[];
  /** Pass back as `cursor` for the next page; null on the last. */
  next: string | null;
  usage_bytes: number;
  quota_bytes: number;
}

export interface MediaDeletion {
  content_id: string;
  deleted: true;
  freed_bytes: number;
  usage_bytes: number;
}

export class Media extends Emitter {
  constructor(client: ParleyClient, options?: { processTimeoutMs?: number });
  upload(data: Blob | ArrayBuffer | ArrayBufferView): Promise<MediaRecord>;
  list(options?: { limit?: number; cursor?: string }): Promise<MediaPage>;
  remove(contentId: string): Promise<MediaDeletion>;
  info(contentId: string): Promise<MediaRecord>;
  imageUrl(contentId: string): string;
  thumbnailUrl(contentId: string): string;
  on(event: "result", handler: (record: MediaRecord) => void): Unsubscribe;
  on(event: "deleted", handler: (contentId: string) => void): Unsubscribe;
}

export interface Profile {
  account_id: string;
  username: string;
  name: string;
  text: string;
  visibility: "public" | "private";
  avatar: string | null;
  updated_at: number;
}

export class Profiles {
  constructor(client: ParleyClient, options?: { ttlMs?: number });
  me(): Promise<Profile>;
  update(fields: Partial<Pick<Profile, "name" | "text" | "visibility" | "avatar">>): Promise<Profile>;
  get(accountId: string, options?: { fresh?: boolean }): Promise<Profile>;
}

export interface SessionInfo {
  session_id: string;
  created_at: number;
  /** When its refresh token runs out. */
  expires_at: number;
  current: boolean;
}

export class Account {
  constructor(client: ParleyClient);
  changePassword(currentPassword: string, newPassword: string): Promise<{ changed: true; sessions_revoked: number }>;
  sessions(): Promise<SessionInfo[]>;
  endSession(sessionId: string): Promise<{ session_id: string; revoked: true }>;
}

export interface MaintenanceNotice {
  at: number;
  action: "restart" | "reboot" | string;
}

export class Maintenance extends Emitter {
  constructor(client: ParleyClient);
  notice: MaintenanceNotice | null;
  on(event: "change", handler: (notice: MaintenanceNotice | null) => void): Unsubscribe;
}

export interface StoredNotification {
  id: number;
  kind: "mention" | "invitation" | string;
  room_id: string;
  seq?: number;
  from: string;
  created_at: number;
  read_at: number | null;
}

export interface NotificationPage {
  notifications: StoredNotification[];
  unread: number;
  next: string | null;
}

export class Notifications extends Emitter {
  constructor(client: ParleyClient);
  unread: number;
  items: StoredNotification[];
  start(): Promise<void>;
  stop(): void;
  list(options?: { limit?: number; before?: string | number; unreadOnly?: boolean }): Promise<NotificationPage>;
  unreadCount(): Promise<number>;
  markRead(ids: Iterable<number>): Promise<{ marked: number; unread: number }>;
  markAllRead(): Promise<{ marked: number; unread: number }>;
  on(event: "change", handler: (state: { unread: number; items: StoredNotification[] }) => void): Unsubscribe;
  on(event: "notification", handler: (notification: StoredNotification) => void): Unsubscribe;
}

export function canonicalMessage(roomId: string, senderId: string, clientMsgId: string, text: string, media?: string): string;
export function bytesToBase64(bytes: Uint8Array | ArrayBuffer): string;
export function base64ToBytes(text: string): Uint8Array;
export function verifyMessage(message: Message, publicKeyBase64: string | null): Promise<boolean>;

export class Signer {
  constructor(keyPair: CryptoKeyPair, publicKeyRaw: Uint8Array);
  static generate(options?: { extractable?: boolean }): Promise<Signer>;
  static fromKeyPair(keyPair: CryptoKeyPair): Promise<Signer>;
  keyPair: CryptoKeyPair;
  publicKeyRaw: Uint8Array;
  /** base64 of the 32 raw bytes, as POST /api/v1/rooms/{id}/join wants it. */
  readonly publicKey: string;
  sign(text: string): Promise<string>;
  signMessage(roomId: string, senderId: string, clientMsgId: string, text: string, media?: string): Promise<string>;
}
