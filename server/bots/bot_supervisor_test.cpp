// BotSupervisor with a fake launcher: the test plays the bot child through the pipes it would
// have had. A fresh secret per start, on stdin only; a secret is redeemed once; an ended child
// is started again; stop() closes the child's stdin.
#include "server/bots/bot_supervisor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>

namespace parley {

namespace {

using namespace std::chrono_literals;

struct FakeBotChild {
    int stdin_read = -1;    // what the supervisor writes to the child's stdin
    int stdout_write = -1;  // closing it is the child ending
    std::vector<std::string> argv;

    // Reads until EOF or `deadline`; returns what came and whether EOF was seen.
    std::pair<std::string, bool> read_stdin(std::chrono::milliseconds deadline, bool until_eof) {
        std::string got;
        auto end = std::chrono::steady_clock::now() + deadline;
        while (std::chrono::steady_clock::now() < end) {
            pollfd p{stdin_read, POLLIN, 0};
            if (::poll(&p, 1, 20) != 1) continue;
            char buf[256];
            ssize_t n = ::read(stdin_read, buf, sizeof buf);
            if (n <= 0) return {got, true};
            got.append(buf, static_cast<std::size_t>(n));
            if (!until_eof && got.find('\n') != std::string::npos) return {got, false};
        }
        return {got, false};
    }
    void end() {
        if (stdout_write >= 0) ::close(stdout_write);
        stdout_write = -1;
    }
    ~FakeBotChild() {
        end();
        if (stdin_read >= 0) ::close(stdin_read);
    }
};

class FakeBotProcess : public ChildProcess {
  public:
    int pid() const override { return 777; }
    void kill() override {}
    std::string wait() override { return "exit 1"; }
};

class FakeBotLauncher : public ChildLauncher {
  public:
    LaunchedChild launch(const std::vector<std::string>& argv) override {
        int in[2], out[2];
        REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
        REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
        auto child = std::make_shared<FakeBotChild>();
        child->stdin_read = in[0];
        child->stdout_write = out[1];
        child->argv = argv;
        {
            std::lock_guard lock(mutex_);
            children_.push_back(child);
        }
        cv_.notify_all();
        LaunchedChild l;
        l.process = std::make_unique<FakeBotProcess>();
        l.stdin_fd = in[1];
        l.stdout_fd = out[0];
        return l;
    }
    std::shared_ptr<FakeBotChild> wait_for(std::size_t count) {
        std::unique_lock lock(mutex_);
        REQUIRE(cv_.wait_for(lock, 5s, [&] { return children_.size() >= count; }));
        return children_[count - 1];
    }

  private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<std::shared_ptr<FakeBotChild>> children_;
};

}  // namespace

TEST_CASE("the bot child gets a one-time secret on stdin and is restarted", "[server][bots]") {
    net::io_context ioc;
    auto guard = net::make_work_guard(ioc);
    std::thread loop([&] { ioc.run(); });
    FakeBotLauncher launcher;
    BotSupervisorOptions options;
    options.argv = {"parley", "botclient", "--config", "bots.toml"};
    options.backoff_base = 10ms;
    options.backoff_max = 20ms;
    auto supervisor = std::make_unique<BotSupervisor>(ioc.get_executor(), launcher, options);
    supervisor->start();

    auto first = launcher.wait_for(1);
    auto [line, eof] = first->read_stdin(5s, false);
    REQUIRE(line.size() == 44);  // 43 base64url characters and a newline
    REQUIRE(line.back() == '\n');
    std::string secret = line.substr(0, 43);
    for (const auto& arg : first->argv)
        CHECK(arg.find(secret) == std::string::npos);
    CHECK_FALSE(supervisor->redeem("wrong"));
    CHECK_FALSE(supervisor->redeem(secret + "x"));
    CHECK(supervisor->redeem(secret));
    CHECK_FALSE(supervisor->redeem(secret));  // once only

    first->end();  // the child dies
    auto second = launcher.wait_for(2);
    auto [line2, eof2] = second->read_stdin(5s, false);
    REQUIRE(line2.size() == 44);
    std::string secret2 = line2.substr(0, 43);
    CHECK(secret2 != secret);
    CHECK_FALSE(supervisor->redeem(secret));
    CHECK(supervisor->restarts() == 1);

    supervisor->stop();
    auto [rest, closed] = second->read_stdin(5s, true);
    CHECK(closed);  // stop() closes the child's stdin
    CHECK_FALSE(supervisor->redeem(secret2 + "?"));
    second->end();
    std::this_thread::sleep_for(50ms);
    guard.reset();
    ioc.stop();
    loop.join();
    supervisor.reset();
}

}  // namespace parley
