// BackupTarget: the receiving side of backups (docs/backups.md). A source manager opens a
// session (backup.begin), streams each database snapshot in chunks (backup.put) and closes it
// with its size and SHA-256 (backup.file), sends its media manifest page by page
// (backup.media, answered with what is missing here) and the missing files
// (backup.media_put), and ends with backup.finish carrying the result of its integrity_check.
//
// Nothing looks complete before it is: chunks go to <dir>/<source>/incoming/<session>/, each
// file is hashed as it arrives, fsynced and quick_checked, and only finish renames the
// snapshot files into <dir>/<source>/<db>/<snapshot id>.db (the directories fsynced). Media
// files are verified against their content hash and renamed into place one by one. A session
// that breaks — the source gone, a bad hash, a failed check, a manager restart — leaves only
// its incoming directory, which the next session of that source (or the next start) removes.
// After finish: media the source no longer has are removed, old snapshots are pruned by the
// retention policy, and the restore drill runs on the blocking pool.
//
// This class is the session protocol; the files live in a SnapshotStore (snapshot_store.hpp),
// each arriving file is an IncomingFile (incoming_file.hpp) and the drill is
// run_restore_drill() (restore_drill.hpp).
//
// Owned by the manager's run function. handle() is called from several blocking-pool threads at
// once; sessions are guarded by one mutex, each session's file work by its own.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "manager/backup/snapshot_store.hpp"
#include "manager/protocol/api_protocol.hpp"
#include "manager/settings/manager_config.hpp"
#include "manager/state/manager_store.hpp"

namespace parley {

struct ApiCaller;

class BackupTarget {
  public:
    // `post` runs a job on the blocking pool (the restore drill); `clock` gives Unix ms.
    BackupTarget(const ManagerConfig& config, ManagerStore& store,
                 std::function<void(std::function<void()>)> post,
                 std::function<std::int64_t()> clock, FileSystem& files = real_file_system());
    ~BackupTarget();

    // Removes what interrupted sessions and drills left behind and marks their runs failed.
    // Called once at start-up, before requests arrive.
    void recover();

    // backup.begin|put|file|media|media_put|finish|abort|status|history|snapshots: the complete
    // answer.
    json handle(const ApiRequest& request, const ApiCaller& caller);

    // Whether a method is one of the above, and whether it only reads.
    static bool handles(const std::string& method);
    static bool read_only(const std::string& method);

    // Longest source name (it names a directory).
    static constexpr std::size_t kMaxSourceName = 64;
    // Files a session may declare.
    static constexpr std::size_t kMaxFiles = 8;
    // Entries in one backup.media page.
    static constexpr std::size_t kMaxManifestPage = 5000;

    struct Session;

  private:
    json begin(const ApiRequest& request, const ApiCaller& caller);
    json put(Session& session, const json& params);
    json file_done(Session& session, const json& params);
    json media_page(Session& session, const json& params);
    json media_put(Session& session, const json& params);
    json finish(const std::shared_ptr<Session>& session, const json& params);
    // finish's steps: every file arrived whole and the source's integrity_check said "ok"
    // (else api_fail); the files renamed into the snapshot (their sizes and hashes, the total
    // in `total`); the restore drill queued on the manager's loop.
    void check_complete(const Session& session, const json& params);
    json store_files(Session& session, std::int64_t& total);
    void start_drill(const Session& session);
    json status();
    json history(const json& params);
    json list_snapshots(const json& params);

    std::shared_ptr<Session> find_session(const json& params);
    void end_session(const std::shared_ptr<Session>& session, const std::string& error);
    void drop_expired_locked(std::int64_t now);

    const ManagerConfig& config_;
    ManagerStore& store_;
    std::function<void(std::function<void()>)> post_;
    std::function<std::int64_t()> clock_;
    FileSystem& files_;
    SnapshotStore snapshots_;
    std::mutex mutex_;
    std::map<std::string, std::shared_ptr<Session>> sessions_;  // by session id
};

}  // namespace parley
