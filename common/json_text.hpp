// JSON text written directly, for the hot frames that are built for every message (a message
// frame per committed message, an ok per send): building an nlohmann::json tree and dumping it
// costs a dozen allocations and a map walk for a handful of fields. The output is byte for byte
// what nlohmann::json::dump(-1, ' ', false, error_handler_t::replace) writes for the same
// string: the same escapes, UTF-8 passed through, and invalid UTF-8 replaced by U+FFFD (that
// rare case goes through nlohmann itself). Pure functions; any thread.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace parley {

// How many of the eight bytes at `p` come before the first byte that is special inside a JSON
// string literal: a control character, '"', '\\' or a byte of a multi-byte sequence (callers
// look at that byte themselves); 8 when there is none. Word-at-a-time tests: a byte of x is
// zero exactly when (x - 0x01…) & ~x has its high bit set, and a borrow only ever marks bytes
// above a marked one, so the lowest mark of each test, and of their union, is exact.
inline std::size_t plain_json_prefix(const char* p) {
    constexpr std::uint64_t ones = 0x0101010101010101ULL;
    constexpr std::uint64_t highs = 0x8080808080808080ULL;
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    auto has_zero = [](std::uint64_t x) { return (x - ones) & ~x & highs; };
    const std::uint64_t below_space = (v - ones * 0x20) & ~v & highs;
    const std::uint64_t quote = has_zero(v ^ (ones * '"'));
    const std::uint64_t backslash = has_zero(v ^ (ones * '\\'));
    const std::uint64_t marks = (v & highs) | below_space | quote | backslash;
    if (marks == 0) return 8;
    if constexpr (std::endian::native == std::endian::little) {
        return static_cast<std::size_t>(std::countr_zero(marks)) / 8;
    } else {
        return static_cast<std::size_t>(std::countl_zero(marks)) / 8;
    }
}

// From `at`, past the bytes of `s` that are plain inside a JSON string literal, eight at a
// time: stops at the first special byte of a word, or where fewer than eight bytes remain
// (callers look at those one by one).
inline std::size_t skip_plain_json(std::string_view s, std::size_t at) {
    while (at + 8 <= s.size()) {
        const std::size_t plain = plain_json_prefix(s.data() + at);
        at += plain;
        if (plain < 8) break;
    }
    return at;
}

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
