#include "manager/backup/sqlite_snapshot.hpp"

#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include <catch2/catch.hpp>

#include "common/crypto.hpp"
#include "common/db/sqlite.hpp"

using namespace parley;
namespace fs = std::filesystem;

namespace {

struct ScratchDir {
    ScratchDir()
        : path(fs::temp_directory_path() / ("parley-snap-" + hex_encode(random_bytes(6)))) {
        fs::create_directories(path);
    }
    ~ScratchDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string file(const std::string& name) const { return (path / name).string(); }
    fs::path path;
};

}  // namespace

TEST_CASE("a snapshot taken while a writer commits holds every earlier commit", "[backup]") {
    ScratchDir dir;
    const std::string live = dir.file("live.db");
    {
        SqliteDb db(live);
        db.exec("CREATE TABLE t (n INTEGER PRIMARY KEY, pad BLOB)");
    }
    std::atomic<bool> stop{false};
    std::atomic<std::int64_t> committed{0};
    std::thread writer([&] {
        SqliteDb db(live);
        for (std::int64_t n = 1; !stop; ++n) {
            auto insert = db.cached("INSERT INTO t (n, pad) VALUES (?, zeroblob(2000))");
            insert->bind(1, n);
            insert->run();
            committed = n;
        }
    });
    while (committed < 2000)
        std::this_thread::yield();
    const std::int64_t before = committed;
    SnapshotResult snap = take_snapshot(live, dir.file("snap.db"));
    const std::int64_t after = committed;
    stop = true;
    writer.join();
    REQUIRE(snap.error.empty());
    CHECK(after > before);  // the writer was never blocked for the whole snapshot
    CHECK(fsync_file(dir.file("snap.db")).empty());
    CHECK(check_database(dir.file("snap.db"), CheckKind::integrity) == "ok");
    CHECK(check_database(dir.file("snap.db"), CheckKind::quick) == "ok");
    // A stand-alone file: no -wal beside it, and it holds a prefix of the commits.
    CHECK_FALSE(fs::exists(dir.file("snap.db-wal")));
    SqliteDb copy(dir.file("snap.db"), SqliteOptions{OpenMode::read_only});
    const std::int64_t rows = copy.query_int64("SELECT count(*) FROM t");
    CHECK(rows >= before);
    CHECK(copy.query_int64("SELECT max(n) FROM t") == rows);
}

TEST_CASE("check_database reports damage and missing files", "[backup]") {
    ScratchDir dir;
    const std::string path = dir.file("d.db");
    {
        SqliteDb db(path);
        db.exec("PRAGMA journal_mode=DELETE; CREATE TABLE t (x TEXT); CREATE INDEX tx ON t(x)");
        for (int i = 0; i < 3000; ++i) {
            auto insert = db.cached("INSERT INTO t VALUES (hex(randomblob(40)))");
            insert->run();
        }
    }
    CHECK(check_database(path, CheckKind::integrity) == "ok");
    // Scribble over a page in the middle of the file.
    {
        std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(fs::file_size(path) / 2));
        std::string junk(4096, '\x5a');
        f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    CHECK(check_database(path, CheckKind::integrity) != "ok");
    CHECK(check_database(dir.file("missing.db"), CheckKind::quick).starts_with("no such file"));
    std::ofstream(dir.file("text.db")) << "not a database at all, just some words";
    CHECK(check_database(dir.file("text.db"), CheckKind::quick) != "ok");
}

TEST_CASE("copy_file_durably hashes what it copies", "[backup]") {
    ScratchDir dir;
    const std::string data = random_bytes(3 * 1024 * 1024 + 17);
    std::ofstream(dir.file("a"), std::ios::binary) << data;
    std::string hash;
    REQUIRE(copy_file_durably(dir.file("a"), dir.file("b"), &hash).empty());
    CHECK(hash == sha256_hex(data));
    CHECK(sha256_file(dir.file("b")) == hash);
    CHECK_FALSE(fs::exists(dir.file("b.part")));
    CHECK_FALSE(copy_file_durably(dir.file("nope"), dir.file("c")).empty());
    CHECK_FALSE(fs::exists(dir.file("c")));
}
