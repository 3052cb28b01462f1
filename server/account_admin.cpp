#include "server/account_admin.hpp"

#include <filesystem>
#include <iostream>

#include <spdlog/spdlog.h>

#include "common/db/sqlite.hpp"
#include "common/dir_lock.hpp"
#include "server/data/account_store.hpp"
#include "server/data/audit_log.hpp"
#include "server/db/migrations.hpp"
#include "server/model/account.hpp"

namespace parley {

int run_set_admin(const ServerConfig& config, const std::string& username, bool admin) {
    std::string error;
    auto lock = DirectoryLock::acquire(config.data_dir, error);
    if (!lock) {
        std::cerr << "parley server: " << error << " (stop the server first)\n";
        return 1;
    }
    std::string path = config.data_dir + "/db/current.db";
    if (!std::filesystem::exists(path)) {
        std::cerr << "parley server: no database at " << path << "\n";
        return 1;
    }
    try {
        SqliteDb db(path, SqliteOptions{OpenMode::read_write});
        apply_migrations(db, current_migrations(), "current");
        const char* next = admin ? "admin" : "user";
        auto change = AccountStore::change_role(db, username, next);
        if (change.status == AccountStore::RoleChange::Status::no_account) {
            std::cerr << "parley server: no account named '" << username << "'\n";
            return 1;
        }
        const std::string& id = change.account.id;
        const std::string& name = change.account.username;
        const std::string& role = change.account.role;
        if (change.status == AccountStore::RoleChange::Status::refused_bot) {
            std::cerr << "parley server: '" << name
                      << "' is a bot account; bots cannot be admins\n";
            return 1;
        }
        spdlog::info("account {} ('{}'): role {} -> {} (command line)", id, name, role, next);
        {
            std::string history = config.data_dir + "/db/history.db";
            SqliteDb history_db(history, SqliteOptions{});
            apply_migrations(history_db, history_migrations(), "history");
        }
        AuditLog audit(config.data_dir + "/db/history.db", SqliteOptions{});
        audit.record(now_ms(), "command-line", "account.role",
                     {{"account", id}, {"from", role}, {"to", next}});
        std::cout << "account " << id << " (" << name << ") now has the role " << next << "\n";
        return 0;
    } catch (const DbError& e) {
        std::cerr << "parley server: database error: " << e.what() << "\n";
        return 1;
    }
}

}  // namespace parley
