#include "common/file_util.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

namespace parley {

namespace {
std::error_code last_error() {
    return {errno, std::generic_category()};
}
}  // namespace

std::error_code fsync_directory(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return last_error();
    std::error_code ec;
    if (::fsync(fd) != 0) ec = last_error();
    ::close(fd);
    return ec;
}

std::error_code write_file_atomic(const std::string& path, std::string_view content, int mode) {
    std::filesystem::path target(path);
    std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
    std::random_device rd;
    std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) return last_error();
    std::error_code ec;
    std::size_t done = 0;
    while (done < content.size()) {
        ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            ec = last_error();
            break;
        }
        done += static_cast<std::size_t>(n);
    }
    if (!ec && ::fsync(fd) != 0) ec = last_error();
    if (::close(fd) != 0 && !ec) ec = last_error();
    if (!ec && ::rename(tmp.c_str(), path.c_str()) != 0) ec = last_error();
    if (ec) {
        ::unlink(tmp.c_str());
        return ec;
    }
    return fsync_directory(dir);
}

std::error_code read_file(const std::string& path, std::string& out) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return last_error();
    out.clear();
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            std::error_code ec = last_error();
            ::close(fd);
            return ec;
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return {};
}

bool readable(const std::string& path, const char* key, std::string& error) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
        error = std::string("cannot read ") + key + " '" + path + "': " + std::strerror(errno);
        return false;
    }
    std::fclose(f);
    return true;
}

}  // namespace parley
