#include "server/process/child_supervisor.hpp"

#include <random>

#include <spdlog/spdlog.h>

#include "common/backoff.hpp"

namespace parley {

ChildSupervisor::ChildSupervisor(net::strand<net::any_io_executor> strand, ChildLauncher& launcher,
                                 ChildSupervisorOptions options)
    : strand_(std::move(strand)),
      launcher_(launcher),
      options_(std::move(options)),
      restart_timer_(strand_) {}

ChildSupervisor::~ChildSupervisor() {
    // The loop has stopped: no handler runs any more, so the child can be ended here.
    if (child_) {
        child_->kill();
        child_->wait();
    }
}

void ChildSupervisor::start() {
    net::post(strand_, [this] { launch(); });
}

void ChildSupervisor::stop(bool kill) {
    stopped_ = true;
    restart_timer_.cancel();
    if (kill) {
        ++generation_;
        close_pipes();
        if (child_) {
            child_->kill();
            spdlog::info("{} pid {} ended: {}", options_.name, child_->pid(), child_->wait());
            child_.reset();
        }
        return;
    }
    // EOF on its stdin is the child's cue to leave; end_child() or the destructor reaps it.
    boost::system::error_code ignored;
    if (stdin_) stdin_->close(ignored);
    stdin_.reset();
}

void ChildSupervisor::launch() {
    if (stopped_) return;
    ++generation_;
    LaunchedChild c = launcher_.launch(options_.argv);
    if (!c.process) {
        spdlog::error("cannot start the {}: {}", options_.name, c.error);
        if (launch_failed_) launch_failed_(c.error);
        schedule_restart();
        return;
    }
    child_ = std::move(c.process);
    pid_ = child_->pid();
    started_at_ = std::chrono::steady_clock::now();
    stdin_ = std::make_unique<net::posix::stream_descriptor>(strand_, c.stdin_fd);
    stdout_ = std::make_unique<net::posix::stream_descriptor>(strand_, c.stdout_fd);
    spdlog::info("{} started: pid {}", options_.name, child_->pid());
    if (started_) started_(ChildPipes{stdin_.get(), stdout_.get()}, generation_);
}

std::string ChildSupervisor::end_child(const std::string& reason, bool kill) {
    ++generation_;
    const int pid = pid_.load();
    close_pipes();
    std::string how = "unknown";
    if (child_) {
        if (kill) child_->kill();
        how = child_->wait();
        child_.reset();
    }
    if (stopped_) {
        spdlog::info("{} pid {} ended: {}", options_.name, pid, how);
        return how;
    }
    auto lived = std::chrono::steady_clock::now() - started_at_;
    spdlog::warn("{} pid {} ended: {} after {} ms ({})", options_.name, pid, how,
                 std::chrono::duration_cast<std::chrono::milliseconds>(lived).count(), reason);
    if (options_.healthy_after.count() > 0 && lived >= options_.healthy_after) failures_ = 0;
    ++restarts_;
    schedule_restart();
    return how;
}

void ChildSupervisor::close_pipes() {
    boost::system::error_code ignored;
    if (stdin_) stdin_->close(ignored);
    if (stdout_) stdout_->close(ignored);
    stdin_.reset();
    stdout_.reset();
    pid_ = 0;
}

void ChildSupervisor::schedule_restart() {
    if (stopped_) return;
    double unit = 1.0;
    if (options_.jitter) {
        static thread_local std::mt19937 random{std::random_device{}()};
        unit = std::uniform_real_distribution<double>(0.0, 1.0)(random);
    }
    auto delay = jittered_backoff(failures_, options_.backoff_base, options_.backoff_max, unit);
    ++failures_;
    spdlog::info("{} restarts in {} ms (failure {} in a row)", options_.name, delay.count(),
                 failures_);
    restart_timer_.expires_after(delay);
    restart_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec && !stopped_) launch();
    });
}

}  // namespace parley
