// IncomingFile: one file of a backup session while it arrives (a database snapshot or a media
// file), in the session's incoming directory: appended chunk by chunk in order, hashed as it
// grows, fsynced before it may be renamed into the snapshot store. A failure to create, write
// or fsync throws HandlerError (`internal`, naming the system's reason: a full disk, a failed
// fsync), which ends the session. Every file operation goes through a FileSystem, so tests
// inject those failures. Owned by its session and used under the session's lock; not thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "common/crypto.hpp"
#include "common/file_system.hpp"

namespace parley {

class IncomingFile {
  public:
    explicit IncomingFile(FileSystem& files) : files_(files) {}
    IncomingFile(const IncomingFile&) = delete;
    IncomingFile& operator=(const IncomingFile&) = delete;
    ~IncomingFile() { close(); }

    // Creates (or truncates) `path`, mode 0600.
    void open(const std::string& path);
    void append(const nlohmann::json::binary_t& data);
    // The file's data reaches the disk; "" or the system's reason (the file stays open).
    std::string sync();
    // fsyncs and closes; the digest of everything appended.
    std::string seal();
    void close();

    std::string path;
    std::int64_t received = 0;
    Sha256 hash;
    // Set once backup.file checked size, digest and quick_check.
    bool verified = false;
    std::int64_t size = 0;
    std::string sha256;

  private:
    FileSystem& files_;
    int fd_ = -1;
};

}  // namespace parley
