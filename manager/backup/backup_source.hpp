// BackupSource: the sending side of backups (docs/backups.md). backup.run — from the local
// server (its daily time or an admin route) or `parley manager-api` — starts one run to a peer
// manager: for each database of the server (current, history) a snapshot on a dedicated read
// connection, streamed in chunks with its SHA-256 while `PRAGMA integrity_check` runs on the
// same file on another thread; then the media manifest, and only the files the target lacks;
// then backup.finish with the integrity results, so the target commits the snapshot only if
// every check passed.
//
// The peer is reached over its link when one is up, else over one mutual-TLS connection to its
// URL held for the whole run. One run at a time. Owned by the manager's run function; run() is
// called on the event loop; file reads, hashing and SQLite work go to the blocking pool.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "manager/backup/media_manifest.hpp"
#include "manager/links/link.hpp"
#include "manager/protocol/api_protocol.hpp"
#include "manager/settings/manager_config.hpp"
#include "manager/state/manager_store.hpp"

namespace parley {

struct ApiCaller;

class BackupSource {
  public:
    BackupSource(const ManagerConfig& config, std::string self_name, ManagerStore& store,
                 LinkRegistry& links, net::thread_pool& blocking, net::ssl::context* client_tls,
                 std::map<std::string, std::string> peer_keys);

    // Removes a staging directory left by an interrupted run. Once, at start-up.
    void recover();

    // backup.run {to?, wait?}: answers {run, to, state: "running"} at once, or the run's
    // outcome when `wait` is true. A run already going is `unavailable`.
    awaitable<json> run(const ApiRequest& request, const ApiCaller& caller);

    // Media files per backup.media page (a page stays far below the frame limit).
    static constexpr std::size_t kManifestPage = 4000;

    struct Run;

  private:
    struct Transfer;
    // A run's steps, in order: reach the peer, begin, each database, the media, finish (the
    // target commits); conclude() always runs (abort on failure, clean up, record, log).
    awaitable<json> execute(std::shared_ptr<Run> run);
    awaitable<void> connect(Transfer& t);
    awaitable<void> send_database(Transfer& t, const std::string& db);
    awaitable<void> send_media(Transfer& t);
    // send_media's steps: the manifest in pages of kManifestPage, answered with the entries
    // the target lacks (their manifest's size added to `manifest_bytes`); one file in chunks,
    // its size, or -1 when it was deleted since the listing.
    awaitable<std::vector<const MediaEntry*>> offer_media(Transfer& t,
                                                          const std::vector<MediaEntry>& entries,
                                                          std::int64_t& manifest_bytes);
    awaitable<std::int64_t> send_media_file(Transfer& t, const std::string& media_dir,
                                            const MediaEntry& entry);
    awaitable<void> commit(Transfer& t);
    awaitable<json> conclude(Transfer& t, const std::string& failure, std::int64_t duration_ms);

    const ManagerConfig& config_;
    const std::string self_;
    ManagerStore& store_;
    LinkRegistry& links_;
    net::thread_pool& blocking_;
    net::ssl::context* client_tls_;
    const std::map<std::string, std::string> peer_keys_;
    std::shared_ptr<Run> current_;  // touched on the event loop only
};

}  // namespace parley
