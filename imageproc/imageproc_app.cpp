#include "imageproc/imageproc_app.hpp"

#include <unistd.h>

#include <cerrno>
#include <csignal>

#include <spdlog/spdlog.h>

namespace parley {

int run_imageproc(const ImageprocConfig& config) {
    // The request protocol is not part of this build yet: the child accepts no requests, and
    // says so if it receives any, so that a server never waits on it.
    spdlog::info("parley imageproc started (max {} pixels); waiting on stdin", config.max_pixels);
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EINTR) continue;
            spdlog::error("reading stdin failed: {}", std::strerror(errno));
            return 1;
        }
        spdlog::error("received a request, but this build has no image request protocol");
        return 1;
    }
    spdlog::info("stdin closed; parley imageproc exiting");
    return 0;
}

}  // namespace parley
