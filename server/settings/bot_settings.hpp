// BotSettings: the [bots] section of the server's configuration (docs/bots.md): local bots the
// server runs itself (`local` of them, one behaviour each, in a `parley botclient` child that
// logs in through a loopback-only bot listener), and the lock-out of remote bots' wrong keys.
// Plain data; copied into the server's components at start-up.
#pragma once

#include <string>
#include <vector>

#include "common/config_schema.hpp"

namespace parley {

struct BotSettings {
    int local = 0;                        // local bots; 0: no bot child, no bot listener
    std::vector<std::string> behaviours;  // one per local bot: echo | greeter | moderator
    std::string listen_address = "127.0.0.1";
    int port = 0;  // the bot listener; 0 picks a free port
    std::vector<std::string> moderator_words;
    std::string moderator_action = "remove";  // remove | flag
    int restart_backoff_ms = 500;
    int restart_backoff_max_ms = 30'000;
    int key_failure_threshold = 3;  // wrong keys in a row before a remote bot is locked out
    int key_lockout_base_ms = 60'000;
    int key_lockout_max_ms = 24 * 3600 * 1000;

    bool enabled() const { return local > 0; }
    // The username of local bot `index` (0-based): "bot<index+1>-<behaviour>".
    std::string local_username(std::size_t index) const;
    void describe(ConfigSchema& schema);
    std::string validate() const;
};

// Whether `behaviour` names a bot behaviour (echo, greeter, moderator).
bool is_bot_behaviour(const std::string& behaviour);

}  // namespace parley
