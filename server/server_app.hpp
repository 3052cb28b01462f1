// `parley server`: builds the server's objects from its config and runs them until a signal.
#pragma once

#include "server/settings/server_config.hpp"

namespace parley {

// Returns the process exit code.
int run_server(const ServerConfig& config);

}  // namespace parley
