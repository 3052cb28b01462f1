// Framing of the messages between the server and its child processes (parley imageproc):
// length-prefixed, versioned and bounded frames on a byte stream (a pipe).
//
// A frame is an 8-byte header followed by its payload:
//   byte 0-1  magic "PX"
//   byte 2    protocol version (kChildFrameVersion)
//   byte 3    frame type (ChildFrameType)
//   byte 4-7  payload length, unsigned 32-bit big-endian, at most the decoder's limit
// The payload is a JSON object (see common/imageproc_protocol.hpp and docs/imageproc.md).
// A decoder that meets a bad magic, an unknown version or type, or a length over its limit
// stops for good: the stream is out of step and the connection must be dropped. The limit is
// checked from the header, before any payload byte is buffered, so a peer can never make the
// decoder allocate more than the limit. Not thread-safe: one decoder per stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace parley {

inline constexpr std::uint8_t kChildFrameVersion = 1;
inline constexpr std::size_t kChildFrameHeaderBytes = 8;
inline constexpr std::size_t kChildFrameDefaultLimit = 64 * 1024;

enum class ChildFrameType : std::uint8_t {
    hello = 1,     // child -> server once at start: {"version":1,"pid":N}
    request = 2,   // server -> child
    response = 3,  // child -> server
};

struct ChildFrame {
    ChildFrameType type = ChildFrameType::request;
    std::string payload;
};

// The header and payload of one frame. Throws std::length_error if the payload is over 4 GiB.
std::string encode_child_frame(ChildFrameType type, std::string_view payload);

class ChildFrameDecoder {
  public:
    explicit ChildFrameDecoder(std::size_t max_payload = kChildFrameDefaultLimit)
        : max_payload_(max_payload) {}

    // Appends received bytes. Returns false once the stream is broken (see error()).
    bool feed(std::string_view bytes);
    // The next complete frame, or nullopt when more bytes are needed or the stream is broken.
    std::optional<ChildFrame> next();

    bool failed() const { return !error_.empty(); }
    const std::string& error() const { return error_; }
    // Bytes held (a partial frame).
    std::size_t buffered() const { return buffer_.size() - consumed_; }

  private:
    bool check_header();

    std::size_t max_payload_;
    std::string buffer_;
    std::size_t consumed_ = 0;
    std::string error_;
};

}  // namespace parley
