// DailyMaintenance against a real current.db and history.db, with the clock injected: a pass
// "at" a given time deletes exactly the sessions, audit entries and notifications past their
// retention (from the database and the session cache), keeps the rest, and a retention of 0
// keeps everything.
#include "server/features/daily_maintenance.hpp"

#include <catch2/catch.hpp>

#include "server/features/service_test_support.hpp"

namespace parley {

namespace {

using test::run;

constexpr std::int64_t kDay = 86'400'000;
// The injected "now": 100 days ahead, so that every test session is live by the real clock
// when the store loads it (the load caches live sessions only).
const std::int64_t kNow = now_ms() + 100 * kDay;

struct Maintained {
    test::TempCurrentDb db{"daily-maintenance"};
    net::io_context ioc;
    std::unique_ptr<DbWriter> writer;
    std::unique_ptr<AccountStore> store;
    std::unique_ptr<DbReaderPool> readers;
    std::unique_ptr<NotificationStore> notifications;
    AuditLog audit{test::migrated_history_db(db.dir), SqliteOptions{}};
    net::thread_pool blocking{1};
    MaintenanceSettings settings;

    Maintained() {
        db.add_accounts({{"a1", "alice"}});
        SqliteDb raw(db.path);
        // (id, revoked_at or 0, refresh_expires_at), relative to kNow.
        struct Row {
            const char* id;
            std::int64_t revoked_at;
            std::int64_t refresh_expires_at;
        };
        const Row rows[] = {
            {"live", 0, kNow + 10 * kDay},                        // live: kept
            {"expired-recently", 0, kNow - 29 * kDay},            // ended 29 days ago: kept
            {"expired-long-ago", 0, kNow - 31 * kDay},            // ended 31 days ago: deleted
            {"revoked-recently", kNow - 2 * kDay, kNow + kDay},   // kept
            {"revoked-long-ago", kNow - 40 * kDay, kNow + kDay},  // deleted
        };
        auto ins = raw.prepare(
            "INSERT INTO sessions(id, account_id, access_hash, refresh_hash, created_at, "
            "access_expires_at, refresh_expires_at, revoked_at) VALUES (?, 'a1', ?, ?, 0, ?, ?, "
            "?)");
        for (const auto& r : rows) {
            ins.bind(1, r.id)
                .bind(2, std::string("access-") + r.id)
                .bind(3, std::string("refresh-") + r.id)
                .bind(4, r.refresh_expires_at)
                .bind(5, r.refresh_expires_at);
            if (r.revoked_at) {
                ins.bind(6, r.revoked_at);
            } else {
                ins.bind_null(6);
            }
            ins.run();
            ins.reset();
        }
        // A rotated token of the long-expired session: it goes with its session.
        raw.exec(
            "INSERT INTO used_refresh_tokens(hash, session_id, used_at) VALUES "
            "(x'01', 'expired-long-ago', 0), (x'02', 'live', 0)");
        // Notifications 91 and 89 days old (read or not: age alone decides) and a fresh one.
        raw.exec(
            "INSERT INTO rooms(id, kind, title, created_by, created_at) VALUES "
            "('r1', 'group', 't', 'a1', 0)");
        auto note = raw.prepare(
            "INSERT INTO notifications(account_id, kind, room_id, from_id, created_at, read_at) "
            "VALUES ('a1', 'invitation', 'r1', 'a1', ?, ?)");
        for (auto [age, read] : {std::pair{91, true}, {91, false}, {89, false}, {0, false}}) {
            note.bind(1, kNow - age * kDay);
            if (read) {
                note.bind(2, kNow);
            } else {
                note.bind_null(2);
            }
            note.run();
            note.reset();
        }
        writer = std::make_unique<DbWriter>(SqliteDb(db.path), DbSettings{});
        readers = std::make_unique<DbReaderPool>(db.path, DbSettings{});
        notifications = std::make_unique<NotificationStore>(*writer, *readers, 500);
        store = std::make_unique<AccountStore>(*writer);
        SqliteDb loader(db.path, SqliteOptions{OpenMode::read_only});
        store->load(loader);
        for (std::int64_t days : {400, 366, 364, 1})
            audit.record(kNow - days * kDay, "admin", "test", {{"days", days}});
    }
    ~Maintained() {
        blocking.join();
        readers->stop();
        writer->stop();
    }
    DailyMaintenance maintenance() {
        return DailyMaintenance(ioc.get_executor(), settings, *store, audit, *notifications,
                                blocking, [] { return kNow; });
    }
    std::vector<std::string> session_ids() {
        SqliteDb raw(db.path, SqliteOptions{OpenMode::read_only});
        std::vector<std::string> ids;
        auto st = raw.prepare("SELECT id FROM sessions ORDER BY id");
        while (st.step() == StepResult::row)
            ids.push_back(st.column_text(0));
        return ids;
    }
    std::int64_t count(const std::string& sql) {
        SqliteDb raw(db.path, SqliteOptions{OpenMode::read_only});
        return raw.query_int64(sql);
    }
};

}  // namespace

TEST_CASE("the daily pass deletes ended sessions, old audit entries and old notifications",
          "[server][maintenance]") {
    Maintained m;
    REQUIRE(m.store->session_by_id("expired-long-ago"));  // cached since the load
    auto daily = m.maintenance();
    auto report = run(m.ioc, daily.run_once(kNow));
    CHECK(report.error.empty());
    CHECK(report.sessions == 2);
    CHECK(report.audit_entries == 2);
    CHECK(report.notifications == 2);
    CHECK(m.count("SELECT count(*) FROM notifications") == 2);
    CHECK(m.session_ids() ==
          std::vector<std::string>{"expired-recently", "live", "revoked-recently"});
    CHECK(m.count("SELECT count(*) FROM used_refresh_tokens") == 1);
    // Gone from the cache too: a token of a deleted session is unknown.
    CHECK_FALSE(m.store->session_by_id("expired-long-ago"));
    CHECK(m.store->session_by_access_hash("access-live", kNow));
    auto rows = m.audit.recent();
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].at == kNow - kDay);
    CHECK(rows[1].at == kNow - 364 * kDay);

    // Two days later the session that expired 29 days ago and the entry written 364 days ago
    // have passed their retention too; nothing else has.
    auto next = run(m.ioc, daily.run_once(kNow + 2 * kDay));
    CHECK(next.sessions == 1);
    CHECK(next.audit_entries == 1);
    CHECK(next.notifications == 1);
    CHECK(m.count("SELECT count(*) FROM notifications") == 1);
    CHECK(m.session_ids() == std::vector<std::string>{"live", "revoked-recently"});
    CHECK(m.audit.recent().size() == 1);
}

TEST_CASE("a retention of zero keeps that kind forever", "[server][maintenance]") {
    Maintained m;
    m.settings.session_keep_days = 0;
    m.settings.audit_keep_days = 0;
    m.settings.notification_keep_days = 0;
    auto daily = m.maintenance();
    auto report = run(m.ioc, daily.run_once(kNow + 3650 * kDay));
    CHECK(report.sessions == 0);
    CHECK(report.audit_entries == 0);
    CHECK(report.notifications == 0);
    CHECK(m.count("SELECT count(*) FROM notifications") == 4);
    CHECK(m.session_ids().size() == 5);
    CHECK(m.audit.recent().size() == 4);
}

}  // namespace parley
