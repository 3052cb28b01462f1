#include "common/daily_time.hpp"

namespace parley {

int minute_of_day(std::string_view v) {
    if (v.size() != 5 || v[2] != ':') return -1;
    for (int i : {0, 1, 3, 4}) {
        if (v[i] < '0' || v[i] > '9') return -1;
    }
    const int hours = (v[0] - '0') * 10 + (v[1] - '0');
    const int minutes = (v[3] - '0') * 10 + (v[4] - '0');
    if (hours > 23 || minutes > 59) return -1;
    return hours * 60 + minutes;
}

std::string daily_time_problem(std::string_view hh_mm) {
    return hh_mm.empty() || minute_of_day(hh_mm) >= 0
               ? ""
               : "must be HH:MM (00:00 to 23:59, UTC) or empty";
}

std::int64_t next_daily_ms(std::int64_t now_ms, int minute) {
    constexpr std::int64_t kDay = 86'400'000;
    const std::int64_t midnight = now_ms - now_ms % kDay;
    std::int64_t at = midnight + static_cast<std::int64_t>(minute) * 60'000;
    if (at <= now_ms) at += kDay;
    return at;
}

}  // namespace parley
