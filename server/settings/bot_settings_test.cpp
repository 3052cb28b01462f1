// [bots] of the server's configuration: behaviours per local bot, a loopback-only listener.
#include "server/settings/bot_settings.hpp"

#include <catch2/catch.hpp>

#include "server/api/bot_routes.hpp"
#include "server/settings/server_config.hpp"
#include "server/settings/server_config_test_support.hpp"

namespace parley {

using test::load_server_config;

TEST_CASE("bots settings: one behaviour per local bot, loopback listener", "[bots][config]") {
    auto ok = load_server_config("[bots]\nlocal = 2\nbehaviours = [\"echo\", \"moderator\"]\n");
    CHECK(ok.validate().empty());
    CHECK(ok.bots.local_username(0) == "bot1-echo");
    CHECK(ok.bots.local_username(1) == "bot2-moderator");
    CHECK(load_server_config("[bots]\nlocal = 2\nbehaviours = [\"echo\"]\n")
              .validate()
              .find("one behaviour") != std::string::npos);
    CHECK(load_server_config("[bots]\nlocal = 1\nbehaviours = [\"juggler\"]\n")
              .validate()
              .find("unknown") != std::string::npos);
    CHECK(load_server_config("[bots]\nlisten = \"::1\"\n").validate().empty());
    CHECK(load_server_config("[bots]\nlisten = \"127.0.0.2\"\n").validate().empty());
    CHECK_THROWS_WITH(load_server_config("[bots]\nlisten = \"0.0.0.0\"\n"),
                      Catch::Contains("loopback"));
    CHECK_THROWS_WITH(load_server_config("[bots]\nlisten = \"192.0.2.1\"\n"),
                      Catch::Contains("loopback"));
    CHECK(load_server_config("[bots]\nkey_lockout_base_ms = 5000\nkey_lockout_max_ms = 1000\n")
              .validate()
              .find("key_lockout_base_ms") != std::string::npos);
    CHECK(ServerConfig{}.validate().empty());
}

TEST_CASE("only loopback peers pass the bot listener's check", "[bots]") {
    CHECK(is_loopback_peer("127.0.0.1"));
    CHECK(is_loopback_peer("127.1.2.3"));
    CHECK(is_loopback_peer("::1"));
    CHECK(is_loopback_peer("::ffff:127.0.0.1"));
    CHECK_FALSE(is_loopback_peer("192.0.2.2"));
    CHECK_FALSE(is_loopback_peer("::ffff:192.0.2.2"));
    CHECK_FALSE(is_loopback_peer("0.0.0.0"));
    CHECK_FALSE(is_loopback_peer("not an address"));
}

}  // namespace parley
