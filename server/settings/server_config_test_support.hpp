// Test support: a ServerConfig loaded from TOML text through its schema, as `parley server`
// loads its file (throws ConfigError naming the key on a bad value). Unit tests only.
#pragma once

#include <string>

#include "server/settings/server_config.hpp"

namespace parley::test {

inline ServerConfig load_server_config(const std::string& text) {
    ServerConfig config;
    ConfigSchema schema;
    config.describe(schema);
    schema.load_string(text, "test");
    return config;
}

}  // namespace parley::test
