#include "common/file_system.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "common/file_util.hpp"

namespace parley {

namespace {

std::error_code last_error() {
    return {errno, std::generic_category()};
}

class PosixFileSystem final : public FileSystem {
  public:
    int open(const std::string& path, int flags, int mode, std::error_code& ec) override {
        int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
        if (fd < 0) ec = last_error();
        return fd;
    }
    std::error_code write_all(int fd, const void* data, std::size_t size) override {
        const char* p = static_cast<const char*>(data);
        while (size > 0) {
            ssize_t n = ::write(fd, p, size);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return last_error();
            // A write that makes no progress would loop forever: report it as a full disk.
            if (n == 0) return std::make_error_code(std::errc::no_space_on_device);
            p += n;
            size -= static_cast<std::size_t>(n);
        }
        return {};
    }
    std::error_code fsync(int fd) override {
        if (::fsync(fd) != 0) return last_error();
        return {};
    }
    std::error_code close(int fd) override {
        if (::close(fd) != 0) return last_error();
        return {};
    }
    std::error_code rename(const std::string& from, const std::string& to) override {
        if (std::rename(from.c_str(), to.c_str()) != 0) return last_error();
        return {};
    }
    std::error_code unlink(const std::string& path) override {
        if (::unlink(path.c_str()) != 0) return last_error();
        return {};
    }
    std::error_code fsync_directory(const std::string& dir) override {
        return parley::fsync_directory(dir);
    }
};

}  // namespace

FileSystem& real_file_system() {
    static PosixFileSystem real;
    return real;
}

int FaultyFileSystem::open(const std::string& path, int flags, int mode, std::error_code& ec) {
    return real_file_system().open(path, flags, mode, ec);
}

std::error_code FaultyFileSystem::write_all(int fd, const void* data, std::size_t size) {
    std::int64_t space = space_.load();
    if (space < 0) return real_file_system().write_all(fd, data, size);
    const std::size_t fits = std::min<std::size_t>(size, static_cast<std::size_t>(space));
    if (auto ec = real_file_system().write_all(fd, data, fits)) return ec;
    space_.fetch_sub(static_cast<std::int64_t>(fits));
    if (fits < size) {
        ++injected_;
        return std::make_error_code(std::errc::no_space_on_device);
    }
    return {};
}

std::error_code FaultyFileSystem::fsync(int fd) {
    if (fail_fsync_.load()) {
        ++injected_;
        return std::make_error_code(std::errc::io_error);
    }
    return real_file_system().fsync(fd);
}

std::error_code FaultyFileSystem::close(int fd) {
    return real_file_system().close(fd);
}

std::error_code FaultyFileSystem::rename(const std::string& from, const std::string& to) {
    return real_file_system().rename(from, to);
}

std::error_code FaultyFileSystem::unlink(const std::string& path) {
    return real_file_system().unlink(path);
}

std::error_code FaultyFileSystem::fsync_directory(const std::string& dir) {
    if (fail_dir_fsync_.load()) {
        ++injected_;
        return std::make_error_code(std::errc::io_error);
    }
    return real_file_system().fsync_directory(dir);
}

}  // namespace parley
