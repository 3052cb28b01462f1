"""Backups (docs/backups.md): real `parley manager` processes — a source ("origin") on the
server's host and a target ("vault") reached over mutual TLS — and a real `parley server`.

A backup while a load writes messages (every message acknowledged before the run began is in the
snapshot, which passes integrity_check, and the restore drill passes); an unchanged second run
that sends only the manifest; media removed on the source and pruned snapshots; the target
killed in the middle of a transfer (nothing that looks complete is left, the next run starts
clean); a peer that sends a corrupted chunk, out-of-order chunks, a file that is not a database,
or a failed integrity_check (nothing is stored); the admin routes; and the restore round trip
through `parley manager restore` with systemd on a private bus (python3-dbusmock).
"""

import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest

from harness import BINARY, FAST_AUTH, Api, Closed, free_port, run_parley, wait_until
from test_manager import ADMIN_KEY, ApiConnection, frame, recv_frame, sha256_hex
from test_manager_links import PEER_KEY, SERVER_KEY, LinkTestCase

# The uid and gid of Debian's `nobody`/`nogroup`: an owner other than root.
NOBODY = 65534


def media_file(root, content):
    """Writes `content` where the server keeps media: media/<2 hex>/<sha256>.jpg."""
    digest = hashlib.sha256(content).hexdigest()
    d = os.path.join(root, "media", digest[:2])
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, digest + ".jpg"), "wb") as f:
        f.write(content)
    return digest


def send_with_attachment(conn, rid, method, params, data):
    head = json.dumps({"id": rid, "method": method, "params": params}).encode()
    conn.sock.sendall(frame(head + b"\0" + data))
    answer = recv_frame(conn.sock)
    assert answer is not None and answer["id"] == rid, answer
    return answer


class BackupTestCase(LinkTestCase):
    def vault(self, extra="", data_dir=None, port=None):
        port = port or free_port()
        p = self.start_named("vault", port, peers=[{"name": "origin"}], data_dir=data_dir,
                             extra=f"""
[manager.backup]
keep_daily = 2
keep_weekly = 0
{extra}
""")
        p.tls_port = port
        self.vault_process = p
        return p

    def origin(self, vault_port, server_dir, extra=""):
        return self.start_named("origin", None, peers=[
            {"name": "vault", "url": f"tls://127.0.0.1:{vault_port}",
             "key_file": self.key_file(PEER_KEY)}], extra=f"""
[[manager.api_keys]]
name = "local-server"
sha256 = "{sha256_hex(SERVER_KEY)}"

[manager.backup]
server_data_dir = "{server_dir}"
target = "vault"
{extra}
""")

    def call(self, manager, method, params=None, key=ADMIN_KEY):
        conn = ApiConnection.unix(manager.socket_path)
        conn.sock.settimeout(120)
        try:
            conn.auth(key)
            return conn.request(method, params)
        finally:
            conn.close()

    def run_backup(self, origin, **params):
        answer = self.call(origin, "backup.run", dict(params, wait=True))
        self.assertTrue(answer["ok"], f"{answer}\n--- origin:\n{origin.log()[-3000:]}\n--- vault:\n"
                                      f"{self.vault_process.log()[-3000:]}")
        self.assertEqual(answer["result"]["state"], "done")
        return answer["result"]

    def stored(self, vault, db, snapshot):
        return os.path.join(vault.data_dir, "backups", "origin", db, snapshot + ".db")

    def wait_drill(self, vault, snapshot):
        def drilled():
            runs = self.call(vault, "backup.history", {"role": "target"})["result"]["runs"]
            for r in runs:
                if r.get("snapshot") == snapshot and r.get("drill", "running") != "running":
                    return r["drill"]
            return None
        wait_until(drilled, 60, interval=0.1, what="the restore drill")
        return drilled()

    def server_config(self, manager_socket):
        return FAST_AUTH + f"""
[websocket]
rate_per_second = 100000
rate_burst = 100000

[manager]
socket = "{manager_socket}"
key_file = "{self.key_file(SERVER_KEY, 'server')}"
reconnect_base_ms = 100
reconnect_max_ms = 500
request_timeout_ms = 60000
"""


class BackupRunTest(BackupTestCase):
    def test_backup_under_load_holds_every_acknowledged_message(self):
        vault = self.vault()
        server = self.start("server", config=self.server_config("/nonexistent/manager.sock"))
        origin = self.origin(vault.tls_port, server.data_dir)
        api = Api(server.port)
        a, wa = api.connected("sam")
        _, _, r = api.call("POST", "/api/v1/rooms", {"title": "load"}, token=a["access_token"])
        rid = r["room_id"]
        media = [media_file(server.data_dir, os.urandom(2000 + i)) for i in range(20)]

        acked = []  # (time acknowledged, client_msg_id)
        stop = threading.Event()

        def load():
            n = 0
            try:
                while not stop.is_set():
                    wa.send_json({"type": "send", "id": n, "room_id": rid, "text": f"t{n}",
                                  "client_msg_id": f"c{n}"})
                    m = wa.recv_until(lambda m: m.get("id") == n, timeout=10)
                    if m["type"] == "ok":
                        acked.append((time.monotonic(), f"c{n}"))
                    n += 1
            except (OSError, Closed, ConnectionError, AssertionError):
                pass

        t = threading.Thread(target=load)
        t.start()
        try:
            wait_until(lambda: len(acked) > 200, 20, what="messages under load")
            began = time.monotonic()
            result = self.run_backup(origin)
            ended = time.monotonic()
            time.sleep(0.3)
        finally:
            stop.set()
            t.join()
        before = [cmid for at, cmid in acked if at < began]
        after = [cmid for at, cmid in acked if at > began]
        self.assertGreater(len(after), 0, "the load kept writing during the backup")
        # The snapshot holds only a read transaction: the writer never waits for it.
        during = [at for at, _ in acked if began - 0.5 <= at <= ended + 0.3]
        longest = max(b - a for a, b in zip(during, during[1:]))
        self.assertLess(longest, 1.0, f"a write waited {longest:.3f} s during the backup")

        snapshot = result["snapshot"]
        path = self.stored(vault, "current", snapshot)
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        stored = {row[0] for row in db.execute("SELECT client_msg_id FROM all_messages")}
        db.close()
        missing = [c for c in before if c not in stored]
        self.assertEqual(missing, [], "messages acknowledged before the backup began are missing")
        self.assertTrue(os.path.exists(self.stored(vault, "history", snapshot)))

        # The snapshot's hash is the source's; integrity_check ran on the source too.
        files = result["files"]
        with open(path, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), files["current"]["sha256"])
        self.assertEqual(files["current"]["integrity_check"], "ok")
        self.assertEqual(files["current"]["target_check"], "ok")
        self.assertEqual(result["media"]["files"], 20)
        self.assertEqual(result["media"]["sent_files"], 20)
        for digest in media:
            self.assertTrue(os.path.exists(os.path.join(
                vault.data_dir, "backups", "origin", "media", digest[:2], digest + ".jpg")))

        drill = self.wait_drill(vault, snapshot)
        self.assertTrue(drill.startswith("ok"), drill)
        self.assertIn('"messages"', drill)
        status = self.call(vault, "backup.status")["result"]
        self.assertEqual(status["last_received"]["snapshot"], snapshot)
        self.assertTrue(status["last_drill"]["ok"])
        history = self.call(origin, "backup.history", {"role": "source"})["result"]["runs"]
        self.assertEqual(history[0]["state"], "done")
        self.assertEqual(history[0]["snapshot"], snapshot)
        self.assertIn("backup: run", origin.log())

    def test_unchanged_run_sends_only_the_manifest_then_changes_and_retention(self):
        vault = self.vault()
        server = self.start("server", config=FAST_AUTH)
        origin = self.origin(vault.tls_port, server.data_dir)
        media = [media_file(server.data_dir, os.urandom(5000 + i)) for i in range(60)]
        first = self.run_backup(origin)
        self.assertEqual(first["media"]["sent_files"], 60)
        second = self.run_backup(origin)
        self.assertEqual(second["media"]["sent_files"], 0)
        self.assertEqual(second["media"]["sent_bytes"], 0)
        self.assertGreater(second["media"]["manifest_bytes"], 0)
        self.assertLess(second["media"]["manifest_bytes"], 0.02 * second["media"]["bytes"])

        # One file gone and one new on the source: one sent, one removed on the target.
        gone = media[0]
        os.remove(os.path.join(server.data_dir, "media", gone[:2], gone + ".jpg"))
        fresh = media_file(server.data_dir, b"new picture bytes")
        third = self.run_backup(origin)
        self.assertEqual(third["media"]["sent_files"], 1)
        vault_media = os.path.join(vault.data_dir, "backups", "origin", "media")
        self.assertFalse(os.path.exists(os.path.join(vault_media, gone[:2], gone + ".jpg")))
        self.assertTrue(os.path.exists(os.path.join(vault_media, fresh[:2], fresh + ".jpg")))

        # keep_daily = 2, keep_weekly = 0, all runs today: each run prunes the one before.
        self.assertEqual(second["pruned"], [first["snapshot"]])
        self.assertEqual(third["pruned"], [second["snapshot"]])
        snaps = self.call(vault, "backup.snapshots", {"source": "origin"})["result"]["snapshots"]
        self.assertEqual([s["snapshot"] for s in snaps], [third["snapshot"]])
        self.assertFalse(os.path.exists(self.stored(vault, "current", first["snapshot"])))
        self.assertTrue(os.path.exists(self.stored(vault, "current", third["snapshot"])))

    def test_target_killed_mid_transfer_leaves_nothing_complete(self):
        server = self.start("server", config=FAST_AUTH)
        self.assertEqual(server.stop(), 0)
        # A database large enough that the transfer takes a while in small chunks.
        db = sqlite3.connect(os.path.join(server.data_dir, "db", "current.db"))
        db.execute("CREATE TABLE padding (b BLOB)")
        for _ in range(40):
            db.execute("INSERT INTO padding VALUES (?)", (os.urandom(1 << 20),))
        db.commit()
        db.close()
        port = free_port()
        vault = self.vault(port=port)
        origin = self.origin(port, server.data_dir, extra="chunk_bytes = 16384\n")
        started = self.call(origin, "backup.run")
        self.assertTrue(started["ok"], started)

        def receiving():
            s = self.call(vault, "backup.status")["result"]
            return s["receiving"] and s["receiving"][0]["bytes_received"] > 0
        wait_until(receiving, 20, interval=0.02, what="a transfer in progress")
        vault.kill()

        def failed():
            runs = self.call(origin, "backup.history", {"role": "source"})["result"]["runs"]
            return runs and runs[0]["state"] == "failed" and runs[0]
        wait_until(failed, 30, what="the source to see the failure")
        self.assertIn("vault", failed()["error"] + failed()["to"])
        current_dir = os.path.join(vault.data_dir, "backups", "origin", "current")
        self.assertFalse(os.path.exists(current_dir) and os.listdir(current_dir),
                         "a snapshot file appeared although the transfer broke")
        self.assertTrue(os.listdir(os.path.join(vault.data_dir, "backups", "origin", "incoming")))

        # The target comes back: the leftovers go, the broken run is recorded, the next run works.
        vault2 = self.vault(data_dir=vault.data_dir, port=port)
        self.assertFalse(os.path.exists(os.path.join(vault.data_dir, "backups", "origin", "incoming")))
        runs = self.call(vault2, "backup.history", {"role": "target"})["result"]["runs"]
        self.assertEqual(runs[0]["state"], "failed")
        self.assertIn("interrupted", runs[0]["error"])
        result = self.run_backup(origin)
        path = self.stored(vault2, "current", result["snapshot"])
        check = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        self.assertEqual(check.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        self.assertEqual(check.execute("SELECT count(*) FROM padding").fetchone()[0], 40)
        check.close()


class BadPeerTest(BackupTestCase):
    """A peer that speaks the protocol but sends wrong data: nothing is stored."""

    def database_bytes(self):
        path = os.path.join(self.keydir.name, "sample.db")
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE t (x)")
        db.executemany("INSERT INTO t VALUES (?)", [(os.urandom(100),) for _ in range(2000)])
        db.commit()
        db.close()
        with open(path, "rb") as f:
            return f.read()

    def session(self, conn, source="mallory"):
        answer = conn.request("backup.begin", {"source": source, "files": ["current"]})
        self.assertTrue(answer["ok"], answer)
        return answer["result"]["session"]

    def send_file(self, conn, session, data, corrupt_at=None, chunk=32768):
        offset = 0
        n = 0
        while offset < len(data):
            piece = data[offset:offset + chunk]
            if corrupt_at is not None and offset <= corrupt_at < offset + len(piece):
                i = corrupt_at - offset
                piece = piece[:i] + bytes([piece[i] ^ 0xFF]) + piece[i + 1:]
            n += 1
            a = send_with_attachment(conn, f"p{n}", "backup.put",
                                     {"session": session, "file": "current", "offset": offset}, piece)
            self.assertTrue(a["ok"], a)
            offset += len(piece)

    def assert_nothing_stored(self, vault, source="mallory"):
        base = os.path.join(vault.data_dir, "backups", source)
        self.assertFalse(os.path.exists(os.path.join(base, "current")) and
                         os.listdir(os.path.join(base, "current")))
        incoming = os.path.join(base, "incoming")
        self.assertFalse(os.path.exists(incoming) and os.listdir(incoming), "leftovers")

    def test_corrupted_chunk_wrong_order_not_a_database_failed_check(self):
        vault = self.vault()
        data = self.database_bytes()
        digest = hashlib.sha256(data).hexdigest()
        conn = ApiConnection.unix(vault.socket_path)
        conn.sock.settimeout(30)
        conn.auth()

        # One flipped byte: the hash does not match, the session ends, nothing is kept.
        s = self.session(conn)
        self.send_file(conn, s, data, corrupt_at=len(data) // 2)
        a = conn.request("backup.file", {"session": s, "file": "current", "size": len(data),
                                         "sha256": digest})
        self.assertFalse(a["ok"])
        self.assertEqual(a["error"]["code"], "failed")
        self.assertIn("SHA-256", a["error"]["message"])
        self.assert_nothing_stored(vault)
        a = conn.request("backup.finish", {"session": s, "integrity": {"current": "ok"}})
        self.assertEqual(a["error"]["code"], "not_found")

        # A chunk out of order.
        s = self.session(conn)
        a = send_with_attachment(conn, "x", "backup.put",
                                 {"session": s, "file": "current", "offset": 10}, b"abc")
        self.assertEqual(a["error"]["code"], "failed")
        self.assertEqual(a["error"]["details"]["expected_offset"], 0)
        self.assert_nothing_stored(vault)

        # Bytes that hash right but are not a database: quick_check refuses them.
        junk = os.urandom(70000)
        s = self.session(conn)
        self.send_file(conn, s, junk)
        a = conn.request("backup.file", {"session": s, "file": "current", "size": len(junk),
                                         "sha256": hashlib.sha256(junk).hexdigest()})
        self.assertEqual(a["error"]["code"], "failed")
        self.assertIn("quick_check", a["error"]["message"])
        self.assert_nothing_stored(vault)

        # A sound file whose source integrity_check failed is not committed; the same file
        # with a passing check is.
        for integrity, ok in (("*** in database main ***", False), ("ok", True)):
            s = self.session(conn)
            self.send_file(conn, s, data)
            a = conn.request("backup.file", {"session": s, "file": "current", "size": len(data),
                                             "sha256": digest})
            self.assertTrue(a["ok"], a)
            a = conn.request("backup.finish", {"session": s, "integrity": {"current": integrity}})
            self.assertEqual(a["ok"], ok, a)
            if not ok:
                self.assertEqual(a["error"]["code"], "failed")
                self.assert_nothing_stored(vault)
        with open(os.path.join(vault.data_dir, "backups", "mallory", "current",
                               a["result"]["snapshot"] + ".db"), "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), digest)
        runs = self.call(vault, "backup.history", {"role": "target"})["result"]["runs"]
        self.assertEqual([r["state"] for r in runs], ["done", "failed", "failed", "failed", "failed"])

        # Names that would leave the backup directory are refused.
        a = conn.request("backup.begin", {"source": "../etc", "files": ["current"]})
        self.assertEqual(a["error"]["code"], "bad_request")
        a = conn.request("backup.begin", {"source": "x", "files": ["../../passwd"]})
        self.assertEqual(a["error"]["code"], "bad_request")
        conn.close()

    def test_read_only_keys_may_only_look(self):
        vault = self.vault()
        from test_manager import READ_KEY
        a = self.call(vault, "backup.begin", {"source": "x", "files": ["current"]}, key=READ_KEY)
        self.assertEqual(a["error"]["code"], "forbidden")
        a = self.call(vault, "backup.run", {"to": "origin"}, key=READ_KEY)
        self.assertEqual(a["error"]["code"], "forbidden")
        self.assertTrue(self.call(vault, "backup.status", key=READ_KEY)["ok"])


class RestoreTest(BackupTestCase):
    def test_restore_round_trip_and_admin_routes(self):
        bus = self.mock_bus()
        vault = self.vault()
        config = self.server_config("/nonexistent/manager.sock")
        server = self.start("server", config=config)
        origin = self.origin(vault.tls_port, server.data_dir)
        server.stop()
        server = self.start("server", config=self.server_config(origin.socket_path),
                            data_dir=server.data_dir)
        api = Api(server.port)
        root, ws = api.connected("root")
        ws.close()
        self.assertEqual(server.stop(), 0)
        r = run_parley(["server", "--config", server.config_path, "--data-dir", server.data_dir,
                        "--make-admin", "root"])
        self.assertEqual(r.returncode, 0, r.stderr)
        server = self.start("server", config=self.server_config(origin.socket_path),
                            data_dir=server.data_dir)
        api = Api(server.port)
        root, ws = api.connected("root", register=False)
        pleb, pws = api.connected("pleb")
        self.addCleanup(ws.close)
        self.addCleanup(pws.close)
        token = root["access_token"]
        _, _, r = api.call("POST", "/api/v1/rooms", {"title": "keep"}, token=token)
        rid = r["room_id"]
        for i in range(5):
            status, _, _ = api.call("POST", f"/api/v1/rooms/{rid}/messages",
                                    {"text": f"before {i}", "client_msg_id": f"b{i}"}, token=token)
            self.assertEqual(status, 200)
        picture = media_file(server.data_dir, os.urandom(3000))

        # The admin routes: a non-admin is refused; an admin starts a run and reads the status.
        status, _, body = api.call("POST", "/api/v1/admin/backup", {"wait": True},
                                   token=pleb["access_token"])
        self.assertEqual(status, 403, body)
        status, _, body = api.call("POST", "/api/v1/admin/backup", {"bogus": 1}, token=token)
        self.assertEqual(status, 400, body)
        status, _, body = api.call("POST", "/api/v1/admin/backup", {"wait": True}, token=token)
        self.assertEqual(status, 200, body)
        snapshot = body["result"]["snapshot"]
        status, _, body = api.call("GET", "/api/v1/admin/backup", token=token)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["result"]["last_sent"]["snapshot"], snapshot)

        # After the backup: another message and the picture lost.
        status, _, _ = api.call("POST", f"/api/v1/rooms/{rid}/messages",
                                {"text": "after", "client_msg_id": "a0"}, token=token)
        self.assertEqual(status, 200)
        shutil.rmtree(os.path.join(server.data_dir, "media", picture[:2]))

        # The server still runs: the restore refuses to touch its directory.
        args = ["manager", "restore", "--snapshot", snapshot, "--config", vault.config_path,
                "--data-dir", vault.data_dir, "--to", server.data_dir]
        r = run_parley(args + ["--no-service"])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("in use", r.stderr)
        r = run_parley(["manager", "restore", "--snapshot", "yesterday", "--config",
                        vault.config_path, "--data-dir", vault.data_dir])
        self.assertEqual(r.returncode, 2, r.stderr)

        # Stopped (systemd is the mock here; the test stops the real process), then restored.
        # Run as root, the restore gives what it writes to the data directory's owner (here
        # "nobody", as `parley` on a packaged host).
        self.assertEqual(server.stop(), 0)
        as_root = os.geteuid() == 0
        if as_root:
            os.chown(server.data_dir, NOBODY, NOBODY)
        r = run_parley(args, env=bus.env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("integrity_check ok", r.stdout)
        self.assertEqual(len(bus.calls("systemd", "StopUnit")), 1)
        self.assertEqual(len(bus.calls("systemd", "StartUnit")), 1)
        restored_picture = os.path.join(server.data_dir, "media", picture[:2], picture + ".jpg")
        self.assertTrue(os.path.exists(restored_picture))
        if as_root:
            written = [restored_picture, os.path.dirname(restored_picture),
                       os.path.join(server.data_dir, "parley.lock"),
                       os.path.join(server.data_dir, "db", "current.db")]
            for path in written:
                st = os.stat(path)
                self.assertEqual((st.st_uid, st.st_gid), (NOBODY, NOBODY), path)

        server = self.start("server", config=FAST_AUTH, data_dir=server.data_dir)
        api = Api(server.port)
        again, ws2 = api.connected("root", register=False)
        self.addCleanup(ws2.close)
        _, _, hist = api.call("GET", f"/api/v1/rooms/{rid}/messages?after_seq=0&limit=100",
                              token=again["access_token"])
        texts = [m["text"] for m in hist["messages"]]
        self.assertEqual(texts, [f"before {i}" for i in range(5)])


class NetnsTest(BackupTestCase):
    """The target on a network namespace of its own, joined to the host by a veth pair: the
    backup crosses a real (virtual) link between two network stacks."""

    def ip(self, *args, netns=None):
        cmd = (["ip", "netns", "exec", netns] if netns else []) + ["ip"] + list(args)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20)

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0 or not shutil.which("ip"):
            self.skipTest("network namespaces need root and iproute2")
        n = random.randint(1, 250)
        self.ns = f"parley-vault-{os.getpid()}-{n}"
        self.host_if, self.ns_if = f"pv{n}h{os.getpid() % 1000}", f"pv{n}n{os.getpid() % 1000}"
        self.host_ip, self.ns_ip = f"10.213.{n}.1", f"10.213.{n}.2"
        r = self.ip("netns", "add", self.ns)
        if r.returncode != 0:
            self.skipTest(f"ip netns add is not allowed here: {r.stderr.strip()}")
        self.addCleanup(lambda: self.ip("netns", "del", self.ns))
        self.addCleanup(lambda: self.ip("link", "del", self.host_if))
        for args, ns in ((["link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if], None),
                         (["link", "set", self.ns_if, "netns", self.ns], None),
                         (["addr", "add", f"{self.host_ip}/30", "dev", self.host_if], None),
                         (["link", "set", self.host_if, "up"], None),
                         (["addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if], self.ns),
                         (["link", "set", self.ns_if, "up"], self.ns),
                         (["link", "set", "lo", "up"], self.ns)):
            r = self.ip(*args, netns=ns)
            self.assertEqual(r.returncode, 0, f"ip {args}: {r.stderr}")

    def test_backup_between_two_network_namespaces(self):
        c = self.certs
        c.leaf("vault-ns", "ca", "vault", f"subjectAltName=IP:{self.ns_ip}\nextendedKeyUsage=serverAuth\n")
        port = free_port()
        tmp = tempfile.TemporaryDirectory(prefix="parley-netns-vault-")
        self.addCleanup(tmp.cleanup)
        config = self.manager_config("vault", port, peers=[{"name": "origin"}]).replace(
            c.path("server.pem"), c.path("vault-ns.pem")).replace(c.path("server.key"), c.path("vault-ns.key"))
        config = config.replace(f"port = {port}", f'port = {port}\nlisten = "{self.ns_ip}"')
        path = os.path.join(tmp.name, "vault.toml")
        with open(path, "w") as f:
            f.write(config)
        data = os.path.join(tmp.name, "data")
        log = open(os.path.join(tmp.name, "vault.log"), "w+")
        self.addCleanup(log.close)
        vault = subprocess.Popen(["ip", "netns", "exec", self.ns, BINARY, "manager", "--config", path,
                                  "--data-dir", data], stdout=log, stderr=subprocess.STDOUT,
                                 env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS="unix:path=/nonexistent/bus"))

        def stop_vault():
            vault.terminate()
            vault.wait(15)
        self.addCleanup(stop_vault)

        def vault_log():
            log.seek(0)
            return log.read()
        wait_until(lambda: "manager api listening on" in vault_log(), 15, what="the vault in its namespace")
        self.assertIn(f"tls://{self.ns_ip}:{port}", vault_log())

        server = self.start("server", config=FAST_AUTH)
        media_file(server.data_dir, os.urandom(4000))
        origin = self.start_named("origin", None, peers=[
            {"name": "vault", "url": f"tls://{self.ns_ip}:{port}", "key_file": self.key_file(PEER_KEY)}],
            extra=f"""
[manager.backup]
server_data_dir = "{server.data_dir}"
target = "vault"
""")
        answer = self.call(origin, "backup.run", {"wait": True})
        self.assertTrue(answer["ok"], f"{answer}\n{origin.log()}\n{vault_log()}")
        snapshot = answer["result"]["snapshot"]
        stored = os.path.join(data, "backups", "origin", "current", snapshot + ".db")
        check = sqlite3.connect(f"file:{stored}?mode=ro", uri=True)
        self.assertEqual(check.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        check.close()
        # The vault saw the origin arrive from the host's end of the veth pair.
        self.assertIn(f"from tcp:{self.host_ip}", vault_log())


if __name__ == "__main__":
    unittest.main()
