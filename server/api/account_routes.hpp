// The account and profile routes of api.md: register, login, refresh (with rotation and reuse
// detection), password change, sessions, logout, and profiles with the private-profile rule.
// Each route is a named function adapting one AccountService or ProfileService call to HTTP.
#pragma once

#include "server/api/api_context.hpp"
#include "server/api/router.hpp"
#include "server/features/account_service.hpp"
#include "server/features/profile_service.hpp"

namespace parley {

void add_account_routes(Router& router, ApiContext& api, AccountService& accounts);
void add_profile_routes(Router& router, ApiContext& api, ProfileService& profiles);

}  // namespace parley
