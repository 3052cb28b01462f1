#include "server/api/bot_routes.hpp"

#include <spdlog/spdlog.h>

#include "server/api/route_adapter.hpp"
#include "server/bots/bot_supervisor.hpp"

namespace parley {

bool is_loopback_peer(const std::string& address) {
    boost::system::error_code ec;
    auto a = net::ip::make_address(address, ec);
    if (ec) return false;
    if (a.is_v6() && a.to_v6().is_v4_mapped()) {
        return net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6()).is_loopback();
    }
    return a.is_loopback();
}

namespace {

awaitable<HttpResponse> bot_login(BotService& bots, RequestContext& ctx, nlohmann::json& body) {
    auto tokens = co_await bots.login(ctx.remote_address, body);
    if (!tokens) co_return refusal_response(tokens.refusal());
    co_return json_response(http::status::ok, token_body(*tokens));
}

awaitable<HttpResponse> list_bots(BotService& bots, const Caller&, RequestContext&) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& b : bots.list())
        list.push_back({{"account_id", b.account_id}, {"username", b.username}, {"kind", b.kind}});
    co_return json_response(http::status::ok, {{"bots", list}});
}

awaitable<HttpResponse> create_bot(BotService& bots, const Caller& admin, RequestContext&,
                                   nlohmann::json& body) {
    auto created = co_await bots.create_remote(admin.account.id, body);
    if (!created) co_return refusal_response(created.refusal());
    co_return json_response(http::status::created, {{"account_id", created->account.id},
                                                    {"username", created->account.username},
                                                    {"bot_key", created->bot_key}});
}

awaitable<HttpResponse> change_key(BotService& bots, const Caller& admin, RequestContext& ctx,
                                   bool rotate) {
    const std::string bot_id = ctx.params["id"];
    auto changed = co_await bots.change_key(admin.account.id, bot_id, rotate);
    if (!changed) co_return refusal_response(changed.refusal());
    nlohmann::json body{{"account_id", bot_id}, {"sessions_revoked", changed->sessions_revoked}};
    if (rotate) {
        body["bot_key"] = changed->bot_key;
    } else {
        body["revoked"] = true;
    }
    co_return json_response(http::status::ok, body);
}

awaitable<HttpResponse> rotate_key(BotService& bots, const Caller& admin, RequestContext& ctx) {
    co_return co_await change_key(bots, admin, ctx, true);
}

awaitable<HttpResponse> revoke_key(BotService& bots, const Caller& admin, RequestContext& ctx) {
    co_return co_await change_key(bots, admin, ctx, false);
}

}  // namespace

void add_bot_routes(Router& router, ApiContext& api, BotService& bots) {
    using http::verb;
    router.add(verb::post, "/api/v1/bots/login", with_body(bots, bot_login));
    router.add(verb::get, "/api/v1/bots", with_caller(api, bots, list_bots));
    router.add(verb::post, "/api/v1/admin/bots",
               with_caller_body(api, bots, create_bot, Access::admin));
    // A remote bot's key: rotated (POST: a new key, shown once) or revoked (DELETE: none until
    // the next rotation).
    router.add(verb::post, "/api/v1/admin/bots/{id}/key",
               with_caller(api, bots, rotate_key, Access::admin));
    router.add(verb::delete_, "/api/v1/admin/bots/{id}/key",
               with_caller(api, bots, revoke_key, Access::admin));
}

void add_local_bot_routes(Router& router, BotService& bots, BotSupervisor& supervisor,
                          std::vector<LocalBot> local_bots) {
    router.add(
        http::verb::post, "/api/v1/bots/local-login",
        [&bots, &supervisor,
         local_bots = std::move(local_bots)](RequestContext& ctx) -> awaitable<HttpResponse> {
            // The listener refuses other peers at accept; this is the second lock.
            if (!is_loopback_peer(ctx.remote_address)) {
                spdlog::warn("local bot login refused: peer {} is not loopback",
                             ctx.remote_address);
                co_return refusal_response({ErrorCode::forbidden, "loopback peers only"});
            }
            auto body = parse_json_body(ctx);
            if (!body.json) co_return body.refusal;
            auto secret = string_field(*body.json, "secret");
            if (!secret || secret->empty() || secret->size() > 256 || !supervisor.redeem(*secret)) {
                spdlog::warn("local bot login refused: wrong or already used secret (peer {})",
                             ctx.remote_address);
                co_return refusal_response(
                    {ErrorCode::unauthorized, "wrong or already used secret"});
            }
            auto issued = co_await bots.start_local_sessions(local_bots);
            if (!issued) co_return refusal_response(issued.refusal());
            nlohmann::json sessions = nlohmann::json::array();
            for (std::size_t i = 0; i < issued->size(); ++i) {
                nlohmann::json entry = token_body((*issued)[i]);
                entry["username"] = local_bots[i].username;
                sessions.push_back(std::move(entry));
            }
            co_return json_response(http::status::ok, {{"bots", sessions}});
        });
}

}  // namespace parley
