// Issuing a session's token pair, shared by the password login, the refresh route and the bot
// logins (remote bot keys, the local bot listener): fresh random 256-bit tokens, stored only as
// their SHA-256, and the JSON body every login answers with (docs/api.md). Stateless.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "server/model/account.hpp"
#include "server/server_config.hpp"

namespace parley {

struct IssuedTokens {
    Session session;
    std::string access_token;
    std::string refresh_token;
};

// `base` gives the id, account and creation time (0: now); the hashes and expiries are set.
IssuedTokens issue_tokens(const AuthSettings& auth, Session base);

// {"account_id","session_id","access_token","refresh_token","access_expires_at",
//  "refresh_expires_at"}
nlohmann::json token_body(const IssuedTokens& tokens);

}  // namespace parley
