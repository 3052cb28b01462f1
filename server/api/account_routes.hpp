// The account and profile routes of api.md: register, login, refresh (with rotation and reuse
// detection), logout, and profiles with the private-profile rule.
#pragma once

#include "server/api/api_context.hpp"
#include "server/api/router.hpp"
#include "server/data/db_readers.hpp"

namespace parley {

void add_account_routes(Router& router, ApiContext& api);
void add_profile_routes(Router& router, ApiContext& api, DbReaderPool& readers);

// Username rules: 3 to 32 characters from [A-Za-z0-9_.-], starting with a letter or digit.
// Returns the problem, or empty when valid.
std::string check_username(const std::string& name);
// Password rules: 8 to 1024 bytes.
std::string check_password(const std::string& password);

}  // namespace parley
