#include "manager/backup/incoming_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "manager/protocol/api_params.hpp"

namespace parley {

namespace {

std::string errno_text() {
    return std::strerror(errno);
}

// Writes all of `data` at the end of `fd`.
bool write_all(int fd, const std::uint8_t* data, std::size_t size) {
    while (size > 0) {
        ssize_t n = ::write(fd, data, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

void IncomingFile::open(const std::string& p) {
    path = p;
    fd_ = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd_ < 0) {
        api_fail(ApiErrorCode::internal,
                 fmt::format("cannot create the incoming file: {}", errno_text()));
    }
}

void IncomingFile::append(const nlohmann::json::binary_t& data) {
    if (!write_all(fd_, data.data(), data.size())) {
        api_fail(ApiErrorCode::internal,
                 fmt::format("cannot write the incoming file: {}", errno_text()));
    }
    hash.update(data.data(), data.size());
    received += static_cast<std::int64_t>(data.size());
}

std::string IncomingFile::sync() {
    if (::fsync(fd_) != 0) return errno_text();
    return {};
}

std::string IncomingFile::seal() {
    if (std::string problem = sync(); !problem.empty()) {
        api_fail(ApiErrorCode::internal,
                 fmt::format("cannot fsync the incoming file: {}", problem));
    }
    close();
    return hex_encode(hash.finish());
}

void IncomingFile::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

}  // namespace parley
