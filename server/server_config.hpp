// ServerConfig: everything `parley server` reads from its TOML file, with embedded defaults
// (127.0.0.1:8080, data in ./data). describe() is the single list of keys: it renders the
// documented default file and validates a user's file. Plain data; copied into the server's
// components at start-up and read-only afterwards.
#pragma once

#include <cstdint>
#include <string>

#include "common/config_schema.hpp"

namespace parley {

struct HttpLimits {
    std::int64_t header_limit_bytes = 16 * 1024;
    std::int64_t body_limit_bytes = 64 * 1024;  // JSON routes; media has its own limit
    int read_timeout_ms = 15'000;               // a request must arrive within this
    int idle_timeout_ms = 60'000;               // keep-alive connection with no request
    int write_timeout_ms = 15'000;
    int max_connections = 18'000;
};

struct TlsSettings {
    bool enabled = false;
    std::string certificate_file;
    std::string private_key_file;
};

struct ServerConfig {
    std::string log_level = "info";
    std::string data_dir = "data";

    std::string listen_address = "127.0.0.1";
    int port = 8080;
    int threads = 0;  // 0: one per core
    int shutdown_timeout_ms = 10'000;

    HttpLimits http;
    TlsSettings tls;

    void describe(ConfigSchema& schema);
    std::string validate() const;
};

}  // namespace parley
