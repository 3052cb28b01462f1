// EdgeProxy: an edge's REST routes. Every public HTTP request an edge does not serve itself (it
// serves the WebSocket, health and metrics) is sent to the primary's public listener as it came
// (method, target, body, the client's Authorization and content headers) and the primary's
// answer is relayed unchanged: status, error code and body, content and cache headers. So a
// client cannot tell which node answered (docs/cluster.md, "Edges: REST").
//
// The request body was already read under the edge's own limits (the JSON limit, or for
// uploads the media limit into a spool file), so the primary receives at most what a single
// node would have accepted, and checks its own limits again. Each forwarded request carries the
// cluster secret (X-Parley-Edge) and the client's address (X-Parley-Client), which the primary
// uses for its per-address limits only when the secret matches. Requests go on keep-alive
// connections from a pool (PrimaryConnections, at most kIdleMax idle), the whole exchange under
// one deadline (cluster.forward_timeout_ms); the answer is read up to a bound, whole (not
// streamed). A kept connection that fails before any byte of an answer is retried once on a
// new connection only for GET, HEAD and OPTIONS: a write is never sent twice. When the primary
// cannot be reached: 503 `unavailable` with Retry-After: 1; when it was reached but did not
// answer in time, the same 503 and a message saying the request may have been applied.
// /internal/ paths are never forwarded (404). While the edge's message bus (Redis) is down, a
// write to a room (any method but GET, HEAD and OPTIONS under /api/v1/rooms) is refused with the
// same 503 `unavailable` and Retry-After as a socket's `send`: the primary could commit it but
// not deliver it to the other edges in order.
// Owned by the edge app; handlers run on the network threads; the pool under its mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "server/api/http_types.hpp"
#include "server/cluster/primary_connections.hpp"

namespace parley {

class EdgeProxy {
  public:
    // `primary`: "http://host:port" (validated by ClusterSettings). `response_limit`: the
    // largest answer body relayed (a larger one is a 502).
    EdgeProxy(const std::string& primary, std::string secret, std::chrono::milliseconds timeout,
              std::uint64_t response_limit);

    awaitable<HttpResponse> forward(const RequestContext& ctx);
    // Whether the edge's message bus is up (set once, before serving); without it, room
    // writes are never refused.
    void set_bus_up(std::function<bool()> up) { bus_up_ = std::move(up); }

    // Prometheus text: forwarded requests by outcome, labelled with the node id.
    std::string render_metrics(const std::string& node) const;

  private:
    template <class Request>
    awaitable<HttpResponse> exchange(Request& req, const std::string& target);

    static constexpr std::size_t kIdleMax = 64;

    PrimaryConnections pool_;
    std::string secret_;
    std::chrono::milliseconds timeout_;
    std::uint64_t response_limit_;
    std::atomic<std::uint64_t> answered_{0};
    std::atomic<std::uint64_t> unreachable_{0};
    std::atomic<std::uint64_t> timed_out_{0};
    std::atomic<std::uint64_t> reused_{0};
    std::atomic<std::uint64_t> retried_{0};
    std::atomic<std::uint64_t> bus_down_{0};
    std::function<bool()> bus_up_;
};

// The client address of a request forwarded by an edge: the X-Parley-Client header when
// X-Parley-Edge holds the cluster secret (compared in constant time), else `peer`. The
// primary's HttpServer uses it for every route, so per-address limits see the client, not the
// edge.
std::string forwarded_client_address(const HttpRequest& req, const std::string& peer,
                                     const std::string& secret);

}  // namespace parley
