// SystemdJournal: the Journal interface over sd-journal (libsystemd), reading the entries whose
// _SYSTEMD_UNIT is the unit asked for, the way `journalctl -u` starts. The manager reads the
// journal of parley-server.service to show it to an administrator; under systemd it needs the
// systemd-journal group for that (parley-manager.service grants it). A journal it cannot read
// is an error value, never an exception. Stateless between calls (each call opens and closes
// the journal, as sd_journal handles are not thread-safe), so it is safe to call from several
// threads at once; blocking, and owned by the manager's run function.
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include "manager/system/service_control.hpp"

namespace parley {

class SystemdJournal final : public Journal {
  public:
    // The local system journal (/run/log/journal and /var/log/journal).
    SystemdJournal() = default;
    // Only the journal files in `directory` (tests, or a journal copied off another host).
    explicit SystemdJournal(std::string directory) : directory_(std::move(directory)) {}

    // At most kMaxLines lines are returned, whatever `count` asks for.
    JournalLines last_lines(const std::string& unit, std::size_t count) override;

    static constexpr std::size_t kMaxLines = 10000;

  private:
    std::string directory_;
};

}  // namespace parley
