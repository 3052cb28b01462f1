#include "common/ws_frame.hpp"

#include <openssl/sha.h>

#include <cstring>

#include "common/crypto.hpp"
#include "common/utf8.hpp"

namespace parley::wsframe {

std::string accept_key(std::string_view client_key) {
    static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    std::string input;
    input.reserve(client_key.size() + kGuid.size());
    input.append(client_key).append(kGuid);
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
    return base64_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

std::size_t encode_header(std::uint8_t* out, Opcode op, std::uint64_t n, bool compressed) {
    out[0] =
        static_cast<std::uint8_t>(0x80 | (compressed ? 0x40 : 0) | static_cast<std::uint8_t>(op));
    if (n < 126) {
        out[1] = static_cast<std::uint8_t>(n);
        return 2;
    }
    if (n <= 0xFFFF) {
        out[1] = 126;
        out[2] = static_cast<std::uint8_t>(n >> 8);
        out[3] = static_cast<std::uint8_t>(n);
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; ++i)
        out[2 + i] = static_cast<std::uint8_t>(n >> (56 - 8 * i));
    return 10;
}

std::size_t encode_client_header(std::uint8_t* out, Opcode op, std::uint64_t n,
                                 const std::uint8_t (&mask)[4]) {
    std::size_t at = encode_header(out, op, n);
    out[1] |= 0x80;
    std::memcpy(out + at, mask, 4);
    return at + 4;
}

// Eight bytes at a time (a byte at a time cost ten instructions a byte, most of a small frame's
// parse). The mask bytes repeat every four, so one 8-byte word of them fits every
// aligned-to-the-payload 8-byte step.
void apply_mask(char* payload, std::size_t length, const std::uint8_t* mask) {
    std::uint32_t m4;
    std::memcpy(&m4, mask, 4);
    const std::uint64_t m8 = (std::uint64_t{m4} << 32) | m4;
    std::size_t i = 0;
    for (; i + 8 <= length; i += 8) {
        std::uint64_t word;
        std::memcpy(&word, payload + i, 8);
        word ^= m8;
        std::memcpy(payload + i, &word, 8);
    }
    for (; i < length; ++i)
        payload[i] = static_cast<char>(payload[i] ^ mask[i & 3]);
}

namespace {

// Either side's frame: a client's (`from_client`) must be masked and is unmasked in place, a
// server's must not be.
Parsed parse_frame(char* data, std::size_t size, std::uint64_t max_payload, bool deflate,
                   bool from_client) {
    Parsed p;
    auto fail = [&p](std::uint16_t code, const char* why) {
        p.status = Parsed::error;
        p.close_code = code;
        p.why = why;
        return p;
    };
    if (size < 2) return p;
    auto b0 = static_cast<std::uint8_t>(data[0]);
    auto b1 = static_cast<std::uint8_t>(data[1]);
    if (b0 & (deflate ? 0x30 : 0x70)) return fail(1002, "reserved bits set without an extension");
    std::uint8_t op = b0 & 0x0F;
    if (op != 0x0 && op != 0x1 && op != 0x2 && op != 0x8 && op != 0x9 && op != 0xA)
        return fail(1002, "unknown opcode");
    p.compressed = (b0 & 0x40) != 0;
    if (p.compressed && op != 0x1 && op != 0x2)
        return fail(1002, "RSV1 on a control frame or a continuation");
    p.op = static_cast<Opcode>(op);
    p.fin = (b0 & 0x80) != 0;
    if (from_client && !(b1 & 0x80)) return fail(1002, "client frames must be masked");
    if (!from_client && (b1 & 0x80)) return fail(1002, "server frames must not be masked");
    const std::size_t mask_size = from_client ? 4 : 0;
    std::uint64_t length = b1 & 0x7F;
    std::size_t pos = 2;
    if (length == 126) {
        if (size < 4) return p;
        length = (std::uint64_t{static_cast<std::uint8_t>(data[2])} << 8) |
                 static_cast<std::uint8_t>(data[3]);
        pos = 4;
    } else if (length == 127) {
        if (size < 10) return p;
        length = 0;
        for (int i = 0; i < 8; ++i)
            length = (length << 8) | static_cast<std::uint8_t>(data[2 + i]);
        if (length >> 63) return fail(1002, "frame length out of range");
        pos = 10;
    }
    if (op >= 0x8 && (!p.fin || length > 125))
        return fail(1002, "control frames must be final and at most 125 bytes");
    if (length > max_payload) return fail(1009, "message too big");
    if (size - pos < mask_size || size - pos - mask_size < length) return p;
    char* payload = data + pos + mask_size;
    if (from_client) {
        apply_mask(payload, static_cast<std::size_t>(length),
                   reinterpret_cast<const std::uint8_t*>(data + pos));
    }
    p.status = Parsed::frame;
    p.payload = payload;
    p.length = static_cast<std::size_t>(length);
    p.consumed = pos + mask_size + p.length;
    return p;
}

}  // namespace

Parsed parse_client_frame(char* data, std::size_t size, std::uint64_t max_payload, bool deflate) {
    return parse_frame(data, size, max_payload, deflate, true);
}

Parsed parse_server_frame(char* data, std::size_t size, std::uint64_t max_payload, bool deflate) {
    return parse_frame(data, size, max_payload, deflate, false);
}

std::uint16_t close_reply_code(std::string_view payload) {
    if (payload.empty()) return 1000;
    if (payload.size() == 1) return 1002;
    const auto code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                                 static_cast<std::uint8_t>(payload[1]));
    // 1004 to 1006 and 1015 are reserved and never sent; 1012 to 1014 are IANA-registered.
    const bool valid = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                       (code >= 3000 && code <= 4999);
    if (!valid) return 1002;
    if (utf8_code_points(payload.substr(2)) < 0) return 1007;
    return code;
}

}  // namespace parley::wsframe
