#include "manager/backup/retention.hpp"

#include <catch2/catch.hpp>

using namespace parley;

namespace {
constexpr std::int64_t kHour = 3'600'000;
constexpr std::int64_t kDay = 24 * kHour;
// Monday 2026-11-16 00:00:00 UTC.
constexpr std::int64_t kMonday = 1'794'787'200'000;
}  // namespace

TEST_CASE("snapshot ids round-trip and sort by time", "[backup]") {
    const std::int64_t t = kMonday + 13 * kHour + 4 * 60'000 + 5'678;
    CHECK(snapshot_id_for(t) == "20261116T130405.678Z");
    CHECK(snapshot_time(snapshot_id_for(t)) == t);
    CHECK(snapshot_id_for(t) < snapshot_id_for(t + 1));
    CHECK(snapshot_id_for(t + 1) < snapshot_id_for(t + kDay));
    CHECK_FALSE(snapshot_time("20261116T130405Z"));
    CHECK_FALSE(snapshot_time("2026111xT130405.678Z"));
    CHECK_FALSE(snapshot_time("../../etc/passwd"));
    CHECK_FALSE(snapshot_time("20261316T130405.678Z"));
}

TEST_CASE("retention keeps the newest per day and per week", "[backup]") {
    std::vector<std::string> ids;
    // Three snapshots a day for 21 days, from Monday 2026-11-16 - 14 days.
    for (int day = 0; day < 21; ++day) {
        for (int h : {1, 9, 17})
            ids.push_back(snapshot_id_for(kMonday - 14 * kDay + day * kDay + h * kHour));
    }
    RetentionPolicy policy{3, 2};
    std::set<std::string> kept = policy.keep(ids);
    // Days: the last three days' 17:00 snapshots. Weeks: the newest of this week (already kept)
    // and of last week (Sunday 2026-11-15 17:00).
    std::set<std::string> expected{
        snapshot_id_for(kMonday + 6 * kDay + 17 * kHour),
        snapshot_id_for(kMonday + 5 * kDay + 17 * kHour),
        snapshot_id_for(kMonday + 4 * kDay + 17 * kHour),
        snapshot_id_for(kMonday - 1 * kDay + 17 * kHour),
    };
    CHECK(kept == expected);
}

TEST_CASE("retention always keeps the newest and never touches foreign names", "[backup]") {
    RetentionPolicy policy{0, 0};
    std::vector<std::string> ids{snapshot_id_for(kMonday), snapshot_id_for(kMonday + kHour),
                                 "notes.txt"};
    CHECK(policy.keep(ids) == std::set<std::string>{snapshot_id_for(kMonday + kHour), "notes.txt"});
    CHECK(policy.keep({}).empty());
}
