// utf8_code_points(): counts code points of valid UTF-8 and refuses everything else.
#include "common/utf8.hpp"

#include <string>

#include <catch2/catch.hpp>

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

}  // namespace parley
