#include "server/api/media_routes.hpp"

#include <charconv>

#include <spdlog/spdlog.h>

#include "common/file_util.hpp"
#include "common/offload.hpp"
#include "server/api/outcome_response.hpp"

namespace parley {

namespace {

HttpResponse not_found() {
    return error_response(http::status::not_found, "not_found", "no such media");
}

// Whether `viewer` may see `m` (see the header): the one place media looks at chat
// membership (a private profile's owner shares a room with the viewer; a message in one of
// the viewer's rooms carries the image). The references are the caller's named locals, alive
// across the co_await.
awaitable<DbResult<bool>> may_see(ApiContext& api, DbReaderPool& readers, const std::string& viewer,
                                  const MediaRecord& m) {
    if (m.owner_id == viewer) co_return true;
    auto profile = api.accounts.profile(m.owner_id);
    bool avatar = profile && profile->avatar && *profile->avatar == m.id;
    if (avatar && profile->visibility != "private") co_return true;
    auto query = [viewer, owner = m.owner_id, id = m.id, avatar](SqliteDb& db) {
        if (avatar) {
            auto q = db.cached(
                "SELECT 1 FROM members a JOIN members b ON a.room_id = b.room_id "
                "WHERE a.account_id = ? AND b.account_id = ? LIMIT 1");
            q->bind(1, viewer).bind(2, owner);
            if (q->step() == StepResult::row) return true;
        }
        // messages_media finds the indexed messages that carry it (the message log is scanned);
        // members' key checks each room.
        auto posted = db.cached(
            "SELECT 1 FROM all_messages m JOIN members b ON b.room_id = m.room_id "
            "AND b.account_id = ? WHERE m.media = ? AND m.deleted = 0 LIMIT 1");
        posted->bind(1, viewer).bind(2, id);
        return posted->step() == StepResult::row;
    };
    co_return co_await readers.read(std::move(query));
}

HttpResponse db_failure(const DbFailure& f) {
    return db_failure_response(f, "reading media visibility");
}

struct FileRead {
    std::string bytes;
    std::string problem;
};

// GET of the image or its thumbnail.
awaitable<HttpResponse> serve_file(ApiContext& api, MediaService& media, MediaStore& store,
                                   DbReaderPool& readers, net::thread_pool& files,
                                   RequestContext& ctx, bool thumbnail) {
    auto auth = authenticate(api, ctx, true, true);
    if (!auth.caller) co_return auth.refusal;
    auto m = store.get(ctx.params["id"]);
    if (!m) co_return not_found();
    std::string viewer = auth.caller->account.id;
    const MediaRecord& record = *m;
    auto allowed = co_await may_see(api, readers, viewer, record);
    if (!allowed) co_return db_failure(allowed.error());
    if (!*allowed) co_return not_found();
    if (m->state != "ready") {
        co_return error_response(http::status::conflict, "conflict",
                                 m->state == "processing" ? "the image is still being processed"
                                                          : "the image could not be processed");
    }
    const std::string& sha = thumbnail ? m->thumb_sha256 : m->image_sha256;
    std::string etag = "\"" + sha + "\"";
    // Content-addressed files never change, but who may see them can (a profile turning
    // private): caches keep the bytes and ask again each time, which costs a 304.
    auto cache_control = "private, no-cache";
    if (ctx.request[http::field::if_none_match] == etag) {
        HttpResponse res{http::status::not_modified, 11};
        res.set(http::field::etag, etag);
        res.set(http::field::cache_control, cache_control);
        co_return res;
    }
    std::string path = media.file_path(sha);
    auto read_job = [path]() noexcept {
        FileRead r;
        try {
            if (auto ec = read_file(path, r.bytes)) r.problem = ec.message();
        } catch (const std::exception& e) {
            r.problem = e.what();
        }
        return r;
    };
    FileRead file = co_await offload(files, std::move(read_job));
    if (!file.problem.empty()) {
        spdlog::error("media {}: cannot read {}: {}", m->id, path, file.problem);
        co_return error_response(http::status::internal_server_error, "internal",
                                 "could not read the image");
    }
    HttpResponse res{http::status::ok, 11};
    res.set(http::field::content_type, "image/jpeg");
    res.set(http::field::etag, etag);
    res.set(http::field::cache_control, cache_control);
    res.set("X-Content-Type-Options", "nosniff");
    res.body() = std::move(file.bytes);
    res.prepare_payload();
    co_return res;
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

void add_media_routes(Router& router, ApiContext& api, MediaService& media, MediaStore& store,
                      DbReaderPool& readers, net::thread_pool& files) {
    router.add_upload(
        http::verb::post, "/api/v1/media",
        [&api, &media](RequestContext& ctx) -> awaitable<HttpResponse> {
            auto auth = authenticate(api, ctx, true);
            if (!auth.caller) co_return auth.refusal;
            std::string account = auth.caller->account.id;
            std::string body_file = ctx.body_file;
            auto record = co_await media.accept(account, body_file);
            if (!record) co_return refusal_response(record.refusal());
            co_return json_response(http::status::accepted,
                                    {{"content_id", record->id}, {"state", "processing"}});
        },
        api.config.media.max_upload_bytes, media.spool_dir());

    // The caller's own images, newest first, a page at a time, with the quota they use.
    router.add(http::verb::get, "/api/v1/media",
               [&api, &store](RequestContext& ctx) -> awaitable<HttpResponse> {
                   auto auth = authenticate(api, ctx, true);
                   if (!auth.caller) co_return auth.refusal;
                   const std::string& owner = auth.caller->account.id;
                   int limit = 50;
                   std::string limit_text = query_param(ctx.query, "limit");
                   if (!limit_text.empty()) {
                       auto [end, ec] = std::from_chars(
                           limit_text.data(), limit_text.data() + limit_text.size(), limit);
                       if (ec != std::errc() || end != limit_text.data() + limit_text.size())
                           limit = 0;
                   }
                   if (limit < 1 || limit > 200) {
                       co_return error_response(http::status::bad_request, "bad_request",
                                                "limit is an integer from 1 to 200");
                   }
                   std::optional<MediaPosition> after;
                   if (auto cursor = query_param(ctx.query, "cursor"); !cursor.empty()) {
                       after = MediaPosition::parse(cursor);
                       if (!after) {
                           co_return error_response(http::status::bad_request, "bad_request",
                                                    "cursor is the \"next\" of an earlier page");
                       }
                   }
                   bool more = false;
                   auto page = store.owned_by(owner, after, static_cast<std::size_t>(limit), more);
                   nlohmann::json items = nlohmann::json::array();
                   for (const auto& m : page)
                       items.push_back(media_json(m));
                   nlohmann::json next;
                   if (more) next = MediaPosition{page.back().created_at, page.back().id}.cursor();
                   co_return json_response(http::status::ok,
                                           {{"media", std::move(items)},
                                            {"next", std::move(next)},
                                            {"usage_bytes", store.usage(owner)},
                                            {"quota_bytes", api.config.media.quota_bytes}});
               });

    // Deleting one's image: its quota is freed, and its files go once no record names them.
    router.add(
        http::verb::delete_, "/api/v1/media/{id}",
        [&api, &media, &store, &readers](RequestContext& ctx) -> awaitable<HttpResponse> {
            auto auth = authenticate(api, ctx, true);
            if (!auth.caller) co_return auth.refusal;
            auto m = store.get(ctx.params["id"]);
            if (!m) co_return not_found();
            std::string caller = auth.caller->account.id;
            if (m->owner_id != caller) {
                // Someone else's avatar the caller may see: say why; anything else is unknown.
                const MediaRecord& record = *m;
                auto allowed = co_await may_see(api, readers, caller, record);
                if (!allowed) co_return db_failure(allowed.error());
                if (!*allowed) co_return not_found();
                co_return error_response(http::status::forbidden, "forbidden",
                                         "only its owner can delete an image");
            }
            if (m->state == "processing") {
                co_return error_response(http::status::conflict, "conflict",
                                         "the image is still being processed; delete it once "
                                         "it is ready or has failed");
            }
            auto profile = api.accounts.profile(caller);
            if (profile && profile->avatar && *profile->avatar == m->id) {
                co_return error_response(http::status::conflict, "conflict",
                                         "this image is your avatar; choose another avatar "
                                         "(or none) first");
            }
            std::string id = m->id;
            auto removed = co_await media.remove(std::move(*m));
            if (!removed) co_return db_failure_response(removed.error(), "deleting media");
            if (!removed->removed) co_return not_found();
            co_return json_response(http::status::ok, {{"content_id", id},
                                                       {"deleted", true},
                                                       {"freed_bytes", removed->freed_bytes},
                                                       {"usage_bytes", store.usage(caller)}});
        });

    router.add(http::verb::get, "/api/v1/media/{id}/info",
               [&api, &store, &readers](RequestContext& ctx) -> awaitable<HttpResponse> {
                   auto auth = authenticate(api, ctx, true);
                   if (!auth.caller) co_return auth.refusal;
                   auto m = store.get(ctx.params["id"]);
                   if (!m) co_return not_found();
                   std::string viewer = auth.caller->account.id;
                   const MediaRecord& record = *m;
                   auto allowed = co_await may_see(api, readers, viewer, record);
                   if (!allowed) co_return db_failure(allowed.error());
                   if (!*allowed) co_return not_found();
                   co_return json_response(http::status::ok, media_json(*m));
               });

    router.add(http::verb::get, "/api/v1/media/{id}",
               [&api, &media, &store, &readers, &files](RequestContext& ctx) {
                   return serve_file(api, media, store, readers, files, ctx, false);
               });
    router.add(http::verb::get, "/api/v1/media/{id}/thumbnail",
               [&api, &media, &store, &readers, &files](RequestContext& ctx) {
                   return serve_file(api, media, store, readers, files, ctx, true);
               });
}

}  // namespace parley
