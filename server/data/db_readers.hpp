// DbReaderPool: N reader threads, each owning one read-only connection to a database.
//
// In WAL mode readers never block the writer and the writer never blocks them, so reads run
// here concurrently with DbWriter's batches, off the network threads. Each job runs inside its
// own read transaction (BEGIN … COMMIT), so all the statements of one job see one consistent
// snapshot: the last commit before the job began. Jobs (callables `R(SqliteDb&)`) come from any
// thread through one bounded queue (DbSettings::queue_limit; when full, or after stop(), a read
// completes at once with DbErrc::unavailable); completion is dispatched to the handler's
// associated executor, exactly as for DbWriter. A job must not block on anything but the
// database. stop() (also run by the destructor) refuses new jobs, runs what is queued and
// joins the threads.
#pragma once

#include <cstddef>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/data/db_writer.hpp"
#include "server/settings/db_config.hpp"

namespace parley {

class DbReaderPool {
  public:
    // Opens DbSettings::reader_threads read-only connections to `path` (which must exist and
    // be migrated) and starts their threads; throws DbError if a connection cannot be opened.
    DbReaderPool(const std::string& path, const DbSettings& settings);
    ~DbReaderPool();
    DbReaderPool(const DbReaderPool&) = delete;
    DbReaderPool& operator=(const DbReaderPool&) = delete;

    template <class R = detail::Deduce, class F, class CompletionToken>
    auto async_read(F job, CompletionToken&& token) {
        using Result = detail::job_result_t<R, F>;
        return net::async_initiate<CompletionToken, void(DbResult<Result>)>(
            [this](auto handler, F job) {
                using Handler = decltype(handler);
                submit(std::make_unique<detail::AsyncJob<Result, F, Handler>>(std::move(job),
                                                                              std::move(handler)));
            },
            token, std::move(job));
    }

    template <class R = detail::Deduce, class F>
    awaitable<DbResult<detail::job_result_t<R, F>>> read(F job) {
        return async_read<R>(std::move(job), use_awaitable);
    }

    // Blocks the calling thread until the job has run. Must not be called from a job.
    template <class R = detail::Deduce, class F>
    DbResult<detail::job_result_t<R, F>> read_sync(F job) {
        using Result = detail::job_result_t<R, F>;
        if (is_reader_thread()) {
            return DbFailure{DbErrc::failed, 0, "read_sync called from a database job"};
        }
        auto sync_job = std::make_unique<detail::SyncJob<Result, F>>(std::move(job));
        auto future = sync_job->future();
        submit(std::move(sync_job));
        return future.get();
    }

    void stop();

    std::size_t size() const { return thread_ids_.size(); }
    std::size_t queued() const { return queue_.size(); }

  private:
    void submit(std::unique_ptr<detail::DbJob> job);
    void run(SqliteDb& db);
    bool is_reader_thread() const;

    detail::DbJobQueue queue_;
    std::vector<std::unique_ptr<SqliteDb>> connections_;
    std::vector<std::thread> threads_;
    std::vector<std::thread::id> thread_ids_;  // fixed after the constructor
    std::mutex stop_mutex_;
};

}  // namespace parley
