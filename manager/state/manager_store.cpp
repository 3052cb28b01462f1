#include "manager/state/manager_store.hpp"

#include <array>

#include <spdlog/spdlog.h>

#include "common/db/migration_runner.hpp"

namespace parley {

namespace {

constexpr std::string_view manager_v1 = R"sql(
CREATE TABLE schedules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL CHECK (action IN ('restart', 'reboot')),
    at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'fired', 'done', 'failed', 'cancelled', 'missed')),
    finished_at INTEGER NOT NULL DEFAULT 0,
    outcome TEXT NOT NULL DEFAULT ''
);
CREATE INDEX schedules_pending_at ON schedules(at) WHERE state = 'pending';
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
)sql";

// Backup runs, on both sides: as source (sent to `peer`) and as target (received from it).
constexpr std::string_view manager_v2 = R"sql(
CREATE TABLE backup_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    role TEXT NOT NULL CHECK (role IN ('source', 'target')),
    peer TEXT NOT NULL,
    snapshot TEXT NOT NULL DEFAULT '',
    started_at INTEGER NOT NULL,
    finished_at INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done', 'failed')),
    detail TEXT NOT NULL DEFAULT '{}',
    drill TEXT NOT NULL DEFAULT ''
);
CREATE INDEX backup_runs_role ON backup_runs(role, id);
)sql";

constexpr std::array manager_list{
    Migration{1, "schedules and audit log", manager_v1},
    Migration{2, "backup runs", manager_v2},
};

constexpr std::string_view kColumns =
    "id, action, at, created_at, created_by, state, finished_at, outcome";

Schedule read_schedule(Statement& s) {
    Schedule out;
    out.id = s.column_int64(0);
    out.action = s.column_text(1);
    out.at_ms = s.column_int64(2);
    out.created_at_ms = s.column_int64(3);
    out.created_by = s.column_text(4);
    out.state = s.column_text(5);
    out.finished_at_ms = s.column_int64(6);
    out.outcome = s.column_text(7);
    return out;
}

SqliteDb open_database(const std::string& path) {
    SqliteOptions options;
    // See the header: a claimed schedule must stay claimed across a power cut.
    options.synchronous = "FULL";
    SqliteDb db(path, options);
    apply_migrations(db, manager_list, "manager");
    return db;
}

}  // namespace

nlohmann::json schedule_to_json(const Schedule& s) {
    nlohmann::json out{{"id", s.id},
                       {"action", s.action},
                       {"at", s.at_ms},
                       {"created_at", s.created_at_ms},
                       {"created_by", s.created_by},
                       {"state", s.state}};
    if (s.state != "pending") {
        out["finished_at"] = s.finished_at_ms;
        out["outcome"] = s.outcome;
    }
    return out;
}

ManagerStore::ManagerStore(const std::string& path) : db_(open_database(path)) {}

Schedule ManagerStore::add_schedule(const std::string& action, std::int64_t at_ms,
                                    std::int64_t now_ms, const std::string& created_by) {
    std::lock_guard lock(mutex_);
    auto insert = db_.cached(
        "INSERT INTO schedules (action, at, created_at, created_by) VALUES (?, ?, ?, ?)");
    insert->bind(1, action).bind(2, at_ms).bind(3, now_ms).bind(4, created_by);
    insert->run();
    Schedule s;
    s.id = db_.last_insert_rowid();
    s.action = action;
    s.at_ms = at_ms;
    s.created_at_ms = now_ms;
    s.created_by = created_by;
    s.state = "pending";
    return s;
}

std::optional<Schedule> ManagerStore::find_locked(std::int64_t id) {
    auto select =
        db_.cached(std::string("SELECT ") + std::string(kColumns) + " FROM schedules WHERE id = ?");
    select->bind(1, id);
    if (select->step() != StepResult::row) return std::nullopt;
    return read_schedule(*select);
}

std::optional<Schedule> ManagerStore::find_schedule(std::int64_t id) {
    std::lock_guard lock(mutex_);
    return find_locked(id);
}

std::optional<Schedule> ManagerStore::cancel_schedule(std::int64_t id, std::int64_t now_ms,
                                                      const std::string& by) {
    std::lock_guard lock(mutex_);
    {
        auto update = db_.cached(
            "UPDATE schedules SET state = 'cancelled', finished_at = ?, outcome = ? "
            "WHERE id = ? AND state = 'pending'");
        update->bind(1, now_ms).bind(2, "cancelled by " + by).bind(3, id);
        update->run();
    }
    if (db_.changes() == 0) return std::nullopt;
    return find_locked(id);
}

std::vector<Schedule> ManagerStore::list_schedules(bool include_finished, std::size_t limit) {
    std::lock_guard lock(mutex_);
    std::vector<Schedule> out;
    {
        auto pending =
            db_.cached(std::string("SELECT ") + std::string(kColumns) +
                       " FROM schedules WHERE state = 'pending' ORDER BY at, id LIMIT ?");
        pending->bind(1, static_cast<std::int64_t>(limit));
        while (pending->step() == StepResult::row)
            out.push_back(read_schedule(*pending));
    }
    if (include_finished) {
        auto finished = db_.cached(std::string("SELECT ") + std::string(kColumns) +
                                   " FROM schedules WHERE state != 'pending' ORDER BY id DESC "
                                   "LIMIT ?");
        finished->bind(1, static_cast<std::int64_t>(limit));
        while (finished->step() == StepResult::row)
            out.push_back(read_schedule(*finished));
    }
    return out;
}

std::size_t ManagerStore::pending_count() {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(
        db_.query_int64("SELECT count(*) FROM schedules WHERE state = 'pending'"));
}

std::vector<Schedule> ManagerStore::due_schedules(std::int64_t now_ms) {
    std::lock_guard lock(mutex_);
    std::vector<Schedule> out;
    auto select = db_.cached(std::string("SELECT ") + std::string(kColumns) +
                             " FROM schedules WHERE state = 'pending' AND at <= ? ORDER BY at, id");
    select->bind(1, now_ms);
    while (select->step() == StepResult::row)
        out.push_back(read_schedule(*select));
    return out;
}

bool ManagerStore::claim_schedule(std::int64_t id, const std::string& state, std::int64_t now_ms,
                                  const std::string& outcome) {
    std::lock_guard lock(mutex_);
    auto update = db_.cached(
        "UPDATE schedules SET state = ?, finished_at = ?, outcome = ? "
        "WHERE id = ? AND state = 'pending'");
    update->bind(1, state).bind(2, now_ms).bind(3, outcome).bind(4, id);
    update->run();
    return db_.changes() == 1;
}

void ManagerStore::finish_schedule(std::int64_t id, const std::string& state, std::int64_t now_ms,
                                   const std::string& outcome) {
    std::lock_guard lock(mutex_);
    auto update = db_.cached(
        "UPDATE schedules SET state = ?, finished_at = ?, outcome = ? "
        "WHERE id = ? AND state = 'fired'");
    update->bind(1, state).bind(2, now_ms).bind(3, outcome).bind(4, id);
    update->run();
}

void ManagerStore::audit(std::int64_t at_ms, const std::string& actor, const std::string& action,
                         const nlohmann::json& detail) {
    std::lock_guard lock(mutex_);
    auto insert =
        db_.cached("INSERT INTO audit_log (at, actor, action, detail) VALUES (?, ?, ?, ?)");
    insert->bind(1, at_ms).bind(2, actor).bind(3, action).bind(
        4, detail.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    insert->run();
}

std::int64_t ManagerStore::begin_backup_run(const std::string& role, const std::string& peer,
                                            std::int64_t now_ms) {
    std::lock_guard lock(mutex_);
    if (backup_history_keep_days_ > 0) {
        auto prune =
            db_.cached("DELETE FROM backup_runs WHERE state != 'running' AND finished_at < ?");
        prune->bind(1, now_ms - static_cast<std::int64_t>(backup_history_keep_days_) * 86'400'000);
        prune->run();
        if (db_.changes() > 0) {
            spdlog::info("backup history: {} runs older than {} days deleted", db_.changes(),
                         backup_history_keep_days_);
        }
    }
    auto insert = db_.cached("INSERT INTO backup_runs (role, peer, started_at) VALUES (?, ?, ?)");
    insert->bind(1, role).bind(2, peer).bind(3, now_ms);
    insert->run();
    return db_.last_insert_rowid();
}

void ManagerStore::finish_backup_run(std::int64_t id, const std::string& state, std::int64_t now_ms,
                                     const std::string& snapshot, const nlohmann::json& detail) {
    std::lock_guard lock(mutex_);
    auto update = db_.cached(
        "UPDATE backup_runs SET state = ?, finished_at = ?, snapshot = ?, detail = ? "
        "WHERE id = ?");
    update->bind(1, state)
        .bind(2, now_ms)
        .bind(3, snapshot)
        .bind(4, detail.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    update->bind(5, id);
    update->run();
}

void ManagerStore::set_backup_drill(std::int64_t id, const std::string& drill) {
    std::lock_guard lock(mutex_);
    auto update = db_.cached("UPDATE backup_runs SET drill = ? WHERE id = ?");
    update->bind(1, drill).bind(2, id);
    update->run();
}

std::size_t ManagerStore::fail_running_backups(std::int64_t now_ms, const std::string& why) {
    std::lock_guard lock(mutex_);
    auto update = db_.cached(
        "UPDATE backup_runs SET state = 'failed', finished_at = ?, "
        "detail = json_set(detail, '$.error', ?) WHERE state = 'running'");
    update->bind(1, now_ms).bind(2, why);
    update->run();
    return static_cast<std::size_t>(db_.changes());
}

std::vector<nlohmann::json> ManagerStore::backup_runs(const std::string& role, std::size_t limit) {
    std::lock_guard lock(mutex_);
    std::vector<nlohmann::json> out;
    auto select = db_.cached(
        "SELECT id, role, peer, snapshot, started_at, finished_at, state, detail, drill "
        "FROM backup_runs WHERE ? = '' OR role = ? ORDER BY id DESC LIMIT ?");
    select->bind(1, role).bind(2, role).bind(3, static_cast<std::int64_t>(limit));
    while (select->step() == StepResult::row) {
        nlohmann::json row{
            {"id", select->column_int64(0)},         {"role", select->column_text(1)},
            {"peer", select->column_text(2)},        {"snapshot", select->column_text(3)},
            {"started_at", select->column_int64(4)}, {"state", select->column_text(6)}};
        if (select->column_int64(5) != 0) row["finished_at"] = select->column_int64(5);
        nlohmann::json detail = nlohmann::json::parse(select->column_text(7), nullptr, false);
        if (detail.is_object()) row.update(detail);
        if (!select->column_text(8).empty()) row["drill"] = select->column_text(8);
        out.push_back(std::move(row));
    }
    return out;
}

std::vector<AuditEntry> ManagerStore::audit_entries(std::size_t limit) {
    std::lock_guard lock(mutex_);
    std::vector<AuditEntry> out;
    auto select =
        db_.cached("SELECT id, at, actor, action, detail FROM audit_log ORDER BY id DESC LIMIT ?");
    select->bind(1, static_cast<std::int64_t>(limit));
    while (select->step() == StepResult::row) {
        out.push_back(AuditEntry{select->column_int64(0), select->column_int64(1),
                                 select->column_text(2), select->column_text(3),
                                 select->column_text(4)});
    }
    return out;
}

}  // namespace parley
