// libFuzzer target: the byte stream `parley imageproc` reads on stdin (and the server reads
// back), through the frame decoder in chunks chosen by the input, then each payload through
// the request and response decoders. A decoded request must survive a round trip unchanged.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/child_frame.hpp"
#include "common/imageproc_protocol.hpp"

using namespace parley;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    // The first byte picks the chunk size, so frames split at every possible place.
    std::size_t chunk = 1 + data[0] % 64;
    std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
    ChildFrameDecoder decoder(4096);
    for (std::size_t i = 0; i < input.size(); i += chunk) {
        if (!decoder.feed(input.substr(i, chunk))) break;
        while (auto frame = decoder.next()) {
            if (frame->payload.size() > 4096) std::abort();
            std::string error;
            if (auto req = decode_image_request(frame->payload, error)) {
                std::string again_error;
                auto again = decode_image_request(encode_image_request(*req), again_error);
                if (!again || again->id != req->id || again->input != req->input ||
                    again->output != req->output || again->thumbnail != req->thumbnail ||
                    again->max_pixels != req->max_pixels || again->quality != req->quality)
                    std::abort();
            }
            decode_image_response(frame->payload, error);
        }
    }
    return 0;
}
