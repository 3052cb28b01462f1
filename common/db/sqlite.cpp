#include "common/db/sqlite.hpp"
#include "common/db/sqlite_process.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <utility>

#include <fmt/format.h>

namespace parley {

namespace {

std::string errmsg(sqlite3* db, int rc) {
    // sqlite3_errmsg describes the most recent failure of the connection, which is the one we
    // are reporting; without a connection (open failed early) only the code's text is known.
    if (db != nullptr) return sqlite3_errmsg(db);
    return sqlite3_errstr(rc);
}

int extended_code(sqlite3* db, int rc) {
    if (db == nullptr) return rc;
    int extended = sqlite3_extended_errcode(db);
    // The connection's code is only trustworthy when it matches the failure we saw.
    return (extended & 0xff) == (rc & 0xff) ? extended : rc;
}

// Shortens SQL quoted in error messages; the full text is in the source.
std::string_view sql_excerpt(std::string_view sql) {
    constexpr std::size_t max = 120;
    return sql.size() <= max ? sql : sql.substr(0, max);
}

}  // namespace

// ---- DbError -------------------------------------------------------------------------------

DbError::DbError(int code, const std::string& message) : std::runtime_error(message), code_(code) {}

bool DbError::is_busy() const noexcept {
    return primary_code() == SQLITE_BUSY || primary_code() == SQLITE_LOCKED;
}

bool DbError::is_constraint() const noexcept {
    return primary_code() == SQLITE_CONSTRAINT;
}

// ---- Statement -----------------------------------------------------------------------------

Statement::~Statement() {
    if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

Statement::Statement(Statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), stmt_(std::exchange(other.stmt_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
    if (this != &other) {
        if (stmt_ != nullptr) sqlite3_finalize(stmt_);
        db_ = std::exchange(other.db_, nullptr);
        stmt_ = std::exchange(other.stmt_, nullptr);
    }
    return *this;
}

void Statement::fail(int rc, std::string_view what) const {
    const char* sql = stmt_ != nullptr ? sqlite3_sql(stmt_) : nullptr;
    throw DbError(extended_code(db_, rc), fmt::format("{}: {} (SQL: {})", what, errmsg(db_, rc),
                                                      sql_excerpt(sql != nullptr ? sql : "")));
}

void Statement::check_bind(int rc, int index) {
    if (rc != SQLITE_OK) fail(rc, fmt::format("bind parameter {}", index));
}

Statement& Statement::bind(int index, std::int64_t value) {
    check_bind(sqlite3_bind_int64(stmt_, index, value), index);
    return *this;
}

Statement& Statement::bind(int index, double value) {
    check_bind(sqlite3_bind_double(stmt_, index, value), index);
    return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
    // A null data pointer would bind NULL; an empty string must stay an empty TEXT.
    const char* data = text.data() != nullptr ? text.data() : "";
    check_bind(sqlite3_bind_text64(stmt_, index, data, text.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
               index);
    return *this;
}

Statement& Statement::bind_borrowed(int index, std::string_view text) {
    const char* data = text.data() != nullptr ? text.data() : "";
    check_bind(sqlite3_bind_text64(stmt_, index, data, text.size(), SQLITE_STATIC, SQLITE_UTF8),
               index);
    return *this;
}

Statement& Statement::bind_blob_borrowed(int index, const void* data, std::size_t size) {
    static const char empty = 0;
    check_bind(
        sqlite3_bind_blob64(stmt_, index, data != nullptr ? data : &empty, size, SQLITE_STATIC),
        index);
    return *this;
}

Statement& Statement::bind(int index, std::nullptr_t) {
    return bind_null(index);
}

Statement& Statement::bind_blob(int index, std::span<const std::byte> bytes) {
    return bind_blob(index, bytes.data(), bytes.size());
}

Statement& Statement::bind_blob(int index, const void* data, std::size_t size) {
    // Same reason as for text: an empty blob is not NULL.
    static const char empty = 0;
    check_bind(
        sqlite3_bind_blob64(stmt_, index, data != nullptr ? data : &empty, size, SQLITE_TRANSIENT),
        index);
    return *this;
}

Statement& Statement::bind_null(int index) {
    check_bind(sqlite3_bind_null(stmt_, index), index);
    return *this;
}

StepResult Statement::step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return StepResult::row;
    if (rc == SQLITE_DONE) return StepResult::done;
    // Reset now so the statement does not keep a transaction busy while the error unwinds;
    // sqlite3_reset returns the same error, which we already have.
    int code = extended_code(db_, rc);
    std::string message = errmsg(db_, rc);
    sqlite3_reset(stmt_);
    const char* sql = sqlite3_sql(stmt_);
    throw DbError(
        code, fmt::format("step: {} (SQL: {})", message, sql_excerpt(sql != nullptr ? sql : "")));
}

void Statement::run() {
    while (step() == StepResult::row) {
    }
}

void Statement::reset() noexcept {
    if (stmt_ == nullptr) return;
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

int Statement::column_count() const {
    return sqlite3_column_count(stmt_);
}

bool Statement::column_is_null(int column) const {
    return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t Statement::column_int64(int column) const {
    return sqlite3_column_int64(stmt_, column);
}

double Statement::column_double(int column) const {
    return sqlite3_column_double(stmt_, column);
}

std::string Statement::column_text(int column) const {
    // Call text before bytes: the documented order that yields the length of the UTF-8 form.
    const auto* text = sqlite3_column_text(stmt_, column);
    int size = sqlite3_column_bytes(stmt_, column);
    if (text == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
}

std::vector<std::byte> Statement::column_blob(int column) const {
    auto view = column_blob_view(column);
    return {view.begin(), view.end()};
}

std::span<const std::byte> Statement::column_blob_view(int column) const {
    const void* data = sqlite3_column_blob(stmt_, column);
    int size = sqlite3_column_bytes(stmt_, column);
    if (data == nullptr || size <= 0) return {};
    return {static_cast<const std::byte*>(data), static_cast<std::size_t>(size)};
}

// ---- CachedStatement -----------------------------------------------------------------------

CachedStatement::CachedStatement(CachedStatement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)), in_use_(std::exchange(other.in_use_, nullptr)) {}

CachedStatement::~CachedStatement() {
    if (stmt_ != nullptr) stmt_->reset();
    if (in_use_ != nullptr) *in_use_ = false;
}

// ---- SqliteDb ------------------------------------------------------------------------------

SqliteDb::SqliteDb(const std::string& path, const SqliteOptions& options)
    : path_(path), read_only_(options.mode == OpenMode::read_only) {
    // NOMUTEX: a connection belongs to one thread at a time (see the header), so SQLite's
    // per-connection mutex would only cost time.
    int flags = SQLITE_OPEN_NOMUTEX;
    switch (options.mode) {
        case OpenMode::read_write_create:
            flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
            break;
        case OpenMode::read_write:
            flags |= SQLITE_OPEN_READWRITE;
            break;
        case OpenMode::read_only:
            flags |= SQLITE_OPEN_READONLY;
            break;
    }
    int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
        std::string message = errmsg(db_, rc);
        int code = extended_code(db_, rc);
        close();
        throw DbError(code, fmt::format("cannot open database {}: {}", path, message));
    }
    sqlite3_extended_result_codes(db_, 1);

    try {
        set_busy_timeout(options.busy_timeout_ms);
        exec("PRAGMA foreign_keys=ON");
        if (!read_only_) {
            // journal_mode answers the mode in force; anything but WAL (a read-only medium,
            // an in-memory database) means readers would block the writer.
            std::string mode = query_text("PRAGMA journal_mode=WAL");
            if (mode != "wal" && mode != "memory") {
                throw DbError(
                    SQLITE_ERROR,
                    fmt::format("cannot enable WAL on {} (journal_mode is {})", path, mode));
            }
            set_synchronous(options.synchronous);
        }
    } catch (...) {
        close();
        throw;
    }
}

SqliteDb::~SqliteDb() {
    close();
}

SqliteDb::SqliteDb(SqliteDb&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      path_(std::move(other.path_)),
      read_only_(other.read_only_),
      cache_(std::move(other.cache_)) {}

SqliteDb& SqliteDb::operator=(SqliteDb&& other) noexcept {
    if (this != &other) {
        close();
        db_ = std::exchange(other.db_, nullptr);
        path_ = std::move(other.path_);
        read_only_ = other.read_only_;
        cache_ = std::move(other.cache_);
    }
    return *this;
}

void SqliteDb::close() noexcept {
    cache_.clear();  // statements must be finalized before the connection closes
    if (db_ != nullptr) {
        // sqlite3_close_v2 defers the close until statements owned elsewhere are finalized
        // instead of failing with SQLITE_BUSY.
        sqlite3_close_v2(db_);
        db_ = nullptr;
    }
}

void SqliteDb::fail(int rc, std::string_view what) const {
    throw DbError(extended_code(db_, rc), fmt::format("{}: {}", what, errmsg(db_, rc)));
}

void SqliteDb::exec(std::string_view sql) {
    // sqlite3_exec needs a NUL-terminated string; a copy is cheap next to running SQL.
    std::string text(sql);
    char* message = nullptr;
    int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
    if (rc != SQLITE_OK) {
        std::string reason = message != nullptr ? message : errmsg(db_, rc);
        sqlite3_free(message);
        throw DbError(extended_code(db_, rc),
                      fmt::format("exec: {} (SQL: {})", reason, sql_excerpt(sql)));
    }
}

Statement SqliteDb::prepare(std::string_view sql) {
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    if (rc != SQLITE_OK) {
        int code = extended_code(db_, rc);
        std::string message = errmsg(db_, rc);
        sqlite3_finalize(stmt);
        throw DbError(code, fmt::format("prepare: {} (SQL: {})", message, sql_excerpt(sql)));
    }
    if (stmt == nullptr) {
        throw DbError(SQLITE_MISUSE,
                      fmt::format("prepare: no statement in SQL: {}", sql_excerpt(sql)));
    }
    // Text after the first statement would be silently ignored; that is always a bug.
    std::string_view rest(tail, static_cast<std::size_t>(sql.data() + sql.size() - tail));
    if (rest.find_first_not_of(" \t\r\n;") != std::string_view::npos) {
        sqlite3_finalize(stmt);
        throw DbError(SQLITE_MISUSE,
                      fmt::format("prepare: more than one statement in SQL: {}", sql_excerpt(sql)));
    }
    return Statement(db_, stmt);
}

CachedStatement SqliteDb::cached(std::string_view sql) {
    auto it = cache_.find(sql);
    if (it == cache_.end()) {
        auto entry = std::make_unique<CacheEntry>();
        entry->statement = prepare(sql);
        it = cache_.emplace(std::string(sql), std::move(entry)).first;
    }
    CacheEntry& entry = *it->second;
    if (entry.in_use) {
        throw DbError(SQLITE_MISUSE,
                      fmt::format("cached statement already in use (SQL: {})", sql_excerpt(sql)));
    }
    entry.in_use = true;
    return CachedStatement(&entry.statement, &entry.in_use);
}

std::int64_t SqliteDb::query_int64(std::string_view sql) {
    Statement statement = prepare(sql);
    if (statement.step() != StepResult::row) {
        throw DbError(SQLITE_ERROR, fmt::format("no row from SQL: {}", sql_excerpt(sql)));
    }
    return statement.column_int64(0);
}

std::string SqliteDb::query_text(std::string_view sql) {
    Statement statement = prepare(sql);
    if (statement.step() != StepResult::row) {
        throw DbError(SQLITE_ERROR, fmt::format("no row from SQL: {}", sql_excerpt(sql)));
    }
    return statement.column_text(0);
}

void SqliteDb::set_busy_timeout(int milliseconds) {
    int rc = sqlite3_busy_timeout(db_, milliseconds);
    if (rc != SQLITE_OK) fail(rc, "busy_timeout");
}

void SqliteDb::set_synchronous(std::string_view level) {
    std::string upper(level);
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (upper != "OFF" && upper != "NORMAL" && upper != "FULL" && upper != "EXTRA") {
        throw DbError(
            SQLITE_MISUSE,
            fmt::format("invalid synchronous setting '{}' (OFF, NORMAL, FULL or EXTRA)", level));
    }
    // Checked against a fixed list above: safe to splice into the pragma.
    exec("PRAGMA synchronous=" + upper);
}

bool SqliteDb::in_transaction() const noexcept {
    return sqlite3_get_autocommit(db_) == 0;
}

std::int64_t SqliteDb::changes() const noexcept {
    return sqlite3_changes64(db_);
}

std::int64_t SqliteDb::last_insert_rowid() const noexcept {
    return sqlite3_last_insert_rowid(db_);
}

void SqliteDb::clear_cache() noexcept {
    cache_.clear();
}

// ---- Transaction ---------------------------------------------------------------------------

Transaction::Transaction(SqliteDb& db, Kind kind) : db_(db) {
    switch (kind) {
        case Kind::deferred:
            db_.exec("BEGIN DEFERRED");
            break;
        case Kind::immediate:
            db_.exec("BEGIN IMMEDIATE");
            break;
        case Kind::exclusive:
            db_.exec("BEGIN EXCLUSIVE");
            break;
    }
}

Transaction::~Transaction() {
    rollback();
}

void Transaction::commit() {
    if (!open_) throw DbError(SQLITE_MISUSE, "commit: transaction already finished");
    // A failed COMMIT (deferred foreign key, SQLITE_BUSY, I/O) may leave the transaction open:
    // open_ stays true so the destructor rolls it back.
    db_.exec("COMMIT");
    open_ = false;
}

void Transaction::rollback() noexcept {
    if (!open_) return;
    open_ = false;
    // SQLite may already have rolled back on its own (e.g. after SQLITE_FULL or an I/O error).
    if (!db_.in_transaction()) return;
    try {
        db_.exec("ROLLBACK");
    } catch (...) {
        // Nothing sensible to do in a destructor; the connection reports the state next time.
    }
}

// ---- Savepoint -----------------------------------------------------------------------------

Savepoint::Savepoint(SqliteDb& db, std::string name) : db_(db), name_(std::move(name)) {
    bool valid = !name_.empty() && std::all_of(name_.begin(), name_.end(), [](unsigned char c) {
        return std::isalnum(c) != 0 || c == '_';
    });
    if (!valid) throw DbError(SQLITE_MISUSE, fmt::format("invalid savepoint name '{}'", name_));
    db_.exec("SAVEPOINT " + name_);
}

Savepoint::~Savepoint() {
    rollback();
}

void Savepoint::release() {
    if (!open_) throw DbError(SQLITE_MISUSE, "release: savepoint already finished");
    db_.exec("RELEASE " + name_);
    open_ = false;
}

void Savepoint::rollback() noexcept {
    if (!open_) return;
    open_ = false;
    if (!db_.in_transaction()) return;
    try {
        // ROLLBACK TO keeps the savepoint on the stack; RELEASE pops it so an enclosing
        // transaction goes on as if this savepoint had never begun.
        db_.exec("ROLLBACK TO " + name_);
        db_.exec("RELEASE " + name_);
    } catch (...) {
    }
}

bool configure_sqlite_process() {
    // No memory statistics: with them every sqlite3_malloc and sqlite3_free takes a process-wide
    // mutex (about eleven of each per chat message, docs/benchmarks.md), and Parley reads none.
    return sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, -1) == SQLITE_OK &&
           sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK;
}

}  // namespace parley
