// AccountService: accounts and their sessions — registering, the password login (with the
// lock-outs of auth.login_*), refreshing a token pair (rotation, and reuse ending the session),
// changing the password (the current one required; every other session ends), listing and
// ending one's sessions, and logging out; for admins, the account list and disabling or
// enabling an account (its sessions end; the audit log records it). Each call writes to
// AccountStore, then closes the sockets of the sessions it ended itself (4001), and answers an
// Outcome (server/features/ outcome.hpp). Password hashing and verification run on the hashing
// pool, never on network threads; an unknown name costs one verification too, so timing does not
// tell which names exist. Owned by the server app; thread-safe (the stores and limiters are).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/rate_limiter.hpp"
#include "server/data/account_store.hpp"
#include "server/data/audit_log.hpp"
#include "server/features/client_registry.hpp"
#include "server/features/outcome.hpp"
#include "server/features/session_tokens.hpp"
#include "server/settings/server_config.hpp"

namespace parley {

// An account in the admin list, with its live sessions.
struct AccountListing {
    Account account;
    std::size_t live_sessions = 0;
};

// A page of the admin list; `next` (the last username, lowercased) is empty after the last.
struct AccountPage {
    std::vector<AccountListing> items;
    std::string next;
};

// An admin's disable or enable: when (0: enabled) and the sessions it ended.
struct AccountStatus {
    std::int64_t disabled_at = 0;
    std::size_t sessions_revoked = 0;
};

class AccountService {
  public:
    // Hashes a dummy password once, at the configured cost (start-up).
    // Audit rows are written on `hash_pool` too.
    AccountService(const AuthSettings& settings, AccountStore& accounts, ClientRegistry& clients,
                   net::thread_pool& hash_pool, FailureBackoff& login_by_account,
                   FailureBackoff& login_by_address, TokenBucketLimiter& register_by_address,
                   AuditLog& audit);

    // {username, password} from `address` (rate-limited per address).
    awaitable<Outcome<Account>> register_account(const std::string& address,
                                                 const nlohmann::json& body);
    // {username, password}: a new session and its tokens.
    awaitable<Outcome<IssuedTokens>> login(const std::string& address, const nlohmann::json& body);
    // {refresh_token}: the session's next token pair.
    awaitable<Outcome<IssuedTokens>> refresh(const nlohmann::json& body);
    // {current_password, new_password}: the number of other sessions ended.
    awaitable<Outcome<std::size_t>> change_password(const Account& account, const Session& session,
                                                    const nlohmann::json& body);
    // The account's live sessions.
    std::vector<Session> sessions_of(const std::string& account_id) const;
    // Ends one of the account's own sessions.
    awaitable<Outcome<Done>> end_session(const Account& account, const Session& from,
                                         const std::string& session_id);
    awaitable<Outcome<Done>> logout(const Session& session);

    // Admins: accounts by username (case-insensitive) after `cursor`, those starting with
    // `prefix`, `limit` (1 to 1000) at a time.
    Outcome<AccountPage> account_page(const std::string& prefix, const std::string& cursor,
                                      int limit) const;
    // Admins: disabling ends every session of the account at once (sockets closed with 4001)
    // and refuses its logins until an admin enables it again; nothing of it is deleted.
    awaitable<Outcome<AccountStatus>> set_disabled(const std::string& admin_id,
                                                   const std::string& account_id, bool disable,
                                                   const std::string& reason);

  private:
    // The argon2id hash of a new password on the hashing pool; empty when hashing failed
    // (logged).
    awaitable<std::string> hash_new_password(const std::string& password);
    awaitable<bool> verify(std::string password, std::string stored_hash);

    const AuthSettings& settings_;
    AccountStore& accounts_;
    ClientRegistry& clients_;
    net::thread_pool& hash_pool_;
    FailureBackoff& login_by_account_;
    FailureBackoff& login_by_address_;
    TokenBucketLimiter& register_by_address_;
    AuditLog& audit_;
    // Unknown names verify against this hash, made with the configured cost (the cost is part
    // of the hash): a cheaper one answered unknown names in about a millisecond and told a
    // guesser which names exist.
    std::string dummy_hash_;
};

}  // namespace parley
