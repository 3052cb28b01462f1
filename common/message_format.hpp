// The bytes a room message's Ed25519 signature covers (docs/api.md "Signed messages"), shared
// by the server, which verifies, and the bot client, which signs:
//   "parley-message-v1\n" room_id "\n" sender_id "\n" client_msg_id "\n" text
// followed by "\n" media only when the message carries an image, so that text-only messages
// keep the bytes they always had.
#pragma once

#include <string>

namespace parley {

inline std::string canonical_message_bytes(const std::string& room_id, const std::string& sender_id,
                                           const std::string& client_msg_id,
                                           const std::string& text, const std::string& media = {}) {
    std::string out =
        "parley-message-v1\n" + room_id + "\n" + sender_id + "\n" + client_msg_id + "\n" + text;
    if (!media.empty()) out += "\n" + media;
    return out;
}

}  // namespace parley
