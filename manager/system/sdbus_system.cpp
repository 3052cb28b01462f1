#include "manager/system/sdbus_system.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <string>
#include <thread>
#include <utility>

#include <sdbus-c++/sdbus-c++.h>
#include <spdlog/spdlog.h>

namespace parley {

namespace {

constexpr const char* kSystemdService = "org.freedesktop.systemd1";
constexpr const char* kSystemdPath = "/org/freedesktop/systemd1";
constexpr const char* kSystemdManager = "org.freedesktop.systemd1.Manager";
constexpr const char* kSystemdUnit = "org.freedesktop.systemd1.Unit";
constexpr const char* kLogindService = "org.freedesktop.login1";
constexpr const char* kLogindPath = "/org/freedesktop/login1";
constexpr const char* kLogindManager = "org.freedesktop.login1.Manager";
constexpr const char* kProperties = "org.freedesktop.DBus.Properties";

// JobRemoved signals are kept only while a job call is in flight, but other clients' jobs end
// then too; this bounds what a busy host can make us hold.
constexpr std::size_t kMaxBufferedJobs = 1024;

std::string describe(const sdbus::Error& e) {
    if (e.getMessage().empty()) return e.getName();
    return e.getName() + ": " + e.getMessage();
}

std::string string_property(const std::map<std::string, sdbus::Variant>& properties,
                            const std::string& name) {
    auto it = properties.find(name);
    if (it == properties.end() || !it->second.containsValueOfType<std::string>()) return {};
    return it->second.get<std::string>();
}

}  // namespace

// One connection to the system bus with its proxies and event-loop thread. It is replaced as a
// whole when its loop stops (the bus went away), which is simpler and safer than repairing it.
class SdbusSystem::Bus {
  public:
    // Throws sdbus::Error when the bus cannot be reached.
    explicit Bus(const SdbusSystemOptions& options) : options_(options) {
        connection_ = sdbus::createSystemBusConnection();
        systemd_ = sdbus::createProxy(*connection_, kSystemdService, kSystemdPath);
        // Registered (and the match installed on the bus) before any job is queued, so a
        // JobRemoved that overtakes the method reply is still seen and buffered.
        systemd_->uponSignal("JobRemoved")
            .onInterface(kSystemdManager)
            .call([this](std::uint32_t /*id*/, const sdbus::ObjectPath& job,
                         const std::string& /*unit*/,
                         const std::string& result) { on_job_removed(job, result); });
        systemd_->finishRegistration();
        logind_ = sdbus::createProxy(*connection_, kLogindService, kLogindPath);
        logind_->finishRegistration();
        // Our own thread rather than enterEventLoopAsync(): when the bus drops, sdbus-c++'s
        // loop throws, and on its internal thread that would terminate the process.
        loop_ = std::thread([this] { run_loop(); });
    }

    ~Bus() {
        connection_->leaveEventLoop();
        if (loop_.joinable()) loop_.join();
        // Proxies unregister their matches on the connection, so they go first.
        systemd_.reset();
        logind_.reset();
        connection_.reset();
    }

    Bus(const Bus&) = delete;
    Bus& operator=(const Bus&) = delete;

    bool broken() const { return broken_.load(); }

    JobOutcome run_job(const char* method, const std::string& unit) {
        JobOutcome outcome;
        {
            std::lock_guard lock(jobs_mutex_);
            ++waiting_;
        }
        struct Done {
            Bus& bus;
            ~Done() {
                std::lock_guard lock(bus.jobs_mutex_);
                if (--bus.waiting_ == 0) bus.finished_.clear();
            }
        } done{*this};

        try {
            subscribe();
            sdbus::ObjectPath job;
            systemd_->callMethod(method)
                .onInterface(kSystemdManager)
                .withTimeout(options_.call_timeout)
                .withArguments(unit, std::string("replace"))
                .storeResultsTo(job);
            outcome.job_path = job;
        } catch (const sdbus::Error& e) {
            outcome.error = describe(e);
            return outcome;
        }

        std::unique_lock lock(jobs_mutex_);
        auto finished = [&] {
            for (auto it = finished_.begin(); it != finished_.end(); ++it) {
                if (it->first == outcome.job_path) {
                    outcome.result = it->second;
                    finished_.erase(it);
                    return true;
                }
            }
            return false;
        };
        auto deadline = std::chrono::steady_clock::now() + options_.job_timeout;
        if (!jobs_cv_.wait_until(lock, deadline, [&] { return finished() || broken(); })) {
            outcome.error = "no JobRemoved for " + outcome.job_path + " within " +
                            std::to_string(options_.job_timeout.count()) + " ms";
        } else if (outcome.result.empty()) {
            outcome.error = "D-Bus connection lost while waiting for " + outcome.job_path;
        } else {
            outcome.ok = outcome.result == "done";
            if (!outcome.ok) outcome.error = "job " + outcome.result;
        }
        return outcome;
    }

    UnitState unit_state(const std::string& unit) {
        UnitState state;
        try {
            sdbus::ObjectPath path;
            try {
                systemd_->callMethod("GetUnit")
                    .onInterface(kSystemdManager)
                    .withTimeout(options_.call_timeout)
                    .withArguments(unit)
                    .storeResultsTo(path);
            } catch (const sdbus::Error& e) {
                // systemd unloads idle units; LoadUnit brings one back (without starting it)
                // so a stopped or unknown unit still reports its state.
                if (e.getName() != "org.freedesktop.systemd1.NoSuchUnit") throw;
                systemd_->callMethod("LoadUnit")
                    .onInterface(kSystemdManager)
                    .withTimeout(options_.call_timeout)
                    .withArguments(unit)
                    .storeResultsTo(path);
            }
            auto unit_proxy = sdbus::createProxy(*connection_, kSystemdService, path);
            std::map<std::string, sdbus::Variant> properties;
            unit_proxy->callMethod("GetAll")
                .onInterface(kProperties)
                .withTimeout(options_.call_timeout)
                .withArguments(std::string(kSystemdUnit))
                .storeResultsTo(properties);
            state.active_state = string_property(properties, "ActiveState");
            state.sub_state = string_property(properties, "SubState");
            state.load_state = string_property(properties, "LoadState");
        } catch (const sdbus::Error& e) {
            state.error = describe(e);
        }
        return state;
    }

    PowerOutcome reboot() {
        return logind_call([&] {
            logind_->callMethod("Reboot")
                .onInterface(kLogindManager)
                .withTimeout(options_.call_timeout)
                .withArguments(false)  // interactive: nobody is there to answer a polkit prompt
                .storeResultsTo();
        });
    }

    PowerOutcome schedule_shutdown(const std::string& type, std::uint64_t unix_usec) {
        return logind_call([&] {
            logind_->callMethod("ScheduleShutdown")
                .onInterface(kLogindManager)
                .withTimeout(options_.call_timeout)
                .withArguments(type, unix_usec)
                .storeResultsTo();
        });
    }

    PowerOutcome cancel_scheduled_shutdown() {
        return logind_call([&] {
            bool cancelled = false;
            logind_->callMethod("CancelScheduledShutdown")
                .onInterface(kLogindManager)
                .withTimeout(options_.call_timeout)
                .storeResultsTo(cancelled);
        });
    }

    ScheduledShutdown scheduled_shutdown() {
        ScheduledShutdown scheduled;
        try {
            sdbus::Variant value;
            logind_->callMethod("Get")
                .onInterface(kProperties)
                .withTimeout(options_.call_timeout)
                .withArguments(std::string(kLogindManager), std::string("ScheduledShutdown"))
                .storeResultsTo(value);
            using Pair = sdbus::Struct<std::string, std::uint64_t>;
            if (!value.containsValueOfType<Pair>()) {
                scheduled.error =
                    "ScheduledShutdown has type " + value.peekValueType() + ", expected (st)";
                return scheduled;
            }
            auto pair = value.get<Pair>();
            scheduled.type = std::get<0>(pair);
            scheduled.usec = std::get<1>(pair);
        } catch (const sdbus::Error& e) {
            scheduled.error = describe(e);
        }
        return scheduled;
    }

  private:
    void run_loop() {
        try {
            connection_->enterEventLoop();
        } catch (const sdbus::Error& e) {
            spdlog::warn("D-Bus event loop stopped: {}", describe(e));
        } catch (const std::exception& e) {
            spdlog::warn("D-Bus event loop stopped: {}", e.what());
        }
        // Set under the lock so a job waiter cannot miss the wake-up between test and wait.
        std::lock_guard lock(jobs_mutex_);
        broken_ = true;
        jobs_cv_.notify_all();
    }

    void on_job_removed(const sdbus::ObjectPath& job, const std::string& result) {
        std::lock_guard lock(jobs_mutex_);
        if (waiting_ == 0) return;
        finished_.emplace_back(job, result);
        if (finished_.size() > kMaxBufferedJobs) finished_.pop_front();
        jobs_cv_.notify_all();
    }

    // systemd emits job signals only to subscribed clients; once per connection is enough.
    void subscribe() {
        std::lock_guard lock(subscribe_mutex_);
        if (subscribed_) return;
        try {
            systemd_->callMethod("Subscribe")
                .onInterface(kSystemdManager)
                .withTimeout(options_.call_timeout)
                .storeResultsTo();
        } catch (const sdbus::Error& e) {
            if (e.getName() != "org.freedesktop.systemd1.AlreadySubscribed") throw;
        }
        subscribed_ = true;
    }

    template <typename Call>
    PowerOutcome logind_call(Call&& call) {
        PowerOutcome outcome;
        try {
            call();
            outcome.ok = true;
        } catch (const sdbus::Error& e) {
            outcome.error = describe(e);
        }
        return outcome;
    }

    const SdbusSystemOptions options_;
    std::unique_ptr<sdbus::IConnection> connection_;
    std::unique_ptr<sdbus::IProxy> systemd_;
    std::unique_ptr<sdbus::IProxy> logind_;
    std::thread loop_;
    std::atomic<bool> broken_{false};

    std::mutex subscribe_mutex_;
    bool subscribed_ = false;

    std::mutex jobs_mutex_;  // guards waiting_ and finished_
    std::condition_variable jobs_cv_;
    int waiting_ = 0;  // job calls in flight; signals are buffered only while there are some
    std::deque<std::pair<std::string, std::string>> finished_;  // (job path, result), oldest first
};

SdbusSystem::SdbusSystem(SdbusSystemOptions options) : options_(options) {}

SdbusSystem::~SdbusSystem() = default;

std::shared_ptr<SdbusSystem::Bus> SdbusSystem::bus(std::string& error) {
    std::lock_guard lock(mutex_);
    if (bus_ && !bus_->broken()) return bus_;
    if (bus_) spdlog::warn("D-Bus connection lost; reconnecting to the system bus");
    bus_.reset();
    try {
        bus_ = std::make_shared<Bus>(options_);
    } catch (const sdbus::Error& e) {
        error = "cannot connect to the system bus: " + describe(e);
    } catch (const std::exception& e) {
        error = std::string("cannot connect to the system bus: ") + e.what();
    }
    if (!bus_) spdlog::error("{}", error);
    return bus_;
}

JobOutcome SdbusSystem::run_job(const char* method, const std::string& unit) {
    std::string error;
    auto bus = this->bus(error);
    if (!bus) return JobOutcome{.error = error};
    auto outcome = bus->run_job(method, unit);
    if (outcome.ok) {
        spdlog::info("systemd {} {}: {} ({})", method, unit, outcome.result, outcome.job_path);
    } else {
        spdlog::warn("systemd {} {} failed: {}", method, unit, outcome.error);
    }
    return outcome;
}

JobOutcome SdbusSystem::start_unit(const std::string& unit) {
    return run_job("StartUnit", unit);
}

JobOutcome SdbusSystem::stop_unit(const std::string& unit) {
    return run_job("StopUnit", unit);
}

JobOutcome SdbusSystem::restart_unit(const std::string& unit) {
    return run_job("RestartUnit", unit);
}

UnitState SdbusSystem::unit_state(const std::string& unit) {
    std::string error;
    auto bus = this->bus(error);
    if (!bus) return UnitState{.error = error};
    return bus->unit_state(unit);
}

PowerOutcome SdbusSystem::reboot() {
    std::string error;
    auto bus = this->bus(error);
    if (!bus) return PowerOutcome{.error = error};
    spdlog::warn("asking logind to reboot the host");
    auto outcome = bus->reboot();
    if (!outcome.ok) spdlog::error("reboot refused: {}", outcome.error);
    return outcome;
}

PowerOutcome SdbusSystem::schedule_shutdown(const std::string& type, std::uint64_t unix_usec) {
    if (type != "reboot" && type != "poweroff") {
        return PowerOutcome{.error = "unsupported shutdown type '" + type +
                                     "' (expected reboot or poweroff)"};
    }
    std::string error;
    auto bus = this->bus(error);
    if (!bus) return PowerOutcome{.error = error};
    auto outcome = bus->schedule_shutdown(type, unix_usec);
    if (outcome.ok) {
        spdlog::info("scheduled {} at {} us since the epoch", type, unix_usec);
    } else {
        spdlog::error("scheduling {} failed: {}", type, outcome.error);
    }
    return outcome;
}

PowerOutcome SdbusSystem::cancel_scheduled_shutdown() {
    std::string error;
    auto bus = this->bus(error);
    if (!bus) return PowerOutcome{.error = error};
    auto outcome = bus->cancel_scheduled_shutdown();
    if (outcome.ok) {
        spdlog::info("cancelled the scheduled shutdown");
    } else {
        spdlog::error("cancelling the scheduled shutdown failed: {}", outcome.error);
    }
    return outcome;
}

ScheduledShutdown SdbusSystem::scheduled_shutdown() {
    std::string error;
    auto bus = this->bus(error);
    if (!bus) return ScheduledShutdown{.error = error};
    return bus->scheduled_shutdown();
}

}  // namespace parley
