#include "common/child_frame.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "common/byte_order.hpp"

namespace parley {

namespace {
std::uint32_t read_be32(const char* p) {
    auto b = [p](int i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])); };
    return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}
}  // namespace

std::string encode_child_frame(ChildFrameType type, std::string_view payload) {
    if (payload.size() > 0xffffffffu) throw std::length_error("child frame payload over 4 GiB");
    auto n = static_cast<std::uint32_t>(payload.size());
    std::string out;
    out.reserve(kChildFrameHeaderBytes + payload.size());
    out.push_back('P');
    out.push_back('X');
    out.push_back(static_cast<char>(kChildFrameVersion));
    out.push_back(static_cast<char>(type));
    append_be32(out, n);
    out.append(payload);
    return out;
}

bool ChildFrameDecoder::feed(std::string_view bytes) {
    if (failed()) return false;
    // Drop what was consumed before growing, so the buffer stays within one frame and a bit.
    if (consumed_ > 0) {
        buffer_.erase(0, consumed_);
        consumed_ = 0;
    }
    // The header is checked as soon as it is complete, so the buffer holds at most one frame
    // under the limit plus one read's worth of bytes.
    buffer_.append(bytes);
    return check_header();
}

bool ChildFrameDecoder::check_header() {
    if (failed()) return false;
    std::size_t avail = buffer_.size() - consumed_;
    if (avail < 4) {
        // Check what we can already: the magic, version and type arrive byte by byte.
        const char* p = buffer_.data() + consumed_;
        if (avail >= 1 && p[0] != 'P') error_ = "bad frame magic";
        if (avail >= 2 && p[1] != 'X') error_ = "bad frame magic";
        if (avail >= 3 && static_cast<std::uint8_t>(p[2]) != kChildFrameVersion)
            error_ = fmt::format("unsupported frame version {}", static_cast<unsigned char>(p[2]));
        return !failed();
    }
    const char* p = buffer_.data() + consumed_;
    if (p[0] != 'P' || p[1] != 'X') {
        error_ = "bad frame magic";
        return false;
    }
    auto version = static_cast<std::uint8_t>(p[2]);
    if (version != kChildFrameVersion) {
        error_ = fmt::format("unsupported frame version {}", version);
        return false;
    }
    auto type = static_cast<std::uint8_t>(p[3]);
    if (type < 1 || type > 3) {
        error_ = fmt::format("unknown frame type {}", type);
        return false;
    }
    if (avail < kChildFrameHeaderBytes) return true;
    std::uint32_t length = read_be32(p + 4);
    if (length > max_payload_) {
        error_ = fmt::format("frame of {} bytes is over the limit of {}", length, max_payload_);
        return false;
    }
    return true;
}

std::optional<ChildFrame> ChildFrameDecoder::next() {
    if (!check_header()) return std::nullopt;
    std::size_t avail = buffer_.size() - consumed_;
    if (avail < kChildFrameHeaderBytes) return std::nullopt;
    const char* p = buffer_.data() + consumed_;
    std::uint32_t length = read_be32(p + 4);
    if (avail < kChildFrameHeaderBytes + length) return std::nullopt;
    ChildFrame frame;
    frame.type = static_cast<ChildFrameType>(static_cast<std::uint8_t>(p[3]));
    frame.payload.assign(p + kChildFrameHeaderBytes, length);
    consumed_ += kChildFrameHeaderBytes + length;
    if (consumed_ == buffer_.size()) {
        buffer_.clear();
        consumed_ = 0;
    }
    return frame;
}

}  // namespace parley
