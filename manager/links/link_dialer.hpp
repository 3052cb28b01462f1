// LinkDialer: keeps a link open to every [[manager.peers]] entry with `link = true` — for a
// manager with no open port (behind NAT, say) that its peer must still be able to reach.
// For each such peer one loop, on its own strand:
//
//   connect (tls://, the peer's certificate must name the host), mutual TLS with
//   [manager.client_tls], `auth` with the peer's key (key_file), `link.hello` with this
//   manager's name — all under manager.api.auth_timeout_ms — then serve the LinkSession until
//   it ends; then wait and dial again.
//
// Waits grow as jittered exponential back-off: a uniformly random time between half and all of
// min(reconnect_max_ms, reconnect_base_ms * 2^failures), where `failures` counts attempts in a
// row that did not bring a link up (a link that came up resets it). Requests the peer sends
// over the link act with the peer entry's `access`.
//
// Owned by the manager's run function; start() and stop() on the event loop's thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "manager/links/link.hpp"
#include "manager/protocol/manager_tls.hpp"
#include "manager/protocol/request_dispatcher.hpp"
#include "manager/settings/manager_config.hpp"

namespace parley {

class LinkDialer {
  public:
    LinkDialer(net::io_context& context, const ManagerConfig& config, std::string self_name,
               RequestDispatcher& dispatcher, LinkRegistry& links, net::ssl::context* client_tls,
               std::map<std::string, std::string> peer_keys);
    ~LinkDialer();

    // Problems that stop start-up (a link peer without a key or without client TLS), or "".
    std::string check() const;
    void start();
    // No more dialling; links it opened close. `done` runs once every loop has ended.
    void stop(std::function<void()> done);

  private:
    struct Dial;
    awaitable<void> dial_loop(std::shared_ptr<Dial> dial);
    awaitable<std::string> open(Dial& dial, ManagerTlsStream& stream);
    void loop_ended();

    net::io_context& context_;
    const ManagerConfig& config_;
    const std::string self_;
    RequestDispatcher& dispatcher_;
    LinkRegistry& links_;
    net::ssl::context* client_tls_;
    const std::map<std::string, std::string> peer_keys_;
    std::vector<std::shared_ptr<Dial>> dials_;
    std::size_t running_ = 0;  // loops not yet ended; event loop thread only
    std::function<void()> done_;
    bool stopped_ = false;
};

}  // namespace parley
