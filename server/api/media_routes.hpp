// The media routes of api.md: upload (POST /api/v1/media, body streamed to a file, 202 with a
// content id in state `processing`), info, and the image and thumbnail bytes with ETag and
// Cache-Control; the caller's list of images and deleting one. Each route adapts one
// MediaService call (which decides who may see a content id: everyone else gets 404, as for a
// content id that does not exist).
#pragma once

#include "server/api/api_context.hpp"
#include "server/api/router.hpp"
#include "server/data/db_readers.hpp"
#include "server/data/media_store.hpp"
#include "server/features/media_service.hpp"

namespace parley {

void add_media_routes(Router& router, ApiContext& api, MediaService& media);

// Whether `account_id` may use `content_id` as its avatar: empty when it may, else why not
// (it must be the account's own image, processed and ready).
std::string check_avatar(const MediaStore& store, const std::string& account_id,
                         const std::string& content_id);
// The same for an image attached to a message.
std::string check_attachment(const MediaStore& store, const std::string& account_id,
                             const std::string& content_id);

}  // namespace parley
