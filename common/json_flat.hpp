// A fast path for the JSON that clients send most: one flat object whose values are strings,
// integers, booleans or null (`{"type":"send","room_id":"…","text":"…","client_msg_id":"…"}`).
//
// nlohmann's lexer copies every character of every string into a token buffer, one push_back
// at a time, and then into the value: for a chat frame that was most of the cost of reading it.
// parse_flat_json_object() scans each string once and builds the same nlohmann::json value
// (the same types: non-negative integers are unsigned, as nlohmann makes them; the last of
// duplicate keys wins, as with nlohmann). Anything outside that subset — nesting, fractions,
// exponents, \u escapes, integers of more than 18 digits, and every malformed text — gives
// std::nullopt, and the caller parses the text with nlohmann, which then also gives the error.
// So the fast path never accepts what nlohmann refuses (unit-tested against nlohmann on random
// inputs). Stateless and thread-safe.
#pragma once

#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

namespace parley {

std::optional<nlohmann::json> parse_flat_json_object(std::string_view text);

}  // namespace parley
