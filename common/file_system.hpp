// FileSystem: the file operations whose failure Parley must survive without losing or
// tearing data — create, write, fsync, rename, unlink, a directory's fsync — behind one small
// interface, so that tests can make the disk full (ENOSPC) or an fsync fail (EIO) and check
// what the caller does then. real_file_system() is plain POSIX; FaultyFileSystem wraps it and
// fails on demand. Code that writes files durably takes a FileSystem& (the real one in
// production); errors are std::error_code values carrying errno. Both implementations are
// thread-safe: they hold no state but the faults, which are atomics.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>

namespace parley {

class FileSystem {
  public:
    virtual ~FileSystem() = default;
    // open(2): the descriptor, or -1 with `ec` set.
    virtual int open(const std::string& path, int flags, int mode, std::error_code& ec) = 0;
    // Writes all of `data` (retrying short writes and EINTR).
    virtual std::error_code write_all(int fd, const void* data, std::size_t size) = 0;
    virtual std::error_code fsync(int fd) = 0;
    virtual std::error_code close(int fd) = 0;
    virtual std::error_code rename(const std::string& from, const std::string& to) = 0;
    // unlink(2); a missing file is ENOENT (callers that do not care ignore it).
    virtual std::error_code unlink(const std::string& path) = 0;
    // fsyncs a directory so that a rename or create in it is durable.
    virtual std::error_code fsync_directory(const std::string& dir) = 0;
};

// The process's file system (stateless; lives for the whole program).
FileSystem& real_file_system();

// The real file system, with faults switched on by a test.
class FaultyFileSystem final : public FileSystem {
  public:
    // Writes fail with ENOSPC once `bytes` more bytes have been written, as on a disk that
    // fills up: the write that crosses the line writes what still fits, then fails. Negative:
    // no limit (the default).
    void fill_disk_after(std::int64_t bytes) { space_.store(bytes); }
    // fsync of files (and of directories, with `directories`) fails with EIO while set.
    void fail_fsync(bool on, bool directories = false) {
        fail_fsync_.store(on);
        fail_dir_fsync_.store(on && directories);
    }
    // fsync of directories only fails with EIO while set (a create or rename that is done but
    // not durable).
    void fail_directory_fsync(bool on) { fail_dir_fsync_.store(on); }
    // How many operations failed because of a fault (so a test knows its fault was reached).
    int injected() const { return injected_.load(); }

    int open(const std::string& path, int flags, int mode, std::error_code& ec) override;
    std::error_code write_all(int fd, const void* data, std::size_t size) override;
    std::error_code fsync(int fd) override;
    std::error_code close(int fd) override;
    std::error_code rename(const std::string& from, const std::string& to) override;
    std::error_code unlink(const std::string& path) override;
    std::error_code fsync_directory(const std::string& dir) override;

  private:
    std::atomic<std::int64_t> space_{-1};
    std::atomic<bool> fail_fsync_{false};
    std::atomic<bool> fail_dir_fsync_{false};
    std::atomic<int> injected_{0};
};

}  // namespace parley
