// A client of the manager API: one connection that authenticates with an API key, sends one
// request and reads its answer (docs/manager-api.md), over the unix socket or mutual TLS. Used
// by `parley manager-api` and by forwarding to a peer's URL (RequestRouter); the link dialler
// uses connect_manager_tls(), a backup run one ManagerConnection. The whole exchange
// (connect, TLS handshake, auth, request, answer) runs under one deadline. A coroutine on the
// caller's executor; the TLS context (for tls:// targets) must outlive the call.
#pragma once

#include <chrono>
#include <memory>
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

// One authenticated mutual-TLS connection to a manager that carries many requests, one at a
// time (a backup's chunks): connect, handshake and `auth` once, then call() per request, each
// under its own deadline. A failed call leaves the connection unusable. Lives on the executor
// of the coroutine that opened it; not thread-safe.
class ManagerConnection {
  public:
    ManagerConnection(net::any_io_executor executor, net::ssl::context& tls);
    ~ManagerConnection();

    // "" once authenticated; else the problem (`refused` set when the manager refused the key).
    awaitable<std::string> open(const ManagerApiTarget& target, const std::string& key,
                                std::chrono::milliseconds timeout, bool& refused);
    // The answer to `request` (a complete request object), or nullopt with `error`.
    awaitable<std::optional<nlohmann::json>> call(const nlohmann::json& request,
                                                  std::chrono::milliseconds timeout,
                                                  std::string& error);
    // The two halves of call(), for pipelining: a manager answers one connection's requests in
    // order, so several may be sent before their answers are read. False / nullopt with
    // `error` on failure (the connection is then unusable).
    awaitable<bool> send(const nlohmann::json& request, std::chrono::milliseconds timeout,
                         std::string& error);
    awaitable<std::optional<nlohmann::json>> receive(const nlohmann::json& id,
                                                     std::chrono::milliseconds timeout,
                                                     std::string& error);
    awaitable<void> close();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// `request` is a complete request object ({"id", "method", "params"}).
awaitable<ManagerApiCallResult> call_manager_api(ManagerApiTarget target,
                                                 ManagerApiCallOptions options,
                                                 nlohmann::json request);

}  // namespace parley
