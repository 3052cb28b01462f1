#include "server/features/outcome.hpp"

#include <spdlog/spdlog.h>

namespace parley {

std::string_view error_code_name(ErrorCode code) {
    switch (code) {
        case ErrorCode::bad_request:
            return "bad_request";
        case ErrorCode::invalid_signature:
            return "invalid_signature";
        case ErrorCode::unauthorized:
            return "unauthorized";
        case ErrorCode::forbidden:
            return "forbidden";
        case ErrorCode::not_found:
            return "not_found";
        case ErrorCode::conflict:
            return "conflict";
        case ErrorCode::too_many:
        case ErrorCode::full:
        case ErrorCode::too_large:
            return "too_large";
        case ErrorCode::quota_exceeded:
            return "quota_exceeded";
        case ErrorCode::rate_limited:
            return "rate_limited";
        case ErrorCode::unavailable:
            return "unavailable";
        case ErrorCode::insufficient_storage:
            return "insufficient_storage";
        case ErrorCode::internal:
            return "internal";
    }
    return "internal";
}

Refusal db_refusal(const DbFailure& f, std::string_view what) {
    if (f.code == DbErrc::unavailable || f.code == DbErrc::busy) {
        return {ErrorCode::unavailable, "the server is busy; retry " + std::string(what)};
    }
    spdlog::error("database failure during {}: {}", what, f.message);
    return {ErrorCode::internal, "could not complete " + std::string(what)};
}

}  // namespace parley
