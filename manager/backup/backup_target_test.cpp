// BackupTarget driven through its methods, on real files, with a FaultyFileSystem: a full disk
// and a failing fsync end the session with a clear error, record the run as failed, leave
// nothing half-received and leave the snapshots already stored untouched.
#include "manager/backup/backup_target.hpp"

#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "common/crypto.hpp"
#include "common/db/sqlite.hpp"
#include "common/file_util.hpp"
#include "manager/manager_test_support.hpp"
#include "manager/protocol/api_caller.hpp"

namespace parley {

using testing::FakeClock;
using testing::TempDir;

namespace fs = std::filesystem;

namespace {

ManagerConfig config_in(const TempDir& dir) {
    ManagerConfig config;
    config.data_dir = dir.path().string();
    config.backup_drill = false;
    return config;
}

struct Fixture {
    Fixture() {
        SqliteDb db(dir.file("source.db"));
        db.exec("CREATE TABLE t(x TEXT); INSERT INTO t VALUES ('one'), ('two');");
        db.exec("PRAGMA journal_mode=DELETE");
    }

    TempDir dir;
    ManagerConfig config = config_in(dir);
    ManagerStore store{dir.file("manager.db")};
    FakeClock clock;
    FaultyFileSystem files;
    BackupTarget target{config, store, [](std::function<void()> job) { job(); }, clock.function(),
                        files};
    ApiCaller source{3, "tcp:10.0.0.2", "host-b", ApiAccess::admin};

    json call(const std::string& method, json params) {
        ApiRequest request{json(1), method, std::move(params)};
        return target.handle(request, source);
    }

    std::string database_bytes() {
        std::string bytes;
        REQUIRE_FALSE(read_file(dir.file("source.db"), bytes));
        return bytes;
    }

    // One backup of `bytes` as current.db; the answer to the first call that failed, or to
    // backup.finish.
    json send(const std::string& bytes) {
        json begun = call("backup.begin", {{"source", "host-b"}, {"files", {"current"}}});
        REQUIRE(begun["ok"] == true);
        const std::string session = begun["result"]["session"];
        json put =
            call("backup.put",
                 {{"session", session},
                  {"file", "current"},
                  {"offset", 0},
                  {"data", json::binary_t(std::vector<std::uint8_t>(bytes.begin(), bytes.end()))}});
        if (put["ok"] != true) return put;
        json done = call("backup.file", {{"session", session},
                                         {"file", "current"},
                                         {"size", bytes.size()},
                                         {"sha256", sha256_hex(bytes)}});
        if (done["ok"] != true) return done;
        return call("backup.finish", {{"session", session}, {"integrity", {{"current", "ok"}}}});
    }

    std::string stored(const std::string& snapshot) const {
        std::string bytes;
        if (read_file(config.resolved_backup_dir() + "/host-b/current/" + snapshot + ".db", bytes))
            return "(missing)";
        return bytes;
    }

    std::vector<std::string> snapshot_ids() {
        std::vector<std::string> ids;
        const json answer = call("backup.snapshots", json::object());
        for (const auto& s : answer["result"]["snapshots"])
            ids.push_back(s["snapshot"]);
        return ids;
    }

    bool incoming_left() const {
        std::error_code ec;
        fs::path incoming = fs::path(config.resolved_backup_dir()) / "host-b" / "incoming";
        return fs::exists(incoming, ec) && !fs::is_empty(incoming, ec);
    }

    json last_run() { return store.backup_runs("target", 1).at(0); }
};

std::string error_message(const json& answer) {
    return answer.at("error").at("message").get<std::string>();
}

}  // namespace

TEST_CASE("a backup whose fsync fails is failed and the previous snapshot stays intact",
          "[manager][backup]") {
    Fixture f;
    const std::string first_bytes = f.database_bytes();
    json first = f.send(first_bytes);
    REQUIRE(first["ok"] == true);
    const std::string first_snapshot = first["result"]["snapshot"];
    REQUIRE(f.stored(first_snapshot) == first_bytes);

    {
        SqliteDb db(f.dir.file("source.db"));
        db.exec("INSERT INTO t VALUES ('three')");
    }
    f.clock.now_ms += 3'600'000;
    f.files.fail_fsync(true);
    json second = f.send(f.database_bytes());
    CHECK(second["ok"] == false);
    CHECK(second["error"]["code"] == "internal");
    CHECK(error_message(second) == "cannot fsync the incoming file: Input/output error");
    CHECK(f.files.injected() >= 1);

    CHECK(f.last_run()["state"] == "failed");
    CHECK(f.last_run()["error"] == error_message(second));
    CHECK(f.snapshot_ids() == std::vector<std::string>{first_snapshot});
    CHECK(f.stored(first_snapshot) == first_bytes);
    CHECK_FALSE(f.incoming_left());

    // Once the disk behaves again the next run stores a new snapshot beside the first.
    f.files.fail_fsync(false);
    f.clock.now_ms += 3'600'000;
    json third = f.send(f.database_bytes());
    REQUIRE(third["ok"] == true);
    CHECK(f.snapshot_ids().size() == 2);
    CHECK(f.stored(first_snapshot) == first_bytes);
}

TEST_CASE("a full disk ends a backup with a clear error and nothing half-received",
          "[manager][backup]") {
    Fixture f;
    const std::string bytes = f.database_bytes();
    REQUIRE(bytes.size() > 1000);
    json first = f.send(bytes);
    REQUIRE(first["ok"] == true);
    const std::string first_snapshot = first["result"]["snapshot"];

    f.clock.now_ms += 3'600'000;
    f.files.fill_disk_after(1000);
    json second = f.send(bytes);
    CHECK(second["ok"] == false);
    CHECK(second["error"]["code"] == "internal");
    CHECK(error_message(second) == "cannot write the incoming file: No space left on device");
    CHECK(f.files.injected() == 1);
    CHECK(f.last_run()["state"] == "failed");
    CHECK_FALSE(f.incoming_left());
    CHECK(f.snapshot_ids() == std::vector<std::string>{first_snapshot});
    CHECK(f.stored(first_snapshot) == bytes);
}

}  // namespace parley
