// SpoolBody: a Beast body type that streams a request body into a new file through a
// FileSystem (common/file_system.hpp), for the upload routes (Router::add_upload). It differs
// from beast's file_body in two ways that matter to a server: every write goes through the
// seam, so tests can fill the disk under an upload; and a write that fails is remembered
// (SpoolFile::write_error), so the HTTP server can tell a full disk (507) from a malformed
// request (400). The file is created new (O_EXCL, mode 0600) and closed when the body ends;
// whoever opened it removes it. Used by one connection's coroutine at a time.
#pragma once

#include <fcntl.h>

#include <cstdint>
#include <string>
#include <system_error>

#include <boost/optional.hpp>

#include "common/file_system.hpp"
#include "common/net.hpp"

namespace parley {

// The file a body is spooled to.
class SpoolFile {
  public:
    SpoolFile() = default;
    SpoolFile(const SpoolFile&) = delete;
    SpoolFile& operator=(const SpoolFile&) = delete;
    SpoolFile(SpoolFile&& other) noexcept { *this = std::move(other); }
    SpoolFile& operator=(SpoolFile&& other) noexcept {
        std::swap(files_, other.files_);
        std::swap(fd_, other.fd_);
        std::swap(write_error_, other.write_error_);
        return *this;
    }
    ~SpoolFile() { close(); }

    // Creates `path`, which must not exist.
    std::error_code open(FileSystem& files, const std::string& path) {
        close();
        files_ = &files;
        std::error_code ec;
        fd_ = files.open(path, O_WRONLY | O_CREAT | O_EXCL, 0600, ec);
        return ec;
    }
    std::error_code write(const void* data, std::size_t size) {
        if (fd_ < 0) return std::make_error_code(std::errc::bad_file_descriptor);
        if (auto ec = files_->write_all(fd_, data, size)) {
            write_error_ = ec;
            return ec;
        }
        return {};
    }
    std::error_code close() {
        if (fd_ < 0) return {};
        auto ec = files_->close(fd_);
        fd_ = -1;
        if (ec && !write_error_) write_error_ = ec;
        return ec;
    }
    // The first write (or close) that failed: the body is not whole.
    const std::error_code& write_error() const { return write_error_; }

  private:
    FileSystem* files_ = nullptr;
    int fd_ = -1;
    std::error_code write_error_;
};

// FileSystem errors carry errno values (generic category); Boost 1.74 has no conversion.
inline boost::system::error_code to_boost_error(const std::error_code& ec) {
    if (!ec) return {};
    return {ec.value(), boost::system::generic_category()};
}

struct SpoolBody {
    using value_type = SpoolFile;

    class reader {
      public:
        template <bool isRequest, class Fields>
        reader(http::header<isRequest, Fields>&, value_type& file) : file_(file) {}

        void init(const boost::optional<std::uint64_t>&, boost::system::error_code& ec) { ec = {}; }

        template <class ConstBufferSequence>
        std::size_t put(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
            std::size_t written = 0;
            for (auto it = net::buffer_sequence_begin(buffers);
                 it != net::buffer_sequence_end(buffers); ++it) {
                net::const_buffer b = *it;
                if (auto failed = file_.write(b.data(), b.size())) {
                    ec = to_boost_error(failed);
                    return written;
                }
                written += b.size();
            }
            ec = {};
            return written;
        }

        void finish(boost::system::error_code& ec) { ec = to_boost_error(file_.close()); }

      private:
        value_type& file_;
    };
};

}  // namespace parley
