// LinkSession<Stream>: the Link over one authenticated manager API connection, after
// `link.hello`. Both sides run the same code:
//
//   - one reader (run()) takes every frame: an answer ({"id", "ok", ...}) completes the call
//     waiting for that id; a request is handed to the RequestDispatcher (the RequestRouter) (at
//     most max_in_flight at once, more are answered `unavailable`) and its answer queued; `ping` is
//     answered inline;
//   - one writer drains a queue, one frame in flight (frames are bounded by kMaxFrameAfterAuth
//     in both directions, as on any connection);
//   - a heartbeat pings the peer every ping_interval and closes the link when nothing at all
//     has arrived for `timeout`, or when a write has been stuck for write_timeout. No Beast
//     deadline is used: reads and writes run at the same time on a link, and the heartbeat is
//     the one clock over both.
//
// call() may be used from any executor: the exchange itself runs on the link's strand (the
// connection's). When the link ends, waiting calls fail at once ("the link ... closed"), and
// run() returns only after the writer and heartbeat have finished, so the stream — owned by
// the caller of run() — may then be closed and destroyed.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>

#include "common/net.hpp"
#include "manager/links/link.hpp"
#include "manager/protocol/request_dispatcher.hpp"

namespace parley {

struct LinkSettings {
    std::chrono::milliseconds ping_interval{10'000};
    std::chrono::milliseconds timeout{35'000};        // silence that ends the link
    std::chrono::milliseconds write_timeout{10'000};  // one frame's write
    int max_in_flight = 16;
};

template <class Stream>
class LinkSession final : public Link, public std::enable_shared_from_this<LinkSession<Stream>> {
  public:
    // `caller` is who requests arriving over the link act as (the peer's key or peer entry).
    LinkSession(Stream& stream, std::uint64_t id, std::string peer_name, ApiCaller caller,
                RequestDispatcher& dispatcher, LinkSettings settings);

    // Serves the link until it ends; returns why. Call once, from a coroutine running on the
    // stream's executor.
    awaitable<std::string> run();

    const std::string& peer_name() const override { return peer_name_; }
    std::uint64_t id() const override { return id_; }
    awaitable<LinkCallResult> call(const nlohmann::json& request,
                                   std::chrono::milliseconds timeout) override;
    void close(std::string reason) override;

  private:
    struct Pending {
        explicit Pending(const net::any_io_executor& ex) : timer(ex) {}
        net::steady_timer timer;
        std::optional<nlohmann::json> answer;
    };
    using Self = std::shared_ptr<LinkSession>;

    awaitable<LinkCallResult> exchange(Self self, nlohmann::json request,
                                       std::chrono::milliseconds timeout);
    awaitable<void> write_loop(Self self);
    awaitable<void> heartbeat(Self self);
    awaitable<void> serve(Self self, ApiRequest request);
    void on_frame(const std::string& payload);
    bool enqueue(const nlohmann::json& message);
    void shutdown(std::string reason);

    Stream& stream_;
    net::any_io_executor executor_;
    const std::uint64_t id_;
    const std::string peer_name_;
    const ApiCaller caller_;
    RequestDispatcher& dispatcher_;
    const LinkSettings settings_;

    // On the strand only.
    bool closed_ = false;
    std::string reason_;
    std::deque<std::string> queue_;
    bool writing_ = false;
    bool heartbeat_running_ = false;
    std::chrono::steady_clock::time_point write_started_{};
    std::chrono::steady_clock::time_point last_received_;
    int in_flight_ = 0;
    std::uint64_t next_call_ = 0;
    std::map<std::uint64_t, Pending*> pending_;
    net::steady_timer heartbeat_timer_;
};

}  // namespace parley
