#include "server/settings/manager_client_settings.hpp"

#include "common/daily_time.hpp"

namespace parley {

void ManagerClientSettings::describe(ConfigSchema& schema) {
    schema.section("manager",
                   "The local manager (optional): maintenance notices for clients, admin routes. "
                   "The server's user must be in the manager's group to open its socket.");
    schema.bind("socket", socket,
                "The manager's unix socket, e.g. /var/lib/parley-manager/manager.sock (empty: "
                "no manager; admin manager routes answer 503).");
    schema.bind("key_file", key_file,
                "File holding the manager API key of the server (access = \"admin\" for the admin "
                "routes to act).");
    schema.bind("request_timeout_ms", request_timeout_ms,
                "Deadline of one admin request to the manager (forwarding included).", 100,
                3'600'000);
    schema.bind("watch_wait_ms", watch_wait_ms,
                "Longest wait of one schedule.watch; keep it below the manager's "
                "manager.api.idle_timeout_ms.",
                0, 300'000);
    schema.bind("reconnect_base_ms", reconnect_base_ms,
                "First reconnection delay after the manager went away; doubled per failure, "
                "jittered.",
                10, 600'000);
    schema.bind("reconnect_max_ms", reconnect_max_ms, "Longest reconnection delay.", 10, 3'600'000);
    schema.bind("backup_daily_at", backup_daily_at,
                "Ask the manager for a backup every day at this time, \"HH:MM\" in UTC (empty: "
                "no daily backup; admins can still start one).",
                [](const std::string& v) { return daily_time_problem(v); });
    schema.bind("backup_to", backup_to,
                "The peer manager that receives the backups (empty: the manager's "
                "manager.backup.target).");
}

int ManagerClientSettings::backup_minute_of_day() const {
    return minute_of_day(backup_daily_at);
}

std::string ManagerClientSettings::validate() const {
    if (!socket.empty() && key_file.empty())
        return "manager.socket is set but manager.key_file is empty";
    if (reconnect_base_ms > reconnect_max_ms) {
        return "manager.reconnect_base_ms must not exceed manager.reconnect_max_ms";
    }
    return {};
}

}  // namespace parley
