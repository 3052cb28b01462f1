// ChatService: sending a message, the one path shared by the WebSocket `send` frame and
// POST /api/v1/rooms/{id}/messages.
//
// Checks membership and role (a viewer cannot send), the text (1 to chat.message_max_chars
// code points; it may be empty when the message carries an image), the image (`media`: the
// content id of one of the sender's ready images, checked by media_check), the client_msg_id,
// and the signature: in a room created with require_signatures every message carries an
// Ed25519 signature, made with the key the sender registered at join, over
// canonical_message_bytes() (common/message_format.hpp).
// A message that fails any check is stored nowhere and broadcast to no one. The answer comes
// only after the commit; a resend with the same client_msg_id gets the stored seq back.
// Also delivers notifications (mentions, invitations). Thread-safe; owned by the server app.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "common/message_format.hpp"
#include "server/data/account_store.hpp"
#include "server/data/room_store.hpp"
#include "server/features/room_hub.hpp"

namespace parley {

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

    // Whether `account_id` may attach the image `content_id` to a message: empty when yes, else
    // why not. Set by the server app (it sees the media component); images are refused without.
    std::function<std::string(const std::string& account_id, const std::string& content_id)>
        media_check;

  private:
    void notify_mentions(const Message& m);

    const ChatSettings& settings_;
    RoomStore& rooms_;
    AccountStore& accounts_;
    RoomHub& hub_;
    Notifier& notifier_;
};

}  // namespace parley
