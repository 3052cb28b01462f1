#include "manager/backup/restore_drill.hpp"

#include <chrono>
#include <filesystem>
#include <stdexcept>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "manager/backup/sqlite_snapshot.hpp"
#include "server/db/snapshot_check.hpp"

namespace parley {

namespace fs = std::filesystem;

std::string run_restore_drill(const SnapshotStore& store, const std::string& source,
                              const std::string& snapshot) {
    const auto started = std::chrono::steady_clock::now();
    const std::string scratch = store.drill_dir(source, snapshot);
    std::error_code ec;
    fs::remove_all(scratch, ec);
    fs::create_directories(scratch, ec);
    std::string outcome;
    nlohmann::json facts = nlohmann::json::object();
    try {
        for (const char* db : {"current", "history"}) {
            const std::string from = store.snapshot_file(source, db, snapshot);
            if (!fs::exists(from)) continue;
            const std::string to = scratch + "/" + db + ".db";
            if (std::string problem = copy_file_durably(from, to); !problem.empty()) {
                throw std::runtime_error(problem);
            }
            std::string check = check_database(to, CheckKind::integrity);
            if (check != "ok") throw std::runtime_error(std::string(db) + ": " + check);
            SnapshotVerdict verdict = verify_server_snapshot(db, to);
            if (!verdict.problem.empty()) throw std::runtime_error(verdict.problem);
            facts[db] = std::move(verdict.facts);
        }
        outcome = "ok: " + facts.dump();
    } catch (const std::exception& e) {
        outcome = std::string("failed: ") + e.what();
    }
    fs::remove_all(scratch, ec);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    if (outcome.starts_with("ok")) {
        spdlog::info("backup: restore drill of '{}' snapshot {} passed in {} ms: {}", source,
                     snapshot, ms, facts.dump());
    } else {
        spdlog::error("backup: RESTORE DRILL FAILED for '{}' snapshot {} after {} ms: {}", source,
                      snapshot, ms, outcome);
    }
    return outcome;
}

}  // namespace parley
