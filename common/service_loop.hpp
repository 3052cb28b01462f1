// ServiceLoop: the event loop of a long-running mode (server, manager, botclient).
//
// Runs one io_context on N threads. The first SIGTERM or SIGINT sends STOPPING=1 and calls the
// mode's stop handler, which stops accepting and lets in-flight work finish, then calls
// stop_complete(); run() returns once no work is left. A second signal, or the shutdown
// deadline passing, stops the loop at once.
// READY=1 and the watchdog go through the SystemdNotifier it owns. Owned by the mode's run
// function; run() blocks the calling thread, which is one of the N.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>

#include "common/net.hpp"
#include "common/systemd_notify.hpp"

namespace parley {

class ServiceLoop {
  public:
    explicit ServiceLoop(int threads);

    net::io_context& context() { return context_; }
    // How many threads run() runs the context on.
    int threads() const { return threads_; }
    SystemdNotifier& notifier() { return notifier_; }

    // Blocks until the loop has no work left. `on_stop` runs on the loop when the first
    // signal arrives; it must make all pending work finish within `deadline` and then call
    // stop_complete().
    void run(std::function<void()> on_stop, std::chrono::milliseconds deadline);

    // Called by the mode when its graceful stop has drained: releases the signal watch and
    // the deadline so the loop can end. Thread-safe.
    void stop_complete();

    // Requests the same graceful stop as a signal (for a fatal condition found at run time).
    void request_stop();

  private:
    void begin_stop();
    void wait_signal();

    net::io_context context_;
    net::signal_set signals_;
    net::steady_timer deadline_timer_;
    SystemdNotifier notifier_;
    std::function<void()> on_stop_;
    std::chrono::milliseconds deadline_{0};
    int threads_;
    std::atomic<bool> stopping_{false};
};

// The number of threads to use when the config says 0 (= one per core).
int resolve_thread_count(int configured);

}  // namespace parley
