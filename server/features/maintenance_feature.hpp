// MaintenanceFeature: tells every connected WebSocket about planned maintenance, as the local
// manager reports it (ManagerClient, schedule.watch): a restart or reboot at a time, or none.
//
//   {"type":"maintenance","at":<unix ms>,"action":"restart"|"reboot"}   a notice is in force
//   {"type":"maintenance","at":null}                                      the notice is cleared
//
// set() sends a change to every open socket; a socket that opens while a notice is in force
// gets it right away (on_open). The manager clears a notice when its schedule fires; should the
// manager be gone by then, the server clears it itself `expiry_slack` after its time (a notice
// of maintenance in the past helps nobody). The feature claims no client message types.
// Thread-safe: one mutex serialises set(), expiry and on_open(), so a socket never sees an
// older notice after a newer.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>

#include <nlohmann/json.hpp>

#include "server/features/client_registry.hpp"
#include "server/features/feature.hpp"

namespace parley {

class MaintenanceFeature : public Feature {
  public:
    explicit MaintenanceFeature(ClientRegistry& clients) : clients_(clients) {}
    // With an executor, a notice still held `expiry_slack` after its time is cleared.
    MaintenanceFeature(ClientRegistry& clients, net::any_io_executor executor,
                       std::chrono::milliseconds expiry_slack);
    // Cancels the expiry timer (at shutdown).
    void stop();

    std::string_view name() const override { return "maintenance"; }
    std::vector<std::string> message_types() const override { return {}; }
    void on_open(const std::shared_ptr<Client>& client) override;
    awaitable<void> on_message(std::shared_ptr<Client>, ClientMessage) override { co_return; }

    // `maintenance`: {"at", "action", ...} or null. Sends the event when it changes the notice.
    void set(const nlohmann::json& maintenance);
    // The current event frame's body (at: null when there is none).
    nlohmann::json current() const;

    // The frame for a notice (null clears).
    static nlohmann::json event_for(const nlohmann::json& maintenance);

  private:
    void arm_expiry(std::int64_t at_ms);

    ClientRegistry& clients_;
    std::unique_ptr<net::steady_timer> expiry_;
    std::chrono::milliseconds expiry_slack_{0};
    mutable std::mutex mutex_;
    nlohmann::json notice_;  // null, or {"at", "action"}
};

}  // namespace parley
