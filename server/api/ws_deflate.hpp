// permessage-deflate (RFC 7692) for Parley's own WebSocket engine (lean_ws_connection): the
// negotiation of the client's offers, compression of what the server sends and bounded
// decompression of what it receives. zlib raw DEFLATE; no I/O.
//
// The server always answers server_no_context_takeover: every message it sends is compressed
// on its own, so one compressed broadcast frame serves every compressing socket, and the
// deflate state lives per thread (deflate_message), never per socket. Receiving keeps a
// per-socket WsInflater only when the client keeps its context between messages; with
// client_no_context_takeover the thread's own inflater serves every such socket. A
// WsInflater is used on one thread at a time (its socket's strand).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <zlib.h>

namespace parley::wsdeflate {

// What was agreed with one client.
struct Agreement {
    // The LZ77 window the server compresses with (server_max_window_bits; 9 to 15).
    int server_window_bits = 15;
    // The window the client compresses with (client_max_window_bits; 8 to 15).
    int client_window_bits = 15;
    // The client resets its compression context after each message.
    bool client_no_context_takeover = false;
    // The Sec-WebSocket-Extensions value of the handshake's answer.
    std::string response;
};

// The first acceptable permessage-deflate offer among the Sec-WebSocket-Extensions values
// `offers` (in the order the client sent them), or nothing. An offer is declined when a
// parameter is unknown, repeated or malformed, or asks for what zlib cannot do
// (server_max_window_bits below 9).
std::optional<Agreement> negotiate(const std::vector<std::string_view>& offers);

// Messages shorter than this are sent uncompressed: a deflate block's overhead makes short
// JSON frames barely smaller (or larger) for the cost of a compression.
inline constexpr std::size_t kMinCompressed = 64;

// `text` compressed as one message with a fresh context and `window_bits`: raw DEFLATE flushed
// with Z_SYNC_FLUSH, its final 00 00 ff ff left off (RFC 7692 7.2.1). Uses this thread's
// deflate stream for that window.
std::string deflate_message(std::string_view text, int window_bits);

// Inflates the messages of one client.
class WsInflater {
  public:
    // `keep_context`: the client's context carries from one message to the next.
    WsInflater(int window_bits, bool keep_context);
    ~WsInflater();
    WsInflater(const WsInflater&) = delete;
    WsInflater& operator=(const WsInflater&) = delete;

    enum class Result { ok, too_big, bad_data };
    // Inflates one message's compressed `payload` (the 00 00 ff ff tail is appended here) into
    // `out`. `out` never grows beyond `limit` bytes: a message that inflates past it is
    // too_big, however small its payload. After too_big or bad_data the inflater is spent
    // (the socket closes).
    Result inflate(std::string_view payload, std::size_t limit, std::vector<char>& out);

    // This thread's inflater for clients that reset their context after each message.
    static WsInflater& for_this_thread();

  private:
    Result feed(const unsigned char* in, std::size_t n, std::size_t limit, std::vector<char>& out,
                std::size_t& produced);

    z_stream stream_{};
    bool keep_context_;
    bool stream_ended_ = false;  // the last feed() ended with the end of a DEFLATE stream
};

}  // namespace parley::wsdeflate
