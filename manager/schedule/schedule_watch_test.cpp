// ScheduleWatch: the notice is the earliest pending schedule; refresh() bumps the version only on
// a change and wakes a waiting long poll at once; a wait with the current version lasts.
#include "manager/schedule/schedule_watch.hpp"

#include <catch2/catch.hpp>

#include "manager/manager_test_support.hpp"

namespace parley {

using testing::TempDir;

TEST_CASE("the notice is the earliest pending schedule", "[manager][watch]") {
    CHECK(ScheduleWatch::notice_of({}).is_null());
    Schedule a{1, "restart", 5'000};
    Schedule b{2, "reboot", 3'000};
    CHECK(ScheduleWatch::notice_of({a, b}) ==
          nlohmann::json{{"id", 2}, {"action", "reboot"}, {"at", 3'000}});
}

TEST_CASE("refresh bumps the version on a change and wakes waiters", "[manager][watch]") {
    TempDir dir;
    ManagerStore store(dir.file("manager.db"));
    ScheduleWatch watch(store);
    watch.refresh();
    auto first = watch.current();
    CHECK(first.maintenance.is_null());
    watch.refresh();
    CHECK(watch.current().version == first.version);  // nothing changed

    net::io_context io;
    std::optional<ScheduleWatch::State> woken;
    auto started = std::chrono::steady_clock::now();
    net::co_spawn(io, watch.wait(first.version, std::chrono::milliseconds(5'000)),
                  [&](std::exception_ptr, ScheduleWatch::State s) { woken = s; });
    net::steady_timer later(io, std::chrono::milliseconds(50));
    later.async_wait([&](const boost::system::error_code&) {
        store.add_schedule("restart", 10'000, 1'000, "ops");
        watch.refresh();
    });
    io.run();
    REQUIRE(woken);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(2'000));
    CHECK(woken->version == first.version + 1);
    CHECK(woken->maintenance["at"] == 10'000);

    // A client that already knows the current version waits out its time.
    io.restart();
    woken.reset();
    net::co_spawn(io, watch.wait(watch.current().version, std::chrono::milliseconds(30)),
                  [&](std::exception_ptr, ScheduleWatch::State s) { woken = s; });
    io.run();
    REQUIRE(woken);
    CHECK(woken->version == first.version + 1);

    // An old version is answered at once; after stop() every wait returns at once.
    watch.stop();
    io.restart();
    woken.reset();
    started = std::chrono::steady_clock::now();
    net::co_spawn(io, watch.wait(watch.current().version, std::chrono::milliseconds(5'000)),
                  [&](std::exception_ptr, ScheduleWatch::State s) { woken = s; });
    io.run();
    CHECK(woken);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(1'000));
}

}  // namespace parley
