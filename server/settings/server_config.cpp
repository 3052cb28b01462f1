#include "server/settings/server_config.hpp"

#include <toml++/toml.h>
#include <boost/asio/ip/address.hpp>

#include "common/daily_time.hpp"
#include "common/mode_config.hpp"

namespace parley {

namespace {

void describe_http(ConfigSchema& schema, HttpLimits& http) {
    schema.section("http", "Limits on every HTTP connection.");
    schema.bind("header_limit_bytes", http.header_limit_bytes,
                "Largest request header block accepted.", 1024, 1024 * 1024);
    schema.bind("body_limit_bytes", http.body_limit_bytes,
                "Largest JSON request body accepted (413 too_large beyond it).", 1024,
                64 * 1024 * 1024);
    schema.bind("read_timeout_ms", http.read_timeout_ms,
                "Time allowed to receive a whole request once it has started.", 100, 600'000);
    schema.bind("idle_timeout_ms", http.idle_timeout_ms,
                "Keep-alive connections idle this long are closed.", 100, 3'600'000);
    schema.bind("write_timeout_ms", http.write_timeout_ms,
                "Time allowed to send a response to a slow client.", 100, 600'000);
    schema.bind("max_connections", http.max_connections,
                "Open connections (HTTP and WebSocket) beyond which new ones are refused.", 1,
                1'000'000);
}

void describe_websocket(ConfigSchema& schema, WebSocketSettings& websocket) {
    schema.section("websocket", "Limits on every WebSocket connection.");
    schema.bind("max_frame_bytes", websocket.max_frame_bytes,
                "Largest client message; a larger one closes the socket with 1009.", 1024,
                16 * 1024 * 1024);
    schema.bind("send_queue_limit", websocket.send_queue_limit,
                "Frames queued for a client that reads too slowly before it is closed with 1013.",
                8, 1'000'000);
    schema.bind("max_connections_per_account", websocket.max_connections_per_account,
                "Open sockets per account; one more is closed with 1008.", 1, 10'000);
    schema.bind("rate_per_second", websocket.rate_per_second,
                "Client frames per second per connection (token bucket refill).", 0.1, 100'000.0);
    schema.bind("rate_burst", websocket.rate_burst, "Token bucket size for client frames.", 1,
                1'000'000);
    schema.bind("idle_timeout_ms", websocket.idle_timeout_ms,
                "A ping is sent after half of this without traffic; the socket closes after all of "
                "it.",
                1000, 3'600'000);
    schema.bind("close_timeout_ms", websocket.close_timeout_ms,
                "How long a closing peer gets to take its close frame before the TCP connection is "
                "cut.",
                100, 600'000);
    schema.bind("permessage_deflate", websocket.permessage_deflate,
                "Offer permessage-deflate compression (RFC 7692).");
    schema.bind("write_pace_us", websocket.write_pace_us,
                "Least time between two writes to one socket: frames for a socket written more "
                "recently than this wait and go out in one write (a busy room's members get "
                "several messages per system call). 0 writes every turn of the event loop.",
                0, 1'000'000);
}

void describe_auth(ConfigSchema& schema, AuthSettings& auth) {
    schema.section("auth", "Accounts, sessions and login protection.");
    schema.bind("access_ttl_s", auth.access_ttl_s, "Lifetime of an access token.", 60, 7 * 86400);
    schema.bind("refresh_ttl_s", auth.refresh_ttl_s, "Lifetime of a refresh token.", 300,
                365 * 86400);
    schema.bind("argon2_t_cost", auth.argon2_t_cost, "argon2id passes.", 1, 64);
    schema.bind("argon2_m_cost_kib", auth.argon2_m_cost_kib, "argon2id memory in KiB.", 8,
                1024 * 1024);
    schema.bind("argon2_parallelism", auth.argon2_parallelism, "argon2id lanes.", 1, 64);
    schema.bind("hash_threads", auth.hash_threads,
                "Threads that hash passwords (kept off the network threads).", 1, 64);
    schema.bind("login_failure_threshold", auth.login_failure_threshold,
                "Consecutive failed logins (per account and per address) before a lock-out.", 1,
                1000);
    schema.bind("login_lockout_base_ms", auth.login_lockout_base_ms,
                "First lock-out; each further failure doubles it.", 10, 3'600'000);
    schema.bind("login_lockout_max_ms", auth.login_lockout_max_ms, "Longest lock-out.", 10,
                86'400'000);
    schema.bind("register_per_minute", auth.register_per_minute,
                "Account creations allowed per client address per minute.", 0.1, 100'000.0);
}

void describe_chat(ConfigSchema& schema, ChatSettings& chat) {
    schema.section("chat", "Rooms, messages and their limits.");
    schema.bind("message_max_chars", chat.message_max_chars,
                "Longest message text, in Unicode code points.", 1, 100'000);
    schema.bind("max_members", chat.max_members, "Members per room.", 2, 100'000);
    schema.bind("rooms_per_account", chat.rooms_per_account, "Rooms one account may create.", 1,
                1'000'000);
    schema.bind("history_limit", chat.history_limit,
                "Messages kept per room; a background task prunes older ones.", 10, 1'000'000'000);
    schema.bind("recent_messages", chat.recent_messages,
                "Messages in a room document (and kept in memory per room).", 1, 10'000);
    schema.bind("doc_history", chat.doc_history,
                "Document versions kept per room for resume; older clients get the whole "
                "document.",
                1, 100'000);
    schema.bind("presence_interval_ms", chat.presence_interval_ms,
                "Presence changes of a room are sent at most once per interval.", 10, 60'000);
    schema.bind("typing_interval_ms", chat.typing_interval_ms,
                "Typing events per member and room are sent at most once per interval.", 10,
                60'000);
    schema.bind("ephemeral_idle_s", chat.ephemeral_idle_s,
                "An ephemeral room with no member connected for this long is deleted.", 1,
                7 * 86400);
    schema.bind("ephemeral_max_age_s", chat.ephemeral_max_age_s,
                "An ephemeral room is deleted at the latest this long after its creation.", 1,
                30 * 86400);
    schema.bind("janitor_interval_ms", chat.janitor_interval_ms,
                "How often expiry and history pruning run.", 10, 3'600'000);
}

void describe_rooms(ConfigSchema& schema, RoomSettings& rooms) {
    schema.section("rooms", "What rooms require of their messages.");
    schema.bind("allow_unsigned_rooms", rooms.allow_unsigned_rooms,
                "Whether a room's creator may ask for unsigned messages (\"require_signatures\": "
                "false in POST /api/v1/rooms) when require_signatures is true; refused with 403 "
                "forbidden when not.");
    schema.bind_custom(
        "require_signatures",
        "Whether new rooms require an Ed25519 signature on every message (rooms keep the rule "
        "they were created with). Unset: true on a new install, false on a data directory "
        "created by a Parley older than this setting (its clients may not sign); the log says "
        "at start which applies.",
        [&rooms](const toml::node& n) -> std::string {
            if (!n.is_boolean()) return "expected true or false";
            rooms.require_signatures = n.as_boolean()->get();
            return {};
        },
        [&rooms] {
            if (rooms.require_signatures)
                return std::string("require_signatures = ") +
                       (*rooms.require_signatures ? "true" : "false") + "\n";
            return std::string("# require_signatures = true\n");
        });
}

void describe_db(ConfigSchema& schema, DbSettings& db) {
    schema.section("db", "SQLite (data/db/current.db and history.db).");
    schema.bind("reader_threads", db.reader_threads, "Threads with read-only connections.", 1, 64);
    schema.bind("max_batch", db.max_batch, "Most writes committed in one transaction.", 1, 100'000);
    schema.bind("commit_interval_us", db.commit_interval_us,
                "While writes arrive during commits (many clients at once), the writer starts a "
                "commit at most this often (microseconds), so that more writes share one. A "
                "lone client's next write never waits for it. 0: commit whenever the last "
                "commit has ended.",
                0, 100'000);
    schema.bind("queue_limit", db.queue_limit,
                "Writes waiting beyond this are refused with 503 unavailable.", 1, 10'000'000);
    schema.bind("busy_timeout_ms", db.busy_timeout_ms, "SQLite busy timeout.", 0, 600'000);
    schema.bind_choice("synchronous", db.synchronous,
                       "PRAGMA synchronous of the writer. NORMAL (WAL) survives a process crash; "
                       "FULL also survives power loss at the cost of an fsync per commit.",
                       {"NORMAL", "FULL", "EXTRA"});
    schema.bind("wal_autocheckpoint_pages", db.wal_autocheckpoint_pages,
                "WAL pages (4 KiB each) written before they are copied back into the database. "
                "Larger: less work per write, a larger -wal file and a longer recovery after a "
                "crash.",
                100, 1'000'000);
    schema.bind("message_log_rows", db.message_log_rows,
                "Messages committed to the arrival-ordered log before they are moved, room by "
                "room, into the indexed history table. Larger: fewer page writes per message, "
                "a longer scan of the log for recent history.",
                1, 100'000);
    schema.bind("writer_cache_kib", db.writer_cache_kib,
                "Page cache of the writer's connection (KiB). Too small: the writer reads index "
                "pages back from the file system on every move out of the message log.",
                2048, 4 * 1024 * 1024);
}

void describe_maintenance(ConfigSchema& schema, MaintenanceSettings& maintenance) {
    schema.section("maintenance",
                   "The daily pass that deletes what has outlived its retention (one log line "
                   "per pass).");
    schema.bind("daily_at", maintenance.daily_at,
                "When the pass runs each day, \"HH:MM\" in UTC (empty: never).",
                [](const std::string& v) { return daily_time_problem(v); });
    schema.bind("session_keep_days", maintenance.session_keep_days,
                "Sessions that ended (revoked, or their refresh token expired) longer ago than "
                "this are deleted with their rotated tokens (0: kept forever).",
                0, 36'500);
    schema.bind("audit_keep_days", maintenance.audit_keep_days,
                "Audit entries (history.db) older than this are deleted (0: kept forever).", 0,
                36'500);
    schema.bind("notification_keep_days", maintenance.notification_keep_days,
                "Stored notifications (mentions, invitations; read or not) older than this are "
                "deleted (0: kept forever).",
                0, 36'500);
}

void describe_notifications(ConfigSchema& schema, NotificationSettings& notifications) {
    schema.section("notifications", "Stored notifications: mentions and invitations.");
    schema.bind("keep_per_account", notifications.keep_per_account,
                "Notifications kept per account; storing one more deletes the oldest read ones "
                "first, then the oldest unread ones.",
                1, 100'000);
}

void describe_media(ConfigSchema& schema, MediaSettings& media) {
    schema.section("media", "Image uploads and the image child process (parley imageproc).");
    schema.bind("max_upload_bytes", media.max_upload_bytes,
                "Largest upload (POST /api/v1/media); 413 too_large beyond it.", 1024,
                1024LL * 1024 * 1024);
    schema.bind("quota_bytes", media.quota_bytes,
                "Media bytes an account may hold (processed files, plus uploads in processing).",
                1024, 1024LL * 1024 * 1024 * 1024);
    schema.bind("max_pixels", media.max_pixels,
                "Images with more pixels than this (read from the header) are refused.", 1,
                1'000'000'000);
    schema.bind("max_side", media.max_side, "Processed images fit into max_side x max_side.", 64,
                16384);
    schema.bind("thumbnail_side", media.thumbnail_side,
                "Thumbnails fit into thumbnail_side x thumbnail_side.", 16, 4096);
    schema.bind("min_side", media.min_side, "Images with a side shorter than this are refused.", 1,
                4096);
    schema.bind("jpeg_quality", media.jpeg_quality, "JPEG quality of images and thumbnails.", 1,
                100);
    schema.bind("concurrency", media.concurrency,
                "Images processed at the same time by the image child.", 1, 64);
    schema.bind("queue_limit", media.queue_limit,
                "Uploads waiting for the image child beyond which uploads get 503 unavailable.", 1,
                100'000);
    schema.bind("request_timeout_ms", media.request_timeout_ms,
                "An image not done in this time fails, and the image child is restarted.", 100,
                3'600'000);
    schema.bind("restart_backoff_ms", media.restart_backoff_ms,
                "Wait before restarting a failed image child; doubles per failure in a row.", 10,
                600'000);
    schema.bind("restart_backoff_max_ms", media.restart_backoff_max_ms,
                "Longest wait before restarting the image child.", 10, 3'600'000);
    schema.bind("child_memory_limit_mb", media.child_memory_limit_mb,
                "Address-space limit of the image child (setrlimit RLIMIT_AS).", 64, 65536);
    schema.bind("child_cpu_limit_seconds", media.child_cpu_limit_seconds,
                "CPU-time limit of one image child (setrlimit RLIMIT_CPU); it is restarted "
                "after.",
                1, 86400 * 30);
}

void describe_tls(ConfigSchema& schema, TlsSettings& tls) {
    schema.section("tls", "Optional TLS on the public listener (OpenSSL).");
    schema.bind("enabled", tls.enabled, "Serve HTTPS / WSS instead of plain HTTP.");
    schema.bind("certificate_file", tls.certificate_file, "PEM certificate chain.");
    schema.bind("private_key_file", tls.private_key_file, "PEM private key.");
}

}  // namespace

void ServerConfig::describe(ConfigSchema& schema) {
    describe_common_keys(schema, *this,
                         "Data directory: databases in db/, media in media/. Only one server may "
                         "run on a directory at a time.");

    schema.section("server", "The public HTTP + WebSocket listener.");
    schema.bind("listen", listen_address, "Address to listen on (IPv4 or IPv6 literal).",
                [](const std::string& v) -> std::string {
                    boost::system::error_code ec;
                    boost::asio::ip::make_address(v, ec);
                    return ec ? "not an IP address: '" + v + "'" : "";
                });
    schema.bind("port", port, "TCP port (0 picks a free port; the log says which).", 0, 65535);
    schema.bind("threads", threads, "Network threads; 0 means one per core.", 0, 256);
    schema.bind("shutdown_timeout_ms", shutdown_timeout_ms,
                "On SIGTERM, how long in-flight requests may take before the server exits anyway.",
                100, 600'000);

    describe_http(schema, http);
    describe_websocket(schema, websocket);
    describe_auth(schema, auth);
    describe_chat(schema, chat);
    describe_rooms(schema, rooms);
    describe_db(schema, db);
    describe_maintenance(schema, maintenance);
    describe_notifications(schema, notifications);
    describe_media(schema, media);
    describe_tls(schema, tls);
    manager.describe(schema);
    bots.describe(schema);
    cluster.describe(schema);
}

std::string ServerConfig::validate() const {
    if (auth.login_lockout_base_ms > auth.login_lockout_max_ms) {
        return "auth.login_lockout_base_ms is larger than auth.login_lockout_max_ms";
    }
    if (tls.enabled && (tls.certificate_file.empty() || tls.private_key_file.empty())) {
        return "tls.enabled is true but tls.certificate_file or tls.private_key_file is empty";
    }
    if (media.restart_backoff_ms > media.restart_backoff_max_ms) {
        return "media.restart_backoff_ms is larger than media.restart_backoff_max_ms";
    }
    if (media.thumbnail_side > media.max_side) {
        return "media.thumbnail_side is larger than media.max_side";
    }
    if (auto problem = manager.validate(); !problem.empty()) return problem;
    if (auto problem = bots.validate(); !problem.empty()) return problem;
    if (auto problem = cluster.validate(); !problem.empty()) return problem;
    return {};
}

}  // namespace parley
