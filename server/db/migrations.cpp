#include "server/db/migrations.hpp"

#include <array>

namespace parley {

namespace {

// sessions(account_id) and metrics_history(name, at) are indexed beyond the column lists:
// SQLite does not index child keys, so ON DELETE CASCADE from accounts would scan every
// session, and metrics history is always read and pruned by name and time.
constexpr std::string_view current_v1 = R"sql(
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'user',
    created_at INTEGER NOT NULL
);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    access_hash BLOB NOT NULL UNIQUE,
    refresh_hash BLOB NOT NULL UNIQUE,
    previous_refresh_hash BLOB,
    created_at INTEGER NOT NULL,
    access_expires_at INTEGER NOT NULL,
    refresh_expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX sessions_account ON sessions(account_id);
CREATE TABLE profiles (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL DEFAULT '',
    visibility TEXT NOT NULL DEFAULT 'public',
    avatar TEXT,
    updated_at INTEGER NOT NULL
);
CREATE TABLE rooms (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    require_signatures INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE members (
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    public_key BLOB,
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (room_id, account_id)
);
CREATE INDEX members_account ON members(account_id);
CREATE TABLE messages (
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    sender_id TEXT NOT NULL,
    client_msg_id TEXT NOT NULL,
    text TEXT NOT NULL,
    signature BLOB,
    sent_at INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, seq),
    UNIQUE (room_id, sender_id, client_msg_id)
) WITHOUT ROWID;
)sql";

// Read markers: the highest sequence number a member has acknowledged in the room.
constexpr std::string_view current_v2 = R"sql(
ALTER TABLE members ADD COLUMN read_seq INTEGER NOT NULL DEFAULT 0;
)sql";

// Media: uploaded images, their processing state and their content-addressed files.
constexpr std::string_view current_v3 = R"sql(
CREATE TABLE media (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    upload_bytes INTEGER NOT NULL,
    format TEXT NOT NULL DEFAULT '',
    image_sha256 TEXT,
    image_bytes INTEGER NOT NULL DEFAULT 0,
    width INTEGER NOT NULL DEFAULT 0,
    height INTEGER NOT NULL DEFAULT 0,
    thumb_sha256 TEXT,
    thumb_bytes INTEGER NOT NULL DEFAULT 0,
    thumb_width INTEGER NOT NULL DEFAULT 0,
    thumb_height INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    message TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX media_owner ON media(owner_id);
)sql";

// Bot accounts (docs/bots.md): local bots (logged in by the server's own bot child through the
// loopback bot listener) and remote bots (a bot key, stored as its SHA-256). The wrong-key
// lock-out of a bot (failures in a row, locked until: Unix ms) lives here so that it survives
// a restart.
constexpr std::string_view current_v4 = R"sql(
CREATE TABLE bots (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    key_hash BLOB,
    key_failures INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
)sql";

// Accounts an admin disabled (Unix ms; 0 = enabled): no login, no session (docs/api.md "Admin").
constexpr std::string_view current_v5 = R"sql(
ALTER TABLE accounts ADD COLUMN disabled_at INTEGER NOT NULL DEFAULT 0;
)sql";

// Images in messages: the content id a message carries, indexed for "who may see this image".
constexpr std::string_view current_v6 = R"sql(
ALTER TABLE messages ADD COLUMN media TEXT;
CREATE INDEX messages_media ON messages(media) WHERE media IS NOT NULL;
)sql";

// Every refresh token a session rotated away, not only the last one: presenting any of them
// again is theft and revokes the session, the whole rotation family (docs/api.md, refresh).
// Existing sessions bring the one they remembered.
constexpr std::string_view current_v7 = R"sql(
CREATE TABLE used_refresh_tokens (
    hash BLOB PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    used_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX used_refresh_tokens_session ON used_refresh_tokens(session_id);
INSERT OR IGNORE INTO used_refresh_tokens(hash, session_id, used_at)
    SELECT previous_refresh_hash, id, created_at FROM sessions
    WHERE previous_refresh_hash IS NOT NULL;
)sql";

// Who may enter a room: its join policy ('invite': only members an owner added, or former
// members coming back; 'open': anyone with the id), the record a member leaves behind (the
// role they come back with) and the accounts an owner banned. Rooms made before this were
// joinable by anyone with their id; they become invite-only, and owners may open them again.
constexpr std::string_view current_v8 = R"sql(
ALTER TABLE rooms ADD COLUMN join_policy TEXT NOT NULL DEFAULT 'invite';
CREATE TABLE room_departures (
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    left_at INTEGER NOT NULL,
    PRIMARY KEY (room_id, account_id)
) WITHOUT ROWID;
CREATE TABLE room_bans (
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    banned_by TEXT NOT NULL,
    banned_at INTEGER NOT NULL,
    PRIMARY KEY (room_id, account_id)
) WITHOUT ROWID;
CREATE INDEX room_departures_account ON room_departures(account_id);
CREATE INDEX room_bans_account ON room_bans(account_id);
)sql";

// The message log: messages are committed here first, in arrival order and without a secondary
// index, so that the messages of one commit share a page or two instead of each landing on its
// room's own table and index pages (docs/storage.md). RoomStore moves the log into `messages`,
// room by room in one transaction, once it holds [db] message_log_rows messages. Every message
// of a room in the log is newer than every one of that room in `messages`. `all_messages` is
// what readers query: both tables, as one.
constexpr std::string_view current_v9 = R"sql(
CREATE TABLE message_log (
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    sender_id TEXT NOT NULL,
    client_msg_id TEXT NOT NULL,
    text TEXT NOT NULL,
    signature BLOB,
    sent_at INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    media TEXT
);
CREATE VIEW all_messages AS
    SELECT room_id, seq, sender_id, client_msg_id, text, signature, sent_at, deleted, media
    FROM messages
    UNION ALL
    SELECT room_id, seq, sender_id, client_msg_id, text, signature, sent_at, deleted, media
    FROM message_log;
)sql";

// Stored notifications: what an account was told of (a mention of it in a message, an
// invitation into a room), read or not, so that an account that was offline finds them. Written
// in the same transaction as the message or membership that causes them; capped per account
// ([notifications] keep_per_account, the oldest read ones first) and pruned by age by the daily
// maintenance pass. AUTOINCREMENT: ids only grow, so "read up to id N" never covers a newer one.
constexpr std::string_view current_v10 = R"sql(
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    seq INTEGER,
    from_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    read_at INTEGER
);
CREATE INDEX notifications_account ON notifications(account_id, id);
CREATE INDEX notifications_unread ON notifications(account_id, id) WHERE read_at IS NULL;
CREATE INDEX notifications_room ON notifications(room_id);
CREATE INDEX notifications_created ON notifications(created_at);
)sql";

// The message log without its foreign key to rooms: every message would otherwise check it
// twice, once on its insert here and again on its move into `messages` (≈ 1.9 µs an insert,
// docs/benchmarks.md). Only the server writes the log, after checking the room, and
// RoomStore::delete_room removes a room's log rows itself in the same transaction; the restore
// drill still finds any message without a room (snapshot_check.cpp).
constexpr std::string_view current_v11 = R"sql(
DROP VIEW all_messages;
CREATE TABLE message_log_v11 (
    room_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    sender_id TEXT NOT NULL,
    client_msg_id TEXT NOT NULL,
    text TEXT NOT NULL,
    signature BLOB,
    sent_at INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    media TEXT
);
INSERT INTO message_log_v11(rowid, room_id, seq, sender_id, client_msg_id, text, signature,
                            sent_at, deleted, media)
    SELECT rowid, room_id, seq, sender_id, client_msg_id, text, signature, sent_at, deleted, media
    FROM message_log;
DROP TABLE message_log;
ALTER TABLE message_log_v11 RENAME TO message_log;
CREATE VIEW all_messages AS
    SELECT room_id, seq, sender_id, client_msg_id, text, signature, sent_at, deleted, media
    FROM messages
    UNION ALL
    SELECT room_id, seq, sender_id, client_msg_id, text, signature, sent_at, deleted, media
    FROM message_log;
)sql";

// Facts about this installation, one row each. `signatures_by_default`: whether rooms created
// without `require_signatures` require signed messages when [rooms] require_signatures is unset
// ('1' or '0'). A database that holds no account and no room when it reaches this version is a
// new install and signs by default; one that has data was made by an older Parley, whose rooms
// were unsigned unless asked, and keeps that default so its clients go on working.
constexpr std::string_view current_v12 = R"sql(
CREATE TABLE server_facts (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO server_facts(name, value)
    SELECT 'signatures_by_default',
           CASE WHEN EXISTS (SELECT 1 FROM accounts) OR EXISTS (SELECT 1 FROM rooms)
                THEN '0' ELSE '1' END;
)sql";

// The message log in two halves: messages are written into one half while the other is moved
// into `messages` room by room, and a half that has moved is emptied whole (one step, where
// deleting each moved row from a single log rewrote every page of it on every move). Until
// then, the rooms of the moving half that have moved are named in message_log_moved, and
// `all_messages` leaves their rows in that half out (they are in `messages` already). Which half
// is being moved is the one named there; with none named, at most one half holds rows, and
// that one is written (docs/storage.md). The view looks each row's room up by the key of
// message_log_moved: written as `room_id NOT IN (SELECT ...)`, a history read's ORDER BY ...
// LIMIT over the view took 1.3 ms instead of 0.2 with both halves full.
constexpr std::string_view current_v13 = R"sql(
DROP VIEW all_messages;
CREATE TABLE message_log_b (
    room_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    sender_id TEXT NOT NULL,
    client_msg_id TEXT NOT NULL,
    text TEXT NOT NULL,
    signature BLOB,
    sent_at INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    media TEXT
);
CREATE TABLE message_log_moved (
    half INTEGER NOT NULL,
    room_id TEXT NOT NULL,
    PRIMARY KEY (half, room_id)
) WITHOUT ROWID;
CREATE VIEW all_messages AS
    SELECT room_id, seq, sender_id, client_msg_id, text, signature, sent_at, deleted, media
    FROM messages
    UNION ALL
    SELECT room_id, seq, sender_id, client_msg_id, text, signature, sent_at, deleted, media
    FROM message_log l
    WHERE NOT EXISTS (SELECT 1 FROM message_log_moved WHERE half = 0 AND room_id = l.room_id)
    UNION ALL
    SELECT room_id, seq, sender_id, client_msg_id, text, signature, sent_at, deleted, media
    FROM message_log_b l
    WHERE NOT EXISTS (SELECT 1 FROM message_log_moved WHERE half = 1 AND room_id = l.room_id);
)sql";

// The images posted in the log, by content id: deciding whether a viewer may see an image asks
// which rooms carry it, and without this each half was scanned whole on every such request.
// Partial: a message without an image, nearly every one, adds nothing to it, so a text
// message's insert still changes only the log's last page.
constexpr std::string_view current_v14 = R"sql(
CREATE INDEX message_log_media ON message_log(media) WHERE media IS NOT NULL;
CREATE INDEX message_log_b_media ON message_log_b(media) WHERE media IS NOT NULL;
)sql";

// A room's move out of the moving half in parts: a busy room can hold a whole half, and moving
// it at once held every commit behind it for tens of milliseconds. message_log_moved says up to
// which number a room's rows have moved (all of them, for a name written before this).
constexpr std::string_view current_v15 = R"sql(
DROP VIEW all_messages;
ALTER TABLE message_log_moved ADD COLUMN up_to_seq INTEGER NOT NULL DEFAULT 9223372036854775807;
CREATE VIEW all_messages AS
    SELECT room_id, seq, sender_id, client_msg_id, text, signature, sent_at, deleted, media
    FROM messages
    UNION ALL
    SELECT room_id, seq, sender_id, client_msg_id, text, signature, sent_at, deleted, media
    FROM message_log l
    WHERE NOT EXISTS (SELECT 1 FROM message_log_moved m
                      WHERE m.half = 0 AND m.room_id = l.room_id AND l.seq <= m.up_to_seq)
    UNION ALL
    SELECT room_id, seq, sender_id, client_msg_id, text, signature, sent_at, deleted, media
    FROM message_log_b l
    WHERE NOT EXISTS (SELECT 1 FROM message_log_moved m
                      WHERE m.half = 1 AND m.room_id = l.room_id AND l.seq <= m.up_to_seq);
)sql";

// The resend key of `messages` ordered (room, client id, sender) instead of (room, sender,
// client id): the same uniqueness, and the same lookup (all three are given), but a move out
// of the log writes one index page per room instead of one per sender in it, since the ids of
// Parley's own clients begin with the time (bench/move_cost_model.py --senders 5: 78.6 WAL
// frames a move step instead of 121.6). A table rebuild: the key is part of the table.
constexpr std::string_view current_v16 = R"sql(
DROP VIEW all_messages;
CREATE TABLE messages_v16 (
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    sender_id TEXT NOT NULL,
    client_msg_id TEXT NOT NULL,
    text TEXT NOT NULL,
    signature BLOB,
    sent_at INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    media TEXT,
    PRIMARY KEY (room_id, seq),
    UNIQUE (room_id, client_msg_id, sender_id)
) WITHOUT ROWID;
INSERT INTO messages_v16(room_id, seq, sender_id, client_msg_id, text, signature, sent_at,
                         deleted, media)
    SELECT room_id, seq, sender_id, client_msg_id, text, signature, sent_at, deleted, media
    FROM messages;
DROP TABLE messages;
ALTER TABLE messages_v16 RENAME TO messages;
CREATE INDEX messages_media ON messages(media) WHERE media IS NOT NULL;
CREATE VIEW all_messages AS
    SELECT room_id, seq, sender_id, client_msg_id, text, signature, sent_at, deleted, media
    FROM messages
    UNION ALL
    SELECT room_id, seq, sender_id, client_msg_id, text, signature, sent_at, deleted, media
    FROM message_log l
    WHERE NOT EXISTS (SELECT 1 FROM message_log_moved m
                      WHERE m.half = 0 AND m.room_id = l.room_id AND l.seq <= m.up_to_seq)
    UNION ALL
    SELECT room_id, seq, sender_id, client_msg_id, text, signature, sent_at, deleted, media
    FROM message_log_b l
    WHERE NOT EXISTS (SELECT 1 FROM message_log_moved m
                      WHERE m.half = 1 AND m.room_id = l.room_id AND l.seq <= m.up_to_seq);
)sql";

constexpr std::string_view history_v1 = R"sql(
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE metrics_history (
    at INTEGER NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL
);
CREATE INDEX metrics_history_name_at ON metrics_history(name, at);
)sql";

// metrics_history was made for metrics kept over time, which Parley never wrote (the metrics
// live in memory and are scraped from /metrics); the daily maintenance pass prunes what is kept.
constexpr std::string_view history_v2 = R"sql(
DROP INDEX metrics_history_name_at;
DROP TABLE metrics_history;
CREATE INDEX audit_log_at ON audit_log(at);
)sql";

constexpr std::array current_list{
    Migration{1, "accounts, sessions, profiles, rooms, members, messages", current_v1},
    Migration{2, "read markers on members", current_v2},
    Migration{3, "media", current_v3},
    Migration{4, "bot accounts, bot keys and their lock-out", current_v4},
    Migration{5, "disabled accounts", current_v5},
    Migration{6, "images in messages", current_v6},
    Migration{7, "every rotated refresh token of a session", current_v7},
    Migration{8, "room join policy, departures and bans", current_v8},
    Migration{9, "the message log", current_v9},
    Migration{10, "stored notifications", current_v10},
    Migration{11, "the message log without a foreign key", current_v11, true},
    Migration{12, "facts about the installation: signatures by default", current_v12},
    Migration{13, "the message log in two halves", current_v13},
    Migration{14, "the images posted in the message log, by content id", current_v14},
    Migration{15, "a room moves out of the message log in parts", current_v15},
    Migration{16, "the resend key of messages ordered by client id before sender", current_v16,
              true},
};

constexpr std::array history_list{
    Migration{1, "audit log and metrics history", history_v1},
    Migration{2, "no metrics history; audit entries by time, for pruning", history_v2},
};

}  // namespace

std::span<const Migration> current_migrations() {
    return current_list;
}

std::span<const Migration> history_migrations() {
    return history_list;
}

}  // namespace parley
