// RoomEventSink: where RoomHub hands every committed room event after it has released it to
// its own sockets, in the room's order. A single node has none; a cluster primary's is the
// ClusterPublisher (server/cluster), which appends the events to the room streams in Redis
// (docs/cluster.md, "Room streams"). Called from any network thread while RoomHub holds the
// room's lock: an implementation queues and returns, it never blocks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace parley {

enum class RoomEventKind {
    message,
    message_removed,
    room_changed,
    room_deleted,
    member_removed,
    typing,
    doc_patch,  // a patch frame of room:{id}:doc; `seq` is the version it produces
    presence    // the room's coalesced online list changed
};

// The stream entry's "kind" field.
const char* room_event_kind_name(RoomEventKind kind);

struct RoomEvent {
    RoomEventKind kind;
    std::string_view room_id;
    std::int64_t seq = 0;         // message and message_removed: the message's seq; doc_patch:
                                  // the document version
    std::string_view account_id;  // member_removed and typing: whose
    // The frame a socket of the room receives (byte for byte), or null when the event has no
    // frame of its own (room_changed: members or title changed, the document is re-read).
    std::shared_ptr<const std::string> frame;
    // typing from an edge's socket: Client::relay_origin() of that socket, so that the edge
    // skips only it.
    std::string_view origin;
};

class RoomEventSink {
  public:
    virtual ~RoomEventSink() = default;
    virtual void room_event(const RoomEvent& event) = 0;
};

}  // namespace parley
