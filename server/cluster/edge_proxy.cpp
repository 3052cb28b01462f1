#include "server/cluster/edge_proxy.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/redirect_error.hpp>

#include "common/crypto.hpp"
#include "server/cluster/edge_link.hpp"

namespace parley {

namespace {

constexpr std::string_view kEdgeHeader = "X-Parley-Edge";
constexpr std::string_view kClientHeader = "X-Parley-Client";

// What the primary's routes read of a request besides the body; everything else (hop-by-hop
// headers, cookies, the client's own Host) stays on the edge.
constexpr http::field kForwardedFields[] = {
    http::field::authorization, http::field::content_type, http::field::accept,
    http::field::if_none_match, http::field::user_agent,
};

// Hop-by-hop headers of the primary's answer, and the length the edge's server recomputes.
bool relayed(http::field f) {
    switch (f) {
        case http::field::connection:
        case http::field::keep_alive:
        case http::field::transfer_encoding:
        case http::field::content_length:
        case http::field::upgrade:
        case http::field::te:
        case http::field::trailer:
        case http::field::proxy_authenticate:
        case http::field::server:
            return false;
        default:
            return true;
    }
}

// Sent again on a new connection when a kept one failed before any byte of an answer: only
// what changes nothing (a write is never applied twice).
bool safe_to_repeat(http::verb method) {
    return method == http::verb::get || method == http::verb::head || method == http::verb::options;
}

HttpResponse unavailable(const std::string& message) {
    HttpResponse res = error_response(http::status::service_unavailable, "unavailable", message);
    res.set(http::field::retry_after, "1");
    return res;
}

}  // namespace

EdgeProxy::EdgeProxy(const std::string& primary, std::string secret,
                     std::chrono::milliseconds timeout, std::uint64_t response_limit)
    : pool_(primary_host_port(primary).first, primary_host_port(primary).second, kIdleMax),
      secret_(std::move(secret)),
      timeout_(timeout),
      response_limit_(response_limit) {}

awaitable<HttpResponse> EdgeProxy::forward(const RequestContext& ctx) {
    const HttpRequest& in = ctx.request;
    const std::string target(in.target());
    if (target.starts_with("/internal/")) {
        co_return error_response(http::status::not_found, "not_found", "no such route");
    }
    if (websocket::is_upgrade(in)) {
        co_return error_response(http::status::not_found, "not_found",
                                 "this WebSocket path is not served by an edge; use /api/v1/ws");
    }
    if (bus_up_ && !safe_to_repeat(in.method()) && target.starts_with("/api/v1/rooms") &&
        !bus_up_()) {
        bus_down_.fetch_add(1);
        co_return unavailable(std::string(kEdgeBusDownMessage));
    }
    auto set_headers = [&](auto& out) {
        out.method(in.method());
        out.target(target);
        out.version(11);
        out.set(http::field::host, pool_.host() + ":" + pool_.port());
        for (http::field f : kForwardedFields) {
            if (auto it = in.find(f); it != in.end()) out.set(f, it->value());
        }
        out.set(kEdgeHeader, secret_);
        out.set(kClientHeader, ctx.remote_address);
        out.keep_alive(true);
    };
    if (!ctx.body_file.empty()) {
        http::request<http::file_body> req;
        set_headers(req);
        boost::system::error_code ec;
        req.body().open(ctx.body_file.c_str(), beast::file_mode::scan, ec);
        if (ec) {
            spdlog::error("cluster: cannot read the spooled body {}: {}", ctx.body_file,
                          ec.message());
            co_return error_response(http::status::internal_server_error, "internal",
                                     "cannot read the request body");
        }
        req.prepare_payload();
        co_return co_await exchange(req, target);
    }
    http::request<http::string_body> req;
    set_headers(req);
    req.body() = in.body();
    req.prepare_payload();
    co_return co_await exchange(req, target);
}

template <class Request>
awaitable<HttpResponse> EdgeProxy::exchange(Request& req, const std::string& target) {
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    const std::string method(http::to_string(req.method()));
    for (int attempt = 0;; ++attempt) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        auto lease = co_await pool_.acquire(std::max(left, std::chrono::milliseconds(1)));
        if (!lease.stream) {
            unreachable_.fetch_add(1);
            spdlog::warn("cluster: {} {} not forwarded: the primary cannot be reached: {}", method,
                         target.substr(0, 100), lease.error);
            co_return unavailable("the primary cannot be reached; retry shortly");
        }
        if (lease.reused) reused_.fetch_add(1);
        beast::tcp_stream& stream = *lease.stream;
        boost::system::error_code ec;
        stream.expires_at(deadline);
        co_await http::async_write(stream, req, net::redirect_error(use_awaitable, ec));
        beast::flat_buffer buffer;
        http::response_parser<http::string_body> parser;
        parser.body_limit(response_limit_);
        if (req.method() == http::verb::head) parser.skip(true);
        if (!ec)
            co_await http::async_read(stream, buffer, parser,
                                      net::redirect_error(use_awaitable, ec));
        if (!parser.is_done()) {
            if (parser.is_header_done() && ec == http::error::body_limit) {
                spdlog::warn("cluster: the primary's answer to {} is larger than {} bytes",
                             target.substr(0, 100), response_limit_);
                co_return error_response(http::status::bad_gateway, "internal",
                                         "the answer is larger than this node relays");
            }
            // A kept connection the primary closed as it was taken: nothing was answered, so
            // a request that changes nothing goes once more on a new connection.
            if (attempt == 0 && lease.reused && !parser.got_some() && buffer.size() == 0 &&
                safe_to_repeat(req.method()) && ec != beast::error::timeout) {
                retried_.fetch_add(1);
                continue;
            }
            timed_out_.fetch_add(1);
            spdlog::warn("cluster: {} {}: no complete answer from the primary {}:{}{}: {}", method,
                         target.substr(0, 100), pool_.host(), pool_.port(),
                         lease.reused ? " (on a kept connection)" : "", ec.message());
            co_return unavailable(
                "the primary did not answer in time; the request may or may not have been "
                "applied");
        }
        auto& answer = parser.get();
        if (answer.keep_alive() && buffer.size() == 0) pool_.release(std::move(lease.stream));
        HttpResponse res{answer.result(), 11};
        for (const auto& field : answer) {
            if (relayed(field.name())) res.insert(field.name_string(), field.value());
        }
        res.body() = std::move(answer.body());
        if (req.method() == http::verb::head) {
            if (auto it = answer.find(http::field::content_length); it != answer.end())
                res.set(http::field::content_length, it->value());
        }
        answered_.fetch_add(1);
        co_return res;
    }
}

std::string EdgeProxy::render_metrics(const std::string& node) const {
    return fmt::format(
        "# HELP parley_cluster_forwarded_total HTTP requests an edge forwarded to the primary, by "
        "outcome.\n"
        "# TYPE parley_cluster_forwarded_total counter\n"
        "parley_cluster_forwarded_total{{node=\"{0}\",outcome=\"answered\"}} {1}\n"
        "parley_cluster_forwarded_total{{node=\"{0}\",outcome=\"unreachable\"}} {2}\n"
        "parley_cluster_forwarded_total{{node=\"{0}\",outcome=\"no_answer\"}} {3}\n"
        "parley_cluster_forwarded_total{{node=\"{0}\",outcome=\"bus_down\"}} {7}\n"
        "# HELP parley_cluster_forward_connections_total Connections opened to the primary for "
        "forwarded requests (kept alive between requests).\n"
        "# TYPE parley_cluster_forward_connections_total counter\n"
        "parley_cluster_forward_connections_total{{node=\"{0}\"}} {4}\n"
        "# HELP parley_cluster_forward_reused_total Forwarded requests sent on a kept connection.\n"
        "# TYPE parley_cluster_forward_reused_total counter\n"
        "parley_cluster_forward_reused_total{{node=\"{0}\"}} {5}\n"
        "# HELP parley_cluster_forward_retries_total Forwarded requests safe to repeat sent again "
        "after a kept connection failed before any answer.\n"
        "# TYPE parley_cluster_forward_retries_total counter\n"
        "parley_cluster_forward_retries_total{{node=\"{0}\"}} {6}\n",
        node, answered_.load(), unreachable_.load(), timed_out_.load(), pool_.connections(),
        reused_.load(), retried_.load(), bus_down_.load());
}

std::string forwarded_client_address(const HttpRequest& req, const std::string& peer,
                                     const std::string& secret) {
    auto edge = req.find(kEdgeHeader);
    if (edge == req.end()) return peer;
    auto client = req.find(kClientHeader);
    if (client == req.end() || client->value().empty() || client->value().size() > 64 ||
        !constant_time_equal(edge->value(), secret)) {
        spdlog::warn("http: {} sent an edge header without the cluster secret; ignored", peer);
        return peer;
    }
    return std::string(client->value());
}

}  // namespace parley
