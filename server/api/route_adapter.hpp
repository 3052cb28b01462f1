// Route adapters: the one place where a route of server/api authenticates its caller and reads
// its JSON body, so that each route is a named function of the service call and its answer.
// with_caller() runs authenticate() (a live WebSocket required, api.md's REST rule, unless
// `require_socket` is false; the token also taken from ?token= with `allow_query`) and hands the
// caller on; with_caller_body() also parses the body as a JSON object; with_body() only parses it
// (the routes that log in). Membership and roles are the services' to check. The handlers are plain
// functions; a route's lambda lives in the Router for the server's life, and the service (owned by
// the server app) outlives it. Built at start-up; the handlers run on network threads.
#pragma once

#include <nlohmann/json.hpp>

#include "server/api/api_context.hpp"
#include "server/api/outcome_response.hpp"
#include "server/api/router.hpp"

namespace parley {

template <class Service>
using CallerRoute = awaitable<HttpResponse> (*)(Service&, const Caller&, RequestContext&);
template <class Service>
using CallerBodyRoute = awaitable<HttpResponse> (*)(Service&, const Caller&, RequestContext&,
                                                    nlohmann::json&);

template <class Service>
using BodyRoute = awaitable<HttpResponse> (*)(Service&, RequestContext&, nlohmann::json&);

template <class Service>
RouteHandler with_caller(ApiContext& api, Service& service, CallerRoute<Service> route,
                         bool require_socket = true, bool allow_query = false) {
    return [&api, &service, route, require_socket,
            allow_query](RequestContext& ctx) -> awaitable<HttpResponse> {
        auto auth = authenticate(api, ctx, require_socket, allow_query);
        if (!auth.caller) co_return auth.refusal;
        co_return co_await route(service, *auth.caller, ctx);
    };
}

template <class Service>
RouteHandler with_caller_body(ApiContext& api, Service& service, CallerBodyRoute<Service> route) {
    return [&api, &service, route](RequestContext& ctx) -> awaitable<HttpResponse> {
        auto auth = authenticate(api, ctx, true);
        if (!auth.caller) co_return auth.refusal;
        auto body = parse_json_body(ctx);
        if (!body.json) co_return body.refusal;
        co_return co_await route(service, *auth.caller, ctx, *body.json);
    };
}

template <class Service>
RouteHandler with_body(Service& service, BodyRoute<Service> route) {
    return [&service, route](RequestContext& ctx) -> awaitable<HttpResponse> {
        auto body = parse_json_body(ctx);
        if (!body.json) co_return body.refusal;
        co_return co_await route(service, ctx, *body.json);
    };
}

}  // namespace parley
