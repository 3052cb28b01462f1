// MaintenanceFeature: tells every connected WebSocket about planned maintenance, as the local
// manager reports it (ManagerClient, schedule.watch): a restart or reboot at a time, or none.
//
//   {"type":"maintenance","at":<unix ms>,"action":"restart"|"reboot"}   a notice is in force
//   {"type":"maintenance","at":null}                                      the notice is cleared
//
// set() sends a change to every open socket; a socket that opens while a notice is in force
// gets it right away (on_open). The feature claims no client message types. Thread-safe: one
// mutex serialises set() and on_open(), so a socket never sees an older notice after a newer.
#pragma once

#include <mutex>

#include <nlohmann/json.hpp>

#include "server/features/client_registry.hpp"
#include "server/features/feature.hpp"

namespace parley {

class MaintenanceFeature : public Feature {
  public:
    explicit MaintenanceFeature(ClientRegistry& clients) : clients_(clients) {}

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
    ClientRegistry& clients_;
    mutable std::mutex mutex_;
    nlohmann::json notice_;  // null, or {"at", "action"}
};

}  // namespace parley
