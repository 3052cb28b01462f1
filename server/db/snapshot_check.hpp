// verify_server_snapshot(): what the server knows about a copy of one of its databases, for a
// backup's restore drill (docs/backups.md). The manager copies a stored snapshot aside and
// checks SQLite's integrity itself; this says whether the server could open the copy — at a
// schema version this build knows — and whether its rows hang together, so the manager never
// has to know the server's tables. Opens the file read-only and never writes to it.
// A plain function: any thread, one call per file.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace parley {

struct SnapshotVerdict {
    // Empty when the copy is usable; else why not, naming the database.
    std::string problem;
    // What was found: {"schema": version} and, for current.db, the row counts of accounts,
    // rooms, messages and media.
    nlohmann::json facts = nlohmann::json::object();
};

// `db_name` is "current" or "history" (the file's name in the server's db/ directory).
SnapshotVerdict verify_server_snapshot(std::string_view db_name, const std::string& path);

}  // namespace parley
