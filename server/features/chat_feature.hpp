// ChatFeature: the room frames of the WebSocket — subscribe, unsubscribe, send, typing,
// request_sync, sync and ack (api.md). Subscriptions to room topics need membership; viewers
// may read and ask for sync but not send or type. account:me:notifications subscribes the
// socket to the Notifier. Stateless itself (the state lives in RoomHub and Notifier).
#pragma once

#include <optional>
#include <string>

#include "server/features/feature.hpp"
#include "server/features/room_service.hpp"

namespace parley {

// The room id of a socket opened on /api/v1/rooms/{id}/ws; nullopt for any other path.
std::optional<std::string> room_socket_room(const std::string& path);

class ChatFeature : public Feature {
  public:
    ChatFeature(RoomStore& rooms, RoomHub& hub, RoomService& chat, Notifier& notifier);

    std::string_view name() const override { return "chat"; }
    std::vector<std::string> message_types() const override;
    // A socket opened on /api/v1/rooms/{id}/ws starts subscribed to that room's topics.
    void on_open(const std::shared_ptr<Client>& client) override;
    awaitable<void> on_message(std::shared_ptr<Client> client, ClientMessage message) override;
    void on_close(const std::shared_ptr<Client>& client) override;

  private:
    // subscribe / unsubscribe: a room's topic or the account's notifications.
    void on_subscription(const std::shared_ptr<Client>& client, const ClientMessage& msg);
    // typing, request_sync and sync from a member of the room.
    void on_room_signal(Client& client, const ClientMessage& msg, const std::string& room_id,
                        const Member& member);
    awaitable<void> on_ack(std::shared_ptr<Client> client, ClientMessage msg, std::string room_id);

    RoomStore& rooms_;
    RoomHub& hub_;
    RoomService& chat_;
    Notifier& notifier_;
};

}  // namespace parley
