// Plain type of the notifications component: one stored notification of an account (a mention
// of it in a message, or an invitation into a room). Values only; NotificationStore
// (server/data/notification_store.hpp) owns the stored copies.
#pragma once

#include <cstdint>
#include <string>

namespace parley {

struct Notification {
    std::int64_t id = 0;  // grows with every notification stored (any account)
    std::string account_id;
    std::string kind;  // "mention" | "invitation"
    std::string room_id;
    std::int64_t seq = 0;  // the message that mentions the account; 0 for an invitation
    std::string from;      // who mentioned, or who invited
    std::int64_t created_at = 0;
    std::int64_t read_at = 0;  // 0: unread
};

}  // namespace parley
