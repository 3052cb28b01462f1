// `parley manager-api`: its command line and how arguments become request parameters.
#include "manager/api/api_cli.hpp"

#include <catch2/catch.hpp>

#include "manager/protocol/api_client.hpp"

namespace parley {

namespace {

CliResult parse(std::vector<const char*> args) {
    args.insert(args.begin(), "parley");
    return parse_command_line(static_cast<int>(args.size()), args.data());
}

}  // namespace

TEST_CASE("manager-api parses its method, parameters and options", "[manager][cli]") {
    auto r = parse({"manager-api", "schedule.add", "action=restart", "at=+10m", "--url",
                    "unix:/tmp/m.sock", "--key-file", "/k", "--timeout-ms", "5000"});
    REQUIRE(r.command);
    CHECK(r.command->mode == "manager-api");
    CHECK(r.command->manager_api.method == "schedule.add");
    CHECK(r.command->manager_api.args == std::vector<std::string>{"action=restart", "at=+10m"});
    CHECK(r.command->manager_api.url == "unix:/tmp/m.sock");
    CHECK(r.command->manager_api.key_file == "/k");
    CHECK(r.command->manager_api.timeout_ms == 5000);

    auto d = parse({"manager-api", "-d", "/var/lib/parley-manager", "system.info"});
    REQUIRE(d.command);
    CHECK(d.command->data_dir == "/var/lib/parley-manager");

    auto missing = parse({"manager-api"});
    CHECK_FALSE(missing.command);
    CHECK(missing.exit_code == kExitUsage);
    auto help = parse({"manager-api", "--help"});
    CHECK(help.exit_code == 0);
    CHECK_THAT(help.out, Catch::Contains("--key-file"));
}

TEST_CASE("key=value arguments become JSON parameters", "[manager][cli]") {
    std::string error;
    auto p = build_manager_api_params(
        "", {"id=3", "all=true", "action=restart", "name=\"7\"", "at=+90s"}, 1'000'000, error);
    REQUIRE(p);
    CHECK(*p ==
          nlohmann::json{
              {"id", 3}, {"all", true}, {"action", "restart"}, {"name", "7"}, {"at", 1'090'000}});
    CHECK((*build_manager_api_params("", {"at=+2h"}, 0, error))["at"] == 7'200'000);
    CHECK((*build_manager_api_params("", {"at=+1d"}, 0, error))["at"] == 86'400'000);
    CHECK((*build_manager_api_params("", {"at=1700000000000"}, 0, error))["at"] ==
          1'700'000'000'000);
    CHECK((*build_manager_api_params("", {"note=+5m"}, 0, error))["note"] == "+5m");  // only `at`
    auto merged = build_manager_api_params(R"({"action": "reboot", "at": 5})", {"at=6"}, 0, error);
    REQUIRE(merged);
    CHECK(*merged == nlohmann::json{{"action", "reboot"}, {"at", 6}});

    CHECK_FALSE(build_manager_api_params("", {"3"}, 0, error));
    CHECK_THAT(error, Catch::Contains("key=value"));
    CHECK_FALSE(build_manager_api_params("", {"=3"}, 0, error));
    CHECK_FALSE(build_manager_api_params("[1]", {}, 0, error));
    CHECK_FALSE(build_manager_api_params("{bad", {}, 0, error));
}

TEST_CASE("manager API URLs", "[manager][cli]") {
    std::string error;
    auto unix_target = parse_manager_api_url("unix:/run/m.sock", error);
    REQUIRE(unix_target);
    CHECK_FALSE(unix_target->tls);
    CHECK(unix_target->path == "/run/m.sock");
    CHECK(parse_manager_api_url("/run/m.sock", error)->path == "/run/m.sock");
    auto tls = parse_manager_api_url("tls://b.example:8443", error);
    REQUIRE(tls);
    CHECK(tls->tls);
    CHECK(tls->host == "b.example");
    CHECK(tls->port == "8443");
    CHECK(tls->to_string() == "tls://b.example:8443");
    CHECK(parse_manager_api_url("tls://[::1]:8443", error)->host == "::1");
    CHECK_FALSE(parse_manager_api_url("tls://b.example", error));
    CHECK_FALSE(parse_manager_api_url("http://b:1", error));
    CHECK_FALSE(parse_manager_api_url("unix:", error));
}

}  // namespace parley
