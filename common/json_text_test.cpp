#include "common/json_text.hpp"

#include <random>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace parley {
namespace {

using namespace std::string_literals;

std::string reference(const std::string& s) {
    return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string written(const std::string& s) {
    std::string out = "x";
    append_json_string(out, s);
    return out.substr(1);
}

}  // namespace

TEST_CASE("append_json_string writes what nlohmann writes", "[json_text]") {
    std::vector<std::string> cases = {"",
                                      "plain",
                                      "quote \" backslash \\ slash /",
                                      "controls \b\f\n\r\t \x01 \x1f \x7f"s,
                                      "nul \0 inside"s,
                                      "ünïcödé € 𝄞 日本",
                                      "\xed\xa0\x80",      // a surrogate: invalid
                                      "\xc0\xaf",          // overlong
                                      "\xf4\x90\x80\x80",  // above U+10FFFF
                                      "cut \xe2\x82",      // truncated sequence
                                      "lone \x80 continuation"};
    for (const auto& s : cases) {
        INFO(s);
        CHECK(written(s) == reference(s));
    }
}

TEST_CASE("append_json_string matches nlohmann on long mostly plain text", "[json_text]") {
    // Long runs of plain ASCII go through eight bytes at a time: the bytes that need escaping
    // (or a UTF-8 check) must be found at every offset within and after such a run.
    std::mt19937 random(11);
    std::uniform_int_distribution<int> length(0, 80);
    const std::string special = "\"\\\n\x01\x1f\x7f\0"s + "\xc3\xa9\xe2\x82\xac\xed\xa0\xff\x80";
    std::uniform_int_distribution<int> percent(0, 99);
    std::uniform_int_distribution<std::size_t> pick_special(0, special.size() - 1);
    std::uniform_int_distribution<int> plain(0x20, 0x7e);
    for (int round = 0; round < 20000; ++round) {
        std::string s;
        for (int i = length(random); i > 0; --i) {
            if (percent(random) < 4) {
                s += special[pick_special(random)];
            } else {
                s += static_cast<char>(plain(random));
            }
        }
        REQUIRE(written(s) == reference(s));
    }
}

TEST_CASE("append_json_string matches nlohmann on random bytes", "[json_text]") {
    std::mt19937 random(7);
    std::uniform_int_distribution<int> length(0, 24);
    // Mostly the bytes that matter: controls, quotes, UTF-8 lead and continuation bytes.
    const std::string alphabet =
        "a\"\\\n\x01\x1f /\0"s + "\xc2\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xed\xa0\xff\x80";
    std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
    for (int round = 0; round < 20000; ++round) {
        std::string s;
        for (int i = length(random); i > 0; --i)
            s += alphabet[pick(random)];
        REQUIRE(written(s) == reference(s));
    }
}

TEST_CASE("plain_json_prefix finds the first byte a JSON string must look at", "[json_text]") {
    // Byte by byte, as the callers would without it.
    auto expected = [](const char* p) {
        for (std::size_t i = 0; i < 8; ++i) {
            auto c = static_cast<unsigned char>(p[i]);
            if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) return i;
        }
        return std::size_t{8};
    };
    CHECK(plain_json_prefix("abcdefgh") == 8);
    CHECK(plain_json_prefix(" !#~[]/A") == 8);
    // Each special byte at each position, alone and with another special byte after it (a
    // borrow from the first may mark the bytes above it, never below).
    for (char special : {'\0', '\x01', '\x1f', '"', '\\', '\x80', '\xbf', '\xc2', '\xff'}) {
        for (std::size_t at = 0; at < 8; ++at) {
            std::string chunk(8, 'a');
            chunk[at] = special;
            INFO("byte " << static_cast<int>(static_cast<unsigned char>(special)) << " at " << at);
            CHECK(plain_json_prefix(chunk.data()) == at);
            for (std::size_t after = at + 1; after < 8; ++after) {
                std::string two = chunk;
                two[after] = '\0';
                CHECK(plain_json_prefix(two.data()) == at);
            }
        }
    }
    std::mt19937 random(11);
    std::uniform_int_distribution<int> byte(0, 255);
    for (int round = 0; round < 100000; ++round) {
        char chunk[8];
        for (char& c : chunk)
            c = static_cast<char>(byte(random) < 200 ? 'a' + byte(random) % 26 : byte(random));
        REQUIRE(plain_json_prefix(chunk) == expected(chunk));
    }
}

TEST_CASE("append_json_int writes decimal integers", "[json_text]") {
    std::string out;
    append_json_int(out, 0);
    out += ',';
    append_json_int(out, -42);
    out += ',';
    append_json_int(out, INT64_MAX);
    CHECK(out == "0,-42,9223372036854775807");
}

}  // namespace parley
