// Tests of the migration runner on real files: ordering, rollback of a failing migration,
// and the foreign-key check of table rebuilds.
#include "common/db/migration_runner.hpp"

#include <array>
#include <string>

#include <catch2/catch.hpp>

#include "common/test_support.hpp"

namespace parley {
namespace {

struct TempDir : test::TempDir {
    TempDir() : test::TempDir("migration-runner-test") {}
};

bool has_table(SqliteDb& db, const std::string& name) {
    auto query = db.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?");
    query.bind(1, name);
    REQUIRE(query.step() == StepResult::row);
    return query.column_int64(0) == 1;
}

}  // namespace

TEST_CASE("a failing migration is rolled back alone and resumed later", "[db]") {
    TempDir dir;
    SqliteDb db(dir.file("x.db"));
    const std::array broken{
        Migration{1, "first", "CREATE TABLE one(x)"},
        Migration{2, "broken", "CREATE TABLE two(x); INSERT INTO nowhere VALUES (1)"},
    };
    try {
        apply_migrations(db, broken, "x");
        FAIL("the broken migration was applied");
    } catch (const DbError& error) {
        CHECK_THAT(error.what(), Catch::Contains("migration 2"));
    }
    CHECK(schema_version(db) == 1);
    CHECK(has_table(db, "one"));
    CHECK_FALSE(has_table(db, "two"));
    CHECK_FALSE(db.in_transaction());

    const std::array fixed{
        Migration{1, "first", "CREATE TABLE one(x)"},
        Migration{2, "fixed", "CREATE TABLE two(x)"},
    };
    CHECK(apply_migrations(db, fixed, "x") == 2);
    CHECK(has_table(db, "two"));
}

TEST_CASE("migration lists must be numbered without gaps", "[db]") {
    TempDir dir;
    SqliteDb db(dir.file("x.db"));
    const std::array gap{
        Migration{1, "first", "CREATE TABLE one(x)"},
        Migration{3, "third", "CREATE TABLE three(x)"},
    };
    CHECK_THROWS_AS(apply_migrations(db, gap, "x"), DbError);
    CHECK(schema_version(db) == 0);
}

TEST_CASE("a table-rebuilding migration is checked for broken foreign keys", "[db]") {
    TempDir dir;
    SqliteDb db(dir.file("x.db"));
    constexpr std::string_view base =
        "CREATE TABLE parent(id INTEGER PRIMARY KEY);"
        "CREATE TABLE child(parent_id INTEGER REFERENCES parent(id));"
        "INSERT INTO parent VALUES (1); INSERT INTO child VALUES (1);";
    // Rebuilding `parent` without its row would pass with foreign keys off; the check fails it.
    const std::array rebuild{
        Migration{1, "base", base},
        Migration{2, "rebuild parent",
                  "CREATE TABLE parent_new(id INTEGER PRIMARY KEY);"
                  "DROP TABLE parent; ALTER TABLE parent_new RENAME TO parent;",
                  true},
    };
    CHECK_THROWS_WITH(apply_migrations(db, rebuild, "x"), Catch::Contains("foreign key"));
    CHECK(schema_version(db) == 1);
    CHECK(db.query_int64("SELECT count(*) FROM parent") == 1);
    CHECK(db.query_int64("PRAGMA foreign_keys") == 1);

    const std::array good{
        Migration{1, "base", base},
        Migration{2, "rebuild parent",
                  "CREATE TABLE parent_new(id INTEGER PRIMARY KEY, name TEXT);"
                  "INSERT INTO parent_new(id) SELECT id FROM parent;"
                  "DROP TABLE parent; ALTER TABLE parent_new RENAME TO parent;",
                  true},
    };
    CHECK(apply_migrations(db, good, "x") == 2);
    CHECK(db.query_int64("PRAGMA foreign_keys") == 1);
    CHECK(db.query_int64("SELECT count(*) FROM child") == 1);
}

}  // namespace parley
