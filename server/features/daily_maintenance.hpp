// DailyMaintenance: once a day, at [maintenance] daily_at (UTC), deletes what has outlived its
// retention:
// - sessions that ended more than session_keep_days ago (revoked then, or their refresh token
//   expired then), with their rotated refresh tokens, from current.db and from the in-memory
//   cache (which otherwise keeps every expired session for the life of the process);
// - audit entries older than audit_keep_days, from history.db;
// - stored notifications older than notification_keep_days, read or not, from current.db.
// A retention of 0 keeps that kind forever. Each pass logs one line with what went.
// The clock is injected: tests run a pass "at" any time (run_once) and production passes
// std::chrono::system_clock. One coroutine on the server's loop; the audit deletion runs on
// `blocking` (its own connection to history.db), the session and notification deletions are
// DbWriter jobs.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

#include "common/net.hpp"
#include "server/data/account_store.hpp"
#include "server/data/audit_log.hpp"
#include "server/data/notification_store.hpp"
#include "server/settings/server_config.hpp"

namespace parley {

class DailyMaintenance {
  public:
    using Clock = std::function<std::int64_t()>;  // Unix ms

    struct Report {
        std::int64_t sessions = 0;       // sessions deleted
        std::int64_t audit_entries = 0;  // audit entries deleted
        std::int64_t notifications = 0;  // notifications deleted
        std::string error;               // what failed, when something did (the rest still ran)
    };

    DailyMaintenance(net::any_io_executor executor, const MaintenanceSettings& settings,
                     AccountStore& accounts, AuditLog& audit, NotificationStore& notifications,
                     net::thread_pool& blocking, Clock clock);
    // Schedules the passes (none when daily_at is empty).
    void start();
    void stop();

    // One pass as of `now_ms`.
    awaitable<Report> run_once(std::int64_t now_ms);

  private:
    awaitable<void> run();

    net::steady_timer timer_;
    const MaintenanceSettings& settings_;
    AccountStore& accounts_;
    AuditLog& audit_;
    NotificationStore& notifications_;
    net::thread_pool& blocking_;
    Clock clock_;
    std::atomic<bool> stopped_{false};
};

}  // namespace parley
