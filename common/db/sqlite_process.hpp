// configure_sqlite_process(): SQLite's process-wide settings, made once by main() before any
// connection opens (SQLite refuses them once it is initialised; they then stay at its defaults,
// which changes cost, not correctness).
#pragma once

namespace parley {

// Statement journals (the undo of one statement inside a transaction: each SAVEPOINT, the
// message log's multi-row moves) are kept in memory however large, never spilled to a
// temporary file: there they cost nearly as many writes as the WAL itself, for data that is
// never read after the statement ends. And no memory statistics, which would take a
// process-wide mutex on every allocation SQLite makes. True when SQLite took the settings.
bool configure_sqlite_process();

}  // namespace parley
