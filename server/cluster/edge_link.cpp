#include "server/cluster/edge_link.hpp"

#include <spdlog/spdlog.h>

namespace parley {

std::pair<std::string, std::string> primary_host_port(const std::string& primary) {
    std::string rest = primary.substr(primary.find("://") + 3);
    if (auto slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
    auto colon = rest.rfind(':');
    if (colon == std::string::npos || rest.back() == ']') return {rest, "80"};
    return {rest.substr(0, colon), rest.substr(colon + 1)};
}

EdgeLink::EdgeLink(const std::string& primary, std::string secret,
                   std::chrono::milliseconds timeout)
    : address_(primary),
      secret_(std::move(secret)),
      client_(primary_host_port(primary).first, primary_host_port(primary).second, timeout) {}

awaitable<HttpResult> EdgeLink::call(const std::string& route, nlohmann::json body) {
    HttpResult r =
        co_await client_.request(http::verb::post, "/internal/cluster/" + route, body, secret_);
    const bool answered = r.status != 0;
    const bool was_up = up_.exchange(answered);
    if (!answered) {
        failures_.fetch_add(1);
        if (was_up) spdlog::warn("cluster: primary {} unreachable: {}", address_, r.error);
    } else if (!was_up) {
        spdlog::info("cluster: primary {} reachable", address_);
    }
    if (r.status == 401) {
        // Our own secret was refused only if the route said so; a token refusal is 401 too,
        // but only on /session.
        if (route != "session")
            spdlog::error("cluster: primary {} refused the cluster secret", address_);
    }
    co_return r;
}

}  // namespace parley
