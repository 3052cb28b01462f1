#include "common/frame_codec.hpp"

#include <limits>
#include <stdexcept>

#include "common/byte_order.hpp"

namespace parley {

const char* frame_status_name(FrameStatus status) {
    switch (status) {
        case FrameStatus::ok:
            return "ok";
        case FrameStatus::closed:
            return "closed";
        case FrameStatus::truncated:
            return "truncated";
        case FrameStatus::too_large:
            return "too_large";
        case FrameStatus::timeout:
            return "timeout";
        case FrameStatus::error:
            return "error";
    }
    return "error";
}

std::string encode_frame(std::string_view payload) {
    if (payload.size() > std::numeric_limits<std::uint32_t>::max()) {
        throw std::length_error("manager API frame larger than 4 GiB");
    }
    auto n = static_cast<std::uint32_t>(payload.size());
    std::string out;
    out.reserve(kFrameHeaderSize + payload.size());
    append_be32(out, n);
    out.append(payload);
    return out;
}

std::string describe_frame_failure(const FrameResult& frame, std::string_view peer) {
    std::string who(peer);
    switch (frame.status) {
        case FrameStatus::closed:
        case FrameStatus::truncated:
            return who + " closed the connection";
        case FrameStatus::timeout:
            return "timed out waiting for " + who;
        case FrameStatus::too_large:
            return who + " announced a frame of " + std::to_string(frame.announced) +
                   " bytes, over the limit";
        case FrameStatus::error:
            return frame.error.message();
        case FrameStatus::ok:
            return "ok";
    }
    return "unknown frame status";
}

std::uint32_t decode_frame_length(const std::array<std::uint8_t, kFrameHeaderSize>& header) {
    return (std::uint32_t{header[0]} << 24) | (std::uint32_t{header[1]} << 16) |
           (std::uint32_t{header[2]} << 8) | std::uint32_t{header[3]};
}

void FrameDecoder::feed(std::string_view bytes) {
    if (status_ != FrameStatus::ok) return;
    buffer_.append(bytes);
    // Checked as soon as a header is complete, so an oversized frame is refused before its
    // payload is buffered.
    if (buffer_.size() >= kFrameHeaderSize) {
        std::array<std::uint8_t, kFrameHeaderSize> header{};
        for (std::size_t i = 0; i < kFrameHeaderSize; ++i) {
            header[i] = static_cast<std::uint8_t>(buffer_[i]);
        }
        std::uint32_t n = decode_frame_length(header);
        if (n > limit_) {
            status_ = FrameStatus::too_large;
            announced_ = n;
            buffer_.clear();
        }
    }
}

std::optional<std::string> FrameDecoder::next() {
    if (status_ != FrameStatus::ok || buffer_.size() < kFrameHeaderSize) return std::nullopt;
    std::array<std::uint8_t, kFrameHeaderSize> header{};
    for (std::size_t i = 0; i < kFrameHeaderSize; ++i) {
        header[i] = static_cast<std::uint8_t>(buffer_[i]);
    }
    std::uint32_t n = decode_frame_length(header);
    if (buffer_.size() < kFrameHeaderSize + n) return std::nullopt;
    std::string payload = buffer_.substr(kFrameHeaderSize, n);
    buffer_.erase(0, kFrameHeaderSize + n);
    // The next header may already be buffered: check it against the limit now.
    std::string rest = std::move(buffer_);
    buffer_.clear();
    feed(rest);
    return payload;
}

namespace detail {

FrameStatus classify_read_error(const boost::system::error_code& ec, bool inside_frame) {
    if (ec == beast::error::timeout) return FrameStatus::timeout;
    if (ec == net::error::eof || ec == net::ssl::error::stream_truncated ||
        ec == net::error::connection_reset) {
        return inside_frame ? FrameStatus::truncated : FrameStatus::closed;
    }
    return FrameStatus::error;
}

}  // namespace detail

}  // namespace parley
