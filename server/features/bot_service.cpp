#include "server/features/bot_service.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "server/features/audit_trail.hpp"
#include "server/features/request_fields.hpp"
#include "server/model/account.hpp"

namespace parley {

namespace {

Refusal locked_out(std::chrono::milliseconds retry_after) {
    return Refusal{ErrorCode::rate_limited,
                   "this bot is locked out after wrong keys; try again later", retry_after};
}

Refusal wrong_key() {
    return Refusal{ErrorCode::unauthorized, "wrong bot account or key"};
}

std::int64_t lockout_ms(const FailureState& s) {
    return std::max<std::int64_t>(0, s.locked_until_unix_ms - now_ms());
}

}  // namespace

std::string bot_lockout_key(const std::string& account_id) {
    return "bot:" + account_id;
}

BotService::BotService(const AuthSettings& auth, AccountStore& accounts, BotStore& bots,
                       ClientRegistry& clients, FailureBackoff& bot_keys,
                       FailureBackoff& login_by_address, AuditLog& audit,
                       net::thread_pool& audit_pool)
    : auth_(auth),
      accounts_(accounts),
      bots_(bots),
      clients_(clients),
      bot_keys_(bot_keys),
      login_by_address_(login_by_address),
      audit_(audit),
      audit_pool_(audit_pool) {}

awaitable<Outcome<IssuedTokens>> BotService::login(const std::string& address,
                                                   const nlohmann::json& body) {
    auto account_id = string_field(body, "account_id");
    auto key = string_field(body, "bot_key");
    if (!account_id || !key || account_id->empty() || account_id->size() > 64 ||
        key->size() > 256) {
        co_return Refusal{ErrorCode::bad_request, "account_id and bot_key are required strings"};
    }
    std::string address_key = "address:" + address;
    if (auto wait = login_by_address_.retry_after(address_key); wait.count() > 0) {
        spdlog::warn("bot login refused during the lock-out of address {}", address);
        co_return locked_out(wait);
    }
    auto bot = bots_.bot(*account_id);
    if (!bot || bot->kind != "remote") {
        login_by_address_.record_failure(address_key);
        spdlog::warn("bot login for unknown bot account {} from {}", *account_id, address);
        co_return wrong_key();
    }
    const std::string lock_key = bot_lockout_key(bot->account_id);
    if (auto wait = bot_keys_.retry_after(lock_key); wait.count() > 0) {
        spdlog::warn("bot login for bot {} from {} refused: locked out for {} ms more",
                     bot->account_id, address, wait.count());
        co_return locked_out(wait);
    }
    if (auto account = accounts_.account_by_id(bot->account_id); !account || account->disabled_at) {
        login_by_address_.record_failure(address_key);
        spdlog::warn("bot login for bot {} from {} refused: the account is disabled",
                     bot->account_id, address);
        co_return wrong_key();
    }
    if (bot->key_hash.empty()) {
        // Revoked by an admin: refused like a wrong key, without a lock-out to lift.
        login_by_address_.record_failure(address_key);
        spdlog::warn("bot login for bot {} from {} refused: its key is revoked", bot->account_id,
                     address);
        co_return wrong_key();
    }
    if (!constant_time_equal(token_hash(*key), bot->key_hash)) {
        FailureState state = bot_keys_.record_failure(lock_key);
        login_by_address_.record_failure(address_key);
        auto saved = co_await bots_.save_lockout(bot->account_id, state);
        if (!saved) {
            spdlog::error("bot {}: cannot store its lock-out state: {}", bot->account_id,
                          saved.error().message);
        }
        spdlog::warn("wrong bot key for bot {} from {} ({} in a row; locked out for {} ms)",
                     bot->account_id, address, state.failures, lockout_ms(state));
        co_return wrong_key();
    }
    login_by_address_.record_success(address_key);
    if (bot_keys_.snapshot(lock_key) || bot->lockout.failures > 0) {
        bot_keys_.record_success(lock_key);
        auto saved = co_await bots_.save_lockout(bot->account_id, FailureState{});
        if (!saved) co_return db_refusal(saved.error(), "bot login");
    }
    auto tokens = co_await open_session(accounts_, auth_, bot->account_id);
    if (!tokens) co_return db_refusal(tokens.error(), "bot login");
    spdlog::info("bot {} logged in with its key from {}: session {}", bot->account_id, address,
                 tokens->session.id);
    co_return std::move(*tokens);
}

std::vector<BotListing> BotService::list() const {
    std::vector<BotListing> out;
    for (const auto& b : bots_.all()) {
        if (auto account = accounts_.account_by_id(b.account_id))
            out.push_back(BotListing{b.account_id, account->username, b.kind});
    }
    std::sort(out.begin(), out.end(),
              [](const BotListing& a, const BotListing& b) { return a.username < b.username; });
    return out;
}

awaitable<Outcome<CreatedBot>> BotService::create_remote(const std::string& admin_id,
                                                         const nlohmann::json& body) {
    for (const auto& [k, v] : body.items()) {
        if (k != "username")
            co_return Refusal{ErrorCode::bad_request, "unknown field \"" + k + "\""};
    }
    auto username = string_field(body, "username");
    if (!username) co_return Refusal{ErrorCode::bad_request, "username is a required string"};
    if (auto p = check_username(*username); !p.empty())
        co_return Refusal{ErrorCode::bad_request, p};
    if (accounts_.account_by_username(*username)) {
        co_return Refusal{ErrorCode::conflict, "username is taken"};
    }
    auto created = co_await bots_.create_remote(*username);
    if (!created) {
        if (created.error().code == DbErrc::constraint) {
            co_return Refusal{ErrorCode::conflict, "username is taken"};
        }
        co_return db_refusal(created.error(), "bot creation");
    }
    const std::string bot_id = created->account.id;
    const nlohmann::json detail{{"bot", bot_id}};
    co_await audit_by_account(audit_pool_, audit_, admin_id, "bot.create", detail);
    spdlog::info("admin: account {} created remote bot {} ({})", admin_id, bot_id,
                 created->account.username);
    co_return std::move(*created);
}

// Either way the old key stops working at once, every session of the bot is revoked and its
// sockets closed, and its lock-out is lifted.
awaitable<Outcome<BotKeyChange>> BotService::change_key(const std::string& admin_id,
                                                        const std::string& bot_id, bool rotate) {
    auto bot = bots_.bot(bot_id);
    if (!bot) co_return Refusal{ErrorCode::not_found, "no bot account with that id"};
    if (bot->kind != "remote") {
        co_return Refusal{ErrorCode::conflict,
                          "a local bot has no key: the server logs it in through the loopback "
                          "bot listener"};
    }
    std::string key = rotate ? random_token() : std::string();
    auto revoked = co_await bots_.replace_key(bot_id, key);
    if (!revoked) co_return db_refusal(revoked.error(), "bot key change");
    bot_keys_.record_success(bot_lockout_key(bot_id));
    close_session_sockets(clients_, *revoked, rotate ? "bot key rotated" : "bot key revoked");
    const std::string action = rotate ? "bot.key_rotate" : "bot.key_revoke";
    const nlohmann::json detail{{"bot", bot_id}, {"sessions", revoked->size()}};
    co_await audit_by_account(audit_pool_, audit_, admin_id, action, detail);
    spdlog::info("admin: account {} {} bot {}: {} sessions revoked", admin_id,
                 rotate ? "rotated the key of" : "revoked the key of", bot_id, revoked->size());
    co_return BotKeyChange{std::move(key), revoked->size()};
}

awaitable<void> BotService::end_local_sessions(std::vector<std::string> ids) {
    for (const auto& id : ids) {
        auto revoked = co_await accounts_.revoke_session(id);
        if (!revoked) {
            spdlog::warn("local bots: cannot revoke the old session {}: {}", id,
                         revoked.error().message);
        }
    }
    close_session_sockets(clients_, ids, "replaced by a new bot child");
}

awaitable<Outcome<std::vector<IssuedTokens>>> BotService::start_local_sessions(
    const std::vector<LocalBot>& bots) {
    std::vector<std::string> old_ids;
    {
        std::lock_guard lock(local_mutex_);
        old_ids.swap(local_sessions_);
    }
    co_await end_local_sessions(std::move(old_ids));
    std::vector<IssuedTokens> issued;
    std::vector<std::string> new_ids;
    for (const auto& bot : bots) {
        auto tokens = co_await open_session(accounts_, auth_, bot.account_id);
        if (!tokens) co_return db_refusal(tokens.error(), "local bot login");
        new_ids.push_back(tokens->session.id);
        issued.push_back(std::move(*tokens));
    }
    {
        std::lock_guard lock(local_mutex_);
        local_sessions_ = std::move(new_ids);
    }
    spdlog::info("local bot login: {} bot sessions issued to the bot child", issued.size());
    co_return issued;
}

}  // namespace parley
