#include "server/settings/bot_settings.hpp"

#include <boost/asio/ip/address.hpp>

namespace parley {

bool is_bot_behaviour(const std::string& behaviour) {
    return behaviour == "echo" || behaviour == "greeter" || behaviour == "moderator";
}

std::string BotSettings::local_username(std::size_t index) const {
    return "bot" + std::to_string(index + 1) + "-" + behaviours.at(index);
}

void BotSettings::describe(ConfigSchema& schema) {
    schema.section("bots",
                   "Bots (docs/bots.md): local bots run by the server in a `parley botclient` "
                   "child, and the lock-out of remote bots' wrong keys.");
    schema.bind("local", local,
                "Local bots to run (0: none, no bot child and no bot listener). Their accounts "
                "are bot1-<behaviour>, bot2-<behaviour>, … and are created when missing.",
                0, 64);
    schema.bind("behaviours", behaviours,
                "The behaviour of each local bot, one entry per bot: \"echo\", \"greeter\" or "
                "\"moderator\".");
    schema.bind("listen", listen_address,
                "Address of the local bot listener: a loopback address only (127.0.0.0/8, ::1). "
                "Peers that are not loopback are refused even so.",
                [](const std::string& v) -> std::string {
                    boost::system::error_code ec;
                    auto address = boost::asio::ip::make_address(v, ec);
                    if (ec) return "not an IP address: '" + v + "'";
                    return address.is_loopback() ? "" : "must be a loopback address";
                });
    schema.bind("port", port, "TCP port of the local bot listener (0 picks a free port).", 0,
                65535);
    schema.bind("moderator_words", moderator_words,
                "Words a moderator bot acts on (case-insensitive, whole words).");
    schema.bind_choice("moderator_action", moderator_action,
                       "What a moderator bot does with a matching message: remove it (needs the "
                       "room role owner or moderator; otherwise it flags) or flag it (a notice "
                       "in the room).",
                       {"remove", "flag"});
    schema.bind("restart_backoff_ms", restart_backoff_ms,
                "Wait before restarting a bot child that ended; doubles per failure in a row.", 10,
                600'000);
    schema.bind("restart_backoff_max_ms", restart_backoff_max_ms,
                "Longest wait before restarting the bot child.", 10, 3'600'000);
    schema.bind("key_failure_threshold", key_failure_threshold,
                "Wrong keys in a row before a remote bot is locked out.", 1, 1000);
    schema.bind("key_lockout_base_ms", key_lockout_base_ms,
                "First lock-out of a remote bot; each further wrong key doubles it. Persisted: "
                "a restart does not lift it.",
                10, 86'400'000);
    schema.bind("key_lockout_max_ms", key_lockout_max_ms, "Longest lock-out of a remote bot.", 10,
                7 * 86'400'000);
}

std::string BotSettings::validate() const {
    if (static_cast<int>(behaviours.size()) != local) {
        return "bots.behaviours must list one behaviour per local bot (bots.local = " +
               std::to_string(local) + ", " + std::to_string(behaviours.size()) + " listed)";
    }
    for (const auto& b : behaviours) {
        if (!is_bot_behaviour(b)) {
            return "bots.behaviours: unknown behaviour '" + b +
                   "' (expected echo, greeter or moderator)";
        }
    }
    for (const auto& w : moderator_words) {
        if (w.empty() || w.size() > 100) return "bots.moderator_words: empty or too long word";
    }
    if (restart_backoff_ms > restart_backoff_max_ms) {
        return "bots.restart_backoff_ms is larger than bots.restart_backoff_max_ms";
    }
    if (key_lockout_base_ms > key_lockout_max_ms) {
        return "bots.key_lockout_base_ms is larger than bots.key_lockout_max_ms";
    }
    return {};
}

}  // namespace parley
