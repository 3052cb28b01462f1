#include "server/bots/bot_supervisor.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include <spdlog/spdlog.h>

#include "common/backoff.hpp"
#include "common/crypto.hpp"

namespace parley {

namespace {

std::string digest(std::string_view s) {
    auto d = sha256(s);
    return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

// Writes all of `data` to a blocking descriptor (a line into an empty pipe: it never blocks).
bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

}  // namespace

BotSupervisor::BotSupervisor(net::any_io_executor executor, ChildLauncher& launcher,
                             BotSupervisorOptions options)
    : strand_(net::make_strand(executor)),
      launcher_(launcher),
      options_(std::move(options)),
      restart_timer_(strand_) {}

BotSupervisor::~BotSupervisor() {
    // The loop has stopped: no handler runs any more.
    if (child_) {
        child_->kill();
        child_->wait();
    }
}

void BotSupervisor::start() {
    net::post(strand_, [this] { launch(); });
}

void BotSupervisor::stop() {
    net::post(strand_, [this] {
        stopped_ = true;
        restart_timer_.cancel();
        boost::system::error_code ignored;
        // EOF on its stdin is the child's signal to leave; the destructor reaps it (or kills
        // it, should it still run when the server's loop has ended).
        if (stdin_) stdin_->close(ignored);
        stdin_.reset();
    });
}

bool BotSupervisor::redeem(std::string_view presented) {
    std::string hash = digest(presented);
    std::lock_guard lock(secret_mutex_);
    if (secret_hash_.empty() || !constant_time_equal(hash, secret_hash_)) return false;
    secret_hash_.clear();
    return true;
}

void BotSupervisor::launch() {
    if (stopped_) return;
    ++generation_;
    LaunchedChild c = launcher_.launch(options_.argv);
    if (!c.process) {
        spdlog::error("bots: cannot start the bot child: {}", c.error);
        schedule_restart();
        return;
    }
    std::string secret = random_token();
    {
        std::lock_guard lock(secret_mutex_);
        secret_hash_ = digest(secret);
    }
    child_ = std::move(c.process);
    pid_ = child_->pid();
    started_at_ = std::chrono::steady_clock::now();
    bool handed = write_all(c.stdin_fd, secret + "\n");
    stdin_ = std::make_unique<net::posix::stream_descriptor>(strand_, c.stdin_fd);
    stdout_ = std::make_unique<net::posix::stream_descriptor>(strand_, c.stdout_fd);
    spdlog::info("bot child started: pid {}", child_->pid());
    if (!handed) spdlog::error("bots: cannot hand the secret to bot child pid {}", pid_.load());
    watch();
}

void BotSupervisor::watch() {
    auto generation = generation_;
    stdout_->async_read_some(
        net::buffer(scratch_),
        net::bind_executor(
            strand_, [this, generation](const boost::system::error_code& ec, std::size_t) {
                if (generation != generation_) return;
                if (!ec) {
                    watch();  // the child writes nothing to stdout; ignore what it might
                    return;
                }
                on_child_ended(generation);
            }));
}

void BotSupervisor::on_child_ended(std::uint64_t generation) {
    if (generation != generation_) return;
    ++generation_;
    auto lived = std::chrono::steady_clock::now() - started_at_;
    int pid = pid_.load();
    std::string how = "unknown";
    close_child();
    if (child_) {
        how = child_->wait();
        child_.reset();
    }
    {
        std::lock_guard lock(secret_mutex_);
        secret_hash_.clear();
    }
    if (stopped_) {
        spdlog::info("bot child pid {} ended: {}", pid, how);
        return;
    }
    spdlog::warn("bot child pid {} ended: {} after {} ms", pid, how,
                 std::chrono::duration_cast<std::chrono::milliseconds>(lived).count());
    if (lived >= options_.healthy_after) failures_ = 0;
    ++restarts_;
    schedule_restart();
}

void BotSupervisor::close_child() {
    boost::system::error_code ignored;
    if (stdin_) stdin_->close(ignored);
    if (stdout_) stdout_->close(ignored);
    stdin_.reset();
    stdout_.reset();
    pid_ = 0;
}

void BotSupervisor::schedule_restart() {
    if (stopped_) return;
    static thread_local std::mt19937 random{std::random_device{}()};
    double unit = std::uniform_real_distribution<double>(0.0, 1.0)(random);
    auto delay = jittered_backoff(failures_, options_.backoff_base, options_.backoff_max, unit);
    ++failures_;
    spdlog::info("bot child restarts in {} ms (failure {} in a row)", delay.count(), failures_);
    restart_timer_.expires_after(delay);
    restart_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec && !stopped_) launch();
    });
}

}  // namespace parley
