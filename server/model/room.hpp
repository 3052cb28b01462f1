// Plain types of the chat component: rooms, members and messages. Values only; RoomStore
// (server/data/room_store.hpp) owns the authoritative copies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace parley {

struct Room {
    std::string id;
    std::string kind;  // "group" | "direct" | "ephemeral"
    std::string title;
    bool require_signatures = false;
    std::string created_by;
    std::int64_t created_at = 0;
    std::int64_t last_seq = 0;  // the highest committed sequence number
    // "invite": only accounts an owner added (or former members coming back) may join;
    // "open": anyone who knows the id. New rooms are invite-only.
    std::string join_policy = "invite";
};

struct Member {
    std::string room_id;
    std::string account_id;
    std::string role = "member";  // "owner" | "moderator" | "member" | "viewer"
    std::string display_name;
    std::string public_key;  // raw 32-byte Ed25519 key, or empty
    std::int64_t joined_at = 0;
    std::int64_t read_seq = 0;  // the highest sequence number this member acknowledged
};

struct Message {
    std::string room_id;
    std::int64_t seq = 0;
    std::string sender_id;
    std::string client_msg_id;
    std::string text;
    std::string media;      // the content id of an attached image, or empty
    std::string signature;  // raw 64 bytes, or empty
    std::int64_t sent_at = 0;
};

inline bool is_room_kind(const std::string& k) {
    return k == "group" || k == "direct" || k == "ephemeral";
}
inline bool is_join_policy(const std::string& p) {
    return p == "invite" || p == "open";
}

// A moderator is a member that may also remove other members' messages.
inline bool is_member_role(const std::string& r) {
    return r == "owner" || r == "moderator" || r == "member" || r == "viewer";
}

}  // namespace parley
