// ManagerConfig: what `parley manager` reads from its TOML file, with embedded defaults.
// Plain data, read-only after start-up.
#pragma once

#include <string>

#include "common/config_schema.hpp"

namespace parley {

struct ManagerConfig {
    std::string log_level = "info";
    std::string data_dir = "manager-data";

    std::string listen_address = "127.0.0.1";
    int port = 8443;
    std::string server_unit = "parley-server.service";
    int shutdown_timeout_ms = 10'000;

    void describe(ConfigSchema& schema);
    std::string validate() const;
};

}  // namespace parley
