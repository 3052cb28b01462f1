// JSON text written directly, for the hot frames that are built for every message (a message
// frame per committed message, an ok per send): building an nlohmann::json tree and dumping it
// costs a dozen allocations and a map walk for a handful of fields. The output is byte for byte
// what nlohmann::json::dump(-1, ' ', false, error_handler_t::replace) writes for the same
// string: the same escapes, UTF-8 passed through, and invalid UTF-8 replaced by U+FFFD (that
// rare case goes through nlohmann itself). Pure functions; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace parley {

// Appends `s` as a JSON string literal (quotes included).
void append_json_string(std::string& out, std::string_view s);

// Appends `"key":` (the key is written as is: callers pass plain ASCII names).
inline void append_json_key(std::string& out, std::string_view key) {
    out += '"';
    out += key;
    out += "\":";
}

void append_json_int(std::string& out, std::int64_t value);

// Appends `"key":value` to an object being written, after a comma unless it is the first field
// (`out` ends with '{').
void append_json_field(std::string& out, std::string_view key, std::string_view value);
void append_json_field(std::string& out, std::string_view key, std::int64_t value);

}  // namespace parley
