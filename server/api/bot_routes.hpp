// Bot routes (docs/api.md "Bots", docs/bots.md):
//
//   POST /api/v1/bots/login {"account_id","bot_key"}      remote bots: a bot key for a session
//   GET  /api/v1/bots                                     the bot accounts (to invite them)
//   POST /api/v1/admin/bots {"username"}                  admins: a new remote bot and its key
//   POST /api/v1/bots/local-login {"secret"}              the bot listener only: the sessions of
//                                                         every local bot, for the one-time secret
//
// Wrong bot keys lock that bot out for a time that grows with each one (FailureBackoff keyed
// "bot:<account id>"); every change of that state is written to the bots table, so a restart
// does not lift it. Every wrong key and every refused local login is logged (never the key).
// Built once at start-up.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "server/api/api_context.hpp"
#include "server/api/router.hpp"

namespace parley {

class AuditLog;
class BotStore;
class BotSupervisor;

// The public routes. `bot_keys` is the wrong-key lock-out, already restored from the store.
void add_bot_routes(Router& router, ApiContext& api, BotStore& bots, FailureBackoff& bot_keys,
                    AuditLog& audit);

// The lock-out key of a bot in `bot_keys`.
std::string bot_lockout_key(const std::string& account_id);

struct LocalBot {
    std::string username;
    std::string account_id;
};

// The route of the loopback bot listener, never added to the public router.
void add_local_bot_routes(Router& router, ApiContext& api, BotSupervisor& supervisor,
                          std::vector<LocalBot> local_bots);

// Whether a peer address (as RequestContext::remote_address has it) is a loopback address,
// IPv4-mapped IPv6 included.
bool is_loopback_peer(const std::string& address);

}  // namespace parley
