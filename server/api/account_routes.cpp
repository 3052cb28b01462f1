#include "server/api/account_routes.hpp"

#include <memory>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/offload.hpp"
#include "common/utf8.hpp"
#include "server/api/session_tokens.hpp"
#include "server/api/ws_connection.hpp"
#include "server/features/room_service.hpp"
#include "server/model/account.hpp"

namespace parley {

namespace {

HttpResponse rate_limited(std::chrono::milliseconds retry_after, const std::string& message) {
    HttpResponse res = error_response(http::status::too_many_requests, "rate_limited", message);
    auto seconds = std::max<std::int64_t>(1, (retry_after.count() + 999) / 1000);
    res.set(http::field::retry_after, std::to_string(seconds));
    return res;
}

PasswordHashParams hash_params(const AuthSettings& a) {
    return PasswordHashParams{static_cast<std::uint32_t>(a.argon2_t_cost),
                              static_cast<std::uint32_t>(a.argon2_m_cost_kib),
                              static_cast<std::uint32_t>(a.argon2_parallelism)};
}

// The argon2id hash of a new password, computed on the hashing pool; empty when hashing
// failed (logged). `password` is the caller's, alive across the wait.
awaitable<std::string> hash_new_password(ApiContext& api, const std::string& password) {
    auto job = [&password, params = hash_params(api.config.auth)]() noexcept {
        try {
            return hash_password(password, params);
        } catch (const std::exception& e) {
            spdlog::error("password hashing failed: {}", e.what());
            return std::string();
        }
    };
    co_return co_await offload(api.hash_pool, std::move(job));
}

}  // namespace

void add_account_routes(Router& router, ApiContext& api) {
    // Unknown names verify against this hash, made once here with the configured cost (the
    // cost is part of the hash): a cheaper one answered unknown names in about a millisecond
    // and told a guesser which names exist.
    auto dummy_hash = std::make_shared<const std::string>(
        hash_password("parley-dummy-password", hash_params(api.config.auth)));
    router.add(http::verb::post, "/api/v1/accounts",
               [&api](RequestContext& ctx) -> awaitable<HttpResponse> {
                   auto body = parse_json_body(ctx);
                   if (!body.json) co_return body.refusal;
                   auto username = string_field(*body.json, "username");
                   auto password = string_field(*body.json, "password");
                   if (!username || !password) {
                       co_return error_response(http::status::bad_request, "bad_request",
                                                "username and password are required strings");
                   }
                   if (auto p = check_username(*username); !p.empty()) {
                       co_return error_response(http::status::bad_request, "bad_request", p);
                   }
                   if (auto p = check_password(*password); !p.empty()) {
                       co_return error_response(http::status::bad_request, "bad_request", p);
                   }
                   if (auto d = api.register_by_address.acquire(ctx.remote_address); !d.allowed) {
                       co_return rate_limited(d.retry_after,
                                              "too many accounts created from this address");
                   }
                   if (api.accounts.account_by_username(*username)) {
                       co_return error_response(http::status::conflict, "conflict",
                                                "username is taken");
                   }
                   std::string hash = co_await hash_new_password(api, *password);
                   if (hash.empty()) {
                       co_return error_response(http::status::internal_server_error, "internal",
                                                "could not create the account");
                   }
                   Account account{random_id(), *username, std::move(hash), "user", now_ms()};
                   auto created = co_await api.accounts.create_account(account);
                   if (!created) {
                       if (created.error().code == DbErrc::constraint) {
                           co_return error_response(http::status::conflict, "conflict",
                                                    "username is taken");
                       }
                       co_return db_failure_response(created.error(), "account creation");
                   }
                   spdlog::info("account {} created", created->id);
                   co_return json_response(http::status::created, {{"account_id", created->id}});
               });

    router.add(http::verb::post, "/api/v1/sessions",
               [&api, dummy_hash](RequestContext& ctx) -> awaitable<HttpResponse> {
                   auto body = parse_json_body(ctx);
                   if (!body.json) co_return body.refusal;
                   auto username = string_field(*body.json, "username");
                   auto password = string_field(*body.json, "password");
                   if (!username || !password || password->size() > 1024 || username->size() > 64) {
                       co_return error_response(http::status::bad_request, "bad_request",
                                                "username and password are required strings");
                   }
                   std::string account_key = "account:" + ascii_lower(*username);
                   std::string address_key = "address:" + ctx.remote_address;
                   auto wait = std::max(api.login_by_account.retry_after(account_key),
                                        api.login_by_address.retry_after(address_key));
                   if (wait.count() > 0) {
                       spdlog::warn("login refused during lock-out (address {})",
                                    ctx.remote_address);
                       co_return rate_limited(wait, "too many failed logins; try again later");
                   }
                   auto account = api.accounts.account_by_username(*username);
                   // Unknown names still cost one verification, so timing does not reveal which
                   // exist.
                   std::string stored = account ? account->password_hash : *dummy_hash;
                   auto verify_job = [pw = *password, stored]() noexcept {
                       return verify_password(pw, stored);
                   };
                   bool ok = co_await offload(api.hash_pool, std::move(verify_job));
                   if (!ok || !account || account->role == "bot") {
                       auto a = api.login_by_account.record_failure(account_key);
                       api.login_by_address.record_failure(address_key);
                       spdlog::info("failed login for {} from {} ({} in a row)",
                                    account ? account->id : std::string("unknown account"),
                                    ctx.remote_address, a.failures);
                       co_return error_response(http::status::unauthorized, "unauthorized",
                                                "wrong username or password");
                   }
                   api.login_by_account.record_success(account_key);
                   api.login_by_address.record_success(address_key);
                   // Said only to whoever knows the password: it reveals nothing to a guesser.
                   if (account->disabled_at) {
                       spdlog::info("login of disabled account {} from {} refused", account->id,
                                    ctx.remote_address);
                       co_return error_response(http::status::forbidden, "forbidden",
                                                "this account is disabled; ask an admin");
                   }
                   Session base;
                   base.id = random_id();
                   base.account_id = account->id;
                   IssuedTokens tokens = issue_tokens(api.config.auth, base);
                   auto created = co_await api.accounts.create_session(tokens.session);
                   if (!created) co_return db_failure_response(created.error(), "login");
                   spdlog::info("account {} logged in: session {}", account->id, tokens.session.id);
                   co_return json_response(http::status::ok, token_body(tokens));
               });

    router.add(
        http::verb::post, "/api/v1/sessions/refresh",
        [&api](RequestContext& ctx) -> awaitable<HttpResponse> {
            auto body = parse_json_body(ctx);
            if (!body.json) co_return body.refusal;
            auto refresh = string_field(*body.json, "refresh_token");
            if (!refresh || refresh->empty() || refresh->size() > 256) {
                co_return error_response(http::status::bad_request, "bad_request",
                                         "refresh_token is a required string");
            }
            IssuedTokens next = issue_tokens(api.config.auth, Session{});
            std::string presented = token_hash(*refresh);
            auto outcome = co_await api.accounts.rotate(presented, next.session);
            if (!outcome) co_return db_failure_response(outcome.error(), "token refresh");
            switch (outcome->status) {
                case RefreshStatus::rotated: {
                    next.session = outcome->session;
                    spdlog::info("session {} refreshed", next.session.id);
                    co_return json_response(http::status::ok, token_body(next));
                }
                case RefreshStatus::reused:
                    spdlog::warn(
                        "session {} of account {}: a rotated refresh token was presented again; "
                        "session revoked",
                        outcome->session.id, outcome->session.account_id);
                    close_session_sockets(api, {outcome->session.id},
                                          "session revoked: refresh token reuse");
                    co_return error_response(
                        http::status::unauthorized, "unauthorized",
                        "refresh token was already used; the session is revoked");
                case RefreshStatus::invalid:
                    break;
            }
            co_return error_response(http::status::unauthorized, "unauthorized",
                                     "invalid or expired refresh token");
        });

    // A password change needs the current password too (a stolen access token alone is not
    // enough), counts wrong ones against the account's login lock-out, and ends every other
    // session of the account in the same transaction.
    router.add(
        http::verb::put, "/api/v1/accounts/me/password",
        [&api](RequestContext& ctx) -> awaitable<HttpResponse> {
            auto auth = authenticate(api, ctx, true);
            if (!auth.caller) co_return auth.refusal;
            auto body = parse_json_body(ctx);
            if (!body.json) co_return body.refusal;
            auto current = string_field(*body.json, "current_password");
            auto next = string_field(*body.json, "new_password");
            if (!current || !next || current->size() > 1024) {
                co_return error_response(http::status::bad_request, "bad_request",
                                         "current_password and new_password are required "
                                         "strings");
            }
            if (auto p = check_password(*next); !p.empty()) {
                co_return error_response(http::status::bad_request, "bad_request", "new " + p);
            }
            if (*next == *current) {
                co_return error_response(http::status::bad_request, "bad_request",
                                         "the new password is the current one");
            }
            const Account& account = auth.caller->account;
            if (account.role == "bot") {
                co_return error_response(http::status::forbidden, "forbidden",
                                         "bot accounts have no password");
            }
            std::string account_key = "account:" + ascii_lower(account.username);
            if (auto wait = api.login_by_account.retry_after(account_key); wait.count() > 0) {
                co_return rate_limited(wait, "too many wrong passwords; try again later");
            }
            auto stored = api.accounts.account_by_id(account.id);
            std::string stored_hash = stored ? stored->password_hash : std::string();
            auto verify_job = [pw = *current, stored_hash]() noexcept {
                return verify_password(pw, stored_hash);
            };
            bool ok = co_await offload(api.hash_pool, std::move(verify_job));
            if (!ok) {
                auto state = api.login_by_account.record_failure(account_key);
                spdlog::info(
                    "account {}: password change refused, wrong current password ({} in "
                    "a row)",
                    account.id, state.failures);
                co_return error_response(http::status::forbidden, "forbidden",
                                         "the current password is wrong");
            }
            api.login_by_account.record_success(account_key);
            std::string hash = co_await hash_new_password(api, *next);
            if (hash.empty()) {
                co_return error_response(http::status::internal_server_error, "internal",
                                         "could not change the password");
            }
            const std::string& keep = auth.caller->session.id;
            auto revoked = co_await api.accounts.change_password(account.id, hash, keep);
            if (!revoked) co_return db_failure_response(revoked.error(), "password change");
            close_session_sockets(api, *revoked, "password changed");
            spdlog::info("account {} changed its password in session {}; {} other sessions revoked",
                         account.id, keep, revoked->size());
            co_return json_response(http::status::ok,
                                    {{"changed", true}, {"sessions_revoked", revoked->size()}});
        });

    // One's live sessions (devices), and ending any of them.
    router.add(
        http::verb::get, "/api/v1/sessions",
        [&api](RequestContext& ctx) -> awaitable<HttpResponse> {
            auto auth = authenticate(api, ctx, true);
            if (!auth.caller) co_return auth.refusal;
            nlohmann::json list = nlohmann::json::array();
            for (const auto& s : api.accounts.sessions_of(auth.caller->account.id, now_ms())) {
                list.push_back({{"session_id", s.id},
                                {"created_at", s.created_at},
                                {"expires_at", s.refresh_expires_at},
                                {"current", s.id == auth.caller->session.id}});
            }
            co_return json_response(http::status::ok, {{"sessions", std::move(list)}});
        });
    router.add(
        http::verb::delete_, "/api/v1/sessions/{id}",
        [&api](RequestContext& ctx) -> awaitable<HttpResponse> {
            auto auth = authenticate(api, ctx, true);
            if (!auth.caller) co_return auth.refusal;
            const std::string id = ctx.params["id"];
            auto session = api.accounts.session_by_id(id);
            if (!session || session->revoked || session->account_id != auth.caller->account.id) {
                co_return error_response(http::status::not_found, "not_found",
                                         "no such session of yours");
            }
            auto revoked = co_await api.accounts.revoke_session(id);
            if (!revoked) co_return db_failure_response(revoked.error(), "session end");
            close_session_sockets(api, {id}, "session ended by its account");
            spdlog::info("session {} of account {} ended from session {}", id,
                         auth.caller->account.id, auth.caller->session.id);
            co_return json_response(http::status::ok, {{"session_id", id}, {"revoked", true}});
        });

    // Logout works without a live socket: a client must always be able to end its session.
    router.add(http::verb::delete_, "/api/v1/sessions/current",
               [&api](RequestContext& ctx) -> awaitable<HttpResponse> {
                   auto auth = authenticate(api, ctx, false);
                   if (!auth.caller) co_return auth.refusal;
                   auto revoked = co_await api.accounts.revoke_session(auth.caller->session.id);
                   if (!revoked) co_return db_failure_response(revoked.error(), "logout");
                   close_session_sockets(api, {auth.caller->session.id}, "logged out");
                   spdlog::info("session {} of account {} logged out", auth.caller->session.id,
                                auth.caller->account.id);
                   HttpResponse res{http::status::no_content, 11};
                   co_return res;
               });
}

namespace {

nlohmann::json profile_json(const Profile& p, const Account& a) {
    return {{"account_id", p.account_id},
            {"username", a.username},
            {"name", p.name},
            {"text", p.text},
            {"visibility", p.visibility},
            {"avatar", p.avatar ? nlohmann::json(*p.avatar) : nlohmann::json()},
            {"updated_at", p.updated_at}};
}

}  // namespace

void add_profile_routes(Router& router, ApiContext& api, DbReaderPool& readers) {
    router.add(http::verb::get, "/api/v1/profiles/me",
               [&api](RequestContext& ctx) -> awaitable<HttpResponse> {
                   auto auth = authenticate(api, ctx, true);
                   if (!auth.caller) co_return auth.refusal;
                   auto p = api.accounts.profile(auth.caller->account.id);
                   if (!p)
                       co_return error_response(http::status::not_found, "not_found", "no profile");
                   co_return json_response(http::status::ok,
                                           profile_json(*p, auth.caller->account));
               });

    router.add(
        http::verb::put, "/api/v1/profiles/me",
        [&api](RequestContext& ctx) -> awaitable<HttpResponse> {
            auto auth = authenticate(api, ctx, true);
            if (!auth.caller) co_return auth.refusal;
            auto body = parse_json_body(ctx);
            if (!body.json) co_return body.refusal;
            auto current = api.accounts.profile(auth.caller->account.id);
            Profile p = current.value_or(Profile{auth.caller->account.id});
            const auto& j = *body.json;
            for (const auto& [key, value] : j.items()) {
                if (key != "name" && key != "text" && key != "visibility" && key != "avatar") {
                    co_return error_response(http::status::bad_request, "bad_request",
                                             "unknown profile field \"" + key + "\"");
                }
            }
            if (j.contains("name")) {
                auto v = string_field(j, "name");
                if (!v || utf8_code_points(*v) > 64) {
                    co_return error_response(http::status::bad_request, "bad_request",
                                             "name must be a string of at most 64 characters");
                }
                p.name = *v;
            }
            if (j.contains("text")) {
                auto v = string_field(j, "text");
                if (!v || utf8_code_points(*v) > 1000) {
                    co_return error_response(http::status::bad_request, "bad_request",
                                             "text must be a string of at most 1000 characters");
                }
                p.text = *v;
            }
            if (j.contains("visibility")) {
                auto v = string_field(j, "visibility");
                if (!v || (*v != "public" && *v != "private")) {
                    co_return error_response(http::status::bad_request, "bad_request",
                                             "visibility must be \"public\" or \"private\"");
                }
                p.visibility = *v;
            }
            if (j.contains("avatar")) {
                if (j["avatar"].is_null()) {
                    p.avatar.reset();
                } else {
                    auto v = string_field(j, "avatar");
                    if (!v || v->empty() || v->size() > 128) {
                        co_return error_response(http::status::bad_request, "bad_request",
                                                 "avatar must be a content id or null");
                    }
                    if (api.avatar_check) {
                        auto problem = api.avatar_check(auth.caller->account.id, *v);
                        if (!problem.empty()) {
                            co_return error_response(http::status::bad_request, "bad_request",
                                                     problem);
                        }
                    }
                    p.avatar = *v;
                }
            }
            p.updated_at = now_ms();
            auto saved = co_await api.accounts.update_profile(p);
            if (!saved) co_return db_failure_response(saved.error(), "profile update");
            co_return json_response(http::status::ok, profile_json(*saved, auth.caller->account));
        });

    router.add(http::verb::get, "/api/v1/profiles/{account_id}",
               [&api, &readers](RequestContext& ctx) -> awaitable<HttpResponse> {
                   auto auth = authenticate(api, ctx, true);
                   if (!auth.caller) co_return auth.refusal;
                   const std::string& owner = ctx.params["account_id"];
                   auto account = api.accounts.account_by_id(owner);
                   auto p = api.accounts.profile(owner);
                   if (!account || !p)
                       co_return error_response(http::status::not_found, "not_found",
                                                "no such profile");
                   if (p->visibility == "private" && owner != auth.caller->account.id) {
                       // The one place that looks at both profiles and chat membership.
                       auto query = [viewer = auth.caller->account.id, owner](SqliteDb& db) {
                           auto q = db.cached(
                               "SELECT 1 FROM members a JOIN members b ON a.room_id = b.room_id "
                               "WHERE a.account_id = ? AND b.account_id = ? LIMIT 1");
                           q->bind(1, viewer).bind(2, owner);
                           return q->step() == StepResult::row;
                       };
                       auto shared = co_await readers.read(std::move(query));
                       if (!shared) co_return db_failure_response(shared.error(), "profile read");
                       if (!*shared)
                           co_return error_response(http::status::not_found, "not_found",
                                                    "no such profile");
                   }
                   co_return json_response(http::status::ok, profile_json(*p, *account));
               });
}

}  // namespace parley
