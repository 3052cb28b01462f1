#!/usr/bin/env python3
"""Backups, side by side in one run (docs/backups.md):

  database   a Parley current.db of --size-mib (default 1024) MiB of messages:
             parley     backup.run from a source manager to a target manager over mutual TLS on
                        loopback — snapshot (online backup API) + streamed transfer with SHA-256
                        on both sides + integrity_check beside the stream + quick_check, fsync
                        and rename on the target; wall time until the answer
             reference  `sqlite3 current.db ".backup snap.db"` then a plain `cp` of the
                        snapshot (the copy stands for the transfer; no hashing, no checks)
             Target: parley <= 2x the reference.
  media      --media-files (default 10000) content-addressed files of --media-kib KiB, backed
             up once, then again unchanged: the second run's wall time and the bytes it sent
             against the media bytes. Target: under 2 s and under 1% of the media bytes.

  bench/backup_bench.py [--build build] [--size-mib 1024] [--media-files 10000]
"""

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--media-files", type=int, default=10000)
    ap.add_argument("--media-kib", type=int, default=24)
    ap.add_argument("--runs", type=int, default=2, help="database runs of each side (best is kept)")
    ap.add_argument("--server-dir", help="use this server data directory (db/current.db made "
                    "earlier) instead of making one; it is not changed")
    ap.add_argument("--skip-media", action="store_true")
    ap.add_argument("--target-nice", type=int, default=0,
                    help="renice every thread of the target manager (e.g. 19): on one machine the "
                         "target's half of the work then yields the CPU, roughly as if it ran on "
                         "another host")
    args = ap.parse_args()
    os.environ["PARLEY_BINARY"] = os.path.abspath(os.path.join(args.build, "parley"))
    from harness import FAST_AUTH, ParleyProcess  # noqa: E402
    from test_manager import ADMIN_KEY, ApiConnection, Certs, sha256_hex  # noqa: E402

    work = tempfile.mkdtemp(prefix="parley-backup-bench-")
    procs = []
    certs = Certs()
    try:
        # The server's data directory: schema from a real server start, then bulk messages.
        server_dir = os.path.join(work, "server")
        if args.server_dir:
            shutil.copytree(args.server_dir, server_dir)
        else:
            s = ParleyProcess("server", config=FAST_AUTH, data_dir=server_dir)
            procs.append(s)
            s.wait_ready()
            s.stop()
        db_path = os.path.join(server_dir, "db", "current.db")
        t0 = time.monotonic()
        if not args.server_dir:
            fill(db_path, args.size_mib)
        size = os.path.getsize(db_path)
        print(f"made {db_path}: {size / 2**20:.0f} MiB in {time.monotonic() - t0:.0f} s", flush=True)

        key_path = os.path.join(work, "peer.key")
        with open(key_path, "w") as f:
            f.write("bench-peer-key-0123456789abcdef0123456789\n")
        peer_key = "bench-peer-key-0123456789abcdef0123456789"
        from harness import free_port  # noqa: E402
        port = free_port()

        def manager_config(name, extra):
            return f"""[manager]
name = "{name}"
port = {port}

[[manager.api_keys]]
name = "ops"
sha256 = "{sha256_hex(ADMIN_KEY)}"

[[manager.api_keys]]
name = "peers"
sha256 = "{sha256_hex(peer_key)}"

[manager.client_tls]
certificate_file = "{certs.path('client.pem')}"
private_key_file = "{certs.path('client.key')}"
ca_file = "{certs.path('ca.pem')}"

[manager.api]
read_timeout_ms = 60000
{extra}"""

        vault = ParleyProcess("manager", port=port, data_dir=os.path.join(work, "vault"), config=manager_config("vault", f"""
[manager.tls]
certificate_file = "{certs.path('server.pem')}"
private_key_file = "{certs.path('server.key')}"
ca_file = "{certs.path('ca.pem')}"

[[manager.peers]]
name = "origin"

[manager.backup]
drill = false
keep_daily = 3
"""), env={"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/bus"})
        procs.append(vault)
        vault.wait_log("manager api listening on", timeout=20)
        if args.target_nice:
            for tid in os.listdir(f"/proc/{vault.proc.pid}/task"):
                os.setpriority(os.PRIO_PROCESS, int(tid), args.target_nice)
        origin = ParleyProcess("manager", port=0, data_dir=os.path.join(work, "origin"), config=manager_config("origin", f"""
[[manager.peers]]
name = "vault"
url = "tls://127.0.0.1:{port}"
key_file = "{key_path}"

[manager.backup]
server_data_dir = "{server_dir}"
target = "vault"
call_timeout_ms = 600000
""").replace(f"port = {port}", "port = 0"), env={"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/bus"})
        procs.append(origin)
        origin.wait_log("manager api listening on", timeout=20)
        sock = os.path.join(origin.data_dir, "manager.sock")

        def backup():
            conn = ApiConnection.unix(sock)
            conn.sock.settimeout(1800)
            conn.auth()
            t = time.monotonic()
            answer = conn.request("backup.run", {"wait": True})
            elapsed = time.monotonic() - t
            conn.close()
            assert answer["ok"], answer
            return elapsed, answer["result"]

        def reference():
            snap = os.path.join(work, "ref-snap.db")
            copy = os.path.join(work, "ref-copy.db")
            for p in (snap, copy):
                if os.path.exists(p):
                    os.remove(p)
            t = time.monotonic()
            subprocess.run(["sqlite3", db_path, f".backup {snap}"], check=True)
            subprocess.run(["cp", snap, copy], check=True)
            elapsed = time.monotonic() - t
            os.remove(snap)
            os.remove(copy)
            return elapsed

        drop_caches_note = "page cache warm for both (the database was just written)"
        ref_times, parley_times, last = [], [], None
        for _ in range(args.runs):
            ref_times.append(reference())
            elapsed, last = backup()
            parley_times.append(elapsed)
        ref, par = min(ref_times), min(parley_times)
        cur = last["files"]["current"]
        print()
        print(f"database {size / 2**20:.0f} MiB ({drop_caches_note}; best of {args.runs}"
              f"{f'; target manager at nice {args.target_nice}' if args.target_nice else ''})")
        print(f"  reference sqlite3 .backup + cp   {ref:7.2f} s   runs {', '.join(f'{t:.2f}' for t in ref_times)}")
        print(f"  parley backup.run                {par:7.2f} s   runs {', '.join(f'{t:.2f}' for t in parley_times)}")
        print(f"    snapshot {cur['snapshot_ms'] / 1000:.2f} s, stream+hash {cur['stream_ms'] / 1000:.2f} s, "
              f"target fsync+quick_check {cur['target_verify_ms'] / 1000:.2f} s, "
              f"whole run {last['duration_ms'] / 1000:.2f} s (integrity_check beside the transfer, quick_check on the target)")
        print(f"  ratio parley / reference         {par / ref:7.2f}x   (target <= 2x)")
        for line in origin.log().splitlines():
            if "integrity_check of" in line and "current.db" in line:
                print("    source:", line.split("] ", 1)[-1])

        if args.skip_media:
            return
        # Media: many small content-addressed files, then a run with nothing changed.
        media_root = os.path.join(server_dir, "media")
        t0 = time.monotonic()
        total = 0
        for i in range(args.media_files):
            data = os.urandom(args.media_kib * 1024 - 17) + i.to_bytes(17, "big")
            digest = hashlib.sha256(data).hexdigest()
            d = os.path.join(media_root, digest[:2])
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, digest + ".jpg"), "wb") as f:
                f.write(data)
            total += len(data)
        print(f"\nmade {args.media_files} media files ({total / 2**20:.0f} MiB) in {time.monotonic() - t0:.0f} s")
        # Small databases for the media runs: the database part is measured above.
        shutil.move(db_path, db_path + ".big")
        s = ParleyProcess("server", config=FAST_AUTH,
                          data_dir=server_dir)
        procs.append(s)
        s.wait_ready()
        s.stop()
        first_t, first = backup()
        second_t, second = backup()
        m = second["media"]
        print(f"  first run (all {first['media']['sent_files']} files sent)   {first_t:7.2f} s")
        print(f"  unchanged run                     {second_t:7.2f} s   media phase {m['ms'] / 1000:.2f} s "
              f"(target < 2 s)")
        print(f"    sent {m['sent_files']} files, manifest {m['manifest_bytes']} bytes = "
              f"{100.0 * (m['manifest_bytes'] + m['sent_bytes']) / m['bytes']:.3f}% of {m['bytes'] / 2**20:.0f} MiB of media "
              f"(target < 1%)")
        print("\nreproduce: bench/backup_bench.py --build build "
              f"--size-mib {args.size_mib} --media-files {args.media_files} --media-kib {args.media_kib}")
    finally:
        for p in procs:
            p.close()
        certs.close()
        shutil.rmtree(work, ignore_errors=True)


def fill(path, size_mib):
    """Adds messages of ~160 characters (as chat messages are) to one room until the file holds `size_mib` MiB."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    now = int(time.time() * 1000)
    db.execute("INSERT INTO rooms (id, kind, title, created_by, created_at) VALUES ('bench', 'group', 'bench', 'a', ?)",
               (now,))
    rows_per_mib = 4500
    total = size_mib * rows_per_mib
    batch = 20000
    seq = 0
    while seq < total:
        n = min(batch, total - seq)
        db.execute(
            "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?) "
            "INSERT INTO messages (room_id, seq, sender_id, client_msg_id, text, sent_at) "
            "SELECT 'bench', ? + i, 'sender', 'c' || (? + i), hex(randomblob(80)), ? FROM k",
            (n, seq, seq, now))
        db.commit()
        seq += n
    db.execute("UPDATE rooms SET last_seq = ? WHERE id = 'bench'", (seq,))
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


if __name__ == "__main__":
    main()
