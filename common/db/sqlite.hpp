// SqliteDb: one SQLite connection (RAII), its prepared statements and its transactions. A
// library of its own (parley_sqlite), used by the server's data layer and by the manager
// (manager.db, backup snapshots).
//
// Owned by exactly one thread at a time: in the server, the data layer's writer thread owns the
// read-write connection and each reader thread owns one read-only connection (opened with
// SQLITE_OPEN_NOMUTEX, so a connection must never be used by two threads at once). Every
// failure inside the db layer throws DbError carrying SQLite's extended result code and message;
// the data layer turns it into a DbResult before it reaches a network thread.
//
// Durability. Every read-write connection runs in WAL mode with foreign keys on.
// `synchronous` defaults to NORMAL: in WAL mode a COMMIT has written its frames to the WAL
// (in the OS page cache) before it returns, so a committed transaction survives a crash of the
// process (kill -9), which is what "acknowledged only after commit" must guarantee for the
// common failure; the WAL is fsynced at checkpoints only, so a power loss or kernel crash may
// roll back the last acknowledged transactions (never corrupting the file). FULL fsyncs the WAL
// at every COMMIT and makes acknowledged writes survive power loss too; because the writer
// groups many jobs into one COMMIT, FULL costs one fsync per batch rather than per write, so
// hosts that need power-loss durability should set `synchronous = "FULL"` (see
// bench/group_commit_bench.cpp for both figures).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace parley {

// A failure reported by SQLite (or a misuse of this layer). `code()` is SQLite's extended
// result code (e.g. SQLITE_CONSTRAINT_UNIQUE); `primary_code()` its low byte (SQLITE_CONSTRAINT).
class DbError : public std::runtime_error {
  public:
    DbError(int code, const std::string& message);
    int code() const noexcept { return code_; }
    int primary_code() const noexcept { return code_ & 0xff; }
    bool is_busy() const noexcept;        // SQLITE_BUSY or SQLITE_LOCKED
    bool is_constraint() const noexcept;  // any SQLITE_CONSTRAINT_*

  private:
    int code_;
};

enum class StepResult { row, done };

// A prepared statement (RAII: finalized on destruction). Bind indexes start at 1, column
// indexes at 0, as in SQLite. Text and blob values are copied by SQLite when bound
// (SQLITE_TRANSIENT), so the caller's buffers may die right after bind().
class Statement {
  public:
    Statement() = default;
    ~Statement();
    Statement(Statement&& other) noexcept;
    Statement& operator=(Statement&& other) noexcept;
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int index, std::int64_t value);
    Statement& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
    Statement& bind(int index, double value);
    Statement& bind(int index, std::string_view text);
    Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
    Statement& bind(int index, const std::string& text) {
        return bind(index, std::string_view(text));
    }
    Statement& bind(int index, std::nullptr_t);
    Statement& bind_blob(int index, std::span<const std::byte> bytes);
    Statement& bind_blob(int index, const void* data, std::size_t size);
    Statement& bind_null(int index);
    // Bound without a copy (SQLITE_STATIC), for hot paths: the caller keeps the bytes alive and
    // unchanged until the statement is reset (for a cached statement, until its handle dies).
    Statement& bind_borrowed(int index, std::string_view text);
    Statement& bind_blob_borrowed(int index, const void* data, std::size_t size);

    // Runs the statement one step; throws DbError on failure.
    StepResult step();
    // Steps to completion, ignoring rows (for INSERT/UPDATE/DELETE).
    void run();
    // Ready to run again; bindings are cleared too so a stale value can never leak into the
    // next use of a cached statement.
    void reset() noexcept;

    int column_count() const;
    bool column_is_null(int column) const;
    std::int64_t column_int64(int column) const;
    double column_double(int column) const;
    std::string column_text(int column) const;
    std::vector<std::byte> column_blob(int column) const;
    // The blob as a view valid until the next step(), reset() or column call on this column.
    std::span<const std::byte> column_blob_view(int column) const;

    sqlite3_stmt* handle() const noexcept { return stmt_; }
    explicit operator bool() const noexcept { return stmt_ != nullptr; }

  private:
    friend class SqliteDb;
    Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
    [[noreturn]] void fail(int rc, std::string_view what) const;
    void check_bind(int rc, int index);

    sqlite3* db_ = nullptr;
    sqlite3_stmt* stmt_ = nullptr;
};

// A statement borrowed from a connection's cache; resets it when it goes out of scope, so a
// half-stepped SELECT never keeps a read transaction (and its WAL snapshot) open.
class CachedStatement {
  public:
    CachedStatement(CachedStatement&& other) noexcept;
    CachedStatement& operator=(CachedStatement&&) = delete;
    CachedStatement(const CachedStatement&) = delete;
    ~CachedStatement();

    Statement* operator->() const noexcept { return stmt_; }
    Statement& operator*() const noexcept { return *stmt_; }

  private:
    friend class SqliteDb;
    CachedStatement(Statement* stmt, bool* in_use) : stmt_(stmt), in_use_(in_use) {}
    Statement* stmt_;
    bool* in_use_;
};

enum class OpenMode { read_write_create, read_write, read_only };

struct SqliteOptions {
    OpenMode mode = OpenMode::read_write_create;
    int busy_timeout_ms = 5000;
    // OFF, NORMAL, FULL or EXTRA; applied to read-write connections (see the header comment).
    std::string synchronous = "NORMAL";
};

class SqliteDb {
  public:
    // Opens (or creates) `path` and applies the pragmas; throws DbError on failure.
    explicit SqliteDb(const std::string& path, const SqliteOptions& options = {});
    ~SqliteDb();
    SqliteDb(SqliteDb&& other) noexcept;
    SqliteDb& operator=(SqliteDb&& other) noexcept;
    SqliteDb(const SqliteDb&) = delete;
    SqliteDb& operator=(const SqliteDb&) = delete;

    // Runs one or more SQL statements separated by semicolons (no results).
    void exec(std::string_view sql);
    Statement prepare(std::string_view sql);
    // The connection's prepared copy of `sql` (prepared on first use, reused after). The same
    // SQL cannot be borrowed twice at once (DbError SQLITE_MISUSE): nest with prepare() instead.
    CachedStatement cached(std::string_view sql);

    // The first column of the first row of `sql` as an integer (e.g. PRAGMA user_version);
    // throws DbError if there is no row.
    std::int64_t query_int64(std::string_view sql);
    std::string query_text(std::string_view sql);

    void set_busy_timeout(int milliseconds);
    // OFF, NORMAL, FULL or EXTRA (any case); DbError SQLITE_MISUSE for anything else.
    void set_synchronous(std::string_view level);
    bool in_transaction() const noexcept;
    std::int64_t changes() const noexcept;
    std::int64_t last_insert_rowid() const noexcept;
    bool read_only() const noexcept { return read_only_; }
    const std::string& path() const noexcept { return path_; }
    sqlite3* handle() const noexcept { return db_; }

    // Drops every cached statement (e.g. before closing or after a schema rebuild).
    void clear_cache() noexcept;

  private:
    struct CacheEntry {
        Statement statement;
        bool in_use = false;
    };
    [[noreturn]] void fail(int rc, std::string_view what) const;
    void close() noexcept;

    sqlite3* db_ = nullptr;
    std::string path_;
    bool read_only_ = false;
    // Looked up by the SQL's view: a use of a cached statement copies no text. The hash reads
    // the length and five words spread over the text, not every byte: statements are hundreds
    // of bytes long and differ in length or in most places, and a full hash cost about 220
    // instructions a use (callgrind), the writer's statements several times a message. Two
    // statements that share a hash only share a bucket: the equality test tells them apart.
    struct SqlHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view sql) const noexcept {
            // Below 32 bytes the words would reach past the end.
            if (sql.size() < 32) return std::hash<std::string_view>{}(sql);
            std::uint64_t h = sql.size() * 0x9E3779B97F4A7C15ULL;
            const std::size_t at[] = {0, sql.size() / 4, sql.size() / 2, sql.size() * 3 / 4,
                                      sql.size() - 8};
            for (std::size_t a : at) {
                std::uint64_t word;
                std::memcpy(&word, sql.data() + a, sizeof word);
                h = (h ^ word) * 0xFF51AFD7ED558CCDULL;
                h ^= h >> 32;
            }
            return static_cast<std::size_t>(h);
        }
    };
    // unique_ptr keeps entries at a stable address while the map rehashes.
    std::unordered_map<std::string, std::unique_ptr<CacheEntry>, SqlHash, std::equal_to<>> cache_;
};

// BEGIN … COMMIT (RAII): rolls back on destruction unless commit() succeeded.
class Transaction {
  public:
    enum class Kind { deferred, immediate, exclusive };
    explicit Transaction(SqliteDb& db, Kind kind = Kind::immediate);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

    void commit();
    void rollback() noexcept;

  private:
    SqliteDb& db_;
    bool open_ = true;
};

// SAVEPOINT name … RELEASE (RAII): on destruction without release(), rolls back to the
// savepoint and releases it, undoing only the work done since it began. Nests within a
// Transaction, another Savepoint, or on its own (then it acts as a transaction).
class Savepoint {
  public:
    // `name` is an SQL identifier: letters, digits and underscores only.
    Savepoint(SqliteDb& db, std::string name);
    ~Savepoint();
    Savepoint(const Savepoint&) = delete;
    Savepoint& operator=(const Savepoint&) = delete;

    void release();
    void rollback() noexcept;

  private:
    SqliteDb& db_;
    std::string name_;
    bool open_ = true;
};

}  // namespace parley
