// Issuing a session's token pair, shared by the password login, the refresh and the bot logins
// (remote bot keys, the local bot listener): fresh random 256-bit tokens, stored only as their
// SHA-256, and the JSON body every login answers with (docs/api.md); open_session() stores one.
// Ending sessions: their sockets are closed with 4001 and forgotten. Stateless functions; any
// thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/data/account_store.hpp"
#include "server/features/client_registry.hpp"
#include "server/model/account.hpp"
#include "server/settings/server_config.hpp"

namespace parley {

// The WebSocket close code of a socket whose session ended (api.md).
inline constexpr std::uint16_t kSessionEndedCloseCode = 4001;

// The SHA-256 under which a token is stored.
std::string token_hash(std::string_view token);

// Closes the sockets of ended sessions (kSessionEndedCloseCode, `reason`) and forgets them.
void close_session_sockets(ClientRegistry& clients, const std::vector<std::string>& session_ids,
                           const char* reason);

struct IssuedTokens {
    Session session;
    std::string access_token;
    std::string refresh_token;
};

// `base` gives the id, account and creation time (0: now); the hashes and expiries are set.
IssuedTokens issue_tokens(const AuthSettings& auth, Session base);

// A new session of `account_id` with fresh tokens, stored through `accounts`.
awaitable<DbResult<IssuedTokens>> open_session(AccountStore& accounts, const AuthSettings& auth,
                                               const std::string& account_id);

// {"account_id","session_id","access_token","refresh_token","access_expires_at",
//  "refresh_expires_at"}
nlohmann::json token_body(const IssuedTokens& tokens);

}  // namespace parley
