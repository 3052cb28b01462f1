// The web client end to end: two headless Chromium pages (Debian's /usr/bin/chromium, driven
// by playwright-core) chat through a real `parley server`. They sign up, one creates a room,
// the other joins it by id; each sees the other online, typing and chatting; one page's
// socket is cut while the other sends, and on reconnect it resumes its document from the held
// version and shows what it missed; then the server itself restarts and both pages reconnect
// and chat on. Every message is signed with WebCrypto Ed25519, in the room that requires it
// and in the one that does not, and each page verifies the other's; a profile gets a name and an uploaded avatar, and an
// image is deleted from the gallery; an image is sent into the room; a maintenance notice from the (stand-in) manager shows on both pages;
// a mention made while one of them is logged out shows on the notification bell when they log back in. Screenshots of the chat
// view (desktop and phone sizes) and of the phone's room list and log-in view are kept in
// $PARLEY_ARTIFACTS (build/test-artifacts). A second server, left at a new install's
// defaults, shows the create-room form's signed box ticked and locked.
//
// With PARLEY_E2E_CLUSTER=1 the same steps run against an edge of a cluster (Redis, a primary
// and an edge; the restart step restarts the edge).
//
// Run: node tests/web/chat_e2e.test.mjs (ctest: web.e2e_chat, web.e2e_chat_cluster). Exits 77 (skipped) when
// Chromium is not installed; playwright-core comes from tests/web/package-lock.json (npm ci
// on first use).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";

import { FakeManager } from "./fake_manager.mjs";
import { ensureModules } from "./node_modules.mjs";
import { ParleyServer } from "./parley_server.mjs";

const here = path.dirname(new URL(import.meta.url).pathname);
const CHROMIUM = process.env.PARLEY_CHROMIUM ?? "/usr/bin/chromium";
const ARTIFACTS = process.env.PARLEY_ARTIFACTS ?? path.resolve(here, "../../build/test-artifacts");

if (!fs.existsSync(CHROMIUM)) {
  console.log(`SKIP: no Chromium at ${CHROMIUM}; scripts/setup installs Debian's chromium package`);
  process.exit(77);
}
const REDIS = process.env.REDIS_SERVER ?? "/usr/bin/redis-server";
if (process.env.PARLEY_E2E_CLUSTER === "1" && !fs.existsSync(REDIS)) {
  console.log(`SKIP: no redis-server at ${REDIS}; scripts/setup installs Debian's redis-server package`);
  process.exit(77);
}
ensureModules(["playwright-core"]);
const { chromium } = await import("playwright-core");

const PASSWORD = "correct horse battery";
let server;
let manager;
let browser;
const problems = []; // console errors and page errors of both pages

// A step that provokes a refusal on purpose takes the console error Chromium logs for it off
// the list (exactly one), so the last step still catches every other. The log event may reach
// the test a little after the page has shown the refusal: it is waited for, briefly.
async function expectProblem(page, pattern) {
  const find = () => problems.findIndex((p) => p.startsWith(`${page}: `) && pattern.test(p));
  for (let waited = 0; find() < 0 && waited < 3000; waited += 50) await new Promise((r) => setTimeout(r, 50));
  const at = find();
  assert.ok(at >= 0, `expected a logged ${pattern} on ${page}; have ${JSON.stringify(problems)}`);
  problems.splice(at, 1);
}

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  // PARLEY_E2E_CLUSTER=1 (ctest: web.e2e_chat_cluster): the pages use an edge of a cluster.
  const start = process.env.PARLEY_E2E_CLUSTER === "1" ? ParleyServer.startCluster : ParleyServer.start;
  server = await start({
    config: async (dir) => {
      manager = await FakeManager.start(dir);
      return manager.serverConfig();
    },
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});

after(async () => {
  // Whatever the pages logged, shown when a step fails as much as in the last step.
  if (problems.length) console.log(`# page problems:\n${problems.map((p) => `#   ${p}`).join("\n")}`);
  await browser?.close();
  await server?.close();
  await manager?.close();
});

async function openPage(name, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  page.on("console", (m) => m.type() === "error" && problems.push(`${name}: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`${name}: ${e.message}`));
  return page;
}

async function signUp(page, username) {
  await page.goto(`${server.baseUrl}/`);
  await page.fill("#auth-form [name=username]", username);
  await page.fill("#auth-form [name=password]", PASSWORD);
  await page.click("#auth-form button[value=signup]");
  await page.waitForSelector("#app-view:not([hidden])");
  // The app view is shown only once it is filled in: no wait for the name.
  assert.equal(await page.textContent("#me-username"), `@${username}`);
}

async function send(page, text) {
  await page.fill("#message-input", text);
  await page.press("#message-input", "Enter");
}

// The texts of the messages the page shows as stored (not pending).
function shownTexts(page) {
  return page.$$eval("#messages li.message[data-seq] .text", (els) => els.map((e) => e.textContent));
}

async function waitForText(page, text) {
  await page.waitForFunction(
    (t) => [...document.querySelectorAll("#messages li.message[data-seq] .text")].some((e) => e.textContent === t),
    text,
  );
}

function onlineNames(page) {
  return page.$$eval("#online li", (els) => els.map((e) => e.textContent));
}

test("two browsers chat through a real server", async (t) => {
  const alice = await openPage("alice");
  const bob = await openPage("bob");

  // Bob's socket goes through a route the test can cut, and refuse while `bobCut` is set.
  let bobCut = false;
  let bobSocket = null;
  const bobFrames = []; // what the server sent Bob, in order
  await bob.routeWebSocket(/\/api\/v1\/ws/, (ws) => {
    if (bobCut) {
      ws.close({ code: 1001, reason: "test: cut" });
      return;
    }
    bobSocket = ws;
    const upstream = ws.connectToServer();
    upstream.onMessage((m) => {
      bobFrames.push(JSON.parse(m));
      ws.send(m);
    });
    ws.onMessage((m) => upstream.send(m));
    ws.onClose(() => upstream.close());
    upstream.onClose(() => ws.close());
  });

  let roomId;
  await t.test("both sign up; alice creates a room and bob joins it by id", async () => {
    await signUp(alice, "alice");
    await signUp(bob, "bob");
    await alice.fill("#create-room [name=title]", "Launch plans");
    // The form starts with the server's default, signed; this server allows unsigned rooms.
    assert.equal(await alice.isChecked("#create-room [name=signed]"), true);
    await alice.uncheck("#create-room [name=signed]");
    await alice.check("#create-room [name=open]");  // bob joins by id, uninvited
    await alice.click("#create-room button[type=submit]");
    await alice.waitForSelector("#chat-room:not([hidden])");
    assert.equal(await alice.textContent("#room-title"), "Launch plans");
    roomId = (await alice.textContent("#room-id")).trim();
    assert.match(roomId, /^[A-Za-z0-9_-]{10,}$/);
    await bob.fill("#join-room [name=room]", roomId);
    await bob.click("#join-room button[type=submit]");
    await bob.waitForSelector("#chat-room:not([hidden])");
    assert.equal(await bob.textContent("#room-title"), "Launch plans");
    await bob.waitForSelector(`#room-list button[data-room-id="${roomId}"]`);
  });

  await t.test("each sees the other online", async () => {
    await alice.waitForFunction(() => [...document.querySelectorAll("#online li")].some((li) => li.textContent === "bob"));
    await bob.waitForFunction(() => [...document.querySelectorAll("#online li")].some((li) => li.textContent === "alice"));
    assert.deepEqual((await onlineNames(alice)).sort(), ["You", "bob"]);
  });

  await t.test("alice sees bob typing", async () => {
    await bob.fill("#message-input", "Hi Ali");
    await alice.waitForFunction(() => document.getElementById("typing").textContent === "bob is typing…");
  });

  await t.test("messages go both ways", async () => {
    await send(bob, "Hi Alice, ready for the launch?");
    await waitForText(alice, "Hi Alice, ready for the launch?");
    await send(alice, "Almost! The slides are done.");
    await waitForText(bob, "Almost! The slides are done.");
    // The message also ends bob's typing indicator on alice's page.
    await alice.waitForFunction(() => document.getElementById("typing").textContent === "");
    assert.deepEqual(await shownTexts(alice), await shownTexts(bob));
    assert.equal(await alice.$$eval("#messages li.mine", (els) => els.length), 1);
    // The room was created unsigned, yet each page registered its key when it opened the room
    // and signs by default: both messages carry a signature the other page verifies.
    for (const page of [alice, bob]) {
      await page.waitForFunction(() => {
        const marks = [...document.querySelectorAll("#messages li.message[data-seq] .signed")].map((e) => e.textContent);
        return marks.length === 2 && marks.every((m) => m === "✓ signed");
      });
    }
  });

  await t.test("bob's socket is cut: alice sees him leave, he resumes and gets what he missed", async () => {
    const heldVersion = bobFrames.filter((f) => f.type === "patch").at(-1).version;
    bobCut = true;
    bobSocket.close({ code: 1001, reason: "test: cut" });
    await bob.waitForSelector("#connection:not([hidden])");
    await alice.waitForFunction(() => ![...document.querySelectorAll("#online li")].some((li) => li.textContent === "bob"));
    const framesBefore = bobFrames.length;
    await send(alice, "Bob, are you there?");
    await send(alice, "The launch is at noon.");
    await waitForText(alice, "The launch is at noon.");
    bobCut = false;
    await waitForText(bob, "The launch is at noon.");
    await bob.waitForSelector("#connection", { state: "hidden" });
    // Resumed from the held version: exactly the missed patches, no whole document.
    const patches = bobFrames.slice(framesBefore).filter((f) => f.type === "patch");
    assert.ok(patches.length >= 2, JSON.stringify(patches));
    assert.equal(patches[0].version, heldVersion + 1);
    assert.ok(patches.every((p) => p.ops[0].path !== ""), "no whole-document replace after the resume");
    assert.deepEqual(await shownTexts(bob), await shownTexts(alice));
    await alice.waitForFunction(() => [...document.querySelectorAll("#online li")].some((li) => li.textContent === "bob"));
  });

  await t.test("the server restarts: both pages reconnect and chat on", async () => {
    await server.stop();
    await alice.waitForSelector("#connection:not([hidden])");
    await server.run();
    await alice.waitForSelector("#connection", { state: "hidden", timeout: 20000 });
    await bob.waitForSelector("#connection", { state: "hidden", timeout: 20000 });
    await send(bob, "Back after the restart.");
    await waitForText(alice, "Back after the restart.");
    await send(alice, "Welcome back.");
    await waitForText(bob, "Welcome back.");
    assert.deepEqual(await shownTexts(bob), await shownTexts(alice));
    await alice.waitForFunction(() => [...document.querySelectorAll("#online li")].some((li) => li.textContent === "bob"));
  });

  await t.test("a reload keeps the session and reopens the room named in the address", async () => {
    await bob.reload();
    await bob.waitForFunction(() => document.getElementById("room-title").textContent === "Launch plans");
    assert.deepEqual(await shownTexts(bob), await shownTexts(alice));
    await alice.waitForFunction(() => [...document.querySelectorAll("#online li")].some((li) => li.textContent === "bob"));
  });

  await t.test("a room that requires signatures: messages signed in the browser, verified by the other", async () => {
    await alice.fill("#create-room [name=title]", "Signed decisions");
    await alice.check("#create-room [name=signed]");
    await alice.check("#create-room [name=open]");
    await alice.click("#create-room button[type=submit]");
    await alice.waitForFunction(() => document.getElementById("room-title").textContent === "🔒 Signed decisions");
    const signedRoom = (await alice.textContent("#room-id")).trim();
    await bob.fill("#join-room [name=room]", signedRoom);
    await bob.click("#join-room button[type=submit]");
    await bob.waitForFunction(() => document.getElementById("room-title").textContent === "🔒 Signed decisions");
    // Each page registers its public key with the room before it lets one send.
    for (const page of [alice, bob]) await page.waitForSelector("#message-input:enabled");
    await send(alice, "We ship on Friday.");
    await waitForText(bob, "We ship on Friday.");
    await send(bob, "Agreed, signed.");
    await waitForText(alice, "Agreed, signed.");
    for (const page of [alice, bob]) {
      await page.waitForFunction(() => {
        const marks = [...document.querySelectorAll("#messages li.message[data-seq] .signed")].map((e) => e.textContent);
        return marks.length === 2 && marks.every((m) => m === "✓ signed");
      });
    }
    const stored = await alice.evaluate(async (id) => {
      const s = JSON.parse(sessionStorage.getItem("parley.session"));
      const res = await fetch(`/api/v1/rooms/${id}/messages`, { headers: { Authorization: `Bearer ${s.access_token}` } });
      return (await res.json()).messages;
    }, signedRoom);
    assert.equal(stored.length, 2);
    assert.ok(stored.every((m) => typeof m.signature === "string" && m.signature.length > 80));
    // Back to the first room for the rest: presence follows the switch.
    for (const page of [alice, bob]) {
      await page.click(`#room-list button[data-room-id="${roomId}"]`);
      await page.waitForFunction(() => document.getElementById("room-title").textContent === "Launch plans");
    }
    await alice.waitForFunction(() => [...document.querySelectorAll("#online li")].some((li) => li.textContent === "bob"));
    await bob.waitForFunction(() => [...document.querySelectorAll("#online li")].some((li) => li.textContent === "alice"));
  });

  await t.test("alice names herself and uploads an avatar and an image", async () => {
    const png = await bob.screenshot(); // a real 1280×800 PNG to upload
    await alice.click("#profile-button");
    await alice.waitForSelector("#profile-dialog[open]");
    await alice.setInputFiles("#avatar-input", { name: "me.png", mimeType: "image/png", buffer: png });
    await alice.waitForFunction(() => document.getElementById("profile-status").textContent.endsWith("ready."), null, { timeout: 20000 });
    await alice.waitForFunction(() => document.querySelector("#profile-avatar img")?.naturalWidth > 0);
    await alice.setInputFiles("#image-input", { name: "photo.png", mimeType: "image/png", buffer: png });
    await alice.waitForFunction(() => document.querySelectorAll("#gallery img").length === 2, null, { timeout: 20000 });
    await alice.waitForFunction(() => [...document.querySelectorAll("#gallery img")].every((i) => i.naturalWidth > 0));
    await alice.fill("#profile-form [name=name]", "Alice Liddell");
    await alice.screenshot({ path: path.join(ARTIFACTS, "profile.png") });
    await alice.click("#profile-form button[value=save]");
    await alice.waitForSelector("#profile-dialog", { state: "hidden" });
    assert.equal(await alice.textContent("#me-name"), "Alice Liddell");
    await alice.waitForFunction(() => document.querySelector("#me-avatar img")?.naturalWidth > 0);
    // Not an image: refused with the server's reason.
    await alice.click("#profile-button");
    await alice.setInputFiles("#image-input", { name: "notes.png", mimeType: "image/png", buffer: Buffer.from("just text, not a picture") });
    await alice.waitForFunction(() => document.getElementById("profile-status").textContent.includes("not an image"), null, { timeout: 20000 });
    // The image that is not the avatar is deleted: it leaves the gallery and frees its space;
    // the avatar offers no delete button.
    await alice.waitForFunction(() => document.querySelectorAll("#gallery img").length === 2);
    const usageBefore = await alice.textContent("#media-usage");
    assert.match(usageBefore, /^· \d+ KB of 200 MB$/);
    assert.equal(await alice.isVisible("#gallery .use.current + .delete"), false);
    await alice.click("#gallery .item:not(:has(.use.current)) .delete");
    await alice.waitForFunction(() => document.getElementById("profile-status").textContent === "Image deleted.");
    assert.equal(await alice.locator("#gallery img").count(), 1);
    assert.notEqual(await alice.textContent("#media-usage"), usageBefore);
    await alice.click("#profile-form button[value=cancel]");
    await alice.waitForSelector("#profile-dialog", { state: "hidden" });
  });

  await t.test("alice sends an image into the room; bob sees it", async () => {
    const png = await alice.screenshot(); // a real picture of the chat
    await alice.setInputFiles("#attach-input", { name: "chat.png", mimeType: "image/png", buffer: png });
    const shown = () =>
      [...document.querySelectorAll("#messages li.message[data-seq] .attachment img")].some((i) => i.naturalWidth > 0);
    await bob.waitForFunction(shown, null, { timeout: 20000 });
    await alice.waitForFunction(shown);
    const link = await bob.getAttribute("#messages li.message[data-seq] .attachment", "href");
    assert.match(link, /\/api\/v1\/media\/[A-Za-z0-9_-]+\?token=/);
    // The full image opens for bob too: he shares the room.
    const status = await bob.evaluate(async (href) => (await fetch(href)).status, link);
    assert.equal(status, 200);
  });

  await t.test("a maintenance notice from the manager shows on both pages", async () => {
    manager.setNotice({ id: "s1", action: "restart", at: Date.now() + 45 * 60000 });
    for (const page of [alice, bob]) {
      await page.waitForSelector("#maintenance:not([hidden])");
      assert.match(await page.textContent("#maintenance"), /The server will restart at .* \(in 4[45] min\) for maintenance\./);
    }
  });

  await t.test("screenshots of the chat view (desktop and phone)", async () => {
    // Key by key, as a person types: the typing notices are throttled on both ends.
    await bob.locator("#message-input").pressSequentially("Typing a longer reply", { delay: 150 });
    await alice.waitForFunction(() => document.getElementById("typing").textContent !== "");
    await alice.screenshot({ path: path.join(ARTIFACTS, "chat.png") });
    await alice.setViewportSize({ width: 390, height: 844 });
    await alice.waitForSelector("#back-button", { state: "visible" });
    await alice.screenshot({ path: path.join(ARTIFACTS, "chat-phone.png") });
    // On a phone the room list is its own view, reached with the back button.
    await alice.click("#back-button");
    await alice.waitForSelector("#room-list", { state: "visible" });
    await alice.screenshot({ path: path.join(ARTIFACTS, "rooms-phone.png") });
    const visitor = await openPage("visitor", { width: 390, height: 844 });
    await visitor.goto(`${server.baseUrl}/`);
    await visitor.waitForSelector("#auth-view:not([hidden])");
    await visitor.screenshot({ path: path.join(ARTIFACTS, "login-phone.png") });
    await visitor.context().close();
    for (const f of ["chat.png", "chat-phone.png", "rooms-phone.png", "login-phone.png"]) {
      assert.ok(fs.statSync(path.join(ARTIFACTS, f)).size > 5000, f);
    }
  });

  await t.test("the notice goes away when the manager clears it", async () => {
    manager.setNotice(null);
    for (const page of [alice, bob]) await page.waitForSelector("#maintenance", { state: "hidden" });
  });

  await t.test("bob leaves the signed room", async () => {
    bob.once("dialog", (d) => d.accept());
    await bob.click(`#room-list button:has-text("Signed decisions")`);
    await bob.waitForFunction(() => document.getElementById("room-title").textContent === "🔒 Signed decisions");
    await bob.click("#leave-button");
    await bob.waitForSelector("#chat-empty:not([hidden])");
    await bob.waitForFunction(() => document.querySelectorAll("#room-list li").length === 1);
  });

  await t.test("a mention made while bob is offline shows on his bell after he logs in", async () => {
    await bob.click("#logout-button");
    await bob.waitForSelector("#auth-view:not([hidden])");
    await alice.click(`#room-list button[data-room-id="${roomId}"]`);
    await alice.waitForFunction(() => document.getElementById("room-title").textContent === "Launch plans");
    await send(alice, "@bob the bell should ring");
    await waitForText(alice, "@bob the bell should ring");
    await bob.fill("#auth-form [name=username]", "bob");
    await bob.fill("#auth-form [name=password]", PASSWORD);
    await bob.click("#auth-form button[value=login]");
    await bob.waitForSelector("#app-view:not([hidden])");
    await bob.waitForSelector("#bell-count:not([hidden])");
    assert.equal(await bob.textContent("#bell-count"), "1");
    await bob.click("#bell");
    await bob.waitForSelector("#notification-list li.unread");
    assert.equal(await bob.textContent("#notification-list li.unread span"), "Mentioned in “Launch plans”");
    await bob.screenshot({ path: path.join(ARTIFACTS, "notifications.png") });
    // Opening it marks it read (on the server too) and opens the room.
    await bob.click("#notification-list li.unread button");
    await bob.waitForSelector("#bell-count", { state: "hidden" });
    await bob.waitForFunction(() => document.getElementById("room-title").textContent === "Launch plans");
    await waitForText(bob, "@bob the bell should ring");
    assert.equal(await bob.locator("#notification-list li.unread").count(), 0);
    await bob.click("#bell");
    await bob.waitForSelector("#notifications", { state: "hidden" });
  });

  await t.test("alice signs her other device out, then changes her password", async () => {
    const phone = await openPage("alice-phone", { width: 390, height: 844 });
    await phone.goto(`${server.baseUrl}/`);
    await phone.fill("#auth-form [name=username]", "alice");
    await phone.fill("#auth-form [name=password]", PASSWORD);
    await phone.click("#auth-form button[value=login]");
    await phone.waitForSelector("#app-view:not([hidden])");
    await alice.setViewportSize({ width: 1280, height: 800 });
    await alice.click("#profile-button");
    await alice.click("#account-button");
    await alice.waitForFunction(() => document.querySelectorAll("#session-list li").length === 2);
    assert.match(await alice.textContent("#session-list li.current"), /^This device/);
    await alice.click("#session-list li:not(.current) button");
    await alice.waitForFunction(() => document.getElementById("account-status").textContent === "That device is signed out.");
    await phone.waitForSelector("#auth-view:not([hidden])");
    assert.equal(await phone.textContent("#auth-error"), "You have been signed out.");
    await alice.waitForFunction(() => document.querySelectorAll("#session-list li").length === 1);
    // A wrong current password is refused; the right one changes it.
    await alice.fill("#password-form [name=current]", "not my password");
    await alice.fill("#password-form [name=next]", "a brand new passphrase");
    await alice.click("#password-form button[type=submit]");
    await alice.waitForFunction(() => document.getElementById("account-status").textContent === "The current password is wrong.");
    await expectProblem("alice", /status of 403/);
    await alice.fill("#password-form [name=current]", PASSWORD);
    await alice.fill("#password-form [name=next]", "a brand new passphrase");
    await alice.click("#password-form button[type=submit]");
    await alice.waitForFunction(() => document.getElementById("account-status").textContent === "Password changed.");
    await alice.screenshot({ path: path.join(ARTIFACTS, "account.png") });
    await alice.click("#account-dialog button.secondary");
    await alice.waitForSelector("#account-dialog", { state: "hidden" });
    // The old password no longer logs in; the new one does.
    await phone.fill("#auth-form [name=username]", "alice");
    await phone.fill("#auth-form [name=password]", PASSWORD);
    await phone.click("#auth-form button[value=login]");
    await phone.waitForFunction(() => document.getElementById("auth-error").textContent === "Wrong username or password.");
    await expectProblem("alice-phone", /status of 401/);
    await phone.fill("#auth-form [name=password]", "a brand new passphrase");
    await phone.click("#auth-form button[value=login]");
    await phone.waitForSelector("#app-view:not([hidden])");
    await phone.context().close();
  });

  await t.test("no console errors, no CSP violations", () => {
    // A refused socket while the server was down is logged by Chromium as an error: expected.
    const unexpected = problems.filter((p) => !/WebSocket connection to .* failed|ERR_CONNECTION_REFUSED/.test(p));
    assert.deepEqual(unexpected, []);
  });
});

// A server left at a new install's defaults: every room requires signed messages and none may
// opt out. The create-room form shows the rule and does not offer the opt-out; the room it
// creates takes signed messages from the page.
test("a server that requires signed messages everywhere", { skip: process.env.PARLEY_E2E_CLUSTER === "1" && "the cluster run covers the rest" }, async () => {
  const strict = await ParleyServer.start({ unsignedRooms: false });
  const carol = await openPage("carol");
  try {
    await carol.goto(`${strict.baseUrl}/`);
    await carol.fill("#auth-form [name=username]", "carol");
    await carol.fill("#auth-form [name=password]", PASSWORD);
    await carol.click("#auth-form button[value=signup]");
    await carol.waitForSelector("#app-view:not([hidden])");
    await carol.waitForSelector("#create-room [name=signed]:disabled");
    assert.equal(await carol.isChecked("#create-room [name=signed]"), true);
    assert.match(await carol.getAttribute("#create-room [name=signed]", "title"), /requires signed messages/);
    await carol.fill("#create-room [name=title]", "Only signed");
    await carol.click("#create-room button[type=submit]");
    await carol.waitForFunction(() => document.getElementById("room-title").textContent === "🔒 Only signed");
    await carol.waitForSelector("#message-input:enabled");
    await send(carol, "Signed by default.");
    await waitForText(carol, "Signed by default.");
    await carol.waitForSelector("#messages li.message[data-seq] .signed");
    assert.equal(await carol.textContent("#messages li.message[data-seq] .signed"), "✓ signed");
    // The server itself refuses the opt-out the form hides.
    const status = await carol.evaluate(async () => {
      const s = JSON.parse(sessionStorage.getItem("parley.session"));
      const res = await fetch("/api/v1/rooms", {
        method: "POST",
        headers: { Authorization: `Bearer ${s.access_token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ title: "no", require_signatures: false }),
      });
      return res.status;
    });
    assert.equal(status, 403);
    await expectProblem("carol", /status of 403/);
    const unexpected = problems.filter((p) => p.startsWith("carol: "));
    assert.deepEqual(unexpected, []);
  } finally {
    await carol.context().close();
    await strict.close();
  }
});
