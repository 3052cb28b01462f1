#include "server/features/account_service.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/offload.hpp"
#include "server/features/audit_trail.hpp"
#include "server/features/request_fields.hpp"
#include "server/model/account.hpp"

namespace parley {

namespace {

PasswordHashParams hash_params(const AuthSettings& a) {
    return PasswordHashParams{static_cast<std::uint32_t>(a.argon2_t_cost),
                              static_cast<std::uint32_t>(a.argon2_m_cost_kib),
                              static_cast<std::uint32_t>(a.argon2_parallelism)};
}

Refusal rate_limited(std::chrono::milliseconds retry_after, std::string message) {
    return Refusal{ErrorCode::rate_limited, std::move(message), retry_after};
}

}  // namespace

AccountService::AccountService(const AuthSettings& settings, AccountStore& accounts,
                               ClientRegistry& clients, net::thread_pool& hash_pool,
                               FailureBackoff& login_by_account, FailureBackoff& login_by_address,
                               TokenBucketLimiter& register_by_address, AuditLog& audit)
    : settings_(settings),
      accounts_(accounts),
      clients_(clients),
      hash_pool_(hash_pool),
      login_by_account_(login_by_account),
      login_by_address_(login_by_address),
      register_by_address_(register_by_address),
      audit_(audit),
      dummy_hash_(hash_password("parley-dummy-password", hash_params(settings))) {}

awaitable<std::string> AccountService::hash_new_password(const std::string& password) {
    auto job = [&password, params = hash_params(settings_)]() noexcept {
        try {
            return hash_password(password, params);
        } catch (const std::exception& e) {
            spdlog::error("password hashing failed: {}", e.what());
            return std::string();
        }
    };
    co_return co_await offload(hash_pool_, std::move(job));
}

awaitable<bool> AccountService::verify(std::string password, std::string stored_hash) {
    auto job = [pw = std::move(password), stored = std::move(stored_hash)]() noexcept {
        return verify_password(pw, stored);
    };
    co_return co_await offload(hash_pool_, std::move(job));
}

awaitable<Outcome<Account>> AccountService::register_account(const std::string& address,
                                                             const nlohmann::json& body) {
    auto username = string_field(body, "username");
    auto password = string_field(body, "password");
    if (!username || !password) {
        co_return Refusal{ErrorCode::bad_request, "username and password are required strings"};
    }
    if (auto p = check_username(*username); !p.empty())
        co_return Refusal{ErrorCode::bad_request, p};
    if (auto p = check_password(*password); !p.empty())
        co_return Refusal{ErrorCode::bad_request, p};
    if (auto d = register_by_address_.acquire(address); !d.allowed) {
        co_return rate_limited(d.retry_after, "too many accounts created from this address");
    }
    if (accounts_.account_by_username(*username)) {
        co_return Refusal{ErrorCode::conflict, "username is taken"};
    }
    std::string hash = co_await hash_new_password(*password);
    if (hash.empty()) co_return Refusal{ErrorCode::internal, "could not create the account"};
    Account account{random_id(), *username, std::move(hash), "user", now_ms()};
    auto created = co_await accounts_.create_account(account);
    if (!created) {
        if (created.error().code == DbErrc::constraint) {
            co_return Refusal{ErrorCode::conflict, "username is taken"};
        }
        co_return db_refusal(created.error(), "account creation");
    }
    spdlog::info("account {} created", created->id);
    co_return std::move(*created);
}

awaitable<Outcome<IssuedTokens>> AccountService::login(const std::string& address,
                                                       const nlohmann::json& body) {
    auto username = string_field(body, "username");
    auto password = string_field(body, "password");
    if (!username || !password || password->size() > 1024 || username->size() > 64) {
        co_return Refusal{ErrorCode::bad_request, "username and password are required strings"};
    }
    std::string account_key = "account:" + ascii_lower(*username);
    std::string address_key = "address:" + address;
    auto wait = std::max(login_by_account_.retry_after(account_key),
                         login_by_address_.retry_after(address_key));
    if (wait.count() > 0) {
        spdlog::warn("login refused during lock-out (address {})", address);
        co_return rate_limited(wait, "too many failed logins; try again later");
    }
    auto account = accounts_.account_by_username(*username);
    // Unknown names still cost one verification, so timing does not reveal which exist. (The
    // hash is a named local: g++ 12 mishandles a conditional's temporary inside co_await.)
    std::string stored = account ? account->password_hash : dummy_hash_;
    bool ok = co_await verify(*password, std::move(stored));
    if (!ok || !account || account->role == "bot") {
        auto a = login_by_account_.record_failure(account_key);
        login_by_address_.record_failure(address_key);
        spdlog::info("failed login for {} from {} ({} in a row)",
                     account ? account->id : std::string("unknown account"), address, a.failures);
        co_return Refusal{ErrorCode::unauthorized, "wrong username or password"};
    }
    login_by_account_.record_success(account_key);
    login_by_address_.record_success(address_key);
    // Said only to whoever knows the password: it reveals nothing to a guesser.
    if (account->disabled_at) {
        spdlog::info("login of disabled account {} from {} refused", account->id, address);
        co_return Refusal{ErrorCode::forbidden, "this account is disabled; ask an admin"};
    }
    auto tokens = co_await open_session(accounts_, settings_, account->id);
    if (!tokens) co_return db_refusal(tokens.error(), "login");
    spdlog::info("account {} logged in: session {}", account->id, tokens->session.id);
    co_return std::move(*tokens);
}

awaitable<Outcome<IssuedTokens>> AccountService::refresh(const nlohmann::json& body) {
    auto refresh = string_field(body, "refresh_token");
    if (!refresh || refresh->empty() || refresh->size() > 256) {
        co_return Refusal{ErrorCode::bad_request, "refresh_token is a required string"};
    }
    IssuedTokens next = issue_tokens(settings_, Session{});
    auto outcome = co_await accounts_.rotate(token_hash(*refresh), next.session);
    if (!outcome) co_return db_refusal(outcome.error(), "token refresh");
    switch (outcome->status) {
        case RefreshStatus::rotated:
            next.session = outcome->session;
            spdlog::info("session {} refreshed", next.session.id);
            co_return next;
        case RefreshStatus::reused:
            spdlog::warn(
                "session {} of account {}: a rotated refresh token was presented again; session "
                "revoked",
                outcome->session.id, outcome->session.account_id);
            close_session_sockets(clients_, {outcome->session.id},
                                  "session revoked: refresh token reuse");
            co_return Refusal{ErrorCode::unauthorized,
                              "refresh token was already used; the session is revoked"};
        case RefreshStatus::invalid:
            break;
    }
    co_return Refusal{ErrorCode::unauthorized, "invalid or expired refresh token"};
}

// A password change needs the current password too (a stolen access token alone is not
// enough), counts wrong ones against the account's login lock-out, and ends every other
// session of the account in the same transaction.
awaitable<Outcome<std::size_t>> AccountService::change_password(const Account& account,
                                                                const Session& session,
                                                                const nlohmann::json& body) {
    auto current = string_field(body, "current_password");
    auto next = string_field(body, "new_password");
    if (!current || !next || current->size() > 1024) {
        co_return Refusal{ErrorCode::bad_request,
                          "current_password and new_password are required strings"};
    }
    if (auto p = check_password(*next); !p.empty())
        co_return Refusal{ErrorCode::bad_request, "new " + p};
    if (*next == *current) {
        co_return Refusal{ErrorCode::bad_request, "the new password is the current one"};
    }
    if (account.role == "bot")
        co_return Refusal{ErrorCode::forbidden, "bot accounts have no password"};
    std::string account_key = "account:" + ascii_lower(account.username);
    if (auto wait = login_by_account_.retry_after(account_key); wait.count() > 0) {
        co_return rate_limited(wait, "too many wrong passwords; try again later");
    }
    auto stored = accounts_.account_by_id(account.id);
    std::string stored_hash = stored ? stored->password_hash : std::string();
    bool ok = co_await verify(*current, std::move(stored_hash));
    if (!ok) {
        auto state = login_by_account_.record_failure(account_key);
        spdlog::info("account {}: password change refused, wrong current password ({} in a row)",
                     account.id, state.failures);
        co_return Refusal{ErrorCode::forbidden, "the current password is wrong"};
    }
    login_by_account_.record_success(account_key);
    std::string hash = co_await hash_new_password(*next);
    if (hash.empty()) co_return Refusal{ErrorCode::internal, "could not change the password"};
    auto revoked = co_await accounts_.change_password(account.id, hash, session.id);
    if (!revoked) co_return db_refusal(revoked.error(), "password change");
    close_session_sockets(clients_, *revoked, "password changed");
    spdlog::info("account {} changed its password in session {}; {} other sessions revoked",
                 account.id, session.id, revoked->size());
    co_return revoked->size();
}

std::vector<Session> AccountService::sessions_of(const std::string& account_id) const {
    return accounts_.sessions_of(account_id, now_ms());
}

awaitable<Outcome<Done>> AccountService::end_session(const Account& account, const Session& from,
                                                     const std::string& id) {
    auto session = accounts_.session_by_id(id);
    if (!session || session->revoked || session->account_id != account.id) {
        co_return Refusal{ErrorCode::not_found, "no such session of yours"};
    }
    auto revoked = co_await accounts_.revoke_session(id);
    if (!revoked) co_return db_refusal(revoked.error(), "session end");
    close_session_sockets(clients_, {id}, "session ended by its account");
    spdlog::info("session {} of account {} ended from session {}", id, account.id, from.id);
    co_return Done{};
}

awaitable<Outcome<Done>> AccountService::logout(const Session& session) {
    auto revoked = co_await accounts_.revoke_session(session.id);
    if (!revoked) co_return db_refusal(revoked.error(), "logout");
    close_session_sockets(clients_, {session.id}, "logged out");
    spdlog::info("session {} of account {} logged out", session.id, session.account_id);
    co_return Done{};
}

Outcome<AccountPage> AccountService::account_page(const std::string& prefix_text,
                                                  const std::string& cursor, int limit) const {
    if (limit < 1 || limit > 1000) {
        return Refusal{ErrorCode::bad_request, "limit is an integer from 1 to 1000"};
    }
    std::string prefix = ascii_lower(prefix_text);
    std::string after = ascii_lower(cursor);
    std::vector<std::pair<std::string, Account>> page;
    for (auto& a : accounts_.all_accounts()) {
        std::string key = ascii_lower(a.username);
        if (!key.starts_with(prefix) || (!after.empty() && key <= after)) continue;
        page.emplace_back(std::move(key), std::move(a));
    }
    std::sort(page.begin(), page.end(),
              [](const auto& x, const auto& y) { return x.first < y.first; });
    const bool more = page.size() > static_cast<std::size_t>(limit);
    if (more) page.resize(static_cast<std::size_t>(limit));
    AccountPage out;
    if (more) out.next = page.back().first;
    const std::int64_t now = now_ms();
    for (auto& [key, a] : page) {
        std::size_t live = accounts_.live_session_count(a.id, now);
        out.items.push_back(AccountListing{std::move(a), live});
    }
    return out;
}

awaitable<Outcome<AccountStatus>> AccountService::set_disabled(const std::string& admin_id,
                                                               const std::string& id, bool disable,
                                                               const std::string& reason) {
    auto account = accounts_.account_by_id(id);
    if (!account) co_return Refusal{ErrorCode::not_found, "no account with that id"};
    if (disable && id == admin_id) {
        co_return Refusal{ErrorCode::conflict, "an admin cannot disable their own account"};
    }
    const std::int64_t at = disable ? (account->disabled_at ? account->disabled_at : now_ms()) : 0;
    auto revoked = co_await accounts_.set_disabled(id, at);
    if (!revoked) co_return db_refusal(revoked.error(), "account change");
    close_session_sockets(clients_, *revoked, "account disabled by an admin");
    const std::string action = disable ? "account.disable" : "account.enable";
    nlohmann::json detail{{"account", id}, {"sessions", revoked->size()}};
    if (!reason.empty()) detail["reason"] = reason;
    co_await audit_by_account(hash_pool_, audit_, admin_id, action, detail);
    spdlog::info("admin: account {} {} account {} ({} sessions revoked)", admin_id,
                 disable ? "disabled" : "enabled", id, revoked->size());
    co_return AccountStatus{at, revoked->size()};
}

}  // namespace parley
