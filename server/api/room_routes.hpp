// The room routes of api.md: create, list, join, leave, rename, add members, the room
// document, message history and sending over REST. Every change is broadcast to the room's
// connected clients (document patches) by RoomHub.
#pragma once

#include "server/api/api_context.hpp"
#include "server/api/router.hpp"
#include "server/features/chat_service.hpp"

namespace parley {

struct ChatContext {
    RoomStore& rooms;
    RoomHub& hub;
    ChatService& chat;
    Notifier& notifier;
};

void add_room_routes(Router& router, ApiContext& api, ChatContext& chat);

}  // namespace parley
