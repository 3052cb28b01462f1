#include "server/cluster/cluster_publisher.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace parley {

ClusterPublisher::ClusterPublisher(net::any_io_executor executor, const ClusterSettings& settings,
                                   RedisOptions redis)
    : strand_(net::make_strand(executor)),
      settings_(settings),
      maxlen_(std::to_string(settings.stream_maxlen)),
      retry_timer_(strand_),
      ping_timer_(strand_),
      redis_(strand_, std::move(redis)) {
    redis_.command({"PING"}, [](RedisResult) {});
    schedule_ping();
}

void ClusterPublisher::stop() {
    net::post(strand_, [this] {
        stopped_ = true;
        ping_timer_.cancel();
        retry_timer_.cancel();
    });
}

void ClusterPublisher::schedule_ping() {
    ping_timer_.expires_after(std::chrono::seconds(1));
    ping_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || stopped_) return;
        redis_.command({"PING"}, [](RedisResult) {});
        schedule_ping();
    });
}

ClusterPublisher::~ClusterPublisher() {
    std::lock_guard lock(mutex_);
    if (!queue_.empty()) {
        spdlog::warn("cluster: {} room events not published at shutdown (they are in SQLite)",
                     queue_.size());
    }
}

void ClusterPublisher::room_event(const RoomEvent& event) {
    enqueue(Event{settings_.stream_prefix + std::string(event.room_id),
                  event.kind,
                  event.seq,
                  std::string(event.account_id),
                  event.frame,
                  std::string(event.origin),
                  {}});
}

void ClusterPublisher::sessions_ended(const std::vector<std::string>& session_ids) {
    for (const auto& id : session_ids) {
        if (enqueue(Event{settings_.control_stream,
                          RoomEventKind::message,
                          0,
                          {},
                          nullptr,
                          {},
                          {"kind", "session_ended", "session", id}}))
            spdlog::info("cluster: session {} ended: published to {}", id,
                         settings_.control_stream);
    }
}

void ClusterPublisher::account_frame(const std::string& account_id,
                                     const std::shared_ptr<const std::string>& frame,
                                     bool notification) {
    if (!frame) return;
    enqueue(Event{settings_.control_stream,
                  RoomEventKind::message,
                  0,
                  {},
                  nullptr,
                  {},
                  {"kind", "account_frame", "account", account_id, "notification",
                   notification ? "1" : "0", "frame", *frame}});
}

bool ClusterPublisher::enqueue(Event event) {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= static_cast<std::size_t>(settings_.publish_buffer)) {
        ++stats_.dropped;
        if (!dropping_) {
            dropping_ = true;
            spdlog::error(
                "cluster: publish buffer full ({} events, Redis unreachable?): events are not "
                "published until it drains; first dropped: stream {} kind {} seq {}",
                queue_.size(), event.stream,
                event.control.empty() ? room_event_kind_name(event.kind) : event.control[1],
                event.seq);
        }
        return false;
    }
    queue_.push_back(std::move(event));
    if (in_flight_) return true;
    in_flight_ = true;
    net::post(strand_, [this] { send_batch(); });
    return true;
}

void ClusterPublisher::send_batch() {
    if (stopped_) return;  // what is queued stays in SQLite; the destructor logs how much
    std::vector<std::vector<std::string>> commands;
    {
        std::lock_guard lock(mutex_);
        // Only this chain pops the queue, so its head is stable while the commands are built.
        const std::size_t n =
            std::min(queue_.size(), static_cast<std::size_t>(settings_.publish_batch));
        if (n == 0) {
            in_flight_ = false;
            return;
        }
        commands.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            const Event& e = queue_[i];
            if (!e.control.empty()) {
                std::vector<std::string> args{"XADD", e.stream, "MAXLEN", "~", "10000", "*"};
                args.insert(args.end(), e.control.begin(), e.control.end());
                commands.push_back(std::move(args));
                continue;
            }
            std::vector<std::string> args{"XADD",   e.stream,
                                          "MAXLEN", "~",
                                          maxlen_,  "*",
                                          "kind",   room_event_kind_name(e.kind),
                                          "seq",    std::to_string(e.seq)};
            if (!e.account_id.empty()) {
                args.emplace_back("account");
                args.push_back(e.account_id);
            }
            if (!e.origin.empty()) {
                args.emplace_back("origin");
                args.push_back(e.origin);
            }
            if (e.frame) {
                args.emplace_back("frame");
                args.push_back(*e.frame);
            }
            commands.push_back(std::move(args));
        }
    }
    const std::size_t count = commands.size();
    redis_.pipeline(std::move(commands),
                    [this, count](std::string error, std::vector<RedisReply> replies) {
                        batch_done(count, std::move(error), std::move(replies));
                    });
}

void ClusterPublisher::batch_done(std::size_t count, std::string error,
                                  std::vector<RedisReply> replies) {
    if (!error.empty()) {
        bool first = false;
        {
            std::lock_guard lock(mutex_);
            ++stats_.failed_batches;
            first = !failing_;
            failing_ = true;
        }
        // Once per outage: the retries go on every publish_retry_ms.
        if (first) {
            spdlog::warn("cluster: publishing {} room events failed, retrying every {} ms: {}",
                         count, settings_.publish_retry_ms, error);
        } else {
            spdlog::debug("cluster: publish retry failed: {}", error);
        }
        retry_timer_.expires_after(std::chrono::milliseconds(settings_.publish_retry_ms));
        if (stopped_) return;
        retry_timer_.async_wait([this](const boost::system::error_code& ec) {
            if (!ec) send_batch();
        });
        return;
    }
    bool more = false;
    {
        std::lock_guard lock(mutex_);
        ++stats_.batches;
        if (failing_) {
            failing_ = false;
            spdlog::info("cluster: publishing to Redis again ({} room events queued)",
                         queue_.size());
        }
        for (std::size_t i = 0; i < count; ++i) {
            const Event& e = queue_.front();
            if (i < replies.size() && replies[i].is_error()) {
                // An error reply is Redis's final answer for that entry (a key of another type,
                // out of memory): sending it again would fail the same way.
                ++stats_.rejected;
                spdlog::error("cluster: Redis refused room event (stream {} kind {} seq {}): {}",
                              e.stream, room_event_kind_name(e.kind), e.seq, replies[i].str);
            } else {
                ++stats_.published;
            }
            queue_.pop_front();
        }
        if (dropping_ && queue_.size() < static_cast<std::size_t>(settings_.publish_buffer)) {
            dropping_ = false;
            spdlog::info("cluster: publish buffer below its bound again ({} queued)",
                         queue_.size());
        }
        more = !queue_.empty();
        if (!more) in_flight_ = false;
    }
    if (more) send_batch();
}

ClusterPublisher::Stats ClusterPublisher::stats() const {
    std::lock_guard lock(mutex_);
    Stats s = stats_;
    s.queued = queue_.size();
    return s;
}

std::string ClusterPublisher::render_metrics() const {
    const Stats s = stats();
    const std::string node = settings_.node_id.empty() ? settings_.role : settings_.node_id;
    return fmt::format(
        "# HELP parley_cluster_events_published_total Room events appended to Redis streams.\n"
        "# TYPE parley_cluster_events_published_total counter\n"
        "parley_cluster_events_published_total{{node=\"{0}\"}} {1}\n"
        "# HELP parley_cluster_events_dropped_total Room events not published: the publish "
        "buffer was full.\n"
        "# TYPE parley_cluster_events_dropped_total counter\n"
        "parley_cluster_events_dropped_total{{node=\"{0}\"}} {2}\n"
        "# HELP parley_cluster_events_rejected_total Room events Redis answered with an error.\n"
        "# TYPE parley_cluster_events_rejected_total counter\n"
        "parley_cluster_events_rejected_total{{node=\"{0}\"}} {3}\n"
        "# HELP parley_cluster_publish_failures_total Pipelines to Redis that failed and were "
        "sent again.\n"
        "# TYPE parley_cluster_publish_failures_total counter\n"
        "parley_cluster_publish_failures_total{{node=\"{0}\"}} {4}\n"
        "# HELP parley_cluster_publish_queued Room events waiting for Redis.\n"
        "# TYPE parley_cluster_publish_queued gauge\n"
        "parley_cluster_publish_queued{{node=\"{0}\"}} {5}\n"
        "# HELP parley_cluster_redis_up Whether the publisher's Redis connection is up.\n"
        "# TYPE parley_cluster_redis_up gauge\n"
        "parley_cluster_redis_up{{node=\"{0}\"}} {6}\n"
        "# HELP parley_cluster_redis_reconnects_total Redis connections made after the first.\n"
        "# TYPE parley_cluster_redis_reconnects_total counter\n"
        "parley_cluster_redis_reconnects_total{{node=\"{0}\"}} {7}\n",
        node, s.published, s.dropped, s.rejected, s.failed_batches, s.queued,
        redis_.connected() ? 1 : 0, redis_.reconnects());
}

}  // namespace parley
