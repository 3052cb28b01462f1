#include "manager/backup/backup_restore.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/dir_lock.hpp"
#include "common/file_util.hpp"
#include "manager/backup/media_manifest.hpp"
#include "manager/backup/retention.hpp"
#include "manager/backup/sqlite_snapshot.hpp"
#include "manager/system/sdbus_system.hpp"

namespace parley {

namespace fs = std::filesystem;

namespace {

int refuse(const std::string& message) {
    std::cerr << "parley manager restore: " << message << "\n";
    spdlog::error("restore: {}", message);
    return 1;
}

// What went wrong with a unit job: the D-Bus error, else systemd's job result.
const std::string& why(const JobOutcome& outcome) {
    return outcome.error.empty() ? outcome.result : outcome.error;
}

// Whose the restored files are: the data directory's owner. A restore runs as root (the
// server's files are not the manager's to write), and a root-owned database, media file or lock
// file is one the server, under its own user, cannot open. Nothing changes when the restore runs
// as the directory's owner already.
class RestoredOwner {
  public:
    explicit RestoredOwner(const std::string& data_dir) {
        struct stat st {};
        if (::geteuid() == 0 && ::stat(data_dir.c_str(), &st) == 0 && st.st_uid != 0) {
            uid_ = st.st_uid;
            gid_ = st.st_gid;
            change_ = true;
        }
    }

    // Gives `path` to the owner; an empty string, else what failed.
    std::string give(const std::string& path) const {
        if (!change_ || ::lchown(path.c_str(), uid_, gid_) == 0) return {};
        return fmt::format("cannot give {} to uid {}: {}", path, uid_, std::strerror(errno));
    }

    // Creates `dir` and its missing parents below `base`, each given to the owner.
    std::string make_dirs(const std::string& base, const std::string& dir) const {
        std::error_code ec;
        fs::path at(base);
        for (const auto& part : fs::path(dir).lexically_relative(base)) {
            at /= part;
            if (fs::is_directory(at, ec)) continue;
            if (!fs::create_directory(at, ec) && ec) {
                return fmt::format("cannot create {}: {}", at.string(), ec.message());
            }
            if (std::string problem = give(at.string()); !problem.empty()) return problem;
        }
        return {};
    }

    bool changes() const { return change_; }
    uid_t uid() const { return uid_; }

  private:
    uid_t uid_ = 0;
    gid_t gid_ = 0;
    bool change_ = false;
};

// The backup source holding `snapshot` under `root`: `named` if given, else the only one that
// has it. An empty string, else what is wrong.
std::string find_source(const std::string& root, const std::string& snapshot,
                        const std::string& named, std::string& source) {
    source = named;
    if (source.empty()) {
        std::vector<std::string> sources;
        std::error_code ec;
        for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
            if (fs::exists(it->path() / "current" / (snapshot + ".db")))
                sources.push_back(it->path().filename().string());
        }
        if (sources.size() != 1) {
            return fmt::format("{} backup sources in {} have snapshot {}; name one with --source",
                               sources.size(), root, snapshot);
        }
        source = sources.front();
    }
    if (source.find('/') != std::string::npos || source.starts_with(".")) {
        return "--source must be a manager name";
    }
    return {};
}

// Step 1, before anything is stopped: the snapshot's databases ("current", and "history" if it
// has one) pass integrity_check.
std::string check_snapshot(const std::string& from_dir, const std::string& snapshot,
                           std::vector<std::string>& databases) {
    for (const char* db : {"current", "history"}) {
        const std::string file = from_dir + "/" + db + "/" + snapshot + ".db";
        if (!fs::exists(file)) {
            if (std::string(db) == "current") return "no such snapshot: " + file;
            continue;
        }
        const std::string check = check_database(file, CheckKind::integrity);
        if (check != "ok") return fmt::format("{}: integrity_check: {}", file, check);
        databases.push_back(db);
        std::cout << "checked " << file << ": integrity_check ok\n";
    }
    return {};
}

// Step 3: each database as a durable copy beside the live name, read back, the stale WAL gone,
// then one rename.
std::string restore_databases(const std::string& from_dir, const std::string& to,
                              const std::string& snapshot,
                              const std::vector<std::string>& databases,
                              const RestoredOwner& owner) {
    std::error_code ec;
    for (const auto& db : databases) {
        const std::string from = from_dir + "/" + db + "/" + snapshot + ".db";
        if (std::string problem = owner.make_dirs(to, to + "/db"); !problem.empty()) return problem;
        const std::string final_path = to + "/db/" + db + ".db";
        const std::string staged = final_path + ".restoring";
        std::string copied_hash;
        if (std::string problem = copy_file_durably(from, staged, &copied_hash); !problem.empty())
            return problem;
        if (sha256_file(staged) != copied_hash) return staged + " does not read back";
        if (std::string problem = owner.give(staged); !problem.empty()) return problem;
        for (const char* suffix : {"-wal", "-shm", "-journal"}) {
            fs::remove(final_path + suffix, ec);
        }
        if (::rename(staged.c_str(), final_path.c_str()) != 0) {
            return fmt::format("cannot rename {}: {}", staged, std::strerror(errno));
        }
        fsync_directory(to + "/db");
        std::cout << "restored " << final_path << " (sha256 " << copied_hash << ")\n";
    }
    return {};
}

// Step 4: the media files the data directory lacks, each checked against its content hash.
std::string restore_media(const std::string& from_dir, const std::string& to,
                          const RestoredOwner& owner, std::size_t& copied) {
    std::string list_error;
    std::vector<MediaEntry> media = list_media(from_dir + "/media", list_error);
    if (!list_error.empty()) return list_error;
    std::error_code ec;
    for (const auto& entry : media) {
        const std::string dest = to + "/media/" + entry.relative_path();
        auto have = fs::file_size(dest, ec);
        if (!ec && static_cast<std::int64_t>(have) == entry.size) continue;
        if (std::string problem = owner.make_dirs(to, fs::path(dest).parent_path().string());
            !problem.empty()) {
            return problem;
        }
        std::string hash;
        if (std::string problem =
                copy_file_durably(from_dir + "/media/" + entry.relative_path(), dest, &hash);
            !problem.empty()) {
            return problem;
        }
        if (hash != entry.sha256) {
            fs::remove(dest, ec);
            return fmt::format("the backup's media file {} is damaged (hash {})",
                               entry.relative_path(), hash);
        }
        if (std::string problem = owner.give(dest); !problem.empty()) return problem;
        ++copied;
    }
    std::cout << "media: " << media.size() << " files in the backup, " << copied << " copied\n";
    return {};
}

// Step 5: what is now in place passes integrity_check.
std::string verify_restored(const std::string& to, const std::vector<std::string>& databases) {
    for (const auto& db : databases) {
        const std::string check = check_database(to + "/db/" + db + ".db", CheckKind::integrity);
        if (check != "ok") return fmt::format("restored {}.db: integrity_check: {}", db, check);
    }
    std::cout << "verified the restored databases: integrity_check ok\n";
    return {};
}

}  // namespace

int run_restore(const ManagerConfig& config, const RestoreCall& call) {
    if (call.no_service) return restore_snapshot(config, call, nullptr);
    SdbusSystemOptions options;
    options.job_timeout = std::chrono::milliseconds(config.dbus_job_timeout_ms);
    options.call_timeout = std::chrono::milliseconds(config.dbus_call_timeout_ms);
    SdbusSystem system(options);
    return restore_snapshot(config, call, &system);
}

int restore_snapshot(const ManagerConfig& config, const RestoreCall& call,
                     ServiceControl* service) {
    if (!snapshot_time(call.snapshot)) {
        std::cerr << "parley manager restore: '" << call.snapshot
                  << "' is not a snapshot id (YYYYMMDDTHHMMSS.mmmZ; see backup.snapshots)\n";
        return kExitUsage;
    }
    const std::string root = config.resolved_backup_dir();
    std::string source;
    if (std::string problem = find_source(root, call.snapshot, call.source, source);
        !problem.empty())
        return refuse(problem);
    const std::string from_dir = root + "/" + source;
    const std::string to = call.to.empty() ? config.backup_server_data_dir : call.to;
    std::vector<std::string> databases;
    if (std::string problem = check_snapshot(from_dir, call.snapshot, databases); !problem.empty())
        return refuse(problem);

    // 2. The server stops, and cannot start again until the restore is done.
    if (service) {
        JobOutcome stopped = service->stop_unit(config.server_unit);
        if (!stopped.ok) {
            return refuse(fmt::format("cannot stop {}: {}", config.server_unit, why(stopped)));
        }
        std::cout << "stopped " << config.server_unit << "\n";
    }
    std::error_code ec;
    fs::create_directories(to, ec);
    const RestoredOwner owner(to);
    std::string lock_error;
    auto lock = DirectoryLock::acquire(to, lock_error);
    if (!lock) return refuse("the server's data directory is in use: " + lock_error);
    std::size_t copied = 0;
    std::string problem = owner.give(to + "/parley.lock");
    if (problem.empty()) problem = restore_databases(from_dir, to, call.snapshot, databases, owner);
    if (problem.empty()) problem = restore_media(from_dir, to, owner, copied);
    if (problem.empty()) problem = verify_restored(to, databases);
    if (!problem.empty()) return refuse(problem);
    if (owner.changes()) std::cout << "the restored files belong to uid " << owner.uid() << "\n";

    // 6. The directory goes back to the server.
    lock.reset();
    if (service) {
        JobOutcome started = service->start_unit(config.server_unit);
        if (!started.ok) {
            return refuse(
                fmt::format("restored, but cannot start {}: {}", config.server_unit, why(started)));
        }
        std::cout << "started " << config.server_unit << "\n";
    }
    spdlog::info("restore: snapshot {} of '{}' restored into {} ({} media copied)", call.snapshot,
                 source, to, copied);
    std::cout << "restored snapshot " << call.snapshot << " of '" << source << "' into " << to
              << "\n";
    return 0;
}

}  // namespace parley
