// ManagerConfig: what `parley manager` (and the `parley manager-api` client, for its defaults)
// reads from its TOML file, with embedded defaults that start a working manager with no file:
// the unix socket in the data directory, the TLS listener off until certificates are set.
// Plain data, read-only after start-up.
#pragma once

#include <string>
#include <vector>

#include "common/config_schema.hpp"

namespace parley {

// A key that may use the manager API. Only the SHA-256 of the key is stored; the key itself
// (high-entropy, e.g. from `openssl rand -base64 32`) is given to the client.
struct ManagerApiKey {
    std::string name;              // who holds it, for logs and the audit table
    std::string sha256;            // lowercase hex of SHA-256(key)
    std::string access = "admin";  // "admin": every request; "read": only what changes nothing
};

// Another manager this one knows: listed by managers.list, a target of forwarding.
struct ManagerPeer {
    std::string name;
    std::string url;  // tls://host:port, or empty for a peer that only dials in over a link
    // File holding the API key this manager presents to the peer (forwarding by URL, links it
    // dials). Empty for a peer that only dials in.
    std::string key_file;
    // Dial out to `url` and keep a link open (this manager needs no open port then).
    bool link = false;
    // What requests the peer sends over a link that *this* manager dialled may do: "read" or
    // "admin". (Requests over a link the peer dialled in are judged by the API key it used.)
    std::string access = "read";
    // Reach this manager through another peer (by name) instead: the request goes there with
    // this target and that manager forwards it on (e.g. to a manager linked to it).
    std::string via;
};

// The client side of mutual TLS, used when this manager dials a peer. Empty: the files of
// [manager.tls] (whose certificate must then also allow client authentication).
struct ManagerClientTls {
    std::string certificate_file;
    std::string private_key_file;
    std::string ca_file;
};

// TLS of the TCP listener. Mutual: clients must present a certificate signed by `ca_file`.
struct ManagerTls {
    std::string certificate_file;
    std::string private_key_file;
    std::string ca_file;

    bool enabled() const { return !certificate_file.empty(); }
};

struct ManagerConfig {
    std::string log_level = "info";
    std::string data_dir = "manager-data";

    // [manager]
    std::string name;  // empty: the host name
    std::string listen_address = "127.0.0.1";
    int port = 8443;
    std::string socket_path;  // empty: <data dir>/manager.sock
    std::string server_unit = "parley-server.service";
    int shutdown_timeout_ms = 10'000;
    std::vector<ManagerApiKey> api_keys;
    std::vector<ManagerPeer> peers;

    // [manager.tls]
    ManagerTls tls;
    // [manager.client_tls]
    ManagerClientTls client_tls;

    // [manager.forward]
    int forward_timeout_ms = 100'000;
    int max_hops = 4;

    // [manager.link]
    int link_ping_interval_ms = 10'000;
    int link_timeout_ms = 35'000;
    int link_reconnect_base_ms = 500;
    int link_reconnect_max_ms = 30'000;
    int link_max_in_flight = 16;

    // [manager.api]
    int auth_timeout_ms = 10'000;
    int read_timeout_ms = 10'000;
    int idle_timeout_ms = 300'000;
    int max_connections = 64;
    int auth_failure_threshold = 5;
    int lockout_base_ms = 1'000;
    int lockout_max_ms = 900'000;

    // [manager.schedule]
    int schedule_poll_ms = 5'000;
    int schedule_grace_ms = 600'000;

    // [manager.system]
    int dbus_job_timeout_ms = 90'000;
    int dbus_call_timeout_ms = 25'000;
    std::vector<std::string> disk_paths{"/"};
    int journal_lines = 20;

    // [manager.backup] (docs/backups.md)
    // As a source: the server's data directory (current.db, history.db, media/) and the peer
    // that backup.run sends to unless the request names one.
    std::string backup_server_data_dir = "/var/lib/parley";
    std::string backup_target;
    int backup_chunk_bytes = 1'040'384;  // 1 MiB frame minus room for the request's JSON
    int backup_call_timeout_ms = 120'000;
    // As a target: where received backups live, how many to keep, the restore drill.
    std::string backup_dir;  // empty: <data dir>/backups
    int backup_keep_daily = 7;
    int backup_keep_weekly = 4;
    bool backup_drill = true;
    int backup_session_timeout_ms = 600'000;
    // Both sides: finished backup runs (backup.history) older than this are deleted when a new
    // run begins; 0 keeps them all.
    int backup_history_keep_days = 365;

    void describe(ConfigSchema& schema);
    std::string validate() const;

    // Where this manager keeps the backups it receives.
    std::string resolved_backup_dir() const;

    // The unix socket the manager serves and `parley manager-api` connects to by default.
    std::string resolved_socket_path() const;
};

}  // namespace parley
