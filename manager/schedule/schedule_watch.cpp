#include "manager/schedule/schedule_watch.hpp"

#include <spdlog/spdlog.h>

#include "common/db/sqlite.hpp"

namespace parley {

ScheduleWatch::ScheduleWatch(ManagerStore& store) : store_(store) {
    state_.version = 1;
    state_.maintenance = nullptr;
}

nlohmann::json ScheduleWatch::notice_of(const std::vector<Schedule>& pending) {
    if (pending.empty()) return nullptr;
    const Schedule* next = &pending.front();
    for (const auto& s : pending) {
        if (s.at_ms < next->at_ms) next = &s;
    }
    return {{"id", next->id}, {"action", next->action}, {"at", next->at_ms}};
}

void ScheduleWatch::refresh() {
    nlohmann::json notice;
    try {
        notice = notice_of(store_.list_schedules(false));
    } catch (const std::exception& e) {
        spdlog::error("schedule watch: cannot read the pending schedules: {}", e.what());
        return;
    }
    {
        std::lock_guard lock(mutex_);
        if (notice == state_.maintenance) return;
        state_.maintenance = notice;
        ++state_.version;
        spdlog::info("maintenance notice is now {} (version {})", notice.dump(), state_.version);
    }
    wake_all();
}

ScheduleWatch::State ScheduleWatch::current() const {
    std::lock_guard lock(mutex_);
    return state_;
}

void ScheduleWatch::stop() {
    {
        std::lock_guard lock(mutex_);
        stopped_ = true;
    }
    wake_all();
}

void ScheduleWatch::wake_all() {
    std::set<std::shared_ptr<net::steady_timer>> waiters;
    {
        std::lock_guard lock(mutex_);
        waiters = waiters_;
    }
    for (const auto& timer : waiters) {
        net::post(timer->get_executor(), [timer] { timer->cancel(); });
    }
}

awaitable<ScheduleWatch::State> ScheduleWatch::wait(std::uint64_t known,
                                                    std::chrono::milliseconds wait) {
    auto executor = co_await net::this_coro::executor;
    auto timer = std::make_shared<net::steady_timer>(executor);
    timer->expires_after(wait);
    {
        std::lock_guard lock(mutex_);
        if (stopped_ || state_.version != known || wait.count() == 0) co_return state_;
        waiters_.insert(timer);
    }
    // A refresh() between the check above and this wait posts its cancel to our executor; it
    // runs only after the wait has started, so no wake-up is lost.
    boost::system::error_code ec;
    co_await timer->async_wait(net::redirect_error(use_awaitable, ec));
    std::lock_guard lock(mutex_);
    waiters_.erase(timer);
    co_return state_;
}

}  // namespace parley
