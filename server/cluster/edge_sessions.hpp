// EdgeSessions: an edge's check that its sockets' sessions are still alive on the primary. Once
// per interval it sends the session ids of every local socket to the primary
// (/internal/cluster/sessions, up to 1000 ids per request) and closes the sockets of sessions
// the primary reports ended (logout, password change, account disabled, session revoked) with
// 4001, as a single node closes them at once. So a logout on the primary closes that session's
// sockets on every edge within one interval and one round trip. While the primary cannot be
// reached, sockets stay open and the next round checks again.
// Owned by the edge app; the loop and its timer on one strand; stop() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>

#include "common/net.hpp"
#include "server/cluster/edge_link.hpp"
#include "server/features/client_registry.hpp"

namespace parley {

class EdgeSessions {
  public:
    EdgeSessions(net::any_io_executor executor, EdgeLink& link, ClientRegistry& clients,
                 std::chrono::milliseconds interval);

    void start();
    void stop();
    // Closes the session's sockets with 4001 and forgets it; `how` says who told (logs).
    void end_session(const std::string& session_id, const char* how);
    // Also called for each ended session (the token cache forgets it). Before start().
    void set_on_ended(std::function<void(const std::string&)> hook) { on_ended_ = std::move(hook); }
    std::uint64_t closed() const { return closed_.load(); }

  private:
    awaitable<void> loop();
    awaitable<void> check_once();

    net::strand<net::any_io_executor> strand_;
    EdgeLink& link_;
    ClientRegistry& clients_;
    const std::chrono::milliseconds interval_;
    net::steady_timer timer_;
    std::atomic<bool> stopping_{false};
    std::atomic<std::uint64_t> closed_{0};
    std::function<void(const std::string&)> on_ended_;
};

}  // namespace parley
