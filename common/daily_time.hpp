// Daily times: "HH:MM" in UTC, as configuration gives them (the daily backup, the daily
// maintenance pass), and when such a time next comes. Pure functions; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace parley {

// Minutes after midnight UTC of "HH:MM" (00:00 to 23:59); -1 when malformed or empty.
int minute_of_day(std::string_view hh_mm);

// A configuration check of a daily time: "" when `hh_mm` is empty or valid, else the problem.
std::string daily_time_problem(std::string_view hh_mm);

// The first time after `now_ms` (Unix ms) that is `minute` minutes after a midnight UTC.
std::int64_t next_daily_ms(std::int64_t now_ms, int minute);

}  // namespace parley
