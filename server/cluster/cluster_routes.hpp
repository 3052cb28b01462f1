// The primary's internal link (docs/cluster.md, "Edges: writes"): the routes edges call to
// verify a client's access token, learn which of their sockets' sessions have ended, check
// membership, send a message and fill a gap in a room stream from SQLite. Every route requires
// `Authorization: Bearer <cluster secret>` (compared in constant time) and answers 401 otherwise;
// they exist only on a primary with a cluster.secret_file. The answers carry the same error codes a
// single node gives its clients, so an edge relays them unchanged. Registered by the server app;
// handlers run on the network threads like every route.
#pragma once

#include <memory>
#include <string>

#include "server/api/api_context.hpp"
#include "server/api/room_routes.hpp"
#include "server/api/router.hpp"

namespace parley {

// Reads the shared secret of the internal link: at least 32 bytes (trailing newline
// stripped), at most 1024; empty with `error` set otherwise. Never logged.
std::string read_cluster_secret(const std::string& path, std::string& error);

void add_cluster_routes(Router& router, ApiContext& api, ChatContext& chat, std::string secret);

// The JSON body of an internal request, or the refusal: 401 without the secret (checked
// before the body is parsed), 400 for a body that is not a JSON object.
JsonBody internal_body(const RequestContext& ctx, const std::string& secret);

// A named internal route: a function of the context it reads and of the request's JSON body.
template <class Context>
using InternalRoute = awaitable<HttpResponse> (*)(Context&, nlohmann::json&);

// The handler of an internal route: internal_body() checks the secret and parses the body, then
// `route` runs on `context`, which outlives the router (`keep`, if given, is held by the
// handler for that).
template <class Context>
RouteHandler internal_route(Context& context, std::shared_ptr<const std::string> secret,
                            InternalRoute<Context> route, std::shared_ptr<void> keep = nullptr) {
    return [&context, secret = std::move(secret), route,
            keep = std::move(keep)](RequestContext& ctx) -> awaitable<HttpResponse> {
        auto body = internal_body(ctx, *secret);
        if (!body.json) co_return body.refusal;
        co_return co_await route(context, *body.json);
    };
}

}  // namespace parley
