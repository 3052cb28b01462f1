// The manager API's request parsing and answer shapes, and the API key ring.
#include "manager/protocol/api_protocol.hpp"

#include <catch2/catch.hpp>

#include "common/crypto.hpp"
#include "manager/protocol/api_keys.hpp"

namespace parley {

namespace {

std::optional<ApiRequest> parse(const std::string& text, ApiError& error, json& id) {
    return parse_request(text, error, id);
}

}  // namespace

TEST_CASE("parse_request accepts well-formed requests", "[manager][protocol]") {
    ApiError error;
    json id;
    auto r = parse(R"({"id": 3, "method": "ping"})", error, id);
    REQUIRE(r);
    CHECK(r->id == 3);
    CHECK(r->method == "ping");
    CHECK(r->params == json::object());
    r = parse(R"({"id": "a-1", "method": "schedule.add", "params": {"at": 5}})", error, id);
    REQUIRE(r);
    CHECK(r->id == "a-1");
    CHECK(r->params["at"] == 5);
    CHECK(parse(R"({"id": 1, "method": "ping", "params": null})", error, id));
}

TEST_CASE("parse_request refuses malformed requests, keeping the id when it can",
          "[manager][protocol]") {
    ApiError error;
    json id;
    CHECK_FALSE(parse("{nope", error, id));
    CHECK(error.code == ApiErrorCode::bad_request);
    CHECK(id.is_null());
    CHECK_FALSE(parse("[1,2]", error, id));
    CHECK_FALSE(parse(R"({"method": "ping"})", error, id));
    CHECK_FALSE(parse(R"({"id": 1.5, "method": "ping"})", error, id));
    CHECK_FALSE(parse(R"({"id": "", "method": "ping"})", error, id));
    CHECK_FALSE(
        parse(R"({"id": ")" + std::string(129, 'x') + R"(", "method": "ping"})", error, id));
    CHECK_FALSE(parse(R"({"id": {"a": 1}, "method": "ping"})", error, id));
    CHECK_FALSE(parse(R"({"id": 9, "method": ""})", error, id));
    CHECK(id == 9);
    CHECK_FALSE(parse(R"({"id": 9, "method": "ping", "params": [1]})", error, id));
    CHECK(id == 9);
    CHECK_THAT(error.message, Catch::Contains("params"));
}

TEST_CASE("answers have the documented shape", "[manager][protocol]") {
    CHECK(make_ok(4, {{"x", 1}}) == json{{"id", 4}, {"ok", true}, {"result", {{"x", 1}}}});
    CHECK(make_error("a", ApiErrorCode::rate_limited, "wait") ==
          json{{"id", "a"},
               {"ok", false},
               {"error", {{"code", "rate_limited"}, {"message", "wait"}}}});
    json with_details =
        make_error(nullptr, ApiError{ApiErrorCode::failed, "m", {{"result", "failed"}}});
    CHECK(with_details["error"]["details"]["result"] == "failed");
    CHECK(with_details["id"].is_null());
    for (auto code : {ApiErrorCode::bad_request, ApiErrorCode::unauthorized,
                      ApiErrorCode::forbidden, ApiErrorCode::not_found, ApiErrorCode::rate_limited,
                      ApiErrorCode::unavailable, ApiErrorCode::failed, ApiErrorCode::internal}) {
        CHECK(std::string(api_error_code_name(code)).find('_') != 0);
    }
    // Invalid UTF-8 from a journal line does not throw.
    CHECK(serialize(json{{"m", std::string("a\xff")}}) == "{\"m\":\"a\xEF\xBF\xBD\"}");
    CHECK(id_for_log(nullptr) == "-");
    CHECK(id_for_log("x") == "\"x\"");
}

TEST_CASE("ApiKeyRing matches keys by their SHA-256", "[manager][protocol]") {
    ApiKeyRing ring(
        {{"server", sha256_hex("key-one"), "admin"}, {"monitor", sha256_hex("key-two"), "read"}});
    auto one = ring.authenticate("key-one");
    REQUIRE(one);
    CHECK(one->name == "server");
    CHECK(one->access == ApiAccess::admin);
    auto two = ring.authenticate("key-two");
    REQUIRE(two);
    CHECK(two->access == ApiAccess::read);
    CHECK_FALSE(ring.authenticate("key-three"));
    CHECK_FALSE(ring.authenticate(""));
    CHECK_FALSE(ring.authenticate(sha256_hex("key-one")));  // the hash is not the key
    CHECK(ApiKeyRing({}).empty());
    CHECK_FALSE(ApiKeyRing({}).authenticate("anything"));
}

}  // namespace parley

namespace parley {

TEST_CASE("parse_request reads target and via; forwarded_request extends via",
          "[manager][protocol][forward]") {
    ApiError error;
    json id;
    auto r =
        parse_request(R"({"id": 1, "method": "ping", "target": "b", "via": ["x"]})", error, id);
    REQUIRE(r);
    CHECK(r->target == "b");
    CHECK(r->via == std::vector<std::string>{"x"});
    r = parse_request(R"({"id": 1, "method": "ping", "target": null})", error, id);
    REQUIRE(r);
    CHECK(r->target.empty());
    CHECK(r->via.empty());

    CHECK_FALSE(parse_request(R"({"id": 1, "method": "ping", "target": ""})", error, id));
    CHECK_FALSE(parse_request(R"({"id": 1, "method": "ping", "target": 5})", error, id));
    CHECK_FALSE(parse_request(
        R"({"id": 1, "method": "ping", "target": ")" + std::string(65, 'n') + "\"}", error, id));
    CHECK(id == 1);
    CHECK_FALSE(parse_request(R"({"id": 1, "method": "ping", "via": "a"})", error, id));
    CHECK_FALSE(parse_request(R"({"id": 1, "method": "ping", "via": [1]})", error, id));
    json many = json::array();
    for (int i = 0; i < 17; ++i)
        many.push_back("m" + std::to_string(i));
    json doc{{"id", 1}, {"method", "ping"}, {"via", many}};
    CHECK_FALSE(parse_request(doc.dump(), error, id));
    CHECK(error.code == ApiErrorCode::bad_request);

    r = parse_request(R"({"id": "q", "method": "system.info", "params": {"journal_lines": 2},
                         "target": "c", "via": ["a"]})",
                      error, id);
    REQUIRE(r);
    json out = forwarded_request(*r, 42, "b");
    CHECK(out == json{{"id", 42},
                      {"method", "system.info"},
                      {"params", {{"journal_lines", 2}}},
                      {"target", "c"},
                      {"via", {"a", "b"}}});
    CHECK(api_error_code_name(ApiErrorCode::timeout) == std::string("timeout"));
}

}  // namespace parley

namespace parley {

TEST_CASE("a request's binary data travels as a raw attachment after a NUL", "[manager][backup]") {
    std::string bytes("\x00\x01{\"x\":1}\xff\x00", 11);
    json request{
        {"id", 3},
        {"method", "backup.put"},
        {"params",
         {{"session", "s"},
          {"offset", 0},
          {"data", json::binary_t(std::vector<std::uint8_t>(bytes.begin(), bytes.end()))}}}};
    const std::string text = serialize(request);
    // The JSON part names no data; the bytes follow one NUL, unencoded.
    const std::size_t nul = text.find('\0');
    REQUIRE(nul != std::string::npos);
    CHECK(text.substr(nul + 1) == bytes);
    CHECK(json::parse(text.substr(0, nul))["params"].contains("data") == false);

    ApiError error;
    json id;
    auto parsed = parse_request(text, error, id);
    REQUIRE(parsed);
    CHECK(parsed->params["offset"] == 0);
    REQUIRE(parsed->params["data"].is_binary());
    const auto& data = parsed->params["data"].get_binary();
    CHECK(std::string(data.begin(), data.end()) == bytes);
    // Forwarding keeps it.
    const std::string forwarded = serialize(forwarded_request(*parsed, json(9), "a"));
    CHECK(forwarded.substr(forwarded.find('\0') + 1) == bytes);

    // Messages without binary data are plain JSON.
    CHECK(serialize(json{{"id", 1}, {"method", "ping"}}).find('\0') == std::string::npos);
    // An attachment needs an object "params" without its own "data".
    CHECK(parse_message(std::string("[1]\0abc", 7)).is_discarded());
    CHECK(parse_message(std::string("{\"id\":1}\0abc", 12)).is_discarded());
    CHECK(parse_message(std::string("{\"params\":{\"data\":1}}\0abc", 25)).is_discarded());
    CHECK_FALSE(parse_request(std::string("{\"id\":1,\"method\":\"x\"}\0abc", 26), error, id));
}

}  // namespace parley
