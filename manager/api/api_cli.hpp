// `parley manager-api <method> [key=value ...]`: the command-line client of the manager API.
// Builds one request from the arguments, connects to the manager's unix socket (found from the
// same --config/--data-dir the manager uses) or to --url, authenticates with the key from
// --key-file or $PARLEY_MANAGER_KEY, prints the JSON answer on stdout and exits 0 when it is
// ok, 1 on an error answer or when the manager cannot be reached, 2 on a usage error, 3 on a
// bad configuration. Runs on the calling thread, once, from main.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/cli.hpp"

namespace parley {

int run_manager_api(const CommandLine& cmd);

// The params object from --params and key=value arguments; nullopt with `error` on a usage
// problem. `now_ms` resolves at=+<n><s|m|h|d>.
std::optional<nlohmann::json> build_manager_api_params(const std::string& params_json,
                                                       const std::vector<std::string>& args,
                                                       std::int64_t now_ms, std::string& error);

}  // namespace parley
