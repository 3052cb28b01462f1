// The Parley web client: sign up and log in, rooms (list, create, join by id), chat with live
// updates through the room's living document, presence, typing, profile with avatar and
// images, the maintenance notice, the notification bell. Built on the client library served at /lib/ (clients/js).
// Everything the server sends is shown with textContent, never parsed as HTML.
import {
  ParleyClient, ParleyError, Account, Chat, Rooms, Presence, Typing, Documents, Media, Profiles, Maintenance,
  Notifications, Signer, verifyMessage, newClientMsgId,
} from "/lib/index.js";

const $ = (id) => document.getElementById(id);
const SESSION_KEY = "parley.session";

const client = new ParleyClient({ session: loadSession() });
const rooms = new Rooms(client);
const chat = new Chat(client);
const presence = new Presence(client);
const typing = new Typing(client);
const documents = new Documents(client);
const media = new Media(client);
const profiles = new Profiles(client);
const maintenance = new Maintenance(client);
const account = new Account(client);
const notifications = new Notifications(client);

const view = {
  me: null, // my profile
  roomList: [],
  current: null, // {roomId, doc, offs: [], messages: Map(seq -> message), pending: Map(cmid -> li)}
};

// --- session ------------------------------------------------------------------------------------

function loadSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY));
  } catch {
    return null;
  }
}

client.on("session", (session) => {
  if (session) sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  else sessionStorage.removeItem(SESSION_KEY);
});

client.on("state", (state) => {
  const bar = $("connection");
  if (state === "signed_out") {
    showAuth("You have been signed out.");
    bar.hidden = true;
    return;
  }
  const away = state === "waiting" || (state === "connecting" && view.me);
  bar.hidden = !away;
  if (away) bar.textContent = "Connection lost — reconnecting…";
});
window.addEventListener("online", () => client.reconnectNow());

function showAuth(message = "") {
  leaveRoom();
  notifications.stop();
  showNotifications(false);
  view.me = null;
  chat.signer = null; // the next account uses its own key
  Object.assign(gallery, { items: [], next: null, usage: 0, quota: 0 });
  $("app-view").hidden = true;
  $("auth-view").hidden = false;
  $("auth-error").textContent = message;
}

// The app view shows only once it can be filled: who is signed in and their notifications
// (the unread ones that arrived while away come right after the subscription: the bell).
async function enterApp() {
  await notifications.start();
  view.me = await profiles.me();
  renderMe();
  $("auth-view").hidden = true;
  $("app-view").hidden = false;
  await applyRoomPolicy();
  await refreshRooms();
  const wanted = location.hash.slice(1);
  if (wanted && view.roomList.some((r) => r.room_id === wanted)) await openRoom(wanted);
}

$("auth-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const action = event.submitter?.value ?? "login";
  const username = form.username.value.trim();
  const password = form.password.value;
  $("auth-error").textContent = "";
  for (const b of form.querySelectorAll("button")) b.disabled = true;
  try {
    if (action === "signup") await client.register(username, password);
    await client.login(username, password);
    form.password.value = "";
    await enterApp();
  } catch (err) {
    $("auth-error").textContent = describe(err, action === "signup" ? "sign up" : "log in");
  } finally {
    for (const b of form.querySelectorAll("button")) b.disabled = false;
  }
});

$("logout-button").addEventListener("click", async () => {
  try {
    await client.logout();
  } catch {
    // signed out locally all the same
  }
  showAuth();
});

function describe(err, what) {
  if (!(err instanceof ParleyError)) return `Could not ${what}: ${err?.message ?? err}`;
  const known = {
    unauthorized: "Wrong username or password.",
    conflict: "That username is taken.",
    rate_limited: `Too many attempts; try again${err.retryAfterSeconds ? ` in ${err.retryAfterSeconds} s` : " later"}.`,
    network: "The server cannot be reached.",
  };
  return known[err.code] ?? err.message;
}

// --- me and my profile -------------------------------------------------------------------------

function initials(name) {
  return (name || "?").trim().slice(0, 1).toUpperCase();
}

function fillAvatar(el, name, avatar) {
  el.replaceChildren();
  if (avatar) {
    const img = document.createElement("img");
    img.alt = "";
    img.src = media.thumbnailUrl(avatar);
    img.onerror = () => el.replaceChildren(document.createTextNode(initials(name)));
    el.append(img);
  } else {
    el.textContent = initials(name);
  }
}

function renderMe() {
  const me = view.me;
  $("me-name").textContent = me.name || me.username;
  $("me-username").textContent = `@${me.username}`;
  fillAvatar($("me-avatar"), me.name || me.username, me.avatar);
}

// The profile dialog's gallery: this account's images from the server, a page at a time.
const gallery = { items: [], next: null, usage: 0, quota: 0 };

async function loadGallery({ more = false } = {}) {
  try {
    const page = await media.list({ limit: 48, cursor: more ? gallery.next : undefined });
    gallery.items = more ? [...gallery.items, ...page.media] : page.media;
    gallery.next = page.next;
    gallery.usage = page.usage_bytes;
    gallery.quota = page.quota_bytes;
  } catch (err) {
    $("profile-status").textContent = describe(err, "list your images");
  }
  renderGallery();
}

function size(bytes) {
  if (bytes < 1048576) return `${Math.ceil(bytes / 1024)} KB`;
  return `${(bytes / 1048576).toFixed(bytes < 10485760 ? 1 : 0)} MB`;
}

function renderGallery() {
  const me = view.me;
  const list = $("gallery");
  list.replaceChildren();
  for (const record of gallery.items.filter((r) => r.state === "ready")) {
    const id = record.content_id;
    const item = document.createElement("div");
    item.className = "item";
    const use = document.createElement("button");
    use.type = "button";
    use.className = "use";
    use.title = "Use as avatar";
    use.classList.toggle("current", id === me.avatar);
    const img = document.createElement("img");
    img.alt = "";
    img.loading = "lazy";
    img.src = media.thumbnailUrl(id);
    use.append(img);
    use.addEventListener("click", () => setAvatar(id));
    const del = document.createElement("button");
    del.type = "button";
    del.className = "delete";
    del.title = "Delete this image";
    del.setAttribute("aria-label", "Delete this image");
    del.textContent = "×";
    del.addEventListener("click", () => deleteImage(id));
    item.append(use, del);
    list.append(item);
  }
  $("gallery-more").hidden = !gallery.next;
  $("media-usage").textContent = gallery.quota ? `· ${size(gallery.usage)} of ${size(gallery.quota)}` : "";
}

async function deleteImage(contentId) {
  try {
    const done = await media.remove(contentId);
    gallery.items = gallery.items.filter((r) => r.content_id !== contentId);
    gallery.usage = done.usage_bytes;
    renderGallery();
    $("profile-status").textContent = "Image deleted.";
  } catch (err) {
    $("profile-status").textContent = describe(err, "delete the image");
  }
}

// Another page of this account deleted one.
media.on("deleted", (contentId) => {
  if (!gallery.items.some((r) => r.content_id === contentId)) return;
  gallery.items = gallery.items.filter((r) => r.content_id !== contentId);
  renderGallery();
});
$("gallery-more").addEventListener("click", () => loadGallery({ more: true }));

function renderProfileDialog() {
  const me = view.me;
  const form = $("profile-form");
  form.name.value = me.name ?? "";
  form.text.value = me.text ?? "";
  form.private.checked = me.visibility === "private";
  fillAvatar($("profile-avatar"), me.name || me.username, me.avatar);
  renderGallery();
}

async function setAvatar(contentId) {
  try {
    view.me = await profiles.update({ avatar: contentId });
    renderMe();
    renderProfileDialog();
    $("profile-status").textContent = "Avatar updated.";
  } catch (err) {
    $("profile-status").textContent = describe(err, "set the avatar");
  }
}

async function uploadImages(files, { asAvatar }) {
  const status = $("profile-status");
  for (const file of files) {
    status.textContent = `Uploading ${file.name}…`;
    try {
      const record = await media.upload(file);
      await loadGallery();
      if (asAvatar) await setAvatar(record.content_id);
      status.textContent = `${file.name}: ${record.width}×${record.height}, ready.`;
    } catch (err) {
      status.textContent = `${file.name}: ${describeUpload(err)}`;
    }
  }
}

function describeUpload(err) {
  const known = {
    not_an_image: "not an image (JPEG, PNG, WebP or GIF).",
    unsupported: "this image format is not accepted.",
    too_small: "the image is too small.",
    too_many_pixels: "the image is too large.",
    too_large: "the file is too large.",
    quota_exceeded: "your storage is full; delete some images first.",
  };
  return known[err?.code] ?? err?.message ?? String(err);
}

$("profile-button").addEventListener("click", () => {
  $("profile-status").textContent = "";
  renderProfileDialog();
  $("profile-dialog").showModal();
  loadGallery();
});
$("avatar-input").addEventListener("change", (e) => {
  uploadImages([...e.target.files], { asAvatar: true });
  e.target.value = "";
});
$("image-input").addEventListener("change", (e) => {
  uploadImages([...e.target.files], { asAvatar: false });
  e.target.value = "";
});
$("profile-form").addEventListener("submit", async (event) => {
  if (event.submitter?.value !== "save") return;
  event.preventDefault();
  const form = event.currentTarget;
  try {
    view.me = await profiles.update({
      name: form.name.value.trim(),
      text: form.text.value,
      visibility: form.private.checked ? "private" : "public",
    });
    renderMe();
    if (view.current) renderRoom();
    $("profile-dialog").close();
  } catch (err) {
    $("profile-status").textContent = describe(err, "save the profile");
  }
});

// --- password and devices ---------------------------------------------------------------------

function when(ms) {
  return new Date(ms).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

async function renderSessions() {
  const list = $("session-list");
  try {
    const sessions = await account.sessions();
    list.replaceChildren();
    for (const s of sessions) {
      const li = document.createElement("li");
      li.classList.toggle("current", s.current);
      const label = document.createElement("span");
      label.textContent = `${s.current ? "This device" : "Another device"} · since ${when(s.created_at)}`;
      li.append(label);
      if (!s.current) {
        const end = document.createElement("button");
        end.type = "button";
        end.className = "secondary";
        end.textContent = "Sign out";
        end.addEventListener("click", async () => {
          try {
            await account.endSession(s.session_id);
            $("account-status").textContent = "That device is signed out.";
          } catch (err) {
            $("account-status").textContent = describe(err, "sign that device out");
          }
          renderSessions();
        });
        li.append(end);
      }
      list.append(li);
    }
  } catch (err) {
    $("account-status").textContent = describe(err, "list the devices");
  }
}

$("account-button").addEventListener("click", () => {
  $("profile-dialog").close();
  $("account-status").textContent = "";
  $("password-form").reset();
  $("account-dialog").showModal();
  renderSessions();
});

$("password-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const status = $("account-status");
  try {
    const done = await account.changePassword(form.current.value, form.next.value);
    form.reset();
    const others = done.sessions_revoked;
    status.textContent = `Password changed.${others ? ` ${others} other device${others === 1 ? " was" : "s were"} signed out.` : ""}`;
    renderSessions();
  } catch (err) {
    const known = { forbidden: "The current password is wrong." };
    status.textContent = known[err?.code] ?? describe(err, "change the password");
  }
});

// --- rooms --------------------------------------------------------------------------------------

async function refreshRooms() {
  view.roomList = await rooms.list();
  renderRoomList();
  renderBell(); // the notifications name rooms by their titles
}

function renderRoomList() {
  const list = $("room-list");
  list.replaceChildren();
  for (const r of view.roomList) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.roomId = r.room_id;
    b.classList.toggle("active", view.current?.roomId === r.room_id);
    const avatar = document.createElement("span");
    avatar.className = "avatar";
    avatar.textContent = initials(r.title);
    const name = document.createElement("span");
    name.className = "room-name";
    name.textContent = r.title || "Untitled";
    b.append(avatar, name);
    const unread = view.current?.roomId === r.room_id ? 0 : r.unread;
    if (unread > 0) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = String(unread);
      b.append(badge);
    }
    b.addEventListener("click", () => openRoom(r.room_id));
    li.append(b);
    list.append(li);
  }
}

client.on("notification", (n) => {
  if (n.kind === "invitation") refreshRooms().catch(() => {});
});

// --- notifications: the bell ---------------------------------------------------------------------

let notificationsNext = null; // the "before" of the next older page, or null

function renderBell() {
  const count = $("bell-count");
  count.hidden = notifications.unread === 0;
  count.textContent = notifications.unread > 99 ? "99+" : String(notifications.unread);
  $("bell").setAttribute("aria-label", `Notifications (${notifications.unread} unread)`);
  if ($("notifications").hidden) return;
  const list = $("notification-list");
  list.replaceChildren();
  for (const n of notifications.items) {
    const li = document.createElement("li");
    li.className = n.read_at == null ? "unread" : "";
    li.dataset.id = String(n.id);
    const b = document.createElement("button");
    const title = view.roomList.find((r) => r.room_id === n.room_id)?.title || "a room";
    const what = document.createElement("span");
    what.textContent = n.kind === "invitation" ? `Invited to “${title}”` : `Mentioned in “${title}”`;
    const when = document.createElement("time");
    when.dateTime = new Date(n.created_at).toISOString();
    when.textContent = new Date(n.created_at).toLocaleString();
    b.append(what, when);
    b.addEventListener("click", () => openNotification(n));
    li.append(b);
    list.append(li);
  }
  $("notifications-empty").hidden = notifications.items.length > 0;
  $("notifications-more").hidden = notificationsNext == null;
}
notifications.on("change", renderBell);

function showNotifications(show) {
  $("notifications").hidden = !show;
  $("bell").setAttribute("aria-expanded", String(show));
}

async function loadNotifications(before) {
  try {
    const page = await notifications.list({ limit: 20, before });
    notificationsNext = page.next;
    renderBell();
  } catch (err) {
    $("sidebar-error").textContent = describe(err, "load the notifications");
  }
}

async function openNotification(n) {
  try {
    if (n.read_at == null) await notifications.markRead([n.id]);
    if (!view.roomList.some((r) => r.room_id === n.room_id)) await refreshRooms();
    if (view.roomList.some((r) => r.room_id === n.room_id)) await openRoom(n.room_id);
  } catch (err) {
    $("sidebar-error").textContent = describe(err, "open the notification");
  }
}

$("bell").addEventListener("click", () => {
  const show = $("notifications").hidden;
  showNotifications(show);
  if (show) loadNotifications();
});
$("notifications-more").addEventListener("click", () => loadNotifications(notificationsNext));
$("notifications-read-all").addEventListener("click", () =>
  notifications.markAllRead().catch((err) => ($("sidebar-error").textContent = describe(err, "mark them read"))),
);

// The create-room form starts with the server's rule for new rooms: signed messages unless the
// server says otherwise; unticking is offered only when the server allows unsigned rooms.
async function applyRoomPolicy() {
  const box = $("create-room").signed;
  try {
    const policy = await rooms.policy();
    box.checked = box.defaultChecked = policy.require_signatures;
    // The server's allow_unsigned_rooms already says whether unticking would be accepted.
    box.disabled = !policy.allow_unsigned_rooms;
    box.title = box.disabled ? "This server requires signed messages in every room" : "";
  } catch {
    // An older server without the route: keep the form as it is (signed ticked).
  }
}

$("create-room").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  $("sidebar-error").textContent = "";
  try {
    const roomId = await rooms.create({
      title: form.title.value.trim(),
      requireSignatures: form.signed.checked,
      // Rooms are invite-only unless their creator opens them to anyone with the id.
      joinPolicy: form.open.checked ? "open" : "invite",
    });
    form.reset();
    await refreshRooms();
    await openRoom(roomId);
  } catch (err) {
    $("sidebar-error").textContent = describe(err, "create the room");
  }
});

$("join-room").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const roomId = form.room.value.trim();
  $("sidebar-error").textContent = "";
  try {
    await rooms.join(roomId, { displayName: view.me.name || view.me.username });
    form.reset();
    await refreshRooms();
    await openRoom(roomId);
  } catch (err) {
    $("sidebar-error").textContent =
      err?.code === "not_found" ? "No room with that id." : describe(err, "join the room");
  }
});

// --- one open room ------------------------------------------------------------------------------

function leaveRoom() {
  const cur = view.current;
  if (!cur) return;
  for (const off of cur.offs) off();
  documents.close(cur.roomId);
  presence.unwatch(cur.roomId);
  typing.unwatch(cur.roomId);
  view.current = null;
  $("app-view").classList.remove("in-room");
  $("chat-room").hidden = true;
  $("chat-empty").hidden = false;
}

async function openRoom(roomId) {
  if (view.current?.roomId === roomId) {
    $("app-view").classList.add("in-room");
    return;
  }
  leaveRoom();
  const cur = { roomId, doc: null, offs: [], messages: new Map(), pending: new Map(), verified: new Map() };
  view.current = cur;
  history.replaceState(null, "", `#${roomId}`);
  $("chat-error").textContent = "";
  try {
    const [doc] = await Promise.all([documents.open(roomId), presence.watch(roomId), typing.watch(roomId)]);
    if (view.current !== cur) return;
    cur.doc = doc;
    cur.offs.push(doc.on("change", () => renderRoom()));
    cur.offs.push(presence.on("change", ({ roomId: r }) => r === roomId && renderOnline()));
    cur.offs.push(typing.on("change", ({ roomId: r }) => r === roomId && renderTyping()));
    cur.offs.push(doc.on("removed", () => closeWith("You are no longer a member of this room.")));
    cur.offs.push(doc.on("room_deleted", () => closeWith("This room was deleted.")));
    // Refused when subscribing again after a reconnect: removed or deleted while away.
    cur.offs.push(doc.on("error", () => closeWith("This room is no longer available.")));
    $("messages").replaceChildren();
    $("chat-empty").hidden = true;
    $("chat-room").hidden = false;
    $("app-view").classList.add("in-room");
    renderRoom();
    renderOnline();
    renderTyping();
    renderRoomList();
    // This browser's key is registered with every room it opens, so that its messages are
    // signed everywhere; in a room that requires signatures, sending waits for it.
    setComposerEnabled(false);
    const signing = ensureSigningKey(roomId, doc.value);
    const canSend = doc.value.require_signatures ? await signing : true;
    if (view.current !== cur) return;
    setComposerEnabled(canSend);
    if (canSend) $("message-input").focus();
  } catch (err) {
    if (view.current === cur) leaveRoom();
    $("sidebar-error").textContent = describe(err, "open the room");
  }
}

function closeWith(message) {
  leaveRoom();
  $("sidebar-error").textContent = message;
  refreshRooms().catch(() => {});
}

function memberName(doc, accountId) {
  const m = doc?.members?.[accountId];
  return m?.display_name || m?.username || accountId.slice(0, 6);
}

function renderRoom() {
  const cur = view.current;
  if (!cur?.doc?.value) return;
  const doc = cur.doc.value;
  chat.noteDocument(cur.roomId, doc);
  $("room-title").textContent = (doc.require_signatures ? "🔒 " : "") + (doc.title || "Untitled");
  $("room-id").textContent = cur.roomId;
  // Messages seen so far stay on screen when the document's window of recent ones moves on.
  for (const m of doc.messages) cur.messages.set(m.seq, m);
  const list = $("messages");
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const shown = new Set([...list.querySelectorAll("li[data-seq]")].map((li) => Number(li.dataset.seq)));
  for (const m of [...cur.messages.values()].sort((a, b) => a.seq - b.seq)) {
    if (shown.has(m.seq)) continue;
    const pending = cur.pending.get(m.client_msg_id);
    if (pending && m.sender_id === client.accountId) {
      pending.remove();
      cur.pending.delete(m.client_msg_id);
    }
    typing.ended(cur.roomId, m.sender_id);
    const li = messageItem(doc, m);
    const after = [...list.querySelectorAll("li[data-seq]")].find((x) => Number(x.dataset.seq) > m.seq);
    list.insertBefore(li, after ?? list.querySelector("li.pending") ?? null);
    group(li);
    if (li.nextElementSibling) group(li.nextElementSibling);
  }
  if (nearBottom || shown.size === 0) list.scrollTop = list.scrollHeight;
  const last = doc.last_seq;
  if (last > (cur.readSeq ?? 0)) {
    cur.readSeq = last;
    rooms.markRead(cur.roomId, last).catch(() => {});
  }
}

// A message right after one from the same sender (within five minutes) shows no name or
// avatar of its own.
function group(li) {
  const prev = li.previousElementSibling;
  const same =
    prev && prev.dataset.sender === li.dataset.sender && Number(li.dataset.at) - Number(prev.dataset.at) < 5 * 60000;
  li.classList.toggle("cont", Boolean(same));
}

function messageItem(doc, m, { pending = false } = {}) {
  const mine = m.sender_id === client.accountId;
  const li = document.createElement("li");
  li.className = `message${mine ? " mine" : ""}${pending ? " pending" : ""}`;
  if (!pending) li.dataset.seq = String(m.seq);
  li.dataset.sender = m.sender_id;
  li.dataset.at = String(m.sent_at ?? Date.now());
  const name = memberName(doc, m.sender_id);
  const avatar = document.createElement("span");
  avatar.className = "avatar";
  avatar.textContent = initials(name);
  if (!mine) {
    profiles.get(m.sender_id).then(
      (p) => p.avatar && fillAvatar(avatar, name, p.avatar),
      () => {},
    );
  } else if (view.me?.avatar) {
    fillAvatar(avatar, name, view.me.avatar);
  }
  const bubble = document.createElement("div");
  bubble.className = "bubble";
  const meta = document.createElement("div");
  meta.className = "meta";
  const who = document.createElement("strong");
  who.textContent = mine ? "You" : name;
  const when = document.createElement("time");
  when.dateTime = new Date(m.sent_at ?? Date.now()).toISOString();
  when.textContent = pending ? "sending…" : new Date(m.sent_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  meta.append(who, when);
  if (m.signature) {
    const mark = document.createElement("span");
    mark.className = "signed";
    mark.textContent = "…";
    verifyMessage(m, doc.members?.[m.sender_id]?.public_key).then((ok) => {
      mark.textContent = ok ? "✓ signed" : "⚠ bad signature";
      mark.title = ok ? "Signature verified with the sender's key" : "The signature does not match the sender's key";
    });
    meta.append(mark);
  }
  bubble.append(meta);
  if (m.media) bubble.append(attachment(m.media));
  const text = document.createElement("div");
  text.className = "text";
  text.textContent = m.text;
  if (m.text || !m.media) bubble.append(text);
  li.append(avatar, bubble);
  return li;
}

// An image in a message: its thumbnail, opening the full image in a new tab. A deleted one
// (the server answers 404) says so instead.
function attachment(contentId) {
  const link = document.createElement("a");
  link.className = "attachment";
  link.href = media.imageUrl(contentId);
  link.target = "_blank";
  link.rel = "noopener";
  const img = document.createElement("img");
  img.alt = "An image";
  img.src = media.thumbnailUrl(contentId);
  img.onerror = () => {
    const gone = document.createElement("span");
    gone.className = "gone";
    gone.textContent = "This image was deleted.";
    link.replaceWith(gone);
  };
  link.append(img);
  return link;
}

function renderOnline() {
  const cur = view.current;
  if (!cur?.doc?.value) return;
  const ul = $("online");
  ul.replaceChildren();
  for (const id of presence.users(cur.roomId)) {
    const li = document.createElement("li");
    li.dataset.accountId = id;
    li.textContent = id === client.accountId ? "You" : memberName(cur.doc.value, id);
    ul.append(li);
  }
}

function renderTyping() {
  const cur = view.current;
  if (!cur?.doc?.value) return;
  const names = typing.users(cur.roomId).map((id) => memberName(cur.doc.value, id));
  $("typing").textContent =
    names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : `${names.join(", ")} are typing…`;
}

$("back-button").addEventListener("click", () => {
  $("app-view").classList.remove("in-room");
  refreshRooms().catch(() => {});
});

$("leave-button").addEventListener("click", async () => {
  const cur = view.current;
  if (!cur || !confirm(`Leave "${cur.doc?.value?.title ?? "this room"}"?`)) return;
  try {
    await rooms.leave(cur.roomId);
    closeWith("");
  } catch (err) {
    $("chat-error").textContent = describe(err, "leave the room");
  }
});

$("room-id").addEventListener("click", async () => {
  const id = view.current?.roomId;
  if (!id) return;
  try {
    await navigator.clipboard.writeText(id);
    $("room-id").textContent = "Copied";
    setTimeout(() => view.current?.roomId === id && ($("room-id").textContent = id), 1200);
  } catch {
    // the id stays visible to copy by hand
  }
});

// Typing while there is a draft; a cleared draft says so at once instead of letting it expire.
$("message-input").addEventListener("input", () => {
  if (!view.current) return;
  if ($("message-input").value) typing.notify(view.current.roomId);
  else typing.stop(view.current.roomId);
});

// Sends the draft (and an uploaded image, when given) with a pending bubble until it is stored.
async function sendMessage(cur, text, mediaId) {
  $("chat-error").textContent = "";
  const clientMsgId = newClientMsgId();
  const draft = { sender_id: client.accountId, text, client_msg_id: clientMsgId, media: mediaId };
  const li = messageItem(cur.doc.value, draft, { pending: true });
  cur.pending.set(clientMsgId, li);
  $("messages").append(li);
  group(li);
  $("messages").scrollTop = $("messages").scrollHeight;
  try {
    await chat.send(cur.roomId, text, { clientMsgId, media: mediaId });
  } catch (err) {
    li.classList.add("failed");
    li.querySelector("time").textContent = "not sent";
    $("chat-error").textContent = describe(err, "send");
  }
}

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const cur = view.current;
  const input = $("message-input");
  const text = input.value.trim();
  if (!cur?.doc || !text) return;
  input.value = "";
  await sendMessage(cur, text);
});

// An image goes up first (the server processes it), then into the room with the draft as its
// caption.
$("attach-input").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  event.target.value = "";
  const cur = view.current;
  if (!file || !cur?.doc) return;
  $("chat-error").textContent = `Uploading ${file.name}…`;
  let record;
  try {
    record = await media.upload(file);
  } catch (err) {
    $("chat-error").textContent = `${file.name}: ${describeUpload(err)}`;
    return;
  }
  if (view.current !== cur) return;
  const input = $("message-input");
  const text = input.value.trim();
  input.value = "";
  await sendMessage(cur, text, record.content_id);
});

// --- signing keys -------------------------------------------------------------------------------

// The Ed25519 key of this browser for this account, kept in IndexedDB as a CryptoKeyPair whose
// private key cannot be exported.
function keyStore() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open("parley-keys", 1);
    req.onupgradeneeded = () => req.result.createObjectStore("keys");
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function storedKeyPair(accountId) {
  const db = await keyStore();
  return new Promise((resolve, reject) => {
    const req = db.transaction("keys").objectStore("keys").get(accountId);
    req.onsuccess = () => resolve(req.result ?? null);
    req.onerror = () => reject(req.error);
  });
}

async function storeKeyPair(accountId, keyPair) {
  const db = await keyStore();
  return new Promise((resolve, reject) => {
    const tx = db.transaction("keys", "readwrite");
    tx.objectStore("keys").put(keyPair, accountId);
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
  });
}

// One lookup at a time: two rooms opened in quick succession must not make two keys.
let signerLookup = null;
function signerForMe() {
  if (chat.signer) return Promise.resolve(chat.signer);
  signerLookup ??= (async () => {
    const accountId = client.accountId;
    const keyPair = await storedKeyPair(accountId).catch(() => null);
    const signer = keyPair ? await Signer.fromKeyPair(keyPair) : await Signer.generate();
    if (!keyPair) await storeKeyPair(accountId, signer.keyPair).catch(() => {});
    chat.signer = signer;
    return signer;
  })().finally(() => {
    signerLookup = null;
  });
  return signerLookup;
}

// Registers this browser's public key with the room unless the document already shows it;
// resolves with whether it is registered. Where the room does not require signatures a failure
// (a browser without Ed25519 in WebCrypto) only means its messages go unsigned.
async function ensureSigningKey(roomId, doc) {
  try {
    const signer = await signerForMe();
    if (doc.members?.[client.accountId]?.public_key !== signer.publicKey) await chat.registerKey(roomId);
    return true;
  } catch (err) {
    if (doc.require_signatures) {
      $("chat-error").textContent = `Messages here must be signed, and this browser cannot: ${err?.message ?? err}`;
    }
    return false;
  }
}

function setComposerEnabled(enabled) {
  for (const el of $("composer").elements) el.disabled = !enabled;
}

// --- maintenance --------------------------------------------------------------------------------

function renderMaintenance() {
  const notice = maintenance.notice;
  const banner = $("maintenance");
  banner.hidden = !notice;
  if (!notice) return;
  const at = new Date(notice.at);
  const minutes = Math.round((notice.at - Date.now()) / 60000);
  const what = notice.action === "reboot" ? "The server host will reboot" : "The server will restart";
  const when = at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  banner.textContent =
    minutes > 0 ? `${what} at ${when} (in ${minutes} min) for maintenance.` : `${what} for maintenance now.`;
}
maintenance.on("change", renderMaintenance);
setInterval(renderMaintenance, 30000);

// --- start --------------------------------------------------------------------------------------

if (client.session) {
  client
    .connect()
    .then(enterApp)
    .catch(() => showAuth());
} else {
  showAuth();
}
