// SdbusSystem: ServiceControl and PowerControl over the system bus, talking to systemd
// (org.freedesktop.systemd1) and logind (org.freedesktop.login1). This pair is the only code in
// Parley that uses sdbus-c++, and only the .cpp includes it, so moving to its v2 API touches
// this file pair alone.
//
// The bus is the system bus as sd-bus finds it: DBUS_SYSTEM_BUS_ADDRESS if set (the tests point
// it at a private dbus-daemon), else the well-known socket. The connection is opened on first
// use, not in the constructor, and opened again after it breaks, so a manager started before
// D-Bus (or across a dbus-daemon restart) recovers, and a missing bus is an error value rather
// than an exception. Each connection runs its own event-loop thread, which receives systemd's
// JobRemoved signals. Owned by the manager's run function; every method is blocking (a job call
// can wait up to job_timeout) and safe to call from several threads at once.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>

#include "manager/system/service_control.hpp"

namespace parley {

struct SdbusSystemOptions {
    // How long start/stop/restart wait for systemd to finish the job once it is queued.
    std::chrono::milliseconds job_timeout{std::chrono::seconds(90)};
    // How long one D-Bus method call may take before it fails with a timeout error.
    std::chrono::milliseconds call_timeout{std::chrono::seconds(25)};
};

class SdbusSystem final : public ServiceControl, public PowerControl {
  public:
    explicit SdbusSystem(SdbusSystemOptions options = {});
    ~SdbusSystem() override;

    SdbusSystem(const SdbusSystem&) = delete;
    SdbusSystem& operator=(const SdbusSystem&) = delete;

    JobOutcome start_unit(const std::string& unit) override;
    JobOutcome stop_unit(const std::string& unit) override;
    JobOutcome restart_unit(const std::string& unit) override;
    UnitState unit_state(const std::string& unit) override;

    PowerOutcome reboot() override;
    PowerOutcome schedule_shutdown(const std::string& type, std::uint64_t unix_usec) override;
    PowerOutcome cancel_scheduled_shutdown() override;
    ScheduledShutdown scheduled_shutdown() override;

  private:
    class Bus;

    // The live connection, opened (or re-opened) when there is none or it broke; empty with
    // `error` set when the bus cannot be reached.
    std::shared_ptr<Bus> bus(std::string& error);
    JobOutcome run_job(const char* method, const std::string& unit);

    const SdbusSystemOptions options_;
    std::mutex mutex_;  // guards bus_
    std::shared_ptr<Bus> bus_;
};

}  // namespace parley
