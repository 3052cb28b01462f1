#include "manager/backup/incoming_file.hpp"

#include <fcntl.h>

#include <fmt/format.h>

#include "manager/protocol/api_params.hpp"

namespace parley {

void IncomingFile::open(const std::string& p) {
    path = p;
    std::error_code ec;
    fd_ = files_.open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600, ec);
    if (fd_ < 0) {
        api_fail(ApiErrorCode::internal,
                 fmt::format("cannot create the incoming file: {}", ec.message()));
    }
}

void IncomingFile::append(const nlohmann::json::binary_t& data) {
    if (auto ec = files_.write_all(fd_, data.data(), data.size())) {
        api_fail(ApiErrorCode::internal,
                 fmt::format("cannot write the incoming file: {}", ec.message()));
    }
    hash.update(data.data(), data.size());
    received += static_cast<std::int64_t>(data.size());
}

std::string IncomingFile::sync() {
    if (auto ec = files_.fsync(fd_)) return ec.message();
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
    if (fd_ >= 0) files_.close(fd_);
    fd_ = -1;
}

}  // namespace parley
