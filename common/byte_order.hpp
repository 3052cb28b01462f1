// Big-endian integers in byte strings (frame headers of the manager API and the image child).
// Header-only and free of Asio, so the fuzz targets can use it.
#pragma once

#include <cstdint>
#include <string>

namespace parley {

inline void append_be32(std::string& out, std::uint32_t n) {
    out.push_back(static_cast<char>((n >> 24) & 0xff));
    out.push_back(static_cast<char>((n >> 16) & 0xff));
    out.push_back(static_cast<char>((n >> 8) & 0xff));
    out.push_back(static_cast<char>(n & 0xff));
}

}  // namespace parley
