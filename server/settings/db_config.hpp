// DbSettings: tuning of the server's database access (the writer's group commit and the reader
// pool). Plain data, filled from the server configuration at start-up and copied into
// DbWriter and DbReaderPool; read-only afterwards.
#pragma once

#include <string>

namespace parley {

struct DbSettings {
    int reader_threads = 2;  // read-only connections, one thread each
    int max_batch = 256;     // jobs committed together in one transaction, at most
    // The shortest time from one commit's start to the next while writes keep arriving during
    // commits (other clients' writes, not one client's next write: that waits for its answer
    // and finds the writer idle). 0: commit as soon as the last commit ends. Each commit has
    // a fixed cost (the writer's wake-up and switch, the WAL frames' writes, the completions'
    // post), which many small concurrent commits pay per message.
    int commit_interval_us = 1000;
    int queue_limit = 10000;             // queued jobs (writer, and readers) before `unavailable`
    int busy_timeout_ms = 5000;          // waiting for a lock held by another connection/process
    std::string synchronous = "NORMAL";  // NORMAL: crash-safe; FULL: power-loss-safe
    // WAL pages before the writer copies them back into the database (SQLite's default is
    // 1000). Messages of many rooms land on many pages, each rewritten by every commit; a
    // checkpoint writes each page once, so a longer WAL means far fewer page copies per message.
    int wal_autocheckpoint_pages = 8192;
    // Messages the log holds before they are moved into the indexed table (RoomStore): each
    // room's pages are then written once per move instead of once per message. 8192: with 200
    // busy rooms, 2048 moved about ten messages a room a time, and every move rewrote each
    // room's table and index pages (docs/storage.md, "Tuning").
    int message_log_rows = 8192;
    // The writer connection's page cache (KiB). A move out of the message log touches a page
    // of each index per room moved; pages that fell out of the cache are read back (a pread
    // each), so the cache holds the indexes' working set.
    int writer_cache_kib = 32768;
};

}  // namespace parley
