// ImageprocConfig: limits of the image child process. The server passes its own file to the
// child, so both agree on the limits. Plain data, read-only after start-up.
#pragma once

#include <cstdint>
#include <string>

#include "common/config_schema.hpp"

namespace parley {

struct ImageprocConfig {
    std::string log_level = "info";
    std::string data_dir = "data";

    std::int64_t max_pixels = 50'000'000;
    int memory_limit_mb = 1024;
    int cpu_limit_seconds = 600;

    void describe(ConfigSchema& schema);
    std::string validate() const;
};

}  // namespace parley
