// RoomPolicy: what a new room requires of its messages, resolved once at start-up from
// [rooms] in the config and the install's own default (current.db's server_facts row
// `signatures_by_default`, written by migration 12: yes for a new install, no for a data
// directory that already held accounts or rooms). An explicit config value wins. Plain data,
// read-only after start; RoomService applies it in create().
#pragma once

#include <optional>
#include <string>

#include "common/db/sqlite.hpp"
#include "server/settings/server_config.hpp"

namespace parley {

struct RoomPolicy {
    bool require_signatures = true;     // a room created without the field requires them
    bool allow_unsigned_rooms = false;  // a creator may ask for "require_signatures": false
    std::string reason;                 // why require_signatures is what it is, for the log

    // Whether a creator may ask for "require_signatures": false: always where signatures are
    // not required, else only where the server allows unsigned rooms.
    bool allows_opt_out() const { return !require_signatures || allow_unsigned_rooms; }
};

// The install's default from server_facts; nullopt when the row is missing (a database not
// migrated to version 12).
std::optional<bool> install_signatures_default(SqliteDb& current_db);

// The config's choice when it makes one, else the install's; nullopt install means false (a
// database without the fact predates the setting). Logs nothing: the caller logs `reason`.
RoomPolicy resolve_room_policy(const RoomSettings& settings, std::optional<bool> install_default);

}  // namespace parley
