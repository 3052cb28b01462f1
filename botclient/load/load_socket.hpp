// LoadSocket: the WebSocket under one connection of the load client (botclient/load).
//
// The load client reads every delivery of a benchmark on one thread, so in a big room its cost
// per frame decides how much load it can measure. The framed socket speaks RFC 6455 on the bare
// TCP socket (common/ws_frame.hpp): one receive takes every frame that has arrived and each is
// parsed where it lies. Beast's stream (composed read operations, a UTF-8 check of every text
// frame) is kept for permessage-deflate, which the framed socket does not offer.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "botclient/net/ws_url.hpp"
#include "common/net.hpp"

namespace parley {

class LoadSocket {
  public:
    virtual ~LoadSocket() = default;
    // Connects (TCP_NODELAY) and upgrades to a WebSocket within `timeout`; throws on failure
    // (a refused upgrade names the HTTP status).
    virtual awaitable<void> open(const WsUrl& url, std::chrono::seconds timeout) = 0;
    // The next whole text or binary message, valid until the next read. Pings are answered.
    // Throws when the connection ends (a close frame, a protocol error, a reset).
    virtual awaitable<std::string_view> read() = 0;
    // Queues a text message; messages go out in order. After a write error the socket drops
    // what it has queued, and the read side sees the connection end.
    virtual void send(std::string text) = 0;
};

// The framed socket, or Beast's stream when `deflate` (permessage-deflate offered).
std::shared_ptr<LoadSocket> make_load_socket(net::io_context& ioc, bool deflate);

}  // namespace parley
