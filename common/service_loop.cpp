#include "common/service_loop.hpp"

#include <csignal>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

namespace parley {

int resolve_thread_count(int configured) {
    if (configured > 0) return configured;
    unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : static_cast<int>(n);
}

ServiceLoop::ServiceLoop(int threads)
    : context_(threads),
      signals_(context_, SIGTERM, SIGINT),
      deadline_timer_(context_),
      notifier_(context_.get_executor()),
      threads_(threads) {}

void ServiceLoop::begin_stop() {
    if (stopping_.exchange(true)) return;
    notifier_.stopping();
    notifier_.stop_watchdog();
    deadline_timer_.expires_after(deadline_);
    deadline_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;
        spdlog::warn("shutdown deadline of {} ms passed; stopping now", deadline_.count());
        context_.stop();
    });
    if (on_stop_) on_stop_();
}

void ServiceLoop::request_stop() {
    net::post(context_, [this] { begin_stop(); });
}

void ServiceLoop::stop_complete() {
    net::post(context_, [this] {
        boost::system::error_code ignored;
        signals_.cancel(ignored);
        deadline_timer_.cancel();
        notifier_.stop_watchdog();
    });
}

void ServiceLoop::wait_signal() {
    signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        if (stopping_) {
            spdlog::warn("second signal ({}): stopping now", signo);
            context_.stop();
            return;
        }
        spdlog::info("received signal {}: shutting down gracefully", signo);
        wait_signal();
        begin_stop();
    });
}

void ServiceLoop::run(std::function<void()> on_stop, std::chrono::milliseconds deadline) {
    on_stop_ = std::move(on_stop);
    deadline_ = deadline;
    wait_signal();
    notifier_.start_watchdog();
    std::vector<std::thread> pool;
    for (int i = 1; i < threads_; ++i)
        pool.emplace_back([this] { context_.run(); });
    context_.run();
    for (auto& t : pool)
        t.join();
}

}  // namespace parley
