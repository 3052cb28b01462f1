// Tests of DbWriter's group commit, its completion rules and its shutdown, on real files.
#include "server/data/db_writer.hpp"

#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "common/test_support.hpp"

namespace parley {
namespace {

struct TempDir : test::TempDir {
    TempDir() : test::TempDir("writer-test") {}
};

using test::Signal;

using namespace std::chrono_literals;

SqliteDb make_db(const std::string& path) {
    SqliteDb db(path);
    db.exec(
        "CREATE TABLE IF NOT EXISTS items(id INTEGER PRIMARY KEY, v TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS parent(id INTEGER PRIMARY KEY);"
        "CREATE TABLE IF NOT EXISTS child(parent_id INTEGER REFERENCES parent(id) "
        "DEFERRABLE INITIALLY DEFERRED);");
    return db;
}

// Counted through a fresh connection: only committed rows are visible there.
std::int64_t committed_rows(const std::string& path) {
    SqliteOptions options;
    options.mode = OpenMode::read_only;
    SqliteDb db(path, options);
    return db.query_int64("SELECT count(*) FROM items");
}

auto insert_item(int id) {
    return [id](SqliteDb& db) {
        auto insert = db.cached("INSERT INTO items(id, v) VALUES (?, 'x')");
        insert->bind(1, id);
        insert->run();
        return id;
    };
}

// Holds the writer thread inside a job, so that the jobs submitted meanwhile queue up and
// form the next batch.
struct Blocker {
    Signal started;
    Signal release;
    Signal done;
    void hold(DbWriter& writer) {
        writer.async_write(
            [this](SqliteDb&) {
                started.set();
                release.wait();
            },
            [this](DbResult<void>) { done.set(); });
        REQUIRE(started.wait());
    }
};

// Collects callback completions by job id.
struct Completions {
    std::mutex mutex;
    std::map<int, DbResult<int>> results;
    std::size_t expected = 0;
    Signal all;

    auto handler(int id) {
        return [this, id](DbResult<int> result) {
            std::lock_guard lock(mutex);
            results.emplace(id, std::move(result));
            if (results.size() == expected) all.set();
        };
    }
};

bool wait_for_queue(DbWriter& writer, std::size_t n) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (writer.queued() < n) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

struct Tally {
    std::atomic<int> ok{0};
    std::atomic<int> off_thread{0};
    std::thread::id io_thread;
};

awaitable<void> submitter(DbWriter& writer, int first_id, int rounds, Tally& tally) {
    for (int i = 0; i < rounds; ++i) {
        auto result = co_await writer.write(insert_item(first_id + i));
        if (result.ok() && *result == first_id + i) ++tally.ok;
        if (std::this_thread::get_id() != tally.io_thread) ++tally.off_thread;
    }
}

}  // namespace

TEST_CASE("DbWriter runs a job and returns its value", "[db]") {
    TempDir dir;
    const std::string path = dir.file("w.db");
    DbWriter writer(make_db(path), DbSettings{});

    auto id = writer.write_sync(insert_item(7));
    REQUIRE(id.ok());
    CHECK(id.value() == 7);
    auto nothing = writer.write_sync([](SqliteDb& db) { db.exec("DELETE FROM items"); });
    CHECK(nothing.ok());
    auto converted = writer.write_sync<std::int64_t>([](SqliteDb&) { return 5; });
    CHECK(converted.value() == 5);
    CHECK(committed_rows(path) == 0);
}

TEST_CASE("DbWriter applies DbSettings::synchronous to its connection", "[db]") {
    TempDir dir;
    DbSettings settings;
    settings.synchronous = "FULL";
    DbWriter writer(make_db(dir.file("w.db")), settings);  // opened with NORMAL
    auto level =
        writer.write_sync([](SqliteDb& db) { return db.query_int64("PRAGMA synchronous"); });
    CHECK(level.value() == 2);

    settings.synchronous = "sometimes";
    CHECK_THROWS_AS(DbWriter(make_db(dir.file("w.db")), settings), DbError);
}

TEST_CASE("DbWriter groups concurrent coroutine writes into few commits", "[db]") {
    TempDir dir;
    const std::string path = dir.file("w.db");
    // Declared before the writer: its thread runs their handlers until it is joined.
    Blocker blocker;
    DbWriter writer(make_db(path), DbSettings{});
    constexpr int coroutines = 64;
    constexpr int rounds = 10;

    blocker.hold(writer);
    net::io_context context;
    Tally tally;
    for (int c = 0; c < coroutines; ++c) {
        net::co_spawn(context, submitter(writer, c * 1000, rounds, tally), net::detached);
    }
    std::thread io([&] {
        tally.io_thread = std::this_thread::get_id();
        context.run();
    });
    // Every coroutine has queued its first write while the writer is held.
    bool queued = wait_for_queue(writer, coroutines);
    blocker.release.set();
    io.join();
    REQUIRE(queued);

    CommitStats stats = writer.commit_stats();
    CHECK(tally.ok == coroutines * rounds);
    CHECK(tally.off_thread == 0);  // every completion ran on the awaiting coroutine's executor
    CHECK(stats.jobs_committed == coroutines * rounds + 1);
    // The first round alone went in one commit, so there are far fewer commits than jobs.
    CHECK(stats.commits < coroutines * rounds);
    CHECK(stats.commits <= 1 + 1 + (rounds - 1) * coroutines);
    CHECK(committed_rows(path) == coroutines * rounds);
}

TEST_CASE("DbWriter commits everything queued as one batch, up to max_batch", "[db]") {
    TempDir dir;
    const std::string path = dir.file("w.db");
    DbSettings settings;
    int jobs = 10;
    std::uint64_t expected_commits = 2;  // the blocker's batch, then one batch of all ten
    SECTION("unlimited batch") {}
    SECTION("batches of four") {
        settings.max_batch = 4;
        expected_commits = 1 + 3;
    }
    // Declared before the writer: its thread runs their handlers until it is joined.
    Blocker blocker;
    Completions completions;
    completions.expected = static_cast<std::size_t>(jobs);
    DbWriter writer(make_db(path), settings);
    blocker.hold(writer);
    for (int i = 0; i < jobs; ++i)
        writer.async_write(insert_item(i), completions.handler(i));
    REQUIRE(writer.queued() == static_cast<std::size_t>(jobs));
    blocker.release.set();
    REQUIRE(completions.all.wait());

    for (auto& [id, result] : completions.results)
        CHECK(result.ok());
    CHECK(writer.commit_stats().commits == expected_commits);
    CHECK(committed_rows(path) == jobs);
}

namespace {

// Holds `writer` in a commit, queues two writes behind it, lets it go, and gives the time from
// before the hold until both were answered.
std::chrono::steady_clock::duration two_writes_behind_a_commit(DbWriter& writer, Blocker& blocker,
                                                               Completions& completions,
                                                               int first_id) {
    const auto before = std::chrono::steady_clock::now();
    completions.expected = 2;
    blocker.hold(writer);
    writer.async_write(insert_item(first_id), completions.handler(first_id));
    writer.async_write(insert_item(first_id + 1), completions.handler(first_id + 1));
    REQUIRE(wait_for_queue(writer, 2));
    blocker.release.set();
    REQUIRE(completions.all.wait());
    return std::chrono::steady_clock::now() - before;
}

}  // namespace

TEST_CASE("DbWriter waits out commit_interval_us only while several write at once", "[db]") {
    TempDir dir;
    const std::string path = dir.file("w.db");
    DbSettings settings;
    settings.commit_interval_us = 400'000;  // far longer than any commit here
    Blocker blocker;
    Completions completions;
    DbWriter writer(make_db(path), settings);

    // One client alone: each write commits alone and finds the queue empty, so nothing waits.
    const auto lone = std::chrono::steady_clock::now();
    for (int i = 0; i < 5; ++i)
        REQUIRE(writer.write_sync(insert_item(i)).ok());
    CHECK(std::chrono::steady_clock::now() - lone < 1s);  // 5 × 0.4 s if each had waited

    // Writes queued while another commits: the next commit starts no sooner than the interval
    // after that commit's start.
    CHECK(two_writes_behind_a_commit(writer, blocker, completions, 10) >= 400ms);
    // Five lone commits, the blocker's, then one for both queued writes.
    CHECK(writer.commit_stats().commits == 5 + 1 + 1);
    CHECK(committed_rows(path) == 7);
}

TEST_CASE("with commit_interval_us = 0 queued writes commit as soon as the last commit ends",
          "[db]") {
    TempDir dir;
    DbSettings settings;
    settings.commit_interval_us = 0;
    Blocker blocker;
    Completions completions;
    DbWriter writer(make_db(dir.file("w.db")), settings);
    CHECK(two_writes_behind_a_commit(writer, blocker, completions, 1) < 400ms);
}

TEST_CASE("a failing job rolls back only itself; the rest of its batch commits", "[db]") {
    TempDir dir;
    const std::string path = dir.file("w.db");
    // Declared before the writer: its thread runs their handlers until it is joined.
    Blocker blocker;
    Completions completions;
    completions.expected = 10;
    DbWriter writer(make_db(path), DbSettings{});
    blocker.hold(writer);

    for (int i = 0; i < 10; ++i) {
        if (i == 5) {
            // Writes, then throws: its row must not survive.
            writer.async_write<int>(
                [](SqliteDb& db) -> int {
                    insert_item(5)(db);
                    throw std::runtime_error("job five gave up");
                },
                completions.handler(i));
        } else if (i == 7) {
            // Duplicate primary key of job 1: a DbError.
            writer.async_write(insert_item(1), completions.handler(i));
        } else {
            writer.async_write(insert_item(i), completions.handler(i));
        }
    }
    blocker.release.set();
    REQUIRE(completions.all.wait());

    auto& results = completions.results;
    REQUIRE_FALSE(results.at(5).ok());
    CHECK(results.at(5).error().code == DbErrc::job_failed);
    CHECK_THAT(results.at(5).error().message, Catch::Contains("job five gave up"));
    REQUIRE_FALSE(results.at(7).ok());
    CHECK(results.at(7).error().code == DbErrc::constraint);
    CHECK(results.at(7).error().sqlite_code == SQLITE_CONSTRAINT_PRIMARYKEY);
    for (int i : {0, 1, 2, 3, 4, 6, 8, 9})
        CHECK(results.at(i).ok());

    CHECK(committed_rows(path) == 8);
    SqliteDb check(path);
    CHECK(check.query_int64("SELECT count(*) FROM items WHERE id = 5") == 0);
    CommitStats stats = writer.commit_stats();
    CHECK(stats.commits == 2);
    CHECK(stats.jobs_failed == 2);
}

TEST_CASE("a write completes only after its transaction has committed", "[db]") {
    TempDir dir;
    const std::string path = dir.file("w.db");
    Signal done;  // before the writer, whose thread sets it
    std::int64_t seen = -1;
    DbWriter writer(make_db(path), DbSettings{});

    SECTION("coroutine") {
        net::io_context context;
        std::int64_t seen_in_job = -1;
        std::int64_t seen_on_completion = -1;
        bool ok = false;
        net::co_spawn(
            context,
            [](DbWriter& writer, std::string path, std::int64_t& in_job, std::int64_t& after,
               bool& ok) -> awaitable<void> {
                auto result = co_await writer.write([&](SqliteDb& db) {
                    insert_item(1)(db);
                    // Not yet visible elsewhere: proves the check below can fail.
                    in_job = committed_rows(path);
                });
                ok = result.ok();
                after = committed_rows(path);
            }(writer, path, seen_in_job, seen_on_completion, ok),
            net::detached);
        context.run();
        CHECK(ok);
        CHECK(seen_in_job == 0);
        CHECK(seen_on_completion == 1);
    }
    SECTION("callback") {
        writer.async_write(insert_item(2), [&](DbResult<int> result) {
            seen = result.ok() ? committed_rows(path) : -2;
            done.set();
        });
        REQUIRE(done.wait());
        CHECK(seen == 1);
    }
}

TEST_CASE("a failed COMMIT fails every job of the batch", "[db]") {
    TempDir dir;
    const std::string path = dir.file("w.db");
    // Declared before the writer: its thread runs their handlers until it is joined.
    Blocker blocker;
    Completions completions;
    completions.expected = 2;
    DbWriter writer(make_db(path), DbSettings{});
    blocker.hold(writer);

    writer.async_write(insert_item(1), completions.handler(1));
    // A deferred foreign key is only checked at COMMIT: the job itself succeeds.
    writer.async_write(
        [](SqliteDb& db) {
            db.exec("INSERT INTO child VALUES (999)");
            return 2;
        },
        completions.handler(2));
    blocker.release.set();
    REQUIRE(completions.all.wait());

    for (int id : {1, 2}) {
        const auto& result = completions.results.at(id);
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().code == DbErrc::constraint);
        CHECK(result.error().sqlite_code == SQLITE_CONSTRAINT_FOREIGNKEY);
    }
    CHECK(committed_rows(path) == 0);
    CHECK(writer.commit_stats().batches_failed == 1);

    // The writer rolled back and goes on.
    CHECK(writer.write_sync(insert_item(3)).ok());
    CHECK(committed_rows(path) == 1);
}

TEST_CASE("a job cannot end the writer's transaction", "[db]") {
    TempDir dir;
    const std::string path = dir.file("w.db");
    // Declared before the writer: its thread runs their handlers until it is joined.
    Blocker blocker;
    Completions completions;
    completions.expected = 4;
    DbWriter writer(make_db(path), DbSettings{});
    blocker.hold(writer);

    writer.async_write(insert_item(1), completions.handler(1));
    writer.async_write(
        [](SqliteDb& db) {
            db.exec("COMMIT");
            return 2;
        },
        completions.handler(2));
    writer.async_write(
        [](SqliteDb& db) {
            db.exec("RELEASE parley_job");
            return 3;
        },
        completions.handler(3));
    writer.async_write(
        [](SqliteDb& db) {
            // The job's own savepoints are fine.
            Savepoint mine(db, "mine");
            insert_item(4)(db);
            mine.release();
            return 4;
        },
        completions.handler(4));
    blocker.release.set();
    REQUIRE(completions.all.wait());

    CHECK(completions.results.at(1).ok());
    CHECK(completions.results.at(4).ok());
    for (int id : {2, 3}) {
        const auto& result = completions.results.at(id);
        REQUIRE_FALSE(result.ok());
        CHECK((result.error().sqlite_code & 0xff) == SQLITE_AUTH);
    }
    CHECK(committed_rows(path) == 2);
    CHECK(writer.commit_stats().commits == 2);
}

TEST_CASE("a full writer queue refuses at once with unavailable", "[db]") {
    TempDir dir;
    const std::string path = dir.file("w.db");
    DbSettings settings;
    settings.queue_limit = 3;
    // Declared before the writer: its thread runs their handlers until it is joined.
    Blocker blocker;
    Completions completions;
    completions.expected = 3;
    DbWriter writer(make_db(path), settings);
    blocker.hold(writer);

    for (int i = 0; i < 3; ++i)
        writer.async_write(insert_item(i), completions.handler(i));

    net::io_context context;
    std::optional<DbResult<int>> refused;
    net::co_spawn(
        context,
        [](DbWriter& writer, std::optional<DbResult<int>>& out) -> awaitable<void> {
            out.emplace(co_await writer.write(insert_item(99)));
        }(writer, refused),
        net::detached);
    context.run();  // returns only once the refused write has completed
    REQUIRE(refused.has_value());
    REQUIRE_FALSE(refused->ok());
    CHECK(refused->error().code == DbErrc::unavailable);
    CHECK_FALSE(completions.all.is_set());  // the writer is still held: nothing waited on it

    blocker.release.set();
    REQUIRE(completions.all.wait());
    for (auto& [id, result] : completions.results)
        CHECK(result.ok());
    CHECK(writer.commit_stats().rejected == 1);
    CHECK(committed_rows(path) == 3);
}

TEST_CASE("DbWriter::stop drains and commits the queue, then refuses", "[db]") {
    TempDir dir;
    const std::string path = dir.file("w.db");
    // Declared before the writer: its thread runs their handlers until it is joined.
    Blocker blocker;
    Completions completions;
    completions.expected = 20;
    DbWriter writer(make_db(path), DbSettings{});
    blocker.hold(writer);

    for (int i = 0; i < 20; ++i)
        writer.async_write(insert_item(i), completions.handler(i));
    std::thread releaser([&] {
        std::this_thread::sleep_for(50ms);
        blocker.release.set();
    });
    writer.stop();  // returns after the queue has been committed
    releaser.join();

    CHECK(blocker.done.is_set());
    {
        std::lock_guard lock(completions.mutex);
        CHECK(completions.results.size() == 20);
        for (auto& [id, result] : completions.results)
            CHECK(result.ok());
    }
    CHECK(committed_rows(path) == 20);

    auto late = writer.write_sync(insert_item(100));
    REQUIRE_FALSE(late.ok());
    CHECK(late.error().code == DbErrc::unavailable);
    writer.stop();  // idempotent
}

TEST_CASE("DbWriter records commit latency", "[db]") {
    TempDir dir;
    DbWriter writer(make_db(dir.file("w.db")), DbSettings{});
    for (int i = 0; i < 5; ++i)
        REQUIRE(writer.write_sync(insert_item(i)).ok());
    CommitStats stats = writer.commit_stats();
    CHECK(stats.commits == 5);
    CHECK(stats.jobs_committed == 5);
    CHECK(stats.latency_sum_seconds > 0);
    CHECK(stats.buckets.back() == 5);
    for (std::size_t i = 1; i < stats.buckets.size(); ++i) {
        CHECK(stats.buckets[i - 1] <= stats.buckets[i]);
    }
}

TEST_CASE("acknowledged writes survive kill -9 of the process", "[db]") {
    TempDir dir;
    const std::string path = dir.file("w.db");
    { make_db(path); }
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        // Child: write and acknowledge each row through the pipe until killed.
        close(fds[0]);
        try {
            DbWriter writer(SqliteDb(path), DbSettings{});
            for (int i = 1;; ++i) {
                if (!writer.write_sync(insert_item(i)).ok()) _exit(2);
                if (write(fds[1], &i, sizeof i) != static_cast<ssize_t>(sizeof i)) _exit(3);
            }
        } catch (...) {
            _exit(4);
        }
    }
    close(fds[1]);
    int acked = 0;
    int value = 0;
    while (acked < 300 && read(fds[0], &value, sizeof value) == static_cast<ssize_t>(sizeof value))
        acked = value;
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    // Acknowledgements already in the pipe count too.
    while (read(fds[0], &value, sizeof value) == static_cast<ssize_t>(sizeof value))
        acked = value;
    close(fds[0]);
    CHECK(WIFSIGNALED(status));
    REQUIRE(acked >= 300);

    SqliteDb db(path);  // read-write: recovers the WAL left by the killed process
    auto count = db.prepare("SELECT count(*) FROM items WHERE id <= ?");
    count.bind(1, acked);
    REQUIRE(count.step() == StepResult::row);
    CHECK(count.column_int64(0) == acked);
}

TEST_CASE("DbWriter checkpoints the WAL from its own thread", "[db]") {
    TempDir dir;
    const std::string path = dir.file("w.db");
    DbSettings settings;
    settings.wal_autocheckpoint_pages = 100;
    DbWriter writer(make_db(path), settings);
    // Each commit leaves at least a page in the WAL: without checkpoints it would grow past
    // 3,000 pages; with them it starts over every 100 to 400.
    for (int i = 0; i < 3000; ++i)
        REQUIRE(writer.write_sync(insert_item(i)).ok());
    auto wal_pages = [&] {
        std::error_code ec;
        auto bytes = std::filesystem::file_size(path + "-wal", ec);
        return ec ? 0 : static_cast<std::int64_t>(bytes / 4096);
    };
    // The pages reach the database file (its schema and the table's pages) through the
    // checkpointer thread. On a quiet machine the WAL also stays near 400 pages; on a loaded
    // one the 3,000 commits can end before that thread first runs (the WAL then holds them
    // all until it does), so the WAL's size is not checked, only that the copy happens.
    // (A checkpoint is asked for by a commit: one more every 50 ms while waiting.)
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    int extra = 0;
    while (std::filesystem::file_size(path) < 4 * 4096 &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        REQUIRE(writer.write_sync(insert_item(3000 + extra++)).ok());
    }
    INFO("WAL pages: " << wal_pages() << ", commits while waiting: " << extra);
    CHECK(std::filesystem::file_size(path) >= 4 * 4096);
    CHECK(committed_rows(path) == 3000 + extra);
}

}  // namespace parley
