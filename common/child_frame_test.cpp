#include "common/child_frame.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "common/imageproc_protocol.hpp"

using namespace parley;

TEST_CASE("child frames round-trip byte by byte and in one piece", "[child_frame]") {
    std::string stream = encode_child_frame(ChildFrameType::request, "{\"a\":1}") +
                         encode_child_frame(ChildFrameType::response, "") +
                         encode_child_frame(ChildFrameType::hello, std::string(1000, 'x'));
    for (std::size_t step : {std::size_t(1), std::size_t(7), stream.size()}) {
        ChildFrameDecoder d;
        std::vector<ChildFrame> frames;
        for (std::size_t i = 0; i < stream.size(); i += step) {
            REQUIRE(d.feed(std::string_view(stream).substr(i, step)));
            while (auto f = d.next())
                frames.push_back(std::move(*f));
        }
        REQUIRE(frames.size() == 3);
        CHECK(frames[0].type == ChildFrameType::request);
        CHECK(frames[0].payload == "{\"a\":1}");
        CHECK(frames[1].payload.empty());
        CHECK(frames[2].payload.size() == 1000);
        CHECK(d.buffered() == 0);
    }
}

TEST_CASE("child frame decoder refuses bad magic, version, type and length", "[child_frame]") {
    std::string good = encode_child_frame(ChildFrameType::request, "{}");
    SECTION("magic") {
        ChildFrameDecoder d;
        CHECK_FALSE(d.feed("QX"));
        CHECK(d.error() == "bad frame magic");
    }
    SECTION("version") {
        std::string bad = good;
        bad[2] = 2;
        ChildFrameDecoder d;
        CHECK_FALSE(d.feed(bad.substr(0, 3)));
        CHECK(d.error() == "unsupported frame version 2");
    }
    SECTION("type") {
        std::string bad = good;
        bad[3] = 9;
        ChildFrameDecoder d;
        CHECK_FALSE(d.feed(bad));
        CHECK_FALSE(d.next());
    }
    SECTION("length over the limit is refused from the header alone") {
        ChildFrameDecoder d(100);
        std::string header = encode_child_frame(ChildFrameType::request, std::string(101, 'x'));
        CHECK_FALSE(d.feed(header.substr(0, 8)));
        CHECK(d.error().find("over the limit") != std::string::npos);
        CHECK_FALSE(d.feed("more"));
    }
}

TEST_CASE("image requests and responses round-trip and are validated", "[imageproc_protocol]") {
    ImageRequest r;
    r.id = 42;
    r.input = "/data/media/uploads/abc";
    r.output = "/data/media/tmp/abc.jpg";
    r.thumbnail = "/data/media/tmp/abc.thumb.jpg";
    std::string error;
    auto back = decode_image_request(encode_image_request(r), error);
    REQUIRE(back);
    CHECK(back->id == 42);
    CHECK(back->input == r.input);
    CHECK(back->max_side == 1920);

    auto with = [&](const char* key, nlohmann::json value) {
        auto j = nlohmann::json::parse(encode_image_request(r));
        j[key] = std::move(value);
        std::string e;
        return decode_image_request(j.dump(), e).has_value();
    };
    CHECK_FALSE(with("input", "relative/path"));
    CHECK_FALSE(with("output", "/data/../etc/passwd"));
    CHECK_FALSE(with("thumbnail", r.input));
    CHECK_FALSE(with("quality", 0));
    CHECK_FALSE(with("quality", "85"));
    CHECK_FALSE(with("max_pixels", -1));
    CHECK_FALSE(with("id", -3));
    CHECK_FALSE(with("op", "delete"));
    CHECK(with("output", "/data/x..y/out.jpg"));
    CHECK_FALSE(decode_image_request("[1,2]", error));
    CHECK_FALSE(decode_image_request("not json", error));

    ImageResponse ok;
    ok.id = 7;
    ok.ok = true;
    ok.format = "png";
    ok.width = 1920;
    ok.height = 1080;
    ok.thumb_width = 256;
    ok.thumb_height = 144;
    auto ok_back = decode_image_response(encode_image_response(ok), error);
    REQUIRE(ok_back);
    CHECK(ok_back->ok);
    CHECK(ok_back->thumb_height == 144);
    auto failed = decode_image_response(
        encode_image_response(image_failure(8, image_error::too_small, "tiny")), error);
    REQUIRE(failed);
    CHECK_FALSE(failed->ok);
    CHECK(failed->error == "too_small");
}
