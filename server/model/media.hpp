// Plain types of the media component: one uploaded image and what became of it. Values only;
// MediaStore (server/data/media_store.hpp) owns the authoritative copies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace parley {

struct MediaRecord {
    std::string id;                    // the content id clients use (random, URL-safe)
    std::string owner_id;              // the uploading account
    std::string state = "processing";  // "processing" | "ready" | "failed"
    std::int64_t upload_bytes = 0;
    std::string format;        // the upload's format once known: jpeg, png, webp, gif
    std::string image_sha256;  // lowercase hex of the fitted JPEG; its file name under media/
    std::int64_t image_bytes = 0;
    int width = 0;
    int height = 0;
    std::string thumb_sha256;
    std::int64_t thumb_bytes = 0;
    int thumb_width = 0;
    int thumb_height = 0;
    std::string error;    // machine code when failed
    std::string message;  // human text when failed
    std::int64_t created_at = 0;
    std::int64_t updated_at = 0;

    // What the record counts against its owner's quota: the upload while it is processed,
    // the stored files once ready, nothing once failed.
    std::int64_t quota_bytes() const {
        if (state == "processing") return upload_bytes;
        if (state == "ready") return image_bytes + thumb_bytes;
        return 0;
    }
};

// A place in an account's list of media, newest first: the list's paging cursor, written
// "<created_at>.<content id>" (a dot never occurs in a content id).
struct MediaPosition {
    std::int64_t created_at = 0;
    std::string id;

    std::string cursor() const { return std::to_string(created_at) + "." + id; }
    // The position a cursor names; nullopt when it is not one.
    static std::optional<MediaPosition> parse(std::string_view cursor);
};

}  // namespace parley
