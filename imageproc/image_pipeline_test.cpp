#include "imageproc/image_pipeline.hpp"

#include <vips/vips.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include "common/test_support.hpp"

using namespace parley;

namespace {

using test::TempDir;

// A w x h RGB test image saved by libvips in the format of `name`'s suffix.
void make_image(const std::string& name, int w, int h, const char* options = "") {
    VipsImage* x = nullptr;
    REQUIRE(vips_xyz(&x, w, h, nullptr) == 0);
    VipsImage* b = nullptr;
    REQUIRE(vips_bandjoin_const1(x, &b, 128.0, nullptr) == 0);
    g_object_unref(x);
    VipsImage* u = nullptr;
    REQUIRE(vips_cast_uchar(b, &u, nullptr) == 0);
    g_object_unref(b);
    REQUIRE(vips_image_write_to_file(u, (name + options).c_str(), nullptr) == 0);
    g_object_unref(u);
}

ImageRequest request_for(const TempDir& dir, const std::string& input) {
    ImageRequest r;
    r.id = 1;
    r.input = input;
    r.output = dir.file("out.jpg");
    r.thumbnail = dir.file("thumb.jpg");
    r.max_pixels = 20'000'000;
    return r;
}

}  // namespace

TEST_CASE("image pipeline fits, thumbnails and refuses", "[image_pipeline]") {
    REQUIRE(init_image_pipeline("parley-test", 1));
    TempDir dir;

    SECTION("a PNG larger than the box is fitted and thumbnailed") {
        make_image(dir.file("in.png"), 3000, 1500);
        auto r = process_image(request_for(dir, dir.file("in.png")));
        REQUIRE(r.ok);
        CHECK(r.format == "png");
        CHECK(r.width == 1920);
        CHECK(r.height == 960);
        CHECK(r.thumb_width == 256);
        CHECK(r.thumb_height == 128);
        CHECK(std::filesystem::file_size(dir.file("out.jpg")) > 0);
    }
    SECTION("a small JPEG is never enlarged") {
        make_image(dir.file("in.jpg"), 300, 200);
        auto r = process_image(request_for(dir, dir.file("in.jpg")));
        REQUIRE(r.ok);
        CHECK(r.width == 300);
        CHECK(r.thumb_width == 256);
    }
    SECTION("too many pixels, from the header") {
        make_image(dir.file("in.png"), 1000, 1000);
        auto req = request_for(dir, dir.file("in.png"));
        req.max_pixels = 999'999;
        auto r = process_image(req);
        CHECK(r.error == "too_many_pixels");
        CHECK_FALSE(std::filesystem::exists(dir.file("out.jpg")));
    }
    SECTION("too small") {
        make_image(dir.file("in.webp"), 10, 100);
        auto r = process_image(request_for(dir, dir.file("in.webp")));
        CHECK(r.error == "too_small");
    }
    SECTION("text is not an image") {
        std::ofstream(dir.file("in.jpg")) << "hello, I am not a JPEG\n";
        auto r = process_image(request_for(dir, dir.file("in.jpg")));
        CHECK(r.error == "not_an_image");
    }
    SECTION("a truncated JPEG is corrupt") {
        make_image(dir.file("full.jpg"), 800, 600, "[Q=90]");
        std::string bytes;
        {
            std::ifstream in(dir.file("full.jpg"), std::ios::binary);
            bytes.assign(std::istreambuf_iterator<char>(in), {});
        }
        std::ofstream(dir.file("in.jpg"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
        auto r = process_image(request_for(dir, dir.file("in.jpg")));
        CHECK(r.error == "corrupt");
    }
    SECTION("a missing input is an I/O error") {
        auto r = process_image(request_for(dir, dir.file("missing")));
        CHECK(r.error == "io_error");
    }
}
