#include "manager/backup/snapshot_store.hpp"

#include <filesystem>
#include <system_error>

#include <spdlog/spdlog.h>

#include "common/file_util.hpp"

namespace parley {

namespace fs = std::filesystem;

namespace {

constexpr const char* kDatabases[] = {"current", "history"};

}  // namespace

SnapshotStore::SnapshotStore(std::string root, RetentionPolicy retention, FileSystem& files)
    : root_(std::move(root)), retention_(retention), files_(files) {}

// Creates `to`'s directory first and fsyncs it after. "" or the problem.
std::string SnapshotStore::rename_into(const std::string& from, const std::string& to) {
    const std::string dir = fs::path(to).parent_path().string();
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return ec.message();
    if (auto rename_ec = files_.rename(from, to)) return rename_ec.message();
    files_.fsync_directory(dir);
    return {};
}

bool SnapshotStore::recover() {
    std::error_code ec;
    fs::create_directories(root_, ec);
    if (ec) {
        spdlog::error("backup: cannot create {}: {}", root_, ec.message());
        return false;
    }
    for (fs::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
        for (const char* scratch : {"incoming", "drill"}) {
            fs::path leftover = it->path() / scratch;
            if (fs::exists(leftover, ec)) {
                std::uintmax_t n = fs::remove_all(leftover, ec);
                spdlog::warn("backup: removed {} ({} files) left by an interrupted run",
                             leftover.string(), n);
            }
        }
    }
    return true;
}

std::string SnapshotStore::source_dir(const std::string& source) const {
    return root_ + "/" + source;
}

std::string SnapshotStore::incoming_dir(const std::string& source,
                                        const std::string& session) const {
    return source_dir(source) + "/incoming/" + session;
}

std::string SnapshotStore::drill_dir(const std::string& source, const std::string& snapshot) const {
    return source_dir(source) + "/drill/" + snapshot;
}

std::string SnapshotStore::snapshot_file(const std::string& source, const std::string& db,
                                         const std::string& snapshot) const {
    return source_dir(source) + "/" + db + "/" + snapshot + ".db";
}

std::vector<std::string> SnapshotStore::sources() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (fs::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec))
        if (it->is_directory(ec)) out.push_back(it->path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::string> SnapshotStore::snapshots(const std::string& source) const {
    std::vector<std::string> out;
    std::error_code ec;
    for (fs::directory_iterator it(source_dir(source) + "/current", ec), end; !ec && it != end;
         it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.size() > 3 && name.ends_with(".db") &&
            snapshot_time(name.substr(0, name.size() - 3)))
            out.push_back(name.substr(0, name.size() - 3));
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string SnapshotStore::next_snapshot_id(const std::string& source, std::int64_t now) const {
    std::vector<std::string> existing = snapshots(source);
    std::int64_t at = now;
    while (std::find(existing.begin(), existing.end(), snapshot_id_for(at)) != existing.end())
        ++at;
    return snapshot_id_for(at);
}

std::string SnapshotStore::store_database(const std::string& source, const std::string& db,
                                          const std::string& snapshot, const std::string& from) {
    return rename_into(from, snapshot_file(source, db, snapshot));
}

bool SnapshotStore::has_media(const std::string& source, const MediaEntry& entry) const {
    std::error_code ec;
    auto have = fs::file_size(source_dir(source) + "/media/" + entry.relative_path(), ec);
    return !ec && static_cast<std::int64_t>(have) == entry.size;
}

std::string SnapshotStore::store_media(const std::string& source, const MediaEntry& entry,
                                       const std::string& from) {
    return rename_into(from, source_dir(source) + "/media/" + entry.relative_path());
}

std::int64_t SnapshotStore::remove_unlisted_media(const std::string& source,
                                                  const std::set<std::string>& listed) {
    const std::string dir = source_dir(source) + "/media";
    std::string error;
    std::int64_t removed = 0;
    for (const auto& entry : list_media(dir, error)) {
        if (listed.contains(entry.relative_path())) continue;
        std::error_code ec;
        if (fs::remove(dir + "/" + entry.relative_path(), ec)) ++removed;
    }
    if (!error.empty()) spdlog::warn("backup: {}", error);
    return removed;
}

std::vector<std::string> SnapshotStore::prune(const std::string& source) {
    std::vector<std::string> ids = snapshots(source);
    std::set<std::string> keep = retention_.keep(ids);
    std::vector<std::string> pruned;
    for (const auto& id : ids) {
        if (keep.contains(id)) continue;
        std::error_code ec;
        for (const char* db : kDatabases)
            fs::remove(snapshot_file(source, db, id), ec);
        pruned.push_back(id);
    }
    if (!pruned.empty()) {
        for (const char* db : kDatabases)
            files_.fsync_directory(source_dir(source) + "/" + db);
        spdlog::info("backup: pruned {} snapshot(s) of '{}' (keeping {} daily, {} weekly)",
                     pruned.size(), source, retention_.daily, retention_.weekly);
    }
    return pruned;
}

}  // namespace parley
