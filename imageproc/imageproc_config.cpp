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
    schema.bind("max_output_mb", max_output_mb,
                "Largest file the child may write (setrlimit RLIMIT_FSIZE).", 1, 4096);
    schema.bind("workers", workers, "Requests processed at the same time.", 1, 64);
    schema.bind("vips_threads", vips_threads,
                "libvips threads per image; 0 means libvips' default (one per core).", 0, 64);
}

std::string ImageprocConfig::validate() const {
    return {};
}

}  // namespace parley
