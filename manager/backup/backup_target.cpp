#include "manager/backup/backup_target.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#include <set>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/file_util.hpp"
#include "manager/backup/incoming_file.hpp"
#include "manager/backup/media_manifest.hpp"
#include "manager/backup/restore_drill.hpp"
#include "manager/backup/sqlite_snapshot.hpp"
#include "manager/protocol/api_caller.hpp"
#include "manager/protocol/api_params.hpp"

namespace parley {

namespace fs = std::filesystem;

namespace {

// The databases a source may send, and nothing else: each name becomes a directory.
bool known_database(const std::string& name) {
    return name == "current" || name == "history";
}

bool valid_source_name(const std::string& name) {
    if (name.empty() || name.size() > BackupTarget::kMaxSourceName || name[0] == '.') return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.';
    });
}

// The file "file" of params names in `session`, still being received.
template <class Session>
auto& incomplete_file(Session& session, const json& params) {
    auto it = session.files.find(string_param(params, "file"));
    if (it == session.files.end()) api_fail(ApiErrorCode::bad_request, "unknown \"file\"");
    if (it->second->verified) api_fail(ApiErrorCode::bad_request, "that file is already complete");
    return it->second;
}

const json::binary_t& data_param(const json& params) {
    auto it = params.find("data");
    if (it == params.end() || !it->is_binary()) {
        api_fail(ApiErrorCode::bad_request, "\"data\" must be the request's attachment");
    }
    return it->get_binary();
}

}  // namespace

struct BackupTarget::Session {
    std::string id;
    std::string source;
    std::string snapshot;
    std::string dir;  // incoming/<id>
    std::int64_t run_id = 0;
    std::int64_t started_at = 0;
    std::int64_t last_seen = 0;
    std::mutex mutex;  // the file work of this session
    std::map<std::string, std::unique_ptr<IncomingFile>> files;
    // Media: the one file being received, and every content id the manifest listed.
    std::unique_ptr<IncomingFile> media;
    MediaEntry media_entry;
    std::set<std::string> listed;
    std::int64_t media_received_files = 0;
    std::int64_t media_received_bytes = 0;
    std::int64_t bytes_received = 0;
    bool ended = false;
};

BackupTarget::BackupTarget(const ManagerConfig& config, ManagerStore& store,
                           std::function<void(std::function<void()>)> post,
                           std::function<std::int64_t()> clock, FileSystem& files)
    : config_(config),
      store_(store),
      post_(std::move(post)),
      clock_(std::move(clock)),
      files_(files),
      snapshots_(config.resolved_backup_dir(),
                 RetentionPolicy{config.backup_keep_daily, config.backup_keep_weekly}, files) {}

BackupTarget::~BackupTarget() = default;

bool BackupTarget::handles(const std::string& m) {
    return m == "backup.begin" || m == "backup.put" || m == "backup.file" || m == "backup.media" ||
           m == "backup.media_put" || m == "backup.finish" || m == "backup.abort" || read_only(m);
}

bool BackupTarget::read_only(const std::string& m) {
    return m == "backup.status" || m == "backup.history" || m == "backup.snapshots";
}

void BackupTarget::recover() {
    if (!snapshots_.recover()) return;
    std::size_t failed = store_.fail_running_backups(clock_(), "interrupted: the manager stopped");
    if (failed > 0) spdlog::warn("backup: {} run(s) were interrupted by a manager stop", failed);
}

json BackupTarget::handle(const ApiRequest& request, const ApiCaller& caller) {
    const std::string& m = request.method;
    const json& params = request.params;
    std::shared_ptr<Session> session;
    try {
        if (m == "backup.begin") return make_ok(request.id, begin(request, caller));
        if (m == "backup.status") {
            only_params(params, {});
            return make_ok(request.id, status());
        }
        if (m == "backup.history") return make_ok(request.id, history(params));
        if (m == "backup.snapshots") return make_ok(request.id, list_snapshots(params));
        session = find_session(params);
        std::unique_lock lock(session->mutex);
        if (session->ended) api_fail(ApiErrorCode::not_found, "the backup session has ended");
        json result;
        if (m == "backup.put") {
            result = put(*session, params);
        } else if (m == "backup.file") {
            result = file_done(*session, params);
        } else if (m == "backup.media") {
            result = media_page(*session, params);
        } else if (m == "backup.media_put") {
            result = media_put(*session, params);
        } else if (m == "backup.finish") {
            result = finish(session, params);
        } else {
            only_params(params, {"session", "reason"});
            std::string reason = params.value("reason", std::string("aborted by the source"));
            lock.unlock();
            end_session(session, "aborted by the source: " + reason.substr(0, 500));
            result = {{"aborted", true}};
        }
        return make_ok(request.id, std::move(result));
    } catch (const HandlerError& e) {
        // A broken transfer ends its session: nothing half-received survives it.
        if (session && e.error.code != ApiErrorCode::bad_request) {
            end_session(session, e.error.message);
        }
        return make_error(request.id, e.error);
    } catch (const std::exception& e) {
        spdlog::error("backup: {} from {} failed: {}", m, caller.actor(), e.what());
        if (session) end_session(session, std::string("internal error: ") + e.what());
        return make_error(request.id, ApiErrorCode::internal, "internal error");
    }
}

std::shared_ptr<BackupTarget::Session> BackupTarget::find_session(const json& params) {
    const std::string id = string_param(params, "session");
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) {
        api_fail(ApiErrorCode::not_found, "no such backup session (it ended or expired)");
    }
    it->second->last_seen = clock_();
    return it->second;
}

void BackupTarget::drop_expired_locked(std::int64_t now) {
    for (auto it = sessions_.begin(); it != sessions_.end();) {
        auto session = it->second;
        // A session whose lock is held is being worked on: not expired, whatever its clock says
        // (and waiting here would take the two locks in the other order than handle()).
        std::unique_lock lock(session->mutex, std::try_to_lock);
        if (lock.owns_lock() && now - session->last_seen > config_.backup_session_timeout_ms) {
            it = sessions_.erase(it);
            session->ended = true;
            session->files.clear();
            session->media.reset();
            std::error_code ec;
            fs::remove_all(session->dir, ec);
            store_.finish_backup_run(session->run_id, "failed", now, "",
                                     {{"error", "the session expired"}});
            spdlog::warn("backup: session {} from '{}' expired", session->id, session->source);
        } else {
            ++it;
        }
    }
}

void BackupTarget::end_session(const std::shared_ptr<Session>& session, const std::string& error) {
    {
        std::lock_guard lock(mutex_);
        sessions_.erase(session->id);
    }
    std::lock_guard lock(session->mutex);
    if (session->ended) return;
    session->ended = true;
    session->files.clear();
    session->media.reset();
    std::error_code ec;
    fs::remove_all(session->dir, ec);
    store_.finish_backup_run(session->run_id, "failed", clock_(), "",
                             {{"error", error}, {"bytes_received", session->bytes_received}});
    spdlog::error("backup: session {} from '{}' failed: {}", session->id, session->source, error);
}

json BackupTarget::begin(const ApiRequest& request, const ApiCaller& caller) {
    const json& params = request.params;
    only_params(params, {"source", "files"});
    const std::string source = string_param(params, "source");
    if (!valid_source_name(source)) {
        api_fail(ApiErrorCode::bad_request,
                 "\"source\" must be a manager name of letters, digits, '-', '_' and '.'");
    }
    auto files = params.find("files");
    if (files == params.end() || !files->is_array() || files->empty() ||
        files->size() > kMaxFiles) {
        api_fail(ApiErrorCode::bad_request, "\"files\" must list the databases to send");
    }
    auto session = std::make_shared<Session>();
    for (const auto& f : *files) {
        if (!f.is_string() || !known_database(f.get<std::string>())) {
            api_fail(ApiErrorCode::bad_request, "\"files\" may hold \"current\" and \"history\"");
        }
        session->files[f.get<std::string>()] = std::make_unique<IncomingFile>(files_);
    }
    const std::int64_t now = clock_();
    std::vector<std::shared_ptr<Session>> replaced;
    {
        std::lock_guard lock(mutex_);
        drop_expired_locked(now);
        // One session per source: a new one means the source gave up on the old.
        for (const auto& [id, s] : sessions_) {
            if (s->source == source) replaced.push_back(s);
        }
        session->id = hex_encode(random_bytes(12));
    }
    for (const auto& old : replaced)
        end_session(old, "replaced by a new session of its source");

    session->source = source;
    session->started_at = now;
    session->last_seen = now;
    session->snapshot = snapshots_.next_snapshot_id(source, now);
    session->dir = snapshots_.incoming_dir(source, session->id);
    std::error_code ec;
    fs::create_directories(session->dir, ec);
    if (ec)
        api_fail(ApiErrorCode::internal, "cannot create the session directory: " + ec.message());
    for (auto& [name, file] : session->files)
        file->open(session->dir + "/" + name + ".db");
    session->run_id = store_.begin_backup_run("target", source, now);
    {
        std::lock_guard lock(mutex_);
        sessions_[session->id] = session;
    }
    spdlog::info("backup: session {} from '{}' ({}) begins snapshot {}", session->id, source,
                 caller.actor(), session->snapshot);
    return {{"session", session->id}, {"snapshot", session->snapshot}};
}

json BackupTarget::put(Session& session, const json& params) {
    only_params(params, {"session", "file", "offset", "data"});
    IncomingFile& file = *incomplete_file(session, params);
    const std::int64_t offset = integer_param(params, "offset");
    if (offset != file.received) {
        api_fail(ApiErrorCode::failed,
                 fmt::format("chunk at offset {} but {} bytes were received: chunks must come "
                             "in order",
                             offset, file.received),
                 {{"expected_offset", file.received}});
    }
    const auto& data = data_param(params);
    file.append(data);
    session.bytes_received += static_cast<std::int64_t>(data.size());
    return {{"received", file.received}};
}

json BackupTarget::file_done(Session& session, const json& params) {
    only_params(params, {"session", "file", "size", "sha256"});
    const std::string name = string_param(params, "file");
    IncomingFile& file = *incomplete_file(session, params);
    const std::int64_t size = integer_param(params, "size");
    const std::string expected = string_param(params, "sha256");
    if (size != file.received) {
        api_fail(ApiErrorCode::failed,
                 fmt::format("{}: {} bytes announced, {} received", name, size, file.received));
    }
    const auto started = std::chrono::steady_clock::now();
    const std::string digest = hex_encode(file.hash.finish());
    if (!constant_time_equal(digest, expected)) {
        api_fail(
            ApiErrorCode::failed,
            fmt::format("{}: the SHA-256 of the received bytes does not match the source's", name),
            {{"file", name}, {"received_sha256", digest}});
    }
    // The fsync waits for the disk, quick_check reads the page cache: side by side.
    const std::string path = file.path;
    auto checked =
        std::async(std::launch::async, [path] { return check_database(path, CheckKind::quick); });
    const std::string unsynced = file.sync();
    file.close();
    const std::string check = checked.get();
    if (!unsynced.empty()) {
        api_fail(ApiErrorCode::internal,
                 fmt::format("cannot fsync the incoming file: {}", unsynced));
    }
    if (check != "ok") {
        api_fail(ApiErrorCode::failed, fmt::format("{}: quick_check failed: {}", name, check),
                 {{"file", name}});
    }
    file.verified = true;
    file.size = size;
    file.sha256 = digest;
    spdlog::info("backup: session {} received {} ({} bytes, sha256 {}, quick_check ok)", session.id,
                 name, size, digest);
    const auto verify_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now() - started)
                               .count();
    return {{"file", name},
            {"size", size},
            {"sha256", digest},
            {"quick_check", "ok"},
            {"verify_ms", verify_ms}};
}

json BackupTarget::media_page(Session& session, const json& params) {
    only_params(params, {"session", "entries"});
    auto entries = params.find("entries");
    if (entries == params.end() || !entries->is_array() || entries->size() > kMaxManifestPage) {
        api_fail(ApiErrorCode::bad_request,
                 fmt::format("\"entries\" must be an array of at most {} [sha256, ext, size]",
                             kMaxManifestPage));
    }
    json want = json::array();
    for (const auto& e : *entries) {
        if (!e.is_array() || e.size() != 3 || !e[0].is_string() || !e[1].is_string() ||
            !e[2].is_number_unsigned()) {
            api_fail(ApiErrorCode::bad_request, "a manifest entry is [sha256, ext, size]");
        }
        MediaEntry entry{e[0].get<std::string>(), e[1].get<std::string>(),
                         e[2].get<std::int64_t>()};
        if (!valid_media_entry(entry.sha256, entry.ext)) {
            api_fail(ApiErrorCode::bad_request, "a manifest entry names an invalid content id");
        }
        session.listed.insert(entry.relative_path());
        if (!snapshots_.has_media(session.source, entry)) want.push_back(entry.sha256);
    }
    return {{"want", std::move(want)}};
}

json BackupTarget::media_put(Session& session, const json& params) {
    only_params(params, {"session", "sha256", "ext", "size", "offset", "data"});
    MediaEntry entry{string_param(params, "sha256"), string_param(params, "ext"),
                     integer_param(params, "size")};
    if (!valid_media_entry(entry.sha256, entry.ext) ||
        !session.listed.contains(entry.relative_path())) {
        api_fail(ApiErrorCode::bad_request, "that content id is not in the manifest");
    }
    const std::int64_t offset = integer_param(params, "offset");
    if (offset == 0) {
        session.media = std::make_unique<IncomingFile>(files_);
        session.media->open(session.dir + "/media.part");
        session.media_entry = entry;
    } else if (!session.media || session.media_entry.relative_path() != entry.relative_path() ||
               session.media->received != offset) {
        api_fail(ApiErrorCode::failed, "media chunk out of order");
    }
    IncomingFile& file = *session.media;
    const auto& data = data_param(params);
    if (file.received + static_cast<std::int64_t>(data.size()) > entry.size) {
        api_fail(ApiErrorCode::failed, "more media bytes than announced");
    }
    file.append(data);
    session.bytes_received += static_cast<std::int64_t>(data.size());
    if (file.received < entry.size) return {{"received", file.received}};

    const std::string digest = file.seal();
    if (digest != entry.sha256) {
        api_fail(ApiErrorCode::failed,
                 fmt::format("media {}: the received bytes hash to {}", entry.sha256, digest),
                 {{"sha256", entry.sha256}});
    }
    if (std::string problem = snapshots_.store_media(session.source, entry, file.path);
        !problem.empty()) {
        api_fail(ApiErrorCode::internal, "cannot store a media file: " + problem);
    }
    session.media.reset();
    ++session.media_received_files;
    session.media_received_bytes += entry.size;
    return {{"received", entry.size}, {"stored", true}};
}

void BackupTarget::check_complete(const Session& session, const json& params) {
    auto integrity = params.find("integrity");
    if (integrity == params.end() || !integrity->is_object()) {
        api_fail(ApiErrorCode::bad_request,
                 "\"integrity\" must map each file to the source's integrity_check result");
    }
    for (const auto& [name, file] : session.files) {
        if (!file->verified) {
            api_fail(ApiErrorCode::failed, fmt::format("{} was not received completely", name));
        }
        auto result = integrity->find(name);
        if (result == integrity->end() || !result->is_string()) {
            api_fail(ApiErrorCode::bad_request, fmt::format("no integrity result for {}", name));
        }
        if (result->get<std::string>() != "ok") {
            api_fail(ApiErrorCode::failed,
                     fmt::format("{}: the source's integrity_check failed: {}", name,
                                 result->get<std::string>().substr(0, 500)),
                     {{"file", name}});
        }
    }
}

json BackupTarget::store_files(Session& session, std::int64_t& total) {
    // Everything is verified: the snapshot becomes visible, one rename per file.
    json files = json::object();
    total = 0;
    for (auto& [name, file] : session.files) {
        if (std::string problem =
                snapshots_.store_database(session.source, name, session.snapshot, file->path);
            !problem.empty()) {
            api_fail(ApiErrorCode::internal, "cannot store the snapshot: " + problem);
        }
        files[name] = {{"size", file->size}, {"sha256", file->sha256}};
        total += file->size;
    }
    session.files.clear();
    return files;
}

void BackupTarget::start_drill(const Session& session) {
    const std::string source = session.source;
    const std::string snapshot = session.snapshot;
    const std::int64_t run_id = session.run_id;
    post_([this, source, snapshot, run_id] {
        store_.set_backup_drill(run_id, "running");
        std::string outcome = run_restore_drill(snapshots_, source, snapshot);
        store_.set_backup_drill(run_id, outcome);
    });
}

json BackupTarget::finish(const std::shared_ptr<Session>& session_ptr, const json& params) {
    Session& session = *session_ptr;
    only_params(params, {"session", "integrity", "media_complete"});
    check_complete(session, params);
    const bool media_complete = bool_param(params, "media_complete", false);
    std::int64_t total = 0;
    json files = store_files(session, total);
    const std::int64_t removed =
        media_complete ? snapshots_.remove_unlisted_media(session.source, session.listed) : 0;
    std::vector<std::string> pruned = snapshots_.prune(session.source);
    const std::int64_t now = clock_();
    json detail{{"files", files},
                {"bytes", total},
                {"bytes_received", session.bytes_received},
                {"duration_ms", now - session.started_at},
                {"media",
                 {{"listed", session.listed.size()},
                  {"received_files", session.media_received_files},
                  {"received_bytes", session.media_received_bytes},
                  {"removed", removed}}},
                {"pruned", pruned}};
    store_.finish_backup_run(session.run_id, "done", now, session.snapshot, detail);
    session.ended = true;
    std::error_code ec;
    fs::remove_all(session.dir, ec);
    {
        std::lock_guard lock(mutex_);
        sessions_.erase(session.id);
    }
    spdlog::info(
        "backup: session {} from '{}' stored snapshot {} ({} bytes, {} media received, "
        "{} removed, {} pruned) in {} ms",
        session.id, session.source, session.snapshot, total, session.media_received_files, removed,
        pruned.size(), now - session.started_at);
    if (config_.backup_drill) start_drill(session);
    json result = detail;
    result["snapshot"] = session.snapshot;
    result["drill"] = config_.backup_drill ? "running" : "off";
    return result;
}

json BackupTarget::status() {
    json sessions = json::array();
    {
        std::lock_guard lock(mutex_);
        for (const auto& [id, s] : sessions_) {
            sessions.push_back({{"session", id},
                                {"source", s->source},
                                {"snapshot", s->snapshot},
                                {"started_at", s->started_at},
                                {"bytes_received", s->bytes_received}});
        }
    }
    json last = json::object();
    for (const auto& run : store_.backup_runs("", 50)) {
        const std::string key = run.value("role", "") == "source" ? "last_sent" : "last_received";
        if (!last.contains(key)) last[key] = run;
        if (run.value("role", "") == "target" && run.contains("drill") &&
            !last.contains("last_drill") && run["drill"] != "running") {
            last["last_drill"] = {{"snapshot", run.value("snapshot", "")},
                                  {"ok", run["drill"].get<std::string>().starts_with("ok")},
                                  {"outcome", run["drill"]}};
        }
    }
    last["receiving"] = std::move(sessions);
    return last;
}

json BackupTarget::history(const json& params) {
    only_params(params, {"role", "limit"});
    std::string role = params.value("role", std::string());
    if (!role.empty() && role != "source" && role != "target") {
        api_fail(ApiErrorCode::bad_request, "\"role\" is \"source\" or \"target\"");
    }
    std::int64_t limit = params.contains("limit") ? integer_param(params, "limit") : 50;
    if (limit < 1 || limit > 500) api_fail(ApiErrorCode::bad_request, "\"limit\" is 1 to 500");
    return {{"runs", store_.backup_runs(role, static_cast<std::size_t>(limit))}};
}

json BackupTarget::list_snapshots(const json& params) {
    only_params(params, {"source"});
    std::vector<std::string> sources;
    if (params.contains("source")) {
        std::string s = string_param(params, "source");
        if (!valid_source_name(s)) api_fail(ApiErrorCode::bad_request, "invalid \"source\"");
        sources.push_back(s);
    } else {
        sources = snapshots_.sources();
    }
    json out = json::array();
    for (const auto& source : sources) {
        for (const auto& id : snapshots_.snapshots(source)) {
            json files = json::object();
            std::error_code ec;
            for (const char* db : {"current", "history"}) {
                auto size = fs::file_size(snapshots_.snapshot_file(source, db, id), ec);
                if (!ec) files[db] = {{"size", size}};
            }
            out.push_back({{"source", source}, {"snapshot", id}, {"files", files}});
        }
    }
    return {{"snapshots", std::move(out)}};
}

}  // namespace parley
