// `parley manager restore --snapshot <id>`: puts a stored backup back (docs/backups.md).
//
// On the host that holds the backups (the target manager's backup directory, or a copy of it):
// checks the snapshot's files with a full integrity_check before touching anything, stops the
// server's unit through systemd (ServiceControl, D-Bus), takes the server's data-directory lock
// so that no server can start meanwhile, copies each database in (temp + fsync + rename, the
// stale -wal and -shm removed first), copies the media the data directory lacks (each file
// checked against its content hash), checks the restored databases again and starts the unit.
// Run as root, it gives every file and directory it creates to the data directory's owner.
// Prints what it did; exit 0 on success, 1 on any failure (named), 2 for bad arguments.
#pragma once

#include "common/cli.hpp"
#include "manager/settings/manager_config.hpp"
#include "manager/system/service_control.hpp"

namespace parley {

int run_restore(const ManagerConfig& config, const RestoreCall& call);

// The same with the service control given (tests; null: no systemd).
int restore_snapshot(const ManagerConfig& config, const RestoreCall& call, ServiceControl* service);

}  // namespace parley
