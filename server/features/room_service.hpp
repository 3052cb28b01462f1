// RoomService: every change to a room and its messages — create, join, leave, rename, members,
// bans, read markers, history, moderation, and sending a message (the one path shared by the
// WebSocket `send` frame, POST /api/v1/rooms/{id}/messages and a cluster edge's send). Each call
// checks who asks (membership and role), writes to RoomStore, then tells RoomHub (document
// patches, removals) and NotificationService (invitations, mentions: stored in the same
// transaction as the change, delivered after it) itself, and answers an Outcome:
// the value, or a Refusal with an ErrorCode and a message (no HTTP: server/api maps codes).
//
// Sending checks membership and role (a viewer cannot send), the text (1 to chat.message_max_chars
// code points; it may be empty when the message carries an image), the image (`media`: the
// content id of one of the sender's ready images, checked by media_check), the client_msg_id,
// and the signature: in a room created with require_signatures (by default when the server's
// RoomPolicy says so) every message carries an Ed25519 signature, made with the key the sender
// registered at join, over canonical_message_bytes() (common/message_format.hpp).
// A message that fails any check is stored nowhere and broadcast to no one. The answer comes
// only after the commit; a resend with the same client_msg_id gets the stored seq back.
// Request bodies are the JSON objects of api.md (the same for REST and the socket); a send's
// fields come as SendFields and are checked here, so that the order of the checks, and so the
// answer to a request with several faults, is the same whichever way it came. Thread-safe; owned by
// the server app.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "common/json_flat.hpp"
#include "common/message_format.hpp"
#include "server/data/account_store.hpp"
#include "server/data/room_store.hpp"
#include "server/features/notification_service.hpp"
#include "server/features/outcome.hpp"
#include "server/features/room_hub.hpp"
#include "server/features/room_policy.hpp"

namespace parley {

// A stored message; `duplicate` when a resend found it stored already.
struct SentMessage {
    std::unique_ptr<Message> message;  // never null; a pointer for the reason AppendResult gives
    bool duplicate = false;
};

// The fields of a send request as the client gave them, before any check: a socket's `send`
// frame, the body of POST /api/v1/rooms/{id}/messages or a cluster edge's forward. Each field
// is absent, null, a string or something else, which is all RoomService::send's checks (and
// their messages) tell apart. Read from a flat frame's fields directly, so that the message
// path builds no JSON tree; either way the strings are moved out, not copied.
struct SendFields {
    struct Field {
        enum class Kind : std::uint8_t { absent, null, string, other };
        Kind kind = Kind::absent;
        std::string value;  // Kind::string

        bool absent() const { return kind == Kind::absent; }
        // Present and not null.
        bool given() const { return kind != Kind::absent && kind != Kind::null; }
        bool is_string() const { return kind == Kind::string; }
    };

    Field text;
    Field client_msg_id;
    Field media;
    Field signature;

    // From a JSON object (anything else has no fields).
    static SendFields from_json(nlohmann::json& body);
    static SendFields from_json(nlohmann::json&& body) { return from_json(body); }
    static SendFields from_flat(FlatObject& fields);
};

// A room as its member sees it in GET /api/v1/rooms.
struct RoomListing {
    Room room;
    Member me;
};

// The query of GET /api/v1/rooms/{id}/messages; `integers` false when a value was not one.
struct HistoryQuery {
    std::int64_t after = 0;
    std::int64_t limit = 100;
    bool integers = true;
};

class RoomService {
  public:
    RoomService(const ChatSettings& settings, RoomPolicy policy, RoomStore& rooms,
                AccountStore& accounts, RoomHub& hub, NotificationService& notifications);

    // POST /rooms: {kind, title, require_signatures, join_policy, members}; the invited
    // members hear an invitation. Without require_signatures the room gets the policy's
    // default; `false` where the policy requires signatures and allows no opt-out is forbidden.
    awaitable<Outcome<Room>> create(const Account& caller, const nlohmann::json& body);
    // What a room created without require_signatures gets (GET /api/v1/room-policy).
    const RoomPolicy& policy() const { return policy_; }
    // The caller's rooms (unordered).
    std::vector<RoomListing> rooms_of(const std::string& account_id) const;
    // The room document and its version, for a member.
    Outcome<std::pair<nlohmann::json, std::int64_t>> document(const std::string& account_id,
                                                              const std::string& room_id);
    // {display_name, public_key}: joins (open rooms, invited or former members) or updates the
    // caller's own membership.
    awaitable<Outcome<Member>> join(const Account& caller, const std::string& room_id,
                                    const nlohmann::json& body);
    awaitable<Outcome<Done>> leave(const std::string& account_id, const std::string& room_id);
    // {seq}: the caller's read marker; answers the stored one (it never goes back).
    awaitable<Outcome<std::int64_t>> mark_read(const std::string& account_id,
                                               const std::string& room_id,
                                               const nlohmann::json& body);
    // {title, join_policy}, owners only.
    awaitable<Outcome<Room>> update(const std::string& account_id, const std::string& room_id,
                                    const nlohmann::json& body);
    // {account_id, role}, owners only: adds a member (who hears an invitation) or sets its role.
    awaitable<Outcome<Member>> add_member(const std::string& account_id, const std::string& room_id,
                                          const nlohmann::json& body);
    // Owners remove a member (kick) or ban an account; the removed member's sockets hear
    // `removed` and its subscriptions to the room end.
    awaitable<Outcome<Done>> expel(const std::string& account_id, const std::string& room_id,
                                   const std::string& target, bool ban);
    awaitable<Outcome<Done>> unban(const std::string& account_id, const std::string& room_id,
                                   const std::string& target);
    awaitable<Outcome<std::vector<RoomBan>>> bans(const std::string& account_id,
                                                  const std::string& room_id);
    // Messages after query.after, at most query.limit, from the recent list when it holds them.
    awaitable<Outcome<std::vector<Message>>> history(const std::string& account_id,
                                                     const std::string& room_id,
                                                     HistoryQuery query);
    // Moderation: owners and moderators remove a message (`seq` nullopt: the request's seq was
    // not a positive integer); everyone in the room hears of it.
    awaitable<Outcome<Done>> remove_message(const std::string& account_id,
                                            const std::string& room_id,
                                            std::optional<std::int64_t> seq);

    awaitable<Outcome<SentMessage>> send(std::string account_id, std::string room_id,
                                         SendFields fields);

    // Whether `account_id` may attach the image `content_id` to a message: empty when yes, else
    // why not. Set by the server app (it sees the media component); images are refused without.
    std::function<std::string(const std::string& account_id, const std::string& content_id)>
        media_check;

  private:
    // The members other than the sender whose @username the text holds (as a whole word),
    // as notifications to store with the message (seq set when it is numbered).
    std::vector<Notification> mentions(const std::string& room_id, const std::string& sender_id,
                                       const std::string& text) const;
    // The caller's membership when it owns the room; else the refusal: not_found for a
    // non-member, forbidden "only owners can <action>" for any other role.
    Outcome<Member> owner(const std::string& account_id, const std::string& room_id,
                          std::string_view action) const;

    const ChatSettings& settings_;
    const RoomPolicy policy_;
    RoomStore& rooms_;
    AccountStore& accounts_;
    RoomHub& hub_;
    NotificationService& notifications_;
};

}  // namespace parley
