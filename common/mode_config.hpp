// Loading a mode's configuration from the command line, the same way for every mode.
//
// A mode's config type provides `void describe(ConfigSchema&)` (binds every key),
// `std::string validate() const` (cross-key checks; empty when fine) and the members
// `data_dir` and `log_level`, which the command line may override. load_mode_config() starts
// from the embedded defaults, applies the file named by --config (all or nothing), then the
// flags, then validate(). Used once at start-up from main.
#pragma once

#include <string>

#include "common/cli.hpp"
#include "common/config_schema.hpp"
#include "common/logging.hpp"

namespace parley {

// The documented default configuration of a mode.
template <class Config>
std::string render_default_config() {
    Config config;
    ConfigSchema schema;
    config.describe(schema);
    return schema.render();
}

// Throws ConfigError on any problem; the message names the key and the problem.
template <class Config>
Config load_mode_config(const CommandLine& cmd) {
    Config config;
    ConfigSchema schema;
    config.describe(schema);
    if (!cmd.config_path.empty()) schema.load_file(cmd.config_path);
    if (!cmd.data_dir.empty()) config.data_dir = cmd.data_dir;
    if (!cmd.log_level.empty()) config.log_level = cmd.log_level;
    if (std::string problem = config.validate(); !problem.empty()) {
        std::string origin = cmd.config_path.empty() ? "the defaults" : cmd.config_path;
        throw ConfigError("invalid configuration in " + origin + ": " + problem);
    }
    return config;
}

// Binds the keys every mode has: `log.level` and `data.dir`.
template <class Config>
void describe_common_keys(ConfigSchema& schema, Config& config, const char* data_doc) {
    schema.section("log", "Logging (spdlog, one line per event on stderr).");
    schema.bind_choice("level", config.log_level, "Lowest level written.",
                       {"trace", "debug", "info", "warn", "error", "critical", "off"});
    schema.section("data", "Where this mode keeps its state.");
    schema.bind("dir", config.data_dir, data_doc, [](const std::string& v) -> std::string {
        return v.empty() ? "must not be empty" : "";
    });
}

}  // namespace parley
