#include "server/api/outcome_response.hpp"

#include <algorithm>

namespace parley {

http::status http_status(ErrorCode code) {
    switch (code) {
        case ErrorCode::bad_request:
        case ErrorCode::invalid_signature:
        case ErrorCode::too_many:
            return http::status::bad_request;
        case ErrorCode::unauthorized:
            return http::status::unauthorized;
        case ErrorCode::forbidden:
        case ErrorCode::full:
        case ErrorCode::quota_exceeded:
            return http::status::forbidden;
        case ErrorCode::not_found:
            return http::status::not_found;
        case ErrorCode::conflict:
            return http::status::conflict;
        case ErrorCode::too_large:
            return http::status::payload_too_large;
        case ErrorCode::rate_limited:
            return http::status::too_many_requests;
        case ErrorCode::unavailable:
            return http::status::service_unavailable;
        case ErrorCode::insufficient_storage:
            return http::status::insufficient_storage;
        case ErrorCode::internal:
            return http::status::internal_server_error;
    }
    return http::status::internal_server_error;
}

HttpResponse refusal_response(const Refusal& refusal) {
    HttpResponse res = error_response(http_status(refusal.code),
                                      std::string(error_code_name(refusal.code)), refusal.message);
    if (refusal.retry_after.count() > 0) {
        auto seconds = std::max<std::int64_t>(1, (refusal.retry_after.count() + 999) / 1000);
        res.set(http::field::retry_after, std::to_string(seconds));
    }
    return res;
}

}  // namespace parley
