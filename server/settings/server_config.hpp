// ServerConfig: everything `parley server` reads from its TOML file, with embedded defaults
// (127.0.0.1:8080, data in ./data). describe() is the single list of keys: it renders the
// documented default file and validates a user's file. Plain data; copied into the server's
// components at start-up and read-only afterwards.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/config_schema.hpp"
#include "server/settings/bot_settings.hpp"
#include "server/settings/cluster_settings.hpp"
#include "server/settings/db_config.hpp"
#include "server/settings/manager_client_settings.hpp"

namespace parley {

struct HttpLimits {
    std::int64_t header_limit_bytes = 16 * 1024;
    std::int64_t body_limit_bytes = 64 * 1024;  // JSON routes; media has its own limit
    int read_timeout_ms = 15'000;               // a request must arrive within this
    int idle_timeout_ms = 60'000;               // keep-alive connection with no request
    int write_timeout_ms = 15'000;
    int max_connections = 18'000;
};

struct TlsSettings {
    bool enabled = false;
    std::string certificate_file;
    std::string private_key_file;
};

struct WebSocketSettings {
    std::int64_t max_frame_bytes = 64 * 1024;  // larger messages are closed with 1009
    int send_queue_limit = 1024;               // queued frames beyond this: close with 1013
    int max_connections_per_account = 8;
    double rate_per_second = 20;  // client frames per second (token bucket)
    int rate_burst = 40;
    int idle_timeout_ms = 30'000;  // a ping goes out at half of it; silence beyond it closes
    int close_timeout_ms = 5'000;  // a peer that does not read its close frame is cut off
    bool permessage_deflate = false;
    // Least time between two writes to one socket: frames for a socket written more recently
    // wait and go out together (docs/websocket-engine.md, "Write pacing"). 0: at once.
    int write_pace_us = 4'000;
};

struct AuthSettings {
    int access_ttl_s = 3600;
    int refresh_ttl_s = 30 * 24 * 3600;
    int argon2_t_cost = 2;
    int argon2_m_cost_kib = 19456;
    int argon2_parallelism = 1;
    int hash_threads = 2;             // password hashing runs here, off the network threads
    int login_failure_threshold = 5;  // consecutive failures before a lock-out
    int login_lockout_base_ms = 1000;
    int login_lockout_max_ms = 15 * 60 * 1000;
    double register_per_minute = 10;  // account creations per address
};

// [maintenance]: the daily pass that deletes what outlived its retention (DailyMaintenance).
struct MaintenanceSettings {
    std::string daily_at = "04:00";   // UTC; empty: no pass
    int session_keep_days = 30;       // ended sessions kept this long; 0: forever
    int audit_keep_days = 365;        // audit entries kept this long; 0: forever
    int notification_keep_days = 90;  // stored notifications kept this long; 0: forever
};

// [notifications]: the stored mentions and invitations of each account.
struct NotificationSettings {
    int keep_per_account = 500;  // beyond it the oldest read ones go first, then unread ones
};

struct ChatSettings {
    int message_max_chars = 1000;  // Unicode code points
    int max_members = 500;
    int rooms_per_account = 100;          // rooms an account may create
    std::int64_t history_limit = 10'000;  // messages kept per room; older ones are pruned
    int recent_messages = 50;             // messages in the room document and the memory cache
    int doc_history = 256;                // document versions kept for resume
    int presence_interval_ms = 1000;      // presence updates per room are coalesced over this
    int typing_interval_ms = 1000;        // one typing event per member per room per interval
    int ephemeral_idle_s = 300;  // an ephemeral room with no one connected this long is deleted
    int ephemeral_max_age_s = 12 * 3600;
    int janitor_interval_ms = 10'000;  // expiry and pruning pass
};

// [rooms]: what a room requires of its messages. Resolved once at start-up against the install
// (RoomPolicy, server/features/room_policy.hpp).
struct RoomSettings {
    // Unset: decided by the install (current.db's server_facts: true for a new install, false
    // for one upgraded from a Parley that had no such setting).
    std::optional<bool> require_signatures;
    bool allow_unsigned_rooms = false;  // may a creator opt out with "require_signatures": false
};

struct MediaSettings {
    std::int64_t max_upload_bytes = 20 * 1024 * 1024;  // 413 too_large beyond it
    std::int64_t quota_bytes = 200 * 1024 * 1024;      // per account
    std::int64_t max_pixels = 50'000'000;              // width x height from the header
    int max_side = 1920;
    int thumbnail_side = 256;
    int min_side = 16;
    int jpeg_quality = 85;
    int concurrency = 2;  // requests in the image child at once
    int queue_limit = 64;
    int request_timeout_ms = 30'000;
    int restart_backoff_ms = 200;
    int restart_backoff_max_ms = 30'000;
    int child_memory_limit_mb = 1024;
    int child_cpu_limit_seconds = 3600;
};

struct ServerConfig {
    std::string log_level = "info";
    std::string data_dir = "data";

    std::string listen_address = "127.0.0.1";
    int port = 8080;
    int threads = 0;  // 0: one per core
    int shutdown_timeout_ms = 10'000;

    HttpLimits http;
    WebSocketSettings websocket;
    AuthSettings auth;
    ChatSettings chat;
    RoomSettings rooms;
    DbSettings db;
    MaintenanceSettings maintenance;
    NotificationSettings notifications;
    TlsSettings tls;
    MediaSettings media;
    ManagerClientSettings manager;  // [manager]: the optional local manager
    BotSettings bots;               // [bots]: local bots and remote bot keys
    ClusterSettings cluster;        // [cluster]: role and Redis; "single" by default

    void describe(ConfigSchema& schema);
    std::string validate() const;
};

}  // namespace parley
