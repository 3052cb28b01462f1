// libFuzzer target: a frame's payload as the manager API reads it after authentication, JSON
// with an optional attachment (JSON text, NUL, raw bytes) through parse_request(). A parsed
// request must survive serialize() of its forwarded form and parse back to the same method,
// target and params, attachment bytes included.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "manager/protocol/api_protocol.hpp"

using namespace parley;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view payload(reinterpret_cast<const char*>(data), size);
    ApiError error;
    json id;
    auto request = parse_request(payload, error, id);
    if (!request) {
        if (error.message.empty()) std::abort();
        return 0;
    }
    const std::string text = serialize(forwarded_request(*request, json(7), "fuzz"));
    ApiError again_error;
    json again_id;
    auto again = parse_request(text, again_error, again_id);
    if (!again || again->method != request->method || again->target != request->target ||
        again->params != request->params || again->via.size() != request->via.size() + 1) {
        std::abort();
    }
    return 0;
}
