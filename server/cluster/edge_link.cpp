#include "server/cluster/edge_link.hpp"

#include <fmt/format.h>
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
      timeout_(timeout),
      pool_(primary_host_port(primary).first, primary_host_port(primary).second, kIdleMax) {}

awaitable<EdgeLink::Exchange> EdgeLink::exchange(beast::tcp_stream& stream,
                                                 const http::request<http::string_body>& req) {
    Exchange out;
    boost::system::error_code ec;
    stream.expires_after(timeout_);
    co_await http::async_write(stream, req, net::redirect_error(use_awaitable, ec));
    if (ec) {
        out.result.error = "sending " + std::string(req.target()) + ": " + ec.message();
        co_return out;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    co_await http::async_read(stream, buffer, parser, net::redirect_error(use_awaitable, ec));
    out.got_bytes = parser.got_some() || buffer.size() > 0;
    if (ec) {
        out.result.error =
            "reading the answer to " + std::string(req.target()) + ": " + ec.message();
        co_return out;
    }
    auto& res = parser.get();
    out.result.status = res.result_int();
    out.result.retry_after = std::string(res[http::field::retry_after]);
    out.result.body = nlohmann::json::parse(res.body(), nullptr, false);
    if (out.result.body.is_discarded()) out.result.body = nullptr;
    out.reusable = res.keep_alive() && buffer.size() == 0;
    co_return out;
}

awaitable<HttpResult> EdgeLink::call(const std::string& route, nlohmann::json body) {
    http::request<http::string_body> req{http::verb::post, "/internal/cluster/" + route, 11};
    req.set(http::field::host, pool_.host() + ":" + pool_.port());
    req.set(http::field::user_agent, "parley-edge");
    req.set(http::field::authorization, "Bearer " + secret_);
    req.set(http::field::content_type, "application/json");
    req.keep_alive(true);
    req.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    req.prepare_payload();
    requests_.fetch_add(1);
    HttpResult r;
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto lease = co_await pool_.acquire(timeout_);
        if (!lease.stream) {
            r.error = std::move(lease.error);
            break;
        }
        Exchange x = co_await exchange(*lease.stream, req);
        r = std::move(x.result);
        if (r.status != 0) {
            if (x.reusable) pool_.release(std::move(lease.stream));
            break;
        }
        // A kept connection closed by the primary while idle: sent again on a new one.
        if (!lease.reused || x.got_bytes) break;
    }
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

std::string EdgeLink::render_metrics(const std::string& node) const {
    return fmt::format(
        "# HELP parley_cluster_link_requests_total Requests to the primary's internal link.\n"
        "# TYPE parley_cluster_link_requests_total counter\n"
        "parley_cluster_link_requests_total{{node=\"{0}\"}} {1}\n"
        "# HELP parley_cluster_link_connections_total Connections opened to the primary's "
        "internal link (kept alive between requests).\n"
        "# TYPE parley_cluster_link_connections_total counter\n"
        "parley_cluster_link_connections_total{{node=\"{0}\"}} {2}\n",
        node, requests(), connections());
}

}  // namespace parley
