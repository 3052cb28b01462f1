// The server's media as a backup sees it: content-addressed files
// media/<first two hex digits>/<sha256>.<ext> (server/features/media_service.hpp). A file's
// content id is its SHA-256, so a manifest needs no hashing on the source; the target checks
// every file it receives against that hash. Plain functions, thread-safe, blocking.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace parley {

struct MediaEntry {
    std::string sha256;  // 64 lowercase hex digits
    std::string ext;     // 1 to 8 lowercase letters or digits
    std::int64_t size = 0;

    std::string relative_path() const { return sha256.substr(0, 2) + "/" + sha256 + "." + ext; }
};

bool valid_media_entry(const std::string& sha256, const std::string& ext);

// Every content-addressed file under `dir`, sorted by path; anything else (uploads in progress,
// temp files, configuration) is skipped. A missing directory is an empty list.
std::vector<MediaEntry> list_media(const std::string& dir, std::string& error);

}  // namespace parley
