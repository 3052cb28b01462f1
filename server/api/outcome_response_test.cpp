// The table from service error codes to HTTP: the statuses and wire codes api.md lists.
#include "server/api/outcome_response.hpp"

#include <catch2/catch.hpp>

namespace parley {

TEST_CASE("each error code answers api.md's status and code", "[server][api]") {
    struct Row {
        ErrorCode code;
        http::status status;
        const char* name;
    };
    for (const Row& r : {
             Row{ErrorCode::bad_request, http::status::bad_request, "bad_request"},
             Row{ErrorCode::invalid_signature, http::status::bad_request, "invalid_signature"},
             Row{ErrorCode::unauthorized, http::status::unauthorized, "unauthorized"},
             Row{ErrorCode::forbidden, http::status::forbidden, "forbidden"},
             Row{ErrorCode::not_found, http::status::not_found, "not_found"},
             Row{ErrorCode::conflict, http::status::conflict, "conflict"},
             Row{ErrorCode::too_many, http::status::bad_request, "too_large"},
             Row{ErrorCode::full, http::status::forbidden, "too_large"},
             Row{ErrorCode::too_large, http::status::payload_too_large, "too_large"},
             Row{ErrorCode::quota_exceeded, http::status::forbidden, "quota_exceeded"},
             Row{ErrorCode::rate_limited, http::status::too_many_requests, "rate_limited"},
             Row{ErrorCode::unavailable, http::status::service_unavailable, "unavailable"},
             Row{ErrorCode::insufficient_storage, http::status::insufficient_storage,
                 "insufficient_storage"},
             Row{ErrorCode::internal, http::status::internal_server_error, "internal"},
         }) {
        INFO(r.name);
        CHECK(http_status(r.code) == r.status);
        CHECK(error_code_name(r.code) == r.name);
        HttpResponse res = refusal_response({r.code, "why"});
        CHECK(res.result() == r.status);
        auto body = nlohmann::json::parse(res.body());
        CHECK(body["error"] == r.name);
        CHECK(body["message"] == "why");
    }
}

}  // namespace parley
