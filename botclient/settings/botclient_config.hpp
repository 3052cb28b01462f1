// BotclientConfig: what `parley botclient` reads from its TOML file (docs/bots.md): the server,
// how the bots log in, and the bots with their behaviours. Plain data.
//
// login = "key": remote bots, each with its account id and a file holding its bot key
//   (POST /api/v1/bots/login). login = "local": the server's own bot child; a one-time secret
//   arrives on stdin and buys the sessions of every listed bot at the loopback bot listener
//   (POST /api/v1/bots/local-login); the child ends when its stdin closes.
#pragma once

#include <string>
#include <vector>

#include "common/config_schema.hpp"

namespace parley {

struct BotSpec {
    std::string name;        // the bot's username (local) or a label for the logs (remote)
    std::string behaviour;   // echo | greeter | moderator
    std::string account_id;  // login = "key"
    std::string key_file;    // login = "key": the file holding the bot key
};

struct BotclientConfig {
    std::string log_level = "info";
    std::string data_dir = "botclient-data";
    std::string server_url = "http://127.0.0.1:8080";
    std::string login = "key";
    std::string ca_file;  // https: the CA the server's certificate chains to (empty: the system's)
    int shutdown_timeout_ms = 5'000;
    int reconnect_base_ms = 500;
    int reconnect_max_ms = 30'000;
    std::vector<std::string> moderator_words;
    std::string moderator_action = "remove";
    std::vector<BotSpec> bots;

    void describe(ConfigSchema& schema);
    std::string validate() const;
};

}  // namespace parley
