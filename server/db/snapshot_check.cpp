#include "server/db/snapshot_check.hpp"

#include <exception>

#include <fmt/format.h>

#include "common/db/sqlite.hpp"
#include "server/db/migrations.hpp"

namespace parley {

namespace {

// The row counts a drill reports, and the one relation whose break would lose messages.
void check_current(SqliteDb& conn, nlohmann::json& facts) {
    // From schema 9 on, a message is in the indexed table or in the message log: the view
    // counts both; an older snapshot has only the table.
    const std::string messages =
        conn.query_int64("SELECT count(*) FROM sqlite_master WHERE name = 'all_messages'") > 0
            ? "all_messages"
            : "messages";
    for (const char* table : {"accounts", "rooms", "media"})
        facts[table] = conn.query_int64(std::string("SELECT count(*) FROM ") + table);
    facts["messages"] = conn.query_int64("SELECT count(*) FROM " + messages);
    const std::int64_t orphans =
        conn.query_int64("SELECT count(*) FROM " + messages +
                         " m LEFT JOIN rooms r ON r.id = m.room_id WHERE r.id IS NULL");
    if (orphans != 0) throw std::runtime_error(fmt::format("{} messages without a room", orphans));
}

}  // namespace

SnapshotVerdict verify_server_snapshot(std::string_view db_name, const std::string& path) {
    SnapshotVerdict verdict;
    if (db_name != "current" && db_name != "history") {
        verdict.problem = fmt::format("{}: not a database of the server", db_name);
        return verdict;
    }
    try {
        // The copy opens like the server would open it, at a schema it knows.
        SqliteOptions options;
        options.mode = OpenMode::read_only;
        SqliteDb conn(path, options);
        const auto migrations = db_name == "current" ? current_migrations() : history_migrations();
        const int version = schema_version(conn);
        if (version < 1 || version > migrations.back().version) {
            verdict.problem =
                fmt::format("{}: schema version {} is not one this build knows", db_name, version);
            return verdict;
        }
        verdict.facts["schema"] = version;
        if (db_name == "current") check_current(conn, verdict.facts);
    } catch (const std::exception& e) {
        verdict.problem = e.what();
    }
    return verdict;
}

}  // namespace parley
