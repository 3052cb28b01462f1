// ClusterPublisher: the cluster primary's RoomEventSink, and the writer of the control stream
// (ended sessions, frames for an account's sockets). Every committed room event that
// RoomHub releases is appended to the room's Redis stream (stream_prefix + room id) with
// `XADD <stream> MAXLEN ~ <stream_maxlen> * kind <kind> seq <seq> [account <id>] [origin
// <edge socket>] [frame <frame>]` (docs/cluster.md, "Room streams").
//
// The event loop never waits on Redis: room_event() only appends to a queue under a short
// lock. One pipeline at a time is in flight on the RedisClient's thread, carrying up to
// publish_batch events; events that arrive meanwhile form the next batch, so a burst costs one
// round trip per batch, not per event. Order: events are queued under the room's lock in
// release order and sent in queue order on one connection, so each stream is in seq order.
// A failed pipeline (Redis down, timeout) keeps its events at the head of the queue and is
// sent again after publish_retry_ms; nothing queued is lost while Redis is away, up to
// publish_buffer events (beyond it new events are counted as dropped: they remain in SQLite,
// where edges fill gaps from). A pipeline cut mid-way may have appended some of its entries
// already; the retry appends them again, and readers drop entries whose seq they have seen.
//
// Owned by the server app (primary role only); room_event() from any thread, the pipeline
// chain, the timers and the Redis replies on one strand of the given executor; destroyed after
// the event loop has stopped.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "server/cluster/redis_client.hpp"
#include "server/features/room_event_sink.hpp"
#include "server/settings/cluster_settings.hpp"

namespace parley {

class ClusterPublisher : public RoomEventSink {
  public:
    struct Stats {
        std::uint64_t published = 0;       // entries Redis accepted
        std::uint64_t dropped = 0;         // events not queued: the buffer was full
        std::uint64_t rejected = 0;        // entries Redis answered with an error (not retried)
        std::uint64_t batches = 0;         // pipelines answered
        std::uint64_t failed_batches = 0;  // pipelines without an answer (sent again)
        std::size_t queued = 0;            // waiting or in flight
    };

    ClusterPublisher(net::any_io_executor executor, const ClusterSettings& settings,
                     RedisOptions redis);
    ~ClusterPublisher() override;

    void room_event(const RoomEvent& event) override;
    // Appends `XADD parley:control MAXLEN ~ 10000 * kind session_ended session <id>` for each
    // id, in the same queue as room events (docs/cluster.md, "Sessions and tokens").
    void sessions_ended(const std::vector<std::string>& session_ids);
    // Appends `XADD parley:control MAXLEN ~ 10000 * kind account_frame account <id>
    // notification 0|1 frame <frame>`: a frame for every socket of the account (only those
    // subscribed to account:me:notifications when `notification`), which every edge delivers
    // to that account's sockets (docs/cluster.md, "Account frames").
    void account_frame(const std::string& account_id,
                       const std::shared_ptr<const std::string>& frame, bool notification);
    // At shutdown: no further pipelines, retries or pings (the event loop can run dry).
    void stop();

    Stats stats() const;
    bool redis_connected() const { return redis_.connected(); }
    std::uint64_t redis_reconnects() const { return redis_.reconnects(); }
    // Prometheus text of the stats, labelled with the node id.
    std::string render_metrics() const;

  private:
    struct Event {
        std::string stream;
        RoomEventKind kind;
        std::int64_t seq;
        std::string account_id;
        std::shared_ptr<const std::string> frame;
        std::string origin;  // typing from an edge's socket
        // Non-empty: a control stream entry with these fields and values, not a room event.
        std::vector<std::string> control;
    };
    // Queues one event under mutex_ (false: the buffer is full; counted and logged).
    bool enqueue(Event event);

    // Every second: a PING, so that the connection (and health's "redis" field) is known
    // while no room event flows.
    void schedule_ping();
    // On the executor: sends the head of the queue as one pipeline.
    void send_batch();
    void batch_done(std::size_t count, std::string error, std::vector<RedisReply> replies);

    net::strand<net::any_io_executor> strand_;
    const ClusterSettings& settings_;
    const std::string maxlen_;
    mutable std::mutex mutex_;
    std::deque<Event> queue_;
    bool in_flight_ = false;  // a send_batch chain is running (pipeline or retry wait)
    bool dropping_ = false;   // the buffer is full (logged once per episode)
    bool failing_ = false;    // pipelines are failing (logged once per episode)
    bool stopped_ = false;    // strand only
    Stats stats_;
    net::steady_timer retry_timer_;  // only the send_batch chain touches it
    net::steady_timer ping_timer_;
    // Last: destroyed first, so its thread has stopped before the rest goes.
    RedisClient redis_;
};

}  // namespace parley
