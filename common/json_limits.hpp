// JSON limits shared by every place that parses JSON from a peer: REST bodies, WebSocket
// frames, manager API frames and the answers the server reads from its manager.
//
// nlohmann's parser itself is iterative, but copying, comparing and serialising a value are
// recursive: one 64 KiB frame of `[[[[…` nests 32,000 levels and overflows the stack when the
// value is later copied or dumped (a WebSocket `id` was echoed that way). So the depth is
// checked before parsing, by one pass over the bytes that skips strings: cheaper than
// nlohmann's parser callback, which is called for every token and builds the value through a
// slower path. Header-only (the fuzzers compile it without the rest of common). Stateless and
// thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

namespace parley {

// Arrays and objects nested deeper than this are refused. Every document Parley exchanges
// nests fewer than ten levels; a client's free-form values (a viewer sync `state`) get room.
inline constexpr std::size_t kMaxJsonDepth = 64;

// False when an array or object in `text` opens more than `max_depth` levels deep. Brackets
// inside strings do not count. Says nothing else about validity: malformed text that stays
// shallow passes and is left to the parser.
inline bool json_depth_within(std::string_view text, std::size_t max_depth = kMaxJsonDepth) {
    std::size_t depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\') {
                ++i;  // the escaped character cannot end the string
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        switch (c) {
            case '"':
                in_string = true;
                break;
            case '[':
            case '{':
                if (++depth > max_depth) return false;
                break;
            case ']':
            case '}':
                // Unbalanced closers are the parser's business; never wrap below zero.
                if (depth > 0) --depth;
                break;
            default:
                break;
        }
    }
    return true;
}

// Parses `text` without exceptions: a discarded value when it is not valid JSON or nests
// deeper than `max_depth`. `too_deep`, when given, tells the two apart.
inline nlohmann::json parse_json_bounded(std::string_view text, bool* too_deep = nullptr,
                                         std::size_t max_depth = kMaxJsonDepth) {
    const bool shallow = json_depth_within(text, max_depth);
    if (too_deep) *too_deep = !shallow;
    if (!shallow) return nlohmann::json(nlohmann::json::value_t::discarded);
    return nlohmann::json::parse(text, nullptr, false);
}

// Whether `id` may be echoed in a reply: a string, a number, a boolean or null. Containers are
// refused so that an echo never copies or serialises a client's structure.
inline bool is_scalar_json(const nlohmann::json& value) {
    return value.is_primitive() && !value.is_binary();
}

}  // namespace parley
