// ImageprocConfig: limits of the image child process. The server writes this file from its
// own [media] section (data/media/imageproc.toml), so both agree on the limits. Plain data,
// read-only after start-up.
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
    int max_output_mb = 64;
    int workers = 2;
    int vips_threads = 0;

    void describe(ConfigSchema& schema);
    std::string validate() const;
};

}  // namespace parley
