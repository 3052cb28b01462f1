// Route adapters: the one place where a route of server/api authenticates its caller and reads
// its JSON body, so that each route is a named function of the service call and its answer.
// with_caller() checks the caller's Access (by default a session with a live WebSocket, api.md's
// REST rule) and hands the caller on; with_caller_body() also parses the body as a JSON object;
// with_body() only parses it (the routes that log in). Membership and roles are the services' to
// check. The handlers are plain functions; a route's lambda lives in the Router for the server's
// life, and the service (owned by the server app) outlives it. Built at start-up; the handlers run
// on network threads.
#pragma once

#include <functional>

#include <nlohmann/json.hpp>

#include "server/api/api_context.hpp"
#include "server/api/outcome_response.hpp"
#include "server/api/router.hpp"

namespace parley {

// Who may call a route.
enum class Access {
    socket,        // a session with a live WebSocket (api.md's REST rule)
    socket_query,  // the same, the token also read from ?token= (image bytes for an <img>)
    session,       // any live session, socket or not (logout)
    admin,         // a live socket and the admin role (others: 403, logged)
};

inline AuthCheck check_access(const ApiContext& api, const RequestContext& ctx, Access access) {
    switch (access) {
        case Access::socket:
            return authenticate(api, ctx, true);
        case Access::socket_query:
            return authenticate(api, ctx, true, true);
        case Access::session:
            return authenticate(api, ctx, false);
        case Access::admin:
            return authenticate_admin(api, ctx);
    }
    return authenticate(api, ctx, true);
}

template <class Service>
using CallerRoute = awaitable<HttpResponse> (*)(Service&, const Caller&, RequestContext&);
template <class Service>
using CallerBodyRoute = awaitable<HttpResponse> (*)(Service&, const Caller&, RequestContext&,
                                                    nlohmann::json&);
template <class Service>
using BodyRoute = awaitable<HttpResponse> (*)(Service&, RequestContext&, nlohmann::json&);

// What runs once the caller is known.
using CallerHandler = std::function<awaitable<HttpResponse>(const Caller&, RequestContext&)>;

// The one authentication step of every adapter: the caller per `access`, or the refusal.
inline RouteHandler authenticated(ApiContext& api, Access access, CallerHandler next) {
    return [&api, access, next = std::move(next)](RequestContext& ctx) -> awaitable<HttpResponse> {
        auto auth = check_access(api, ctx, access);
        if (!auth.caller) co_return auth.refusal;
        co_return co_await next(*auth.caller, ctx);
    };
}

template <class Service>
RouteHandler with_caller(ApiContext& api, Service& service, CallerRoute<Service> route,
                         Access access = Access::socket) {
    return authenticated(api, access, [&service, route](const Caller& caller, RequestContext& ctx) {
        return route(service, caller, ctx);
    });
}

template <class Service>
RouteHandler with_caller_body(ApiContext& api, Service& service, CallerBodyRoute<Service> route,
                              Access access = Access::socket) {
    return authenticated(
        api, access,
        [&service, route](const Caller& caller, RequestContext& ctx) -> awaitable<HttpResponse> {
            auto body = parse_json_body(ctx);
            if (!body.json) co_return body.refusal;
            co_return co_await route(service, caller, ctx, *body.json);
        });
}

template <class Service>
RouteHandler with_body(Service& service, BodyRoute<Service> route) {
    return [&service, route](RequestContext& ctx) -> awaitable<HttpResponse> {
        auto body = parse_json_body(ctx);
        if (!body.json) co_return body.refusal;
        co_return co_await route(service, ctx, *body.json);
    };
}

// A body that may be absent (an empty body is an empty object); else as parse_json_body().
inline JsonBody optional_json_body(const RequestContext& ctx) {
    if (ctx.request.body().empty()) return JsonBody{nlohmann::json::object(), {}};
    return parse_json_body(ctx);
}

}  // namespace parley
