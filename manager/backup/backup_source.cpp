#include "manager/backup/backup_source.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <filesystem>
#include <optional>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/offload.hpp"
#include "common/wall_clock.hpp"
#include "manager/backup/media_manifest.hpp"
#include "manager/backup/sqlite_snapshot.hpp"
#include "manager/protocol/api_caller.hpp"
#include "manager/protocol/api_client.hpp"
#include "manager/protocol/api_params.hpp"

namespace parley {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t ms_since(Clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// Why a run stopped; thrown inside execute() only.
struct RunFailure {
    std::string message;
};

// The peer, over its link or over one TLS connection held for the run.
class Channel {
  public:
    Channel(std::shared_ptr<Link> link, std::unique_ptr<ManagerConnection> connection,
            std::string route, std::chrono::milliseconds timeout)
        : link_(std::move(link)),
          connection_(std::move(connection)),
          route_(std::move(route)),
          timeout_(timeout) {}

    const std::string& route() const { return route_; }

    // The result of a successful answer; any failure is a RunFailure naming the method.
    // Callers pass a named `params` (docs/foundation.md, coroutine rules); it is moved from.
    awaitable<json> call(std::string_view method, json& params) {
        json request{{"id", ++next_id_}, {"method", method}, {"params", std::move(params)}};
        std::optional<json> answer;
        std::string error;
        if (link_) {
            LinkCallResult r = co_await link_->call(request, timeout_);
            answer = std::move(r.answer);
            error = r.timed_out ? "no answer in time" : r.error;
        } else {
            co_await drain();
            answer = co_await connection_->call(request, timeout_, error);
        }
        co_return checked(method, answer, error);
    }

    // Sends a request whose answer is only checked later (drain(), or when more than `window`
    // are outstanding): the next chunk is read and sent while the target stores this one. Over
    // a direct connection answers come in order; over a link requests may run concurrently on
    // the peer, so there every request waits for its answer.
    awaitable<void> post(std::string_view method, json& params) {
        if (link_) {
            co_await call(method, params);
            co_return;
        }
        json request{{"id", ++next_id_}, {"method", method}, {"params", std::move(params)}};
        std::string error;
        if (!co_await connection_->send(request, timeout_, error)) {
            throw RunFailure{fmt::format("{} over {}: {}", method, route_, error)};
        }
        outstanding_.emplace_back(request["id"], std::string(method));
        while (outstanding_.size() > kWindow)
            co_await settle_oldest();
    }

    awaitable<void> drain() {
        while (!outstanding_.empty())
            co_await settle_oldest();
    }

    awaitable<void> close() {
        if (connection_) co_await connection_->close();
    }

  private:
    static constexpr std::size_t kWindow = 3;

    json checked(std::string_view method, std::optional<json>& answer, const std::string& error) {
        if (!answer) throw RunFailure{fmt::format("{} over {}: {}", method, route_, error)};
        if (!answer->value("ok", false)) {
            const json err = answer->value("error", json::object());
            throw RunFailure{fmt::format("{} refused by the target: {}: {}", method,
                                         err.value("code", std::string("?")),
                                         err.value("message", std::string("?")))};
        }
        return answer->value("result", json::object());
    }

    awaitable<void> settle_oldest() {
        auto [id, method] = std::move(outstanding_.front());
        outstanding_.pop_front();
        std::string error;
        std::optional<json> answer = co_await connection_->receive(id, timeout_, error);
        checked(method, answer, error);
    }

    std::deque<std::pair<json, std::string>> outstanding_;
    std::shared_ptr<Link> link_;
    std::unique_ptr<ManagerConnection> connection_;
    std::string route_;
    std::chrono::milliseconds timeout_;
    std::uint64_t next_id_ = 0;
};

// A value made elsewhere (a pool job, another coroutine) that a coroutine on `executor` waits
// for; set() and get() run on that executor.
template <class T>
struct PendingResult {
    explicit PendingResult(net::any_io_executor executor) : wake(executor) {
        wake.expires_at(net::steady_timer::time_point::max());
    }
    std::optional<T> value;
    net::steady_timer wake;

    void set(T v) {
        value = std::move(v);
        wake.cancel();
    }

    awaitable<T> get() {
        while (!value) {
            boost::system::error_code ec;
            co_await wake.async_wait(net::redirect_error(use_awaitable, ec));
        }
        co_return *value;
    }
};

// Runs `job` on the pool; its result is awaited later on `executor`.
template <class Job>
std::shared_ptr<PendingResult<std::string>> start_job(net::thread_pool& pool,
                                                      net::any_io_executor executor, Job job) {
    auto pending = std::make_shared<PendingResult<std::string>>(executor);
    net::post(pool, [pending, executor, job = std::move(job)]() mutable {
        std::string outcome = job();
        net::post(executor, [pending, outcome = std::move(outcome)]() mutable {
            pending->set(std::move(outcome));
        });
    });
    return pending;
}

// The snapshot is made durable and checked while it streams: the fsync (mostly waiting for the
// disk) and the integrity_check (CPU) as two jobs side by side.
struct SnapshotChecks {
    std::shared_ptr<PendingResult<std::string>> fsync;      // "" or the problem
    std::shared_ptr<PendingResult<std::string>> integrity;  // "ok" or what SQLite found
};

SnapshotChecks start_checks(net::thread_pool& pool, net::any_io_executor executor,
                            const std::string& path) {
    SnapshotChecks checks;
    checks.fsync = start_job(pool, executor, [path] { return fsync_file(path); });
    checks.integrity = start_job(pool, executor, [path] {
        const auto started = Clock::now();
        std::string outcome = check_database(path, CheckKind::integrity);
        spdlog::info("backup: integrity_check of {}: {} in {} ms", path, outcome.substr(0, 200),
                     ms_since(started));
        return outcome;
    });
    return checks;
}

// Reads up to `size` bytes of `fd` at `offset` into a new buffer, hashing them.
struct Chunk {
    std::vector<std::uint8_t> bytes;
    std::string error;
};

Chunk read_chunk(int fd, std::int64_t offset, std::size_t size, Sha256* hash) {
    Chunk chunk;
    chunk.bytes.resize(size);
    std::size_t done = 0;
    while (done < size) {
        ssize_t n = ::pread(fd, chunk.bytes.data() + done, size - done,
                            static_cast<off_t>(offset + static_cast<std::int64_t>(done)));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            chunk.error = std::strerror(errno);
            return chunk;
        }
        if (n == 0) break;
        done += static_cast<std::size_t>(n);
    }
    chunk.bytes.resize(done);
    if (hash) hash->update(chunk.bytes.data(), done);
    return chunk;
}

class FileHandle {
  public:
    // `missing_ok`: a file that does not exist gives a handle that is not present().
    explicit FileHandle(const std::string& path, bool missing_ok = false)
        : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
        if (fd_ < 0 && !(missing_ok && errno == ENOENT))
            throw RunFailure{fmt::format("cannot open {}: {}", path, std::strerror(errno))};
    }
    bool present() const { return fd_ >= 0; }
    ~FileHandle() {
        if (fd_ >= 0) ::close(fd_);
    }
    FileHandle(const FileHandle&) = delete;
    FileHandle& operator=(const FileHandle&) = delete;
    int fd() const { return fd_; }

  private:
    int fd_;
};

}  // namespace

struct BackupSource::Run {
    explicit Run(net::any_io_executor executor) : finished(executor) {}
    std::int64_t id = 0;
    std::string to;
    std::string actor;
    PendingResult<json> finished;  // the run's outcome
};

BackupSource::BackupSource(const ManagerConfig& config, std::string self_name, ManagerStore& store,
                           LinkRegistry& links, net::thread_pool& blocking,
                           net::ssl::context* client_tls,
                           std::map<std::string, std::string> peer_keys)
    : config_(config),
      self_(std::move(self_name)),
      store_(store),
      links_(links),
      blocking_(blocking),
      client_tls_(client_tls),
      peer_keys_(std::move(peer_keys)) {}

void BackupSource::recover() {
    std::error_code ec;
    fs::remove_all(config_.data_dir + "/backup-staging", ec);
}

awaitable<json> BackupSource::run(const ApiRequest& request, const ApiCaller& caller) {
    std::string to = config_.backup_target;
    bool wait = false;
    try {
        only_params(request.params, {"to", "wait"});
        if (request.params.contains("to")) to = string_param(request.params, "to");
        wait = bool_param(request.params, "wait", false);
    } catch (const HandlerError& e) {
        co_return make_error(request.id, e.error);
    }
    if (to.empty()) {
        co_return make_error(request.id, ApiErrorCode::bad_request,
                             "no target: pass \"to\" or set manager.backup.target");
    }
    if (to == self_) {
        co_return make_error(request.id, ApiErrorCode::bad_request,
                             "a manager cannot back up to itself");
    }
    if (current_) {
        co_return make_error(
            request.id, ApiError{ApiErrorCode::unavailable,
                                 fmt::format("backup run {} to '{}' is still going", current_->id,
                                             current_->to),
                                 {{"run", current_->id}}});
    }
    auto executor = co_await net::this_coro::executor;
    auto run = std::make_shared<Run>(executor);
    run->to = to;
    run->actor = caller.actor();
    run->id = co_await offload(blocking_, [this, &to] {
        try {
            return store_.begin_backup_run("source", to, system_wall_clock()());
        } catch (const std::exception& e) {
            spdlog::error("backup: cannot record a run: {}", e.what());
            return std::int64_t{0};
        }
    });
    if (run->id == 0) {
        co_return make_error(request.id, ApiErrorCode::internal, "the manager's database failed");
    }
    current_ = run;
    spdlog::info("backup: run {} to '{}' started by {}", run->id, to, caller.actor());
    net::co_spawn(executor, execute(run), [this, run](std::exception_ptr e, json outcome) {
        if (e)
            outcome = {{"run", run->id},
                       {"to", run->to},
                       {"state", "failed"},
                       {"error", "internal error"}};
        if (current_ == run) current_.reset();
        run->finished.set(std::move(outcome));
    });
    if (!wait) {
        co_return make_ok(request.id, {{"run", run->id}, {"to", to}, {"state", "running"}});
    }
    json outcome = co_await run->finished.get();
    if (outcome.value("state", "") != "done") {
        co_return make_error(
            request.id,
            ApiError{ApiErrorCode::failed, outcome.value("error", std::string("the backup failed")),
                     outcome});
    }
    co_return make_ok(request.id, std::move(outcome));
}

// One run between its steps: where it stands and what it has found so far. Lives in
// execute()'s frame; touched by the run's coroutine only.
struct BackupSource::Transfer {
    std::shared_ptr<Run> run;
    net::any_io_executor executor;
    std::string staging;
    std::string server_dir;
    std::chrono::milliseconds timeout;
    std::size_t chunk_size = 0;
    std::optional<Channel> channel;
    std::string session;  // empty once the target committed (or before it began)
    std::string snapshot;
    std::map<std::string, SnapshotChecks> checks;  // by database
    json files = json::object();
    std::int64_t bytes_sent = 0;
    json detail;
};

awaitable<json> BackupSource::execute(std::shared_ptr<Run> run) {
    Transfer t;
    t.run = run;
    t.executor = co_await net::this_coro::executor;
    t.staging = config_.data_dir + "/backup-staging";
    t.server_dir = config_.backup_server_data_dir;
    t.timeout = std::chrono::milliseconds(config_.backup_call_timeout_ms);
    t.chunk_size = static_cast<std::size_t>(config_.backup_chunk_bytes);
    t.detail = {{"to", run->to}, {"by", run->actor}};
    const auto started = Clock::now();
    std::string failure;
    try {
        co_await connect(t);
        std::error_code ec;
        fs::remove_all(t.staging, ec);
        fs::create_directories(t.staging, ec);
        if (ec) throw RunFailure{"cannot create " + t.staging + ": " + ec.message()};

        const std::vector<std::string> databases{"current", "history"};
        json begin_params = {{"source", self_}, {"files", databases}};
        json begun = co_await t.channel->call("backup.begin", begin_params);
        t.session = begun.value("session", std::string());
        t.snapshot = begun.value("snapshot", std::string());
        spdlog::info("backup: run {} to '{}' over {}: session {}, snapshot {}", run->id, run->to,
                     t.channel->route(), t.session, t.snapshot);
        for (const auto& db : databases)
            co_await send_database(t, db);
        co_await send_media(t);
        co_await commit(t);
    } catch (const RunFailure& f) {
        failure = f.message;
    } catch (const std::exception& e) {
        failure = std::string("internal error: ") + e.what();
    }
    co_return co_await conclude(t, failure, ms_since(started));
}

awaitable<void> BackupSource::connect(Transfer& t) {
    const std::string& to = t.run->to;
    // The peer: its link, else one TLS connection to its URL.
    if (std::shared_ptr<Link> link = links_.find(to)) {
        t.channel.emplace(link, nullptr, fmt::format("link {}", link->id()), t.timeout);
        co_return;
    }
    const ManagerPeer* peer = nullptr;
    for (const auto& p : config_.peers)
        if (p.name == to) peer = &p;
    if (!peer) throw RunFailure{fmt::format("no peer named '{}'", to)};
    auto key = peer_keys_.find(peer->name);
    std::string url_error;
    std::optional<ManagerApiTarget> where = parse_manager_api_url(peer->url, url_error);
    if (peer->url.empty() || !where || !where->tls) {
        throw RunFailure{fmt::format("'{}' has no tls:// url and no link is up", to)};
    }
    if (key == peer_keys_.end())
        throw RunFailure{fmt::format("no key_file is configured for '{}'", to)};
    if (!client_tls_) throw RunFailure{"no client certificate is configured"};
    auto connection = std::make_unique<ManagerConnection>(t.executor, *client_tls_);
    bool refused = false;
    std::string problem = co_await connection->open(*where, key->second, t.timeout, refused);
    if (!problem.empty()) throw RunFailure{fmt::format("cannot reach '{}': {}", to, problem)};
    t.channel.emplace(nullptr, std::move(connection), peer->url, t.timeout);
}

awaitable<void> BackupSource::send_database(Transfer& t, const std::string& db) {
    const std::string from = t.server_dir + "/db/" + db + ".db";
    const std::string copy = t.staging + "/" + db + ".db";
    const std::int64_t snapshot_began = system_wall_clock()();
    SnapshotResult snap =
        co_await offload(blocking_, [&from, &copy] { return take_snapshot(from, copy); });
    if (!snap.error.empty()) throw RunFailure{snap.error};
    // The full check runs beside the transfer; finish carries its result.
    t.checks[db] = start_checks(blocking_, t.executor, copy);
    const auto stream_started = Clock::now();
    FileHandle file(copy);
    Sha256 hash;
    std::int64_t offset = 0;
    const std::size_t chunk_size = t.chunk_size;
    for (;;) {
        const int fd = file.fd();
        Chunk chunk = co_await offload(blocking_, [fd, offset, chunk_size, &hash] {
            return read_chunk(fd, offset, chunk_size, &hash);
        });
        if (!chunk.error.empty()) throw RunFailure{"cannot read " + copy + ": " + chunk.error};
        if (chunk.bytes.empty()) break;
        const std::int64_t n = static_cast<std::int64_t>(chunk.bytes.size());
        json call_params = {{"session", t.session},
                            {"file", db},
                            {"offset", offset},
                            {"data", json::binary_t(std::move(chunk.bytes))}};
        co_await t.channel->post("backup.put", call_params);
        offset += n;
    }
    if (offset != snap.bytes) throw RunFailure{fmt::format("{} changed while it was sent", copy)};
    const std::string digest = hex_encode(hash.finish());
    json call_params = {{"session", t.session}, {"file", db}, {"size", offset}, {"sha256", digest}};
    co_await t.channel->drain();
    const std::int64_t stream_ms = ms_since(stream_started);
    json verified = co_await t.channel->call("backup.file", call_params);
    t.bytes_sent += offset;
    t.files[db] = {{"size", offset},
                   {"sha256", digest},
                   {"snapshot_began_at", snapshot_began},
                   {"snapshot_ms", snap.millis},
                   {"transfer_ms", ms_since(stream_started)},
                   {"stream_ms", stream_ms},
                   {"target_verify_ms", verified.value("verify_ms", 0)},
                   {"target_check", verified.value("quick_check", "")}};
}

awaitable<std::vector<const MediaEntry*>> BackupSource::offer_media(
    Transfer& t, const std::vector<MediaEntry>& entries, std::int64_t& manifest_bytes) {
    std::vector<const MediaEntry*> wanted;
    for (std::size_t at = 0; at < entries.size(); at += kManifestPage) {
        json page = json::array();
        std::map<std::string, const MediaEntry*> by_hash;
        for (std::size_t i = at; i < std::min(entries.size(), at + kManifestPage); ++i) {
            page.push_back({entries[i].sha256, entries[i].ext, entries[i].size});
            by_hash[entries[i].sha256] = &entries[i];
        }
        json params{{"session", t.session}, {"entries", std::move(page)}};
        manifest_bytes += static_cast<std::int64_t>(params.dump().size());
        json answer = co_await t.channel->call("backup.media", params);
        for (const auto& sha : answer.value("want", json::array())) {
            auto it = sha.is_string() ? by_hash.find(sha.get<std::string>()) : by_hash.end();
            if (it == by_hash.end()) throw RunFailure{"the target wants media not listed"};
            wanted.push_back(it->second);
        }
    }
    co_return wanted;
}

awaitable<std::int64_t> BackupSource::send_media_file(Transfer& t, const std::string& media_dir,
                                                      const MediaEntry& entry) {
    // An image its owner deleted since the listing: nothing to send. The target keeps
    // what it has until a manifest no longer lists it.
    FileHandle file(media_dir + "/" + entry.relative_path(), true);
    if (!file.present()) co_return -1;
    const std::size_t chunk_size = t.chunk_size;
    std::int64_t offset = 0;
    do {
        const int fd = file.fd();
        Chunk chunk = co_await offload(blocking_, [fd, offset, chunk_size] {
            return read_chunk(fd, offset, chunk_size, nullptr);
        });
        if (!chunk.error.empty()) throw RunFailure{"cannot read media: " + chunk.error};
        if (chunk.bytes.empty() && offset < entry.size) {
            throw RunFailure{"media file " + entry.relative_path() + " shrank"};
        }
        const std::int64_t n = static_cast<std::int64_t>(chunk.bytes.size());
        json call_params = {
            {"session", t.session}, {"sha256", entry.sha256},
            {"ext", entry.ext},     {"size", entry.size},
            {"offset", offset},     {"data", json::binary_t(std::move(chunk.bytes))}};
        co_await t.channel->post("backup.media_put", call_params);
        offset += n;
    } while (offset < entry.size);
    co_return offset;
}

awaitable<void> BackupSource::send_media(Transfer& t) {
    // Media: the manifest, then only what the target lacks.
    const auto media_started = Clock::now();
    std::string list_error;
    const std::string media_dir = t.server_dir + "/media";
    std::vector<MediaEntry> entries = co_await offload(
        blocking_, [&media_dir, &list_error] { return list_media(media_dir, list_error); });
    if (!list_error.empty()) throw RunFailure{list_error};
    std::int64_t media_bytes = 0;
    for (const auto& entry : entries)
        media_bytes += entry.size;
    std::int64_t manifest_bytes = 0;
    std::vector<const MediaEntry*> wanted = co_await offer_media(t, entries, manifest_bytes);
    std::int64_t sent_media_bytes = 0;
    std::size_t vanished = 0;
    for (const MediaEntry* entry : wanted) {
        const std::int64_t sent = co_await send_media_file(t, media_dir, *entry);
        if (sent < 0) {
            ++vanished;
        } else {
            sent_media_bytes += sent;
        }
    }
    if (vanished)
        spdlog::info("backup run {}: {} media files were deleted during the run", t.run->id,
                     vanished);
    t.bytes_sent += sent_media_bytes + manifest_bytes;
    t.detail["media"] = {{"files", entries.size()},
                         {"bytes", media_bytes},
                         {"sent_files", wanted.size() - vanished},
                         {"vanished_files", vanished},
                         {"sent_bytes", sent_media_bytes},
                         {"manifest_bytes", manifest_bytes},
                         {"ms", ms_since(media_started)}};
}

awaitable<void> BackupSource::commit(Transfer& t) {
    // The target commits only when every integrity_check passed.
    json integrity = json::object();
    for (auto& [db, check] : t.checks) {
        const std::string synced = co_await check.fsync->get();
        if (!synced.empty()) throw RunFailure{synced};
        integrity[db] = co_await check.integrity->get();
        t.files[db]["integrity_check"] = integrity[db];
    }
    json finish_params = {
        {"session", t.session}, {"integrity", integrity}, {"media_complete", true}};
    json finished = co_await t.channel->call("backup.finish", finish_params);
    t.session.clear();
    t.detail["files"] = t.files;
    t.detail["bytes_sent"] = t.bytes_sent;
    t.detail["pruned"] = finished.value("pruned", json::array());
    for (auto& [db, result] : integrity.items()) {
        if (result != "ok") {
            throw RunFailure{
                fmt::format("{}: integrity_check failed: {}", db, result.get<std::string>())};
        }
    }
}

awaitable<json> BackupSource::conclude(Transfer& t, const std::string& failure,
                                       std::int64_t duration_ms) {
    const Run& run = *t.run;
    if (!failure.empty() && t.channel && !t.session.empty()) {
        // Best effort: the target drops the session's files now rather than at its timeout.
        try {
            json call_params = {{"session", t.session}, {"reason", failure}};
            co_await t.channel->call("backup.abort", call_params);
        } catch (const RunFailure&) {
        }
    }
    if (t.channel) co_await t.channel->close();
    std::error_code ec;
    fs::remove_all(t.staging, ec);

    json& detail = t.detail;
    detail["duration_ms"] = duration_ms;
    const std::string state = failure.empty() ? "done" : "failed";
    if (!failure.empty()) detail["error"] = failure;
    const std::int64_t run_id = run.id;
    const std::string& snapshot = t.snapshot;
    co_await offload(blocking_, [this, run_id, &state, &snapshot, &detail] {
        try {
            store_.finish_backup_run(run_id, state, system_wall_clock()(), snapshot, detail);
        } catch (const std::exception& e) {
            spdlog::error("backup: cannot record run {}: {}", run_id, e.what());
        }
        return 0;
    });
    if (failure.empty()) {
        spdlog::info("backup: run {} to '{}' done: snapshot {} in {} ms ({})", run.id, run.to,
                     snapshot, duration_ms, detail["media"].dump());
    } else {
        spdlog::error("backup: run {} to '{}' failed after {} ms: {}", run.id, run.to, duration_ms,
                      failure);
    }
    json outcome = detail;
    outcome["run"] = run.id;
    outcome["state"] = state;
    outcome["snapshot"] = snapshot;
    co_return outcome;
}

}  // namespace parley
