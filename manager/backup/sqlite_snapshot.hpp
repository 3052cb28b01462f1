// Consistent copies and checks of SQLite databases for backups (docs/backups.md).
//
// take_snapshot() copies a live database — one the server keeps writing — through SQLite's
// online backup API in a single step on a dedicated read connection: in WAL mode that holds
// one read transaction, so writers never wait for it (only checkpoints stop short until it
// ends). The copy is switched to rollback-journal mode, so the file stands alone (no -wal), and
// fsynced. check_database() runs `PRAGMA integrity_check` (full) or `quick_check` on a file
// opened read-only and immutable. Plain blocking functions, thread-safe; run them off the
// event loop.
#pragma once

#include <cstdint>
#include <string>

namespace parley {

struct SnapshotResult {
    std::string error;  // empty on success
    std::int64_t bytes = 0;
    std::int64_t millis = 0;
};

// Copies `source` (a database path) to `destination` (replaced if present). The copy is not
// fsynced yet: fsync_file() does that, beside the transfer.
SnapshotResult take_snapshot(const std::string& source, const std::string& destination);

// fsyncs a file and its directory; "" or the problem.
std::string fsync_file(const std::string& path);

enum class CheckKind { integrity, quick };

// "ok", or what SQLite reported (at most a few lines), or why the file could not be checked.
std::string check_database(const std::string& path, CheckKind kind);

// Creates `path` and copies `from` into it through a temp file, fsynced and renamed (the
// directory fsynced too); hashes the bytes as they are copied. Returns "" or the problem.
std::string copy_file_durably(const std::string& from, const std::string& path,
                              std::string* sha256_hex_out = nullptr);

// SHA-256 of a whole file, lowercase hex; empty when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace parley
