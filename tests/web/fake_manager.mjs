// A stand-in for the host manager's unix socket, enough for `parley server`'s manager client
// (server/manager_link/manager_client.cpp; docs/manager-api.md): frames are a 4-byte
// big-endian length and one JSON object; it accepts one key ("auth"), and answers
// "schedule.watch" long polls with the current maintenance notice whenever its version differs
// from the caller's. The web test uses it to make the server announce maintenance.
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

export class FakeManager {
  constructor(socketPath, key) {
    this.socketPath = socketPath;
    this.key = key;
    this.version = 1;
    this.notice = null;
    this.watchers = new Set(); // {version, answer}
    this.server = net.createServer((conn) => this.#serve(conn));
  }

  static async start(dir, key = "web-test-manager-key-0123456789") {
    const m = new FakeManager(path.join(dir, "manager.sock"), key);
    fs.writeFileSync(path.join(dir, "manager.key"), `${key}\n`, { mode: 0o600 });
    m.keyFile = path.join(dir, "manager.key");
    await new Promise((resolve, reject) => {
      m.server.once("error", reject);
      m.server.listen(m.socketPath, resolve);
    });
    return m;
  }

  // The [manager] section that points a server at this manager.
  serverConfig() {
    return `[manager]\nsocket = "${this.socketPath}"\nkey_file = "${this.keyFile}"\nwatch_wait_ms = 2000\nreconnect_base_ms = 100\nreconnect_max_ms = 500\n`;
  }

  // {id, action, at} or null; every waiting watch is answered at once.
  setNotice(notice) {
    this.notice = notice;
    this.version += 1;
    for (const w of [...this.watchers]) w.answer();
  }

  #serve(conn) {
    let buffer = Buffer.alloc(0);
    let authed = false;
    const mine = new Set();
    const send = (obj) => {
      const body = Buffer.from(JSON.stringify(obj));
      const head = Buffer.alloc(4);
      head.writeUInt32BE(body.length);
      conn.write(Buffer.concat([head, body]));
    };
    const handle = (req) => {
      if (req.method === "auth") {
        authed = req.params?.key === this.key;
        if (authed) send({ id: req.id, ok: true, result: {} });
        else send({ id: req.id, ok: false, error: { code: "unauthorized", message: "bad key" } });
        return;
      }
      if (!authed || req.method !== "schedule.watch") {
        send({ id: req.id, ok: false, error: { code: "bad_request", message: "not here" } });
        return;
      }
      const watcher = {
        answer: () => {
          clearTimeout(watcher.timer);
          this.watchers.delete(watcher);
          mine.delete(watcher);
          send({ id: req.id, ok: true, result: { version: this.version, maintenance: this.notice } });
        },
      };
      if (req.params?.version !== this.version) {
        watcher.answer();
        return;
      }
      watcher.timer = setTimeout(watcher.answer, Math.min(req.params?.wait_ms ?? 1000, 10000));
      this.watchers.add(watcher);
      mine.add(watcher);
    };
    conn.on("data", (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 4) {
        const n = buffer.readUInt32BE(0);
        if (buffer.length < 4 + n) break;
        const payload = buffer.subarray(4, 4 + n);
        buffer = buffer.subarray(4 + n);
        handle(JSON.parse(payload.toString("utf8")));
      }
    });
    const forget = () => {
      for (const w of mine) {
        clearTimeout(w.timer);
        this.watchers.delete(w);
      }
    };
    conn.on("close", forget);
    conn.on("error", forget);
  }

  close() {
    for (const w of this.watchers) clearTimeout(w.timer);
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
