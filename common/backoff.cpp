#include "common/backoff.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace parley {

std::chrono::milliseconds jittered_backoff(int failures, std::chrono::milliseconds base,
                                           std::chrono::milliseconds max, double unit) {
    double full = static_cast<double>(base.count()) * std::pow(2.0, std::min(failures, 30));
    full = std::min(full, static_cast<double>(max.count()));
    unit = std::clamp(unit, 0.0, 1.0);
    return std::chrono::milliseconds(static_cast<std::int64_t>(full / 2 + unit * full / 2));
}

}  // namespace parley
