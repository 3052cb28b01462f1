#include "server/api/account_routes.hpp"

#include "server/api/route_adapter.hpp"

namespace parley {

namespace {

awaitable<HttpResponse> register_account(AccountService& accounts, RequestContext& ctx,
                                         nlohmann::json& body) {
    auto created = co_await accounts.register_account(ctx.remote_address, body);
    if (!created) co_return refusal_response(created.refusal());
    co_return json_response(http::status::created, {{"account_id", created->id}});
}

awaitable<HttpResponse> login(AccountService& accounts, RequestContext& ctx, nlohmann::json& body) {
    auto tokens = co_await accounts.login(ctx.remote_address, body);
    if (!tokens) co_return refusal_response(tokens.refusal());
    co_return json_response(http::status::ok, token_body(*tokens));
}

awaitable<HttpResponse> refresh(AccountService& accounts, RequestContext&, nlohmann::json& body) {
    auto tokens = co_await accounts.refresh(body);
    if (!tokens) co_return refusal_response(tokens.refusal());
    co_return json_response(http::status::ok, token_body(*tokens));
}

awaitable<HttpResponse> change_password(AccountService& accounts, const Caller& caller,
                                        RequestContext&, nlohmann::json& body) {
    auto revoked = co_await accounts.change_password(caller.account, caller.session, body);
    if (!revoked) co_return refusal_response(revoked.refusal());
    co_return json_response(http::status::ok, {{"changed", true}, {"sessions_revoked", *revoked}});
}

awaitable<HttpResponse> list_sessions(AccountService& accounts, const Caller& caller,
                                      RequestContext&) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& s : accounts.sessions_of(caller.account.id)) {
        list.push_back({{"session_id", s.id},
                        {"created_at", s.created_at},
                        {"expires_at", s.refresh_expires_at},
                        {"current", s.id == caller.session.id}});
    }
    co_return json_response(http::status::ok, {{"sessions", std::move(list)}});
}

awaitable<HttpResponse> end_session(AccountService& accounts, const Caller& caller,
                                    RequestContext& ctx) {
    const std::string id = ctx.params["id"];
    auto ended = co_await accounts.end_session(caller.account, caller.session, id);
    if (!ended) co_return refusal_response(ended.refusal());
    co_return json_response(http::status::ok, {{"session_id", id}, {"revoked", true}});
}

awaitable<HttpResponse> logout(AccountService& accounts, const Caller& caller, RequestContext&) {
    auto ended = co_await accounts.logout(caller.session);
    if (!ended) co_return refusal_response(ended.refusal());
    co_return HttpResponse{http::status::no_content, 11};
}

nlohmann::json profile_json(const ProfileView& v) {
    const Profile& p = v.profile;
    return {{"account_id", p.account_id},
            {"username", v.account.username},
            {"name", p.name},
            {"text", p.text},
            {"visibility", p.visibility},
            {"avatar", p.avatar ? nlohmann::json(*p.avatar) : nlohmann::json()},
            {"updated_at", p.updated_at}};
}

awaitable<HttpResponse> own_profile(ProfileService& profiles, const Caller& caller,
                                    RequestContext&) {
    auto view = profiles.own(caller.account);
    if (!view) co_return refusal_response(view.refusal());
    co_return json_response(http::status::ok, profile_json(*view));
}

awaitable<HttpResponse> update_profile(ProfileService& profiles, const Caller& caller,
                                       RequestContext&, nlohmann::json& body) {
    auto view = co_await profiles.update_own(caller.account, body);
    if (!view) co_return refusal_response(view.refusal());
    co_return json_response(http::status::ok, profile_json(*view));
}

awaitable<HttpResponse> view_profile(ProfileService& profiles, const Caller& caller,
                                     RequestContext& ctx) {
    auto view = co_await profiles.view(caller.account.id, ctx.params["account_id"]);
    if (!view) co_return refusal_response(view.refusal());
    co_return json_response(http::status::ok, profile_json(*view));
}

}  // namespace

void add_account_routes(Router& router, ApiContext& api, AccountService& accounts) {
    using http::verb;
    router.add(verb::post, "/api/v1/accounts", with_body(accounts, register_account));
    router.add(verb::post, "/api/v1/sessions", with_body(accounts, login));
    router.add(verb::post, "/api/v1/sessions/refresh", with_body(accounts, refresh));
    router.add(verb::put, "/api/v1/accounts/me/password",
               with_caller_body(api, accounts, change_password));
    router.add(verb::get, "/api/v1/sessions", with_caller(api, accounts, list_sessions));
    router.add(verb::delete_, "/api/v1/sessions/{id}", with_caller(api, accounts, end_session));
    // Logout works without a live socket: a client must always be able to end its session.
    router.add(verb::delete_, "/api/v1/sessions/current",
               with_caller(api, accounts, logout, Access::session));
}

void add_profile_routes(Router& router, ApiContext& api, ProfileService& profiles) {
    using http::verb;
    router.add(verb::get, "/api/v1/profiles/me", with_caller(api, profiles, own_profile));
    router.add(verb::put, "/api/v1/profiles/me", with_caller_body(api, profiles, update_profile));
    router.add(verb::get, "/api/v1/profiles/{account_id}",
               with_caller(api, profiles, view_profile));
}

}  // namespace parley
