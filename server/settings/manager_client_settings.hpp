// [manager] of the server's configuration: the optional connection to the local manager
// (maintenance notices in, admin requests out). Plain data; see ManagerClient.
#pragma once

#include <string>

#include "common/config_schema.hpp"

namespace parley {

struct ManagerClientSettings {
    std::string socket;    // the manager's unix socket; empty: no manager
    std::string key_file;  // the API key the server presents (an admin key for admin routes)
    int request_timeout_ms = 120'000;
    int watch_wait_ms = 25'000;  // one schedule.watch long poll (below the manager's idle_timeout)
    int reconnect_base_ms = 500;
    int reconnect_max_ms = 30'000;
    // A daily backup (docs/backups.md): "HH:MM" in UTC, or empty for none; the peer manager it
    // goes to (empty: the manager's manager.backup.target).
    std::string backup_daily_at;
    std::string backup_to;

    // Minutes after midnight UTC of backup_daily_at; -1 when it is empty or malformed.
    int backup_minute_of_day() const;

    bool enabled() const { return !socket.empty(); }
    void describe(ConfigSchema& schema);
    std::string validate() const;
};

}  // namespace parley
