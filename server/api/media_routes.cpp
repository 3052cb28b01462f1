#include "server/api/media_routes.hpp"

#include <charconv>

#include "server/api/route_adapter.hpp"

namespace parley {

namespace {

// GET of the image or its thumbnail.
awaitable<HttpResponse> serve_file(MediaService& media, const Caller& caller, RequestContext& ctx,
                                   bool thumbnail) {
    auto m = co_await media.visible(caller.account.id, ctx.params["id"]);
    if (!m) co_return refusal_response(m.refusal());
    if (m->state != "ready") {
        co_return refusal_response({ErrorCode::conflict, m->state == "processing"
                                                             ? "the image is still being processed"
                                                             : "the image could not be processed"});
    }
    const std::string& sha = thumbnail ? m->thumb_sha256 : m->image_sha256;
    std::string etag = "\"" + sha + "\"";
    // Content-addressed files never change, but who may see them can (a profile turning
    // private): caches keep the bytes and ask again each time, which costs a 304.
    auto cache_control = "private, no-cache";
    HttpResponse res{http::status::not_modified, 11};
    res.set(http::field::etag, etag);
    res.set(http::field::cache_control, cache_control);
    if (ctx.request[http::field::if_none_match] == etag) co_return res;
    auto bytes = co_await media.read_stored(m->id, sha);
    if (!bytes) co_return refusal_response(bytes.refusal());
    res.result(http::status::ok);
    res.set(http::field::content_type, "image/jpeg");
    res.set("X-Content-Type-Options", "nosniff");
    res.body() = std::move(*bytes);
    res.prepare_payload();
    co_return res;
}

awaitable<HttpResponse> get_image(MediaService& media, const Caller& caller, RequestContext& ctx) {
    co_return co_await serve_file(media, caller, ctx, false);
}

awaitable<HttpResponse> get_thumbnail(MediaService& media, const Caller& caller,
                                      RequestContext& ctx) {
    co_return co_await serve_file(media, caller, ctx, true);
}

awaitable<HttpResponse> media_info(MediaService& media, const Caller& caller, RequestContext& ctx) {
    auto m = co_await media.visible(caller.account.id, ctx.params["id"]);
    if (!m) co_return refusal_response(m.refusal());
    co_return json_response(http::status::ok, media_json(*m));
}

// The caller's own images, newest first, a page at a time, with the quota they use.
awaitable<HttpResponse> list_media(MediaService& media, const Caller& caller, RequestContext& ctx) {
    int limit = 50;
    std::string limit_text = query_param(ctx.query, "limit");
    if (!limit_text.empty()) {
        auto [end, ec] =
            std::from_chars(limit_text.data(), limit_text.data() + limit_text.size(), limit);
        if (ec != std::errc() || end != limit_text.data() + limit_text.size()) limit = 0;
    }
    std::optional<MediaPosition> after;
    if (auto cursor = query_param(ctx.query, "cursor");
        !cursor.empty() && limit >= 1 && limit <= 200) {
        after = MediaPosition::parse(cursor);
        if (!after) {
            co_return refusal_response(
                {ErrorCode::bad_request, "cursor is the \"next\" of an earlier page"});
        }
    }
    auto page = media.page(caller.account.id, after, limit);
    if (!page) co_return refusal_response(page.refusal());
    nlohmann::json items = nlohmann::json::array();
    for (const auto& m : page->items)
        items.push_back(media_json(m));
    co_return json_response(
        http::status::ok,
        {{"media", std::move(items)},
         {"next", page->next ? nlohmann::json(page->next->cursor()) : nlohmann::json()},
         {"usage_bytes", page->usage_bytes},
         {"quota_bytes", media.quota_bytes()}});
}

// Deleting one's image: its quota is freed, and its files go once no record names them.
awaitable<HttpResponse> delete_media(MediaService& media, const Caller& caller,
                                     RequestContext& ctx) {
    std::string id = ctx.params["id"];
    auto deleted = co_await media.delete_own(caller.account.id, id);
    if (!deleted) co_return refusal_response(deleted.refusal());
    co_return json_response(http::status::ok, {{"content_id", id},
                                               {"deleted", true},
                                               {"freed_bytes", deleted->freed_bytes},
                                               {"usage_bytes", deleted->usage_bytes}});
}

awaitable<HttpResponse> upload(MediaService& media, const Caller& caller, RequestContext& ctx) {
    std::string account = caller.account.id;
    std::string body_file = ctx.body_file;
    auto record = co_await media.accept(account, body_file);
    if (!record) co_return refusal_response(record.refusal());
    co_return json_response(http::status::accepted,
                            {{"content_id", record->id}, {"state", "processing"}});
}

}  // namespace

namespace {

std::string check_own_ready(const MediaStore& store, const std::string& account_id,
                            const std::string& content_id, const std::string& what) {
    auto m = store.get(content_id);
    if (!m || m->owner_id != account_id) return what + " must be the content id of your own image";
    if (m->state != "ready") return what + " must be an image that has finished processing";
    return {};
}

}  // namespace

std::string check_avatar(const MediaStore& store, const std::string& account_id,
                         const std::string& content_id) {
    return check_own_ready(store, account_id, content_id, "avatar");
}

std::string check_attachment(const MediaStore& store, const std::string& account_id,
                             const std::string& content_id) {
    return check_own_ready(store, account_id, content_id, "media");
}

void add_media_routes(Router& router, ApiContext& api, MediaService& media) {
    using http::verb;
    router.add_upload(verb::post, "/api/v1/media", with_caller(api, media, upload),
                      api.config.media.max_upload_bytes, media.spool_dir());
    router.add(verb::get, "/api/v1/media", with_caller(api, media, list_media));
    router.add(verb::delete_, "/api/v1/media/{id}", with_caller(api, media, delete_media));
    router.add(verb::get, "/api/v1/media/{id}/info", with_caller(api, media, media_info));
    // Image bytes may be fetched with ?token= (an <img> cannot send a header).
    router.add(verb::get, "/api/v1/media/{id}",
               with_caller(api, media, get_image, Access::socket_query));
    router.add(verb::get, "/api/v1/media/{id}/thumbnail",
               with_caller(api, media, get_thumbnail, Access::socket_query));
}

}  // namespace parley
