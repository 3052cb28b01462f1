// AuditLog: rows of the `audit_log` table in data/db/history.db — who did what as an admin
// (admin routes to the manager, role changes from the command line). One connection of its own
// behind a mutex; record() is blocking (one small INSERT), so routes call it through offload().
// Thread-safe; owned by the server app (or the command that changes a role).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/db/sqlite.hpp"

namespace parley {

struct AuditRow {
    std::int64_t at = 0;
    std::string actor;
    std::string action;
    std::string detail;  // JSON text
};

class AuditLog {
  public:
    // Opens history.db (its migrations already applied); throws DbError.
    AuditLog(const std::string& path, const SqliteOptions& options);

    // Throws DbError.
    void record(std::int64_t at_ms, const std::string& actor, const std::string& action,
                const nlohmann::json& detail);
    // Newest first.
    std::vector<AuditRow> recent(std::size_t limit = 100);
    // Deletes the entries older than `before_ms`; returns how many went. Throws DbError.
    std::int64_t prune(std::int64_t before_ms);

  private:
    std::mutex mutex_;
    SqliteDb db_;
};

}  // namespace parley
