// DirectoryLock: an exclusive flock(2) on `<dir>/parley.lock`, held for the life of the object.
//
// A server's in-memory state is authoritative for its data directory, so only one server may
// run on it: acquire() fails with a message naming the holder's pid when another process
// holds the lock. The lock is released by the kernel when the process exits, even on a crash.
#pragma once

#include <optional>
#include <string>

namespace parley {

class DirectoryLock {
  public:
    // Creates `dir` if needed and takes the lock. On failure returns nullopt and sets `error`.
    static std::optional<DirectoryLock> acquire(const std::string& dir, std::string& error);

    DirectoryLock(DirectoryLock&& other) noexcept;
    DirectoryLock& operator=(DirectoryLock&& other) noexcept;
    DirectoryLock(const DirectoryLock&) = delete;
    DirectoryLock& operator=(const DirectoryLock&) = delete;
    ~DirectoryLock();

  private:
    explicit DirectoryLock(int fd) : fd_(fd) {}
    int fd_ = -1;
};

}  // namespace parley
