// The restore drill (docs/backups.md): proves that a stored snapshot could be restored. Each
// of its databases is copied aside (durably, as a restore would), passes SQLite's
// integrity_check, and is then judged by the server's own verify_server_snapshot() (a schema
// this build knows, rows that hang together); the copies are removed afterwards. The outcome
// is one line for the run's record: "ok: {facts}" or "failed: reason". Blocking (the whole
// snapshot is read): run it on the blocking pool. Thread-safe for different snapshots.
#pragma once

#include <string>

#include "manager/backup/snapshot_store.hpp"

namespace parley {

std::string run_restore_drill(const SnapshotStore& store, const std::string& source,
                              const std::string& snapshot);

}  // namespace parley
