#include "server/api/api_context.hpp"

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/json_limits.hpp"
#include "server/api/outcome_response.hpp"
#include "server/api/ws_session.hpp"

namespace parley {

static_assert(close_code::token_revoked == kSessionEndedCloseCode);

void close_session_sockets(ApiContext& api, const std::vector<std::string>& session_ids,
                           const char* reason) {
    close_session_sockets(api.clients, session_ids, reason);
}

AuthCheck authenticate(const ApiContext& api, const RequestContext& ctx, bool require_socket,
                       bool allow_query) {
    AuthCheck check;
    std::string token;
    auto header = ctx.request[http::field::authorization];
    if (header.size() > 7 &&
        (header.substr(0, 7) == "Bearer " || header.substr(0, 7) == "bearer ")) {
        token = std::string(header.substr(7));
    } else if (allow_query) {
        token = query_param(ctx.query, "token");
    }
    if (token.empty()) {
        check.refusal = error_response(http::status::unauthorized, "unauthorized",
                                       "missing access token (Authorization: Bearer <token>)");
        return check;
    }
    if (token.size() > 256) {
        check.refusal =
            error_response(http::status::unauthorized, "unauthorized", "invalid access token");
        return check;
    }
    auto session = api.accounts.session_by_access_hash(token_hash(token), now_ms());
    if (!session) {
        check.refusal = error_response(http::status::unauthorized, "unauthorized",
                                       "invalid or expired access token");
        return check;
    }
    auto account = api.accounts.account_by_id(session->account_id);
    if (!account) {
        check.refusal =
            error_response(http::status::unauthorized, "unauthorized", "account no longer exists");
        return check;
    }
    if (account->disabled_at) {
        check.refusal =
            error_response(http::status::unauthorized, "unauthorized", "this account is disabled");
        return check;
    }
    if (require_socket && !api.clients.session_has_socket(session->id)) {
        check.refusal = error_response(
            http::status::unauthorized, "unauthorized",
            "this session has no live WebSocket: connect GET /api/v1/ws with the access token "
            "first, then retry");
        return check;
    }
    check.caller = Caller{std::move(*account), std::move(*session)};
    return check;
}

JsonBody parse_json_body(const RequestContext& ctx) {
    JsonBody out;
    auto type = ctx.request[http::field::content_type];
    std::string_view media = type.substr(0, type.find(';'));
    while (!media.empty() && media.back() == ' ')
        media.remove_suffix(1);
    if (media != "application/json") {
        out.refusal = error_response(http::status::unsupported_media_type, "bad_request",
                                     "expected Content-Type: application/json");
        return out;
    }
    bool too_deep = false;
    auto json = parse_json_bounded(ctx.request.body(), &too_deep);
    if (too_deep) {
        out.refusal = error_response(http::status::bad_request, "bad_request",
                                     "the body nests arrays or objects more than " +
                                         std::to_string(kMaxJsonDepth) + " levels deep");
        return out;
    }
    if (json.is_discarded()) {
        out.refusal =
            error_response(http::status::bad_request, "bad_request", "the body is not valid JSON");
        return out;
    }
    if (!json.is_object()) {
        out.refusal = error_response(http::status::bad_request, "bad_request",
                                     "the body must be a JSON object");
        return out;
    }
    out.json = std::move(json);
    return out;
}

HttpResponse db_failure_response(const DbFailure& f, std::string_view what) {
    return refusal_response(db_refusal(f, what));
}

AuthCheck authenticate_admin(const ApiContext& api, const RequestContext& ctx) {
    AuthCheck auth = authenticate(api, ctx, true);
    if (auth.caller && auth.caller->account.role != "admin") {
        spdlog::warn("admin: account {} (not an admin) refused on {}", auth.caller->account.id,
                     std::string(ctx.request.target().substr(0, 100)));
        auth.caller.reset();
        auth.refusal = error_response(http::status::forbidden, "forbidden",
                                      "this route is for admin accounts");
    }
    return auth;
}

}  // namespace parley
