// `parley server --make-admin <username>` / `--drop-admin <username>`: gives an existing account
// the "admin" role (the admin routes of docs/api.md), or takes it back to "user". Offline on
// purpose: it takes the data directory's lock, so it refuses while a server runs there (the
// server holds accounts in memory; a change behind its back would be lost or half-seen), and
// only someone who can run commands as the server's user can make an admin. Bot accounts
// cannot become admins. Prints one line and returns the exit code (0 done, 1 refused).
#pragma once

#include <string>

#include "server/settings/server_config.hpp"

namespace parley {

int run_set_admin(const ServerConfig& config, const std::string& username, bool admin);

}  // namespace parley
