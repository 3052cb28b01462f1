// EdgeFeature: the chat frames of an edge node's sockets. subscribe asks the primary whether
// the account is a member (as a single node checks its own store) and subscribes locally in
// the EdgeHub; send goes to the primary, which runs the same send path as for its own sockets
// and answers with the same ok or error code, relayed unchanged. While the primary cannot be
// reached, both answer {"type":"error","error":"unavailable","retryable":true,...}; so does
// send while the edge's Redis connection is down (the bus could not deliver it in order). Frames a
// single node serves that an edge does not serve yet (the document and presence topics,
// typing, ack, request_sync, sync, notifications) are answered with error "not_supported".
// Stateless beyond the hub; called from every network thread.
#pragma once

#include "server/cluster/edge_hub.hpp"
#include "server/cluster/edge_link.hpp"
#include "server/features/feature.hpp"

namespace parley {

class EdgeFeature : public Feature {
  public:
    EdgeFeature(EdgeHub& hub, EdgeLink& link) : hub_(hub), link_(link) {}

    std::string_view name() const override { return "edge-chat"; }
    std::vector<std::string> message_types() const override;
    awaitable<void> on_message(std::shared_ptr<Client> client, ClientMessage message) override;
    void on_close(const std::shared_ptr<Client>& client) override;

  private:
    awaitable<void> subscribe(std::shared_ptr<Client> client, ClientMessage msg);
    awaitable<void> send(std::shared_ptr<Client> client, ClientMessage msg);

    EdgeHub& hub_;
    EdgeLink& link_;
};

}  // namespace parley
