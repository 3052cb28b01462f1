#include "server/features/daily_maintenance.hpp"

#include <spdlog/spdlog.h>

#include "common/daily_time.hpp"
#include "common/logging.hpp"
#include "common/offload.hpp"

namespace parley {

namespace {

constexpr std::int64_t kDayMs = 86'400'000;

// A DbWriter deletion's count into `count`, or its failure onto the report's errors.
void take(const DbResult<std::int64_t>& pruned, std::int64_t& count, const char* what,
          std::string& errors) {
    if (pruned) {
        count = pruned.value();
        return;
    }
    errors += (errors.empty() ? "" : "; ") + (what + (": " + pruned.error().message));
}

}  // namespace

DailyMaintenance::DailyMaintenance(net::any_io_executor executor,
                                   const MaintenanceSettings& settings, AccountStore& accounts,
                                   AuditLog& audit, NotificationStore& notifications,
                                   net::thread_pool& blocking, Clock clock)
    : timer_(executor),
      settings_(settings),
      accounts_(accounts),
      audit_(audit),
      notifications_(notifications),
      blocking_(blocking),
      clock_(std::move(clock)) {}

void DailyMaintenance::start() {
    if (minute_of_day(settings_.daily_at) < 0) {
        spdlog::info("daily maintenance: off ([maintenance] daily_at is empty)");
        return;
    }
    net::co_spawn(timer_.get_executor(), run(), [](std::exception_ptr e) {
        if (!e) return;
        spdlog::error("daily maintenance stopped: {}", exception_what(e));
    });
}

void DailyMaintenance::stop() {
    stopped_ = true;
    net::post(timer_.get_executor(), [this] { timer_.cancel(); });
}

awaitable<void> DailyMaintenance::run() {
    const int minute = minute_of_day(settings_.daily_at);
    while (!stopped_) {
        const std::int64_t now = clock_();
        const std::int64_t at = next_daily_ms(now, minute);
        spdlog::info("daily maintenance: next pass at {} UTC, in {} s", settings_.daily_at,
                     (at - now) / 1000);
        timer_.expires_after(std::chrono::milliseconds(at - now));
        boost::system::error_code ec;
        co_await timer_.async_wait(net::redirect_error(use_awaitable, ec));
        if (stopped_) break;
        co_await run_once(clock_());
    }
}

awaitable<DailyMaintenance::Report> DailyMaintenance::run_once(std::int64_t now_ms) {
    Report report;
    if (settings_.session_keep_days > 0) {
        const std::int64_t cutoff = now_ms - settings_.session_keep_days * kDayMs;
        auto pruned = co_await accounts_.prune_sessions(cutoff);
        take(pruned, report.sessions, "sessions", report.error);
    }
    if (settings_.audit_keep_days > 0) {
        const std::int64_t cutoff = now_ms - settings_.audit_keep_days * kDayMs;
        std::string failure;
        auto job = [this, cutoff, &failure]() noexcept {
            try {
                return audit_.prune(cutoff);
            } catch (const std::exception& e) {
                failure = e.what();
                return std::int64_t{0};
            }
        };
        report.audit_entries = co_await offload(blocking_, std::move(job));
        if (!failure.empty()) {
            report.error += (report.error.empty() ? "" : "; ") + ("audit log: " + failure);
        }
    }
    if (settings_.notification_keep_days > 0) {
        const std::int64_t cutoff = now_ms - settings_.notification_keep_days * kDayMs;
        auto pruned = co_await notifications_.prune(cutoff);
        take(pruned, report.notifications, "notifications", report.error);
    }
    if (report.error.empty()) {
        spdlog::info(
            "daily maintenance: {} ended sessions, {} audit entries and {} notifications deleted",
            report.sessions, report.audit_entries, report.notifications);
    } else {
        spdlog::error(
            "daily maintenance: {} ended sessions, {} audit entries and {} notifications deleted; "
            "failed: {}",
            report.sessions, report.audit_entries, report.notifications, report.error);
    }
    co_return report;
}

}  // namespace parley
