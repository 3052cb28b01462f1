// BotclientConfig: what `parley botclient` reads from its TOML file. Plain data.
#pragma once

#include <string>

#include "common/config_schema.hpp"

namespace parley {

struct BotclientConfig {
    std::string log_level = "info";
    std::string data_dir = "botclient-data";
    std::string server_url = "http://127.0.0.1:8080";
    int shutdown_timeout_ms = 5'000;

    void describe(ConfigSchema& schema);
    std::string validate() const;
};

}  // namespace parley
