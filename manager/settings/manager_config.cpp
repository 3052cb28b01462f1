#include "manager/settings/manager_config.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "common/mode_config.hpp"

namespace parley {

namespace {

bool is_lower_hex(const std::string& s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string lowercase(std::string s) {
    for (char& c : s) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return s;
}

// Reads an array of tables whose values are all strings. `allowed` lists the keys each table
// may have, `required` those it must have. Returns the problem, or fills `rows`.
std::string read_string_tables(
    const toml::node& node, const std::vector<std::string>& allowed,
    const std::vector<std::string>& required,
    std::vector<std::vector<std::pair<std::string, std::string>>>& rows) {
    const toml::array* array = node.as_array();
    if (!array) return "expected an array of tables ([[...]] sections)";
    rows.clear();
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::table* table = array->get(i)->as_table();
        if (!table) return fmt::format("entry {}: expected a table", i + 1);
        std::vector<std::pair<std::string, std::string>> row;
        for (const auto& [key, value] : *table) {
            std::string k(key.str());
            if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
                return fmt::format("entry {}: unknown key '{}'", i + 1, k);
            }
            if (!value.is_string()) return fmt::format("entry {}: '{}' must be a string", i + 1, k);
            row.emplace_back(k, value.as_string()->get());
        }
        for (const auto& r : required) {
            bool present = std::any_of(row.begin(), row.end(), [&](const auto& kv) {
                return kv.first == r && !kv.second.empty();
            });
            if (!present) return fmt::format("entry {}: '{}' is required", i + 1, r);
        }
        rows.push_back(std::move(row));
    }
    return {};
}

std::string parse_api_keys(const toml::node& node, std::vector<ManagerApiKey>& out) {
    std::vector<std::vector<std::pair<std::string, std::string>>> rows;
    if (auto problem =
            read_string_tables(node, {"name", "sha256", "access"}, {"name", "sha256"}, rows);
        !problem.empty()) {
        return problem;
    }
    std::vector<ManagerApiKey> keys;
    std::set<std::string> names;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        ManagerApiKey key;
        for (const auto& [k, v] : rows[i]) {
            if (k == "name") key.name = v;
            if (k == "sha256") key.sha256 = lowercase(v);
            if (k == "access") key.access = v;
        }
        if (key.sha256.size() != 64 || !is_lower_hex(key.sha256)) {
            // Never echo the value: it might be a key pasted by mistake.
            return fmt::format(
                "entry {} ('{}'): 'sha256' must be 64 hex digits, the SHA-256 of "
                "the key (printf %s \"$KEY\" | sha256sum), never the key itself",
                i + 1, key.name);
        }
        if (key.access != "admin" && key.access != "read") {
            return fmt::format("entry {} ('{}'): 'access' must be \"admin\" or \"read\"", i + 1,
                               key.name);
        }
        if (!names.insert(key.name).second) {
            return fmt::format("entry {}: the name '{}' is used twice", i + 1, key.name);
        }
        keys.push_back(std::move(key));
    }
    out = std::move(keys);
    return {};
}

// tls://host:port with a port from 1 to 65535.
bool valid_peer_url(const std::string& url) {
    if (!url.starts_with("tls://")) return false;
    std::string rest = url.substr(6);
    auto colon = rest.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size()) return false;
    std::string port = rest.substr(colon + 1);
    if (port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return false;
    }
    int p = std::stoi(port);
    return p >= 1 && p <= 65535;
}

std::string parse_peers(const toml::node& node, std::vector<ManagerPeer>& out) {
    const toml::array* array = node.as_array();
    if (!array) return "expected an array of tables ([[...]] sections)";
    std::vector<ManagerPeer> peers;
    std::set<std::string> names;
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::table* table = array->get(i)->as_table();
        if (!table) return fmt::format("entry {}: expected a table", i + 1);
        ManagerPeer peer;
        for (const auto& [key, value] : *table) {
            std::string k(key.str());
            if (k == "link") {
                if (!value.is_boolean())
                    return fmt::format("entry {}: 'link' must be true or false", i + 1);
                peer.link = value.as_boolean()->get();
                continue;
            }
            if (k != "name" && k != "url" && k != "key_file" && k != "access" && k != "via") {
                return fmt::format("entry {}: unknown key '{}'", i + 1, k);
            }
            if (!value.is_string()) return fmt::format("entry {}: '{}' must be a string", i + 1, k);
            const std::string& v = value.as_string()->get();
            if (k == "name") peer.name = v;
            if (k == "url") peer.url = v;
            if (k == "key_file") peer.key_file = v;
            if (k == "access") peer.access = v;
            if (k == "via") peer.via = v;
        }
        if (peer.name.empty() || peer.name.size() > 64) {
            return fmt::format("entry {}: 'name' is required (1 to 64 characters)", i + 1);
        }
        if (!peer.url.empty() && !valid_peer_url(peer.url)) {
            return fmt::format("entry {} ('{}'): 'url' must look like tls://host:port, got {}",
                               i + 1, peer.name, toml_quote(peer.url));
        }
        if (peer.access != "admin" && peer.access != "read") {
            return fmt::format("entry {} ('{}'): 'access' must be \"admin\" or \"read\"", i + 1,
                               peer.name);
        }
        if (peer.link && (peer.url.empty() || peer.key_file.empty())) {
            return fmt::format("entry {} ('{}'): link = true needs 'url' and 'key_file'", i + 1,
                               peer.name);
        }
        if (!names.insert(peer.name).second) {
            return fmt::format("entry {}: the name '{}' is used twice", i + 1, peer.name);
        }
        peers.push_back(std::move(peer));
    }
    for (const auto& peer : peers) {
        if (peer.via.empty()) continue;
        bool known = false;
        for (const auto& other : peers)
            known = known || (other.name == peer.via && other.name != peer.name);
        if (!known || peer.link) {
            return fmt::format(
                "'{}': 'via' must name another [[manager.peers]] entry (and "
                "cannot go with link = true)",
                peer.name);
        }
    }
    out = std::move(peers);
    return {};
}

std::string render_api_keys(const std::vector<ManagerApiKey>& keys) {
    if (keys.empty()) {
        return "# [[manager.api_keys]]\n"
               "# name = \"local-server\"\n"
               "# sha256 = \"<64 hex digits: printf %s \\\"$KEY\\\" | sha256sum>\"\n"
               "# access = \"admin\"\n";
    }
    std::string out;
    for (const auto& k : keys) {
        out += "[[manager.api_keys]]\nname = " + toml_quote(k.name) +
               "\nsha256 = " + toml_quote(k.sha256) + "\naccess = " + toml_quote(k.access) + "\n";
    }
    return out;
}

std::string render_peers(const std::vector<ManagerPeer>& peers) {
    if (peers.empty()) {
        return "# [[manager.peers]]\n"
               "# name = \"backup-host\"\n"
               "# url = \"tls://backup.example.org:8443\"\n"
               "# key_file = \"/etc/parley/backup-host.key\"\n"
               "# link = false\n"
               "# access = \"read\"\n";
    }
    std::string out;
    for (const auto& p : peers) {
        out += "[[manager.peers]]\nname = " + toml_quote(p.name) + "\nurl = " + toml_quote(p.url) +
               "\nkey_file = " + toml_quote(p.key_file) +
               "\nlink = " + (p.link ? "true" : "false") + "\naccess = " + toml_quote(p.access) +
               (p.via.empty() ? "" : "\nvia = " + toml_quote(p.via)) + "\n";
    }
    return out;
}

}  // namespace

void ManagerConfig::describe(ConfigSchema& schema) {
    describe_common_keys(schema, *this,
                         "Manager state: schedules, backup history, received backups. One "
                         "manager may run on a directory at a time.");
    schema.section("manager", "The manager API listeners and the unit it controls.");
    schema.bind("name", name,
                "This manager's name in managers.list and in other managers' logs (empty: the "
                "host name).");
    schema.bind("listen", listen_address,
                "Address of the TLS manager API listener (used only when [manager.tls] is set).");
    schema.bind("port", port, "TCP port of the TLS manager API (0 picks a free port).", 0, 65535);
    schema.bind("socket", socket_path,
                "Unix socket for the local server and `parley manager-api` (mode 0660; empty: "
                "manager.sock in the data directory).");
    schema.bind("server_unit", server_unit, "The systemd unit of the Parley server on this host.",
                [](const std::string& v) -> std::string {
                    return v.size() > 8 && v.ends_with(".service") ? ""
                                                                   : "must name a .service unit";
                });
    schema.bind("shutdown_timeout_ms", shutdown_timeout_ms,
                "On SIGTERM, how long in-flight requests may take before the manager exits.", 100,
                600'000);
    schema.bind_custom(
        "api_keys",
        "API keys allowed to use the manager API, as SHA-256 hex digests (never the keys).\n"
        "access = \"admin\" may do everything, \"read\" only ping, system.info, schedule.list, "
        "schedule.watch, managers.list,\nbackup.status, backup.history and backup.snapshots "
        "(also forwarded with a target).\nWith no key configured every client is refused.",
        [this](const toml::node& n) { return parse_api_keys(n, api_keys); },
        [this] { return render_api_keys(api_keys); });
    schema.bind_custom(
        "peers",
        "Other managers this one knows (managers.list), targets of forwarding.\n"
        "url: tls://host:port to reach it (empty: it links in). key_file: the API key to present "
        "to it.\nlink = true: dial out to url and keep a link open (no open port needed here).\n"
        "access: what requests it sends over a link this manager dialled may do (read/admin).\n"
        "via: reach it through that other peer (which forwards on).",
        [this](const toml::node& n) { return parse_peers(n, peers); },
        [this] { return render_peers(peers); });

    schema.section("manager.tls",
                   "Mutual TLS on the TCP listener. The listener is off until all three files are "
                   "set; clients must present a certificate signed by ca_file.");
    schema.bind("certificate_file", tls.certificate_file, "PEM certificate chain of this manager.");
    schema.bind("private_key_file", tls.private_key_file, "PEM private key (unencrypted).");
    schema.bind("ca_file", tls.ca_file,
                "PEM CA certificate(s) that client certificates must chain to.");

    schema.section("manager.client_tls",
                   "The certificate this manager presents when it dials a peer (forwarding by URL, "
                   "links). Empty: the files of [manager.tls].");
    schema.bind("certificate_file", client_tls.certificate_file,
                "PEM certificate chain (must allow client authentication).");
    schema.bind("private_key_file", client_tls.private_key_file, "PEM private key (unencrypted).");
    schema.bind("ca_file", client_tls.ca_file,
                "PEM CA certificate(s) peers' certificates chain to.");

    schema.section("manager.forward", "Requests that name another manager as their target.");
    schema.bind("timeout_ms", forward_timeout_ms,
                "How long a forwarded request may take before it is answered `unavailable`.", 100,
                3'600'000);
    schema.bind("max_hops", max_hops,
                "Managers a request may pass through; more is refused (guards against loops).", 1,
                16);

    schema.section("manager.link", "Links: connections a manager dials out and keeps open.");
    schema.bind("ping_interval_ms", link_ping_interval_ms, "Each side pings the other this often.",
                50, 600'000);
    schema.bind("timeout_ms", link_timeout_ms,
                "A link silent for this long is closed (and redialled by the side that dialled).",
                150, 3'600'000);
    schema.bind("reconnect_base_ms", link_reconnect_base_ms,
                "First redial delay; doubled per failed attempt, with jitter.", 10, 600'000);
    schema.bind("reconnect_max_ms", link_reconnect_max_ms, "Longest redial delay.", 10, 3'600'000);
    schema.bind("max_in_flight", link_max_in_flight,
                "Requests from the peer handled at once on one link; more are answered "
                "`unavailable`.",
                1, 1000);

    schema.section("manager.api", "Connections to the manager API.");
    schema.bind("auth_timeout_ms", auth_timeout_ms,
                "From connecting to a complete authentication frame (TLS handshake included).", 50,
                600'000);
    schema.bind("read_timeout_ms", read_timeout_ms, "From the header of a frame to its last byte.",
                50, 600'000);
    schema.bind("idle_timeout_ms", idle_timeout_ms,
                "How long an authenticated connection may wait between requests.", 50, 86'400'000);
    schema.bind("max_connections", max_connections, "Open connections at most; more are refused.",
                1, 10'000);
    schema.bind("auth_failure_threshold", auth_failure_threshold,
                "Failed authentications from one address before it is locked out.", 1, 1000);
    schema.bind("lockout_base_ms", lockout_base_ms,
                "The first lock-out; each further failure doubles it.", 1, 86'400'000);
    schema.bind("lockout_max_ms", lockout_max_ms, "The longest lock-out.", 1, 86'400'000);

    schema.section("manager.schedule", "Scheduled restarts and reboots.");
    schema.bind("poll_ms", schedule_poll_ms, "How often due schedules are looked for.", 10,
                3'600'000);
    schema.bind("grace_ms", schedule_grace_ms,
                "A schedule found later than this after its time (the manager was down) is marked "
                "missed instead of run.",
                0, 7 * 86'400'000);

    schema.section("manager.system", "systemd, logind and the host figures of system.info.");
    schema.bind("dbus_job_timeout_ms", dbus_job_timeout_ms,
                "How long start/stop/restart wait for systemd to finish the job.", 100, 3'600'000);
    schema.bind("dbus_call_timeout_ms", dbus_call_timeout_ms,
                "How long one D-Bus method call may take.", 100, 600'000);
    schema.bind("disk_paths", disk_paths, "Paths whose file systems system.info reports.");
    schema.bind("journal_lines", journal_lines,
                "Journal lines of the server unit in system.info unless the request asks.", 0,
                1000);

    schema.section("manager.backup",
                   "Backups: snapshots of the server's databases and its media, sent to a peer "
                   "manager (docs/backups.md).");
    schema.bind("server_data_dir", backup_server_data_dir,
                "As a source: the server's data directory (db/current.db, db/history.db, media/).");
    schema.bind("target", backup_target,
                "As a source: the peer (a [[manager.peers]] name) backup.run sends to unless "
                "the request names one.");
    schema.bind("chunk_bytes", backup_chunk_bytes,
                "As a source: bytes of file per transfer request.", 4096, 1'040'384);
    schema.bind("call_timeout_ms", backup_call_timeout_ms,
                "As a source: how long one transfer request may wait for its answer.", 1000,
                3'600'000);
    schema.bind("dir", backup_dir,
                "As a target: where received backups are kept (empty: backups in the data "
                "directory).");
    schema.bind("keep_daily", backup_keep_daily,
                "As a target: keep the newest snapshot of each of this many recent days.", 1, 3650);
    schema.bind("keep_weekly", backup_keep_weekly,
                "As a target: and of each of this many recent weeks.", 0, 520);
    schema.bind("drill", backup_drill,
                "As a target: after each backup, restore it into a scratch directory and check "
                "it (integrity_check and sanity queries).");
    schema.bind("session_timeout_ms", backup_session_timeout_ms,
                "As a target: a backup session that hears nothing for this long is dropped when "
                "another begins (a restart drops them all).",
                1000, 86'400'000);
    schema.bind("history_keep_days", backup_history_keep_days,
                "Both sides: finished runs in backup.history older than this many days are "
                "deleted when a new run begins (0: kept forever).",
                0, 36'500);
}

std::string ManagerConfig::validate() const {
    const bool any_tls =
        !tls.certificate_file.empty() || !tls.private_key_file.empty() || !tls.ca_file.empty();
    if (any_tls &&
        (tls.certificate_file.empty() || tls.private_key_file.empty() || tls.ca_file.empty())) {
        return "manager.tls needs certificate_file, private_key_file and ca_file together";
    }
    const bool any_client_tls = !client_tls.certificate_file.empty() ||
                                !client_tls.private_key_file.empty() || !client_tls.ca_file.empty();
    if (any_client_tls && (client_tls.certificate_file.empty() ||
                           client_tls.private_key_file.empty() || client_tls.ca_file.empty())) {
        return "manager.client_tls needs certificate_file, private_key_file and ca_file together";
    }
    if (link_reconnect_base_ms > link_reconnect_max_ms) {
        return "manager.link.reconnect_base_ms must not exceed manager.link.reconnect_max_ms";
    }
    if (link_timeout_ms < 2 * link_ping_interval_ms) {
        return "manager.link.timeout_ms must be at least twice manager.link.ping_interval_ms";
    }
    if (lockout_base_ms > lockout_max_ms) {
        return "manager.api.lockout_base_ms must not exceed manager.api.lockout_max_ms";
    }
    return {};
}

std::string ManagerConfig::resolved_backup_dir() const {
    return backup_dir.empty() ? data_dir + "/backups" : backup_dir;
}

std::string ManagerConfig::resolved_socket_path() const {
    return socket_path.empty() ? data_dir + "/manager.sock" : socket_path;
}

}  // namespace parley
