#include "server/features/media_service.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/file_util.hpp"
#include "common/offload.hpp"
#include "server/model/account.hpp"

namespace parley {

namespace fs = std::filesystem;

nlohmann::json media_json(const MediaRecord& m) {
    nlohmann::json j{{"content_id", m.id},
                     {"state", m.state},
                     {"created_at", m.created_at},
                     {"updated_at", m.updated_at}};
    if (m.state == "ready") {
        j["format"] = m.format;
        j["width"] = m.width;
        j["height"] = m.height;
        j["bytes"] = m.image_bytes;
        j["etag"] = m.image_sha256;
        j["thumbnail"] = {{"width", m.thumb_width},
                          {"height", m.thumb_height},
                          {"bytes", m.thumb_bytes},
                          {"etag", m.thumb_sha256}};
    } else if (m.state == "failed") {
        j["error"] = m.error;
        j["message"] = m.message;
    }
    return j;
}

namespace {

// fsyncs a file's data.
std::error_code fsync_file(FileSystem& files, const std::string& path) {
    std::error_code ec;
    int fd = files.open(path, O_RDONLY, 0, ec);
    if (fd < 0) return ec;
    ec = files.fsync(fd);
    files.close(fd);
    return ec;
}

struct StoredFile {
    std::string sha256;
    std::int64_t bytes = 0;
};

struct StoreOutcome {
    std::string problem;  // empty on success
    StoredFile image;
    StoredFile thumb;
};

// Hashes `tmp` and renames it to <media>/<aa>/<sha256>.jpg (or drops it when that content is
// already stored), then fsyncs the directory so the rename is durable.
std::string store_file(FileSystem& files, const std::string& media_dir, const std::string& tmp,
                       StoredFile& out) {
    std::string bytes;
    if (auto ec = read_file(tmp, bytes)) return "cannot read a processed file: " + ec.message();
    out.sha256 = sha256_hex(bytes);
    out.bytes = static_cast<std::int64_t>(bytes.size());
    std::string dir = media_dir + "/" + out.sha256.substr(0, 2);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return "cannot create " + dir + ": " + ec.message();
    std::string target = dir + "/" + out.sha256 + ".jpg";
    if (fs::exists(target, ec)) {
        files.unlink(tmp);
        return {};
    }
    if (auto rec = files.rename(tmp, target)) return "rename: " + rec.message();
    if (auto dec = files.fsync_directory(dir)) return "cannot fsync " + dir + ": " + dec.message();
    return {};
}

}  // namespace

MediaService::MediaService(const MediaSettings& settings, const std::string& data_dir,
                           MediaStore& store, AccountStore& accounts, DbReaderPool& readers,
                           ImageprocClient& imageproc, ClientRegistry& clients,
                           net::thread_pool& files, net::any_io_executor executor,
                           FileSystem& file_system)
    : settings_(settings),
      media_dir_(fs::absolute(fs::path(data_dir) / "media").lexically_normal().string()),
      tmp_dir_(media_dir_ + "/tmp"),
      uploads_dir_(media_dir_ + "/uploads"),
      store_(store),
      accounts_(accounts),
      readers_(readers),
      imageproc_(imageproc),
      clients_(clients),
      files_(files),
      file_system_(file_system),
      executor_(std::move(executor)) {}

void MediaService::prepare() {
    fs::create_directories(tmp_dir_);
    fs::create_directories(uploads_dir_);
    std::size_t removed = 0;
    for (const auto& entry : fs::directory_iterator(tmp_dir_)) {
        std::error_code ec;
        fs::remove(entry.path(), ec);
        if (!ec) ++removed;
    }
    if (removed) spdlog::info("media: removed {} leftover temporary files", removed);
    sweep_unnamed();
}

namespace {

bool is_hex(std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

void MediaService::sweep_unnamed() {
    std::vector<std::string> unnamed;
    for (const auto& dir : fs::directory_iterator(media_dir_)) {
        std::string prefix = dir.path().filename().string();
        if (!dir.is_directory() || prefix.size() != 2 || !is_hex(prefix)) continue;
        for (const auto& file : fs::directory_iterator(dir.path())) {
            // Only <aa>/<sha256>.jpg is ours to judge.
            std::string name = file.path().filename().string();
            if (name.size() != 68 || !name.ends_with(".jpg")) continue;
            std::string sha = name.substr(0, 64);
            if (!is_hex(sha) || !sha.starts_with(prefix)) continue;
            if (!store_.references(sha)) unnamed.push_back(sha);
        }
    }
    if (unnamed.empty()) return;
    int removed = remove_unnamed(unnamed);
    spdlog::info("media: removed {} stored files that no record names", removed);
}

int MediaService::remove_unnamed(const std::vector<std::string>& shas) {
    std::lock_guard lock(files_mutex_);
    int removed = 0;
    std::set<std::string> dirs;
    for (const auto& sha : shas) {
        if (store_.references(sha) || pinned_.contains(sha)) continue;
        std::string path = file_path(sha);
        if (auto ec = file_system_.unlink(path); !ec) {
            ++removed;
            dirs.insert(path.substr(0, path.rfind('/')));
        } else if (ec != std::errc::no_such_file_or_directory) {
            spdlog::warn("media: cannot remove {}: {}", path, ec.message());
        }
    }
    for (const auto& dir : dirs) {
        if (auto ec = file_system_.fsync_directory(dir))
            spdlog::warn("media: cannot fsync {}: {}", dir, ec.message());
    }
    return removed;
}

awaitable<DbResult<MediaRemoval>> MediaService::remove(MediaRecord record) {
    auto removed = co_await store_.remove(record.id);
    if (!removed) co_return removed.error();
    MediaRemoval out;
    if (!*removed) co_return out;
    out.removed = true;
    out.freed_bytes = record.quota_bytes();
    std::vector<std::string> shas;
    for (const auto& sha : {record.image_sha256, record.thumb_sha256})
        if (!sha.empty()) shas.push_back(sha);
    auto unlink_job = [this, shas]() noexcept {
        try {
            return remove_unnamed(shas);
        } catch (const std::exception& e) {
            spdlog::error("media: removing files failed: {}", e.what());
            return 0;
        }
    };
    out.files_removed = co_await offload(files_, std::move(unlink_job));
    spdlog::info("media {} of account {}: deleted ({} bytes freed, {} stored files removed)",
                 record.id, record.owner_id, out.freed_bytes, out.files_removed);
    nlohmann::json event{{"type", "media"},
                         {"content_id", record.id},
                         {"state", "deleted"},
                         {"updated_at", now_ms()}};
    auto frame = std::make_shared<const std::string>(event.dump());
    for (auto& client : clients_.for_account(record.owner_id))
        client->send(frame);
    clients_.account_frame(record.owner_id, frame, false);
    co_return out;
}

void MediaService::resume() {
    auto pending = store_.in_state("processing");
    for (const auto& m : pending) {
        spdlog::info("media {} of account {}: processing again after a restart", m.id, m.owner_id);
        submit(m, false);
    }
}

std::string MediaService::file_path(const std::string& sha256) const {
    return media_dir_ + "/" + sha256.substr(0, 2) + "/" + sha256 + ".jpg";
}

std::string MediaService::upload_path(const std::string& id) const {
    return uploads_dir_ + "/" + id;
}

std::string MediaService::output_path(const std::string& id, const char* suffix) const {
    return tmp_dir_ + "/" + id + suffix;
}

awaitable<MediaService::FileProblem> MediaService::keep_upload(std::string spool_path,
                                                               std::string target) {
    auto keep = [this, spool_path, target]() noexcept -> FileProblem {
        try {
            if (auto ec = fsync_file(file_system_, spool_path)) return {"fsync", ec};
            if (auto ec = file_system_.rename(spool_path, target)) return {"rename", ec};
            if (auto ec = file_system_.fsync_directory(uploads_dir_)) {
                // Not durable, so not accepted: nothing of it may stay behind.
                file_system_.unlink(target);
                return {"fsync of the uploads directory", ec};
            }
            return {};
        } catch (const std::exception& e) {
            return {e.what(), std::make_error_code(std::errc::io_error)};
        }
    };
    co_return co_await offload(files_, std::move(keep));
}

awaitable<Outcome<MediaRecord>> MediaService::refuse_unkept(MediaRecord m, FileProblem problem) {
    spdlog::error("media {} of account {}: cannot keep the upload: {}", m.id, m.owner_id,
                  problem.text());
    // The record reserved quota for an upload that is not kept: it goes too, so the refused
    // upload leaves nothing behind (the HTTP layer removes the spooled body).
    if (auto removed = co_await store_.remove(m.id); !removed) {
        spdlog::error("media {}: cannot remove the record of an upload not kept: {}", m.id,
                      removed.error().message);
    }
    if (problem.ec == std::errc::no_space_on_device || problem.ec.value() == EDQUOT) {
        co_return Refusal{ErrorCode::insufficient_storage,
                          "the server has no space left for the upload; retry later"};
    }
    co_return Refusal{ErrorCode::internal,
                      "the server could not store the upload (" + problem.ec.message() + ")"};
}

awaitable<Outcome<MediaRecord>> MediaService::accept(std::string account_id,
                                                     std::string spool_path) {
    struct stat st {};
    if (::stat(spool_path.c_str(), &st) != 0) {
        spdlog::error("media upload of account {}: spooled body missing: {}", account_id,
                      std::strerror(errno));
        co_return Refusal{ErrorCode::internal, "the upload was lost; retry"};
    }
    if (st.st_size == 0) {
        co_return Refusal{ErrorCode::bad_request, "the body is empty; send the image bytes"};
    }
    if (imageproc_.stats().queued >= static_cast<std::size_t>(settings_.queue_limit)) {
        co_return Refusal{ErrorCode::unavailable,
                          "too many images are waiting to be processed; retry later"};
    }
    MediaRecord m;
    m.id = random_id();
    m.owner_id = account_id;
    m.state = "processing";
    m.upload_bytes = st.st_size;
    m.created_at = m.updated_at = now_ms();
    auto created = co_await store_.create(m, settings_.quota_bytes);
    if (!created) {
        bool busy =
            created.error().code == DbErrc::unavailable || created.error().code == DbErrc::busy;
        if (!busy) spdlog::error("media upload: database failure: {}", created.error().message);
        if (busy) co_return Refusal{ErrorCode::unavailable, "the server is busy; retry"};
        co_return Refusal{ErrorCode::internal, "could not store the upload"};
    }
    if (!*created) {
        spdlog::info("media upload of account {} refused: quota of {} bytes", account_id,
                     settings_.quota_bytes);
        co_return Refusal{ErrorCode::quota_exceeded,
                          "this upload would exceed the account's media quota of " +
                              std::to_string(settings_.quota_bytes) + " bytes"};
    }
    // Durable before acknowledged: the upload survives a crash and is processed on restart.
    FileProblem problem = co_await keep_upload(spool_path, upload_path(m.id));
    if (problem) co_return co_await refuse_unkept(std::move(m), problem);
    spdlog::info("media {} of account {}: {} bytes accepted, processing", m.id, account_id,
                 m.upload_bytes);
    submit(m, true);
    co_return m;
}

void MediaService::submit(const MediaRecord& record, bool bounded) {
    ImageRequest req;
    req.input = upload_path(record.id);
    req.output = output_path(record.id, ".jpg");
    req.thumbnail = output_path(record.id, ".thumb.jpg");
    req.max_side = settings_.max_side;
    req.thumb_side = settings_.thumbnail_side;
    req.min_side = settings_.min_side;
    req.quality = settings_.jpeg_quality;
    req.max_pixels = settings_.max_pixels;
    std::string id = record.id;
    bool queued = imageproc_.submit(
        req,
        [this, id](ImageResponse response) {
            net::co_spawn(executor_, finish(id, std::move(response)), net::detached);
        },
        bounded);
    if (!queued) {
        auto failure = image_failure(0, image_error::unavailable,
                                     "too many images are waiting to be processed");
        net::co_spawn(executor_, finish(id, std::move(failure)), net::detached);
    }
}

// Releases finish()'s pins when it ends, however it ends.
struct MediaService::PinRelease {
    MediaService* service = nullptr;
    std::vector<std::string> shas;

    PinRelease() = default;
    PinRelease(MediaService* s, std::vector<std::string> h) : service(s), shas(std::move(h)) {}
    PinRelease(const PinRelease&) = delete;
    PinRelease& operator=(PinRelease&& other) noexcept {
        std::swap(service, other.service);
        std::swap(shas, other.shas);
        return *this;
    }
    ~PinRelease() {
        if (!service) return;
        std::lock_guard lock(service->files_mutex_);
        for (const auto& sha : shas) {
            if (sha.empty()) continue;
            if (auto it = service->pinned_.find(sha); it != service->pinned_.end())
                service->pinned_.erase(it);
        }
    }
};

awaitable<void> MediaService::finish(std::string content_id, ImageResponse response) {
    PinRelease pins;
    try {
        auto current = store_.get(content_id);
        if (!current || current->state != "processing") co_return;
        MediaRecord m = *current;
        std::string image_tmp = output_path(m.id, ".jpg");
        std::string thumb_tmp = output_path(m.id, ".thumb.jpg");
        if (response.ok) {
            auto store_job = [this, image_tmp, thumb_tmp]() noexcept {
                StoreOutcome o;
                std::lock_guard lock(files_mutex_);
                try {
                    o.problem = store_file(file_system_, media_dir_, image_tmp, o.image);
                    if (o.problem.empty())
                        o.problem = store_file(file_system_, media_dir_, thumb_tmp, o.thumb);
                } catch (const std::exception& e) {
                    o.problem = e.what();
                }
                for (const auto* f : {&o.image, &o.thumb})
                    if (!f->sha256.empty()) pinned_.insert(f->sha256);
                return o;
            };
            StoreOutcome stored = co_await offload(files_, std::move(store_job));
            // Unpinned once the record naming them is saved (or could not be).
            pins = PinRelease{this, {stored.image.sha256, stored.thumb.sha256}};
            if (stored.problem.empty()) {
                m.state = "ready";
                m.format = response.format;
                m.width = response.width;
                m.height = response.height;
                m.thumb_width = response.thumb_width;
                m.thumb_height = response.thumb_height;
                m.image_sha256 = stored.image.sha256;
                m.image_bytes = stored.image.bytes;
                m.thumb_sha256 = stored.thumb.sha256;
                m.thumb_bytes = stored.thumb.bytes;
            } else {
                spdlog::error("media {}: cannot store the processed files: {}", m.id,
                              stored.problem);
                m.state = "failed";
                m.error = image_error::io_error;
                m.message = "the server could not store the processed image";
            }
        } else {
            m.state = "failed";
            m.error = response.error;
            m.message = response.message;
        }
        m.updated_at = now_ms();
        auto saved = co_await store_.update(m);
        if (!saved) {
            // The record stays `processing` with its upload kept: the next start retries it.
            spdlog::error("media {}: cannot record the result: {}", m.id, saved.error().message);
            co_return;
        }
        for (const auto& done : {upload_path(m.id), image_tmp, thumb_tmp})
            file_system_.unlink(done);
        if (m.state == "ready") {
            spdlog::info("media {} of account {}: ready, {} {}x{} ({} bytes), thumbnail {}x{}",
                         m.id, m.owner_id, m.format, m.width, m.height, m.image_bytes,
                         m.thumb_width, m.thumb_height);
        } else {
            spdlog::info("media {} of account {}: failed ({}): {}", m.id, m.owner_id, m.error,
                         m.message);
        }
        notify(m);
    } catch (const std::exception& e) {
        spdlog::error("media {}: finishing failed: {}", content_id, e.what());
    }
}

void MediaService::notify(const MediaRecord& record) {
    nlohmann::json event = media_json(record);
    event["type"] = "media";
    auto frame = std::make_shared<const std::string>(event.dump());
    for (auto& client : clients_.for_account(record.owner_id))
        client->send(frame);
    clients_.account_frame(record.owner_id, frame, false);
}

awaitable<DbResult<bool>> MediaService::may_see(const std::string& viewer, const MediaRecord& m) {
    if (m.owner_id == viewer) co_return true;
    auto profile = accounts_.profile(m.owner_id);
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
    co_return co_await readers_.read(std::move(query));
}

awaitable<Outcome<MediaRecord>> MediaService::visible(const std::string& viewer,
                                                      const std::string& content_id) {
    auto m = store_.get(content_id);
    if (!m) co_return Refusal{ErrorCode::not_found, "no such media"};
    const MediaRecord& record = *m;
    auto allowed = co_await may_see(viewer, record);
    if (!allowed) co_return db_refusal(allowed.error(), "reading media visibility");
    if (!*allowed) co_return Refusal{ErrorCode::not_found, "no such media"};
    co_return std::move(*m);
}

Outcome<MediaPage> MediaService::page(const std::string& owner,
                                      const std::optional<MediaPosition>& after, int limit) const {
    if (limit < 1 || limit > 200) {
        return Refusal{ErrorCode::bad_request, "limit is an integer from 1 to 200"};
    }
    bool more = false;
    MediaPage out;
    out.items = store_.owned_by(owner, after, static_cast<std::size_t>(limit), more);
    if (more) out.next = MediaPosition{out.items.back().created_at, out.items.back().id};
    out.usage_bytes = store_.usage(owner);
    return out;
}

awaitable<Outcome<std::string>> MediaService::read_stored(const std::string& content_id,
                                                          const std::string& sha256) {
    struct FileRead {
        std::string bytes;
        std::string problem;
    };
    std::string path = file_path(sha256);
    auto read_job = [path]() noexcept {
        FileRead r;
        try {
            if (auto ec = read_file(path, r.bytes)) r.problem = ec.message();
        } catch (const std::exception& e) {
            r.problem = e.what();
        }
        return r;
    };
    FileRead file = co_await offload(files_, std::move(read_job));
    if (!file.problem.empty()) {
        spdlog::error("media {}: cannot read {}: {}", content_id, path, file.problem);
        co_return Refusal{ErrorCode::internal, "could not read the image"};
    }
    co_return std::move(file.bytes);
}

awaitable<Outcome<MediaDeletion>> MediaService::delete_own(const std::string& viewer,
                                                           const std::string& content_id) {
    auto m = store_.get(content_id);
    if (!m) co_return Refusal{ErrorCode::not_found, "no such media"};
    if (m->owner_id != viewer) {
        // Someone else's avatar the caller may see: say why; anything else is unknown.
        const MediaRecord& record = *m;
        auto allowed = co_await may_see(viewer, record);
        if (!allowed) co_return db_refusal(allowed.error(), "reading media visibility");
        if (!*allowed) co_return Refusal{ErrorCode::not_found, "no such media"};
        co_return Refusal{ErrorCode::forbidden, "only its owner can delete an image"};
    }
    if (m->state == "processing") {
        co_return Refusal{ErrorCode::conflict,
                          "the image is still being processed; delete it once it is ready or has "
                          "failed"};
    }
    auto profile = accounts_.profile(viewer);
    if (profile && profile->avatar && *profile->avatar == m->id) {
        co_return Refusal{ErrorCode::conflict,
                          "this image is your avatar; choose another avatar (or none) first"};
    }
    auto removed = co_await remove(std::move(*m));
    if (!removed) co_return db_refusal(removed.error(), "deleting media");
    if (!removed->removed) co_return Refusal{ErrorCode::not_found, "no such media"};
    co_return MediaDeletion{removed->freed_bytes, store_.usage(viewer)};
}

}  // namespace parley
