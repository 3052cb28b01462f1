// RetentionPolicy: which backup snapshots to keep — the newest of each of the last `daily`
// days that have one, plus the newest of each of the last `weekly` weeks (Monday to Sunday,
// UTC) that have one; the newest snapshot is always kept. Pure and thread-safe.
//
// Snapshot ids are their UTC creation time, "YYYYMMDDTHHMMSS.mmmZ", so they sort by age.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace parley {

// The id of a snapshot taken at `unix_ms`.
std::string snapshot_id_for(std::int64_t unix_ms);
// The time an id stands for; nullopt when `id` is not one.
std::optional<std::int64_t> snapshot_time(const std::string& id);

struct RetentionPolicy {
    int daily = 7;
    int weekly = 4;

    // The ids among `ids` to keep (ids that are not snapshot ids are kept, untouched).
    std::set<std::string> keep(const std::vector<std::string>& ids) const;
};

}  // namespace parley
