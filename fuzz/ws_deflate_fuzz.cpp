// libFuzzer target: permessage-deflate (server/api/ws_deflate.hpp) on arbitrary bytes. The
// first byte picks the inflater (context kept or not, window bits) and the limit; the rest is a
// message's compressed payload. Inflating must stay within the limit (size and capacity), and
// whatever zlib itself inflates within the limit must come out the same; the same bytes as a
// Sec-WebSocket-Extensions value must negotiate without crashing, to an agreement in range;
// and the bytes compressed by deflate_message() must inflate back to themselves.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "server/api/ws_deflate.hpp"

using namespace parley::wsdeflate;

namespace {

// zlib on its own, a fresh raw stream with the tail appended: the output, or nothing when it
// fails or passes `limit`.
bool reference_inflate(std::string_view payload, std::size_t limit, std::string& out) {
    std::string in(payload);
    in.append("\x00\x00\xff\xff", 4);
    z_stream z{};
    if (inflateInit2(&z, -15) != Z_OK) std::abort();
    out.assign(limit + 1, '\0');
    z.next_in = reinterpret_cast<Bytef*>(in.data());
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    int rc = inflate(&z, Z_SYNC_FLUSH);
    bool ok = (rc == Z_OK || rc == Z_BUF_ERROR) && z.avail_in == 0 && z.avail_out > 0;
    out.resize(out.size() - z.avail_out);
    inflateEnd(&z);
    return ok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t flags = data[0];
    std::string_view payload(reinterpret_cast<const char*>(data + 1), size - 1);
    const bool keep = flags & 1;
    const int bits = 8 + ((flags >> 1) & 7);
    const std::size_t limit = std::size_t{1} << (6 + (flags >> 4) % 8);  // 64 B to 8 KiB

    WsInflater inflater(bits, keep);
    std::vector<char> out;
    auto r = inflater.inflate(payload, limit, out);
    if (out.size() > limit || out.capacity() > limit) std::abort();
    if (bits == 15 && !keep) {
        std::string expected;
        if (reference_inflate(payload, limit, expected)) {
            if (r != WsInflater::Result::ok) std::abort();
            if (std::string(out.begin(), out.end()) != expected) std::abort();
        }
    }

    if (auto a = negotiate({payload})) {
        if (a->server_window_bits < 9 || a->server_window_bits > 15) std::abort();
        if (a->client_window_bits < 8 || a->client_window_bits > 15) std::abort();
        if (a->response.rfind("permessage-deflate; server_no_context_takeover", 0) != 0)
            std::abort();
    }

    if (!payload.empty()) {
        std::string wire = deflate_message(payload, 9 + (flags & 3) * 2);
        WsInflater back(15, false);
        if (back.inflate(wire, payload.size(), out) != WsInflater::Result::ok) std::abort();
        if (std::string_view(out.data(), out.size()) != payload) std::abort();
    }
    return 0;
}
