#include "server/data/db_writer.hpp"

#include <pthread.h>
#include <sqlite3.h>

#include <strings.h>
#include <algorithm>
#include <chrono>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace parley {

namespace {

// The writer's own savepoint around each job; jobs may not touch it.
constexpr const char* job_savepoint = "parley_job";

DbErrc errc_for(int sqlite_code) {
    switch (sqlite_code & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            return DbErrc::busy;
        case SQLITE_CONSTRAINT:
            return DbErrc::constraint;
        default:
            return DbErrc::failed;
    }
}

}  // namespace

const char* to_string(DbErrc code) noexcept {
    switch (code) {
        case DbErrc::unavailable:
            return "unavailable";
        case DbErrc::busy:
            return "busy";
        case DbErrc::constraint:
            return "constraint";
        case DbErrc::failed:
            return "failed";
        case DbErrc::job_failed:
            return "job_failed";
    }
    return "unknown";
}

DbFailure to_failure(const DbError& error) {
    return DbFailure{errc_for(error.code()), error.code(), error.what()};
}

namespace detail {

DbFailure current_exception_failure() noexcept {
    try {
        throw;
    } catch (const DbError& error) {
        return to_failure(error);
    } catch (const std::exception& error) {
        return DbFailure{DbErrc::job_failed, 0, error.what()};
    } catch (...) {
        return DbFailure{DbErrc::job_failed, 0, "database job threw a non-exception"};
    }
}

bool DbJobQueue::push(std::unique_ptr<DbJob>& job, bool wake) {
    {
        std::lock_guard lock(mutex_);
        if (closed_ || jobs_.size() >= limit_) return false;
        jobs_.push_back(std::move(job));
    }
    if (wake) ready_.notify_one();
    return true;
}

void DbJobQueue::wake() {
    // The jobs were pushed under the mutex before this: a consumer that has not started waiting
    // yet sees them, one that waits is woken.
    ready_.notify_one();
}

bool DbJobQueue::pop(std::vector<std::unique_ptr<DbJob>>& out, std::size_t max) {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return closed_ || !jobs_.empty(); });
    if (jobs_.empty()) return false;  // closed and drained
    std::size_t n = std::min(max, jobs_.size());
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back(std::move(jobs_.front()));
        jobs_.pop_front();
    }
    // Several consumers (the reader pool): wake the next one if work is left.
    if (!jobs_.empty()) ready_.notify_one();
    return true;
}

void DbJobQueue::close() {
    {
        std::lock_guard lock(mutex_);
        closed_ = true;
    }
    ready_.notify_all();
}

std::size_t DbJobQueue::size() const {
    std::lock_guard lock(mutex_);
    return jobs_.size();
}

}  // namespace detail

DbWriter::DbWriter(SqliteDb connection, const DbSettings& settings)
    : db_(std::move(connection)),
      settings_(settings),
      queue_(static_cast<std::size_t>(std::max(1, settings.queue_limit))) {
    if (db_.read_only()) throw DbError(SQLITE_MISUSE, "DbWriter needs a read-write connection");
    db_.set_busy_timeout(settings_.busy_timeout_ms);
    // DbSettings is the authority for durability, whatever the connection was opened with.
    db_.set_synchronous(settings_.synchronous);
    // (Statement journals stay in memory process-wide: configure_sqlite_process().)
    db_.exec(fmt::format("PRAGMA cache_size = -{}", settings_.writer_cache_kib));
    const char* file = sqlite3_db_filename(db_.handle(), "main");
    std::string path = file ? file : "";
    if (!path.empty()) {
        // Replaces SQLite's automatic checkpoint, which would run on this thread.
        sqlite3_wal_hook(db_.handle(), &DbWriter::wal_committed, this);
        checkpointer_ = std::thread([this, path] { checkpoint_loop(path); });
    } else {
        db_.exec(fmt::format("PRAGMA wal_autocheckpoint = {}", settings_.wal_autocheckpoint_pages));
    }
    sqlite3_set_authorizer(db_.handle(), &DbWriter::authorize, this);
    thread_ = std::thread([this] { run(); });
    thread_id_ = thread_.get_id();
}

DbWriter::~DbWriter() {
    stop();
    stop_checkpointer();  // (stop() from inside a job leaves it running)
    // The authorizer points at this object; the connection dies with it, but be tidy.
    sqlite3_set_authorizer(db_.handle(), nullptr, nullptr);
}

int DbWriter::authorize(void* self, int action, const char* a, const char* b, const char*,
                        const char*) {
    auto* writer = static_cast<DbWriter*>(self);
    if (!writer->in_job_) return SQLITE_OK;
    if (action == SQLITE_TRANSACTION) return SQLITE_DENY;  // BEGIN, COMMIT, ROLLBACK
    // For SQLITE_SAVEPOINT, `a` is the operation and `b` the savepoint's name.
    if (action == SQLITE_SAVEPOINT && a != nullptr && b != nullptr &&
        strcasecmp(b, job_savepoint) == 0) {
        return SQLITE_DENY;
    }
    return SQLITE_OK;
}

void DbWriter::submit(std::unique_ptr<detail::DbJob> job) {
    auto executor = job->completion_executor();
    if (!executor) {
        if (queue_.push(job)) return;
    } else if (queue_.push(job, false)) {
        if (!kick_pending_.exchange(true)) net::post(*executor, [this] { kick(); });
        return;
    }
    {
        std::lock_guard lock(stats_mutex_);
        ++stats_.rejected;
    }
    job->fail(DbFailure{DbErrc::unavailable, 0, "database writer queue is full or stopped"});
    job->complete(detail::DbJob::Completion::post);
}

void DbWriter::kick() {
    // Cleared before the wake-up: a job pushed after this point posts a kick of its own.
    kick_pending_.store(false);
    queue_.wake();
}

void DbWriter::stop() {
    std::lock_guard lock(stop_mutex_);
    if (!thread_.joinable()) return;
    if (std::this_thread::get_id() == thread_id_) {
        // Joining ourselves would deadlock; close the queue and let the thread end on its own.
        queue_.close();
        spdlog::error("DbWriter::stop called from a database job; the writer was not joined");
        return;
    }
    queue_.close();
    thread_.join();
    stop_checkpointer();
}

int DbWriter::wal_committed(void* self, sqlite3* db, const char* name, int pages) {
    auto* writer = static_cast<DbWriter*>(self);
    const int threshold = writer->settings_.wal_autocheckpoint_pages;
    if (pages >= 4 * threshold) {
        // Writes that never pause keep the checkpointer from ever catching up with the end of
        // the WAL, and SQLite starts the WAL over only when it has: finish here, the pages
        // before are mostly copied already, so that the next write starts it over. The
        // checkpointer starts no new pass meanwhile: a pass it runs makes this one SQLITE_BUSY
        // (PASSIVE does not wait), and with a write per commit it would always be running.
        writer->writer_checkpoints_ = true;
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
        return SQLITE_OK;
    }
    writer->writer_checkpoints_ = false;
    if (pages >= threshold) {
        {
            std::lock_guard lock(writer->checkpoint_mutex_);
            writer->checkpoint_wanted_ = true;
        }
        writer->checkpoint_wanted_cv_.notify_one();
    }
    return SQLITE_OK;
}

void DbWriter::checkpoint_loop(std::string path) {
    pthread_setname_np(pthread_self(), "parley-dbckpt");
    std::optional<SqliteDb> db;
    try {
        db.emplace(path, SqliteOptions{OpenMode::read_write, settings_.busy_timeout_ms,
                                       settings_.synchronous});
    } catch (const DbError& error) {
        spdlog::error("database checkpointer for {} cannot open it: {}", path, error.what());
        return;
    }
    for (;;) {
        {
            std::unique_lock lock(checkpoint_mutex_);
            checkpoint_wanted_cv_.wait(lock,
                                       [&] { return checkpoint_wanted_ || checkpoint_stop_; });
            if (checkpoint_stop_) return;
            checkpoint_wanted_ = false;
        }
        if (writer_checkpoints_) continue;
        int log_pages = 0, copied = 0;
        int rc = sqlite3_wal_checkpoint_v2(db->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                           &log_pages, &copied);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
            spdlog::warn("database checkpoint of {} failed: {}", path, sqlite3_errstr(rc));
        } else {
            spdlog::debug("database checkpoint of {}: {} of {} WAL pages copied", path, copied,
                          log_pages);
        }
    }
}

void DbWriter::stop_checkpointer() {
    if (!checkpointer_.joinable()) return;
    {
        std::lock_guard lock(checkpoint_mutex_);
        checkpoint_stop_ = true;
    }
    checkpoint_wanted_cv_.notify_one();
    checkpointer_.join();
}

void DbWriter::on_rollback(std::function<void()> hook) {
    std::lock_guard lock(hooks_mutex_);
    rollback_hooks_.push_back(std::move(hook));
}

void DbWriter::complete_batch(std::vector<std::unique_ptr<detail::DbJob>>& batch) {
    // Counted before the callers hear of the batch (committed or rolled back): a client's next
    // write, sent on this answer, did not arrive during the commit.
    waiting_at_commit_ = queue_.size();
    // One post per execution context for the whole batch: each handler posted from this thread
    // is a lock of that context's queue and, when its thread sleeps, a wake-up.
    struct Group {
        const net::execution_context* context;
        net::any_io_executor executor;
        std::vector<std::unique_ptr<detail::DbJob>> jobs;
    };
    std::vector<Group> groups;
    for (auto& job : batch) {
        auto executor = job->completion_executor();
        if (!executor) {
            job->complete(detail::DbJob::Completion::dispatch);
            continue;
        }
        const net::execution_context* context = &net::query(*executor, net::execution::context);
        auto group = std::find_if(groups.begin(), groups.end(),
                                  [context](const Group& g) { return g.context == context; });
        if (group == groups.end()) {
            groups.push_back(Group{context, *executor, {}});
            group = std::prev(groups.end());
        }
        group->jobs.push_back(std::move(job));
    }
    for (auto& group : groups) {
        if (group.jobs.size() == 1) {
            group.jobs.front()->complete(detail::DbJob::Completion::dispatch);
            continue;
        }
        // On the context's thread, dispatch() runs each handler in place (through its strand,
        // if it has one).
        net::post(group.executor,
                  [jobs = std::make_shared<std::vector<std::unique_ptr<detail::DbJob>>>(
                       std::move(group.jobs))] {
                      for (auto& job : *jobs)
                          job->complete(detail::DbJob::Completion::dispatch);
                  });
    }
}

CommitStats DbWriter::commit_stats() const {
    std::lock_guard lock(stats_mutex_);
    return stats_;
}

void DbWriter::run() {
    pthread_setname_np(pthread_self(), "parley-dbwrite");
    const auto max_batch = static_cast<std::size_t>(std::max(1, settings_.max_batch));
    std::vector<std::unique_ptr<detail::DbJob>> batch;
    batch.reserve(max_batch);
    const auto interval = std::chrono::microseconds(std::max(0, settings_.commit_interval_us));
    // After close(), pop() keeps returning queued jobs until none are left: that is the drain.
    while (queue_.pop(batch, max_batch)) {
        const auto started = std::chrono::steady_clock::now();
        const std::size_t taken = batch.size();
        run_batch(batch);
        batch.clear();
        // Several writers at once (this commit took more than one write, or more arrived while
        // it ran): waiting out the interval lets the next commit take more of them at one
        // commit's cost. One client writing alone (one write per commit, and its next one
        // only after the answer) never waits, and neither does a full batch's backlog.
        if (interval.count() > 0 && taken < max_batch) {
            const std::size_t waiting = waiting_at_commit_;
            if ((taken > 1 || waiting > 0) && waiting < max_batch)
                std::this_thread::sleep_until(started + interval);
        }
    }
}

void DbWriter::record_commit(double seconds, std::size_t jobs_ok, std::size_t jobs_failed) {
    std::lock_guard lock(stats_mutex_);
    ++stats_.commits;
    stats_.latency_sum_seconds += seconds;
    for (std::size_t i = 0; i < CommitStats::bucket_bounds.size(); ++i) {
        if (seconds <= CommitStats::bucket_bounds[i]) ++stats_.buckets[i];
    }
    ++stats_.buckets.back();
    stats_.jobs_committed += jobs_ok;
    stats_.jobs_failed += jobs_failed;
}

void DbWriter::run_batch(std::vector<std::unique_ptr<detail::DbJob>>& batch) {
    using Clock = std::chrono::steady_clock;
    static const std::string savepoint_sql = fmt::format("SAVEPOINT {}", job_savepoint);
    static const std::string rollback_to_sql = fmt::format("ROLLBACK TO {}", job_savepoint);
    static const std::string release_sql = fmt::format("RELEASE {}", job_savepoint);

    const auto started = Clock::now();
    // Jobs that failed on their own keep their error when the whole batch fails.
    std::vector<bool> failed(batch.size(), false);
    std::size_t failed_jobs = 0;

    auto fail_batch = [&](const DbFailure& failure) {
        spdlog::warn("database batch of {} jobs failed: {}", batch.size(), failure.message);
        if (db_.in_transaction()) {
            try {
                db_.exec("ROLLBACK");
            } catch (const DbError& error) {
                spdlog::error("ROLLBACK after a failed batch: {}", error.what());
            }
        }
        for (std::size_t i = 0; i < batch.size(); ++i) {
            if (!failed[i]) batch[i]->fail(failure);
        }
        {
            std::lock_guard lock(stats_mutex_);
            ++stats_.batches_failed;
            stats_.jobs_failed += batch.size();
        }
        // Writer-thread state kept in step with the transaction is stale now.
        {
            std::lock_guard lock(hooks_mutex_);
            for (auto& hook : rollback_hooks_)
                hook();
        }
        complete_batch(batch);
    };

    try {
        db_.cached("BEGIN IMMEDIATE")->run();
    } catch (const DbError& error) {
        fail_batch(to_failure(error));
        return;
    }

    for (std::size_t i = 0; i < batch.size(); ++i) {
        const bool savepoint = batch[i]->needs_savepoint;
        if (savepoint) {
            try {
                db_.cached(savepoint_sql)->run();
            } catch (const DbError& error) {
                batch[i]->fail(to_failure(error));
                failed[i] = true;
                ++failed_jobs;
                continue;
            }
        }
        in_job_ = true;
        failed[i] = !batch[i]->run(db_);
        in_job_ = false;

        if (!db_.in_transaction()) {
            // SQLite rolls the whole transaction back by itself after some errors (disk full,
            // I/O error): the work of the jobs before this one is gone too.
            fail_batch(DbFailure{DbErrc::failed, 0,
                                 "the batch's transaction was rolled back by SQLite after a job "
                                 "failed"});
            return;
        }
        if (failed[i]) ++failed_jobs;
        if (!savepoint) continue;  // a failed statement undid itself
        try {
            if (failed[i]) db_.cached(rollback_to_sql)->run();
            db_.cached(release_sql)->run();
        } catch (const DbError& error) {
            fail_batch(to_failure(error));
            return;
        }
    }

    try {
        db_.cached("COMMIT")->run();
    } catch (const DbError& error) {
        // A failed COMMIT (deferred foreign key violation, SQLITE_BUSY, I/O) can leave the
        // transaction open; fail_batch rolls it back.
        fail_batch(to_failure(error));
        return;
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    record_commit(seconds, batch.size() - failed_jobs, failed_jobs);
    // Only now is every successful job committed: complete the callers.
    complete_batch(batch);
}

}  // namespace parley
