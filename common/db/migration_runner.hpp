// The migration runner: brings a SQLite database's schema up to the last of a list of numbered
// migrations. Each database that uses it (the server's current.db and history.db, the
// manager's manager.db) keeps its own list as data beside its code; the database records the
// last migration applied in `PRAGMA user_version`. apply_migrations() runs at start-up on the
// read-write connection, before any other connection to the file exists: each pending
// migration runs in its own BEGIN IMMEDIATE transaction together with the user_version bump, so
// a crash leaves the database at a migration boundary and the next start resumes from there.
// A database whose version is newer than the list is refused (SchemaVersionError): an older
// parley must never write to a schema it does not understand.
// Lists are append-only: never edit a migration that has shipped, add the next number.
// Plain functions; the caller's thread owns the connection.
#pragma once

#include <span>
#include <string_view>

#include "common/db/sqlite.hpp"

namespace parley {

struct Migration {
    int version;  // 1, 2, 3, … without gaps
    std::string_view description;
    std::string_view sql;
    // For migrations that rebuild a table (SQLite's 12-step ALTER): foreign keys are switched
    // off around the transaction (the pragma is a no-op inside one), and PRAGMA
    // foreign_key_check must come back clean before the COMMIT.
    bool foreign_keys_off = false;
};

// The database's version is newer than the newest migration this binary knows.
class SchemaVersionError : public DbError {
  public:
    using DbError::DbError;
};

// PRAGMA user_version.
int schema_version(SqliteDb& db);

// Brings `db` up to the last migration of `migrations`; `db_name` names it in messages and
// logs ("current", "history", "manager"). Returns the version reached. Throws
// SchemaVersionError for a too-new database, DbError when a migration fails (that migration is
// rolled back; the ones before it stay applied).
int apply_migrations(SqliteDb& db, std::span<const Migration> migrations, std::string_view db_name);

}  // namespace parley
