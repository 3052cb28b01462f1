#include "common/json_flat.hpp"

#include <random>

#include <catch2/catch.hpp>

namespace parley {
namespace {

using namespace std::string_literals;

// What the fast path gives must be exactly what nlohmann gives: same value, same types.
void check_same_as_nlohmann(const std::string& text) {
    auto fast = parse_flat_json_object(text);
    if (!fast) return;  // left to nlohmann: no constraint
    INFO(text);
    auto reference = nlohmann::json::parse(text, nullptr, false);
    REQUIRE_FALSE(reference.is_discarded());
    REQUIRE(*fast == reference);
    REQUIRE(fast->dump() == reference.dump());
    for (auto it = reference.begin(); it != reference.end(); ++it)
        REQUIRE((*fast)[it.key()].type() == it.value().type());
}

}  // namespace

TEST_CASE("the flat JSON fast path reads chat frames as nlohmann does", "[json_flat]") {
    const std::vector<std::string> frames = {
        R"({"type":"send","room_id":"6f1c0e1e-9c43-4a8e-a7a4-6d1f3c1f2b10","text":"hello",)"
        R"("client_msg_id":"c-1","id":7})",
        R"( { "type" : "ping" , "id" : "x" } )",
        R"({"type":"typing","room_id":"r","active":false,"id":null})",
        R"({"text":"quote \" backslash \\ slash \/ \b\f\n\r\t","n":-42,"z":0,"m":-0})",
        R"({"text":"ünïcödé € 𝄞 日本"})",
        R"({"a":1,"a":"last wins"})",
        R"({})",
        R"({"big":999999999999999999,"neg":-999999999999999999})"};
    for (const auto& f : frames) {
        INFO(f);
        REQUIRE(parse_flat_json_object(f));
        check_same_as_nlohmann(f);
    }
    auto dup = parse_flat_json_object(R"({"a":1,"a":"last wins"})");
    CHECK((*dup)["a"] == "last wins");
    CHECK(parse_flat_json_object(R"({"n":5})")->at("n").is_number_unsigned());
    CHECK(parse_flat_json_object(R"({"n":-5})")->at("n").is_number_integer());
}

TEST_CASE("a flat object keeps its fields as read and finds the last of a repeated key",
          "[json_flat]") {
    auto flat = read_flat_json_object(
        R"({"type":"send","text":"a\nb","n":-3,"u":4,"t":true,"z":null,"text":"last"})");
    REQUIRE(flat);
    REQUIRE(flat->fields.size() == 7);
    CHECK(flat->fields[1].value.text == "a\nb");
    const FlatValue* text = flat->find("text");
    REQUIRE(text);
    CHECK(text->is_string());
    CHECK(text->text == "last");
    CHECK(flat->find("n")->kind == FlatValue::Kind::integer);
    CHECK(flat->find("n")->number == -3);
    CHECK(flat->find("n")->to_json().is_number_integer());
    CHECK(flat->find("u")->to_json().is_number_unsigned());
    CHECK(flat->find("t")->to_json() == true);
    CHECK(flat->find("z")->is_null());
    CHECK_FALSE(flat->find("missing"));
    CHECK(std::move(*flat).to_json() ==
          nlohmann::json::parse(R"({"type":"send","text":"last","n":-3,"u":4,"t":true,"z":null})"));
}

TEST_CASE("the flat JSON fast path leaves everything else to nlohmann", "[json_flat]") {
    for (const std::string text : {R"({"a":{"b":1}})",
                                   R"({"a":[1]})",
                                   R"({"a":1.5})",
                                   R"({"a":1e3})",
                                   R"({"a":"\u00e9"})",
                                   R"({"a":1234567890123456789})",
                                   R"({"a":01})",
                                   R"({"a":-})",
                                   R"({"a":tru})",
                                   R"({"a":truex})",
                                   R"({"a":1,})",
                                   R"({"a" 1})",
                                   R"({"a":1} x)",
                                   R"([1])",
                                   R"("s")",
                                   "",
                                   R"({"a":"\x"})",
                                   "{\"a\":\"\x01\"}",
                                   "{\"a\":\"\xff\"}",
                                   "{\"a\":\"\xed\xa0\x80\"}",
                                   "{\"a\":\"\xc0\xaf\"}",
                                   R"({"a":"open)",
                                   "{\"a\":\"\\"}) {
        INFO(text);
        CHECK_FALSE(parse_flat_json_object(text));
    }
}

TEST_CASE("the flat JSON fast path matches nlohmann on random text", "[json_flat]") {
    std::mt19937 random(11);
    // Pieces that make flat objects most of the time and every kind of near miss the rest.
    const std::vector<std::string> pieces = {"{",
                                             "}",
                                             "\"",
                                             "\"k\"",
                                             ":",
                                             ",",
                                             " ",
                                             "\n",
                                             "\"v\"",
                                             "\\",
                                             "\\n",
                                             "\\\"",
                                             "\\u",
                                             "0",
                                             "7",
                                             "-",
                                             "12",
                                             ".5",
                                             "e",
                                             "true",
                                             "false",
                                             "null",
                                             "[",
                                             "]",
                                             "\xc3\xa9",
                                             "\xe2\x82\xac",
                                             "\xed\xa0\x80",
                                             "\xff",
                                             "\x80",
                                             "\x01",
                                             "x",
                                             "\"a\":1",
                                             "\"b\":\"c\"",
                                             "\"a\":\"d\""};
    std::uniform_int_distribution<std::size_t> pick(0, pieces.size() - 1);
    std::uniform_int_distribution<int> length(1, 14);
    int fast = 0;
    for (int round = 0; round < 40000; ++round) {
        std::string text = "{";
        for (int i = length(random); i > 0; --i)
            text += pieces[pick(random)];
        if (round % 2 == 0) text += "}";
        check_same_as_nlohmann(text);
        if (parse_flat_json_object(text)) ++fast;
    }
    CHECK(fast > 100);  // the generator does reach the fast path
}

}  // namespace parley
