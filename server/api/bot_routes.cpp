#include "server/api/bot_routes.hpp"

#include <memory>
#include <mutex>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/offload.hpp"
#include "server/api/account_routes.hpp"
#include "server/api/admin_routes.hpp"
#include "server/api/ws_connection.hpp"
#include "server/bots/bot_supervisor.hpp"
#include "server/data/audit_log.hpp"
#include "server/data/bot_store.hpp"
#include "server/features/session_tokens.hpp"
#include "server/model/account.hpp"

namespace parley {

namespace {

HttpResponse locked_out(std::chrono::milliseconds retry_after) {
    HttpResponse res = error_response(http::status::too_many_requests, "rate_limited",
                                      "this bot is locked out after wrong keys; try again later");
    auto seconds = std::max<std::int64_t>(1, (retry_after.count() + 999) / 1000);
    res.set(http::field::retry_after, std::to_string(seconds));
    return res;
}

HttpResponse wrong_key() {
    return error_response(http::status::unauthorized, "unauthorized", "wrong bot account or key");
}

std::int64_t lockout_ms(const FailureState& s) {
    return std::max<std::int64_t>(0, s.locked_until_unix_ms - now_ms());
}

}  // namespace

std::string bot_lockout_key(const std::string& account_id) {
    return "bot:" + account_id;
}

bool is_loopback_peer(const std::string& address) {
    boost::system::error_code ec;
    auto a = net::ip::make_address(address, ec);
    if (ec) return false;
    if (a.is_v6() && a.to_v6().is_v4_mapped()) {
        return net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6()).is_loopback();
    }
    return a.is_loopback();
}

void add_bot_routes(Router& router, ApiContext& api, BotStore& bots, FailureBackoff& bot_keys,
                    AuditLog& audit) {
    router.add(
        http::verb::post, "/api/v1/bots/login",
        [&api, &bots, &bot_keys](RequestContext& ctx) -> awaitable<HttpResponse> {
            auto body = parse_json_body(ctx);
            if (!body.json) co_return body.refusal;
            auto account_id = string_field(*body.json, "account_id");
            auto key = string_field(*body.json, "bot_key");
            if (!account_id || !key || account_id->empty() || account_id->size() > 64 ||
                key->size() > 256) {
                co_return error_response(http::status::bad_request, "bad_request",
                                         "account_id and bot_key are required strings");
            }
            std::string address_key = "address:" + ctx.remote_address;
            if (auto wait = api.login_by_address.retry_after(address_key); wait.count() > 0) {
                spdlog::warn("bot login refused during the lock-out of address {}",
                             ctx.remote_address);
                co_return locked_out(wait);
            }
            auto bot = bots.bot(*account_id);
            if (!bot || bot->kind != "remote") {
                api.login_by_address.record_failure(address_key);
                spdlog::warn("bot login for unknown bot account {} from {}", *account_id,
                             ctx.remote_address);
                co_return wrong_key();
            }
            const std::string lock_key = bot_lockout_key(bot->account_id);
            if (auto wait = bot_keys.retry_after(lock_key); wait.count() > 0) {
                spdlog::warn("bot login for bot {} from {} refused: locked out for {} ms more",
                             bot->account_id, ctx.remote_address, wait.count());
                co_return locked_out(wait);
            }
            if (auto account = api.accounts.account_by_id(bot->account_id);
                !account || account->disabled_at) {
                api.login_by_address.record_failure(address_key);
                spdlog::warn("bot login for bot {} from {} refused: the account is disabled",
                             bot->account_id, ctx.remote_address);
                co_return wrong_key();
            }
            if (bot->key_hash.empty()) {
                // Revoked by an admin: refused like a wrong key, without a lock-out to lift.
                api.login_by_address.record_failure(address_key);
                spdlog::warn("bot login for bot {} from {} refused: its key is revoked",
                             bot->account_id, ctx.remote_address);
                co_return wrong_key();
            }
            if (!constant_time_equal(token_hash(*key), bot->key_hash)) {
                FailureState state = bot_keys.record_failure(lock_key);
                api.login_by_address.record_failure(address_key);
                auto saved = co_await bots.save_lockout(bot->account_id, state);
                if (!saved) {
                    spdlog::error("bot {}: cannot store its lock-out state: {}", bot->account_id,
                                  saved.error().message);
                }
                spdlog::warn("wrong bot key for bot {} from {} ({} in a row; locked out for {} ms)",
                             bot->account_id, ctx.remote_address, state.failures,
                             lockout_ms(state));
                co_return wrong_key();
            }
            api.login_by_address.record_success(address_key);
            if (bot_keys.snapshot(lock_key) || bot->lockout.failures > 0) {
                bot_keys.record_success(lock_key);
                auto saved = co_await bots.save_lockout(bot->account_id, FailureState{});
                if (!saved) co_return db_failure_response(saved.error(), "bot login");
            }
            Session base;
            base.id = random_id();
            base.account_id = bot->account_id;
            IssuedTokens tokens = issue_tokens(api.config.auth, base);
            auto created = co_await api.accounts.create_session(tokens.session);
            if (!created) co_return db_failure_response(created.error(), "bot login");
            spdlog::info("bot {} logged in with its key from {}: session {}", bot->account_id,
                         ctx.remote_address, tokens.session.id);
            co_return json_response(http::status::ok, token_body(tokens));
        });

    router.add(http::verb::get, "/api/v1/bots",
               [&api, &bots](RequestContext& ctx) -> awaitable<HttpResponse> {
                   auto auth = authenticate(api, ctx, true);
                   if (!auth.caller) co_return auth.refusal;
                   nlohmann::json list = nlohmann::json::array();
                   for (const auto& b : bots.all()) {
                       auto account = api.accounts.account_by_id(b.account_id);
                       if (!account) continue;
                       list.push_back({{"account_id", b.account_id},
                                       {"username", account->username},
                                       {"kind", b.kind}});
                   }
                   std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
                       return a["username"] < b["username"];
                   });
                   co_return json_response(http::status::ok, {{"bots", list}});
               });

    router.add(
        http::verb::post, "/api/v1/admin/bots",
        [&api, &bots, &audit](RequestContext& ctx) -> awaitable<HttpResponse> {
            auto auth = authenticate_admin(api, ctx);
            if (!auth.caller) co_return auth.refusal;
            auto body = parse_json_body(ctx);
            if (!body.json) co_return body.refusal;
            for (const auto& [k, v] : body.json->items()) {
                if (k != "username") {
                    co_return error_response(http::status::bad_request, "bad_request",
                                             "unknown field \"" + k + "\"");
                }
            }
            auto username = string_field(*body.json, "username");
            if (!username) {
                co_return error_response(http::status::bad_request, "bad_request",
                                         "username is a required string");
            }
            if (auto p = check_username(*username); !p.empty()) {
                co_return error_response(http::status::bad_request, "bad_request", p);
            }
            if (api.accounts.account_by_username(*username)) {
                co_return error_response(http::status::conflict, "conflict", "username is taken");
            }
            auto created = co_await bots.create_remote(*username);
            if (!created) {
                if (created.error().code == DbErrc::constraint) {
                    co_return error_response(http::status::conflict, "conflict",
                                             "username is taken");
                }
                co_return db_failure_response(created.error(), "bot creation");
            }
            const std::string admin = auth.caller->account.id;
            const std::string bot_id = created->account.id;
            const nlohmann::json detail{{"bot", bot_id}};
            co_await audit_by_account(api, audit, admin, "bot.create", detail);
            spdlog::info("admin: account {} created remote bot {} ({})", admin, bot_id,
                         created->account.username);
            co_return json_response(http::status::created, {{"account_id", bot_id},
                                                            {"username", created->account.username},
                                                            {"bot_key", created->bot_key}});
        });

    // A remote bot's key: rotated (POST: a new key, shown once) or revoked (DELETE: none until
    // the next rotation). Either way the old key stops working at once, every session of the
    // bot is revoked and its sockets closed, and its lock-out is lifted.
    for (bool rotate : {true, false}) {
        router.add(
            rotate ? http::verb::post : http::verb::delete_, "/api/v1/admin/bots/{id}/key",
            [&api, &bots, &bot_keys, &audit,
             rotate](RequestContext& ctx) -> awaitable<HttpResponse> {
                auto auth = authenticate_admin(api, ctx);
                if (!auth.caller) co_return auth.refusal;
                const std::string bot_id = ctx.params["id"];
                auto bot = bots.bot(bot_id);
                if (!bot) {
                    co_return error_response(http::status::not_found, "not_found",
                                             "no bot account with that id");
                }
                if (bot->kind != "remote") {
                    co_return error_response(http::status::conflict, "conflict",
                                             "a local bot has no key: the server logs it in "
                                             "through the loopback bot listener");
                }
                std::string key = rotate ? random_token() : std::string();
                auto revoked = co_await bots.replace_key(bot_id, key);
                if (!revoked) co_return db_failure_response(revoked.error(), "bot key change");
                bot_keys.record_success(bot_lockout_key(bot_id));
                const char* reason = rotate ? "bot key rotated" : "bot key revoked";
                close_session_sockets(api, *revoked, reason);
                const std::string admin = auth.caller->account.id;
                const std::string action = rotate ? "bot.key_rotate" : "bot.key_revoke";
                const nlohmann::json detail{{"bot", bot_id}, {"sessions", revoked->size()}};
                co_await audit_by_account(api, audit, admin, action, detail);
                spdlog::info("admin: account {} {} bot {}: {} sessions revoked", admin,
                             rotate ? "rotated the key of" : "revoked the key of", bot_id,
                             revoked->size());
                nlohmann::json body{{"account_id", bot_id}, {"sessions_revoked", revoked->size()}};
                if (rotate) {
                    body["bot_key"] = key;
                } else {
                    body["revoked"] = true;
                }
                co_return json_response(http::status::ok, body);
            });
    }
}

namespace {

// The sessions the last local login issued: a new bot child replaces them all, so the sessions
// of an ended child do not linger until they expire.
struct LocalSessions {
    std::mutex mutex;
    std::vector<std::string> ids;
};

awaitable<void> revoke_local_sessions(ApiContext& api, std::vector<std::string> ids) {
    for (const auto& id : ids) {
        auto revoked = co_await api.accounts.revoke_session(id);
        if (!revoked) {
            spdlog::warn("local bots: cannot revoke the old session {}: {}", id,
                         revoked.error().message);
        }
    }
    close_session_sockets(api, ids, "replaced by a new bot child");
}

}  // namespace

void add_local_bot_routes(Router& router, ApiContext& api, BotSupervisor& supervisor,
                          std::vector<LocalBot> local_bots) {
    auto issued = std::make_shared<LocalSessions>();
    router.add(
        http::verb::post, "/api/v1/bots/local-login",
        [&api, &supervisor, issued,
         local_bots = std::move(local_bots)](RequestContext& ctx) -> awaitable<HttpResponse> {
            // The listener refuses other peers at accept; this is the second lock.
            if (!is_loopback_peer(ctx.remote_address)) {
                spdlog::warn("local bot login refused: peer {} is not loopback",
                             ctx.remote_address);
                co_return error_response(http::status::forbidden, "forbidden",
                                         "loopback peers only");
            }
            auto body = parse_json_body(ctx);
            if (!body.json) co_return body.refusal;
            auto secret = string_field(*body.json, "secret");
            if (!secret || secret->empty() || secret->size() > 256 || !supervisor.redeem(*secret)) {
                spdlog::warn("local bot login refused: wrong or already used secret (peer {})",
                             ctx.remote_address);
                co_return error_response(http::status::unauthorized, "unauthorized",
                                         "wrong or already used secret");
            }
            std::vector<std::string> old_ids;
            {
                std::lock_guard lock(issued->mutex);
                old_ids.swap(issued->ids);
            }
            co_await revoke_local_sessions(api, std::move(old_ids));
            nlohmann::json sessions = nlohmann::json::array();
            std::vector<std::string> new_ids;
            for (const auto& bot : local_bots) {
                Session base;
                base.id = random_id();
                base.account_id = bot.account_id;
                IssuedTokens tokens = issue_tokens(api.config.auth, base);
                auto created = co_await api.accounts.create_session(tokens.session);
                if (!created) co_return db_failure_response(created.error(), "local bot login");
                nlohmann::json entry = token_body(tokens);
                entry["username"] = bot.username;
                sessions.push_back(std::move(entry));
                new_ids.push_back(tokens.session.id);
            }
            {
                std::lock_guard lock(issued->mutex);
                issued->ids = std::move(new_ids);
            }
            spdlog::info("local bot login: {} bot sessions issued to the bot child",
                         sessions.size());
            co_return json_response(http::status::ok, {{"bots", sessions}});
        });
}

}  // namespace parley
