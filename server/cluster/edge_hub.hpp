// EdgeHub: an edge node's live side of rooms. Local sockets subscribe here (after the primary
// has confirmed membership); one reader coroutine reads the streams of every room with a local
// subscriber (`XREAD BLOCK read_block_ms STREAMS <room streams> <last ids>` on its own Redis
// connection) and delivers each entry's frame to the room's local subscribers.
//
// Order and gaps: per room the hub keeps the last delivered message seq. A message entry with
// seq <= last is a duplicate (a publisher retry, the stream read from its start) and is
// skipped; one with seq > last + 1 means entries are missing (trimmed by MAXLEN, lost in a
// Redis restart without persistence, dropped by a full publish buffer): the missing frames are
// fetched from the primary's SQLite (EdgeLink "messages") and delivered first, so sockets see
// the same gap-free order as on one node. A room's first read starts where its stream ended
// before the primary answered the subscription (stream_position(), fetched once on a second
// connection), so it reads only what came after; the few entries between that position and the
// primary's answer are skipped by the same seq check. A room new to the hub wakes the blocked
// XREAD at once (an entry on this edge's own wake stream, which every read includes), so a new
// subscription does not wait up to read_block_ms. When Redis cannot tell the position, the
// room is read from its stream's start (at most stream_maxlen entries: messages and patches
// skipped by seq and version, other entries older than the subscription by their id's time).
// After a Redis error the
// reader waits and reads again from the ids it had, so a Redis restart loses nothing the
// publisher appends after it. Frames other than messages (removals, typing, membership,
// deletion) are delivered as they come.
//
// Documents (room:{id}:doc): the primary publishes every patch of a document an edge reads as a
// doc_patch entry whose seq is the version it produces. A subscriber starts from the frames the
// primary answered for its version (subscribe_doc) and then gets each patch with a higher
// version; a version gap is filled by asking the primary for the patches after the last version
// delivered (or the whole document when its history no longer has them). The hub keeps the
// last kDocHistory patch frames of each room, to bridge a subscriber whose answer from the
// primary is older than what the reader already delivered.
//
// Presence: the stream's presence entries (the primary's coalesced list, edges' accounts
// included) go to presence subscribers. The hub reports the accounts subscribed here per room
// to the primary (`presence`), at once when a room's set changes (within 200 ms) and every 5 s
// for all rooms; a report counts for 15 s, so a dead edge drops out within that. The answer
// carries each room's last published list and its version (which grows with every
// publication). While Redis is away the hub reports all rooms every second and delivers an
// answered list newer than the last delivered, so its presence subscribers still follow the
// primary's lists; the stream's presence entries are delivered only when newer too, so the
// older ones Redis delivers when it returns are skipped. Every 5 s it
// tells the primary which documents are read here (`docs`).
//
// Every read also carries the control stream (cluster.control_stream), on which the primary
// publishes ended sessions and frames for an account's sockets: the handlers close the
// sessions' sockets and deliver the frames within one read (docs/cluster.md). Owned by the edge
// app; subscribe/unsubscribe/drop_client from any thread (one mutex); the reader, the reporter,
// their timers and the Redis replies on one strand.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/net.hpp"
#include "server/cluster/edge_link.hpp"
#include "server/cluster/redis_client.hpp"
#include "server/features/feature.hpp"
#include "server/features/room_hub.hpp"
#include "server/settings/cluster_settings.hpp"

namespace parley {

class EdgeHub {
  public:
    struct Stats {
        std::uint64_t entries_read = 0;
        std::uint64_t delivered = 0;   // frames handed to sockets
        std::uint64_t duplicates = 0;  // message entries skipped (seq already delivered)
        std::uint64_t gap_fills = 0;   // gaps filled from the primary
        std::uint64_t gap_failures = 0;
        std::uint64_t read_errors = 0;
        std::uint64_t doc_gap_fills = 0;
        std::uint64_t presence_reports = 0;
        std::uint64_t presence_report_failures = 0;
    };

    EdgeHub(net::any_io_executor executor, const ClusterSettings& settings, RedisOptions redis,
            EdgeLink& link);

    // Where the room's stream ends now, asked before the primary is: empty when the room is
    // read here already or Redis cannot say (the room is then read from its stream's start).
    awaitable<std::string> stream_position(const std::string& room_id);
    // `last_seq`: the room's last seq when the primary confirmed membership (messages up to it
    // are history, not live). `position`: stream_position() asked before the primary.
    void subscribe(const std::shared_ptr<Client>& client, const std::string& room_id,
                   RoomTopic topic, std::int64_t last_seq, const std::string& position);
    // The document topic: `frames` (with `version`) are what the primary answered for the
    // version the client holds. Sends them, then the patches this hub delivered since, and
    // subscribes. False (nothing sent) when this hub is ahead of the answer by more than it
    // keeps: the caller asks the primary again.
    bool subscribe_doc(const std::shared_ptr<Client>& client, const std::string& room_id,
                       const std::vector<std::shared_ptr<const std::string>>& frames,
                       std::int64_t version, const std::string& position);
    // The accounts subscribed to any topic of the room here (a presence report).
    std::vector<std::string> local_accounts(const std::string& room_id) const;
    const std::string& node() const { return node_; }
    // How the primary names a socket of this edge in what its frames publish (a typing
    // entry's `origin`), so that the reader skips exactly that socket.
    std::string origin(const Client& client) const {
        return node_ + "/" + std::to_string(client.id());
    }
    void unsubscribe(const Client& client, const std::string& room_id, RoomTopic topic);
    void drop_client(const Client& client);

    // Called on the reader's strand for each session ended on the primary, read from the
    // control stream. Set before start().
    void set_session_ended_handler(std::function<void(const std::string& session_id)> handler) {
        session_ended_ = std::move(handler);
    }
    // Called on the reader's strand for each frame the primary sent to an account's sockets,
    // read from the control stream. Set before start().
    using AccountFrameHandler =
        std::function<void(const std::string& account_id,
                           const std::shared_ptr<const std::string>& frame, bool notification)>;
    void set_account_frame_handler(AccountFrameHandler handler) {
        account_frame_ = std::move(handler);
    }

    void start();
    void stop();

    Stats stats() const;
    bool redis_connected() const { return redis_.connected(); }
    std::string render_metrics() const;

  private:
    static constexpr std::size_t kDocHistory = 100;
    struct Subscriber {
        std::weak_ptr<Client> client;
        std::string account_id;
        std::set<RoomTopic> topics;
        std::int64_t doc_from = 0;  // doc patches up to this version were sent already
        // Messages up to this seq were committed before the subscription (the primary's
        // last_seq when it was made): not live for this socket, even if the room's reader
        // releases them only now, as a single node never sends them to a new subscriber.
        std::int64_t chat_from = 0;
    };
    struct Room {
        std::unordered_map<std::uint64_t, Subscriber> subscribers;
        std::string last_id = "0";          // stream position read so far
        std::int64_t last_seq = -1;         // last message delivered; -1: not known yet
        std::int64_t doc_version = -1;      // last doc patch delivered; -1: not known yet
        std::int64_t since_ms = 0;          // unix ms of the first subscription, less a slack
        std::int64_t presence_version = 0;  // of the last presence list delivered
        std::deque<std::pair<std::int64_t, std::shared_ptr<const std::string>>> doc_history;
    };
    struct Entry {
        std::string room_id;
        std::string id;
        std::map<std::string, std::string> fields;
    };

    // Under mutex_: a room the hub did not read, starting at `position`.
    Room& add_room(const std::string& room_id, const std::string& position);
    // Ends the reader's blocked XREAD so it reads the rooms added since (strand).
    void wake();
    awaitable<void> read_loop();
    awaitable<RedisResult> read(std::vector<std::string> args, std::chrono::milliseconds timeout);
    awaitable<void> handle(const Entry& e);
    // The entries of the control stream in one XREAD answer.
    void read_control(const RedisReply& entries);
    awaitable<void> fill_gap(const std::string& room_id, std::int64_t last, std::int64_t upto);
    // Sends `frame` to the room's subscribers of `topic` (all topics when `any`), except the
    // socket named by `except_origin` (origin()) when it is one of this edge's.
    void deliver(const std::string& room_id, RoomTopic topic,
                 const std::shared_ptr<const std::string>& frame, bool any = false,
                 const std::string& except_origin = {});
    void release_message(const std::string& room_id, std::int64_t seq,
                         const std::shared_ptr<const std::string>& frame);
    // A doc_patch entry: delivered in version order, a gap filled from the primary first.
    awaitable<void> handle_doc_patch(const std::string& room_id, std::int64_t version,
                                     const std::shared_ptr<const std::string>& frame);
    // Under mutex_: delivers a doc patch frame of `version` to the room's doc subscribers that
    // lack it and remembers it.
    void release_doc(Room& room, std::int64_t version,
                     const std::shared_ptr<const std::string>& frame);
    static bool has_doc_subscriber(const Room& room);
    static std::vector<std::string> accounts_of(const Room& room);
    // Under mutex_: the room's set of local accounts may have changed.
    void presence_changed(const std::string& room_id);
    awaitable<void> report_loop();
    awaitable<void> report_presence(bool all);
    // The "published" lists of a presence answer, delivered where newer than what was.
    void deliver_published(const nlohmann::json& published);
    awaitable<void> report_documents();

    net::strand<net::any_io_executor> strand_;
    const ClusterSettings& settings_;
    EdgeLink& link_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, Room> rooms_;
    std::unordered_map<std::uint64_t, std::set<std::string>> rooms_of_client_;
    Stats stats_;
    std::atomic<bool> stopping_{false};
    bool read_failing_ = false;  // reader coroutine only
    // The control stream read so far (reader only): empty until its last entry at start is
    // known, so an edge acts on sessions ended after it started, not on old ones.
    std::string control_last_id_;
    std::function<void(const std::string&)> session_ended_;
    AccountFrameHandler account_frame_;
    std::string node_;
    // This edge's wake stream (control_stream + ":wake:" + node) and how far the reader read
    // it (reader only).
    std::string wake_key_;
    std::string wake_last_id_ = "0-0";
    // Rooms whose local accounts changed since the last presence report, with what was last
    // reported per room (so a change back and forth within a tick is still one report).
    std::set<std::string> presence_dirty_;
    std::unordered_map<std::string, std::vector<std::string>> presence_reported_;
    net::steady_timer wait_timer_;
    net::steady_timer report_timer_;
    RedisClient commands_;  // positions and wakes, never blocked by the reader
    RedisClient redis_;     // the reader's; last: its thread stops first
};

}  // namespace parley
