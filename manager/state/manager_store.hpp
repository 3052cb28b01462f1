// ManagerStore: the manager's own SQLite state, <data dir>/manager.db: scheduled restarts and
// reboots, and the audit table of admin actions. Reuses the server's SQLite wrapper and
// migration runner (server/db), with its own migration list.
//
// A schedule moves pending -> fired -> done | failed, or pending -> cancelled | missed; rows
// are kept for history. claim() moves a due schedule out of `pending` in its own committed
// transaction *before* the action runs, so an action runs at most once even when it takes the
// manager down with it (a reboot): after the restart the row is no longer pending. The database
// runs with synchronous=FULL so that this commit also survives power loss.
//
// Owned by the manager's run function. Thread-safe: one connection behind a mutex (every call
// is a few small statements); blocking, so network coroutines call it through offload().
// Database failures throw DbError.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/db/sqlite.hpp"

namespace parley {

struct Schedule {
    std::int64_t id = 0;
    std::string action;      // "restart" (the server unit) or "reboot" (the host)
    std::int64_t at_ms = 0;  // when to run, Unix milliseconds
    std::int64_t created_at_ms = 0;
    std::string created_by;           // the API key's name, or "config"
    std::string state;                // pending, fired, done, failed, cancelled, missed
    std::int64_t finished_at_ms = 0;  // when it left pending (0 while pending)
    std::string outcome;              // what happened, readable (job result, error)
};

nlohmann::json schedule_to_json(const Schedule& schedule);

struct AuditEntry {
    std::int64_t id = 0;
    std::int64_t at_ms = 0;
    std::string actor;   // "<key name>@<peer>" or "scheduler"
    std::string action;  // the API method or "schedule.fire"
    std::string detail;  // JSON text
};

class ManagerStore {
  public:
    // Opens (creating) the database and brings its schema up to date; throws DbError.
    explicit ManagerStore(const std::string& path);

    Schedule add_schedule(const std::string& action, std::int64_t at_ms, std::int64_t now_ms,
                          const std::string& created_by);
    // Cancels a pending schedule; nullopt when there is no pending schedule with that id.
    std::optional<Schedule> cancel_schedule(std::int64_t id, std::int64_t now_ms,
                                            const std::string& by);
    std::optional<Schedule> find_schedule(std::int64_t id);
    // Pending schedules by time; with `include_finished`, also the most recent others.
    std::vector<Schedule> list_schedules(bool include_finished, std::size_t limit = 200);
    std::size_t pending_count();
    // Pending schedules whose time has come, oldest first.
    std::vector<Schedule> due_schedules(std::int64_t now_ms);
    // pending -> `state` (fired or missed), committed; false when it is no longer pending
    // (cancelled meanwhile), in which case the caller must not act.
    bool claim_schedule(std::int64_t id, const std::string& state, std::int64_t now_ms,
                        const std::string& outcome);
    // fired -> done or failed, with what happened.
    void finish_schedule(std::int64_t id, const std::string& state, std::int64_t now_ms,
                         const std::string& outcome);

    void audit(std::int64_t at_ms, const std::string& actor, const std::string& action,
               const nlohmann::json& detail);
    // Newest first.
    std::vector<AuditEntry> audit_entries(std::size_t limit = 100);

    // Backup runs (docs/backups.md): role "source" or "target", the other manager's name.
    // Finished runs older than the history retention go first.
    std::int64_t begin_backup_run(const std::string& role, const std::string& peer,
                                  std::int64_t now_ms);
    // How long finished backup runs are kept (days; 0, the default: forever).
    void set_backup_history_keep_days(int days) { backup_history_keep_days_ = days; }
    // state: done or failed; `detail` (sizes, durations, error) is merged into the row's JSON.
    void finish_backup_run(std::int64_t id, const std::string& state, std::int64_t now_ms,
                           const std::string& snapshot, const nlohmann::json& detail);
    // The restore drill's outcome: "ok" or "failed: ...".
    void set_backup_drill(std::int64_t id, const std::string& drill);
    // Runs left `running` by a manager that stopped; returns how many.
    std::size_t fail_running_backups(std::int64_t now_ms, const std::string& why);
    // Newest first; role "" for both.
    std::vector<nlohmann::json> backup_runs(const std::string& role, std::size_t limit);

  private:
    std::optional<Schedule> find_locked(std::int64_t id);

    std::mutex mutex_;
    SqliteDb db_;
    int backup_history_keep_days_ = 0;
};

}  // namespace parley
