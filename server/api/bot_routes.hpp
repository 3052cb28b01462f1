// Bot routes (docs/api.md "Bots", docs/bots.md):
//
//   POST /api/v1/bots/login {"account_id","bot_key"}      remote bots: a bot key for a session
//   GET  /api/v1/bots                                     the bot accounts (to invite them)
//   POST /api/v1/admin/bots {"username"}                  admins: a new remote bot and its key
//   POST /api/v1/bots/local-login {"secret"}              the bot listener only: the sessions of
//                                                         every local bot, for the one-time secret
//
// Each route adapts one BotService call (server/features/bot_service.hpp, which holds the
// lock-outs and the key rules) to HTTP. Built once at start-up.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "server/api/api_context.hpp"
#include "server/api/router.hpp"
#include "server/features/bot_service.hpp"

namespace parley {

class BotSupervisor;

// The public routes.
void add_bot_routes(Router& router, ApiContext& api, BotService& bots);

// The route of the loopback bot listener, never added to the public router.
void add_local_bot_routes(Router& router, BotService& bots, BotSupervisor& supervisor,
                          std::vector<LocalBot> local_bots);

// Whether a peer address (as RequestContext::remote_address has it) is a loopback address,
// IPv4-mapped IPv6 included.
bool is_loopback_peer(const std::string& address);

}  // namespace parley
