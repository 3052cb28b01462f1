// RFC 6455 framing for both ends of Parley's own WebSocket code: the server's engine
// (server/api/lean_ws_connection) and the load client's framed sockets (botclient/load). The
// handshake's accept key, frame headers (a server's never masked, a client's always) and an
// incremental parser of either side's frames (a client frame's payload is unmasked in place).
// Pure functions, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace parley::wsframe {

enum class Opcode : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xA,
};

inline constexpr std::size_t kMaxHeader = 10;

// The Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key.
std::string accept_key(std::string_view client_key);

// Writes the header of a final, unmasked server frame with an `n`-byte payload into `out`;
// returns its length (2 to 10 bytes). `compressed` sets RSV1 (permessage-deflate).
std::size_t encode_header(std::uint8_t* out, Opcode op, std::uint64_t n, bool compressed = false);

// Writes the header of a final client frame with an `n`-byte payload, masked with `mask` (its
// four bytes follow the length), into `out`; returns its length (6 to 14 bytes). The payload
// must be masked with the same key (apply_mask) before it is sent.
inline constexpr std::size_t kMaxClientHeader = kMaxHeader + 4;
std::size_t encode_client_header(std::uint8_t* out, Opcode op, std::uint64_t n,
                                 const std::uint8_t (&mask)[4]);

// XORs `payload` with the 4-byte `mask`, repeated: masks a client payload, and unmasks it again.
void apply_mask(char* payload, std::size_t length, const std::uint8_t* mask);

struct Parsed {
    enum Status { frame, need_more, error } status = need_more;
    std::size_t consumed = 0;  // bytes of the buffer this frame took (status == frame)
    Opcode op = Opcode::text;
    bool fin = true;
    bool compressed = false;  // RSV1: a permessage-deflate message's first frame
    char* payload = nullptr;  // unmasked, inside the caller's buffer
    std::size_t length = 0;
    std::uint16_t close_code = 0;  // status == error: 1002 (protocol) or 1009 (too big)
    const char* why = "";
};

// Parses the client frame at the start of `data`. A payload above `max_payload` is an error
// (1009) as soon as its header is read, before any of it is buffered. RSV1 is allowed only
// when permessage-deflate was negotiated (`deflate`), and then only on a text or binary frame
// (a message's first); any other reserved bit is an error (1002).
Parsed parse_client_frame(char* data, std::size_t size, std::uint64_t max_payload,
                          bool deflate = false);

// Parses the server frame at the start of `data` (a client's view: a masked frame is an error,
// 1002). Otherwise as parse_client_frame; the payload is left where it is.
Parsed parse_server_frame(char* data, std::size_t size, std::uint64_t max_payload,
                          bool deflate = false);

// The code the server closes with in answer to the client's close frame `payload`
// (RFC 6455 5.5.1, 7.4): the client's code when it may be sent on the wire, 1000 for an empty
// payload, 1002 for a one-byte payload or a code that is reserved or unassigned (999, 1004 to
// 1006, 1015, 1016 to 2999, 5000 and up), 1007 for a reason that is not UTF-8.
std::uint16_t close_reply_code(std::string_view payload);

}  // namespace parley::wsframe
