// The manager's view of the host: ServiceControl (start, stop, restart and inspect a systemd
// unit), PowerControl (reboot now, schedule or cancel a reboot/power-off) and Journal (the last
// lines a unit logged). These are Parley's own small interfaces so that the manager never sees
// sdbus-c++ or sd-journal types: SdbusSystem (sdbus_system.hpp) implements the first two over
// the system bus, SystemdJournal (systemd_journal.hpp) the third, and tests substitute fakes.
// Nothing here throws: every failure comes back as a value with a readable `error` (for D-Bus
// failures it starts with the D-Bus error name). The manager's run function owns the
// implementations; every implementation must be safe to call from several threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace parley {

// The end of one systemd job. `result` is systemd's JobRemoved result ("done", "failed",
// "canceled", "timeout", "dependency", "skipped"), empty when the job never got that far (the
// call failed, or we stopped waiting for it); ok is true only for "done".
struct JobOutcome {
    bool ok = false;
    std::string result;
    std::string job_path;
    std::string error;
};

struct UnitState {
    std::string active_state;  // "active", "inactive", "failed", "activating", ...
    std::string sub_state;     // "running", "dead", "exited", ...
    std::string load_state;    // "loaded", "not-found", "masked", ...
    std::string error;         // empty when the state was read

    bool ok() const { return error.empty(); }
};

class ServiceControl {
  public:
    virtual ~ServiceControl() = default;

    // Each call queues one job (mode "replace") and returns when systemd reports it finished,
    // or when the implementation's job timeout expires.
    virtual JobOutcome start_unit(const std::string& unit) = 0;
    virtual JobOutcome stop_unit(const std::string& unit) = 0;
    virtual JobOutcome restart_unit(const std::string& unit) = 0;
    virtual UnitState unit_state(const std::string& unit) = 0;
};

struct PowerOutcome {
    bool ok = false;
    std::string error;
};

// logind's pending shutdown; type is empty (and usec 0) when none is scheduled.
struct ScheduledShutdown {
    std::string type;        // "reboot" or "poweroff" when Parley scheduled it
    std::uint64_t usec = 0;  // CLOCK_REALTIME, microseconds since the Unix epoch
    std::string error;       // empty when the property was read

    bool ok() const { return error.empty(); }
};

class PowerControl {
  public:
    virtual ~PowerControl() = default;

    // Reboots now, without asking anyone interactively; the process may be killed before or
    // after this returns, so callers persist whatever they need first.
    virtual PowerOutcome reboot() = 0;
    // type: "reboot" or "poweroff" (anything else is refused without a D-Bus call).
    virtual PowerOutcome schedule_shutdown(const std::string& type, std::uint64_t unix_usec) = 0;
    virtual PowerOutcome cancel_scheduled_shutdown() = 0;
    virtual ScheduledShutdown scheduled_shutdown() = 0;
};

struct JournalLine {
    std::uint64_t realtime_usec = 0;  // when it was logged, microseconds since the Unix epoch
    std::string message;              // MESSAGE as logged (not necessarily UTF-8)
};

struct JournalLines {
    std::vector<JournalLine> lines;  // oldest first
    std::string error;               // empty when the journal was read (lines may still be empty)

    bool ok() const { return error.empty(); }
};

class Journal {
  public:
    virtual ~Journal() = default;

    // The last `count` entries whose _SYSTEMD_UNIT is `unit`.
    virtual JournalLines last_lines(const std::string& unit, std::size_t count) = 0;
};

}  // namespace parley
