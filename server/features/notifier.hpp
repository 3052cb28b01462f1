// Notifier: the sockets subscribed to account:me:notifications, and the one way a notification
// frame reaches them (the account's subscribed sockets on this node, and, on a cluster primary,
// the edges through ClientRegistry's account frames). What is stored is NotificationService's;
// the Notifier only delivers. on_subscribe() lets the server app send a socket what it missed
// when it subscribes (set once at start-up, before any socket). Thread-safe (one mutex); owned
// by the server app.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "server/features/client_registry.hpp"

namespace parley {

class Notifier {
  public:
    explicit Notifier(ClientRegistry& clients) : clients_(clients) {}
    void subscribe(const Client& client);
    void unsubscribe(const Client& client);
    bool subscribed(std::uint64_t client_id);
    // Called (on the subscribing thread) after each subscription.
    void on_subscribe(std::function<void(const Client&)> hook) { on_subscribe_ = std::move(hook); }
    // Sends {"type":"notification", ...body} to the account's subscribed sockets.
    void notify(const std::string& account_id, nlohmann::json body);
    // Sends `frame` (its own type) to the account's subscribed sockets, here and on edges.
    void publish(const std::string& account_id, const nlohmann::json& frame);
    // Sends an already serialized notification frame to the account's subscribed sockets
    // here (an edge delivering what the primary notified).
    void deliver(const std::string& account_id, const std::shared_ptr<const std::string>& frame);
    // Sends to every subscribed socket (maintenance notices).
    void notify_all(nlohmann::json body);

  private:
    ClientRegistry& clients_;
    std::mutex mutex_;
    std::set<std::uint64_t> subscribed_;
    std::function<void(const Client&)> on_subscribe_;
};

}  // namespace parley
