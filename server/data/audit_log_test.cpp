// AuditLog: rows land in history.db's audit_log, newest first.
#include "server/data/audit_log.hpp"

#include <filesystem>

#include <catch2/catch.hpp>

#include "server/db/migrations.hpp"

namespace parley {

TEST_CASE("audit rows are written and read back newest first", "[server][audit]") {
    auto dir = std::filesystem::temp_directory_path() / "parley-audit-test";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    std::string path = (dir / "history.db").string();
    {
        SqliteDb db(path);
        apply_migrations(db, history_migrations(), "history");
    }
    AuditLog audit(path, SqliteOptions{});
    audit.record(1, "account:a", "manager.ping", {{"target", "local"}, {"outcome", "ok"}});
    audit.record(2, "command-line", "account.role", {{"to", "admin"}});
    auto rows = audit.recent(10);
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].action == "account.role");
    CHECK(rows[1].actor == "account:a");
    CHECK(nlohmann::json::parse(rows[1].detail)["outcome"] == "ok");
    std::filesystem::remove_all(dir);
}

}  // namespace parley
