#include "server/bots/bot_supervisor.hpp"

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"

namespace parley {

namespace {

std::string digest(std::string_view s) {
    auto d = sha256(s);
    return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

}  // namespace

BotSupervisor::BotSupervisor(net::any_io_executor executor, ChildLauncher& launcher,
                             BotSupervisorOptions options)
    : strand_(net::make_strand(executor)),
      child_(strand_, launcher,
             {.name = "bot child",
              .argv = options.argv,
              .backoff_base = options.backoff_base,
              .backoff_max = options.backoff_max,
              .healthy_after = options.healthy_after,
              .jitter = true}) {
    child_.on_started(
        [this](ChildPipes pipes, std::uint64_t generation) { started(pipes, generation); });
}

BotSupervisor::~BotSupervisor() = default;

void BotSupervisor::start() {
    child_.start();
}

void BotSupervisor::stop() {
    // The child leaves when its stdin closes; its EOF is then reaped by watch().
    net::post(strand_, [this] { child_.stop(false); });
}

bool BotSupervisor::redeem(std::string_view presented) {
    std::string hash = digest(presented);
    std::lock_guard lock(secret_mutex_);
    if (secret_hash_.empty() || !constant_time_equal(hash, secret_hash_)) return false;
    secret_hash_.clear();
    return true;
}

void BotSupervisor::started(ChildPipes pipes, std::uint64_t generation) {
    std::string secret = random_token();
    {
        std::lock_guard lock(secret_mutex_);
        secret_hash_ = digest(secret);
    }
    // A line into an empty pipe: the blocking write never waits.
    boost::system::error_code ec;
    net::write(*pipes.in, net::buffer(secret + "\n"), ec);
    if (ec) spdlog::error("bots: cannot hand the secret to bot child pid {}", child_.pid());
    stdout_ = pipes.out;
    watch(generation);
}

void BotSupervisor::watch(std::uint64_t generation) {
    stdout_->async_read_some(
        net::buffer(scratch_),
        net::bind_executor(
            strand_, [this, generation](const boost::system::error_code& ec, std::size_t) {
                if (generation != child_.generation()) return;
                if (!ec) {
                    watch(generation);  // the child writes nothing to stdout; ignore what it might
                    return;
                }
                stdout_ = nullptr;
                {
                    std::lock_guard lock(secret_mutex_);
                    secret_hash_.clear();
                }
                child_.end_child("its stdout closed", false);
            }));
}

}  // namespace parley
