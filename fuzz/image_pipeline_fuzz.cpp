// libFuzzer target: arbitrary bytes as an uploaded file through the image path of
// `parley imageproc` (sniffing, header pixel limit, decode, resize, JPEG encode). Limits are
// small so each input runs quickly; any crash, sanitizer report or hang is a finding.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "imageproc/image_pipeline.hpp"

using namespace parley;

namespace {

std::string dir;

bool write_input(const std::string& path, const std::uint8_t* data, std::size_t size) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    bool ok = ::write(fd, data, size) == static_cast<ssize_t>(size);
    ::close(fd);
    return ok;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
    (void)argc;
    if (!init_image_pipeline((*argv)[0], 1)) std::abort();
    char tmpl[] = "/tmp/parley-image-fuzz-XXXXXX";
    if (!::mkdtemp(tmpl)) std::abort();
    dir = tmpl;
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    ImageRequest req;
    req.id = 1;
    req.input = dir + "/in";
    req.output = dir + "/out.jpg";
    req.thumbnail = dir + "/thumb.jpg";
    req.max_side = 256;
    req.thumb_side = 64;
    req.min_side = 1;
    req.max_pixels = 4'000'000;
    if (!write_input(req.input, data, size)) std::abort();
    ImageResponse res = process_image(req);
    if (res.ok && (res.width < 1 || res.width > 256 || res.height < 1 || res.height > 256 ||
                   res.thumb_width > 64 || res.thumb_height > 64))
        std::abort();
    ::unlink(req.output.c_str());
    ::unlink(req.thumbnail.c_str());
    return 0;
}
