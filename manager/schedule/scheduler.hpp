// Scheduler: runs the persisted schedules (ManagerStore) when their time comes. Every
// `poll_ms` a timer on the manager's event loop hands run_due() to the blocking pool, which,
// for each pending schedule whose time has passed:
//   - later than `grace_ms` (the manager was down at the time): marks it missed, does nothing;
//   - otherwise claims it (pending -> fired, committed first, so it runs at most once even if
//     the action takes the manager down), then runs it — "restart": ServiceControl::restart_unit
//     of the server unit; "reboot": PowerControl::reboot() right away — and records done or
//     failed with the job result or error.
// Each step is logged with the schedule id and written to the audit table (actor "scheduler").
// Reboots are fired by this poller rather than handed to logind's ScheduleShutdown, so the
// schedule lives in one place (our database: listed, cancelled and announced from there) and
// nothing in logind has to be kept in step.
//
// Owned by the manager's run function; start()/stop() on the loop's thread. run_due() is
// blocking and may also be called directly (tests).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include "common/net.hpp"
#include "common/wall_clock.hpp"
#include "manager/state/manager_store.hpp"
#include "manager/system/service_control.hpp"

namespace parley {

class Scheduler {
  public:
    Scheduler(ManagerStore& store, ServiceControl& service, PowerControl& power,
              std::string server_unit, std::chrono::milliseconds grace,
              WallClock clock = system_wall_clock());

    // Handles every due schedule now; returns how many it handled. Never throws (database
    // failures are logged and retried at the next poll).
    std::size_t run_due();

    // Called (on the blocking pool) when a schedule leaves `pending` (claimed as fired or
    // missed), before its action runs. Set once, before start().
    void set_schedule_observer(std::function<void()> observer) { observer_ = std::move(observer); }

    void start(net::any_io_executor executor, net::thread_pool& pool,
               std::chrono::milliseconds poll);
    // The next poll does not happen; a run in progress finishes (the loop waits for it).
    void stop();

  private:
    void fire(const Schedule& schedule, std::int64_t now);
    awaitable<void> poll_loop(net::thread_pool& pool, std::chrono::milliseconds poll);

    ManagerStore& store_;
    ServiceControl& service_;
    PowerControl& power_;
    const std::string unit_;
    const std::chrono::milliseconds grace_;
    WallClock clock_;
    std::unique_ptr<net::steady_timer> timer_;
    std::atomic<bool> stopped_{false};
    std::function<void()> observer_;
};

}  // namespace parley
