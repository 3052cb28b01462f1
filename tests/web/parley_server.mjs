// Runs the real `parley server` for the web tests: a free port on 127.0.0.1, a temporary data
// directory, fast password hashing; waits until /api/v1/health answers. Like
// tests/integration/harness.py, in Node. ParleyServer.startCluster() runs a cluster instead
// (docs/cluster.md): redis-server, a primary and one edge, and gives the edge, which the pages
// use; closing it closes the primary and Redis too.
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const here = path.dirname(new URL(import.meta.url).pathname);
export const BINARY = process.env.PARLEY_BINARY ?? path.resolve(here, "../../build/parley");

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export class ParleyServer {
  // unsignedRooms: false leaves [rooms] at a new install's defaults (every room signed, no
  // opt-out).
  constructor({ port, dir, config = "", unsignedRooms = true }) {
    this.port = port;
    this.dir = dir;
    this.dataDir = path.join(dir, "data");
    this.configPath = path.join(dir, "server.toml");
    this.logPath = path.join(dir, "server.log");
    fs.writeFileSync(
      this.configPath,
      `[server]\nport = ${port}\nthreads = 2\n` +
        "[auth]\nargon2_t_cost = 1\nargon2_m_cost_kib = 1024\n" +
        "[websocket]\nrate_per_second = 1000\nrate_burst = 1000\n" +
        // Signed messages by default, as on a new install; the tests' unsigned rooms opt out.
        (unsignedRooms ? "[rooms]\nallow_unsigned_rooms = true\n" : "") +
        config,
    );
    this.proc = null;
  }

  // `config(dir)`: more configuration, given the server's temporary directory.
  static async start({ config = () => "", unsignedRooms = true } = {}) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-web-"));
    const server = new ParleyServer({ port: await freePort(), dir, config: await config(dir), unsignedRooms });
    await server.run();
    return server;
  }

  get baseUrl() {
    return `http://127.0.0.1:${this.port}`;
  }

  // Starts the process (again, after stop(), on the same port and data directory).
  async run() {
    const log = fs.openSync(this.logPath, "a");
    this.proc = spawn(BINARY, ["server", "--config", this.configPath, "--data-dir", this.dataDir], {
      stdio: ["ignore", log, log],
    });
    fs.closeSync(log);
    const exited = new Promise((resolve) => this.proc.once("exit", (code) => resolve(code)));
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline) {
      const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r(undefined), 50))]);
      if (code !== undefined) throw new Error(`parley server exited early (${code}):\n${this.log()}`);
      try {
        const res = await fetch(`${this.baseUrl}/api/v1/health`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
    }
    throw new Error(`parley server did not become healthy:\n${this.log()}`);
  }

  log() {
    try {
      return fs.readFileSync(this.logPath, "utf8");
    } catch {
      return "";
    }
  }

  async stop(signal = "SIGTERM") {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const done = new Promise((resolve) => proc.once("exit", resolve));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill("SIGKILL"), 10000);
    await done;
    clearTimeout(timer);
  }

  async close() {
    await this.stop("SIGKILL");
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  // redis-server (REDIS_SERVER, /usr/bin/redis-server by default) on a free port with its own
  // directory and no persistence, a primary and an edge of it; `config(dir)` is the edge's.
  static async startCluster({ config = () => "" } = {}) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-web-cluster-"));
    const redisPort = await freePort();
    const redis = spawn(
      process.env.REDIS_SERVER ?? "/usr/bin/redis-server",
      ["--port", String(redisPort), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"],
      { stdio: "ignore" },
    );
    const secret = path.join(dir, "cluster.secret");
    fs.writeFileSync(secret, crypto.randomBytes(24).toString("hex"), { mode: 0o600 });
    const cluster = (role, extra) =>
      `[cluster]\nrole = "${role}"\nnode_id = "${role}-1"\nredis = "127.0.0.1:${redisPort}"\n` +
      `secret_file = "${secret}"\nread_block_ms = 200\n${extra}`;
    const primaryDir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-web-primary-"));
    const primary = new ParleyServer({ port: await freePort(), dir: primaryDir, config: cluster("primary", "") });
    const edgeDir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-web-edge-"));
    const edge = new ParleyServer({
      port: await freePort(),
      dir: edgeDir,
      config: (await config(edgeDir)) + cluster("edge", `primary = "http://127.0.0.1:${primary.port}"\n`),
    });
    const closeEdge = edge.close.bind(edge);
    edge.close = async () => {
      await closeEdge();
      await primary.close();
      redis.kill("SIGKILL");
      fs.rmSync(dir, { recursive: true, force: true });
    };
    try {
      await primary.run();
      await edge.run();
    } catch (e) {
      await edge.close();
      throw e;
    }
    return edge;
  }
}
