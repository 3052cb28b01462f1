#include "manager/backup/sqlite_snapshot.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <vector>

#include <fmt/format.h>

#include "common/crypto.hpp"
#include "common/file_util.hpp"

namespace parley {

namespace {

struct Connection {
    sqlite3* db = nullptr;
    ~Connection() {
        if (db) sqlite3_close_v2(db);
    }
    std::string message() const { return db ? sqlite3_errmsg(db) : "out of memory"; }
};

std::string fsync_path(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fmt::format("cannot open {}: {}", path, std::strerror(errno));
    int rc = ::fsync(fd);
    int saved = errno;
    ::close(fd);
    if (rc != 0) return fmt::format("cannot fsync {}: {}", path, std::strerror(saved));
    return {};
}

std::string uri_for(const std::string& path, const char* query) {
    std::string uri = "file:";
    for (char c : std::filesystem::absolute(path).string()) {
        if (c == '?' || c == '#' || c == '%') {
            uri += fmt::format("%{:02X}", static_cast<unsigned char>(c));
        } else {
            uri += c;
        }
    }
    return uri + "?" + query;
}

}  // namespace

SnapshotResult take_snapshot(const std::string& source, const std::string& destination) {
    SnapshotResult result;
    const auto started = std::chrono::steady_clock::now();
    std::error_code ec;
    std::filesystem::remove(destination, ec);
    std::filesystem::remove(destination + "-journal", ec);

    Connection from;
    // Read-only: the backup never writes the live database; a short busy timeout covers the
    // moment a checkpoint or WAL recovery holds it.
    if (sqlite3_open_v2(source.c_str(), &from.db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
        result.error = fmt::format("cannot open {}: {}", source, from.message());
        return result;
    }
    sqlite3_busy_timeout(from.db, 10'000);
    Connection to;
    if (sqlite3_open_v2(destination.c_str(), &to.db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
        result.error = fmt::format("cannot create {}: {}", destination, to.message());
        return result;
    }
    // The copy is scratch until it is fsynced below: no journal, no syncs while it is written.
    sqlite3_exec(to.db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF", nullptr, nullptr,
                 nullptr);
    sqlite3_backup* backup = sqlite3_backup_init(to.db, "main", from.db, "main");
    if (!backup) {
        result.error = fmt::format("cannot start the backup of {}: {}", source, to.message());
        return result;
    }
    // One step copies every page under one read transaction: a backup in several steps would
    // restart whenever the server commits in between.
    int rc = sqlite3_backup_step(backup, -1);
    int finish = sqlite3_backup_finish(backup);
    if (rc != SQLITE_DONE || finish != SQLITE_OK) {
        result.error = fmt::format("backup of {} failed: {}", source,
                                   sqlite3_errstr(rc != SQLITE_DONE ? rc : finish));
        return result;
    }
    // The pages carry the live database's WAL flag; a snapshot is one self-contained file.
    char* message = nullptr;
    if (sqlite3_exec(to.db, "PRAGMA journal_mode=DELETE", nullptr, nullptr, &message) !=
        SQLITE_OK) {
        result.error = fmt::format("cannot finish {}: {}", destination, message ? message : "?");
        sqlite3_free(message);
        return result;
    }
    sqlite3_close_v2(to.db);
    to.db = nullptr;
    result.bytes = static_cast<std::int64_t>(std::filesystem::file_size(destination, ec));
    result.millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    return result;
}

std::string fsync_file(const std::string& path) {
    if (std::string problem = fsync_path(path); !problem.empty()) return problem;
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    fsync_directory(parent.empty() ? "." : parent.string());
    return {};
}

std::string check_database(const std::string& path, CheckKind kind) {
    if (!std::filesystem::is_regular_file(path)) return "no such file: " + path;
    Connection db;
    // immutable: nothing else writes the file, so SQLite takes no locks and makes no -shm.
    const std::string uri = uri_for(path, "mode=ro&immutable=1");
    if (sqlite3_open_v2(uri.c_str(), &db.db,
                        SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
        return fmt::format("cannot open {}: {}", path, db.message());
    }
    // A large page cache keeps the check from reading pages twice.
    sqlite3_exec(db.db, "PRAGMA cache_size=-262144; PRAGMA mmap_size=4294967296", nullptr, nullptr,
                 nullptr);
    sqlite3_stmt* stmt = nullptr;
    const char* sql =
        kind == CheckKind::integrity ? "PRAGMA integrity_check(20)" : "PRAGMA quick_check(20)";
    if (sqlite3_prepare_v2(db.db, sql, -1, &stmt, nullptr) != SQLITE_OK) {
        return fmt::format("cannot check {}: {}", path, db.message());
    }
    std::string out;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
        if (!out.empty()) out += "; ";
        out += text ? text : "";
    }
    if (rc != SQLITE_DONE) {
        out = fmt::format("check of {} failed: {}", path, db.message());
    }
    sqlite3_finalize(stmt);
    if (out.empty()) out = "no answer from the check";
    if (out.size() > 2000) out.resize(2000);
    return out;
}

std::string copy_file_durably(const std::string& from, const std::string& path,
                              std::string* sha256_hex_out) {
    int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) return fmt::format("cannot open {}: {}", from, std::strerror(errno));
    const std::string temp = path + ".part";
    int out = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        int saved = errno;
        ::close(in);
        return fmt::format("cannot create {}: {}", temp, std::strerror(saved));
    }
    Sha256 hash;
    std::vector<char> buffer(1 << 20);
    std::string problem;
    for (;;) {
        ssize_t n = ::read(in, buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            problem = fmt::format("cannot read {}: {}", from, std::strerror(errno));
            break;
        }
        if (n == 0) break;
        hash.update(buffer.data(), static_cast<std::size_t>(n));
        for (ssize_t done = 0; done < n;) {
            ssize_t w = ::write(out, buffer.data() + done, static_cast<std::size_t>(n - done));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) {
                problem = fmt::format("cannot write {}: {}", temp, std::strerror(errno));
                break;
            }
            done += w;
        }
        if (!problem.empty()) break;
    }
    ::close(in);
    if (problem.empty() && ::fsync(out) != 0) {
        problem = fmt::format("cannot fsync {}: {}", temp, std::strerror(errno));
    }
    ::close(out);
    if (problem.empty() && ::rename(temp.c_str(), path.c_str()) != 0) {
        problem = fmt::format("cannot rename {} to {}: {}", temp, path, std::strerror(errno));
    }
    if (!problem.empty()) {
        ::unlink(temp.c_str());
        return problem;
    }
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    fsync_directory(parent.empty() ? "." : parent.string());
    if (sha256_hex_out) *sha256_hex_out = hex_encode(hash.finish());
    return {};
}

std::string sha256_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    Sha256 hash;
    std::vector<char> buffer(1 << 20);
    for (;;) {
        ssize_t n = ::read(fd, buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            ::close(fd);
            return {};
        }
        if (n == 0) break;
        hash.update(buffer.data(), static_cast<std::size_t>(n));
    }
    ::close(fd);
    return hex_encode(hash.finish());
}

}  // namespace parley
