#include "imageproc/imageproc_config.hpp"

#include "common/mode_config.hpp"

namespace parley {

void ImageprocConfig::describe(ConfigSchema& schema) {
    describe_common_keys(schema, *this, "The server's data directory (media is written under it).");
    schema.section("imageproc", "Limits of the image child process.");
    schema.bind("max_pixels", max_pixels,
                "Images with more pixels than this (read from the header) are refused.", 1,
                1'000'000'000);
    schema.bind("memory_limit_mb", memory_limit_mb, "Address-space limit of the child (setrlimit).",
                64, 65536);
    schema.bind("cpu_limit_seconds", cpu_limit_seconds, "CPU-time limit of the child (setrlimit).",
                1, 86400);
}

std::string ImageprocConfig::validate() const {
    return {};
}

}  // namespace parley
