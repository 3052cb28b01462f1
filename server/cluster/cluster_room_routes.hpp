// The primary's internal routes for the room frames of edge sockets beyond send (docs/cluster.md,
// "Edges: room frames"): the chat frames that answer the caller (typing, ack, request_sync,
// sync) run through the primary's own ChatFeature and come back as the exact frames a socket
// of the primary would have received; the document topic's frames for a subscriber holding a
// version; the rooms whose documents edges read; the accounts online on each edge. Same rules as
// cluster_routes.hpp (cluster secret, constant-time compare, 401 otherwise); registered with
// them by the server app; handlers run on the network threads.
#pragma once

#include <chrono>
#include <string>

#include "server/api/room_routes.hpp"
#include "server/api/router.hpp"

namespace parley {

// How long a document an edge asked for is kept up to date (and published) without a further
// request, and how long an edge's report of its online accounts counts.
inline constexpr std::chrono::seconds kRemoteDocumentKeep{30};
inline constexpr std::chrono::seconds kRemotePresenceKeep{15};

void add_cluster_room_routes(Router& router, ChatContext& chat, std::string secret);

}  // namespace parley
