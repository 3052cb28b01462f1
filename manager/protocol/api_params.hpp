// Parameter checks shared by the manager API's method handlers: each helper either returns the
// value or throws HandlerError with a bad_request answer naming the parameter; handlers catch
// HandlerError at their edge and turn it into the error answer. Header-only, thread-safe.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>

#include <fmt/format.h>

#include "manager/protocol/api_protocol.hpp"

namespace parley {

// Thrown by the helpers below and by handlers; caught where the answer is made.
struct HandlerError {
    ApiError error;
};

[[noreturn]] inline void api_fail(ApiErrorCode code, std::string message, json details = nullptr) {
    throw HandlerError{ApiError{code, std::move(message), std::move(details)}};
}

inline std::int64_t integer_param(const json& params, const char* name) {
    auto it = params.find(name);
    if (it == params.end())
        api_fail(ApiErrorCode::bad_request, fmt::format("\"{}\" is required", name));
    if (it->is_number_unsigned()) {
        if (it->get<std::uint64_t>() >
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            api_fail(ApiErrorCode::bad_request, fmt::format("\"{}\" is out of range", name));
        }
        return static_cast<std::int64_t>(it->get<std::uint64_t>());
    }
    if (!it->is_number_integer()) {
        api_fail(ApiErrorCode::bad_request, fmt::format("\"{}\" must be an integer", name));
    }
    return it->get<std::int64_t>();
}

inline std::string string_param(const json& params, const char* name) {
    auto it = params.find(name);
    if (it == params.end() || !it->is_string()) {
        api_fail(ApiErrorCode::bad_request, fmt::format("\"{}\" must be a string", name));
    }
    return it->get<std::string>();
}

inline bool bool_param(const json& params, const char* name, bool fallback) {
    auto it = params.find(name);
    if (it == params.end()) return fallback;
    if (!it->is_boolean())
        api_fail(ApiErrorCode::bad_request, fmt::format("\"{}\" must be true or false", name));
    return it->get<bool>();
}

// Parameters a method does not know are refused, so a typo is not silently ignored.
inline void only_params(const json& params, std::initializer_list<const char*> known) {
    for (const auto& [key, value] : params.items()) {
        bool ok = false;
        for (const char* k : known)
            ok = ok || key == k;
        if (!ok) api_fail(ApiErrorCode::bad_request, fmt::format("unknown parameter \"{}\"", key));
    }
}

}  // namespace parley
