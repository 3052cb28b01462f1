// WsConnection: one client WebSocket (RFC 6455 over Beast), authenticated at the upgrade, over
// a plain socket or TLS.
//
// Runs on the strand of its TCP connection: one coroutine reads frames and hands each JSON
// object to the feature that claims its `type` (one at a time, in order); a second coroutine
// drains the bounded send queue with one write in flight. A client that falls behind (queue
// over websocket.send_queue_limit) is closed with 1013 — never silently skipped. Binary or
// non-JSON frames close with 1003, oversized ones with 1009; frames beyond the rate limit get a
// `rate_limited` error and a client far over it is closed with 1008. Beast's timeout option
// pings an idle peer and closes a silent one. The connection is one class template over the
// next layer (BasicWsConnection<beast::tcp_stream> or <TlsStream>, instantiated in
// ws_connection.cpp); WsConnection::start/reject pick the instantiation for an UpgradedStream,
// and features see either only as a Client. send() and close() are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <vector>
#include <memory>
#include <optional>

#include "common/metrics.hpp"
#include "server/api/http_types.hpp"
#include "server/api/tls_context.hpp"
#include "server/features/client_registry.hpp"
#include "server/features/feature.hpp"
#include "server/server_config.hpp"

namespace parley {

// The metrics every connection updates; owned by the server app.
struct WsMetrics {
    Gauge& open;
    Counter& received;
    Counter& sent;
    Counter& reconnects;
    Counter& slow_consumers;
    Histogram& duration;
};

// The close codes of api.md.
namespace close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t unsupported_data = 1003;
inline constexpr std::uint16_t policy_violation = 1008;
inline constexpr std::uint16_t too_big = 1009;
inline constexpr std::uint16_t internal_error = 1011;
inline constexpr std::uint16_t try_again_later = 1013;
inline constexpr std::uint16_t token_revoked = 4001;
}  // namespace close_code

// The entry points: what the upgrade handler calls for a plain or a TLS connection.
class WsConnection {
  public:
    struct Context {
        const WebSocketSettings& settings;
        const FeatureTable& features;
        ClientRegistry& registry;
        WsMetrics& metrics;
    };

    // Completes the handshake for `request` and serves the connection of an authenticated
    // account until it closes.
    static void start(UpgradedStream stream, HttpRequest request, std::string account_id,
                      std::string session_id, Context context);
    // Completes the handshake, then closes at once with `code` (authentication failures).
    static void reject(UpgradedStream stream, HttpRequest request, std::uint16_t code,
                       std::string reason, const WebSocketSettings& settings);
};

// What a BasicWsConnection<NextLayer> is built from: the socket for a plain connection (a
// tcp_stream is never moved, see HttpServer), the whole stream for TLS (its session state).
template <class NextLayer>
struct WsTransport;
template <>
struct WsTransport<beast::tcp_stream> {
    using type = tcp::socket;
};
template <>
struct WsTransport<TlsStream> {
    using type = TlsStream;
};

// The send queue of one connection: a FIFO on a vector that holds no memory while empty
// (std::deque allocates a 512-byte block even then, which idle sockets would all pay).
class FrameQueue {
  public:
    using Frame = std::shared_ptr<const std::string>;
    bool empty() const { return head_ == frames_.size(); }
    std::size_t size() const { return frames_.size() - head_; }
    void push(Frame frame) { frames_.push_back(std::move(frame)); }
    Frame pop() {
        Frame f = std::move(frames_[head_++]);
        if (empty()) clear();
        return f;
    }
    void clear() {
        frames_.clear();
        head_ = 0;
        if (frames_.capacity() > 64) frames_.shrink_to_fit();
    }

  private:
    std::vector<Frame> frames_;
    std::size_t head_ = 0;
};

template <class NextLayer>
class BasicWsConnection final : public Client,
                                public std::enable_shared_from_this<BasicWsConnection<NextLayer>> {
  public:
    BasicWsConnection(typename WsTransport<NextLayer>::type transport, std::string account_id,
                      std::string session_id, WsConnection::Context context);

    // Completes the handshake for `request` and serves the socket until it closes. Call once.
    void start(HttpRequest request);

    std::uint64_t id() const override { return id_; }
    const std::string& account_id() const override { return account_id_; }
    const std::string& session_id() const override { return session_id_; }
    const std::string& open_path() const override { return open_path_; }
    void send(std::shared_ptr<const std::string> frame) override;
    void close(std::uint16_t code, std::string reason) override;

  private:
    // Both coroutines hold `self` so the connection lives as long as either runs.
    awaitable<void> run(std::shared_ptr<BasicWsConnection> self, HttpRequest request);
    awaitable<void> write_loop(std::shared_ptr<BasicWsConnection> self);
    awaitable<void> handle_frame(std::string_view text);
    void begin_close(websocket::close_reason reason);
    bool take_token();

    websocket::stream<NextLayer> ws_;
    std::string account_id_;
    std::string session_id_;
    std::string open_path_;  // the upgrade request's path, set before on_open
    WsConnection::Context ctx_;
    std::uint64_t id_;

    // Touched on the strand only.
    FrameQueue queue_;
    bool writing_ = false;
    bool closing_ = false;
    bool close_sent_ = false;
    std::optional<websocket::close_reason> pending_close_;
    double tokens_;
    std::chrono::steady_clock::time_point last_refill_;
    int over_limit_ = 0;  // frames refused in the current one-second window
    std::chrono::steady_clock::time_point over_limit_window_;
    net::steady_timer close_timer_;
};

extern template class BasicWsConnection<beast::tcp_stream>;
extern template class BasicWsConnection<TlsStream>;

}  // namespace parley
