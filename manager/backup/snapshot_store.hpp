// SnapshotStore: the backup target's files, one directory per source under manager.backup.dir:
//
//   <source>/current/<snapshot id>.db, <source>/history/<snapshot id>.db   stored snapshots
//   <source>/media/<2 hex>/<sha256>.<ext>            media, one copy shared by all snapshots
//   <source>/incoming/<session id>/                  a session's files while they arrive
//   <source>/drill/<snapshot id>/                    a restore drill's scratch copy
//
// Only verified files are renamed into the stored places, each rename followed by an fsync of
// its directory (through a FileSystem, so tests inject failures); the two scratch directories are
// removed by recover() at start-up. Knows nothing of sessions or of the protocol (BackupTarget) and
// nothing of what a database holds (the restore drill). Thread-safe: every method works on the file
// system only; callers keep two sessions of one source from running at once.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "common/file_system.hpp"
#include "manager/backup/media_manifest.hpp"
#include "manager/backup/retention.hpp"

namespace parley {

class SnapshotStore {
  public:
    SnapshotStore(std::string root, RetentionPolicy retention,
                  FileSystem& files = real_file_system());

    // Creates the root and removes the scratch directories left by interrupted sessions and
    // drills; false (logged) when the root cannot be created.
    bool recover();

    std::string source_dir(const std::string& source) const;
    std::string incoming_dir(const std::string& source, const std::string& session) const;
    std::string drill_dir(const std::string& source, const std::string& snapshot) const;
    // Where database `db` ("current", "history") of a stored snapshot lives.
    std::string snapshot_file(const std::string& source, const std::string& db,
                              const std::string& snapshot) const;

    // Every source that has a directory, sorted.
    std::vector<std::string> sources() const;
    // Stored snapshots of `source`, oldest first.
    std::vector<std::string> snapshots(const std::string& source) const;
    // A new snapshot id for a snapshot taken at `now`: its time, moved on by a millisecond
    // while a stored snapshot already has it.
    std::string next_snapshot_id(const std::string& source, std::int64_t now) const;

    // Renames the verified file `from` to the stored place of database `db` of `snapshot`,
    // the directory created and fsynced. "" or the problem.
    std::string store_database(const std::string& source, const std::string& db,
                               const std::string& snapshot, const std::string& from);
    // Whether media `entry` is stored with its announced size (files here were verified
    // against their content hash when they arrived).
    bool has_media(const std::string& source, const MediaEntry& entry) const;
    // Renames the verified file `from` to media `entry`'s place. "" or the problem.
    std::string store_media(const std::string& source, const MediaEntry& entry,
                            const std::string& from);
    // Removes the stored media of `source` whose relative path is not in `listed`; how many.
    std::int64_t remove_unlisted_media(const std::string& source,
                                       const std::set<std::string>& listed);
    // Removes the snapshots of `source` the retention policy does not keep; their ids.
    std::vector<std::string> prune(const std::string& source);

    const RetentionPolicy& retention() const { return retention_; }

  private:
    std::string rename_into(const std::string& from, const std::string& to);

    const std::string root_;
    const RetentionPolicy retention_;
    FileSystem& files_;
};

}  // namespace parley
