// Parley's version string, set by CMake from the project version.
#pragma once

namespace parley {
inline constexpr const char* kVersion = PARLEY_VERSION;
}
