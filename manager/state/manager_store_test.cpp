// ManagerStore on real files: schedules through their states, persistence across a reopen
// (a manager restart), at-most-once claiming, and the audit table.
#include "manager/state/manager_store.hpp"

#include <algorithm>

#include <catch2/catch.hpp>

#include "manager/manager_test_support.hpp"

namespace parley {

using testing::TempDir;

TEST_CASE("schedules are added, listed in time order and cancelled", "[manager][store]") {
    TempDir dir;
    ManagerStore store(dir.file("manager.db"));
    Schedule late = store.add_schedule("reboot", 5'000, 1'000, "admin-key");
    Schedule early = store.add_schedule("restart", 3'000, 1'000, "admin-key");
    CHECK(late.id != early.id);
    CHECK(late.state == "pending");
    CHECK(store.pending_count() == 2);

    auto list = store.list_schedules(false);
    REQUIRE(list.size() == 2);
    CHECK(list[0].id == early.id);
    CHECK(list[0].action == "restart");
    CHECK(list[0].at_ms == 3'000);
    CHECK(list[0].created_at_ms == 1'000);
    CHECK(list[0].created_by == "admin-key");
    CHECK(list[1].id == late.id);

    auto cancelled = store.cancel_schedule(late.id, 2'000, "ops");
    REQUIRE(cancelled);
    CHECK(cancelled->state == "cancelled");
    CHECK(cancelled->finished_at_ms == 2'000);
    CHECK(cancelled->outcome == "cancelled by ops");
    CHECK_FALSE(store.cancel_schedule(late.id, 2'001, "ops"));  // no longer pending
    CHECK_FALSE(store.cancel_schedule(9999, 2'001, "ops"));
    CHECK(store.pending_count() == 1);
    CHECK(store.list_schedules(false).size() == 1);
    CHECK(store.list_schedules(true).size() == 2);

    auto json = schedule_to_json(*cancelled);
    CHECK(json["id"] == late.id);
    CHECK(json["state"] == "cancelled");
    CHECK(json["outcome"] == "cancelled by ops");
    CHECK_FALSE(schedule_to_json(early).contains("outcome"));
}

TEST_CASE("schedules survive reopening the database", "[manager][store]") {
    TempDir dir;
    std::int64_t id = 0;
    {
        ManagerStore store(dir.file("manager.db"));
        id = store.add_schedule("restart", 10'000, 1'000, "k").id;
        store.audit(1'000, "k@unix:uid=0", "schedule.add", {{"schedule", id}});
    }
    ManagerStore reopened(dir.file("manager.db"));
    auto s = reopened.find_schedule(id);
    REQUIRE(s);
    CHECK(s->state == "pending");
    CHECK(s->at_ms == 10'000);
    REQUIRE(reopened.audit_entries().size() == 1);
    // AUTOINCREMENT: ids are never reused, even after the newest row is gone.
    CHECK(reopened.add_schedule("reboot", 20'000, 2'000, "k").id > id);
}

TEST_CASE("due schedules are claimed once, then finished", "[manager][store]") {
    TempDir dir;
    ManagerStore store(dir.file("manager.db"));
    auto a = store.add_schedule("restart", 1'000, 0, "k");
    auto b = store.add_schedule("reboot", 2'000, 0, "k");
    store.add_schedule("restart", 9'000, 0, "k");

    CHECK(store.due_schedules(999).empty());
    auto due = store.due_schedules(2'000);
    REQUIRE(due.size() == 2);
    CHECK(due[0].id == a.id);
    CHECK(due[1].id == b.id);

    CHECK(store.claim_schedule(a.id, "fired", 2'000, "started"));
    CHECK_FALSE(store.claim_schedule(a.id, "fired", 2'001, "started"));  // at most once
    CHECK(store.due_schedules(2'000).size() == 1);
    store.finish_schedule(a.id, "done", 2'100, "job done");
    auto finished = store.find_schedule(a.id);
    REQUIRE(finished);
    CHECK(finished->state == "done");
    CHECK(finished->finished_at_ms == 2'100);
    CHECK(finished->outcome == "job done");

    CHECK(store.claim_schedule(b.id, "missed", 5'000, "late"));
    CHECK(store.find_schedule(b.id)->state == "missed");
    // finish only applies to fired schedules.
    store.finish_schedule(b.id, "done", 5'001, "x");
    CHECK(store.find_schedule(b.id)->state == "missed");
}

TEST_CASE("a cancelled schedule cannot be claimed", "[manager][store]") {
    TempDir dir;
    ManagerStore store(dir.file("manager.db"));
    auto s = store.add_schedule("reboot", 1'000, 0, "k");
    REQUIRE(store.cancel_schedule(s.id, 500, "k"));
    CHECK(store.due_schedules(2'000).empty());
    CHECK_FALSE(store.claim_schedule(s.id, "fired", 2'000, "started"));
}

TEST_CASE("the audit table keeps actor, action and JSON detail, newest first", "[manager][store]") {
    TempDir dir;
    ManagerStore store(dir.file("manager.db"));
    store.audit(1, "ops@tcp:10.0.0.2", "service.restart", {{"job", "/j/1"}, {"outcome", "done"}});
    store.audit(2, "scheduler", "schedule.fire", {{"schedule", 3}, {"bytes", std::string("\xff")}});
    auto entries = store.audit_entries();
    REQUIRE(entries.size() == 2);
    CHECK(entries[0].action == "schedule.fire");
    CHECK(entries[0].actor == "scheduler");
    CHECK(entries[1].at_ms == 1);
    CHECK(nlohmann::json::parse(entries[1].detail)["job"] == "/j/1");
    // Invalid UTF-8 is replaced, not thrown.
    CHECK(nlohmann::json::parse(entries[0].detail)["schedule"] == 3);
}

TEST_CASE("finished backup runs past the history retention go when a run begins",
          "[manager][store]") {
    constexpr std::int64_t day = 86'400'000;
    TempDir dir;
    ManagerStore store(dir.file("manager.db"));
    const std::int64_t old_run = store.begin_backup_run("source", "vault", 0);
    store.finish_backup_run(old_run, "done", 1 * day, "s1", nlohmann::json::object());
    const std::int64_t recent_run = store.begin_backup_run("source", "vault", 300 * day);
    store.finish_backup_run(recent_run, "failed", 300 * day, "", {{"error", "x"}});
    const std::int64_t hanging = store.begin_backup_run("target", "origin", 0);  // still running
    // Without a retention every run stays.
    store.begin_backup_run("source", "vault", 400 * day);
    CHECK(store.backup_runs("", 100).size() == 4);
    // 365 days: the run finished on day 1 goes when a run begins on day 401; a run still
    // marked running is never deleted by age.
    store.set_backup_history_keep_days(365);
    store.begin_backup_run("source", "vault", 401 * day);
    auto runs = store.backup_runs("", 100);
    REQUIRE(runs.size() == 4);
    for (const auto& run : runs)
        CHECK(run["id"] != old_run);
    CHECK(std::any_of(runs.begin(), runs.end(), [&](const auto& r) { return r["id"] == hanging; }));
    CHECK(std::any_of(runs.begin(), runs.end(),
                      [&](const auto& r) { return r["id"] == recent_run; }));
}

TEST_CASE("the store refuses a manager.db from a newer parley", "[manager][store]") {
    TempDir dir;
    {
        SqliteDb db(dir.file("manager.db"));
        db.exec("PRAGMA user_version=99");
    }
    CHECK_THROWS_AS(ManagerStore(dir.file("manager.db")), DbError);
}

}  // namespace parley
