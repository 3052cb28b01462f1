#!/usr/bin/env python3
"""Where one move out of the message log spends its time, measured alone with Debian's SQLite.

A model of RoomStore::move_rooms (docs/storage.md): 200 rooms write into a log table; each half's
worth (--log-rows) then moves into `messages` in steps of whole rooms (about a 32nd of the half
each, the rooms in key order), one transaction a step, reading the rows in the order of a list
of their rowids (rooms in key order, each room's in number order). `messages` has the server's
shape: WITHOUT ROWID, keyed by (room_id, seq), with the resend key as a unique constraint and a
foreign key to rooms. Before the measured halves, --history halves fill `messages`.

Printed per variant: wall µs per moved message (the commit's WAL writes included), the same
without the COMMIT, and WAL frames per step. Variants: the server's schema and statement (the
resend key (room_id, client_msg_id, sender_id), migration 16); the statement before the fourteenth
step (`rowid IN (SELECT value FROM json_each(?)) ORDER BY room_id, seq`, the rooms of a step in no
particular order, as by size when rooms are alike); the key as it was before, (room_id,
sender_id, client_msg_id); no resend key; no foreign key.

  python3 bench/move_cost_model.py                 # one sender per room, as the benchmark
  python3 bench/move_cost_model.py --senders 5     # five senders taking turns in each room
"""

import argparse
import json
import os
import random
import sqlite3
import tempfile
import time

COLS = "room_id, seq, sender_id, client_msg_id, text, signature, sent_at, deleted, media"


def run(args, name, key="(room_id, client_msg_id, sender_id)", fk=True, by_list=True):
    d = tempfile.mkdtemp(prefix="parley-move-model-")
    path = os.path.join(d, "m.db")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute(f"PRAGMA foreign_keys={'ON' if fk else 'OFF'}")
    db.execute("CREATE TABLE rooms(id TEXT PRIMARY KEY, title TEXT)")
    unique = f", UNIQUE{key}" if key else ""
    db.execute(f"""CREATE TABLE messages(room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL, sender_id TEXT NOT NULL, client_msg_id TEXT NOT NULL, text TEXT NOT NULL,
        signature BLOB, sent_at INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, media TEXT,
        PRIMARY KEY(room_id, seq){unique}) WITHOUT ROWID""")
    db.execute("CREATE INDEX messages_media ON messages(media) WHERE media IS NOT NULL")
    db.execute("""CREATE TABLE log(room_id TEXT NOT NULL, seq INTEGER NOT NULL, sender_id TEXT NOT NULL,
        client_msg_id TEXT NOT NULL, text TEXT NOT NULL, signature BLOB, sent_at INTEGER NOT NULL,
        deleted INTEGER NOT NULL DEFAULT 0, media TEXT)""")
    rng = random.Random(1)
    rooms = ["%032x" % rng.getrandbits(128) for _ in range(args.rooms)]
    senders = {r: ["%032x" % rng.getrandbits(128) for _ in range(args.senders)] for r in rooms}
    db.executemany("INSERT INTO rooms VALUES (?, 't')", [(r,) for r in rooms])
    seq = dict.fromkeys(rooms, 0)
    clock = [10**12]

    def fill():
        rowids = {}
        db.execute("BEGIN")
        for i in range(args.log_rows):
            r = rooms[i % len(rooms)]
            seq[r] += 1
            clock[0] += 1
            # Time-ordered client ids, as Parley's own clients make them.
            cur = db.execute("INSERT INTO log(room_id, seq, sender_id, client_msg_id, text, sent_at) "
                             "VALUES (?, ?, ?, ?, ?, ?)",
                             (r, seq[r], senders[r][seq[r] % args.senders],
                              "%012x%016x" % (clock[0], rng.getrandbits(64)), "x" * 64, clock[0]))
            rowids.setdefault(r, []).append(cur.lastrowid)
        db.execute("COMMIT")
        return rowids

    if by_list:
        sql = (f"INSERT INTO messages({COLS}) SELECT {COLS} FROM json_each(?) AS j "
               "CROSS JOIN log AS l ON l.rowid = j.value")
    else:
        sql = (f"INSERT INTO messages({COLS}) SELECT {COLS} FROM log WHERE rowid IN "
               "(SELECT value FROM json_each(?)) ORDER BY room_id, seq")
    per_step = max(1, round(args.log_rows / 32 / (args.log_rows / len(rooms))))

    def move(rowids, stats):
        names = sorted(rowids) if by_list else list(rowids)
        for i in range(0, len(names), per_step):
            ids = [x for r in names[i:i + per_step] for x in rowids[r]]
            wal0 = os.path.getsize(path + "-wal")
            t0 = time.perf_counter()
            db.execute("BEGIN")
            db.execute(sql, (json.dumps(ids),))
            t1 = time.perf_counter()
            db.execute("COMMIT")
            t2 = time.perf_counter()
            if stats is not None:
                stats["rows"] += len(ids)
                stats["all"] += t2 - t0
                stats["no_commit"] += t1 - t0
                stats["frames"] += (os.path.getsize(path + "-wal") - wal0) / 4120
                stats["steps"] += 1
            if os.path.getsize(path + "-wal") > 64 << 20:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("DELETE FROM log")

    for _ in range(args.history):
        move(fill(), None)
    stats = dict(rows=0, all=0.0, no_commit=0.0, frames=0.0, steps=0)
    for _ in range(args.halves):
        move(fill(), stats)
    db.close()
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    os.rmdir(d)
    print(f"{name:40} {stats['all'] / stats['rows'] * 1e6:7.2f} {stats['no_commit'] / stats['rows'] * 1e6:7.2f} "
          f"{stats['frames'] / stats['steps']:8.1f} {stats['rows'] / stats['steps']:6.0f}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rooms", type=int, default=200)
    p.add_argument("--senders", type=int, default=1, help="senders per room, taking turns")
    p.add_argument("--log-rows", type=int, default=8192)
    p.add_argument("--history", type=int, default=12, help="halves moved before measuring")
    p.add_argument("--halves", type=int, default=4, help="halves measured")
    args = p.parse_args()
    print(f"SQLite {sqlite3.sqlite_version}; {args.rooms} rooms, {args.senders} sender(s) each, "
          f"{args.log_rows} rows a half")
    print(f"{'variant':40} {'us/row':>7} {'no COMMIT':>7} {'frames/step':>8} {'rows/step':>6}")
    run(args, "the server's schema")
    run(args, "before: rowid IN (...) ORDER BY", by_list=False)
    run(args, "resend key (room, sender, client id)", key="(room_id, sender_id, client_msg_id)")
    run(args, "no resend key", key=None)
    run(args, "no foreign key", fk=False)
    print(f"reproduce: bench/move_cost_model.py --senders {args.senders} --log-rows {args.log_rows}")


if __name__ == "__main__":
    main()
