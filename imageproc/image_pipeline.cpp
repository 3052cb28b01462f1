#include "imageproc/image_pipeline.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vips/vips.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

namespace parley {

namespace {

// Owns one reference to a VipsImage.
struct Image {
    VipsImage* p = nullptr;
    Image() = default;
    Image(const Image&) = delete;
    Image& operator=(const Image&) = delete;
    ~Image() {
        if (p) g_object_unref(p);
    }
    // Replaces the held image with `next` (which the caller has just made from it).
    void reset(VipsImage* next) {
        if (p) g_object_unref(p);
        p = next;
    }
};

// A g_free()d buffer from a libvips save.
struct Buffer {
    void* data = nullptr;
    std::size_t size = 0;
    ~Buffer() { g_free(data); }
};

// libvips' error text for a message, one line, bounded; the global buffer is cleared.
std::string vips_problem(const char* fallback) {
    std::string text = vips_error_buffer();
    vips_error_clear();
    for (char& c : text) {
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    }
    while (!text.empty() && text.back() == ' ')
        text.pop_back();
    if (text.size() > 300) text.resize(300);
    return text.empty() ? fallback : text;
}

// The format of a loader we accept, or empty.
std::string format_of_loader(const char* loader) {
    std::string name = loader;
    if (name == "VipsForeignLoadJpegFile") return "jpeg";
    if (name == "VipsForeignLoadPngFile" || name == "VipsForeignLoadPng") return "png";
    if (name == "VipsForeignLoadWebpFile") return "webp";
    if (name == "VipsForeignLoadNsgifFile" || name == "VipsForeignLoadGifFile") return "gif";
    return {};
}

bool write_output(const std::string& path, const Buffer& buf, std::string& error) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                    0640);  // the process umask decides group reads (backups)
    if (fd < 0) {
        error = std::string("cannot create an output file: ") + std::strerror(errno);
        return false;
    }
    const char* p = static_cast<const char*>(buf.data);
    std::size_t done = 0;
    while (done < buf.size) {
        ssize_t n = ::write(fd, p + done, buf.size - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            error = std::string("cannot write an output file: ") + std::strerror(errno);
            ::close(fd);
            return false;
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
        error = std::string("cannot fsync an output file: ") + std::strerror(errno);
        ::close(fd);
        return false;
    }
    ::close(fd);
    return true;
}

// 8-bit sRGB or grey without alpha: what a baseline JPEG holds.
bool to_jpeg_ready(Image& img) {
    VipsImage* out = nullptr;
    if (vips_image_hasalpha(img.p)) {
        bool deep =
            img.p->Type == VIPS_INTERPRETATION_RGB16 || img.p->Type == VIPS_INTERPRETATION_GREY16;
        double max_alpha = deep ? 65535.0 : 255.0;
        VipsArrayDouble* white = vips_array_double_newv(1, max_alpha);
        int r = vips_flatten(img.p, &out, "background", white, "max_alpha", max_alpha, nullptr);
        vips_area_unref(VIPS_AREA(white));
        if (r != 0) return false;
        img.reset(out);
    }
    VipsInterpretation target =
        img.p->Bands == 1 ? VIPS_INTERPRETATION_B_W : VIPS_INTERPRETATION_sRGB;
    if (img.p->Type != target || img.p->BandFmt != VIPS_FORMAT_UCHAR) {
        if (vips_colourspace(img.p, &out, target, nullptr) != 0) return false;
        img.reset(out);
    }
    if (img.p->BandFmt != VIPS_FORMAT_UCHAR) {
        if (vips_cast_uchar(img.p, &out, nullptr) != 0) return false;
        img.reset(out);
    }
    return true;
}

}  // namespace

bool init_image_pipeline(const char* argv0, int vips_threads) {
    if (VIPS_INIT(argv0) != 0) return false;
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    if (vips_threads > 0) vips_concurrency_set(vips_threads);
    // Loaders that parse complex or scriptable formats (ImageMagick, PDF, SVG, ...) are off;
    // the four we accept are checked by name as well.
    vips_block_untrusted_set(TRUE);
    return true;
}

ImageResponse process_image(const ImageRequest& req) {
    auto started = std::chrono::steady_clock::now();
    auto fail = [&req](const char* code, std::string message) {
        return image_failure(req.id, code, std::move(message));
    };

    // The input must be a regular, non-empty file we can read.
    struct stat st {};
    if (::stat(req.input.c_str(), &st) != 0) {
        return fail(image_error::io_error,
                    std::string("cannot read the upload: ") + std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) return fail(image_error::io_error, "the upload is not a file");
    if (st.st_size == 0) return fail(image_error::not_an_image, "the upload is empty");

    const char* loader = vips_foreign_find_load(req.input.c_str());
    if (!loader) {
        vips_error_clear();
        return fail(image_error::not_an_image,
                    "not a JPEG, PNG, WebP or GIF image (the content was checked, not the name)");
    }
    std::string format = format_of_loader(loader);
    if (format.empty()) {
        return fail(image_error::unsupported, std::string("this image format is not accepted (") +
                                                  loader + "); send JPEG, PNG, WebP or GIF");
    }

    // Header only: libvips opens lazily, no pixel is decoded here.
    Image header;
    header.p =
        vips_image_new_from_file(req.input.c_str(), "access", VIPS_ACCESS_SEQUENTIAL, nullptr);
    if (!header.p) return fail(image_error::corrupt, vips_problem("cannot read the image header"));
    std::int64_t width = vips_image_get_width(header.p);
    std::int64_t height = vips_image_get_page_height(header.p);
    if (width * height > req.max_pixels) {
        return fail(image_error::too_many_pixels,
                    "the image is " + std::to_string(width) + "x" + std::to_string(height) +
                        " pixels, more than the limit of " + std::to_string(req.max_pixels));
    }
    if (width < req.min_side || height < req.min_side) {
        return fail(image_error::too_small,
                    "the image is " + std::to_string(width) + "x" + std::to_string(height) +
                        "; the smallest accepted side is " + std::to_string(req.min_side));
    }
    header.reset(nullptr);

    // One decode, shrunk on load where the format allows, turned upright by EXIF orientation.
    Image big;
    if (vips_thumbnail(req.input.c_str(), &big.p, req.max_side, "height", req.max_side, "size",
                       VIPS_SIZE_DOWN, "fail_on", VIPS_FAIL_ON_TRUNCATED, nullptr) != 0) {
        return fail(image_error::corrupt, vips_problem("cannot decode the image"));
    }
    if (!to_jpeg_ready(big)) return fail(image_error::corrupt, vips_problem("cannot convert"));
    // Decoding happens here; a truncated or damaged file fails now.
    VipsImage* memory = vips_image_copy_memory(big.p);
    if (!memory) return fail(image_error::corrupt, vips_problem("cannot decode the image"));
    big.reset(memory);
    // Every metadata item goes (EXIF, XMP, IPTC, ICC, comments); orientation is already applied.
    Buffer big_jpeg;
    if (vips_jpegsave_buffer(big.p, &big_jpeg.data, &big_jpeg.size, "Q", req.quality, "strip", TRUE,
                             nullptr) != 0) {
        return fail(image_error::corrupt, vips_problem("cannot encode the image"));
    }

    Image thumb;
    if (vips_thumbnail_image(big.p, &thumb.p, req.thumb_side, "height", req.thumb_side, "size",
                             VIPS_SIZE_DOWN, "no_rotate", TRUE, nullptr) != 0) {
        return fail(image_error::corrupt, vips_problem("cannot make the thumbnail"));
    }
    Buffer thumb_jpeg;
    if (vips_jpegsave_buffer(thumb.p, &thumb_jpeg.data, &thumb_jpeg.size, "Q", req.quality, "strip",
                             TRUE, nullptr) != 0) {
        return fail(image_error::corrupt, vips_problem("cannot encode the thumbnail"));
    }

    std::string error;
    if (!write_output(req.output, big_jpeg, error) ||
        !write_output(req.thumbnail, thumb_jpeg, error)) {
        return fail(image_error::io_error, error);
    }

    ImageResponse r;
    r.id = req.id;
    r.ok = true;
    r.format = format;
    r.width = vips_image_get_width(big.p);
    r.height = vips_image_get_height(big.p);
    r.thumb_width = vips_image_get_width(thumb.p);
    r.thumb_height = vips_image_get_height(thumb.p);
    r.millis = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                   .count();
    return r;
}

}  // namespace parley
