#include "common/daily_time.hpp"

#include <catch2/catch.hpp>

namespace parley {

TEST_CASE("daily times: HH:MM in UTC and when it next comes", "[daily_time]") {
    CHECK(minute_of_day("00:00") == 0);
    CHECK(minute_of_day("03:30") == 210);
    CHECK(minute_of_day("23:59") == 23 * 60 + 59);
    for (const char* bad : {"", "3:30", "24:00", "12:60", "12-30", "ab:cd", "12:300"})
        CHECK(minute_of_day(bad) == -1);
    constexpr std::int64_t day = 86'400'000;
    const std::int64_t midnight = 20'000 * day;
    CHECK(next_daily_ms(midnight + 60'000, 210) == midnight + 210 * 60'000);
    // At the time itself: the next day's.
    CHECK(next_daily_ms(midnight + 210 * 60'000, 210) == midnight + day + 210 * 60'000);
    CHECK(next_daily_ms(midnight + 23 * 3'600'000, 210) == midnight + day + 210 * 60'000);
    CHECK(next_daily_ms(midnight, 0) == midnight + day);
}

}  // namespace parley
