// Tests of SqliteDb, Statement, CachedStatement, Transaction and Savepoint on real files.
#include "common/db/sqlite.hpp"

#include <sqlite3.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "common/test_support.hpp"

namespace parley {
namespace {

struct TempDir : test::TempDir {
    TempDir() : test::TempDir("sqlite-test") {}
};

int error_code_of(const std::function<void()>& action) {
    try {
        action();
    } catch (const DbError& error) {
        return error.code();
    }
    return SQLITE_OK;
}

}  // namespace

TEST_CASE("SqliteDb applies WAL, foreign keys and the synchronous setting", "[db]") {
    TempDir dir;
    SqliteDb db(dir.file("a.db"));
    CHECK(db.query_text("PRAGMA journal_mode") == "wal");
    CHECK(db.query_int64("PRAGMA foreign_keys") == 1);
    CHECK(db.query_int64("PRAGMA synchronous") == 1);  // NORMAL

    SqliteOptions full;
    full.synchronous = "full";
    SqliteDb db_full(dir.file("b.db"), full);
    CHECK(db_full.query_int64("PRAGMA synchronous") == 2);  // FULL

    SqliteOptions bad;
    bad.synchronous = "sometimes";
    CHECK_THROWS_AS(SqliteDb(dir.file("c.db"), bad), DbError);
}

TEST_CASE("SqliteDb refuses to open a missing file without the create flag", "[db]") {
    TempDir dir;
    SqliteOptions options;
    options.mode = OpenMode::read_write;
    int code = error_code_of([&] { SqliteDb db(dir.file("missing.db"), options); });
    CHECK((code & 0xff) == SQLITE_CANTOPEN);
    CHECK_FALSE(std::filesystem::exists(dir.file("missing.db")));
}

TEST_CASE("Statement binds and reads every value type", "[db]") {
    TempDir dir;
    SqliteDb db(dir.file("a.db"));
    db.exec("CREATE TABLE t(i INTEGER, d REAL, s TEXT, b BLOB, n)");

    const std::int64_t big = std::numeric_limits<std::int64_t>::max();
    const std::string text = "h\xC3\xA9llo";
    const unsigned char raw[] = {0x00, 0xFF, 0x10, 0x00};
    {
        Statement insert = db.prepare("INSERT INTO t VALUES (?, ?, ?, ?, ?)");
        insert.bind(1, big)
            .bind(2, 2.5)
            .bind(3, text)
            .bind_blob(4, raw, sizeof raw)
            .bind(5, nullptr);
        insert.run();
        CHECK(db.changes() == 1);
        // Empty text and blob are values, not NULL.
        insert.reset();
        insert.bind(1, -1).bind(2, 0.0).bind(3, std::string_view()).bind_blob(4, nullptr, 0);
        insert.run();
    }

    Statement select = db.prepare("SELECT i, d, s, b, n FROM t ORDER BY rowid");
    REQUIRE(select.step() == StepResult::row);
    CHECK(select.column_count() == 5);
    CHECK(select.column_int64(0) == big);
    CHECK(select.column_double(1) == 2.5);
    CHECK(select.column_text(2) == text);
    auto blob = select.column_blob(3);
    REQUIRE(blob.size() == sizeof raw);
    CHECK(std::memcmp(blob.data(), raw, sizeof raw) == 0);
    CHECK(select.column_is_null(4));
    CHECK_FALSE(select.column_is_null(3));

    REQUIRE(select.step() == StepResult::row);
    CHECK(select.column_int64(0) == -1);
    CHECK_FALSE(select.column_is_null(2));
    CHECK(select.column_text(2).empty());
    CHECK_FALSE(select.column_is_null(3));
    CHECK(select.column_blob(3).empty());
    CHECK(select.step() == StepResult::done);
}

TEST_CASE("DbError carries SQLite's extended code and the statement", "[db]") {
    TempDir dir;
    SqliteDb db(dir.file("a.db"));
    db.exec(
        "CREATE TABLE parent(id INTEGER PRIMARY KEY);"
        "CREATE TABLE child(parent_id INTEGER REFERENCES parent(id));"
        "CREATE TABLE u(x TEXT UNIQUE);"
        "INSERT INTO u VALUES ('a');");

    try {
        db.prepare("INSERT INTO u VALUES ('a')").run();
        FAIL("duplicate accepted");
    } catch (const DbError& error) {
        CHECK(error.code() == SQLITE_CONSTRAINT_UNIQUE);
        CHECK(error.is_constraint());
        CHECK_THAT(error.what(), Catch::Contains("INSERT INTO u"));
    }
    // foreign_keys=ON is in force.
    CHECK(error_code_of([&] { db.exec("INSERT INTO child VALUES (42)"); }) ==
          SQLITE_CONSTRAINT_FOREIGNKEY);

    try {
        db.prepare("SELEC 1");
        FAIL("syntax error accepted");
    } catch (const DbError& error) {
        CHECK(error.primary_code() == SQLITE_ERROR);
        CHECK_THAT(error.what(), Catch::Contains("SELEC 1"));
    }
    // A second statement would be silently ignored by SQLite: refused.
    CHECK(error_code_of([&] { db.prepare("SELECT 1; SELECT 2"); }) == SQLITE_MISUSE);
    CHECK(error_code_of([&] { db.prepare("SELECT 1;  "); }) == SQLITE_OK);
}

TEST_CASE("cached statements are reused and reset when returned", "[db]") {
    TempDir dir;
    SqliteDb db(dir.file("a.db"));
    db.exec("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3);");

    sqlite3_stmt* first = nullptr;
    {
        auto select = db.cached("SELECT x FROM t WHERE x >= ? ORDER BY x");
        select->bind(1, 2);
        REQUIRE(select->step() == StepResult::row);  // left half-stepped on purpose
        CHECK(select->column_int64(0) == 2);
        first = select->handle();
        CHECK(sqlite3_stmt_busy(first) != 0);
        // The same SQL cannot be borrowed twice at once.
        CHECK(error_code_of([&] { db.cached("SELECT x FROM t WHERE x >= ? ORDER BY x"); }) ==
              SQLITE_MISUSE);
    }
    // Returned: reset (no read transaction kept open) and the binding cleared.
    CHECK(sqlite3_stmt_busy(first) == 0);
    CHECK_FALSE(db.in_transaction());
    auto again = db.cached("SELECT x FROM t WHERE x >= ? ORDER BY x");
    CHECK(again->handle() == first);
    // Unbound parameter is NULL: no row compares >= NULL.
    CHECK(again->step() == StepResult::done);
}

TEST_CASE("cached statements of the same length that differ in one byte stay apart", "[db]") {
    // The cache's hash reads only a few words of the SQL: statements that differ elsewhere share
    // a hash, and only the full comparison may tell them apart.
    TempDir dir;
    SqliteDb db(dir.file("a.db"));
    db.exec("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3), (4), (5), (6), (7), (8);");
    // Byte 8, the digit, lies outside the words the hash reads (0-7, and from a quarter of the
    // length on) for a statement of this length.
    const std::string base = "SELECT  0 + count(*) FROM t WHERE x >= 1 AND x <= 8 AND x != 0";
    REQUIRE(base.size() == 62);
    std::vector<std::string> variants;
    std::vector<std::int64_t> counts;
    for (char digit = '1'; digit <= '7'; ++digit) {
        std::string sql = base;
        sql[8] = digit;
        variants.push_back(sql);
        counts.push_back(8 + (digit - '0'));
    }
    for (int round = 0; round < 2; ++round) {
        for (std::size_t i = 0; i < variants.size(); ++i) {
            auto st = db.cached(variants[i]);
            REQUIRE(st->step() == StepResult::row);
            CHECK(st->column_int64(0) == counts[i]);
        }
    }
}

TEST_CASE("Transaction commits or rolls back on destruction", "[db]") {
    TempDir dir;
    SqliteDb db(dir.file("a.db"));
    db.exec("CREATE TABLE t(x)");
    {
        Transaction transaction(db);
        db.exec("INSERT INTO t VALUES (1)");
        CHECK(db.in_transaction());
    }
    CHECK_FALSE(db.in_transaction());
    CHECK(db.query_int64("SELECT count(*) FROM t") == 0);
    {
        Transaction transaction(db, Transaction::Kind::deferred);
        db.exec("INSERT INTO t VALUES (2)");
        transaction.commit();
    }
    CHECK(db.query_int64("SELECT count(*) FROM t") == 1);
}

TEST_CASE("Savepoint undoes only its own work", "[db]") {
    TempDir dir;
    SqliteDb db(dir.file("a.db"));
    db.exec("CREATE TABLE t(x)");
    {
        Transaction transaction(db);
        db.exec("INSERT INTO t VALUES (1)");
        {
            Savepoint inner(db, "inner");
            db.exec("INSERT INTO t VALUES (2)");
        }  // rolled back
        {
            Savepoint kept(db, "kept");
            db.exec("INSERT INTO t VALUES (3)");
            kept.release();
        }
        CHECK(db.in_transaction());
        transaction.commit();
    }
    CHECK(db.query_text("SELECT group_concat(x) FROM (SELECT x FROM t ORDER BY x)") == "1,3");
    CHECK(error_code_of([&] { Savepoint bad(db, "x; DROP TABLE t"); }) == SQLITE_MISUSE);
}

TEST_CASE("a read-only connection sees committed data and cannot write", "[db]") {
    TempDir dir;
    SqliteDb writer(dir.file("a.db"));
    writer.exec("CREATE TABLE t(x); INSERT INTO t VALUES (7);");

    SqliteOptions options;
    options.mode = OpenMode::read_only;
    SqliteDb reader(dir.file("a.db"), options);
    CHECK(reader.read_only());
    CHECK(reader.query_int64("SELECT x FROM t") == 7);
    CHECK((error_code_of([&] { reader.exec("INSERT INTO t VALUES (8)"); }) & 0xff) ==
          SQLITE_READONLY);

    // WAL: a reader inside its snapshot does not block the writer and keeps its view.
    Transaction snapshot(reader, Transaction::Kind::deferred);
    CHECK(reader.query_int64("SELECT count(*) FROM t") == 1);
    writer.exec("INSERT INTO t VALUES (9)");
    CHECK(reader.query_int64("SELECT count(*) FROM t") == 1);
    snapshot.commit();
    CHECK(reader.query_int64("SELECT count(*) FROM t") == 2);
}

TEST_CASE("SqliteDb moves keep the connection and its cache", "[db]") {
    TempDir dir;
    SqliteDb first(dir.file("a.db"));
    first.exec("CREATE TABLE t(x)");
    { first.cached("INSERT INTO t VALUES (1)")->run(); }
    SqliteDb second(std::move(first));
    CHECK(first.handle() == nullptr);
    { second.cached("INSERT INTO t VALUES (1)")->run(); }
    CHECK(second.query_int64("SELECT count(*) FROM t") == 2);
}

}  // namespace parley
