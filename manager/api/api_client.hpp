// A client of the manager API: one connection that authenticates with an API key, sends one
// request and reads its answer (docs/manager-api.md), over the unix socket or mutual TLS. Used
// by `parley manager-api`; forwarding between managers will build on it. The whole exchange
// (connect, TLS handshake, auth, request, answer) runs under one deadline. A coroutine on the
// caller's executor; the TLS context (for tls:// targets) must outlive the call.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/net.hpp"

namespace parley {

struct ManagerApiTarget {
    bool tls = false;
    std::string path;  // unix socket
    std::string host;  // tls
    std::string port;

    std::string to_string() const { return tls ? "tls://" + host + ":" + port : "unix:" + path; }
};

// "unix:/path", "/path" (a unix socket) or "tls://host:port"; nullopt with `error` otherwise.
std::optional<ManagerApiTarget> parse_manager_api_url(std::string_view url, std::string& error);

struct ManagerApiCallOptions {
    std::string key;                   // the API key (not its hash)
    net::ssl::context* tls = nullptr;  // client certificate and CA; required for tls targets
    std::chrono::milliseconds timeout{120'000};
};

struct ManagerApiCallResult {
    // Set when there is no answer to show: connection, TLS or framing failure, or timeout.
    std::string transport_error;
    bool timed_out = false;  // the deadline passed (transport_error says where)
    // The answer to the request, or the error answer to `auth` when authentication failed.
    nlohmann::json answer;
};

// Resolves, connects and completes the TLS handshake (checking that the manager's certificate
// names target.host) under the deadline already set on the stream's lowest layer. Returns the
// problem, or "" once the stream is ready for frames.
awaitable<std::string> connect_manager_tls(beast::ssl_stream<beast::tcp_stream>& stream,
                                           const ManagerApiTarget& target);

// `request` is a complete request object ({"id", "method", "params"}).
awaitable<ManagerApiCallResult> call_manager_api(ManagerApiTarget target,
                                                 ManagerApiCallOptions options,
                                                 nlohmann::json request);

}  // namespace parley
