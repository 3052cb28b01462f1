#include "server/cluster/redis_client.hpp"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>
#include <sys/time.h>

#include <algorithm>

namespace parley {
namespace {

redisContext* ctx(void* p) {
    return static_cast<redisContext*>(p);
}

RedisReply copy_reply(const redisReply* r) {
    RedisReply out;
    switch (r->type) {
        case REDIS_REPLY_STATUS:
            out.type = RedisReply::Type::status;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_ERROR:
            out.type = RedisReply::Type::error;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_INTEGER:
            out.type = RedisReply::Type::integer;
            out.integer = r->integer;
            break;
        case REDIS_REPLY_STRING:
            out.type = RedisReply::Type::string;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_ARRAY:
            out.type = RedisReply::Type::array;
            out.elements.reserve(r->elements);
            for (std::size_t i = 0; i < r->elements; ++i)
                out.elements.push_back(copy_reply(r->element[i]));
            break;
        default:  // REDIS_REPLY_NIL
            break;
    }
    return out;
}

timeval to_timeval(std::chrono::milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

}  // namespace

RedisClient::RedisClient(net::any_io_executor executor, RedisOptions options)
    : executor_(std::move(executor)), options_(std::move(options)) {
    thread_ = std::thread([this] { run(); });
}

RedisClient::~RedisClient() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
    drop_connection();
}

void RedisClient::command(std::vector<std::string> args, Handler handler,
                          std::chrono::milliseconds timeout) {
    Job job;
    job.args = std::move(args);
    job.handler = std::move(handler);
    job.timeout = timeout;
    enqueue(std::move(job));
}

void RedisClient::pipeline(std::vector<std::vector<std::string>> commands, BatchHandler handler) {
    Job job;
    job.batch = std::move(commands);
    job.batch_handler = std::move(handler);
    enqueue(std::move(job));
}

void RedisClient::enqueue(Job job) {
    {
        std::lock_guard lock(mutex_);
        if (!stopping_) {
            queue_.push_back(std::move(job));
            wake_.notify_one();
            return;
        }
    }
    fail(job, "redis client stopped");
}

void RedisClient::fail(Job& job, const std::string& error) {
    if (job.batch_handler) {
        net::post(executor_, [handler = std::move(job.batch_handler), error]() mutable {
            handler(error, {});
        });
    } else {
        deliver(std::move(job.handler), RedisResult{error, {}});
    }
}

void RedisClient::deliver(Handler handler, RedisResult result) {
    net::post(executor_, [handler = std::move(handler), result = std::move(result)]() mutable {
        handler(std::move(result));
    });
}

void RedisClient::run() {
    for (;;) {
        Job job;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (stopping_) {
                // Commands queued behind the stop fail rather than vanish: every handler runs.
                for (auto& j : queue_)
                    fail(j, "redis client stopped");
                queue_.clear();
                return;
            }
            job = std::move(queue_.front());
            queue_.pop_front();
        }
        if (job.batch_handler) {
            std::vector<RedisReply> replies;
            std::string error = execute_batch(job, replies);
            net::post(executor_, [handler = std::move(job.batch_handler), error = std::move(error),
                                  replies = std::move(replies)]() mutable {
                handler(std::move(error), std::move(replies));
            });
            continue;
        }
        RedisResult result = execute(job);
        deliver(std::move(job.handler), std::move(result));
    }
}

bool RedisClient::ensure_connected(std::string& error) {
    if (context_) return true;
    const auto now = std::chrono::steady_clock::now();
    if (now < next_attempt_) {
        error = "redis unavailable (" + options_.host + ":" + std::to_string(options_.port) +
                "): reconnecting";
        return false;
    }
    const timeval connect_tv = to_timeval(options_.connect_timeout);
    redisContext* c = redisConnectWithTimeout(options_.host.c_str(), options_.port, connect_tv);
    if (!c || c->err) {
        error = "redis unavailable (" + options_.host + ":" + std::to_string(options_.port) +
                "): " + (c ? std::string(c->errstr) : std::string("out of memory"));
        if (c) redisFree(c);
        // First failure after a working connection retries after backoff_initial; each
        // further failure doubles the delay up to backoff_max.
        backoff_ = backoff_.count() == 0 ? options_.backoff_initial
                                         : std::min(backoff_ * 2, options_.backoff_max);
        next_attempt_ = now + backoff_;
        spdlog::warn("{}: connect failed, retry in {} ms: {}", options_.name, backoff_.count(),
                     error);
        return false;
    }
    const timeval command_tv = to_timeval(options_.command_timeout);
    redisSetTimeout(c, command_tv);
    context_ = c;
    backoff_ = std::chrono::milliseconds::zero();
    if (ever_connected_) reconnects_.fetch_add(1);
    ever_connected_ = true;
    connected_.store(true);
    spdlog::info("{}: connected to {}:{}", options_.name, options_.host, options_.port);
    return true;
}

void RedisClient::drop_connection() {
    if (context_) redisFree(ctx(context_));
    context_ = nullptr;
    connected_.store(false);
}

RedisResult RedisClient::execute(const Job& job) {
    RedisResult result;
    if (!ensure_connected(result.error)) return result;
    redisContext* c = ctx(context_);
    const bool custom_timeout = job.timeout.count() > 0;
    if (custom_timeout) redisSetTimeout(c, to_timeval(job.timeout));

    std::vector<const char*> argv;
    std::vector<size_t> argvlen;
    argv.reserve(job.args.size());
    argvlen.reserve(job.args.size());
    for (const auto& a : job.args) {
        argv.push_back(a.data());
        argvlen.push_back(a.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), argvlen.data()));
    if (!reply) {
        // The connection's state is unknown after an I/O error or timeout (a late reply would
        // be read as the next command's): drop it, the next command reconnects.
        result.error = "redis connection lost (" + options_.host + ":" +
                       std::to_string(options_.port) + "): " + std::string(c->errstr);
        spdlog::warn("{}: {} failed: {}", options_.name,
                     job.args.empty() ? std::string() : job.args.front(), c->errstr);
        drop_connection();
        return result;
    }
    result.reply = copy_reply(reply);
    freeReplyObject(reply);
    if (custom_timeout) redisSetTimeout(c, to_timeval(options_.command_timeout));
    return result;
}

std::string RedisClient::execute_batch(const Job& job, std::vector<RedisReply>& replies) {
    std::string error;
    if (!ensure_connected(error)) return error;
    redisContext* c = ctx(context_);
    std::vector<const char*> argv;
    std::vector<size_t> argvlen;
    for (const auto& args : job.batch) {
        argv.clear();
        argvlen.clear();
        for (const auto& a : args) {
            argv.push_back(a.data());
            argvlen.push_back(a.size());
        }
        // Appending only fills hiredis's output buffer; the first redisGetReply writes it all.
        if (redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), argvlen.data()) !=
            REDIS_OK) {
            error = "redis pipeline could not be built: " + std::string(c->errstr);
            drop_connection();
            return error;
        }
    }
    replies.reserve(job.batch.size());
    for (std::size_t i = 0; i < job.batch.size(); ++i) {
        void* raw = nullptr;
        if (redisGetReply(c, &raw) != REDIS_OK || !raw) {
            error = "redis connection lost (" + options_.host + ":" +
                    std::to_string(options_.port) + ") after " + std::to_string(i) + " of " +
                    std::to_string(job.batch.size()) +
                    " pipelined replies: " + std::string(c->errstr);
            spdlog::warn("{}: pipeline of {} failed: {}", options_.name, job.batch.size(),
                         c->errstr);
            drop_connection();
            replies.clear();
            return error;
        }
        auto* reply = static_cast<redisReply*>(raw);
        replies.push_back(copy_reply(reply));
        freeReplyObject(reply);
    }
    return {};
}

}  // namespace parley
