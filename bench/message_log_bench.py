#!/usr/bin/env python3
"""The move out of the message log, measured alone, with Debian's libsqlite3.

A standalone model of what RoomStore does with a chat message (docs/storage.md): the message is
inserted into the log in commits of `--batch` messages, and every `--log-rows / 8` messages the
fullest rooms' rows move into `messages`. The layouts compared:

  current  one log; the move inserts the rows into `messages` and deletes them from the log by
           rowid; `messages` has the unique resend key (room_id, sender_id, client_msg_id).
  hash     as current, but the resend key is (room_id, resend_hash): a 64-bit hash of sender and
           client id, in a non-unique index (a match is checked against the row).
  halves   two logs: one written, the other moved room by room and then emptied whole; a small
           table names the rooms of the moving half already moved (readers skip them).
  both     hash and halves together.

Each layout runs the same messages (22-character ids, ~64-byte texts, time-ordered client ids)
on a file database in WAL mode, synchronous=NORMAL, as the server's writer. Printed per layout:
CPU µs per message in the moves and in the inserts (process time, so the machine's other load
counts little), and WAL bytes written per message by each (from /proc/self/io, so a checkpoint
is not counted; checkpoints run outside the measured parts).

  python3 bench/message_log_bench.py --messages 60000 --history 0
  python3 bench/message_log_bench.py --messages 60000 --history 2000   # long-lived rooms

`--reads` instead times a history read (RoomStore::messages_after's query on `all_messages`)
with the server's own schema, taken from server/db/migrations.cpp: the one log of schema 12
against the two halves of schema 13, full, with and without moved rooms named; the read by the
rowids the writer publishes; a catch-up read of the last 50 messages of one busy room that fills
the log, with all of its rowids against only those numbered after the read's start (as
messages_after does now); then a read back through a long history, by the view against
`messages` first (as messages_after does now).
"""

import argparse
import hashlib
import json
import os
import random
import sqlite3
import string
import tempfile
import time

ALPHABET = string.ascii_letters + string.digits + "-_"

COLUMNS = "room_id, seq, sender_id, client_msg_id, text, signature, sent_at, deleted, media"


def rid(rng):
    return "".join(rng.choice(ALPHABET) for _ in range(22))


def written_bytes():
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    return 0


def resend_hash(sender, cmid):
    digest = hashlib.blake2b((sender + "\0" + cmid).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def schema(hashed, halves):
    key_col = "    resend_hash INTEGER NOT NULL,\n" if hashed else ""
    key = "" if hashed else ",\n    UNIQUE (room_id, sender_id, client_msg_id)"
    sql = f"""
CREATE TABLE rooms (id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL DEFAULT 0);
CREATE TABLE messages (
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    sender_id TEXT NOT NULL,
    client_msg_id TEXT NOT NULL,
    text TEXT NOT NULL,
    signature BLOB,
    sent_at INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    media TEXT,
{key_col}    PRIMARY KEY (room_id, seq){key}
) WITHOUT ROWID;
CREATE INDEX messages_media ON messages(media) WHERE media IS NOT NULL;
"""
    if hashed:
        sql += "CREATE INDEX messages_resend ON messages(room_id, resend_hash);\n"
    for log in ["message_log_a", "message_log_b"] if halves else ["message_log"]:
        sql += f"""
CREATE TABLE {log} (
    room_id TEXT NOT NULL, seq INTEGER NOT NULL, sender_id TEXT NOT NULL,
    client_msg_id TEXT NOT NULL, text TEXT NOT NULL, signature BLOB, sent_at INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0, media TEXT{", resend_hash INTEGER NOT NULL" if hashed else ""}
);
"""
    if halves:
        sql += "CREATE TABLE log_moved (room_id TEXT PRIMARY KEY) WITHOUT ROWID;\n"
    return sql


class Layout:
    def __init__(self, name, path, args, rooms, members):
        self.name = name
        self.hashed = name in ("hash", "both")
        self.halves = name in ("halves", "both")
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA wal_autocheckpoint=0")
        self.db.execute(f"PRAGMA cache_size=-{32 * 1024}")
        self.db.executescript(schema(self.hashed, self.halves))
        self.args = args
        self.rooms = rooms
        self.members = members
        self.seq = {r: 0 for r in rooms}
        self.logs = ["message_log_a", "message_log_b"] if self.halves else ["message_log"]
        self.active = 0
        # Per log: room -> rowids, as the server keeps them.
        self.rowids = [dict() for _ in self.logs]
        self.moving = None  # halves: the half being moved
        self.move_cpu = self.insert_cpu = 0.0
        self.move_bytes = self.insert_bytes = 0
        self.moved = 0
        self.db.execute("BEGIN")
        self.db.executemany("INSERT INTO rooms(id) VALUES (?)", [(r,) for r in rooms])
        self.db.execute("COMMIT")

    def columns(self):
        return COLUMNS + (", resend_hash" if self.hashed else "")

    def prefill(self, history, rng, clock):
        # Long-lived rooms: their history already in `messages`.
        self.db.execute("BEGIN")
        rows = []
        for r in self.rooms:
            for _ in range(history):
                rows.append(self.row(r, rng, clock))
                clock[0] += 1
        marks = ",".join("?" * len(rows[0])) if rows else ""
        if rows:
            self.db.executemany(
                f"INSERT INTO messages({self.columns()}) VALUES ({marks})",
                sorted(rows, key=lambda x: (x[0], x[1])))
        self.db.execute("COMMIT")
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def row(self, room, rng, clock):
        self.seq[room] += 1
        sender = self.members[room][rng.randrange(len(self.members[room]))]
        cmid = f"{clock[0]:012x}{rng.getrandbits(64):016x}"
        text = "".join(rng.choice(ALPHABET) for _ in range(64))
        out = (room, self.seq[room], sender, cmid, text, None, 1765000000000 + clock[0], 0, None)
        if self.hashed:
            out += (resend_hash(sender, cmid),)
        return out

    def insert_batch(self, batch):
        marks = ",".join("?" * len(batch[0]))
        log = self.logs[self.active]
        sql = f"INSERT INTO {log}({self.columns()}) VALUES ({marks})"
        c0, b0 = time.process_time(), written_bytes()
        self.db.execute("BEGIN")
        cur = self.db.cursor()
        for r in batch:
            cur.execute(sql, r)
            self.rowids[self.active].setdefault(r[0], []).append(cur.lastrowid)
        self.db.execute("COMMIT")
        self.insert_cpu += time.process_time() - c0
        self.insert_bytes += written_bytes() - b0

    def log_rows(self, i):
        return sum(len(v) for v in self.rowids[i].values())

    def pick(self, i, at_least):
        by_size = sorted(self.rowids[i].items(), key=lambda kv: -len(kv[1]))
        rooms, moving = [], 0
        for room, ids in by_size:
            if moving >= at_least:
                break
            rooms.append(room)
            moving += len(ids)
        return rooms

    def move(self, at_least):
        c0, b0 = time.process_time(), written_bytes()
        self.db.execute("BEGIN")
        if not self.halves:
            self.move_one_log(at_least)
        else:
            self.move_half(at_least)
        self.db.execute("COMMIT")
        self.move_cpu += time.process_time() - c0
        self.move_bytes += written_bytes() - b0

    def insert_sql(self, log):
        return f"INSERT INTO messages({self.columns()}) SELECT {self.columns()} FROM {log}"

    def move_one_log(self, at_least):
        rooms = self.pick(0, at_least)
        if len(rooms) == len(self.rowids[0]):
            self.db.execute(self.insert_sql("message_log") + " ORDER BY room_id, seq")
            self.moved += self.db.total_changes
            self.db.execute("DELETE FROM message_log")
            self.rowids[0].clear()
            return
        ids = json.dumps([x for r in rooms for x in self.rowids[0][r]])
        self.db.execute(self.insert_sql("message_log") +
                        " WHERE rowid IN (SELECT value FROM json_each(?)) ORDER BY room_id, seq",
                        (ids,))
        self.db.execute("DELETE FROM message_log WHERE rowid IN (SELECT value FROM json_each(?))",
                        (ids,))
        for r in rooms:
            del self.rowids[0][r]

    def move_half(self, at_least):
        if self.moving is None:
            # Swap: the written half becomes the one moved, the empty one is written.
            self.moving = self.active
            self.active = 1 - self.active
        m = self.moving
        rooms = self.pick(m, at_least)
        log = self.logs[m]
        ids = json.dumps([x for r in rooms for x in self.rowids[m][r]])
        self.db.execute(self.insert_sql(log) +
                        " WHERE rowid IN (SELECT value FROM json_each(?)) ORDER BY room_id, seq",
                        (ids,))
        for r in rooms:
            del self.rowids[m][r]
        if self.rowids[m]:
            self.db.executemany("INSERT INTO log_moved(room_id) VALUES (?)", [(r,) for r in rooms])
        else:
            self.db.execute(f"DELETE FROM {log}")
            self.db.execute("DELETE FROM log_moved")
            self.moving = None

    def check(self, total):
        n = self.db.execute("SELECT count(*) FROM messages").fetchone()[0]
        for log in self.logs:
            n += self.db.execute(f"SELECT count(*) FROM {log}").fetchone()[0]
        if self.halves:
            # Rows of the moving half whose room has moved are in `messages` too.
            if self.moving is not None:
                n -= self.db.execute(
                    f"SELECT count(*) FROM {self.logs[self.moving]} WHERE room_id IN "
                    "(SELECT room_id FROM log_moved)").fetchone()[0]
        assert n == total, (self.name, n, total)


def current_schema(upto):
    """The SQL of current.db migrations 1..upto, as server/db/migrations.cpp holds it."""
    import re
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "server", "db", "migrations.cpp")) as f:
        src = f.read()
    blocks = dict(re.findall(r'constexpr std::string_view (current_v\d+) = R"sql\((.*?)\)sql";',
                             src, re.S))
    return [blocks[f"current_v{i}"] for i in range(1, upto + 1)]


def fill_halves(db, rows_per_half, room_of):
    """Fills both halves of a schema-15 log, one transaction; room_of() names each row's room.
    Returns each half's rows as (room, rowid, seq), in the order written."""
    rng = random.Random(7)
    seq = 0
    halves = [[], []]
    db.execute("BEGIN")
    for half, table in enumerate(["message_log", "message_log_b"]):
        for _ in range(rows_per_half):
            seq += 1
            room = room_of()
            cur = db.execute(f"INSERT INTO {table}(room_id, seq, sender_id, client_msg_id, "
                             "text, sent_at) VALUES (?, ?, ?, ?, ?, ?)",
                             (room, seq, rid(rng), f"{seq:028d}", "x" * 64, seq))
            halves[half].append((room, cur.lastrowid, seq))
    db.execute("COMMIT")
    return halves


def bench_reads(args):
    history = ("SELECT room_id, seq, sender_id, client_msg_id, text, signature, sent_at, media "
               "FROM all_messages WHERE room_id = ? AND seq > ? AND deleted = 0 ORDER BY seq "
               "LIMIT 50")
    cases = [("schema 12: one log", 12, 1, 0), ("schema 13: one half full", 13, 1, 0),
             ("schema 13: both halves full", 13, 2, 0),
             ("schema 13: both full, half the rooms moved", 13, 2, args.rooms // 2)]
    print(f"SQLite {sqlite3.sqlite_version}; {args.log_rows} rows per log table, {args.rooms} "
          f"rooms; a history read of 50 messages")
    for label, upto, halves, moved in cases:
        rng = random.Random(7)
        rooms = [rid(rng) for _ in range(args.rooms)]
        with tempfile.TemporaryDirectory() as d:
            db = sqlite3.connect(os.path.join(d, "reads.db"), isolation_level=None)
            for sql in current_schema(upto):
                db.executescript(sql)
            seq = 0
            for table in ["message_log", "message_log_b"][:halves]:
                rows = []
                for _ in range(args.log_rows):
                    seq += 1
                    rows.append((rooms[rng.randrange(len(rooms))], seq, rid(rng), f"{seq:028d}",
                                 "x" * 64, seq))
                db.executemany(f"INSERT INTO {table}(room_id, seq, sender_id, client_msg_id, "
                               "text, sent_at) VALUES (?, ?, ?, ?, ?, ?)", rows)
            if moved:
                db.executemany("INSERT INTO message_log_moved(half, room_id) VALUES (0, ?)",
                               [(r,) for r in rooms[:moved]])
            runs = 500
            c0 = time.process_time()
            for i in range(runs):
                db.execute(history, (rooms[(i * 7) % len(rooms)], 0)).fetchall()
            print(f"{label:45} {1e3 * (time.process_time() - c0) / runs:.3f} ms")
            db.close()
    # The same read as the server makes it now (RoomStore::messages_after): `messages` and each
    # half's rows of the room found by the rowids the writer keeps for it, not by a scan.
    unmoved = ("NOT EXISTS (SELECT 1 FROM message_log_moved m WHERE m.half = {} AND m.room_id = "
               "l.room_id AND l.seq <= m.up_to_seq)")
    cols = "room_id, seq, sender_id, client_msg_id, text, signature, sent_at, media"
    by_rowid = (f"SELECT {cols} FROM messages WHERE room_id = ?1 AND seq > ?2 AND deleted = 0 "
                + "".join(f"UNION ALL SELECT {cols} FROM {table} l WHERE rowid IN (SELECT value "
                          f"FROM json_each(?{3 + half})) AND room_id = ?1 AND seq > ?2 AND "
                          f"deleted = 0 AND {unmoved.format(half)} "
                          for half, table in enumerate(["message_log", "message_log_b"]))
                + "ORDER BY seq LIMIT 50")
    rng = random.Random(7)
    rooms = [rid(rng) for _ in range(args.rooms)]
    with tempfile.TemporaryDirectory() as d:
        db = sqlite3.connect(os.path.join(d, "rowids.db"), isolation_level=None)
        for sql in current_schema(15):
            db.executescript(sql)
        rowids = [{}, {}]
        for half, rows in enumerate(fill_halves(db, args.log_rows,
                                                lambda: rooms[rng.randrange(len(rooms))])):
            for room, rowid, _ in rows:
                rowids[half].setdefault(room, []).append(rowid)
        runs = 500
        c0 = time.process_time()
        for i in range(runs):
            room = rooms[(i * 7) % len(rooms)]
            lists = [json.dumps(rowids[h].get(room, [])) for h in (0, 1)]
            db.execute(by_rowid, (room, 0, lists[0], lists[1])).fetchall()
        print(f"{'schema 15: both halves full, by rowid (now)':45} "
              f"{1e3 * (time.process_time() - c0) / runs:.3f} ms")
        db.close()
    # One busy room fills both halves, and a client catches up on its last 50 messages: the
    # rowid lists of all its rows in the log (before the fourteenth step), against only the
    # rows numbered after the read's start, which the writer's lists now carry numbers for.
    with tempfile.TemporaryDirectory() as d:
        db = sqlite3.connect(os.path.join(d, "busy.db"), isolation_level=None)
        for sql in current_schema(15):
            db.executescript(sql)
        room = rid(random.Random(7))
        rows = [[(rowid, seq) for _, rowid, seq in half]
                for half in fill_halves(db, args.log_rows, lambda: room)]
        after = rows[1][-1][1] - 50
        for label, start in (("busy room, last 50: all its rowids (before)", 0),
                             ("busy room, last 50: rowids after (now)", after)):
            runs = 50
            c0 = time.process_time()
            for _ in range(runs):
                lists = [json.dumps([r for r, s in rows[h] if s > start]) for h in (0, 1)]
                got = db.execute(by_rowid, (room, after, lists[0], lists[1])).fetchall()
                assert len(got) == 50 and got[0][1] == after + 1
            print(f"{label:45} {1e3 * (time.process_time() - c0) / runs:.3f} ms")
        db.close()
    # Scrolling back in rooms with a long history, both halves of the log full: the view, which
    # scans the halves whatever it reads, against `messages` alone by its key, which
    # messages_after asks first (a room's messages in the log are all newer than its messages in
    # `messages`).
    indexed = history.replace("FROM all_messages", "FROM messages")
    with tempfile.TemporaryDirectory() as d:
        rng = random.Random(7)
        rooms = [rid(rng) for _ in range(20)]
        db = sqlite3.connect(os.path.join(d, "scroll.db"), isolation_level=None)
        for sql in current_schema(14):
            db.executescript(sql)
        db.execute("BEGIN")
        for room in rooms:
            db.executemany("INSERT INTO messages(room_id, seq, sender_id, client_msg_id, text, "
                           "sent_at) VALUES (?, ?, ?, ?, ?, ?)",
                           [(room, seq, "s", f"{seq:028d}", "x" * 64, seq)
                            for seq in range(1, args.history_rows + 1)])
        others = [rid(rng) for _ in range(args.rooms)]
        for table in ("message_log", "message_log_b"):
            db.executemany(f"INSERT INTO {table}(room_id, seq, sender_id, client_msg_id, text, "
                           "sent_at) VALUES (?, ?, ?, ?, ?, ?)",
                           [(others[i % len(others)], i, "s", f"{i:028d}", "x" * 64, i)
                            for i in range(args.log_rows)])
        db.execute("COMMIT")
        for label, sql in (("scroll back, the view", history), ("scroll back, `messages` first", indexed)):
            runs = 200
            c0 = time.process_time()
            for i in range(runs):
                db.execute(sql, (rooms[i % len(rooms)], (i * 37) % (args.history_rows // 2))).fetchall()
            print(f"{label + f' ({args.history_rows} in the room)':45} "
                  f"{1e3 * (time.process_time() - c0) / runs:.3f} ms")
        db.close()


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=60000)
    p.add_argument("--rooms", type=int, default=200)
    p.add_argument("--members", type=int, default=5)
    p.add_argument("--history", type=int, default=0, help="messages per room already stored")
    p.add_argument("--batch", type=int, default=50, help="messages per commit")
    p.add_argument("--log-rows", type=int, default=8192)
    p.add_argument("--history-rows", type=int, default=20000,
                   help="--reads: messages per room in the scroll-back case")
    p.add_argument("--layouts", default="current,hash,halves,both")
    p.add_argument("--reads", action="store_true", help="time history reads instead")
    args = p.parse_args()
    if args.reads:
        bench_reads(args)
        return

    print(f"SQLite {sqlite3.sqlite_version}; {args.messages} messages, {args.rooms} rooms, "
          f"history {args.history} per room, {args.batch} per commit, log {args.log_rows} rows")
    print(f"{'layout':8} {'move µs/msg':>12} {'insert µs/msg':>14} {'move B/msg':>11} "
          f"{'insert B/msg':>13} {'db MiB':>7}")
    for name in args.layouts.split(","):
        rng = random.Random(7)
        rooms = [rid(rng) for _ in range(args.rooms)]
        members = {r: [rid(rng) for _ in range(args.members)] for r in rooms}
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bench.db")
            layout = Layout(name, path, args, rooms, members)
            clock = [0]
            layout.prefill(args.history, rng, clock)
            step = max(args.log_rows // 8, 1)
            since_move = 0
            done = 0
            while done < args.messages:
                batch = []
                for _ in range(args.batch):
                    batch.append(layout.row(rooms[rng.randrange(len(rooms))], rng, clock))
                    clock[0] += 1
                layout.insert_batch(batch)
                done += len(batch)
                since_move += len(batch)
                if since_move >= step and (layout.halves or layout.log_rows(0) >= args.log_rows):
                    since_move = 0
                    if layout.halves and layout.moving is None and \
                            layout.log_rows(layout.active) < args.log_rows:
                        continue
                    layout.move(step)
                if done % 20000 < args.batch:
                    layout.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            layout.check(done + args.rooms * args.history)
            size = os.path.getsize(path) / 2**20
            print(f"{name:8} {1e6 * layout.move_cpu / done:12.1f} "
                  f"{1e6 * layout.insert_cpu / done:14.1f} {layout.move_bytes / done:11.0f} "
                  f"{layout.insert_bytes / done:13.0f} {size:7.1f}")
            layout.db.close()


if __name__ == "__main__":
    main()
