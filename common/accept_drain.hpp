// Accept-and-drain: what every listener of Parley does around its connections — the public
// HTTP server (server/api/http_server) and the manager's API server (manager/api/api_server).
//
// accept_each() accepts sockets until the acceptor is closed or the drain is stopping, and
// hands each to the listener (which applies its connection cap and starts the connection);
// a failed accept (out of descriptors, say) pauses 100 ms instead of spinning.
// ConnectionDrain holds the open connections; stop() marks it stopping (listeners check
// stopping() to refuse further keep-alive requests), cancels the connections that are idle
// (waiting for a request) and calls `drained` once the last connection has ended, so requests
// in flight finish and answer.
// Thread-safe: connections are added and removed from their own strands; each cancel runs on
// its connection's executor.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <spdlog/spdlog.h>

#include "common/net.hpp"

namespace parley {

class ConnectionDrain {
  public:
    // A connection as the drain sees it.
    class Member {
      public:
        virtual ~Member() = default;
        // Where the connection's handlers run.
        virtual net::any_io_executor drain_executor() = 0;
        // On that executor: ends the connection if it waits for a request; else nothing (the
        // request in flight finishes and the connection then sees stopping()).
        virtual void cancel_if_idle() = 0;
    };

    void add(std::shared_ptr<Member> member);
    // The connection has ended; the last one after stop() calls `drained`.
    void remove(const std::shared_ptr<Member>& member);
    // Stopping from now on; `drained` runs once no connection is left (posted to `context`
    // when none is open now).
    void stop(net::io_context& context, std::function<void()> drained);
    bool stopping() const { return stopping_.load(); }

  private:
    std::mutex mutex_;  // guards members_ and drained_
    std::set<std::shared_ptr<Member>> members_;
    std::function<void()> drained_;
    std::atomic<bool> stopping_{false};
};

// Accepts on `acceptor` (sockets made on `executor_for()`, a strand per connection say) and
// hands each to `on_socket` until the acceptor is closed or `drain` is stopping. `what` names
// the listener in the log line of a failed accept.
template <class Acceptor, class ExecutorFor, class OnSocket>
awaitable<void> accept_each(Acceptor& acceptor, const ConnectionDrain& drain,
                            ExecutorFor executor_for, OnSocket on_socket, std::string what) {
    using Socket = typename Acceptor::protocol_type::socket;
    for (;;) {
        boost::system::error_code ec;
        Socket socket =
            co_await acceptor.async_accept(executor_for(), net::redirect_error(use_awaitable, ec));
        if (ec == net::error::operation_aborted || drain.stopping()) co_return;
        if (ec) {
            // Out of file descriptors or similar: back off instead of spinning.
            spdlog::warn("{}: accept failed: {}", what, ec.message());
            net::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(100));
            co_await pause.async_wait(net::redirect_error(use_awaitable, ec));
            continue;
        }
        on_socket(std::move(socket));
    }
}

}  // namespace parley
