// PrimaryConnections: an edge's pool of HTTP/1.1 keep-alive connections to the primary, shared
// by the internal link (EdgeLink) and REST forwarding (EdgeProxy), one pool each. A request
// takes an idle connection when there is one, else connects; a connection whose answer was
// whole and kept alive goes back for the next request (at most `idle_max` idle ones are kept;
// a busy moment opens more).
//
// A kept connection may have been closed by the primary meanwhile (its keep-alive idle
// timeout, a restart). Two checks keep that rare: a connection idle longer than kMaxIdle (far
// below the primary's idle timeout, 60 s by default) is closed instead of used, and one whose
// socket shows end-of-stream or unexpected bytes (a non-blocking peek) is dropped. What is left
// is a race of a round trip, which the caller handles: it sends again on a new connection only
// a request that is safe to repeat and got no byte of an answer.
//
// Owned by EdgeLink or EdgeProxy; thread-safe (the idle list under a mutex; a connection is
// used by one request at a time, by whoever took it); coroutines on the caller's executor.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/net.hpp"

namespace parley {

class PrimaryConnections {
  public:
    static constexpr std::chrono::seconds kMaxIdle{5};

    PrimaryConnections(std::string host, std::string port, std::size_t idle_max);

    struct Lease {
        std::unique_ptr<beast::tcp_stream> stream;  // null when `error` says why
        bool reused = false;                        // a kept connection, not a new one
        std::string error;
    };
    // A kept connection that still looks open, else a new one connected under `timeout`.
    awaitable<Lease> acquire(std::chrono::milliseconds timeout);
    // A connection whose last answer was whole and kept alive, for the next request.
    void release(std::unique_ptr<beast::tcp_stream> stream);

    const std::string& host() const { return host_; }
    const std::string& port() const { return port_; }
    // Connections opened (requests / connections: the pool's reuse).
    std::uint64_t connections() const { return connections_.load(); }

  private:
    struct Idle {
        std::unique_ptr<beast::tcp_stream> stream;
        std::chrono::steady_clock::time_point since;
    };
    std::unique_ptr<beast::tcp_stream> take_idle();

    const std::string host_;
    const std::string port_;
    const std::size_t idle_max_;
    std::mutex mutex_;
    std::vector<Idle> idle_;
    std::atomic<std::uint64_t> connections_{0};
};

}  // namespace parley
