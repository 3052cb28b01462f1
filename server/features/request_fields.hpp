// Reading the fields of a request body (a JSON object of api.md), shared by the services and
// the route adapters. Plain functions; any thread.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace parley {

// The string at `key`, or nullopt when it is absent or not a string.
inline std::optional<std::string> string_field(const nlohmann::json& body, const char* key) {
    auto it = body.find(key);
    if (it == body.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
}

}  // namespace parley
