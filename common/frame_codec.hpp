// Frames of the manager API (and of the server's client of its local manager, which is why this
// lives in common): a 4-byte big-endian payload length, then that many bytes (one JSON
// document). The length is checked against the caller's limit before a single payload byte is
// read or any memory is reserved, so a peer cannot make the manager allocate what it announces;
// the limit is small before authentication and larger after it (see docs/manager-api.md).
//
// The codec itself (encode_frame, decode_frame_length, FrameDecoder) is pure and thread-safe;
// read_frame()/write_frame() are coroutines over any Asio stream (a TLS stream, a unix socket),
// used by one connection's coroutine at a time. They set no deadline themselves: callers put
// the read under a timeout (beast::basic_stream::expires_after), as every network read must be.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/net.hpp"

namespace parley {

inline constexpr std::size_t kFrameHeaderSize = 4;
// The first frame of a connection (the authentication request) may be at most this large.
inline constexpr std::size_t kMaxFrameBeforeAuth = 4 * 1024;
// Any later frame, in either direction.
inline constexpr std::size_t kMaxFrameAfterAuth = 1024 * 1024;

enum class FrameStatus {
    ok,
    closed,     // the peer closed the stream between frames (clean end)
    truncated,  // the stream ended inside a frame
    too_large,  // the announced length exceeds the limit; nothing of the payload was read
    timeout,    // the caller's deadline passed (beast::error::timeout)
    error,      // any other I/O error (see `error`)
};

const char* frame_status_name(FrameStatus status);

// The header and payload of one frame. Throws std::length_error when the payload exceeds
// 2^32 - 1 bytes (callers stay far below that).
std::string encode_frame(std::string_view payload);

std::uint32_t decode_frame_length(const std::array<std::uint8_t, kFrameHeaderSize>& header);

// Splits a byte stream into frames, for code that receives bytes in arbitrary pieces (and for
// the unit tests of the format). Not thread-safe; one per stream.
class FrameDecoder {
  public:
    explicit FrameDecoder(std::size_t limit) : limit_(limit) {}

    void set_limit(std::size_t limit) { limit_ = limit; }
    std::size_t limit() const { return limit_; }

    // Appends bytes. A header announcing more than the limit makes status() too_large at once:
    // the payload is neither buffered nor waited for, and later input is ignored.
    void feed(std::string_view bytes);
    // The next complete frame's payload, if one is buffered.
    std::optional<std::string> next();
    // ok while the input is well-formed so far, too_large once a header exceeded the limit.
    FrameStatus status() const { return status_; }
    // The length the offending header announced (when status() is too_large).
    std::uint64_t announced() const { return announced_; }
    // Bytes of an unfinished frame: non-zero at the end of the stream means it was truncated.
    std::size_t pending() const { return buffer_.size(); }

  private:
    std::size_t limit_;
    std::string buffer_;
    FrameStatus status_ = FrameStatus::ok;
    std::uint64_t announced_ = 0;
};

struct FrameResult {
    FrameStatus status = FrameStatus::error;
    std::string payload;              // when ok
    std::uint32_t announced = 0;      // the header's length, once a header was read
    boost::system::error_code error;  // the I/O error behind closed/truncated/timeout/error
};

// Why a read from `peer` ("the manager") gave no frame, for errors and logs.
std::string describe_frame_failure(const FrameResult& frame, std::string_view peer);

namespace detail {
FrameStatus classify_read_error(const boost::system::error_code& ec, bool inside_frame);
}

// Reads the next 4-byte header. `header_done` runs once it has arrived (callers use it to
// switch from the idle deadline to the read deadline); then the payload is read if its length
// is within `limit`.
template <class Stream, class OnHeader>
awaitable<FrameResult> read_frame(Stream& stream, std::size_t limit, OnHeader header_done) {
    FrameResult result;
    std::array<std::uint8_t, kFrameHeaderSize> header{};
    boost::system::error_code ec;
    std::size_t got = co_await net::async_read(stream, net::buffer(header),
                                               net::redirect_error(use_awaitable, ec));
    if (ec) {
        result.error = ec;
        result.status = detail::classify_read_error(ec, got > 0);
        co_return result;
    }
    result.announced = decode_frame_length(header);
    if (result.announced > limit) {
        result.status = FrameStatus::too_large;
        co_return result;
    }
    header_done();
    result.payload.resize(result.announced);
    if (result.announced > 0) {
        co_await net::async_read(stream, net::buffer(result.payload),
                                 net::redirect_error(use_awaitable, ec));
        if (ec) {
            result.payload.clear();
            result.error = ec;
            result.status = detail::classify_read_error(ec, true);
            co_return result;
        }
    }
    result.status = FrameStatus::ok;
    co_return result;
}

template <class Stream>
awaitable<FrameResult> read_frame(Stream& stream, std::size_t limit) {
    return read_frame(stream, limit, [] {});
}

// Writes one frame (header and payload in one gathered write). Returns the I/O error, if any.
template <class Stream>
awaitable<boost::system::error_code> write_frame(Stream& stream, std::string_view payload) {
    std::string frame = encode_frame(payload);
    boost::system::error_code ec;
    co_await net::async_write(stream, net::buffer(frame), net::redirect_error(use_awaitable, ec));
    co_return ec;
}

}  // namespace parley
