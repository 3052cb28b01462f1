// BotSupervisor: runs the server's local bots — one `parley botclient` child (docs/bots.md).
//
// Each start of the child gets a fresh one-time secret (random 256 bits) written as one line to
// its stdin, never its argv, environment or a file; the child trades it once, on the loopback
// bot listener, for the sessions of every local bot (redeem()). The child's stdin stays open:
// it ends when the server closes it (stop(), or the server dying). When the child ends (its
// stdout, which it never writes, reaches EOF), it is reaped and started again after a jittered
// back-off that doubles with each short-lived child (a child that ran for a minute starts the
// count again). The child's stderr is the server's, so its log lines land in the server's log.
// Starting, reaping and the back-off are the shared ChildSupervisor's
// (server/process/child_supervisor.hpp); this class adds the secret and the watch for EOF.
//
// Threads: start()/stop() post to the supervisor's strand, where all child handling runs;
// redeem() and stats are thread-safe (the route handlers call them).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "server/process/child_supervisor.hpp"

namespace parley {

struct BotSupervisorOptions {
    std::vector<std::string> argv;  // the child's command line
    std::chrono::milliseconds backoff_base{500};
    std::chrono::milliseconds backoff_max{30'000};
    std::chrono::milliseconds healthy_after{60'000};  // a child that ran this long resets back-off
};

class BotSupervisor {
  public:
    BotSupervisor(net::any_io_executor executor, ChildLauncher& launcher,
                  BotSupervisorOptions options);
    ~BotSupervisor();

    void start();
    // Closes the child's stdin (it leaves and exits) and starts no new one.
    void stop();

    // True once per child start: `presented` is that child's secret and was not used before.
    // Constant-time comparison; the secret is forgotten on success.
    bool redeem(std::string_view presented);

    int pid() const { return child_.pid(); }
    std::uint64_t restarts() const { return child_.restarts(); }

  private:
    void started(ChildPipes pipes, std::uint64_t generation);
    void watch(std::uint64_t generation);

    net::strand<net::any_io_executor> strand_;
    ChildSupervisor child_;

    // Strand-only state.
    net::posix::stream_descriptor* stdout_ = nullptr;  // the running child's, owned by child_
    std::array<char, 512> scratch_{};

    // Shared with the route handlers.
    std::mutex secret_mutex_;
    std::string secret_hash_;  // SHA-256 of the current child's secret; empty once redeemed
};

}  // namespace parley
