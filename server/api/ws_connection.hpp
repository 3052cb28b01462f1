// WsConnection: one client WebSocket, authenticated at the upgrade. start() serves a plain
// socket with Parley's own engine (LeanWsConnection, permessage-deflate included) and a TLS
// stream with Beast's (BasicWsConnection, below, RFC 6455 over Beast).
//
// Runs on the strand of its TCP connection: one coroutine reads frames and hands each JSON
// object to the feature that claims its `type` (one at a time, in order); a second coroutine
// drains the bounded send queue with one write in flight. A client that falls behind (queue
// over websocket.send_queue_limit) is closed with 1013 — never silently skipped. Binary or
// non-JSON frames close with 1003, oversized ones with 1009; frames beyond the rate limit get a
// `rate_limited` error and a client far over it is closed with 1008. Beast's timeout option
// pings an idle peer and closes a silent one. The connection is a class template over the next
// layer, instantiated for <TlsStream> only (in ws_connection.cpp); features see either engine
// only as a Client. send() and close() are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/api/http_types.hpp"
#include "server/api/tls_context.hpp"
#include "server/api/ws_session.hpp"

namespace parley {

// The entry points: what the upgrade handler calls for a plain or a TLS connection.
class WsConnection {
  public:
    using Context = WsContext;

    // Completes the handshake for `request` and serves the connection of an authenticated
    // account until it closes. `slot` (HttpServer::ConnectionSlot) is held as long as the
    // socket is open.
    static void start(UpgradedStream stream, HttpRequest request, std::string account_id,
                      std::string session_id, Context context, std::shared_ptr<void> slot = {});
    // Completes the handshake, then closes at once with `code` (authentication failures).
    static void reject(UpgradedStream stream, HttpRequest request, std::uint16_t code,
                       std::string reason, const WebSocketSettings& settings,
                       std::shared_ptr<void> slot = {});
};

// What a BasicWsConnection<NextLayer> is built from: the whole stream for TLS (its session
// state).
template <class NextLayer>
struct WsTransport;
template <>
struct WsTransport<TlsStream> {
    using type = TlsStream;
};

template <class NextLayer>
class BasicWsConnection final : public WsSession,
                                public std::enable_shared_from_this<BasicWsConnection<NextLayer>> {
  public:
    BasicWsConnection(typename WsTransport<NextLayer>::type transport, std::string account_id,
                      std::string session_id, WsConnection::Context context);

    // Completes the handshake for `request` and serves the socket until it closes. Call once.
    void start(HttpRequest request);

    void send(std::shared_ptr<const std::string> frame) override;
    void close(std::uint16_t code, std::string reason) override;

  private:
    // Both coroutines hold `self` so the connection lives as long as either runs.
    awaitable<void> run(std::shared_ptr<BasicWsConnection> self, HttpRequest request);
    awaitable<void> write_loop(std::shared_ptr<BasicWsConnection> self);
    void close_with(std::uint16_t code, std::string_view reason) override;
    void begin_close(websocket::close_reason reason);

    websocket::stream<NextLayer> ws_;

    // Touched on the strand only.
    SmallFifo<std::shared_ptr<const std::string>> queue_;
    bool writing_ = false;
    bool closing_ = false;
    bool close_sent_ = false;
    std::optional<websocket::close_reason> pending_close_;
    net::steady_timer close_timer_;
};

extern template class BasicWsConnection<TlsStream>;

}  // namespace parley
