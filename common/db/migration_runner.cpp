#include "common/db/migration_runner.hpp"

#include <sqlite3.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace parley {

namespace {

void check_list(std::span<const Migration> migrations, std::string_view db_name) {
    for (std::size_t i = 0; i < migrations.size(); ++i) {
        if (migrations[i].version != static_cast<int>(i) + 1) {
            throw DbError(SQLITE_MISUSE,
                          fmt::format("{}.db migration list is not numbered 1..{} (entry {} has "
                                      "version {})",
                                      db_name, migrations.size(), i, migrations[i].version));
        }
    }
}

void apply_one(SqliteDb& db, const Migration& migration, std::string_view db_name) {
    if (migration.foreign_keys_off) db.exec("PRAGMA foreign_keys=OFF");
    // Foreign keys come back on whichever way this function leaves.
    struct RestoreForeignKeys {
        SqliteDb& db;
        bool needed;
        ~RestoreForeignKeys() {
            if (!needed) return;
            try {
                db.exec("PRAGMA foreign_keys=ON");
            } catch (...) {
            }
        }
    } restore{db, migration.foreign_keys_off};
    try {
        Transaction transaction(db, Transaction::Kind::immediate);
        // Read again under the write lock: another process may have migrated meanwhile.
        int version = schema_version(db);
        if (version >= migration.version) return;
        db.exec(migration.sql);
        if (migration.foreign_keys_off) {
            Statement check = db.prepare("PRAGMA foreign_key_check");
            if (check.step() == StepResult::row) {
                throw DbError(SQLITE_CONSTRAINT_FOREIGNKEY,
                              fmt::format("{}.db migration {} breaks a foreign key (table {})",
                                          db_name, migration.version, check.column_text(0)));
            }
        }
        // PRAGMA takes no bound parameters; the version is an integer we produce ourselves.
        db.exec(fmt::format("PRAGMA user_version={}", migration.version));
        transaction.commit();
    } catch (const DbError& error) {
        throw DbError(error.code(),
                      fmt::format("{}.db migration {} ({}) failed: {}", db_name, migration.version,
                                  migration.description, error.what()));
    }
}

}  // namespace

int schema_version(SqliteDb& db) {
    return static_cast<int>(db.query_int64("PRAGMA user_version"));
}

int apply_migrations(SqliteDb& db, std::span<const Migration> migrations,
                     std::string_view db_name) {
    check_list(migrations, db_name);
    const int known = static_cast<int>(migrations.size());
    int version = schema_version(db);
    if (version > known) {
        throw SchemaVersionError(
            SQLITE_ERROR,
            fmt::format("{}.db ({}) has schema version {}, newer than the newest this parley "
                        "knows ({}); it was written by a newer parley: upgrade parley or restore "
                        "a backup made by this version",
                        db_name, db.path(), version, known));
    }
    for (const Migration& migration : migrations) {
        if (migration.version <= version) continue;
        spdlog::info("{}.db: applying migration {} ({})", db_name, migration.version,
                     migration.description);
        apply_one(db, migration, db_name);
    }
    // Another process may have gone further while we waited for the lock.
    version = schema_version(db);
    if (version > known) {
        throw SchemaVersionError(
            SQLITE_ERROR,
            fmt::format("{}.db was migrated to version {} by a newer parley", db_name, version));
    }
    return version;
}

}  // namespace parley
