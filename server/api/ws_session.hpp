// WsSession: what every WebSocket connection does the same way, whichever engine frames its
// bytes (Beast's stream for TLS, BasicWsConnection; Parley's own for plain sockets,
// LeanWsConnection): the identity features see as a Client, registration with
// the per-account cap, the rate limit, JSON parsing and dispatch of each text message to its
// feature, and the bookkeeping when the socket closes. An engine calls opened() once the
// handshake is done, handle_text() for each complete text message (one at a time, on its
// strand), closed() at the end, and implements close_with() (start the close handshake).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/metrics.hpp"
#include "server/features/client_registry.hpp"
#include "server/features/feature.hpp"
#include "server/settings/server_config.hpp"

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
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t unsupported_data = 1003;
inline constexpr std::uint16_t invalid_payload = 1007;
inline constexpr std::uint16_t policy_violation = 1008;
inline constexpr std::uint16_t too_big = 1009;
inline constexpr std::uint16_t internal_error = 1011;
inline constexpr std::uint16_t try_again_later = 1013;
inline constexpr std::uint16_t token_revoked = 4001;
}  // namespace close_code

struct WsContext {
    const WebSocketSettings& settings;
    const FeatureTable& features;
    ClientRegistry& registry;
    WsMetrics& metrics;
};

// A FIFO on a vector that holds no memory while empty (std::deque allocates a 512-byte block
// even then, which every idle socket would pay).
template <class T>
class SmallFifo {
  public:
    bool empty() const { return head_ == items_.size(); }
    std::size_t size() const { return items_.size() - head_; }
    void push(T item) { items_.push_back(std::move(item)); }
    T pop() {
        T item = std::move(items_[head_++]);
        if (empty()) clear();
        return item;
    }
    void clear() {
        items_.clear();
        head_ = 0;
        if (items_.capacity() > 64) items_.shrink_to_fit();
    }

  private:
    std::vector<T> items_;
    std::size_t head_ = 0;
};

// The completion handler of a connection's coroutines: logs what escaped them.
void log_ws_failure(std::exception_ptr e);

class WsSession : public Client {
  public:
    std::uint64_t id() const override { return id_; }
    const std::string& account_id() const override { return account_id_; }
    const std::string& session_id() const override { return session_id_; }
    const std::string& open_path() const override { return open_path_; }

    // Keeps `slot` (the socket's place under http.max_connections) until this connection is
    // destroyed. Call before start.
    void hold(std::shared_ptr<void> slot) { slot_ = std::move(slot); }

  protected:
    WsSession(std::string account_id, std::string session_id, WsContext context);

    // On the engine's strand: begin the close handshake with `code` (idempotent).
    virtual void close_with(std::uint16_t code, std::string_view reason) = 0;

    // Registers the socket opened on `target` and tells the features. False when the account
    // is over its socket cap: close_with(1008) was called and nothing was registered.
    bool opened(const std::shared_ptr<Client>& self, std::string_view target);
    // Unregisters and tells the features; call once, after a successful opened().
    void closed(const std::shared_ptr<Client>& self, std::string_view why);
    // Before queueing a frame: true when `queued` frames already wait (the client reads too
    // slowly); counted and logged. The caller then drops its queue and closes with
    // close_code::try_again_later and kSlowConsumerReason.
    bool send_queue_full(std::size_t queued);
    static constexpr std::string_view kSlowConsumerReason = "too slow: the send queue is full";
    // One complete text message from the client.
    awaitable<void> handle_text(std::shared_ptr<Client> self, std::string_view text);

    WsContext ctx_;

  private:
    bool take_token();

    std::string account_id_;
    std::string session_id_;
    std::string open_path_;  // the upgrade request's path, set before on_open
    std::uint64_t id_;
    std::chrono::steady_clock::time_point opened_at_;
    double tokens_;
    std::chrono::steady_clock::time_point last_refill_;
    int over_limit_ = 0;  // frames refused in the current one-second window
    // The features this socket chose (?features=a,b; all when not given), by their index in
    // the feature table: frames of the others are refused, and they never see the socket.
    std::vector<bool> enabled_;
    bool enabled(const Feature* feature) const;
    std::shared_ptr<void> slot_;
    std::chrono::steady_clock::time_point over_limit_window_;
};

}  // namespace parley
