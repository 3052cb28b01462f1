// ManagerConfig: the defaults render and load back, API keys and peers (arrays of tables) are
// parsed and checked, and cross-key rules hold.
#include "manager/settings/manager_config.hpp"

#include <catch2/catch.hpp>

namespace parley {

namespace {

ManagerConfig load(const std::string& text) {
    ManagerConfig config;
    ConfigSchema schema;
    config.describe(schema);
    schema.load_string(text, "test.toml");
    return config;
}

std::string load_error(const std::string& text) {
    try {
        ManagerConfig config = load(text);
        return config.validate();
    } catch (const ConfigError& e) {
        return e.what();
    }
}

const std::string kHash(64, 'a');

}  // namespace

TEST_CASE("the default manager config renders and loads back unchanged", "[manager][config]") {
    ManagerConfig defaults;
    ConfigSchema schema;
    defaults.describe(schema);
    std::string text = schema.render();
    CHECK_THAT(text, Catch::Contains("[manager.tls]"));
    CHECK_THAT(text, Catch::Contains("# [[manager.api_keys]]"));
    CHECK_THAT(text, Catch::Contains("# [[manager.peers]]"));
    ManagerConfig loaded = load(text);
    CHECK(loaded.validate().empty());
    CHECK(loaded.api_keys.empty());
    CHECK_FALSE(loaded.tls.enabled());
    CHECK(loaded.resolved_socket_path() == "manager-data/manager.sock");
    loaded.socket_path = "/run/parley/m.sock";
    CHECK(loaded.resolved_socket_path() == "/run/parley/m.sock");
}

TEST_CASE("API keys and peers are arrays of tables", "[manager][config]") {
    ManagerConfig c =
        load("[[manager.api_keys]]\nname = \"server\"\nsha256 = \"" + std::string(64, 'A') +
             "\"\n[[manager.api_keys]]\nname = \"monitor\"\nsha256 = \"" + kHash +
             "\"\naccess = \"read\"\n"
             "[[manager.peers]]\nname = \"b\"\nurl = \"tls://b.example:8443\"\n"
             "[[manager.peers]]\nname = \"c\"\n");
    REQUIRE(c.api_keys.size() == 2);
    CHECK(c.api_keys[0].name == "server");
    CHECK(c.api_keys[0].sha256 == kHash);  // lowercased
    CHECK(c.api_keys[0].access == "admin");
    CHECK(c.api_keys[1].access == "read");
    REQUIRE(c.peers.size() == 2);
    CHECK(c.peers[0].url == "tls://b.example:8443");
    CHECK(c.peers[1].url.empty());

    // Rendering non-default keys gives TOML that loads back the same.
    ConfigSchema schema;
    c.describe(schema);
    ManagerConfig again = load(schema.render());
    CHECK(again.api_keys.size() == 2);
    CHECK(again.peers.size() == 2);
}

TEST_CASE("bad API keys and peers are refused, naming the key", "[manager][config]") {
    CHECK_THAT(load_error("[[manager.api_keys]]\nname = \"x\"\nsha256 = \"hunter2\"\n"),
               Catch::Contains("manager.api_keys") && Catch::Contains("64 hex digits") &&
                   !Catch::Contains("hunter2"));
    CHECK_THAT(load_error("[[manager.api_keys]]\nname = \"x\"\n"),
               Catch::Contains("'sha256' is required"));
    CHECK_THAT(load_error("[[manager.api_keys]]\nname = \"x\"\nsha256 = \"" + kHash +
                          "\"\naccess = \"root\"\n"),
               Catch::Contains("'access'"));
    CHECK_THAT(load_error("[[manager.api_keys]]\nname = \"x\"\nsha256 = \"" + kHash +
                          "\"\nkey = \"plain\"\n"),
               Catch::Contains("unknown key 'key'"));
    CHECK_THAT(load_error("[[manager.api_keys]]\nname = \"x\"\nsha256 = \"" + kHash +
                          "\"\n[[manager.api_keys]]\nname = \"x\"\nsha256 = \"" + kHash + "\"\n"),
               Catch::Contains("used twice"));
    CHECK_THAT(load_error("[manager]\napi_keys = \"x\"\n"), Catch::Contains("array of tables"));
    CHECK_THAT(load_error("[[manager.peers]]\nname = \"b\"\nurl = \"https://b:1\"\n"),
               Catch::Contains("tls://host:port"));
    CHECK_THAT(load_error("[[manager.peers]]\nname = \"b\"\nurl = \"tls://b:99999\"\n"),
               Catch::Contains("tls://host:port"));
    CHECK_THAT(load_error("[[manager.peers]]\nurl = \"tls://b:1\"\n"),
               Catch::Contains("'name' is required"));
}

TEST_CASE("TLS needs all three files, and lock-out bounds must be ordered", "[manager][config]") {
    CHECK_THAT(load_error("[manager.tls]\ncertificate_file = \"/c.pem\"\n"),
               Catch::Contains("manager.tls needs"));
    CHECK(load_error("[manager.tls]\ncertificate_file = \"/c\"\nprivate_key_file = \"/k\"\n"
                     "ca_file = \"/ca\"\n")
              .empty());
    CHECK_THAT(load_error("[manager.api]\nlockout_base_ms = 5000\nlockout_max_ms = 1000\n"),
               Catch::Contains("lockout_base_ms"));
    CHECK_THAT(load_error("[manager.schedule]\npoll_ms = 1\n"),
               Catch::Contains("manager.schedule.poll_ms"));
}

}  // namespace parley

namespace parley {

TEST_CASE("peers: link, key_file, access and via are read and checked", "[manager][config]") {
    ManagerConfig c = load(R"(
[[manager.peers]]
name = "hub"
url = "tls://hub.example:8443"
key_file = "/etc/parley/hub.key"
link = true
access = "admin"

[[manager.peers]]
name = "edge"
via = "hub"
)");
    REQUIRE(c.peers.size() == 2);
    CHECK(c.peers[0].link);
    CHECK(c.peers[0].access == "admin");
    CHECK(c.peers[0].key_file == "/etc/parley/hub.key");
    CHECK(c.peers[1].via == "hub");
    CHECK(c.peers[1].access == "read");

    CHECK_THAT(load_error("[[manager.peers]]\nname = \"x\"\nlink = true\n"),
               Catch::Contains("link = true needs 'url' and 'key_file'"));
    CHECK_THAT(load_error("[[manager.peers]]\nname = \"x\"\nlink = \"yes\"\n"),
               Catch::Contains("'link' must be true or false"));
    CHECK_THAT(load_error("[[manager.peers]]\nname = \"x\"\naccess = \"root\"\n"),
               Catch::Contains("'access' must be"));
    CHECK_THAT(load_error("[[manager.peers]]\nname = \"x\"\nvia = \"nobody\"\n"),
               Catch::Contains("'via' must name another"));
    CHECK_THAT(load_error("[[manager.peers]]\nname = \"x\"\nvia = \"x\"\n"),
               Catch::Contains("'via' must name another"));
    CHECK_THAT(load_error("[manager.link]\nping_interval_ms = 1000\ntimeout_ms = 1500\n"),
               Catch::Contains("at least twice"));
    CHECK_THAT(load_error("[manager.client_tls]\ncertificate_file = \"/x.pem\"\n"),
               Catch::Contains("manager.client_tls needs"));
    CHECK_THAT(load_error("[manager.forward]\nmax_hops = 0\n"), Catch::Contains("max_hops"));
}

}  // namespace parley
