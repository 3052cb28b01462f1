// DbWriter: the one serialized writer of a database, with group commit.
//
// A DbWriter owns the read-write SqliteDb and one thread that alone uses it. Callers on any
// thread submit jobs (callables `R(SqliteDb&)`); the writer takes everything queued (up to
// DbSettings::max_batch) and runs it as one BEGIN IMMEDIATE … COMMIT transaction in which each
// job has its own SAVEPOINT: a job that throws rolls back its own work only and gets the error,
// the others still commit. A job whose work is one statement (or that leaves nothing behind when
// it throws) is submitted with write_atomic() and runs without the savepoint: SQLite already
// undoes a failed statement, and the two extra statements per job are a third of a small
// write's cost. on_rollback() hooks let a caller that keeps writer-thread state in step with
// the transaction (RoomStore's sequence counters) forget it when a batch is rolled back. Callers
// are completed only AFTER the COMMIT returned, so an acknowledged write is committed (see
// common/db/sqlite.hpp for what synchronous=NORMAL/FULL guarantees); if the COMMIT fails, every job
// of the batch gets the error. One fsync per batch instead of per write is what makes many
// concurrent writers cheap.
//
// Threads: write()/async_write() never block; completion is dispatched to the handler's
// associated executor (the awaiting coroutine's executor with use_awaitable), so network
// threads only ever wait by suspending. The completions of one batch that belong to the same
// io_context go there in one post (one wake-up of that thread per batch, not one per job).
// Symmetrically, a job submitted with an io_context completion does not wake the writer at once:
// one kick() posted to that context wakes it after the handlers already queued there have run,
// so the writes that one turn of the event loop produces (a burst of frames read from many
// sockets) go into one transaction instead of the writer waking, and on a shared core
// preempting the event loop, for each. The
// queue is bounded (DbSettings::queue_limit): when full, or after stop(), a write completes at once
// with DbErrc::unavailable. write_sync() blocks the calling thread (start-up, tests, tools). A job
// runs on the writer thread: it must not block on anything but the database, must not
// submit-and-wait on this writer, and must not end the transaction itself (BEGIN/COMMIT/ROLLBACK
// are refused while a job runs; nested SAVEPOINTs of its own are fine). WAL checkpoints of a
// file database run on a thread and connection of their own (PASSIVE: they never block the
// writer), asked for by the WAL hook after a commit has left wal_autocheckpoint_pages pages.
// stop() (also run by the
// destructor) refuses new jobs, drains the queue, commits it and joins the thread.
//
// DbResult/DbFailure, the value every database call returns to the layers above, live here
// too and are shared with DbReaderPool (server/data/db_readers.hpp).
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "common/db/sqlite.hpp"
#include "common/net.hpp"
#include "server/settings/db_config.hpp"

namespace parley {

// What went wrong, as the layers above need to tell it apart (e.g. HTTP 503 vs 409 vs 500).
enum class DbErrc {
    unavailable,  // queue full or stopped: try again later
    busy,         // the database stayed locked by another process past busy_timeout
    constraint,   // a UNIQUE, FOREIGN KEY, NOT NULL or CHECK constraint failed
    failed,       // any other database failure (I/O, corruption, misuse)
    job_failed,   // the job threw something other than DbError
};

const char* to_string(DbErrc code) noexcept;

struct DbFailure {
    DbErrc code = DbErrc::failed;
    int sqlite_code = 0;  // SQLite's extended result code; 0 when SQLite was not involved
    std::string message;  // for logs; never shown to clients verbatim
};

DbFailure to_failure(const DbError& error);

// A value or a DbFailure (C++20 has no std::expected).
template <class R>
class DbResult {
  public:
    DbResult(R value) : state_(std::in_place_index<0>, std::move(value)) {}
    DbResult(DbFailure failure) : state_(std::in_place_index<1>, std::move(failure)) {}

    bool ok() const noexcept { return state_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }

    // Reading the value of a failed result is a programming error: std::logic_error.
    R& value() & { return std::get<0>(checked()); }
    const R& value() const& { return std::get<0>(checked()); }
    R&& value() && { return std::get<0>(std::move(checked())); }
    R& operator*() & { return value(); }
    const R& operator*() const& { return value(); }
    R* operator->() { return &value(); }
    const R* operator->() const { return &value(); }

    // Only on a failed result.
    const DbFailure& error() const { return std::get<1>(state_); }

  private:
    std::variant<R, DbFailure>& checked() {
        if (!ok()) throw std::logic_error("DbResult::value() on a failure: " + error().message);
        return state_;
    }
    const std::variant<R, DbFailure>& checked() const {
        if (!ok()) throw std::logic_error("DbResult::value() on a failure: " + error().message);
        return state_;
    }

    std::variant<R, DbFailure> state_;
};

template <>
class DbResult<void> {
  public:
    DbResult() = default;
    DbResult(DbFailure failure) : failure_(std::move(failure)) {}

    bool ok() const noexcept { return !failure_.has_value(); }
    explicit operator bool() const noexcept { return ok(); }
    void value() const {
        if (!ok()) throw std::logic_error("DbResult::value() on a failure: " + failure_->message);
    }
    const DbFailure& error() const { return *failure_; }

  private:
    std::optional<DbFailure> failure_;
};

// Commit latency of the writer, for /metrics. Latency is measured per batch from BEGIN
// IMMEDIATE to the end of COMMIT (what a write adds once it leaves the queue).
struct CommitStats {
    static constexpr std::array<double, 12> bucket_bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                          0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
    std::uint64_t commits = 0;  // successful COMMITs (batches)
    double latency_sum_seconds = 0;
    // Cumulative, Prometheus style: buckets[i] counts commits taking <= bucket_bounds[i];
    // the last entry (+Inf) equals `commits`.
    std::array<std::uint64_t, bucket_bounds.size() + 1> buckets{};
    std::uint64_t jobs_committed = 0;
    std::uint64_t jobs_failed = 0;     // jobs that completed with an error after being run
    std::uint64_t batches_failed = 0;  // BEGIN or COMMIT failed: the whole batch failed
    std::uint64_t rejected = 0;        // jobs refused because the queue was full or stopped
};

namespace detail {

// The type-erased job the writer and readers queue.
class DbJob {
  public:
    enum class Completion { dispatch, post };
    virtual ~DbJob() = default;
    // Runs the job on `db`; false when it failed (the failure is its outcome).
    virtual bool run(SqliteDb& db) noexcept = 0;
    // Makes `failure` the outcome (the batch's COMMIT failed, or the job was refused).
    virtual void fail(DbFailure failure) noexcept = 0;
    // Hands the outcome to the caller; called once, from the db thread (dispatch) or from the
    // submitting thread when refused (post: never resume the submitter inside its own call).
    virtual void complete(Completion how) noexcept = 0;
    // The executor the completion runs on, when it is an Asio I/O executor; the writer then
    // completes all of a batch's jobs of one execution context from one handler posted there.
    virtual std::optional<net::any_io_executor> completion_executor() const { return {}; }
    // False for write_atomic() jobs: no savepoint around them.
    bool needs_savepoint = true;
};

DbFailure current_exception_failure() noexcept;

// `write(job)` deduces R from the job; `write<R>(job)` converts the job's result to R.
struct Deduce {};
template <class R, class F>
using job_result_t =
    std::conditional_t<std::is_same_v<R, Deduce>, std::invoke_result_t<F&, SqliteDb&>, R>;

template <class R, class F>
class TypedJob : public DbJob {
  public:
    explicit TypedJob(F job) : job_(std::move(job)) {}

    bool run(SqliteDb& db) noexcept override {
        try {
            if constexpr (std::is_void_v<R>) {
                std::invoke(*job_, db);
                result_.emplace();
            } else {
                result_.emplace(R(std::invoke(*job_, db)));
            }
        } catch (...) {
            result_.emplace(current_exception_failure());
        }
        // Captured state dies on the db thread, before the caller resumes.
        job_.reset();
        return result_->ok();
    }

    void fail(DbFailure failure) noexcept override {
        job_.reset();
        result_.emplace(std::move(failure));
    }

  protected:
    DbResult<R> take_result() {
        if (!result_) return DbFailure{DbErrc::failed, 0, "database job was never run"};
        return std::move(*result_);
    }

  private:
    std::optional<F> job_;
    std::optional<DbResult<R>> result_;
};

// Completes an Asio handler; the work guard keeps the handler's io_context running while the
// job waits in the queue (a coroutine suspended on it is otherwise invisible to run()).
template <class R, class F, class Handler>
class AsyncJob final : public TypedJob<R, F> {
  public:
    AsyncJob(F job, Handler handler)
        : TypedJob<R, F>(std::move(job)),
          handler_(std::move(handler)),
          work_(net::make_work_guard(net::get_associated_executor(handler_))) {}

    std::optional<net::any_io_executor> completion_executor() const override {
        // Only an io_context's executors (a coroutine's, a socket's): a plain callback's system
        // executor would run the group on a pool thread, after write_sync/stop returned.
        using Executor = net::associated_executor_t<Handler>;
        if constexpr (std::is_same_v<Executor, net::any_io_executor> ||
                      std::is_same_v<Executor, net::io_context::executor_type>) {
            return net::any_io_executor(work_.get_executor());
        } else {
            return {};
        }
    }

    void complete(DbJob::Completion how) noexcept override {
        auto executor = work_.get_executor();
        auto call = [handler = std::move(handler_), result = this->take_result()]() mutable {
            std::move(handler)(std::move(result));
        };
        if (how == DbJob::Completion::dispatch) {
            net::dispatch(executor, std::move(call));
        } else {
            net::post(executor, std::move(call));
        }
        work_.reset();
    }

  private:
    Handler handler_;
    net::executor_work_guard<net::associated_executor_t<Handler>> work_;
};

// Completes a blocked caller (write_sync/read_sync) without involving Asio. The job owns the
// promise, so set_value() never runs on a promise the woken caller has already destroyed.
template <class R, class F>
class SyncJob final : public TypedJob<R, F> {
  public:
    explicit SyncJob(F job) : TypedJob<R, F>(std::move(job)) {}
    std::future<DbResult<R>> future() { return promise_.get_future(); }
    void complete(DbJob::Completion) noexcept override { promise_.set_value(this->take_result()); }

  private:
    std::promise<DbResult<R>> promise_;
};

// A bounded multi-producer queue of jobs, closed by stop().
class DbJobQueue {
  public:
    explicit DbJobQueue(std::size_t limit) : limit_(limit) {}
    // False when full or closed; the job is left with the caller. With `wake` false a waiting
    // consumer is not woken: the caller promises a wake() soon.
    bool push(std::unique_ptr<DbJob>& job, bool wake = true);
    void wake();
    // Blocks until there is at least one job (moves up to `max` into `out`) or the queue is
    // closed and empty (returns false).
    bool pop(std::vector<std::unique_ptr<DbJob>>& out, std::size_t max);
    void close();
    std::size_t size() const;

  private:
    mutable std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<std::unique_ptr<DbJob>> jobs_;
    std::size_t limit_;
    bool closed_ = false;
};

}  // namespace detail

class DbWriter {
  public:
    // Takes the read-write connection (already migrated) and starts the writer thread.
    DbWriter(SqliteDb connection, const DbSettings& settings);
    ~DbWriter();
    DbWriter(const DbWriter&) = delete;
    DbWriter& operator=(const DbWriter&) = delete;

    // Runs `job` in the next batch; completes with its result once the batch has committed.
    template <class R = detail::Deduce, class F, class CompletionToken>
    auto async_write(F job, CompletionToken&& token) {
        return initiate<R>(std::move(job), std::forward<CompletionToken>(token), true);
    }

    template <class R = detail::Deduce, class F>
    awaitable<DbResult<detail::job_result_t<R, F>>> write(F job) {
        return async_write<R>(std::move(job), use_awaitable);
    }

    // As write(), without the job's savepoint: only for a job that leaves nothing behind when
    // it throws (a single statement, or statements that cannot fail after the first change).
    template <class R = detail::Deduce, class F>
    awaitable<DbResult<detail::job_result_t<R, F>>> write_atomic(F job) {
        return initiate<R>(std::move(job), use_awaitable, false);
    }

    // Runs `hook` on the writer thread after any batch's transaction was rolled back (before
    // the next batch begins). Register at start-up.
    void on_rollback(std::function<void()> hook);

    // Blocks until the job's batch has committed (or failed). Must not be called from a job.
    template <class R = detail::Deduce, class F>
    DbResult<detail::job_result_t<R, F>> write_sync(F job) {
        using Result = detail::job_result_t<R, F>;
        if (std::this_thread::get_id() == thread_id_) {
            return DbFailure{DbErrc::failed, 0, "write_sync called from a database job"};
        }
        auto sync_job = std::make_unique<detail::SyncJob<Result, F>>(std::move(job));
        auto future = sync_job->future();
        submit(std::move(sync_job));
        return future.get();
    }

    // Refuses new jobs, commits what is queued and joins the thread. Idempotent.
    void stop();

    CommitStats commit_stats() const;
    std::size_t queued() const { return queue_.size(); }

  private:
    template <class R, class F, class CompletionToken>
    auto initiate(F job, CompletionToken&& token, bool savepoint) {
        using Result = detail::job_result_t<R, F>;
        return net::async_initiate<CompletionToken, void(DbResult<Result>)>(
            [this, savepoint](auto handler, F job) {
                using Handler = decltype(handler);
                auto typed = std::make_unique<detail::AsyncJob<Result, F, Handler>>(
                    std::move(job), std::move(handler));
                typed->needs_savepoint = savepoint;
                submit(std::move(typed));
            },
            token, std::move(job));
    }
    void submit(std::unique_ptr<detail::DbJob> job);
    // Wakes the writer for jobs pushed without a wake-up (see submit()).
    void kick();
    void run();
    void run_batch(std::vector<std::unique_ptr<detail::DbJob>>& batch);
    // Jobs queued when the last batch had committed, before its callers were answered
    // (writer thread only): the commit interval's sign of several clients writing at once.
    std::size_t waiting_at_commit_ = 0;
    void record_commit(double seconds, std::size_t jobs_ok, std::size_t jobs_failed);
    // Completes every job of `batch` (from the writer thread), grouped by io_context.
    void complete_batch(std::vector<std::unique_ptr<detail::DbJob>>& batch);
    // The WAL hook (after each commit, on the writer thread): asks the checkpointer for a
    // checkpoint once the WAL holds wal_autocheckpoint_pages pages.
    static int wal_committed(void* self, sqlite3* db, const char* name, int pages);
    void checkpoint_loop(std::string path);
    void stop_checkpointer();
    static int authorize(void* self, int action, const char* a, const char* b, const char* c,
                         const char* d);

    SqliteDb db_;
    DbSettings settings_;
    detail::DbJobQueue queue_;
    // A kick() is posted to an io_context and has not run yet.
    std::atomic<bool> kick_pending_{false};
    // Set by the writer thread while a job runs: the authorizer then refuses statements that
    // would end the batch's transaction or touch the writer's savepoint.
    bool in_job_ = false;

    mutable std::mutex stats_mutex_;
    CommitStats stats_;

    std::mutex hooks_mutex_;
    std::vector<std::function<void()>> rollback_hooks_;

    std::mutex stop_mutex_;
    std::thread thread_;
    std::thread::id thread_id_;  // set once by the constructor; thread_ itself changes on join

    // Checkpoints run on a thread and connection of their own (a file database only): copying
    // pages back and the fsyncs of a checkpoint took tens of milliseconds on the writer
    // thread, and every write waiting behind them made the tail latency.
    std::thread checkpointer_;
    std::mutex checkpoint_mutex_;
    std::condition_variable checkpoint_wanted_cv_;
    bool checkpoint_wanted_ = false;
    bool checkpoint_stop_ = false;
    // The WAL outgrew four times the threshold and the writer finishes checkpoints itself.
    std::atomic<bool> writer_checkpoints_{false};
};

}  // namespace parley
