// SystemdNotifier: the sd_notify(3) side of a Type=notify service.
//
// ready() sends READY=1, stopping() sends STOPPING=1, and start_watchdog() sends WATCHDOG=1
// every half of WATCHDOG_USEC when systemd asked for a watchdog (sd_watchdog_enabled). Without
// NOTIFY_SOCKET every call is a no-op. Owned by a mode's run function; the watchdog timer runs
// on the executor it is given, so a stalled event loop stops the pings and systemd notices.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/net.hpp"

namespace parley {

class SystemdNotifier {
  public:
    explicit SystemdNotifier(net::any_io_executor executor);

    void ready();
    void stopping();
    void status(const std::string& text);
    // Starts the WATCHDOG=1 timer if systemd enabled the watchdog for this process.
    void start_watchdog();
    void stop_watchdog();
    // The configured interval between pings (zero when no watchdog was asked for).
    std::chrono::microseconds watchdog_interval() const { return interval_; }

  private:
    void arm();

    net::steady_timer timer_;
    std::chrono::microseconds interval_{0};
    bool running_ = false;
};

}  // namespace parley
