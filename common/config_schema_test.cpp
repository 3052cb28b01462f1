#include "common/config_schema.hpp"

#include <catch2/catch.hpp>

#include "server/settings/server_config.hpp"

using parley::ConfigError;
using parley::ConfigSchema;
using parley::ServerConfig;

namespace {
struct Sample {
    bool flag = false;
    int port = 8080;
    std::string name = "x";
    std::vector<std::string> words{"a"};
    double ratio = 0.5;
    std::string level = "info";

    void describe(ConfigSchema& s) {
        s.bind("ratio", ratio, "Top-level ratio.", 0.0, 1.0);
        s.section("net", "Network.");
        s.bind("flag", flag, "A flag.");
        s.bind("port", port, "Port.", 1, 65535);
        s.bind("name", name, "Name.", [](const std::string& v) -> std::string {
            return v.empty() ? "must not be empty" : "";
        });
        s.bind("words", words, "Words.");
        s.bind_choice("level", level, "Level.", {"info", "debug"});
    }
};
}  // namespace

TEST_CASE("config: a valid file sets every bound key", "[config]") {
    Sample c;
    ConfigSchema s;
    c.describe(s);
    s.load_string(
        "ratio = 0.25\n[net]\nflag = true\nport = 9000\nname = \"n\"\nwords = [\"p\", \"q\"]\n"
        "level = \"debug\"\n",
        "test.toml");
    CHECK(c.ratio == 0.25);
    CHECK(c.flag);
    CHECK(c.port == 9000);
    CHECK(c.name == "n");
    CHECK(c.words == std::vector<std::string>{"p", "q"});
    CHECK(c.level == "debug");
}

TEST_CASE("config: keys left out keep their defaults", "[config]") {
    Sample c;
    ConfigSchema s;
    c.describe(s);
    s.load_string("[net]\nport = 1\n", "test.toml");
    CHECK(c.port == 1);
    CHECK(c.name == "x");
    CHECK_FALSE(c.flag);
}

TEST_CASE("config: every problem names its key", "[config]") {
    Sample c;
    ConfigSchema s;
    c.describe(s);
    try {
        s.load_string(
            "[net]\nport = 70000\nflag = \"yes\"\nname = \"\"\nlevel = \"loud\"\nprot = 1\n"
            "[nope]\nx = 1\n",
            "bad.toml");
        FAIL("no error raised");
    } catch (const ConfigError& e) {
        std::string msg = e.what();
        CHECK_THAT(msg, Catch::Contains("bad.toml"));
        CHECK_THAT(msg, Catch::Contains("key 'net.port': expected an integer from 1 to 65535"));
        CHECK_THAT(msg, Catch::Contains("key 'net.flag': expected true or false"));
        CHECK_THAT(msg, Catch::Contains("key 'net.name': must not be empty"));
        CHECK_THAT(msg, Catch::Contains("key 'net.level': expected one of"));
        CHECK_THAT(msg, Catch::Contains("key 'net.prot': unknown key"));
        CHECK_THAT(msg, Catch::Contains("key 'nope': unknown key"));
    }
}

TEST_CASE("config: a syntax error gives the line", "[config]") {
    Sample c;
    ConfigSchema s;
    c.describe(s);
    try {
        s.load_string("[net]\nport = = 3\n", "broken.toml");
        FAIL("no error raised");
    } catch (const ConfigError& e) {
        CHECK_THAT(std::string(e.what()), Catch::Contains("broken.toml: line 2"));
    }
}

TEST_CASE("config: a missing file is a clear error", "[config]") {
    Sample c;
    ConfigSchema s;
    c.describe(s);
    CHECK_THROWS_WITH(s.load_file("/nonexistent/parley.toml"),
                      Catch::Contains("cannot read configuration file /nonexistent/parley.toml"));
}

TEST_CASE("config: the rendered default file loads back to the same values", "[config]") {
    ServerConfig defaults;
    ConfigSchema render_schema;
    defaults.describe(render_schema);
    std::string text = render_schema.render();
    CHECK_THAT(text, Catch::Contains("[server]"));
    CHECK_THAT(text, Catch::Contains("port = 8080"));
    CHECK_THAT(text, Catch::Contains("listen = \"127.0.0.1\""));

    ServerConfig loaded;
    loaded.port = 1;
    loaded.listen_address = "::1";
    ConfigSchema load_schema;
    loaded.describe(load_schema);
    load_schema.load_string(text, "default.toml");
    CHECK(loaded.port == 8080);
    CHECK(loaded.listen_address == "127.0.0.1");
    CHECK(loaded.data_dir == "data");
}

TEST_CASE("config: server rejects a listen address that is not an IP", "[config]") {
    ServerConfig c;
    ConfigSchema s;
    c.describe(s);
    CHECK_THROWS_WITH(s.load_string("[server]\nlisten = \"example\"\n", "t.toml"),
                      Catch::Contains("key 'server.listen': not an IP address"));
}

TEST_CASE("config: server TLS needs its files", "[config]") {
    ServerConfig c;
    c.tls.enabled = true;
    CHECK_THAT(c.validate(), Catch::Contains("tls.certificate_file"));
    c.tls.certificate_file = "c.pem";
    c.tls.private_key_file = "k.pem";
    CHECK(c.validate().empty());
}

TEST_CASE("config: strings are quoted for TOML", "[config]") {
    CHECK(parley::toml_quote("a\"b\\c\n") == "\"a\\\"b\\\\c\\n\"");
}
