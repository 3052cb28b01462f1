#include "manager/schedule/scheduler.hpp"

#include <spdlog/spdlog.h>

#include "common/db/sqlite.hpp"
#include "common/logging.hpp"
#include "common/offload.hpp"

namespace parley {

Scheduler::Scheduler(ManagerStore& store, ServiceControl& service, PowerControl& power,
                     std::string server_unit, std::chrono::milliseconds grace, WallClock clock)
    : store_(store),
      service_(service),
      power_(power),
      unit_(std::move(server_unit)),
      grace_(grace),
      clock_(std::move(clock)) {}

std::size_t Scheduler::run_due() {
    std::size_t handled = 0;
    try {
        std::int64_t now = clock_();
        for (const Schedule& s : store_.due_schedules(now)) {
            if (stopped_) break;
            now = clock_();
            std::int64_t late = now - s.at_ms;
            if (late > grace_.count()) {
                std::string outcome = fmt::format(
                    "missed: found {} ms after its time (grace {} ms)", late, grace_.count());
                if (store_.claim_schedule(s.id, "missed", now, outcome)) {
                    if (observer_) observer_();
                    spdlog::warn("scheduler: schedule={} {} at {} {}", s.id, s.action, s.at_ms,
                                 outcome);
                    store_.audit(now, "scheduler", "schedule.missed",
                                 {{"schedule", s.id},
                                  {"action", s.action},
                                  {"at", s.at_ms},
                                  {"late_ms", late}});
                }
                ++handled;
                continue;
            }
            fire(s, now);
            ++handled;
        }
    } catch (const DbError& e) {
        spdlog::error("scheduler: database error (retrying at the next poll): {}", e.what());
    } catch (const std::exception& e) {
        spdlog::error("scheduler: {}", e.what());
    }
    return handled;
}

void Scheduler::fire(const Schedule& s, std::int64_t now) {
    if (!store_.claim_schedule(s.id, "fired", now, "started")) return;  // removed meanwhile
    if (observer_) observer_();
    nlohmann::json detail{
        {"schedule", s.id}, {"action", s.action}, {"at", s.at_ms}, {"created_by", s.created_by}};
    spdlog::info("scheduler: schedule={} {} (due {}, created by '{}') firing", s.id, s.action,
                 s.at_ms, s.created_by);
    // Audited before acting: a reboot may not come back to record anything.
    store_.audit(now, "scheduler", "schedule.fire", detail);

    bool ok = false;
    std::string outcome;
    if (s.action == "restart") {
        JobOutcome job = service_.restart_unit(unit_);
        ok = job.ok;
        outcome = job.ok ? fmt::format("restart of {} done (job {})", unit_, job.job_path)
                         : fmt::format("restart of {} failed: {}{}", unit_, job.error,
                                       job.job_path.empty() ? "" : " (job " + job.job_path + ")");
    } else {
        PowerOutcome power = power_.reboot();
        ok = power.ok;
        outcome = power.ok ? "reboot requested" : "reboot refused: " + power.error;
    }
    std::int64_t done_at = clock_();
    store_.finish_schedule(s.id, ok ? "done" : "failed", done_at, outcome);
    detail["outcome"] = outcome;
    store_.audit(done_at, "scheduler", ok ? "schedule.done" : "schedule.failed", detail);
    if (ok) {
        spdlog::info("scheduler: schedule={} {}", s.id, outcome);
    } else {
        spdlog::error("scheduler: schedule={} {}", s.id, outcome);
    }
}

void Scheduler::start(net::any_io_executor executor, net::thread_pool& pool,
                      std::chrono::milliseconds poll) {
    timer_ = std::make_unique<net::steady_timer>(executor);
    net::co_spawn(executor, poll_loop(pool, poll), [](std::exception_ptr e) {
        if (!e) return;
        spdlog::critical("scheduler loop failed: {}", exception_what(e));
    });
}

void Scheduler::stop() {
    stopped_ = true;
    if (timer_) timer_->cancel();
}

awaitable<void> Scheduler::poll_loop(net::thread_pool& pool, std::chrono::milliseconds poll) {
    // The first look is immediate: schedules that came due while the manager was down.
    while (!stopped_) {
        auto work = [this] { return run_due(); };
        co_await offload(pool, std::move(work));
        if (stopped_) break;
        timer_->expires_after(poll);
        boost::system::error_code ec;
        co_await timer_->async_wait(net::redirect_error(use_awaitable, ec));
    }
}

}  // namespace parley
