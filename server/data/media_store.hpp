// MediaStore: media records (server/model/media.hpp) — the in-memory cache in front of the
// `media` table of current.db, and each account's quota usage.
//
// Loaded at start; reads come from memory; every change is write-through (the DbWriter
// commits, then the cache changes). create() checks the owner's quota and reserves the
// upload's bytes under one lock before the write, so concurrent uploads cannot together pass
// a quota that each alone would pass. Owned by the server app; thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/data/db_writer.hpp"
#include "server/model/media.hpp"

namespace parley {

class MediaStore {
  public:
    explicit MediaStore(DbWriter& writer);

    void load(SqliteDb& db);

    std::optional<MediaRecord> get(const std::string& id) const;
    std::vector<MediaRecord> in_state(const std::string& state) const;
    // Bytes counted against `owner_id`'s quota (MediaRecord::quota_bytes, plus reservations).
    std::int64_t usage(const std::string& owner_id) const;

    // Inserts a new record unless it would take its owner past `quota_bytes`: then the value
    // is false and nothing is written.
    awaitable<DbResult<bool>> create(MediaRecord record, std::int64_t quota_bytes);
    // Replaces a record (state changes).
    awaitable<DbResult<MediaRecord>> update(MediaRecord record);
    // Deletes a record; false when there was none.
    awaitable<DbResult<bool>> remove(const std::string& id);

    // `owner_id`'s records, newest first (by created_at, then id), strictly after `after` in
    // that order when given; at most `limit`. `more` tells whether others follow.
    std::vector<MediaRecord> owned_by(const std::string& owner_id,
                                      const std::optional<MediaPosition>& after, std::size_t limit,
                                      bool& more) const;
    // Whether any record's image or thumbnail is the stored file of `sha256`.
    bool references(const std::string& sha256) const;

  private:
    // Counts the stored files `m` names into file_refs_ (delta +1 or -1). Under mutex_.
    void count_files(const MediaRecord& m, int delta);

    DbWriter& writer_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, MediaRecord> records_;
    std::unordered_map<std::string, std::int64_t> reserved_;  // owner -> bytes being created
    std::unordered_map<std::string, int> file_refs_;          // sha256 -> records naming it
};

}  // namespace parley
