// Tests of the schema migrations of current.db and history.db on real files.
#include "server/db/migrations.hpp"

#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "common/test_support.hpp"

namespace parley {
namespace {

struct TempDir : test::TempDir {
    TempDir() : test::TempDir("migrations-test") {}
};

bool has_table(SqliteDb& db, const std::string& name) {
    auto query = db.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?");
    query.bind(1, name);
    REQUIRE(query.step() == StepResult::row);
    return query.column_int64(0) == 1;
}

int constraint_code(SqliteDb& db, const std::string& sql) {
    try {
        db.exec(sql);
    } catch (const DbError& error) {
        return error.code();
    }
    return SQLITE_OK;
}

// Applies current.db's migrations up to `version` (which the next one builds on).
void migrate_to(SqliteDb& db, int version) {
    const auto all = current_migrations();
    REQUIRE(all.size() > static_cast<std::size_t>(version));
    REQUIRE(all[static_cast<std::size_t>(version)].version == version + 1);
    CHECK(apply_migrations(db, all.first(static_cast<std::size_t>(version)), "current") == version);
}

// An account (a1) and a room it made (r1), at any schema version since the first.
constexpr const char* kAliceAndRoom =
    "INSERT INTO accounts(id, username, password_hash, created_at) VALUES ('a1', 'Alice', 'h', "
    "1);"
    "INSERT INTO rooms(id, kind, title, created_by, created_at) VALUES ('r1', 'room', 't', 'a1', "
    "1);";

}  // namespace

TEST_CASE("current.db migrations create the schema once and are idempotent on reopen", "[db]") {
    TempDir dir;
    const int latest = static_cast<int>(current_migrations().size());
    REQUIRE(latest >= 1);
    {
        SqliteDb db(dir.file("current.db"));
        CHECK(schema_version(db) == 0);
        CHECK(apply_migrations(db, current_migrations(), "current") == latest);
        CHECK(schema_version(db) == latest);
        for (const char* table :
             {"accounts", "sessions", "profiles", "rooms", "members", "messages"}) {
            CHECK(has_table(db, table));
        }
        CHECK_THAT(db.query_text("SELECT sql FROM sqlite_schema WHERE name = 'messages'"),
                   Catch::Contains("WITHOUT ROWID"));
        CHECK(db.query_int64("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND "
                             "tbl_name = 'members' AND name = 'members_account'") == 1);
        db.exec(
            "INSERT INTO accounts(id, username, password_hash, role, created_at) VALUES ('a1', "
            "'alice', 'hash', 'user', 1)");
    }
    {
        // Reopening applies nothing (a re-run of CREATE TABLE would throw) and keeps the data.
        SqliteDb db(dir.file("current.db"));
        CHECK(apply_migrations(db, current_migrations(), "current") == latest);
        CHECK(apply_migrations(db, current_migrations(), "current") == latest);
        CHECK(db.query_int64("SELECT count(*) FROM accounts") == 1);
    }
}

TEST_CASE("current.db schema enforces its keys and cascades", "[db]") {
    TempDir dir;
    SqliteDb db(dir.file("current.db"));
    apply_migrations(db, current_migrations(), "current");
    db.exec(
        "INSERT INTO accounts(id, username, password_hash, created_at) VALUES ('a1', 'Alice', "
        "'h', 1);"
        "INSERT INTO sessions VALUES ('s1', 'a1', x'01', x'02', NULL, 1, 2, 3, NULL);"
        "INSERT INTO profiles(account_id, updated_at) VALUES ('a1', 1);"
        "INSERT INTO rooms(id, kind, title, created_by, created_at) VALUES ('r1', 'room', 't', "
        "'a1', 1);"
        "INSERT INTO members(room_id, account_id, role, joined_at) VALUES ('r1', 'a1', 'owner', "
        "1);"
        "INSERT INTO messages(room_id, seq, sender_id, client_msg_id, text, sent_at) VALUES "
        "('r1', 1, 'a1', 'c1', 'hi', 1);");

    CHECK(db.query_text("SELECT role FROM accounts") == "user");
    CHECK(db.query_text("SELECT visibility FROM profiles") == "public");
    // Usernames are unique regardless of case.
    CHECK(constraint_code(db,
                          "INSERT INTO accounts(id, username, password_hash, created_at) "
                          "VALUES ('a2', 'ALICE', 'h', 1)") == SQLITE_CONSTRAINT_UNIQUE);
    // A client's retry of the same message is caught by the schema.
    CHECK(constraint_code(db,
                          "INSERT INTO messages(room_id, seq, sender_id, client_msg_id, "
                          "text, sent_at) VALUES ('r1', 2, 'a1', 'c1', 'hi', 1)") ==
          SQLITE_CONSTRAINT_UNIQUE);
    CHECK(constraint_code(db,
                          "INSERT INTO messages(room_id, seq, sender_id, client_msg_id, "
                          "text, sent_at) VALUES ('r1', 1, 'a1', 'c2', 'hi', 1)") ==
          SQLITE_CONSTRAINT_PRIMARYKEY);
    CHECK(constraint_code(db,
                          "INSERT INTO members(room_id, account_id, role, joined_at) VALUES "
                          "('nope', 'a1', 'member', 1)") == SQLITE_CONSTRAINT_FOREIGNKEY);

    db.exec("DELETE FROM rooms WHERE id = 'r1'");
    CHECK(db.query_int64("SELECT count(*) FROM messages") == 0);
    CHECK(db.query_int64("SELECT count(*) FROM members") == 0);
    db.exec("DELETE FROM accounts WHERE id = 'a1'");
    CHECK(db.query_int64("SELECT count(*) FROM sessions") == 0);
    CHECK(db.query_int64("SELECT count(*) FROM profiles") == 0);
}

TEST_CASE("history.db migrations create the audit log (and drop the unused metrics history)",
          "[db]") {
    TempDir dir;
    SqliteDb db(dir.file("history.db"));
    CHECK(apply_migrations(db, history_migrations(), "history") ==
          static_cast<int>(history_migrations().size()));
    CHECK(has_table(db, "audit_log"));
    CHECK_FALSE(has_table(db, "metrics_history"));
    db.exec("INSERT INTO audit_log(at, actor, action, detail) VALUES (1, 'admin', 'x', '{}')");
    CHECK(db.last_insert_rowid() == 1);
}

TEST_CASE("a database newer than the binary is refused untouched", "[db]") {
    TempDir dir;
    const int newer = static_cast<int>(current_migrations().size()) + 1;
    {
        SqliteDb db(dir.file("current.db"));
        db.exec("PRAGMA user_version=" + std::to_string(newer));
    }
    SqliteDb db(dir.file("current.db"));
    try {
        apply_migrations(db, current_migrations(), "current");
        FAIL("a newer database was accepted");
    } catch (const SchemaVersionError& error) {
        CHECK_THAT(error.what(), Catch::Contains("newer"));
        CHECK_THAT(error.what(), Catch::Contains(std::to_string(newer)));
    }
    CHECK(schema_version(db) == newer);
    CHECK_FALSE(has_table(db, "accounts"));
}

TEST_CASE("a version 12 current.db keeps its messages when the log gains its second half", "[db]") {
    TempDir dir;
    SqliteDb db(dir.file("current.db"));
    const auto all = current_migrations();
    migrate_to(db, 12);
    db.exec(std::string(kAliceAndRoom) +
            "INSERT INTO messages(room_id, seq, sender_id, client_msg_id, text, sent_at) VALUES "
            "('r1', 1, 'a1', 'c1', 'old', 1);"
            "INSERT INTO message_log(room_id, seq, sender_id, client_msg_id, text, sent_at) VALUES "
            "('r1', 2, 'a1', 'c2', 'logged', 2);");
    CHECK(apply_migrations(db, all.first(13), "current") == 13);
    CHECK(has_table(db, "message_log_b"));
    CHECK(has_table(db, "message_log_moved"));
    // The log's rows stay where they were, in the first half, and readers see each once.
    CHECK(db.query_int64("SELECT count(*) FROM message_log") == 1);
    CHECK(db.query_int64("SELECT count(*) FROM message_log_b") == 0);
    CHECK(db.query_text("SELECT group_concat(text, ',') FROM (SELECT text FROM all_messages "
                        "ORDER BY seq)") == "old,logged");
    // A moving half's room named in message_log_moved is left out of the view (its rows are in
    // `messages` too); the same room in the other half is not.
    db.exec(
        "INSERT INTO messages(room_id, seq, sender_id, client_msg_id, text, sent_at) SELECT "
        "room_id, seq, sender_id, client_msg_id, text, sent_at FROM message_log;"
        "INSERT INTO message_log_moved(half, room_id) VALUES (0, 'r1');"
        "INSERT INTO message_log_b(room_id, seq, sender_id, client_msg_id, text, sent_at) VALUES "
        "('r1', 3, 'a1', 'c3', 'new', 3);");
    CHECK(db.query_text("SELECT group_concat(text, ',') FROM (SELECT text FROM all_messages "
                        "ORDER BY seq)") == "old,logged,new");
    // A history read still searches `messages` by its key and scans only the halves.
    std::string plan;
    auto explain = db.prepare(
        "EXPLAIN QUERY PLAN SELECT * FROM all_messages WHERE room_id = 'r1' AND seq > 1");
    while (explain.step() == StepResult::row)
        plan += explain.column_text(3) + "\n";
    CHECK_THAT(plan, Catch::Contains("SEARCH messages USING PRIMARY KEY"));
}

TEST_CASE("a version 15 current.db keeps its messages when the resend key is reordered", "[db]") {
    TempDir dir;
    SqliteDb db(dir.file("current.db"));
    const auto all = current_migrations();
    migrate_to(db, 15);
    db.exec(std::string(kAliceAndRoom) +
            "INSERT INTO messages(room_id, seq, sender_id, client_msg_id, text, sent_at, deleted, "
            "media) VALUES ('r1', 1, 'a1', 'c1', 'one', 1, 0, NULL), "
            "('r1', 2, 'a1', 'c2', '', 2, 1, NULL), ('r1', 3, 'a2', 'c1', 'three', 3, 0, 'img');"
            "INSERT INTO message_log(room_id, seq, sender_id, client_msg_id, text, sent_at) VALUES "
            "('r1', 4, 'a1', 'c4', 'logged', 4);");
    CHECK(apply_migrations(db, all.first(16), "current") == 16);
    // Every row and column survives the rebuild, and the view reads all of them once.
    CHECK(db.query_text("SELECT group_concat(seq || ':' || sender_id || ':' || client_msg_id || "
                        "':' || text || ':' || deleted || ':' || coalesce(media, '-'), ',') FROM "
                        "(SELECT * FROM messages ORDER BY seq)") ==
          "1:a1:c1:one:0:-,2:a1:c2::1:-,3:a2:c1:three:0:img");
    CHECK(db.query_text("SELECT group_concat(seq, ',') FROM (SELECT seq FROM all_messages ORDER "
                        "BY seq)") == "1,2,3,4");
    // The resend key, client id before sender, is still unique and still answers the lookup.
    CHECK(db.query_text("SELECT group_concat(name, ',') FROM (SELECT name FROM pragma_index_info("
                        "(SELECT name FROM pragma_index_list('messages') WHERE origin = 'u')) "
                        "ORDER BY seqno)") == "room_id,client_msg_id,sender_id");
    CHECK(constraint_code(db,
                          "INSERT INTO messages(room_id, seq, sender_id, client_msg_id, text, "
                          "sent_at) VALUES ('r1', 9, 'a2', 'c1', 'again', 9)") ==
          SQLITE_CONSTRAINT_UNIQUE);
    std::string plan;
    auto explain = db.prepare(
        "EXPLAIN QUERY PLAN SELECT seq FROM messages WHERE room_id = 'r1' AND sender_id = 'a2' "
        "AND client_msg_id = 'c1'");
    while (explain.step() == StepResult::row)
        plan += explain.column_text(3) + "\n";
    CHECK_THAT(plan, Catch::Contains("(room_id=? AND client_msg_id=? AND sender_id=?)"));
    CHECK(db.query_int64("SELECT count(*) FROM pragma_index_list('messages') WHERE name = "
                         "'messages_media'") == 1);
    // The foreign key to rooms came with it: a room's deletion still takes its messages.
    db.exec("PRAGMA foreign_keys = ON; DELETE FROM rooms WHERE id = 'r1'");
    CHECK(db.query_int64("SELECT count(*) FROM messages") == 0);
}

TEST_CASE("an image's visibility check finds it in the message log by index, not by a scan",
          "[db]") {
    TempDir dir;
    SqliteDb db(dir.file("current.db"));
    const auto all = current_migrations();
    migrate_to(db, 13);
    db.exec(
        std::string(kAliceAndRoom) +
        "INSERT INTO members(room_id, account_id, role, joined_at) VALUES ('r1', 'a1', 'owner', 1);"
        "INSERT INTO message_log(room_id, seq, sender_id, client_msg_id, text, sent_at, media) "
        "VALUES ('r1', 1, 'a1', 'c1', '', 1, 'img1');"
        "INSERT INTO message_log_b(room_id, seq, sender_id, client_msg_id, text, sent_at) VALUES "
        "('r1', 2, 'a1', 'c2', 'no image', 2);");
    CHECK(apply_migrations(db, all, "current") == static_cast<int>(all.size()));
    // Made from the rows already there, and kept up by later inserts.
    db.exec(
        "INSERT INTO message_log_b(room_id, seq, sender_id, client_msg_id, text, sent_at, media) "
        "VALUES ('r1', 3, 'a1', 'c3', '', 3, 'img2');");
    // MediaService::may_see's query: each half is searched by its media index.
    const std::string may_see =
        "SELECT 1 FROM all_messages m JOIN members b ON b.room_id = m.room_id AND b.account_id = "
        "'a1' WHERE m.media = ?1 AND m.deleted = 0 LIMIT 1";
    std::string plan;
    auto explain = db.prepare("EXPLAIN QUERY PLAN " + may_see);
    explain.bind(1, "img1");
    while (explain.step() == StepResult::row)
        plan += explain.column_text(3) + "\n";
    CHECK_THAT(plan, Catch::Contains("USING INDEX message_log_media"));
    CHECK_THAT(plan, Catch::Contains("USING INDEX message_log_b_media"));
    CHECK_THAT(plan, !Catch::Contains("SCAN l"));
    for (const char* id : {"img1", "img2"}) {
        auto st = db.prepare(may_see);
        st.bind(1, id);
        CHECK(st.step() == StepResult::row);
    }
    auto none = db.prepare(may_see);
    none.bind(1, "img3");
    CHECK(none.step() == StepResult::done);
    // A text message adds no entry.
    CHECK(db.query_int64("SELECT count(*) FROM message_log_b INDEXED BY message_log_b_media "
                         "WHERE media IS NOT NULL") == 1);
}

}  // namespace parley
