#include "server/features/chat_service.hpp"

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/utf8.hpp"

namespace parley {

void Notifier::subscribe(const Client& client) {
    std::lock_guard lock(mutex_);
    subscribed_.insert(client.id());
}

void Notifier::unsubscribe(const Client& client) {
    std::lock_guard lock(mutex_);
    subscribed_.erase(client.id());
}

void Notifier::notify(const std::string& account_id, nlohmann::json body) {
    body["type"] = "notification";
    auto frame = std::make_shared<const std::string>(body.dump());
    for (auto& c : clients_.for_account(account_id)) {
        bool wants;
        {
            std::lock_guard lock(mutex_);
            wants = subscribed_.contains(c->id());
        }
        if (wants) c->send(frame);
    }
}

void Notifier::notify_all(nlohmann::json body) {
    body["type"] = "notification";
    auto frame = std::make_shared<const std::string>(body.dump());
    for (auto& c : clients_.all()) {
        bool wants;
        {
            std::lock_guard lock(mutex_);
            wants = subscribed_.contains(c->id());
        }
        if (wants) c->send(frame);
    }
}

ChatService::ChatService(const ChatSettings& settings, RoomStore& rooms, AccountStore& accounts,
                         RoomHub& hub, Notifier& notifier)
    : settings_(settings), rooms_(rooms), accounts_(accounts), hub_(hub), notifier_(notifier) {}

namespace {
SendOutcome refuse(unsigned status, std::string code, std::string error) {
    SendOutcome o;
    o.status = status;
    o.code = std::move(code);
    o.error = std::move(error);
    return o;
}
}  // namespace

awaitable<SendOutcome> ChatService::send(std::string account_id, std::string room_id,
                                         nlohmann::json body) {
    auto room = rooms_.room(room_id);
    auto member = rooms_.member(room_id, account_id);
    if (!room || !member) co_return refuse(404, "not_found", "no such room");
    if (member->role == "viewer")
        co_return refuse(403, "forbidden", "viewers cannot send messages");

    auto text_it = body.find("text");
    auto cmid_it = body.find("client_msg_id");
    auto media_it = body.find("media");
    std::string media;
    if (media_it != body.end() && !media_it->is_null()) {
        if (!media_it->is_string() || media_it->get_ref<const std::string&>().empty() ||
            media_it->get_ref<const std::string&>().size() > 64) {
            co_return refuse(400, "bad_request", "media is the content id of one of your images");
        }
        media = media_it->get<std::string>();
        std::string problem = media_check ? media_check(account_id, media) : "images are off";
        if (!problem.empty()) co_return refuse(400, "bad_request", problem);
    }
    if (text_it == body.end() && !media.empty()) {
        // An image alone: its text is empty.
    } else if (text_it == body.end() || !text_it->is_string()) {
        co_return refuse(400, "bad_request", "text is a required string");
    }
    if (cmid_it == body.end() || !cmid_it->is_string() ||
        cmid_it->get_ref<const std::string&>().empty() ||
        cmid_it->get_ref<const std::string&>().size() > 64) {
        co_return refuse(400, "bad_request", "client_msg_id is a required string of 1 to 64 bytes");
    }
    static const std::string no_text;
    const std::string& text =
        text_it == body.end() ? no_text : text_it->get_ref<const std::string&>();
    long chars = utf8_code_points(text);
    if (chars < 0) co_return refuse(400, "bad_request", "text is not valid UTF-8");
    if (chars == 0 && media.empty()) co_return refuse(400, "bad_request", "text is empty");
    if (chars > settings_.message_max_chars) {
        co_return refuse(
            413, "too_large",
            "text is longer than " + std::to_string(settings_.message_max_chars) + " characters");
    }

    Message m;
    m.room_id = room_id;
    m.sender_id = account_id;
    m.client_msg_id = std::move(cmid_it->get_ref<std::string&>());
    if (text_it != body.end()) m.text = std::move(text_it->get_ref<std::string&>());
    m.media = std::move(media);
    m.sent_at = now_ms();

    auto sig_it = body.find("signature");
    bool has_sig = sig_it != body.end() && !sig_it->is_null();
    if (room->require_signatures || has_sig) {
        if (!has_sig || !sig_it->is_string()) {
            co_return refuse(400, "invalid_signature",
                             "this room requires a signature on every message");
        }
        auto sig = base64_decode(sig_it->get<std::string>());
        if (!sig || sig->size() != kEd25519SignatureSize) {
            co_return refuse(400, "invalid_signature", "signature must be 64 bytes in base64");
        }
        if (member->public_key.empty()) {
            co_return refuse(400, "invalid_signature",
                             "no public key registered for you in this room");
        }
        if (!ed25519_verify(
                member->public_key,
                canonical_message_bytes(room_id, account_id, m.client_msg_id, m.text, m.media),
                *sig)) {
            spdlog::info("room {}: message from {} refused: invalid signature", room_id,
                         account_id);
            co_return refuse(400, "invalid_signature", "the signature does not match the message");
        }
        m.signature = *sig;
    }

    auto stored = co_await rooms_.append(std::move(m));
    if (!stored) {
        if (stored.error().code == DbErrc::constraint)
            co_return refuse(404, "not_found", "no such room");
        if (stored.error().code == DbErrc::unavailable || stored.error().code == DbErrc::busy) {
            co_return refuse(503, "unavailable",
                             "the server is busy; resend with the same client_msg_id");
        }
        spdlog::error("room {}: storing a message failed: {}", room_id, stored.error().message);
        co_return refuse(500, "internal", "the message was not stored");
    }
    SendOutcome out;
    out.ok = true;
    out.message = std::move(stored->message);
    out.duplicate = stored->duplicate;
    if (!out.duplicate) {
        hub_.message_committed(out.message);
        notify_mentions(out.message);
    }
    co_return out;
}

void ChatService::notify_mentions(const Message& m) {
    if (m.text.find('@') == std::string::npos) return;
    for (const auto& member : rooms_.members(m.room_id)) {
        if (member.account_id == m.sender_id) continue;
        auto account = accounts_.account_by_id(member.account_id);
        if (!account) continue;
        std::string needle = "@" + account->username;
        auto pos = m.text.find(needle);
        if (pos == std::string::npos) continue;
        char after = pos + needle.size() < m.text.size() ? m.text[pos + needle.size()] : ' ';
        if (std::isalnum(static_cast<unsigned char>(after)) || after == '_') continue;
        notifier_.notify(
            member.account_id,
            {{"kind", "mention"}, {"room_id", m.room_id}, {"seq", m.seq}, {"from", m.sender_id}});
    }
}

}  // namespace parley
