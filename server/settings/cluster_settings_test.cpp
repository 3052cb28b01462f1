// [cluster] of the server's configuration: roles, the Redis address, edge requirements.
#include "server/settings/cluster_settings.hpp"

#include <catch2/catch.hpp>

#include "server/settings/server_config.hpp"
#include "server/settings/server_config_test_support.hpp"

namespace parley {

using test::load_server_config;

TEST_CASE("cluster settings: single by default, primary and edge validated", "[cluster][config]") {
    ServerConfig defaults;
    CHECK(defaults.cluster.role == "single");
    CHECK_FALSE(defaults.cluster.enabled());
    CHECK(defaults.validate().empty());

    auto primary = load_server_config("[cluster]\nrole = \"primary\"\nredis = \"10.0.0.5:6380\"\n");
    CHECK(primary.validate().empty());
    CHECK(primary.cluster.is_primary());
    std::string host;
    int port = 0;
    REQUIRE(primary.cluster.redis_endpoint(host, port));
    CHECK(host == "10.0.0.5");
    CHECK(port == 6380);

    auto v6 = load_server_config("[cluster]\nrole = \"primary\"\nredis = \"[::1]:7000\"\n");
    REQUIRE(v6.cluster.redis_endpoint(host, port));
    CHECK(host == "::1");
    CHECK(port == 7000);

    CHECK_THROWS_WITH(load_server_config("[cluster]\nrole = \"leader\"\n"),
                      Catch::Contains("cluster.role"));
    CHECK_THROWS_WITH(load_server_config("[cluster]\nredis = \"localhost\"\n"),
                      Catch::Contains("host:port"));
    CHECK_THROWS_WITH(load_server_config("[cluster]\nredis = \"localhost:0\"\n"),
                      Catch::Contains("host:port"));
    CHECK_THROWS_WITH(load_server_config("[cluster]\nredis = \"localhost:6379x\"\n"),
                      Catch::Contains("host:port"));
    CHECK_THROWS_WITH(load_server_config("[cluster]\nstream_prefix = \"a b\"\n"),
                      Catch::Contains("stream_prefix"));
    CHECK_THROWS_WITH(load_server_config("[cluster]\nnode_id = \"edge a\"\n"),
                      Catch::Contains("node_id"));
    CHECK_THROWS_WITH(load_server_config("[cluster]\nstream_maxlen = 5\n"),
                      Catch::Contains("stream_maxlen"));
    CHECK_THROWS_WITH(load_server_config("[cluster]\nrolle = \"edge\"\n"),
                      Catch::Contains("rolle"));

    CHECK(load_server_config("[cluster]\nrole = \"edge\"\n")
              .validate()
              .find("cluster.primary is empty") != std::string::npos);
    CHECK(load_server_config(
              "[cluster]\nrole = \"edge\"\nprimary = \"10.0.0.1:8080\"\nsecret_file = \"s\"\n")
              .validate()
              .find("http://") != std::string::npos);
    CHECK(load_server_config("[cluster]\nrole = \"edge\"\nprimary = \"http://10.0.0.1:8080\"\n")
              .validate()
              .find("secret_file") != std::string::npos);
    CHECK(load_server_config(
              "[cluster]\nrole = \"edge\"\nprimary = \"http://10.0.0.1:8080\"\nsecret_file = "
              "\"s\"\n")
              .validate()
              .empty());
    CHECK(load_server_config("[cluster]\nrole = \"primary\"\nprimary = \"http://10.0.0.1:8080\"\n")
              .validate()
              .find("not \"edge\"") != std::string::npos);
}

}  // namespace parley
