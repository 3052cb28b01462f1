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

  private:
    DbWriter& writer_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, MediaRecord> records_;
    std::unordered_map<std::string, std::int64_t> reserved_;  // owner -> bytes being created
};

}  // namespace parley
