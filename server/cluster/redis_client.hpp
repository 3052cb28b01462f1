// RedisClient: Parley's own client for one Redis connection, over hiredis (blocking API) on a
// dedicated thread. Callers queue commands from any thread; each command runs on the client's
// thread with the connect and command timeouts, and its result is posted to the executor given
// at construction, in the order the commands were queued. hiredis types never leave the
// client's thread: replies are copied into RedisReply there.
//
// Why a thread and not the hiredis async API on an Asio socket: hiredis 0.14 has no Asio
// adapter and no command timeout in its async API, and the blocking XREAD of cluster edges
// holds a connection anyway (see docs/cluster.md, "The Redis client").
//
// Failure: an I/O error or timeout drops the connection; the next command reconnects. While a
// reconnect fails, commands fail at once with a "redis unavailable" error (callers refuse
// writes with a retryable error) until the backoff delay (initial, doubled up to max) has
// passed. Owned by whoever needs a connection (one per role: publisher, stream reader);
// thread-safe; the destructor fails queued commands, joins the thread, posts nothing after.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/net.hpp"

namespace parley {

// One Redis reply, copied out of hiredis.
struct RedisReply {
    enum class Type { nil, status, error, integer, string, array };
    Type type = Type::nil;
    std::string str;                   // status, error and string replies
    long long integer = 0;             // integer replies
    std::vector<RedisReply> elements;  // array replies

    bool is_error() const { return type == Type::error; }
};

// The outcome of one command: `error` is empty when Redis answered (even with an error
// reply, which is in `reply`); otherwise it says why there is no answer (unavailable,
// timeout, connection lost) and the caller may retry.
struct RedisResult {
    std::string error;
    RedisReply reply;

    bool ok() const { return error.empty(); }
};

struct RedisOptions {
    std::string host = "127.0.0.1";
    int port = 6379;
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds command_timeout{1000};
    std::chrono::milliseconds backoff_initial{100};
    std::chrono::milliseconds backoff_max{5000};
    std::string name = "redis";  // in log lines
};

class RedisClient {
  public:
    using Handler = std::function<void(RedisResult)>;
    // `error` empty: one reply per command, in order (a reply may be a Redis error).
    using BatchHandler = std::function<void(std::string error, std::vector<RedisReply> replies)>;

    RedisClient(net::any_io_executor executor, RedisOptions options);
    ~RedisClient();
    RedisClient(const RedisClient&) = delete;
    RedisClient& operator=(const RedisClient&) = delete;

    // Queues `args` (one argument each, binary-safe). `timeout` overrides the command timeout
    // for blocking commands (XREAD BLOCK n needs more than n ms).
    void command(std::vector<std::string> args, Handler handler,
                 std::chrono::milliseconds timeout = std::chrono::milliseconds::zero());

    // Queues `commands` sent as one pipeline: all written, then all replies read, in one round
    // trip. On a connection failure part of the batch may have been applied; the handler gets
    // the error and no replies.
    void pipeline(std::vector<std::vector<std::string>> commands, BatchHandler handler);

    // Whether the last attempt left a working connection (for health and metrics).
    bool connected() const { return connected_.load(); }
    // Connections established after the first one.
    std::uint64_t reconnects() const { return reconnects_.load(); }

  private:
    struct Job {
        std::vector<std::string> args;
        Handler handler;
        std::chrono::milliseconds timeout{0};
        std::vector<std::vector<std::string>> batch;  // a pipeline when batch_handler is set
        BatchHandler batch_handler;
    };

    void run();
    void enqueue(Job job);
    void fail(Job& job, const std::string& error);
    RedisResult execute(const Job& job);
    // Fills `replies`; returns the error (empty on success).
    std::string execute_batch(const Job& job, std::vector<RedisReply>& replies);
    bool ensure_connected(std::string& error);
    void drop_connection();
    void deliver(Handler handler, RedisResult result);

    net::any_io_executor executor_;
    const RedisOptions options_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Job> queue_;
    bool stopping_ = false;
    std::atomic<bool> connected_{false};
    std::atomic<std::uint64_t> reconnects_{0};
    // Only the client's thread touches these.
    void* context_ = nullptr;  // redisContext*, kept out of the header
    bool ever_connected_ = false;
    std::chrono::milliseconds backoff_{0};
    std::chrono::steady_clock::time_point next_attempt_{};
    std::thread thread_;
};

}  // namespace parley
