#include "server/features/room_policy.hpp"

namespace parley {

std::optional<bool> install_signatures_default(SqliteDb& current_db) {
    auto st =
        current_db.prepare("SELECT value FROM server_facts WHERE name = 'signatures_by_default'");
    if (st.step() != StepResult::row) return std::nullopt;
    return st.column_text(0) == "1";
}

RoomPolicy resolve_room_policy(const RoomSettings& settings, std::optional<bool> install_default) {
    RoomPolicy policy;
    policy.allow_unsigned_rooms = settings.allow_unsigned_rooms;
    if (settings.require_signatures) {
        policy.require_signatures = *settings.require_signatures;
        policy.reason = "set by [rooms] require_signatures";
    } else if (install_default.value_or(false)) {
        policy.require_signatures = true;
        policy.reason = "[rooms] require_signatures unset; the default of a new install";
    } else {
        policy.require_signatures = false;
        policy.reason =
            "[rooms] require_signatures unset; this data directory predates the setting, so "
            "rooms stay unsigned unless asked (set it to true to require signatures)";
    }
    return policy;
}

}  // namespace parley
