#include "botclient/botclient_config.hpp"

#include "common/mode_config.hpp"

namespace parley {

void BotclientConfig::describe(ConfigSchema& schema) {
    describe_common_keys(schema, *this, "Bot client state.");
    schema.section("botclient", "The server the bots connect to.");
    schema.bind("server_url", server_url, "Base URL of the Parley server (http:// or https://).",
                [](const std::string& v) -> std::string {
                    return v.starts_with("http://") || v.starts_with("https://")
                               ? ""
                               : "must start with http:// or https://";
                });
    schema.bind("shutdown_timeout_ms", shutdown_timeout_ms,
                "On SIGTERM, how long bots may take to leave before the process exits.", 100,
                600'000);
}

std::string BotclientConfig::validate() const {
    return {};
}

}  // namespace parley
