// WallClock: wall-clock milliseconds since the Unix epoch, as a function so that tests can
// inject their own time (schedules, backup runs, the audit table). Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace parley {

using WallClock = std::function<std::int64_t()>;

inline WallClock system_wall_clock() {
    return [] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    };
}

}  // namespace parley
