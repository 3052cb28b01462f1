// EdgeFeature: the chat frames of an edge node's sockets, answered as a single node answers
// them (docs/cluster.md, "Edges: room frames").
//
// - subscribe to room:{id}:chat, :typing or :presence asks the primary whether the account is a
//   member (as a single node checks its own store) and subscribes locally in the EdgeHub; a
//   presence subscriber first gets the room's cluster-wide online list, as the primary answers
//   this edge's report of its accounts. room:{id}:doc asks the primary for the frames of the
//   version the client holds (its missed patches, or the whole document) and continues from the
//   stream's patches. account:me:notifications is local: the primary's notifications arrive on
//   the control stream (Notifier::deliver).
// - send goes to the primary, which runs the same send path as for its own sockets and answers
//   with the same ok or error code, relayed unchanged.
// - typing, ack, request_sync and sync are handled by the primary's own ChatFeature
//   (`/internal/cluster/frame`) and its answer frames are relayed byte for byte.
// - A socket opened on /api/v1/rooms/{id}/ws is subscribed to the room's four topics, or gets
//   one not_found error frame, as on one node.
// While the primary cannot be reached, every frame that needs it is answered with
// {"type":"error","error":"unavailable","retryable":true,...}; so are send and typing while the
// edge's Redis connection is down (the bus could not deliver them in order). Stateless beyond
// the hub and notifier; called from every network thread.
#pragma once

#include "server/cluster/edge_hub.hpp"
#include "server/cluster/edge_link.hpp"
#include "server/features/feature.hpp"
#include "server/features/room_service.hpp"

namespace parley {

class EdgeFeature : public Feature {
  public:
    EdgeFeature(net::any_io_executor executor, EdgeHub& hub, EdgeLink& link, Notifier& notifier)
        : executor_(std::move(executor)), hub_(hub), link_(link), notifier_(notifier) {}

    std::string_view name() const override { return "chat"; }
    std::vector<std::string> message_types() const override;
    void on_open(const std::shared_ptr<Client>& client) override;
    awaitable<void> on_message(std::shared_ptr<Client> client, ClientMessage message) override;
    void on_close(const std::shared_ptr<Client>& client) override;

  private:
    awaitable<void> subscribe(std::shared_ptr<Client> client, ClientMessage msg);
    // A member's subscription to one room topic (membership already known for `last_seq` >=
    // 0, or checked by the primary's doc answer); false after an error frame was sent.
    awaitable<bool> subscribe_room(std::shared_ptr<Client> client, nlohmann::json id,
                                   const std::string& room_id, RoomTopic kind,
                                   std::int64_t last_seq, std::optional<std::int64_t> version,
                                   std::string position);
    awaitable<void> send(std::shared_ptr<Client> client, ClientMessage msg);
    awaitable<void> relay(std::shared_ptr<Client> client, ClientMessage msg);
    awaitable<void> open_room(std::shared_ptr<Client> client, std::string room_id);

    net::any_io_executor executor_;
    EdgeHub& hub_;
    EdgeLink& link_;
    Notifier& notifier_;
};

}  // namespace parley
