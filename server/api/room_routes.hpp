// The room routes of api.md: create, list, join, leave, rename, members, bans, the room
// document, message history, moderation and sending over REST. Each route is a named function
// in room_routes.cpp that adapts one RoomService call (which checks membership, writes and
// tells RoomHub) to HTTP.
#pragma once

#include "server/api/api_context.hpp"
#include "server/api/router.hpp"
#include "server/features/room_service.hpp"

namespace parley {

// What the cluster's internal routes use of the chat side.
struct ChatContext {
    RoomStore& rooms;
    RoomHub& hub;
    RoomService& chat;
    Notifier& notifier;
    NotificationService& notifications;
};

void add_room_routes(Router& router, ApiContext& api, RoomService& rooms);

}  // namespace parley
