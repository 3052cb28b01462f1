#include "server/data/db_readers.hpp"

#include <pthread.h>
#include <sqlite3.h>

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace parley {

DbReaderPool::DbReaderPool(const std::string& path, const DbSettings& settings)
    : queue_(static_cast<std::size_t>(std::max(1, settings.queue_limit))) {
    const int count = std::max(1, settings.reader_threads);
    SqliteOptions options;
    options.mode = OpenMode::read_only;
    options.busy_timeout_ms = settings.busy_timeout_ms;
    // Open them all before starting any thread, so a failure throws with nothing to join.
    for (int i = 0; i < count; ++i) {
        connections_.push_back(std::make_unique<SqliteDb>(path, options));
    }
    for (int i = 0; i < count; ++i) {
        SqliteDb& db = *connections_[static_cast<std::size_t>(i)];
        threads_.emplace_back([this, &db, i] {
            std::string name = fmt::format("parley-dbread{}", i);
            name.resize(std::min<std::size_t>(name.size(), 15));  // the kernel's limit
            pthread_setname_np(pthread_self(), name.c_str());
            run(db);
        });
        thread_ids_.push_back(threads_.back().get_id());
    }
}

DbReaderPool::~DbReaderPool() {
    stop();
}

bool DbReaderPool::is_reader_thread() const {
    auto self = std::this_thread::get_id();
    return std::find(thread_ids_.begin(), thread_ids_.end(), self) != thread_ids_.end();
}

void DbReaderPool::submit(std::unique_ptr<detail::DbJob> job) {
    if (queue_.push(job)) return;
    job->fail(DbFailure{DbErrc::unavailable, 0, "database reader queue is full or stopped"});
    job->complete(detail::DbJob::Completion::post);
}

void DbReaderPool::stop() {
    std::lock_guard lock(stop_mutex_);
    queue_.close();
    if (is_reader_thread()) {
        spdlog::error("DbReaderPool::stop called from a database job; readers were not joined");
        return;
    }
    for (auto& thread : threads_) {
        if (thread.joinable()) thread.join();
    }
}

void DbReaderPool::run(SqliteDb& db) {
    std::vector<std::unique_ptr<detail::DbJob>> jobs;
    // One job at a time per thread: a long read must not hold up jobs another reader could run.
    while (queue_.pop(jobs, 1)) {
        auto& job = jobs.front();
        try {
            // A read transaction pins one snapshot for every statement of the job.
            db.cached("BEGIN DEFERRED")->run();
            job->run(db);
        } catch (const DbError& error) {
            job->fail(to_failure(error));
        }
        if (db.in_transaction()) {
            try {
                // COMMIT of a read transaction only releases the snapshot.
                db.cached("COMMIT")->run();
            } catch (const DbError& error) {
                // The job's result is already known; a reader has nothing to lose, so start
                // the next job from a clean state.
                spdlog::warn("ending a read transaction: {}", error.what());
                try {
                    db.exec("ROLLBACK");
                } catch (const DbError&) {
                }
            }
        }
        job->complete(detail::DbJob::Completion::dispatch);
        jobs.clear();
    }
}

}  // namespace parley
