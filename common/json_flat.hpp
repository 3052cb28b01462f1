// A fast path for the JSON that clients send most: one flat object whose values are strings,
// integers, booleans or null (`{"type":"send","room_id":"…","text":"…","client_msg_id":"…"}`).
//
// nlohmann's lexer copies every character of every string into a token buffer, one push_back
// at a time, and then into the value: for a chat frame that was most of the cost of reading it.
// read_flat_json_object() scans each string once and keeps the fields as they are, in a
// FlatObject: the hot frames (`send`) are read from it without any JSON tree, and every other
// frame turns it into the same nlohmann::json value nlohmann would have built (to_json(): the
// same types, as non-negative integers are unsigned in nlohmann; the last of duplicate keys
// wins, as with nlohmann). parse_flat_json_object() does both at once. Anything outside that subset
// — nesting, fractions, exponents, \u escapes, integers of more than 18 digits, and every malformed
// text — gives std::nullopt, and the caller parses the text with nlohmann, which then also gives
// the error. So the fast path never accepts what nlohmann refuses (unit-tested against nlohmann on
// random inputs). Stateless and thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace parley {

// One value of a flat object: a string (escapes decoded), an integer, a boolean or null.
struct FlatValue {
    enum class Kind : std::uint8_t { string, integer, boolean, null };
    Kind kind = Kind::null;
    std::string text;         // Kind::string
    std::int64_t number = 0;  // Kind::integer (at most 18 digits: never overflows)
    bool negative = false;    // Kind::integer written with a minus sign ("-0" included)
    bool truth = false;       // Kind::boolean

    bool is_string() const { return kind == Kind::string; }
    bool is_null() const { return kind == Kind::null; }
    // As nlohmann holds it: an integer without a minus sign is number_unsigned, one with it
    // (-0 too) number_integer.
    nlohmann::json to_json() const&;
    nlohmann::json to_json() &&;
};

// A flat object's fields in the order the text gave them, duplicates included.
class FlatObject {
  public:
    struct Field {
        std::string key;
        FlatValue value;
    };

    // The field named `key`: the last one when the text repeated it (as nlohmann keeps it).
    FlatValue* find(std::string_view key);
    const FlatValue* find(std::string_view key) const;
    // The whole object as nlohmann would have parsed it; the && form moves the strings.
    nlohmann::json to_json() &&;

    std::vector<Field> fields;
};

std::optional<FlatObject> read_flat_json_object(std::string_view text);
// read_flat_json_object(text), as nlohmann::json.
std::optional<nlohmann::json> parse_flat_json_object(std::string_view text);

}  // namespace parley
