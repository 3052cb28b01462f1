#include "common/json_limits.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace parley;

namespace {
std::string nested(std::size_t levels, std::string_view open = "[", std::string_view close = "]") {
    std::string out;
    for (std::size_t i = 0; i < levels; ++i)
        out += open;
    for (std::size_t i = 0; i < levels; ++i)
        out += close;
    return out;
}
}  // namespace

TEST_CASE("json_depth_within counts arrays and objects outside strings") {
    CHECK(json_depth_within("{}", 1));
    CHECK_FALSE(json_depth_within("{\"a\":[]}", 1));
    CHECK(json_depth_within(nested(kMaxJsonDepth)));
    CHECK_FALSE(json_depth_within(nested(kMaxJsonDepth + 1)));
    CHECK(json_depth_within("{\"a\":{\"b\":1},\"c\":{\"d\":2}}", 2));  // siblings do not add up
    // Brackets inside strings, escaped quotes included, are text.
    CHECK(json_depth_within("{\"s\":\"[[[[{{{{\\\"[[[[\"}", 1));
    CHECK_FALSE(json_depth_within("{\"s\":\"\\\\\",\"t\":[[]]}",
                                  2));  // an escaped backslash ends the escape
    // Stray closers never wrap the count below zero.
    CHECK_FALSE(json_depth_within("]]]]" + nested(3), 2));
}

TEST_CASE("parse_json_bounded refuses the 65,535-byte frame that crashed the server") {
    std::string frame = "{\"type\":\"ping\",\"id\":" + nested(32'757) + "}";
    REQUIRE(frame.size() == 65'535);
    bool too_deep = false;
    CHECK(parse_json_bounded(frame, &too_deep).is_discarded());
    CHECK(too_deep);
    CHECK(parse_json_bounded("{\"x\":" + nested(40'000, "{\"a\":", "}") + "}").is_discarded());

    auto ok = parse_json_bounded("{\"type\":\"ping\",\"id\":7}", &too_deep);
    CHECK_FALSE(too_deep);
    CHECK(ok["id"] == 7);
    CHECK(parse_json_bounded("{\"a\":" + nested(kMaxJsonDepth - 1) + "}").is_object());
    CHECK(parse_json_bounded("{nope", &too_deep).is_discarded());
    CHECK_FALSE(too_deep);
}

TEST_CASE("is_scalar_json: only strings, numbers, booleans and null are echoed") {
    CHECK(is_scalar_json(nlohmann::json(7)));
    CHECK(is_scalar_json(nlohmann::json("a")));
    CHECK(is_scalar_json(nlohmann::json(true)));
    CHECK(is_scalar_json(nlohmann::json(nullptr)));
    CHECK_FALSE(is_scalar_json(nlohmann::json::array()));
    CHECK_FALSE(is_scalar_json(nlohmann::json::object()));
    CHECK_FALSE(is_scalar_json(nlohmann::json::binary({1, 2})));
}
