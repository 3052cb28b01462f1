// EdgeLink: an edge's client of the primary's internal link (server/cluster/cluster_routes):
// token checks, membership, sends and gap fills, each one HTTP request with a deadline and the
// cluster secret as its bearer token. A failure to reach the primary is a value (status 0),
// never an exception; up() says whether the last request got an answer (health, metrics).
// Owned by the edge app; coroutines on the caller's executor; thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "botclient/bot/http_client.hpp"
#include "common/net.hpp"

namespace parley {

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
    const std::string& address() const { return address_; }

  private:
    std::string address_;
    std::string secret_;
    HttpClient client_;
    std::atomic<bool> up_{false};
    std::atomic<std::uint64_t> failures_{0};
};

}  // namespace parley
