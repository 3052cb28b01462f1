// Tests of DbReaderPool: concurrency, snapshots, completion rules and shutdown, on real files.
#include "server/data/db_readers.hpp"

#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "common/test_support.hpp"

namespace parley {
namespace {

struct TempDir : test::TempDir {
    TempDir() : test::TempDir("readers-test") {}
};

using test::Signal;

using namespace std::chrono_literals;

SqliteDb make_db(const std::string& path) {
    SqliteDb db(path);
    db.exec("CREATE TABLE IF NOT EXISTS items(id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    return db;
}

auto insert_item(int id) {
    return [id](SqliteDb& db) {
        auto insert = db.cached("INSERT INTO items(id, v) VALUES (?, 'x')");
        insert->bind(1, id);
        insert->run();
    };
}

std::int64_t count_items(SqliteDb& db) {
    return db.query_int64("SELECT count(*) FROM items");
}

}  // namespace

TEST_CASE("DbReaderPool reads committed data and completes on the caller's executor", "[db]") {
    TempDir dir;
    const std::string path = dir.file("r.db");
    DbWriter writer(make_db(path), DbSettings{});
    REQUIRE(writer.write_sync(insert_item(1)).ok());
    DbReaderPool readers(path, DbSettings{});
    CHECK(readers.size() == 2);

    net::io_context context;
    std::optional<DbResult<std::int64_t>> result;
    std::thread::id completed_on;
    std::thread::id ran_on;
    net::co_spawn(
        context,
        [](DbReaderPool& readers, std::optional<DbResult<std::int64_t>>& out, std::thread::id& on,
           std::thread::id& ran) -> awaitable<void> {
            out.emplace(co_await readers.read([&](SqliteDb& db) {
                ran = std::this_thread::get_id();
                return count_items(db);
            }));
            on = std::this_thread::get_id();
        }(readers, result, completed_on, ran_on),
        net::detached);
    context.run();

    REQUIRE(result.has_value());
    REQUIRE(result->ok());
    CHECK(result->value() == 1);
    CHECK(completed_on == std::this_thread::get_id());  // the io_context's thread
    CHECK(ran_on != std::this_thread::get_id());        // the job ran on a reader thread
}

TEST_CASE("reader connections are read-only and report job failures", "[db]") {
    TempDir dir;
    const std::string path = dir.file("r.db");
    { make_db(path); }
    DbReaderPool readers(path, DbSettings{});

    auto write = readers.read_sync(insert_item(1));
    REQUIRE_FALSE(write.ok());
    CHECK(write.error().code == DbErrc::failed);
    CHECK((write.error().sqlite_code & 0xff) == SQLITE_READONLY);

    auto thrown = readers.read_sync([](SqliteDb&) -> int { throw std::runtime_error("nope"); });
    REQUIRE_FALSE(thrown.ok());
    CHECK(thrown.error().code == DbErrc::job_failed);

    // The reader recovered: its connection is usable and outside any transaction.
    auto after = readers.read_sync([](SqliteDb& db) { return !db.in_transaction(); });
    REQUIRE(after.ok());
    CHECK_FALSE(after.value());  // inside the job's own read transaction
    CHECK(readers.read_sync([](SqliteDb& db) { return count_items(db); }).value() == 0);
}

TEST_CASE("reader threads run jobs concurrently", "[db]") {
    TempDir dir;
    const std::string path = dir.file("r.db");
    { make_db(path); }
    DbSettings settings;
    settings.reader_threads = 2;
    DbReaderPool readers(path, settings);

    // Each job waits until both are running: a serialized pool would time out.
    std::atomic<int> running{0};
    auto rendezvous = [&](SqliteDb&) {
        ++running;
        auto deadline = std::chrono::steady_clock::now() + 5s;
        while (running.load() < 2) {
            if (std::chrono::steady_clock::now() > deadline) return false;
            std::this_thread::sleep_for(1ms);
        }
        return true;
    };
    std::optional<DbResult<bool>> first;
    std::thread other([&] { first.emplace(readers.read_sync(rendezvous)); });
    auto second = readers.read_sync(rendezvous);
    other.join();
    REQUIRE(first.has_value());
    CHECK(first->value());
    CHECK(second.value());
}

TEST_CASE("readers are not blocked by an open write transaction and see only commits", "[db]") {
    TempDir dir;
    const std::string path = dir.file("r.db");
    // Declared before the writer: its thread uses them until it is joined.
    Signal inserted;
    Signal release;
    Signal committed;
    DbWriter writer(make_db(path), DbSettings{});
    DbReaderPool readers(path, DbSettings{});

    writer.async_write(
        [&](SqliteDb& db) {
            insert_item(1)(db);
            inserted.set();
            release.wait();
        },
        [&](DbResult<void>) { committed.set(); });
    REQUIRE(inserted.wait());
    // The writer holds its transaction open: the read completes and sees the last commit.
    auto during = readers.read_sync([](SqliteDb& db) { return count_items(db); });
    release.set();
    REQUIRE(committed.wait());
    REQUIRE(during.ok());
    CHECK(during.value() == 0);
    CHECK(readers.read_sync([](SqliteDb& db) { return count_items(db); }).value() == 1);
}

TEST_CASE("a read job sees one snapshot for all its statements", "[db]") {
    TempDir dir;
    const std::string path = dir.file("r.db");
    DbWriter writer(make_db(path), DbSettings{});
    DbReaderPool readers(path, DbSettings{});

    Signal first_read;
    Signal written;
    std::optional<DbResult<std::pair<std::int64_t, std::int64_t>>> counts;
    std::thread reader([&] {
        counts.emplace(readers.read_sync([&](SqliteDb& db) {
            auto before = count_items(db);
            first_read.set();
            written.wait();
            return std::pair(before, count_items(db));
        }));
    });
    REQUIRE(first_read.wait());
    REQUIRE(writer.write_sync(insert_item(1)).ok());
    written.set();
    reader.join();

    REQUIRE(counts.has_value());
    REQUIRE(counts->ok());
    CHECK(counts->value().first == 0);
    CHECK(counts->value().second == 0);
    CHECK(readers.read_sync([](SqliteDb& db) { return count_items(db); }).value() == 1);
}

TEST_CASE("a full reader queue refuses at once; stop drains it", "[db]") {
    TempDir dir;
    const std::string path = dir.file("r.db");
    { make_db(path); }
    DbSettings settings;
    settings.reader_threads = 1;
    settings.queue_limit = 2;
    // Declared before the pool: its thread uses them until it is joined.
    Signal started;
    Signal release;
    std::atomic<int> completed{0};
    DbReaderPool readers(path, settings);

    readers.async_read(
        [&](SqliteDb&) {
            started.set();
            release.wait();
        },
        [&](DbResult<void> result) { completed += result.ok() ? 1 : 100; });
    REQUIRE(started.wait());
    for (int i = 0; i < 2; ++i) {
        readers.async_read(
            [](SqliteDb& db) { return count_items(db); },
            [&](DbResult<std::int64_t> result) { completed += result.ok() ? 1 : 100; });
    }

    net::io_context context;
    std::optional<DbResult<int>> refused;
    net::co_spawn(
        context,
        [](DbReaderPool& readers, std::optional<DbResult<int>>& out) -> awaitable<void> {
            out.emplace(co_await readers.read([](SqliteDb&) { return 1; }));
        }(readers, refused),
        net::detached);
    context.run();
    REQUIRE(refused.has_value());
    REQUIRE_FALSE(refused->ok());
    CHECK(refused->error().code == DbErrc::unavailable);
    CHECK(completed == 0);

    std::thread releaser([&] {
        std::this_thread::sleep_for(50ms);
        release.set();
    });
    readers.stop();
    releaser.join();
    CHECK(completed == 3);
    auto late = readers.read_sync([](SqliteDb&) { return 1; });
    REQUIRE_FALSE(late.ok());
    CHECK(late.error().code == DbErrc::unavailable);
}

}  // namespace parley
