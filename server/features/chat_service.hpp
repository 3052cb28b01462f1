// ChatService: sending a message, the one path shared by the WebSocket `send` frame and
// POST /api/v1/rooms/{id}/messages.
//
// Checks membership and role (a viewer cannot send), the text (1 to chat.message_max_chars
// code points), the client_msg_id, and the signature: in a room created with
// require_signatures every message carries an Ed25519 signature, made with the key the sender
// registered at join, over the canonical bytes
//   "parley-message-v1\n" room_id "\n" sender_id "\n" client_msg_id "\n" text
// A message that fails any check is stored nowhere and broadcast to no one. The answer comes
// only after the commit; a resend with the same client_msg_id gets the stored seq back.
// Also delivers notifications (mentions, invitations). Thread-safe; owned by the server app.
#pragma once

#include <optional>
#include <string>

#include "server/data/account_store.hpp"
#include "server/data/room_store.hpp"
#include "server/features/room_hub.hpp"

namespace parley {

// The bytes a room signature covers.
std::string canonical_message_bytes(const std::string& room_id, const std::string& sender_id,
                                    const std::string& client_msg_id, const std::string& text);

struct SendOutcome {
    bool ok = false;
    Message message;
    bool duplicate = false;
    unsigned status = 200;  // HTTP status for the REST route when !ok
    std::string code;       // machine code when !ok
    std::string error;      // human text when !ok
};

// Sockets subscribed to account:me:notifications.
class Notifier {
  public:
    explicit Notifier(ClientRegistry& clients) : clients_(clients) {}
    void subscribe(const Client& client);
    void unsubscribe(const Client& client);
    // Sends {"type":"notification", ...body} to the account's subscribed sockets.
    void notify(const std::string& account_id, nlohmann::json body);
    // Sends to every subscribed socket (maintenance notices).
    void notify_all(nlohmann::json body);

  private:
    ClientRegistry& clients_;
    std::mutex mutex_;
    std::set<std::uint64_t> subscribed_;
};

class ChatService {
  public:
    ChatService(const ChatSettings& settings, RoomStore& rooms, AccountStore& accounts,
                RoomHub& hub, Notifier& notifier);

    awaitable<SendOutcome> send(std::string account_id, std::string room_id, nlohmann::json body);

  private:
    void notify_mentions(const Message& m);

    const ChatSettings& settings_;
    RoomStore& rooms_;
    AccountStore& accounts_;
    RoomHub& hub_;
    Notifier& notifier_;
};

// Unicode code points in `text`, or -1 when it is not valid UTF-8.
long utf8_code_points(std::string_view text);

}  // namespace parley
