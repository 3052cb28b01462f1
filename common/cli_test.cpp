#include "common/cli.hpp"

#include <catch2/catch.hpp>

#include <vector>

using parley::parse_command_line;

namespace {
parley::CliResult parse(std::vector<const char*> args) {
    args.insert(args.begin(), "parley");
    return parse_command_line(static_cast<int>(args.size()), args.data());
}
}  // namespace

TEST_CASE("cli: each mode parses with its options", "[cli]") {
    for (const char* mode : {"server", "manager", "imageproc", "botclient"}) {
        auto r = parse({mode, "--data-dir", "/tmp/x", "--log-level", "debug"});
        REQUIRE(r.command);
        CHECK(r.command->mode == mode);
        CHECK(r.command->data_dir == "/tmp/x");
        CHECK(r.command->log_level == "debug");
        CHECK(r.command->config_path.empty());
    }
}

TEST_CASE("cli: --version prints the version and exits 0", "[cli]") {
    auto r = parse({"--version"});
    CHECK_FALSE(r.command);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::StartsWith("parley "));
}

TEST_CASE("cli: --help on a mode describes that mode", "[cli]") {
    auto r = parse({"manager", "--help"});
    CHECK_FALSE(r.command);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("parley manager"));
    CHECK_THAT(r.out, Catch::Contains("--print-default-config"));
}

TEST_CASE("cli: usage errors exit 2 with a clear message", "[cli]") {
    SECTION("unknown mode") {
        auto r = parse({"servr"});
        CHECK(r.exit_code == parley::kExitUsage);
        CHECK_THAT(r.err, Catch::Contains("unknown mode 'servr'"));
    }
    SECTION("unknown flag") {
        auto r = parse({"server", "--frobnicate"});
        CHECK(r.exit_code == parley::kExitUsage);
        CHECK_THAT(r.err, Catch::Contains("--frobnicate"));
    }
    SECTION("no mode") {
        auto r = parse({});
        CHECK(r.exit_code == parley::kExitUsage);
    }
    SECTION("bad log level") {
        auto r = parse({"server", "--log-level", "loud"});
        CHECK(r.exit_code == parley::kExitUsage);
        CHECK_THAT(r.err, Catch::Contains("loud"));
    }
    SECTION("missing config file") {
        auto r = parse({"server", "--config", "/nonexistent.toml"});
        CHECK(r.exit_code == parley::kExitUsage);
        CHECK_THAT(r.err, Catch::Contains("/nonexistent.toml"));
    }
}

TEST_CASE("cli: --print-default-config is a flag of every mode", "[cli]") {
    auto r = parse({"botclient", "--print-default-config"});
    REQUIRE(r.command);
    CHECK(r.command->print_default_config);
}

TEST_CASE("cli: --check-config is a flag of every mode", "[cli]") {
    for (const char* mode : {"server", "manager", "imageproc", "botclient"}) {
        auto r = parse({mode, "--check-config"});
        REQUIRE(r.command);
        CHECK(r.command->check_config);
        CHECK_FALSE(parse({mode}).command->check_config);
    }
}

TEST_CASE("cli: botclient load takes the load options", "[cli]") {
    auto r = parse({"botclient", "load", "--users", "50", "--rooms", "3", "--rate", "25.5",
                    "--duration", "7", "--url", "http://127.0.0.1:9000"});
    REQUIRE(r.command);
    CHECK(r.command->mode == "botclient");
    CHECK(r.command->load.active);
    CHECK(r.command->load.users == 50);
    CHECK(r.command->load.rooms == 3);
    CHECK(r.command->load.rate == 25.5);
    CHECK(r.command->load.duration == 7);
    CHECK(r.command->load.url == "http://127.0.0.1:9000");
    auto plain = parse({"botclient"});
    REQUIRE(plain.command);
    CHECK_FALSE(plain.command->load.active);
    CHECK(parse({"botclient", "load", "--users", "0"}).exit_code == parley::kExitUsage);
    CHECK(parse({"botclient", "load", "--url", "https://x"}).exit_code == parley::kExitUsage);
}

TEST_CASE("cli: server --make-bot names the bot and excludes --make-admin", "[cli]") {
    auto r = parse({"server", "--make-bot", "helper"});
    REQUIRE(r.command);
    CHECK(r.command->make_bot == "helper");
    CHECK(parse({"server", "--make-bot", "a", "--make-admin", "b"}).exit_code ==
          parley::kExitUsage);
}

TEST_CASE("cli: manager restore --help shows the manager's -c and -d", "[cli]") {
    auto r = parse({"manager", "restore", "--help"});
    CHECK_FALSE(r.command);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("--snapshot"));
    CHECK_THAT(r.out, Catch::Contains("-c,--config FILE"));
    CHECK_THAT(r.out, Catch::Contains("-d,--data-dir DIR"));
    // And they are taken after "restore" too.
    auto a = parse({"manager", "restore", "--snapshot", "s1", "-d", "/tmp/m"});
    REQUIRE(a.command);
    CHECK(a.command->restore.requested);
    CHECK(a.command->data_dir == "/tmp/m");
}
