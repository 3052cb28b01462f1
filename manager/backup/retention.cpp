#include "manager/backup/retention.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include <fmt/format.h>

namespace parley {

namespace {

constexpr std::int64_t kDayMs = 86'400'000;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

}  // namespace

std::string snapshot_id_for(std::int64_t unix_ms) {
    std::time_t seconds = static_cast<std::time_t>(floor_div(unix_ms, 1000));
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                       tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                       unix_ms - floor_div(unix_ms, 1000) * 1000);
}

std::optional<std::int64_t> snapshot_time(const std::string& id) {
    // YYYYMMDDTHHMMSS.mmmZ
    if (id.size() != 20 || id[8] != 'T' || id[15] != '.' || id[19] != 'Z') return std::nullopt;
    for (std::size_t i : {0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 16, 17, 18}) {
        if (id[i] < '0' || id[i] > '9') return std::nullopt;
    }
    auto num = [&id](std::size_t at, std::size_t n) { return std::stoi(id.substr(at, n)); };
    std::tm tm{};
    tm.tm_year = num(0, 4) - 1900;
    tm.tm_mon = num(4, 2) - 1;
    tm.tm_mday = num(6, 2);
    tm.tm_hour = num(9, 2);
    tm.tm_min = num(11, 2);
    tm.tm_sec = num(13, 2);
    if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60) {
        return std::nullopt;
    }
    std::time_t seconds = timegm(&tm);
    return static_cast<std::int64_t>(seconds) * 1000 + num(16, 3);
}

std::set<std::string> RetentionPolicy::keep(const std::vector<std::string>& ids) const {
    std::vector<std::pair<std::int64_t, std::string>> snapshots;
    std::set<std::string> kept;
    for (const auto& id : ids) {
        if (auto t = snapshot_time(id)) {
            snapshots.emplace_back(*t, id);
        } else {
            kept.insert(id);
        }
    }
    std::sort(snapshots.begin(), snapshots.end(), std::greater<>());
    if (!snapshots.empty()) kept.insert(snapshots.front().second);
    // One pass per period: the newest snapshot of each of the most recent `count` periods.
    auto keep_newest_per = [&](int count, auto period_of) {
        std::optional<std::int64_t> last;
        int periods = 0;
        for (const auto& [time, id] : snapshots) {
            const std::int64_t period = period_of(time);
            if (last && *last == period) continue;
            if (periods == count) break;
            last = period;
            ++periods;
            kept.insert(id);
        }
    };
    keep_newest_per(daily, [](std::int64_t t) { return floor_div(t, kDayMs); });
    // 1970-01-01 was a Thursday: shifting by three days starts each week on a Monday.
    keep_newest_per(weekly, [](std::int64_t t) { return floor_div(floor_div(t, kDayMs) + 3, 7); });
    return kept;
}

}  // namespace parley
