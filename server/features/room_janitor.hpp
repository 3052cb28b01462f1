// RoomJanitor: the background pass over rooms, every chat.janitor_interval_ms. It deletes an
// ephemeral room once no member has been connected for chat.ephemeral_idle_s, or at the latest
// chat.ephemeral_max_age_s after its creation, and prunes each room's history to the newest
// chat.history_limit messages. Runs as one coroutine on the server's loop; stop() ends it.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <string>

#include "server/features/room_service.hpp"

namespace parley {

class RoomJanitor {
  public:
    RoomJanitor(net::any_io_executor executor, const ChatSettings& settings, RoomStore& rooms,
                RoomHub& hub, ClientRegistry& clients);
    void start();
    void stop();

  private:
    awaitable<void> run();
    awaitable<void> pass();

    net::steady_timer timer_;
    const ChatSettings& settings_;
    RoomStore& rooms_;
    RoomHub& hub_;
    ClientRegistry& clients_;
    std::atomic<bool> stopped_{false};
    std::map<std::string, std::int64_t> last_connected_;  // ephemeral room -> unix ms
};

}  // namespace parley
