// ChildSupervisor: the life cycle every child process of the server shares — start it through a
// ChildLauncher (child_process.hpp, the seam over Boost.Process), hand its pipes to the owner,
// reap it when it ends, start it again after a back-off, and stop. The image child client
// (server/media/imageproc_client) and the bot supervisor (server/bots/bot_supervisor) are built
// on it and keep only their protocol: what they write to the child and read from it.
//
// Back-off: the delay before restart n+1 is min(backoff_max, backoff_base * 2^failures), halved
// at random for a jittered supervisor; the count of failures in a row is reset by
// reset_backoff() (the owner saw the child work) or by a child that lived `healthy_after`.
// A child that cannot even be launched counts as a failure and is retried the same way.
//
// The owner learns of each start (on_started, with the child's pipes and its generation) and
// of each launch failure (on_launch_failed); it ends a child with end_child() when it hears EOF
// or the child breaks its protocol. Every completion the owner schedules should carry the
// generation and be dropped when generation() moved on: that is how a late answer from an
// ended child is told apart.
//
// Threads: everything runs on the strand given at construction, the owner's; only pid() and
// restarts() are read from other threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "server/process/child_process.hpp"

namespace parley {

struct ChildSupervisorOptions {
    std::string name;               // in the logs: "imageproc child", "bot child"
    std::vector<std::string> argv;  // the child's command line
    std::chrono::milliseconds backoff_base{200};
    std::chrono::milliseconds backoff_max{30'000};
    // A child that ran this long resets the failure count; zero: only reset_backoff() does.
    std::chrono::milliseconds healthy_after{0};
    bool jitter = false;  // a random delay between half and all of the back-off
};

// The pipes of a running child, on the supervisor's strand.
struct ChildPipes {
    net::posix::stream_descriptor* in = nullptr;   // the child's stdin
    net::posix::stream_descriptor* out = nullptr;  // the child's stdout
};

class ChildSupervisor {
  public:
    using Started = std::function<void(ChildPipes pipes, std::uint64_t generation)>;
    using LaunchFailed = std::function<void(const std::string& error)>;

    ChildSupervisor(net::strand<net::any_io_executor> strand, ChildLauncher& launcher,
                    ChildSupervisorOptions options);
    // Kills and reaps a child still running (the loop has stopped by then).
    ~ChildSupervisor();

    // Before start().
    void on_started(Started hook) { started_ = std::move(hook); }
    void on_launch_failed(LaunchFailed hook) { launch_failed_ = std::move(hook); }

    // Launches the first child (posts to the strand).
    void start();
    // On the strand: no restarts from now on. `kill`: the child is killed and reaped now;
    // otherwise only its stdin is closed (its cue to leave) and it is reaped on destruction.
    void stop(bool kill);
    // On the strand: the current child is over (`reason`, logged): its pipes are closed, it is
    // killed when `kill` (else it is expected to have exited), reaped, and a new one starts
    // after the back-off. Returns how it ended ("exit 0", "signal 9").
    std::string end_child(const std::string& reason, bool kill);
    // On the strand: the child works; the next failure waits backoff_base again.
    void reset_backoff() { failures_ = 0; }

    bool running() const { return child_ != nullptr; }
    bool stopped() const { return stopped_; }
    std::uint64_t generation() const { return generation_; }
    int pid() const { return pid_.load(); }
    // Children that ended and were started again.
    std::uint64_t restarts() const { return restarts_.load(); }

  private:
    void launch();
    void close_pipes();
    void schedule_restart();

    net::strand<net::any_io_executor> strand_;
    ChildLauncher& launcher_;
    ChildSupervisorOptions options_;
    Started started_;
    LaunchFailed launch_failed_;

    // Strand-only state.
    std::unique_ptr<ChildProcess> child_;
    std::unique_ptr<net::posix::stream_descriptor> stdin_;
    std::unique_ptr<net::posix::stream_descriptor> stdout_;
    std::uint64_t generation_ = 0;  // bumped when a child starts and when it ends
    std::chrono::steady_clock::time_point started_at_;
    net::steady_timer restart_timer_;
    int failures_ = 0;
    bool stopped_ = false;

    std::atomic<int> pid_{0};
    std::atomic<std::uint64_t> restarts_{0};
};

}  // namespace parley
