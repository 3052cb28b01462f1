#include "common/systemd_notify.hpp"

#include <systemd/sd-daemon.h>

#include <spdlog/spdlog.h>

namespace parley {

SystemdNotifier::SystemdNotifier(net::any_io_executor executor) : timer_(executor) {}

void SystemdNotifier::ready() {
    sd_notify(0, "READY=1");
}

void SystemdNotifier::stopping() {
    sd_notify(0, "STOPPING=1");
}

void SystemdNotifier::status(const std::string& text) {
    std::string line = "STATUS=" + text;
    sd_notify(0, line.c_str());
}

void SystemdNotifier::start_watchdog() {
    std::uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
    interval_ = std::chrono::microseconds(usec / 2);
    running_ = true;
    spdlog::info("systemd watchdog enabled: ping every {} ms", interval_.count() / 1000);
    sd_notify(0, "WATCHDOG=1");
    arm();
}

void SystemdNotifier::stop_watchdog() {
    running_ = false;
    timer_.cancel();
}

void SystemdNotifier::arm() {
    timer_.expires_after(interval_);
    timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || !running_) return;
        sd_notify(0, "WATCHDOG=1");
        arm();
    });
}

}  // namespace parley
