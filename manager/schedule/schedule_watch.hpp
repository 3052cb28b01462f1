// ScheduleWatch: the maintenance notice — the next pending schedule, {"id", "action", "at"}, or
// null — and the long poll behind `schedule.watch`. refresh() re-reads the notice from the
// store after anything that may change it (schedule.add/remove, the scheduler firing one) and,
// when it changed, bumps the version and wakes every waiter; wait() returns as soon as the
// version differs from the one the client knows, or when its wait ends. A client that calls
// schedule.watch in a loop thus hears of a change at once (the server uses it to announce
// maintenance to its WebSocket clients) without polling the database.
//
// Owned by the manager's run function. Thread-safe: refresh() is called from the blocking pool
// (it reads ManagerStore), wait() from connection coroutines on any executor.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>

#include <nlohmann/json.hpp>

#include "common/net.hpp"
#include "manager/state/manager_store.hpp"

namespace parley {

class ScheduleWatch {
  public:
    struct State {
        std::uint64_t version = 0;
        nlohmann::json maintenance;  // {"id", "action", "at"} of the next pending schedule, or null
    };

    explicit ScheduleWatch(ManagerStore& store);

    // Re-reads the next pending schedule; blocking. Never throws (a database error is logged
    // and the notice kept).
    void refresh();
    State current() const;
    // The state once its version differs from `known`, or after `wait`, or at stop().
    awaitable<State> wait(std::uint64_t known, std::chrono::milliseconds wait);
    // Wakes every waiter; later waits return at once.
    void stop();

    // The notice for a list of pending schedules ordered by time (null when empty).
    static nlohmann::json notice_of(const std::vector<Schedule>& pending);

  private:
    void wake_all();

    ManagerStore& store_;
    mutable std::mutex mutex_;
    State state_;
    bool stopped_ = false;
    std::set<std::shared_ptr<net::steady_timer>> waiters_;
};

}  // namespace parley
