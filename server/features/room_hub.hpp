// RoomHub: the live side of rooms — who is subscribed to which topic, the room document and
// its versions, ordered fan-out of committed messages, presence and typing.
//
// Topics (api.md): room:{id}:chat (message frames), room:{id}:doc (patch frames: the first is a
// whole-document replace, then RFC 6902 ops, each with the new version), room:{id}:presence,
// room:{id}:typing. Committed messages may complete out of order on different threads;
// message_committed() holds each until every lower sequence number has been released, so every
// subscriber receives the same order. Each frame is serialized once and shared by all
// recipients. A document keeps its last chat.doc_history versions of ops: a client resuming
// from a version in that window gets exactly the missed patches, an older one the whole
// document. Presence changes are coalesced per room over chat.presence_interval_ms.
// The document is kept only where it is read: a room whose sockets all take chat frames alone
// (the common case, and the cost of every message otherwise) has none. While a document exists
// and nobody subscribes to it, new messages wait in a list and are applied, with their versions
// and history, when someone reads it; after chat.doc_history of them a resume could no longer be
// served from the history anyway, so the document is dropped instead. A dropped document is
// rebuilt from the store with a version above every version handed out before, so a client
// holding an old one gets the whole document.
// Every committed event also goes to the optional RoomEventSink (a cluster primary publishes
// it to Redis), from the same place and in the same order as the local fan-out; a primary also
// keeps the documents edges read and counts the accounts edges report online.
// Owned by the server app; thread-safe (a mutex per room, one for the room table).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "server/data/account_store.hpp"
#include "server/data/room_store.hpp"
#include "server/features/client_registry.hpp"
#include "server/features/room_event_sink.hpp"
#include "server/settings/server_config.hpp"

namespace parley {

enum class RoomTopic { chat, doc, presence, typing };

// Parses "room:{id}:{field}"; nullopt when it is not a room topic.
std::optional<std::pair<std::string, RoomTopic>> parse_room_topic(const std::string& topic);
std::string room_topic_name(const std::string& room_id, RoomTopic topic);

nlohmann::json message_json(const Message& m);
// The chat frame of a message: message_json(m) with "type":"message", serialized (written
// directly, byte for byte what dumping that JSON gives).
std::shared_ptr<const std::string> message_frame(const Message& m);

class RoomHub {
  public:
    RoomHub(net::any_io_executor executor, const ChatSettings& settings, RoomStore& rooms,
            AccountStore& accounts, ClientRegistry& clients);

    // Before the first event (start-up): where committed events are also handed; null (the
    // default) for a single node.
    void set_event_sink(RoomEventSink* sink) { sink_ = sink; }

    // Subscribes; for doc topics sends the document (or the patches since `version`).
    void subscribe(const std::shared_ptr<Client>& client, const std::string& room_id,
                   RoomTopic topic, std::optional<std::int64_t> version);
    void unsubscribe(const Client& client, const std::string& room_id, RoomTopic topic);
    // Everything of a closing socket.
    void drop_client(const Client& client);

    // A message is committed: deliver it (in sequence order) and patch the document.
    void message_committed(const Message& message);
    // A message was removed (RoomStore::remove_message committed): chat subscribers get
    // message_removed {"room_id","seq","removed_by"}, the document loses it (a remove op).
    void message_removed(const std::string& room_id, std::int64_t seq,
                         const std::string& removed_by);
    // Members or title changed in the store: diff the document and broadcast the patch.
    void room_changed(const std::string& room_id);
    // The room is gone: tell subscribers and forget it.
    void room_deleted(const std::string& room_id);
    // A member left: their sockets stop receiving the room.
    void member_removed(const std::string& room_id, const std::string& account_id);

    // "I am typing" (`active`, at most one per chat.typing_interval_ms while typing goes on)
    // or "I stopped" (forwarded once, and only after a forwarded start), to the typing topic.
    void typing(const Client& client, const std::string& room_id, bool active = true);
    // Sends `frame` to every socket of the room's members that have `role`, subscribed or not.
    void send_to_role(const std::string& room_id, const std::string& role,
                      const nlohmann::json& frame);
    // Sends to every socket subscribed to any topic of the room.
    void broadcast(const std::string& room_id, const nlohmann::json& frame);

    // Accounts with a socket subscribed to the room (presence).
    std::vector<std::string> online(const std::string& room_id) const;
    // Whether any socket is subscribed to any topic of the room.
    bool has_subscribers(const std::string& room_id) const;
    std::size_t subscriber_count(const std::string& room_id) const;
    std::map<std::string, std::size_t> subscriber_counts() const;

    // The current document and its version (for GET /rooms/{id}).
    std::pair<nlohmann::json, std::int64_t> document(const std::string& room_id);

    // Cluster primary (docs/cluster.md, "Edges: documents"): the patch frames a subscriber
    // holding `version` gets (the missed patches, or the whole document), and the current
    // version. The room's document is then kept up to date, its patches published to the
    // sink, for `keep` even while no local socket reads it; keep_documents() extends that.
    struct DocumentFrames {
        std::vector<std::shared_ptr<const std::string>> frames;
        std::int64_t version = 0;
    };
    DocumentFrames document_frames(const std::string& room_id, std::optional<std::int64_t> version,
                                   std::chrono::milliseconds keep);
    void keep_documents(const std::vector<std::string>& room_ids, std::chrono::milliseconds keep);
    // Cluster primary: the accounts online in the room on another node, as that node reported
    // them, counted in the room's presence until `until` (a node that stops reporting drops
    // out). A change is coalesced and published like a local one. Returns the room's online
    // list now, cluster-wide, for the reporting node to show its new subscribers: when that
    // list is one the coalesced updates never published (an account left and came back within
    // the interval), the next update is published even if unchanged, as for a local subscriber,
    // so the node's other subscribers do not keep the older list.
    std::vector<std::string> set_remote_online(const std::string& room_id, const std::string& node,
                                               std::vector<std::string> accounts,
                                               std::chrono::steady_clock::time_point until);
    // Cluster primary: the last online list published (coalesced) and its version, which
    // grows with every publication, across restarts too (its stream entries carry it, so an
    // edge told a list by the internal link skips the older entries Redis delivers later).
    struct PublishedPresence {
        std::int64_t version = 0;
        std::vector<std::string> online;
    };
    PublishedPresence published_presence(const std::string& room_id) const;
    // Cluster primary, once a second: rooms whose remote reports expired get their presence
    // recomputed.
    void expire_remote_online();

  private:
    struct Subscriber {
        std::weak_ptr<Client> client;
        std::string account_id;
        std::set<RoomTopic> topics;
    };
    struct Live {
        std::mutex mutex;
        bool loaded = false;   // next_release is tracked
        bool has_doc = false;  // doc, version and history are kept
        nlohmann::json doc;
        std::int64_t version = 0;
        std::deque<std::pair<std::int64_t, nlohmann::json>> history;  // (version, ops)
        std::int64_t next_release = 0;                                // next seq to deliver
        std::map<std::int64_t, Message> pending;                      // committed, held back
        std::vector<Message> deferred;  // released, not yet applied to doc (no doc subscriber)
        std::unordered_map<std::uint64_t, Subscriber> subscribers;
        struct Typist {
            std::chrono::steady_clock::time_point at;  // the last start forwarded
            bool active = false;                       // a start forwarded, no stop since
        };
        std::map<std::string, Typist> last_typing;
        bool presence_scheduled = false;
        std::vector<std::string> last_presence;
        // A new presence subscriber was told a list other than last_presence: the next
        // coalesced update is sent even if the list is back to last_presence by then.
        bool presence_resend = false;
        std::int64_t presence_version = 0;  // cluster primary: of last_presence
        // Cluster primary only: edges read the document until then (its patches are
        // published), and the accounts each other node reports online here.
        std::chrono::steady_clock::time_point remote_doc_until{};
        struct RemoteOnline {
            std::vector<std::string> accounts;
            std::chrono::steady_clock::time_point until;
        };
        std::map<std::string, RemoteOnline> remote_online;
    };

    std::shared_ptr<Live> live(const std::string& room_id);
    std::shared_ptr<Live> find_live(const std::string& room_id) const;
    // Under l.mutex: start tracking the release order; also build (or bring up to date) the
    // document.
    void ensure_tracked(const std::string& room_id, Live& l);
    void ensure_document(const std::string& room_id, Live& l);
    void apply_message(const std::string& room_id, Live& l, const Message& m);
    // The next message in sequence order goes out: remembered, framed, sent to the room's chat
    // subscribers and the bus, and applied to (or deferred for) the document. Under l.mutex.
    void release(Live& l, const Message& m);
    void apply_deferred(const std::string& room_id, Live& l);
    void drop_document(Live& l);
    nlohmann::json build_document(const std::string& room_id);
    static bool has_topic_subscriber(const Live& l, RoomTopic topic);
    // Under l.mutex: whether the document is read, here or (cluster primary) on an edge.
    bool document_read(const Live& l) const;
    // Under l.mutex: the patch frames for a subscriber holding `version` (api.md).
    std::vector<std::shared_ptr<const std::string>> doc_frames(const std::string& room_id,
                                                               const Live& l,
                                                               std::optional<std::int64_t> version);
    // Under l.mutex: the sorted online list (local subscribers and live remote reports).
    static std::vector<std::string> online_list(const Live& l);
    void apply_ops(const std::string& room_id, Live& l, nlohmann::json ops);  // under l.mutex
    void send_to(Live& l, RoomTopic topic, const std::shared_ptr<const std::string>& frame,
                 std::uint64_t except = 0);
    void schedule_presence(const std::string& room_id, const std::shared_ptr<Live>& l);
    // Hands an event to the sink, if any (under the room's lock where there is one, so the
    // sink sees the room's order).
    void publish(const RoomEvent& event) {
        if (sink_) sink_->room_event(event);
    }
    void send_presence(const std::string& room_id, const std::shared_ptr<Live>& l);

    net::any_io_executor executor_;
    const ChatSettings& settings_;
    RoomStore& rooms_;
    AccountStore& accounts_;
    ClientRegistry& clients_;
    RoomEventSink* sink_ = nullptr;
    // Cluster primary: the last presence version given (starts at the start time in µs).
    std::atomic<std::int64_t> presence_version_;
    mutable std::mutex table_mutex_;
    std::unordered_map<std::string, std::shared_ptr<Live>> live_;
    std::unordered_map<std::uint64_t, std::set<std::string>> rooms_of_client_;
};

}  // namespace parley
