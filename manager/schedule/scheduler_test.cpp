// Scheduler::run_due with a fake clock and FakeSystem: due schedules run once, through the
// right call, and their outcome is recorded; late ones are missed; cancelled ones never run.
#include "manager/schedule/scheduler.hpp"

#include <catch2/catch.hpp>

#include "manager/manager_test_support.hpp"

namespace parley {

using testing::FakeClock;
using testing::FakeSystem;
using testing::TempDir;

namespace {

struct Fixture {
    TempDir dir;
    ManagerStore store{dir.file("manager.db")};
    FakeSystem system;
    FakeClock clock;
    Scheduler scheduler{
        store,           system, system, "parley-server.service", std::chrono::milliseconds(60'000),
        clock.function()};
};

}  // namespace

TEST_CASE("a due restart calls restart_unit once and is recorded done", "[manager][scheduler]") {
    Fixture f;
    auto s = f.store.add_schedule("restart", f.clock.now_ms + 1'000, f.clock.now_ms, "ops");
    CHECK(f.scheduler.run_due() == 0);
    CHECK(f.system.calls().empty());

    f.clock.now_ms += 1'500;
    CHECK(f.scheduler.run_due() == 1);
    CHECK(f.system.calls() == std::vector<std::string>{"restart parley-server.service"});
    auto done = f.store.find_schedule(s.id);
    REQUIRE(done);
    CHECK(done->state == "done");
    CHECK(done->finished_at_ms == f.clock.now_ms);
    CHECK_THAT(done->outcome, Catch::Contains("/org/freedesktop/systemd1/job/7"));

    CHECK(f.scheduler.run_due() == 0);  // never twice
    CHECK(f.system.calls().size() == 1);

    auto audit = f.store.audit_entries();
    REQUIRE(audit.size() == 2);
    CHECK(audit[0].action == "schedule.done");
    CHECK(audit[1].action == "schedule.fire");
    CHECK(audit[1].actor == "scheduler");
}

TEST_CASE("a due reboot calls reboot()", "[manager][scheduler]") {
    Fixture f;
    auto s = f.store.add_schedule("reboot", f.clock.now_ms + 10, f.clock.now_ms, "ops");
    f.clock.now_ms += 10;
    CHECK(f.scheduler.run_due() == 1);
    CHECK(f.system.calls() == std::vector<std::string>{"reboot"});
    CHECK(f.store.find_schedule(s.id)->state == "done");
}

TEST_CASE("a failing action is recorded as failed with its error", "[manager][scheduler]") {
    Fixture f;
    f.system.outcome = JobOutcome{false, "failed", "/org/freedesktop/systemd1/job/9", "job failed"};
    auto restart = f.store.add_schedule("restart", f.clock.now_ms + 10, f.clock.now_ms, "ops");
    f.system.power = PowerOutcome{false, "org.freedesktop.DBus.Error.AccessDenied: no"};
    auto reboot = f.store.add_schedule("reboot", f.clock.now_ms + 20, f.clock.now_ms, "ops");
    f.clock.now_ms += 30;
    CHECK(f.scheduler.run_due() == 2);
    auto r1 = f.store.find_schedule(restart.id);
    CHECK(r1->state == "failed");
    CHECK_THAT(r1->outcome, Catch::Contains("job failed"));
    auto r2 = f.store.find_schedule(reboot.id);
    CHECK(r2->state == "failed");
    CHECK_THAT(r2->outcome, Catch::Contains("AccessDenied"));
    CHECK(f.store.audit_entries()[0].action == "schedule.failed");
}

TEST_CASE("a schedule found after the grace period is missed, not run", "[manager][scheduler]") {
    Fixture f;
    auto s = f.store.add_schedule("reboot", f.clock.now_ms + 1'000, f.clock.now_ms, "ops");
    f.clock.now_ms += 1'000 + 60'001;  // the manager was down past the grace
    CHECK(f.scheduler.run_due() == 1);
    CHECK(f.system.calls().empty());
    auto missed = f.store.find_schedule(s.id);
    CHECK(missed->state == "missed");
    CHECK_THAT(missed->outcome, Catch::Contains("missed"));
    CHECK(f.store.audit_entries()[0].action == "schedule.missed");
}

TEST_CASE("a cancelled schedule never runs", "[manager][scheduler]") {
    Fixture f;
    auto s = f.store.add_schedule("restart", f.clock.now_ms + 10, f.clock.now_ms, "ops");
    REQUIRE(f.store.cancel_schedule(s.id, f.clock.now_ms, "ops"));
    f.clock.now_ms += 100;
    CHECK(f.scheduler.run_due() == 0);
    CHECK(f.system.calls().empty());
}

TEST_CASE("the poll loop fires a schedule on its own and stops", "[manager][scheduler]") {
    net::io_context context;  // outlives the scheduler's timer
    Fixture f;
    f.store.add_schedule("restart", f.clock.now_ms + 10, f.clock.now_ms, "ops");
    f.clock.now_ms += 20;
    net::thread_pool pool(1);
    f.scheduler.start(context.get_executor(), pool, std::chrono::milliseconds(10));
    net::steady_timer stop(context, std::chrono::milliseconds(200));
    stop.async_wait([&](const boost::system::error_code&) { f.scheduler.stop(); });
    context.run();  // returns once the loop has stopped
    pool.join();
    CHECK(f.system.calls() == std::vector<std::string>{"restart parley-server.service"});
}

}  // namespace parley
