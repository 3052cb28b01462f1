// ApiContext: what the HTTP routes and the WebSocket upgrade need, built by the server app at
// start-up and passed by reference to each route group. Every member is thread-safe.
#pragma once

#include <functional>

#include "common/metrics.hpp"
#include "common/rate_limiter.hpp"
#include "server/api/http_types.hpp"
#include "server/data/account_store.hpp"
#include "server/features/client_registry.hpp"
#include "server/features/request_fields.hpp"
#include "server/features/session_tokens.hpp"
#include "server/settings/server_config.hpp"

namespace parley {

struct ApiContext {
    const ServerConfig& config;
    AccountStore& accounts;
    ClientRegistry& clients;
    MetricsRegistry& metrics;
    net::thread_pool& hash_pool;       // argon2id runs here
    FailureBackoff& login_by_address;  // failed logins by address, shared with the bot logins
};

// Who made an authenticated request.
struct Caller {
    Account account;
    Session session;
};

// The result of checking a request's bearer token: a caller, or the response to send.
struct AuthCheck {
    std::optional<Caller> caller;
    HttpResponse refusal;
};

// Checks `Authorization: Bearer <token>` (or ?token= when `allow_query`). With
// `require_socket`, the session must also have a live WebSocket (api.md's REST rule).
AuthCheck authenticate(const ApiContext& api, const RequestContext& ctx, bool require_socket,
                       bool allow_query = false);

// authenticate() (live socket required) and the admin role: any other account gets
// 403 forbidden, logged with the route.
AuthCheck authenticate_admin(const ApiContext& api, const RequestContext& ctx);

// Closes the sockets of revoked sessions (close code 4001, `reason`) and forgets them.
void close_session_sockets(ApiContext& api, const std::vector<std::string>& session_ids,
                           const char* reason);

// Parses a JSON object body; on failure returns the 4xx response in `refusal`.
struct JsonBody {
    std::optional<nlohmann::json> json;
    HttpResponse refusal;
};
JsonBody parse_json_body(const RequestContext& ctx);

// The answer to a failed database job: 503 `unavailable` when the database is busy or its
// writer is overloaded (retrying helps), else 500 `internal`, logged with `what` (the
// operation, "the room change" say) and the database's message.
HttpResponse db_failure_response(const DbFailure& f, std::string_view what);

}  // namespace parley
