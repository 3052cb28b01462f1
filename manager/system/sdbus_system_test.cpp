// SdbusSystem against a real private dbus-daemon with python3-dbusmock's systemd and logind
// templates, extended by testdata/mockctl.py. Every test checks the exact calls the mocks saw.
#include "manager/system/sdbus_system.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "common/test_support.hpp"

namespace parley {
namespace {

using test::TempDir;

namespace fs = std::filesystem;

const fs::path kMockctl = fs::path(__FILE__).parent_path() / "testdata" / "mockctl.py";
// The system interpreter: it has dbusmock and dbus-python, a pyenv one on PATH may not.
constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kUnit = "parley-server.service";

// Sets an environment variable for its lifetime and puts back what was there.
class ScopedEnv {
  public:
    ScopedEnv(std::string name, const std::string& value) : name_(std::move(name)) {
        if (const char* old = std::getenv(name_.c_str())) old_ = old;
        setenv(name_.c_str(), value.c_str(), 1);
    }
    ~ScopedEnv() {
        if (old_) {
            setenv(name_.c_str(), old_->c_str(), 1);
        } else {
            unsetenv(name_.c_str());
        }
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

  private:
    std::string name_;
    std::optional<std::string> old_;
};

// Starts argv[0] with stdout and stderr on the given descriptors. The child dies with us
// (PR_SET_PDEATHSIG) so that a crashed test run leaves no daemons behind.
pid_t spawn(const std::vector<std::string>& argv, int out_fd, int err_fd) {
    std::vector<char*> args;
    for (const auto& arg : argv)
        args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null_fd = open("/dev/null", O_RDWR);
        dup2(null_fd, 0);
        dup2(out_fd >= 0 ? out_fd : null_fd, 1);
        dup2(err_fd >= 0 ? err_fd : null_fd, 2);
        execv(args[0], args.data());
        _exit(127);
    }
    return pid;
}

// A child process that is stopped (SIGTERM, then SIGKILL) and reaped when this goes away.
class Child {
  public:
    explicit Child(pid_t pid) : pid_(pid) {}
    Child(Child&& other) noexcept : pid_(std::exchange(other.pid_, -1)) {}
    Child& operator=(Child&&) = delete;
    ~Child() { stop(); }

    void stop() {
        if (pid_ <= 0) return;
        kill(pid_, SIGTERM);
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
        while (waitpid(pid_, nullptr, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > deadline) {
                kill(pid_, SIGKILL);
                waitpid(pid_, nullptr, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        pid_ = -1;
    }

  private:
    pid_t pid_;
};

struct RunResult {
    int exit_code = -1;
    std::string output;  // stdout and stderr together
};

RunResult run(const std::vector<std::string>& argv) {
    int fds[2];
    REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
    pid_t pid = spawn(argv, fds[1], fds[1]);
    close(fds[1]);
    RunResult result;
    char buffer[4096];
    ssize_t n;
    while ((n = read(fds[0], buffer, sizeof buffer)) > 0)
        result.output.append(buffer, n);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    return result;
}

// Reads one line from fd; empty if none comes within the timeout.
std::string read_line(int fd, std::chrono::milliseconds timeout) {
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (line.empty() || line.back() != '\n') {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd pfd{fd, POLLIN, 0};
        char c;
        if (left.count() <= 0 || poll(&pfd, 1, static_cast<int>(left.count())) != 1 ||
            read(fd, &c, 1) != 1) {
            return {};
        }
        line.push_back(c);
    }
    line.pop_back();
    return line;
}

// A private bus with the systemd and logind mocks on it, made the system bus of this process
// through DBUS_SYSTEM_BUS_ADDRESS. Members are declared so that a failing REQUIRE in the
// constructor still stops whatever was already started.
class MockSystemBus {
  public:
    MockSystemBus() {
        int fds[2];
        REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
        auto log = [&](const char* name) {
            return open((dir_.path() / name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                        0600);
        };
        int bus_log = log("dbus-daemon.log");
        daemon_.emplace(spawn(
            {"/usr/bin/dbus-daemon", "--session", "--nofork", "--nopidfile",
             "--address=unix:path=" + (dir_.path() / "system_bus").string(), "--print-address"},
            fds[1], bus_log));
        close(fds[1]);
        close(bus_log);
        address_ = read_line(fds[0], std::chrono::seconds(10));
        close(fds[0]);
        INFO("dbus-daemon log in " << dir_.path());
        REQUIRE(address_.starts_with("unix:"));
        env_.emplace("DBUS_SYSTEM_BUS_ADDRESS", address_);

        for (const char* name : {"systemd", "logind"}) {
            int fd = log((std::string(name) + ".log").c_str());
            mocks_.emplace_back(spawn({kPython, "-m", "dbusmock", "--template", name}, fd, fd));
            close(fd);
        }
        mockctl({"setup"});
    }

    // Runs testdata/mockctl.py against this bus; the test fails if it does.
    std::string mockctl(const std::vector<std::string>& args) {
        std::vector<std::string> argv{kPython, kMockctl.string()};
        argv.insert(argv.end(), args.begin(), args.end());
        auto result = run(argv);
        INFO("mockctl " << args.front() << " (logs in " << dir_.path() << "): " << result.output);
        REQUIRE(result.exit_code == 0);
        return result.output;
    }

    // The arguments of every call of `method` on the service's main object, as JSON.
    std::string calls(const std::string& service, const std::string& method) {
        auto out = mockctl({"calls", service, method});
        while (!out.empty() && out.back() == '\n')
            out.pop_back();
        return out;
    }

    void stop_bus() { daemon_->stop(); }

  private:
    TempDir dir_;
    std::optional<Child> daemon_;
    std::optional<ScopedEnv> env_;
    std::vector<Child> mocks_;
    std::string address_;
};

SdbusSystemOptions quick_options() {
    SdbusSystemOptions options;
    options.job_timeout = std::chrono::seconds(10);
    options.call_timeout = std::chrono::seconds(10);
    return options;
}

}  // namespace

TEST_CASE_METHOD(MockSystemBus, "restart_unit waits for JobRemoved sent before the reply",
                 "[dbus]") {
    SdbusSystem system(quick_options());
    auto outcome = system.restart_unit(kUnit);
    INFO(outcome.error);
    CHECK(outcome.ok);
    CHECK(outcome.result == "done");
    CHECK(outcome.job_path == "/org/freedesktop/systemd1/job/1");
    CHECK(outcome.error.empty());
    CHECK(calls("systemd", "Subscribe") == "[[]]");
    CHECK(calls("systemd", "RestartUnit") == R"([["parley-server.service", "replace"]])");
}

TEST_CASE_METHOD(MockSystemBus, "a job that does not end in done is a failure with its result",
                 "[dbus]") {
    std::string result = GENERATE("failed", "canceled", "timeout", "dependency", "skipped");
    mockctl({"job", "RestartUnit", result});
    SdbusSystem system(quick_options());
    auto outcome = system.restart_unit(kUnit);
    CHECK_FALSE(outcome.ok);
    CHECK(outcome.result == result);
    CHECK(outcome.job_path == "/org/freedesktop/systemd1/job/1");
    CHECK(outcome.error == "job " + result);
    CHECK(calls("systemd", "RestartUnit") == R"([["parley-server.service", "replace"]])");
}

TEST_CASE_METHOD(MockSystemBus, "start_unit and stop_unit wait for JobRemoved sent after the reply",
                 "[dbus]") {
    SdbusSystem system(quick_options());

    auto started = system.start_unit(kUnit);
    INFO(started.error);
    CHECK(started.ok);
    CHECK(started.result == "done");
    CHECK(system.unit_state(kUnit).active_state == "active");

    auto stopped = system.stop_unit(kUnit);
    INFO(stopped.error);
    CHECK(stopped.ok);
    CHECK(stopped.result == "done");
    CHECK(stopped.job_path != started.job_path);
    CHECK(system.unit_state(kUnit).active_state == "inactive");

    CHECK(calls("systemd", "StartUnit") == R"([["parley-server.service", "replace"]])");
    CHECK(calls("systemd", "StopUnit") == R"([["parley-server.service", "replace"]])");
    // One connection, one subscription.
    CHECK(calls("systemd", "Subscribe") == "[[]]");
}

TEST_CASE_METHOD(MockSystemBus, "concurrent jobs each get their own JobRemoved", "[dbus]") {
    SdbusSystem system(quick_options());
    constexpr int kThreads = 4;
    std::vector<JobOutcome> outcomes(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
        threads.emplace_back([&, i] { outcomes[i] = system.restart_unit(kUnit); });
    }
    for (auto& thread : threads)
        thread.join();
    std::set<std::string> paths;
    for (const auto& outcome : outcomes) {
        INFO(outcome.error);
        CHECK(outcome.ok);
        CHECK(outcome.result == "done");
        paths.insert(outcome.job_path);
    }
    CHECK(paths.size() == kThreads);
    CHECK(calls("systemd", "RestartUnit") ==
          R"([["parley-server.service", "replace"], ["parley-server.service", "replace"], )"
          R"(["parley-server.service", "replace"], ["parley-server.service", "replace"]])");
    CHECK(calls("systemd", "Subscribe") == "[[]]");
}

TEST_CASE_METHOD(MockSystemBus, "a job whose JobRemoved never comes times out", "[dbus]") {
    // The mock sends JobRemoved for some other job path only: it must not be taken for ours.
    mockctl({"job-never", "RestartUnit"});
    SdbusSystemOptions options = quick_options();
    options.job_timeout = std::chrono::milliseconds(300);
    SdbusSystem system(options);
    auto begin = std::chrono::steady_clock::now();
    auto outcome = system.restart_unit(kUnit);
    CHECK(std::chrono::steady_clock::now() - begin >= std::chrono::milliseconds(300));
    CHECK_FALSE(outcome.ok);
    CHECK(outcome.result.empty());
    CHECK(outcome.job_path == "/org/freedesktop/systemd1/job/1");
    CHECK(outcome.error == "no JobRemoved for /org/freedesktop/systemd1/job/1 within 300 ms");
}

TEST_CASE_METHOD(MockSystemBus, "unit_state reads the unit's ActiveState, SubState, LoadState",
                 "[dbus]") {
    SdbusSystem system(quick_options());
    auto state = system.unit_state(kUnit);
    INFO(state.error);
    CHECK(state.ok());
    CHECK(state.active_state == "inactive");
    CHECK(state.sub_state == "dead");
    CHECK(state.load_state == "loaded");
    CHECK(calls("systemd", "GetUnit") == R"([["parley-server.service"]])");
    CHECK(calls("systemd", "LoadUnit") == "[]");
}

TEST_CASE_METHOD(MockSystemBus, "unit_state loads a unit systemd has unloaded", "[dbus]") {
    mockctl({"fail", "systemd", "GetUnit", "s", "o", "org.freedesktop.systemd1.NoSuchUnit",
             "Unit parley-server.service not loaded."});
    mockctl({"method", "systemd", "LoadUnit", "s", "o", "ret = self.units[args[0]]"});
    SdbusSystem system(quick_options());
    auto state = system.unit_state(kUnit);
    INFO(state.error);
    CHECK(state.ok());
    CHECK(state.active_state == "inactive");
    CHECK(state.load_state == "loaded");
    CHECK(calls("systemd", "GetUnit") == R"([["parley-server.service"]])");
    CHECK(calls("systemd", "LoadUnit") == R"([["parley-server.service"]])");
}

TEST_CASE_METHOD(MockSystemBus, "reboot calls logind Reboot without interaction", "[dbus]") {
    SdbusSystem system(quick_options());
    auto outcome = system.reboot();
    INFO(outcome.error);
    CHECK(outcome.ok);
    CHECK(calls("logind", "Reboot") == "[[false]]");
    CHECK(calls("logind", "PowerOff") == "[]");
}

TEST_CASE_METHOD(MockSystemBus, "a shutdown is scheduled, read back and cancelled", "[dbus]") {
    std::string type = GENERATE("reboot", "poweroff");
    SdbusSystem system(quick_options());
    const std::uint64_t when = 1893456000123456;  // 2030-01-01T00:00:00.123456Z

    auto none = system.scheduled_shutdown();
    INFO(none.error);
    REQUIRE(none.ok());
    CHECK(none.type.empty());
    CHECK(none.usec == 0);

    auto scheduled = system.schedule_shutdown(type, when);
    INFO(scheduled.error);
    CHECK(scheduled.ok);
    CHECK(calls("logind", "ScheduleShutdown") ==
          "[[\"" + type + "\", " + std::to_string(when) + "]]");
    auto pending = system.scheduled_shutdown();
    CHECK(pending.type == type);
    CHECK(pending.usec == when);

    auto cancelled = system.cancel_scheduled_shutdown();
    INFO(cancelled.error);
    CHECK(cancelled.ok);
    CHECK(calls("logind", "CancelScheduledShutdown") == "[[]]");
    auto after = system.scheduled_shutdown();
    CHECK(after.type.empty());
    CHECK(after.usec == 0);
}

TEST_CASE_METHOD(MockSystemBus, "schedule_shutdown refuses other types before calling logind",
                 "[dbus]") {
    SdbusSystem system(quick_options());
    auto outcome = system.schedule_shutdown("halt", 1893456000000000);
    CHECK_FALSE(outcome.ok);
    CHECK(outcome.error == "unsupported shutdown type 'halt' (expected reboot or poweroff)");
    CHECK(calls("logind", "ScheduleShutdown") == "[]");
}

TEST_CASE_METHOD(MockSystemBus, "D-Bus errors come back as outcome errors", "[dbus]") {
    SdbusSystem system(quick_options());

    SECTION("a job method") {
        mockctl({"fail", "systemd", "RestartUnit", "ss", "o", "org.freedesktop.systemd1.NoSuchUnit",
                 "Unit nope.service not found."});
        auto outcome = system.restart_unit("nope.service");
        CHECK_FALSE(outcome.ok);
        CHECK(outcome.result.empty());
        CHECK(outcome.job_path.empty());
        CHECK(outcome.error == "org.freedesktop.systemd1.NoSuchUnit: Unit nope.service not found.");
        CHECK(calls("systemd", "RestartUnit") == R"([["nope.service", "replace"]])");
    }
    SECTION("Subscribe") {
        mockctl({"fail", "systemd", "Subscribe", "", "", "org.freedesktop.DBus.Error.AccessDenied",
                 "Access denied"});
        auto outcome = system.start_unit(kUnit);
        CHECK_FALSE(outcome.ok);
        CHECK(outcome.error == "org.freedesktop.DBus.Error.AccessDenied: Access denied");
        CHECK(calls("systemd", "StartUnit") == "[]");
    }
    SECTION("unit state") {
        mockctl({"fail", "systemd", "GetUnit", "s", "o", "org.freedesktop.DBus.Error.AccessDenied",
                 "Access denied"});
        auto state = system.unit_state(kUnit);
        CHECK_FALSE(state.ok());
        CHECK(state.error == "org.freedesktop.DBus.Error.AccessDenied: Access denied");
        CHECK(calls("systemd", "LoadUnit") == "[]");
    }
    SECTION("reboot") {
        mockctl({"fail", "logind", "Reboot", "b", "",
                 "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
                 "Interactive authentication required."});
        auto outcome = system.reboot();
        CHECK_FALSE(outcome.ok);
        CHECK(outcome.error ==
              "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired: Interactive "
              "authentication required.");
        CHECK(calls("logind", "Reboot") == "[[false]]");
    }
    SECTION("cancel") {
        mockctl({"fail", "logind", "CancelScheduledShutdown", "", "b",
                 "org.freedesktop.DBus.Error.AccessDenied", "Access denied"});
        auto outcome = system.cancel_scheduled_shutdown();
        CHECK_FALSE(outcome.ok);
        CHECK(outcome.error == "org.freedesktop.DBus.Error.AccessDenied: Access denied");
    }
}

TEST_CASE("without a bus every call is a clean error", "[dbus]") {
    TempDir dir;
    ScopedEnv env("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=" + (dir.path() / "no-bus").string());
    SdbusSystem system(quick_options());
    const std::string prefix = "cannot connect to the system bus: ";

    auto job = system.restart_unit(kUnit);
    CHECK_FALSE(job.ok);
    CHECK(job.error.starts_with(prefix));
    CHECK(job.job_path.empty());
    CHECK(system.start_unit(kUnit).error.starts_with(prefix));
    CHECK(system.stop_unit(kUnit).error.starts_with(prefix));
    CHECK(system.unit_state(kUnit).error.starts_with(prefix));
    CHECK(system.reboot().error.starts_with(prefix));
    CHECK(system.schedule_shutdown("reboot", 1).error.starts_with(prefix));
    CHECK(system.cancel_scheduled_shutdown().error.starts_with(prefix));
    CHECK(system.scheduled_shutdown().error.starts_with(prefix));
}

TEST_CASE_METHOD(MockSystemBus, "a bus that goes away is an error, then a new bus is used",
                 "[dbus]") {
    SdbusSystem system(quick_options());
    REQUIRE(system.reboot().ok);

    stop_bus();
    auto lost = system.reboot();
    CHECK_FALSE(lost.ok);
    CHECK_FALSE(lost.error.empty());
    CHECK_FALSE(system.restart_unit(kUnit).ok);

    // The next bus (here a second private one) is picked up without a new SdbusSystem.
    MockSystemBus next;
    auto outcome = system.reboot();
    INFO(outcome.error);
    CHECK(outcome.ok);
    CHECK(next.calls("logind", "Reboot") == "[[false]]");
}

}  // namespace parley
