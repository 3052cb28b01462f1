// BotService: bot accounts — the remote bots' key login (with the per-bot wrong-key lock-out,
// persisted in the bots table so a restart does not lift it, and the per-address login
// lock-out shared with password logins), the bot listing, an admin creating a remote bot and
// rotating or revoking its key (every session of the bot ends, its sockets close, the audit
// log records it), and the sessions of the local bots handed to a new bot child (those of the
// previous child end). Answers Outcomes (server/features/outcome.hpp); never logs a key.
// Owned by the server app; thread-safe.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/rate_limiter.hpp"
#include "server/data/account_store.hpp"
#include "server/data/audit_log.hpp"
#include "server/data/bot_store.hpp"
#include "server/features/client_registry.hpp"
#include "server/features/outcome.hpp"
#include "server/features/session_tokens.hpp"
#include "server/settings/server_config.hpp"

namespace parley {

// The lock-out key of a bot in the wrong-key FailureBackoff.
std::string bot_lockout_key(const std::string& account_id);

struct LocalBot {
    std::string username;
    std::string account_id;
};

struct BotListing {
    std::string account_id;
    std::string username;
    std::string kind;
};

// A remote bot's key after a rotation (empty after a revocation) and the sessions it ended.
struct BotKeyChange {
    std::string bot_key;
    std::size_t sessions_revoked = 0;
};

class BotService {
  public:
    // `bot_keys` is the wrong-key lock-out, already restored from the store; audit rows are
    // written on `audit_pool`.
    BotService(const AuthSettings& auth, AccountStore& accounts, BotStore& bots,
               ClientRegistry& clients, FailureBackoff& bot_keys, FailureBackoff& login_by_address,
               AuditLog& audit, net::thread_pool& audit_pool);

    // {account_id, bot_key} from `address`: a session of the remote bot.
    awaitable<Outcome<IssuedTokens>> login(const std::string& address, const nlohmann::json& body);
    // Every bot account, by username.
    std::vector<BotListing> list() const;
    // {username}, by the admin `admin_id`: the new remote bot and its key (shown once).
    awaitable<Outcome<CreatedBot>> create_remote(const std::string& admin_id,
                                                 const nlohmann::json& body);
    // A new key (`rotate`) or none; the old key stops working at once.
    awaitable<Outcome<BotKeyChange>> change_key(const std::string& admin_id,
                                                const std::string& bot_id, bool rotate);
    // The sessions of `bots` for a new bot child; the previous child's sessions end.
    awaitable<Outcome<std::vector<IssuedTokens>>> start_local_sessions(
        const std::vector<LocalBot>& bots);

  private:
    awaitable<void> end_local_sessions(std::vector<std::string> ids);

    const AuthSettings& auth_;
    AccountStore& accounts_;
    BotStore& bots_;
    ClientRegistry& clients_;
    FailureBackoff& bot_keys_;
    FailureBackoff& login_by_address_;
    AuditLog& audit_;
    net::thread_pool& audit_pool_;
    // The sessions the last local login issued: a new bot child replaces them all, so the
    // sessions of an ended child do not linger until they expire.
    std::mutex local_mutex_;
    std::vector<std::string> local_sessions_;
};

}  // namespace parley
