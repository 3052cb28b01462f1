// BotclientConfig: bots tables, login modes and their checks.
#include "botclient/settings/botclient_config.hpp"

#include <catch2/catch.hpp>

#include "common/mode_config.hpp"

namespace parley {

namespace {

BotclientConfig load(const std::string& text) {
    BotclientConfig config;
    ConfigSchema schema;
    config.describe(schema);
    schema.load_string(text, "test");
    return config;
}

}  // namespace

TEST_CASE("botclient config reads bots and validates login modes", "[bots][config]") {
    auto c = load(R"(
[botclient]
server_url = "http://127.0.0.1:9000"
login = "key"
moderator_words = ["spam"]
[[botclient.bots]]
name = "helper"
behaviour = "moderator"
account_id = "abc"
key_file = "/k"
)");
    REQUIRE(c.bots.size() == 1);
    CHECK(c.bots[0].behaviour == "moderator");
    CHECK(c.validate().empty());

    auto local = load(
        "[botclient]\nlogin = \"local\"\n[[botclient.bots]]\nname = \"b\"\n"
        "behaviour = \"echo\"\n");
    CHECK(local.validate().empty());
    auto missing = load("[[botclient.bots]]\nname = \"b\"\nbehaviour = \"echo\"\n");
    CHECK(missing.validate().find("account_id and key_file") != std::string::npos);
    auto twice = load(
        "[botclient]\nlogin = \"local\"\n[[botclient.bots]]\nname = \"b\"\n"
        "behaviour = \"echo\"\n[[botclient.bots]]\nname = \"b\"\nbehaviour = "
        "\"greeter\"\n");
    CHECK(twice.validate().find("used twice") != std::string::npos);

    CHECK_THROWS_WITH(load("[[botclient.bots]]\nname = \"b\"\nbehaviour = \"dance\"\n"),
                      Catch::Contains("behaviour"));
    CHECK_THROWS_WITH(load("[[botclient.bots]]\nname = \"b\"\nbehaviour = \"echo\"\ncolour = "
                           "\"red\"\n"),
                      Catch::Contains("unknown key"));
    CHECK_THROWS_WITH(load("[botclient]\nserver_url = \"ftp://x\"\n"), Catch::Contains("http://"));
    CHECK(load("[botclient]\nserver_url = \"https://chat.example.org\"\n").server_url ==
          "https://chat.example.org");
    CHECK_THROWS_WITH(load("[botclient]\nlogin = \"password\"\n"), Catch::Contains("login"));
}

TEST_CASE("the default botclient config renders and reloads", "[bots][config]") {
    std::string text = render_default_config<BotclientConfig>();
    CHECK(text.find("[[botclient.bots]]") != std::string::npos);  // the commented example
    auto c = load(text);
    CHECK(c.bots.empty());
    CHECK(c.login == "key");
}

}  // namespace parley
