// Tests of verify_server_snapshot() on real database files, as a restore drill sees them.
#include "server/db/snapshot_check.hpp"

#include <string>

#include <catch2/catch.hpp>

#include "common/test_support.hpp"
#include "server/db/migrations.hpp"

namespace parley {

namespace {

std::string migrated(const test::TempDir& dir, const std::string& name) {
    const std::string path = dir.file(name + ".db");
    SqliteDb db(path);
    apply_migrations(db, name == "current" ? current_migrations() : history_migrations(), name);
    return path;
}

}  // namespace

TEST_CASE("a usable snapshot reports its schema and row counts", "[db]") {
    test::TempDir dir("snapshot-check");
    const std::string current = migrated(dir, "current");
    {
        SqliteDb db(current);
        db.exec(
            "INSERT INTO accounts(id, username, password_hash, role, created_at) VALUES ('a1', "
            "'alice', 'hash', 'user', 1);"
            "INSERT INTO rooms(id, kind, title, created_by, created_at) VALUES ('r1', 'group', "
            "'t', 'a1', 1);"
            "INSERT INTO messages(room_id, seq, sender_id, client_msg_id, text, sent_at) VALUES "
            "('r1', 1, 'a1', 'c1', 'hi', 1), ('r1', 2, 'a1', 'c2', 'ho', 2);"
            // Both halves of the message log: the first is being moved, and r1 has moved (its
            // row there is a copy of seq 2); the second holds a newer message.
            "INSERT INTO message_log(room_id, seq, sender_id, client_msg_id, text, sent_at) "
            "VALUES ('r1', 2, 'a1', 'c2', 'ho', 2);"
            "INSERT INTO message_log_moved(half, room_id) VALUES (0, 'r1');"
            "INSERT INTO message_log_b(room_id, seq, sender_id, client_msg_id, text, sent_at) "
            "VALUES ('r1', 3, 'a1', 'c3', 'hu', 3)");
    }
    SnapshotVerdict verdict = verify_server_snapshot("current", current);
    CHECK(verdict.problem.empty());
    CHECK(verdict.facts["schema"] == static_cast<int>(current_migrations().size()));
    CHECK(verdict.facts["accounts"] == 1);
    CHECK(verdict.facts["rooms"] == 1);
    CHECK(verdict.facts["messages"] == 3);
    CHECK(verdict.facts["media"] == 0);

    SnapshotVerdict history = verify_server_snapshot("history", migrated(dir, "history"));
    CHECK(history.problem.empty());
    CHECK(history.facts == nlohmann::json{{"schema", history_migrations().size()}});
}

TEST_CASE("a snapshot the server could not use is named with the reason", "[db]") {
    test::TempDir dir("snapshot-check");
    const std::string current = migrated(dir, "current");

    SECTION("messages without a room") {
        {
            SqliteDb db(current);
            db.exec("PRAGMA foreign_keys=OFF");
            db.exec(
                "INSERT INTO messages(room_id, seq, sender_id, client_msg_id, text, sent_at) "
                "VALUES ('gone', 1, 'a1', 'c1', 'hi', 1)");
        }
        CHECK(verify_server_snapshot("current", current).problem == "1 messages without a room");
    }
    SECTION("messages without a room in the second half of the log") {
        {
            SqliteDb db(current);
            db.exec(
                "INSERT INTO message_log_b(room_id, seq, sender_id, client_msg_id, text, sent_at) "
                "VALUES ('gone', 1, 'a1', 'c1', 'hi', 1), ('gone', 2, 'a1', 'c2', 'ho', 2)");
        }
        CHECK(verify_server_snapshot("current", current).problem == "2 messages without a room");
    }
    SECTION("a schema newer than this build") {
        {
            SqliteDb db(current);
            db.exec("PRAGMA user_version=" + std::to_string(current_migrations().size() + 1));
        }
        CHECK_THAT(verify_server_snapshot("current", current).problem,
                   Catch::StartsWith("current: schema version") &&
                       Catch::Contains("not one this build knows"));
    }
    SECTION("an empty file") {
        { SqliteDb db(dir.file("empty.db")); }
        CHECK_THAT(verify_server_snapshot("history", dir.file("empty.db")).problem,
                   Catch::Contains("schema version 0"));
    }
    SECTION("a missing file") {
        CHECK_FALSE(verify_server_snapshot("current", dir.file("missing.db")).problem.empty());
    }
    SECTION("a name the server does not have") {
        CHECK_FALSE(verify_server_snapshot("manager", current).problem.empty());
    }
}

}  // namespace parley
