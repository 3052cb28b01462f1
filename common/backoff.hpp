// Jittered exponential back-off for reconnecting clients (the server's manager client, the
// manager's outbound links, the image child's restarts).
#pragma once

#include <chrono>

namespace parley {

// The delay before attempt `failures` + 1: between half and all of min(max, base * 2^failures);
// `unit` in [0, 1] picks the point (clamped), so callers pass a random number.
std::chrono::milliseconds jittered_backoff(int failures, std::chrono::milliseconds base,
                                           std::chrono::milliseconds max, double unit);

}  // namespace parley
