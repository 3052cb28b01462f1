// EdgeLink: an edge's client of the primary's internal link (server/cluster/cluster_routes and
// cluster_room_routes): token checks, membership, sends, room frames, presence and gap fills,
// each one HTTP/1.1 request with a deadline and the cluster secret as its bearer token, on a
// keep-alive connection from a pool (PrimaryConnections: at most kIdleMax idle ones are kept; a
// busy moment opens more). A kept connection the primary has closed meanwhile (its idle
// timeout) fails before any byte of an answer: the request is then sent once more on a new
// connection. (Every internal
// route is safe to repeat: a send carries its client_msg_id, the rest change nothing twice.)
// A failure to reach the primary is a value (status 0), never an exception; up() says whether
// the last request got an answer (health, metrics). Owned by the edge app; coroutines on the
// caller's executor; thread-safe (the pool under a mutex, each connection used by one request
// at a time).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "botclient/bot/http_client.hpp"
#include "common/net.hpp"
#include "server/cluster/primary_connections.hpp"

namespace parley {

// What an edge answers, on a socket (`unavailable`, retryable) or over REST (503 with
// Retry-After), to a write it refuses while its message bus (Redis) is down.
inline constexpr std::string_view kEdgeBusDownMessage =
    "the message bus (Redis) cannot be reached; retry shortly";

// "http://host:port" (validated by ClusterSettings) -> host, port (80 when absent).
std::pair<std::string, std::string> primary_host_port(const std::string& primary);

class EdgeLink {
  public:
    // `primary`: "http://host:port".
    EdgeLink(const std::string& primary, std::string secret, std::chrono::milliseconds timeout);

    // POSTs `body` to /internal/cluster/<route>.
    awaitable<HttpResult> call(const std::string& route, nlohmann::json body);

    bool up() const { return up_.load(); }
    std::uint64_t failures() const { return failures_.load(); }
    std::uint64_t requests() const { return requests_.load(); }
    // Connections opened to the primary (requests() / connections(): the pool's reuse).
    std::uint64_t connections() const { return pool_.connections(); }
    const std::string& address() const { return address_; }
    // Prometheus text of the link's counters, labelled with the node id.
    std::string render_metrics(const std::string& node) const;

  private:
    static constexpr std::size_t kIdleMax = 64;
    struct Exchange {
        HttpResult result;
        bool reusable = false;   // the answer was whole and the primary keeps the connection
        bool got_bytes = false;  // some of an answer arrived (no resend then)
    };
    awaitable<Exchange> exchange(beast::tcp_stream& stream,
                                 const http::request<http::string_body>& req);

    std::string address_;
    std::string secret_;
    std::chrono::milliseconds timeout_;
    PrimaryConnections pool_;
    std::atomic<bool> up_{false};
    std::atomic<std::uint64_t> failures_{0};
    std::atomic<std::uint64_t> requests_{0};
};

}  // namespace parley
