// The messages of the image child protocol (docs/imageproc.md), carried as JSON payloads of
// child frames (common/child_frame.hpp): the server asks `parley imageproc` to turn one
// uploaded file into a fitted JPEG and a thumbnail, the child answers with the sizes or a
// machine-readable error. Decoding validates every field (types, ranges, absolute paths without
// NUL or "..") so the child acts only on well-formed requests. Plain functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace parley {

struct ImageRequest {
    std::uint64_t id = 0;
    std::string input;                     // the uploaded file (read only)
    std::string output;                    // where the fitted JPEG goes (created or truncated)
    std::string thumbnail;                 // where the thumbnail JPEG goes (created or truncated)
    int max_side = 1920;                   // fit into max_side x max_side (never enlarged)
    int thumb_side = 256;                  // thumbnail fits into thumb_side x thumb_side
    int min_side = 16;                     // images narrower or lower than this are refused
    int quality = 85;                      // JPEG quality 1..100
    std::int64_t max_pixels = 50'000'000;  // width x height from the header, checked first
};

// Error codes of a failed response.
namespace image_error {
inline constexpr const char* not_an_image = "not_an_image";  // no supported format recognised
inline constexpr const char* unsupported = "unsupported";    // an image, but not JPEG/PNG/WebP/GIF
inline constexpr const char* too_many_pixels = "too_many_pixels";  // over max_pixels (bomb)
inline constexpr const char* too_small = "too_small";              // under min_side
inline constexpr const char* corrupt = "corrupt";                  // truncated or damaged data
inline constexpr const char* io_error = "io_error";                // input or outputs unusable
inline constexpr const char* bad_request = "bad_request";          // a malformed request
// Set by the server, never by the child:
inline constexpr const char* timeout = "timeout";            // the child took too long
inline constexpr const char* child_failed = "child_failed";  // the child died with it in flight
inline constexpr const char* unavailable = "unavailable";    // the child could not be started
}  // namespace image_error

struct ImageResponse {
    std::uint64_t id = 0;
    bool ok = false;
    std::string error;    // a code of image_error when !ok
    std::string message;  // human text when !ok
    std::string format;   // the input's format: "jpeg", "png", "webp", "gif"
    int width = 0;        // of the fitted image
    int height = 0;
    int thumb_width = 0;
    int thumb_height = 0;
    double millis = 0;  // processing time in the child
};

std::string encode_image_request(const ImageRequest& request);  // JSON payload
std::string encode_image_response(const ImageResponse& response);

// nullopt with `error` set when the payload is not a valid message.
std::optional<ImageRequest> decode_image_request(std::string_view payload, std::string& error);
std::optional<ImageResponse> decode_image_response(std::string_view payload, std::string& error);

// A failed response for request `id`.
ImageResponse image_failure(std::uint64_t id, std::string code, std::string message);

}  // namespace parley
