// utf8_code_points(): counts code points of valid UTF-8 and refuses everything else.
#include "common/utf8.hpp"

#include <random>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace parley {

TEST_CASE("utf8_code_points counts code points and refuses invalid UTF-8", "[utf8]") {
    CHECK(utf8_code_points("") == 0);
    CHECK(utf8_code_points("hello") == 5);
    CHECK(utf8_code_points("h\xC3\xA9llo") == 5);           // é: two bytes
    CHECK(utf8_code_points("\xE2\x82\xAC") == 1);           // €: three bytes
    CHECK(utf8_code_points("\xF0\x9F\x98\x80!") == 2);      // 😀: four bytes
    CHECK(utf8_code_points(std::string("a\0b", 3)) == 3);   // NUL is a code point
    CHECK(utf8_code_points("\xC3") == -1);                  // truncated
    CHECK(utf8_code_points("\xC3(") == -1);                 // bad continuation
    CHECK(utf8_code_points("\x80") == -1);                  // lone continuation
    CHECK(utf8_code_points("\xC0\xAF") == -1);              // overlong '/'
    CHECK(utf8_code_points("\xE0\x80\xAF") == -1);          // overlong, three bytes
    CHECK(utf8_code_points("\xED\xA0\x80") == -1);          // surrogate U+D800
    CHECK(utf8_code_points("\xF4\x90\x80\x80") == -1);      // past U+10FFFF
    CHECK(utf8_code_points("\xF8\x88\x80\x80\x80") == -1);  // five-byte form
}

TEST_CASE("utf8_code_points agrees with a byte-by-byte decoder past eight-byte ASCII runs",
          "[utf8]") {
    CHECK(utf8_code_points("abcdefgh") == 8);
    CHECK(utf8_code_points("abcdefghijklmnop\xC3\xA9") == 17);
    CHECK(utf8_code_points("abcdefgh\xC3") == -1);
    CHECK(utf8_code_points("abcdefg\xC3\xA9"
                           "abcdefgh") == 16);
    // Reference: valid when nlohmann (strict) accepts the string; then every byte that is not
    // a continuation byte starts a code point.
    std::mt19937 random(5);
    std::uniform_int_distribution<int> length(0, 40);
    std::uniform_int_distribution<int> percent(0, 99);
    const std::string special = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xed\xa0\xc0\xff\x80";
    std::uniform_int_distribution<std::size_t> pick(0, special.size() - 1);
    for (int round = 0; round < 20000; ++round) {
        std::string s;
        for (int i = length(random); i > 0; --i)
            s += percent(random) < 5 ? special[pick(random)] : 'a';
        long expected = 0;
        try {
            (void)nlohmann::json(s).dump();
            for (char c : s)
                expected += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
        } catch (const nlohmann::json::type_error&) {
            expected = -1;
        }
        INFO(s);
        REQUIRE(utf8_code_points(s) == expected);
    }
}

}  // namespace parley
