// ChildSupervisor over real child processes (/bin/sh through the Boost.Process launcher): each
// start hands the owner the child's pipes, a child that exits is reaped and started again after
// the back-off, a launch that fails is retried, and stop() ends the child without a restart.
#include "server/process/child_supervisor.hpp"

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "common/test_support.hpp"

namespace parley {

namespace {

using namespace std::chrono_literals;

// A launcher that fails the first `failures` launches, then launches for real.
class FlakyLauncher : public ChildLauncher {
  public:
    explicit FlakyLauncher(int failures) : failures_(failures) {}
    LaunchedChild launch(const std::vector<std::string>& argv) override {
        if (failures_ > 0) {
            --failures_;
            LaunchedChild failed;
            failed.error = "injected launch failure";
            return failed;
        }
        return real_->launch(argv);
    }

  private:
    int failures_;
    std::unique_ptr<ChildLauncher> real_ = make_process_launcher();
};

struct Loop {
    net::io_context io;
    net::executor_work_guard<net::io_context::executor_type> guard = net::make_work_guard(io);
    std::thread thread{[this] { io.run(); }};
    void finish() {
        if (!thread.joinable()) return;
        guard.reset();
        io.stop();
        thread.join();
    }
    ~Loop() { finish(); }
};

// What the owner saw, from the strand.
struct Seen {
    std::mutex mutex;
    std::vector<int> pids;
    std::vector<std::string> launch_errors;
    std::vector<std::string> endings;
    std::size_t starts() {
        std::lock_guard lock(mutex);
        return pids.size();
    }
};

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

}  // namespace

TEST_CASE("a supervised child is restarted after it exits and after a failed launch",
          "[server][process]") {
    Loop loop;
    FlakyLauncher launcher(1);
    ChildSupervisorOptions options;
    options.name = "test child";
    // The child reads one line from its stdin and exits with a status of 3.
    options.argv = {"/bin/sh", "-c", "read line; exit 3"};
    options.backoff_base = 10ms;
    options.backoff_max = 40ms;
    auto strand = net::make_strand(loop.io.get_executor());
    ChildSupervisor child(strand, launcher, options);
    Seen seen;
    child.on_launch_failed([&](const std::string& error) {
        std::lock_guard lock(seen.mutex);
        seen.launch_errors.push_back(error);
    });
    child.on_started([&](ChildPipes pipes, std::uint64_t generation) {
        {
            std::lock_guard lock(seen.mutex);
            seen.pids.push_back(child.pid());
        }
        // The owner speaks to the child; its EOF on stdout is the end of the child.
        net::write(*pipes.in, net::buffer(std::string("go\n")));
        auto buffer = std::make_shared<std::array<char, 64>>();
        pipes.out->async_read_some(
            net::buffer(*buffer),
            [&, buffer, generation](const boost::system::error_code& ec, std::size_t) {
                if (!ec || generation != child.generation()) return;
                std::string how = child.end_child("its stdout closed", false);
                std::lock_guard lock(seen.mutex);
                seen.endings.push_back(how);
            });
    });
    child.start();

    // The first launch fails and is retried; each child then exits and is started again.
    REQUIRE(eventually([&] { return seen.starts() >= 3; }));
    {
        std::lock_guard lock(seen.mutex);
        CHECK(seen.launch_errors == std::vector<std::string>{"injected launch failure"});
        REQUIRE(seen.endings.size() >= 2);
        CHECK(seen.endings[0] == "exit 3");
        CHECK(seen.pids[0] > 0);
        CHECK(seen.pids[0] != seen.pids[1]);
    }
    CHECK(child.restarts() >= 2);

    // stop(kill): the child is ended at once and nothing starts again.
    test::Signal stopped;
    net::post(strand, [&] {
        child.stop(true);
        stopped.set();
    });
    REQUIRE(stopped.wait());
    std::size_t starts = seen.starts();
    std::this_thread::sleep_for(100ms);  // several back-offs
    CHECK(seen.starts() == starts);
    CHECK(child.pid() == 0);
    loop.finish();  // no handler may outlive the supervisor
}

}  // namespace parley
