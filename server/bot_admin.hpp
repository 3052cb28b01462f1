// `parley server --make-bot <username>`: creates a remote bot account and prints its bot key,
// the only time the key is ever shown (docs/bots.md). Offline like --make-admin: it takes the
// data directory's lock, so it refuses while a server runs there (the server keeps bots in
// memory). The admin route POST /api/v1/admin/bots does the same on a running server. Prints
// the account id and the key on stdout and returns the exit code (0 done, 1 refused).
#pragma once

#include <string>

#include "server/settings/server_config.hpp"

namespace parley {

int run_make_bot(const ServerConfig& config, const std::string& username);

}  // namespace parley
