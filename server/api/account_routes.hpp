// The account and profile routes of api.md: register, login, refresh (with rotation and reuse
// detection), logout, and profiles with the private-profile rule.
#pragma once

#include "server/api/api_context.hpp"
#include "server/api/router.hpp"
#include "server/data/db_readers.hpp"

namespace parley {

void add_account_routes(Router& router, ApiContext& api);
void add_profile_routes(Router& router, ApiContext& api, DbReaderPool& readers);

}  // namespace parley
