#include "server/bot_admin.hpp"

#include <filesystem>
#include <iostream>

#include <spdlog/spdlog.h>

#include "common/db/sqlite.hpp"
#include "common/dir_lock.hpp"
#include "server/data/audit_log.hpp"
#include "server/data/bot_store.hpp"
#include "server/db/migrations.hpp"
#include "server/model/account.hpp"

namespace parley {

int run_make_bot(const ServerConfig& config, const std::string& username) {
    if (auto problem = check_username(username); !problem.empty()) {
        std::cerr << "parley server: " << problem << "\n";
        return 1;
    }
    std::string error;
    auto lock = DirectoryLock::acquire(config.data_dir, error);
    if (!lock) {
        std::cerr << "parley server: " << error << " (stop the server first, or use POST "
                  << "/api/v1/admin/bots)\n";
        return 1;
    }
    try {
        std::string db_dir = config.data_dir + "/db";
        std::filesystem::create_directories(db_dir);
        SqliteDb db(db_dir + "/current.db", SqliteOptions{});
        apply_migrations(db, current_migrations(), "current");
        CreatedBot bot = BotStore::create_remote_bot(db, username);
        {
            SqliteDb history_db(db_dir + "/history.db", SqliteOptions{});
            apply_migrations(history_db, history_migrations(), "history");
        }
        AuditLog audit(db_dir + "/history.db", SqliteOptions{});
        audit.record(now_ms(), "command-line", "bot.create", {{"bot", bot.account.id}});
        spdlog::info("remote bot {} ('{}') created (command line)", bot.account.id, username);
        std::cout << "account_id = " << bot.account.id << "\nbot_key = " << bot.bot_key
                  << "\n# The key is shown only now: keep it in a file readable only by the "
                     "bot (key_file in the bot client's configuration).\n";
        return 0;
    } catch (const std::runtime_error& e) {
        std::cerr << "parley server: " << e.what() << "\n";
        return 1;
    }
}

}  // namespace parley
