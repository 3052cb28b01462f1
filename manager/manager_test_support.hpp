// Test doubles for the manager's unit tests (included by *_test.cpp only): a temp directory,
// a fake clock and FakeSystem, which stands in for ServiceControl, PowerControl and Journal,
// records every call and answers what the test told it to. Thread-safe, as the real ones are.
#pragma once

#include <stdlib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "common/test_support.hpp"
#include "manager/system/service_control.hpp"

namespace parley::testing {

struct TempDir : parley::test::TempDir {
    TempDir() : parley::test::TempDir("manager-test") {}
};

// A wall clock the test moves by hand.
struct FakeClock {
    std::atomic<std::int64_t> now_ms{1'700'000'000'000};
    auto function() {
        return [this] { return now_ms.load(); };
    }
};

class FakeSystem final : public ServiceControl, public PowerControl, public Journal {
  public:
    JobOutcome start_unit(const std::string& unit) override { return job("start", unit); }
    JobOutcome stop_unit(const std::string& unit) override { return job("stop", unit); }
    JobOutcome restart_unit(const std::string& unit) override { return job("restart", unit); }
    UnitState unit_state(const std::string& unit) override {
        std::lock_guard lock(mutex_);
        calls_.push_back("unit_state " + unit);
        return state;
    }
    PowerOutcome reboot() override {
        std::lock_guard lock(mutex_);
        calls_.push_back("reboot");
        return power;
    }
    PowerOutcome schedule_shutdown(const std::string& type, std::uint64_t usec) override {
        std::lock_guard lock(mutex_);
        calls_.push_back("schedule_shutdown " + type + " " + std::to_string(usec));
        return power;
    }
    PowerOutcome cancel_scheduled_shutdown() override {
        std::lock_guard lock(mutex_);
        calls_.push_back("cancel_scheduled_shutdown");
        return power;
    }
    ScheduledShutdown scheduled_shutdown() override { return {}; }
    JournalLines last_lines(const std::string& unit, std::size_t count) override {
        std::lock_guard lock(mutex_);
        calls_.push_back("last_lines " + unit + " " + std::to_string(count));
        JournalLines out = journal;
        if (out.lines.size() > count) out.lines.erase(out.lines.begin(), out.lines.end() - count);
        return out;
    }

    std::vector<std::string> calls() {
        std::lock_guard lock(mutex_);
        return calls_;
    }

    // What the next calls answer; set before use.
    JobOutcome outcome{true, "done", "/org/freedesktop/systemd1/job/7", ""};
    UnitState state{"active", "running", "loaded", ""};
    PowerOutcome power{true, ""};
    JournalLines journal;

  private:
    JobOutcome job(const char* verb, const std::string& unit) {
        std::lock_guard lock(mutex_);
        calls_.push_back(std::string(verb) + " " + unit);
        return outcome;
    }

    std::mutex mutex_;
    std::vector<std::string> calls_;
};

}  // namespace parley::testing
