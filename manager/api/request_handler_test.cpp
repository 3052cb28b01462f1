// RequestHandler with FakeSystem: each method's answer, its parameter checks, access levels,
// error codes for failing jobs, and the audit rows of admin actions.
#include "manager/api/request_handler.hpp"

#include <catch2/catch.hpp>

#include <cctype>

#include "common/cli.hpp"
#include "common/config_schema.hpp"

#include "manager/manager_test_support.hpp"

namespace parley {

using testing::FakeClock;
using testing::FakeSystem;
using testing::TempDir;

namespace {

struct Fixture {
    Fixture() {
        config.peers = {{"backup", "tls://backup.example:8443"}, {"linked", ""}};
        config.disk_paths = {"/", "/no/such/path"};
    }
    TempDir dir;
    ManagerConfig config;
    ManagerStore store{dir.file("manager.db")};
    FakeSystem system;
    FakeClock clock;
    RequestHandler handler{config, "host-a", system, system, system, store, clock.function()};
    ApiCaller admin{7, "unix:uid=1000", "ops", ApiAccess::admin};
    ApiCaller reader{8, "tcp:10.0.0.9", "monitor", ApiAccess::read};

    json call(const std::string& method, json params = json::object(),
              const ApiCaller* who = nullptr) {
        ApiRequest request{json(42), method, std::move(params)};
        return handler.handle(request, who ? *who : admin);
    }
};

std::string code(const json& answer) {
    return answer.at("error").at("code").get<std::string>();
}

}  // namespace

TEST_CASE("answers echo the id and unknown methods are not_found", "[manager][handler]") {
    Fixture f;
    json a = f.call("ping");
    CHECK(a["id"] == 42);
    CHECK(a["ok"] == true);
    CHECK(a["result"]["now"] == f.clock.now_ms.load());
    json b = f.call("no.such");
    CHECK(b["ok"] == false);
    CHECK(b["id"] == 42);
    CHECK(code(b) == "not_found");
    CHECK(code(f.call("ping", {{"extra", 1}})) == "bad_request");
}

TEST_CASE("system.info reports host, unit and journal, with errors per part",
          "[manager][handler]") {
    Fixture f;
    f.system.journal.lines = {
        {1'000'000, "one"}, {2'000'000, std::string(2000, 'z')}, {3'000'000, "three"}};
    json a = f.call("system.info", {{"journal_lines", 2}});
    REQUIRE(a["ok"] == true);
    const json& r = a["result"];
    CHECK(r["manager"] == "host-a");
    CHECK(r["uptime_s"].get<double>() > 0);
    CHECK(r["load"].size() == 3);
    CHECK(r["memory"]["total_bytes"].get<std::uint64_t>() > 0);
    REQUIRE(r["disks"].size() == 2);
    CHECK(r["disks"][0]["path"] == "/");
    CHECK(r["disks"][0]["total_bytes"].get<std::uint64_t>() > 0);
    CHECK(r["disks"][1].contains("error"));
    CHECK(r["unit"] == json{{"name", "parley-server.service"},
                            {"active_state", "active"},
                            {"sub_state", "running"},
                            {"load_state", "loaded"}});
    REQUIRE(r["journal"]["lines"].size() == 2);
    CHECK(r["journal"]["lines"][1] == json{{"at", 3'000}, {"message", "three"}});
    // Long lines are cut, so 1000 lines fit in a frame.
    CHECK(r["journal"]["lines"][0]["message"].get<std::string>().size() < 600);

    f.system.state = UnitState{"", "", "", "cannot connect to the system bus: nope"};
    f.system.journal.error = "no readable journal files";
    json b = f.call("system.info", {{"journal_lines", 0}});
    CHECK(b["result"]["unit"]["error"] == "cannot connect to the system bus: nope");
    CHECK(b["result"]["journal"]["lines"].empty());
    CHECK(code(f.call("system.info", {{"journal_lines", 1001}})) == "bad_request");
    CHECK(code(f.call("system.info", {{"journal_lines", "5"}})) == "bad_request");
}

TEST_CASE("service jobs report the job and its result", "[manager][handler]") {
    Fixture f;
    json ok = f.call("service.restart");
    REQUIRE(ok["ok"] == true);
    CHECK(ok["result"] == json{{"unit", "parley-server.service"},
                               {"job", "/org/freedesktop/systemd1/job/7"},
                               {"result", "done"}});
    f.call("service.start");
    f.call("service.stop");
    CHECK(f.system.calls() == std::vector<std::string>{"restart parley-server.service",
                                                       "start parley-server.service",
                                                       "stop parley-server.service"});
    auto audit = f.store.audit_entries();
    REQUIRE(audit.size() == 3);
    CHECK(audit[2].action == "service.restart");
    CHECK(audit[2].actor == "ops@unix:uid=1000");
    json detail = json::parse(audit[2].detail);
    CHECK(detail["id"] == 42);
    CHECK(detail["conn"] == 7);
    CHECK(detail["outcome"] == "done");

    SECTION("a job that ends in failed is a failed answer with the result") {
        f.system.outcome =
            JobOutcome{false, "failed", "/org/freedesktop/systemd1/job/8", "job failed"};
        json a = f.call("service.restart");
        CHECK(a["ok"] == false);
        CHECK(code(a) == "failed");
        CHECK(a["error"]["details"]["result"] == "failed");
        CHECK(a["error"]["details"]["job"] == "/org/freedesktop/systemd1/job/8");
        CHECK(json::parse(f.store.audit_entries()[0].detail)["outcome"] == "failed");
    }
    SECTION("an unreachable bus is unavailable") {
        f.system.outcome = JobOutcome{false, "", "", "cannot connect to the system bus: gone"};
        CHECK(code(f.call("service.stop")) == "unavailable");
    }
    SECTION("polkit refusing is failed") {
        f.system.outcome =
            JobOutcome{false, "", "", "org.freedesktop.DBus.Error.AccessDenied: not allowed"};
        CHECK(code(f.call("service.start")) == "failed");
    }
}

TEST_CASE("host.reboot calls reboot and is audited first", "[manager][handler]") {
    Fixture f;
    json a = f.call("host.reboot");
    CHECK(a["result"] == json{{"rebooting", true}});
    CHECK(f.system.calls() == std::vector<std::string>{"reboot"});
    REQUIRE(f.store.audit_entries().size() == 1);
    CHECK(json::parse(f.store.audit_entries()[0].detail)["outcome"] == "requested");

    f.system.power = PowerOutcome{false, "org.freedesktop.DBus.Error.AccessDenied: no"};
    json b = f.call("host.reboot");
    CHECK(code(b) == "failed");
    CHECK(f.store.audit_entries().size() == 3);
}

TEST_CASE("read-only keys may read but not act", "[manager][handler]") {
    Fixture f;
    for (const char* method : {"service.start", "service.stop", "service.restart", "host.reboot",
                               "schedule.add", "schedule.remove"}) {
        CHECK(code(f.call(method, json::object(), &f.reader)) == "forbidden");
    }
    CHECK(f.system.calls().empty());
    for (const char* method : {"ping", "system.info", "schedule.list", "managers.list"}) {
        CHECK(f.call(method, json::object(), &f.reader)["ok"] == true);
    }
}

TEST_CASE("schedules are added, listed and removed through the API", "[manager][handler]") {
    Fixture f;
    const std::int64_t now = f.clock.now_ms;
    json added = f.call("schedule.add", {{"action", "restart"}, {"at", now + 60'000}});
    REQUIRE(added["ok"] == true);
    const std::int64_t id = added["result"]["id"];
    CHECK(added["result"]["state"] == "pending");
    CHECK(added["result"]["created_by"] == "ops");
    f.call("schedule.add", {{"action", "reboot"}, {"at", now + 30'000}});

    json list = f.call("schedule.list");
    REQUIRE(list["result"]["schedules"].size() == 2);
    CHECK(list["result"]["schedules"][0]["action"] == "reboot");  // by time
    CHECK(list["result"]["now"] == now);

    json removed = f.call("schedule.remove", {{"id", id}});
    CHECK(removed["result"]["state"] == "cancelled");
    CHECK(f.call("schedule.list")["result"]["schedules"].size() == 1);
    CHECK(f.call("schedule.list", {{"all", true}})["result"]["schedules"].size() == 2);
    json again = f.call("schedule.remove", {{"id", id}});
    CHECK(code(again) == "not_found");
    CHECK_THAT(again["error"]["message"].get<std::string>(), Catch::Contains("cancelled"));
    CHECK(code(f.call("schedule.remove", {{"id", 12345}})) == "not_found");

    auto audit = f.store.audit_entries();
    REQUIRE(audit.size() == 3);
    CHECK(audit[0].action == "schedule.remove");
    CHECK(audit[2].action == "schedule.add");
}

TEST_CASE("schedule.add checks its parameters", "[manager][handler]") {
    Fixture f;
    const std::int64_t now = f.clock.now_ms;
    CHECK(code(f.call("schedule.add", {{"action", "poweroff"}, {"at", now + 1000}})) ==
          "bad_request");
    CHECK(code(f.call("schedule.add", {{"action", "restart"}, {"at", now}})) == "bad_request");
    CHECK(code(f.call("schedule.add", {{"action", "restart"}, {"at", "soon"}})) == "bad_request");
    CHECK(code(f.call("schedule.add", {{"action", "restart"}})) == "bad_request");
    CHECK(code(f.call("schedule.add", {{"action", "restart"}, {"at", 1.5e12}})) == "bad_request");
    CHECK(code(f.call("schedule.add", {{"action", "restart"},
                                       {"at", now + RequestHandler::kMaxScheduleAheadMs + 1}})) ==
          "bad_request");
    CHECK(code(f.call("schedule.add", {{"action", "restart"}, {"at", now + 1}, {"x", 1}})) ==
          "bad_request");
    for (std::size_t i = 0; i < RequestHandler::kMaxPendingSchedules; ++i) {
        REQUIRE(f.call("schedule.add", {{"action", "restart"},
                                        {"at", now + 1000 + static_cast<std::int64_t>(i)}})["ok"] ==
                true);
    }
    CHECK(code(f.call("schedule.add", {{"action", "restart"}, {"at", now + 5000}})) ==
          "bad_request");
    CHECK(f.store.pending_count() == RequestHandler::kMaxPendingSchedules);
}

TEST_CASE("managers.list gives this manager and the configured peers", "[manager][handler]") {
    Fixture f;
    json a = f.call("managers.list");
    CHECK(a["result"] == json{{"self", {{"name", "host-a"}}},
                              {"managers",
                               {{{"name", "backup"}, {"url", "tls://backup.example:8443"}},
                                {{"name", "linked"}, {"url", ""}}}}});
}

TEST_CASE("classify_system_error tells unreachable from refused", "[manager][handler]") {
    CHECK(classify_system_error("cannot connect to the system bus: x") ==
          ApiErrorCode::unavailable);
    CHECK(classify_system_error("no JobRemoved for /j within 10 ms") == ApiErrorCode::unavailable);
    CHECK(classify_system_error("org.freedesktop.DBus.Error.NoReply: x") ==
          ApiErrorCode::unavailable);
    CHECK(classify_system_error("org.freedesktop.DBus.Error.AccessDenied: x") ==
          ApiErrorCode::failed);
    CHECK(classify_system_error("org.freedesktop.systemd1.NoSuchUnit: x") == ApiErrorCode::failed);
}

}  // namespace parley

namespace parley {

// The help of `parley manager-api` and the default configuration's words on read keys are
// written by hand; these keep them in step with the methods and their access.
TEST_CASE("the CLI help names every method and the default config every read one",
          "[manager][api]") {
    std::vector<const char*> argv{"parley", "manager-api", "--help"};
    auto help = parse_command_line(static_cast<int>(argv.size()), argv.data()).out;
    ManagerConfig defaults;
    ConfigSchema schema;
    defaults.describe(schema);
    std::string text = schema.render();
    auto from = text.find("\"read\" only");
    auto to = text.find("With no key", from);
    REQUIRE(from != std::string::npos);
    REQUIRE(to != std::string::npos);
    std::string read_sentence = text.substr(from, to - from);
    auto named = [](const std::string& in, const std::string& m) {
        // Whole names only: "schedule.list" must not be found inside "schedule.listen".
        for (auto at = in.find(m); at != std::string::npos; at = in.find(m, at + 1)) {
            char after = at + m.size() < in.size() ? in[at + m.size()] : ' ';
            if (!std::isalnum(static_cast<unsigned char>(after)) && after != '_') return true;
        }
        return false;
    };
    for (const auto& m : RequestHandler::methods()) {
        INFO(m);
        auto access = RequestHandler::method_access(m);
        REQUIRE(access);
        CHECK(named(help, m));
        CHECK(named(read_sentence, m) == (*access == ApiAccess::read));
    }
    CHECK_FALSE(RequestHandler::method_access("backup.nonsense"));
}

}  // namespace parley
