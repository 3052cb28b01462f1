#include "server/features/room_service.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/utf8.hpp"
#include "server/features/request_fields.hpp"

namespace parley {

RoomService::RoomService(const ChatSettings& settings, RoomPolicy policy, RoomStore& rooms,
                         AccountStore& accounts, RoomHub& hub, NotificationService& notifications)
    : settings_(settings),
      policy_(std::move(policy)),
      rooms_(rooms),
      accounts_(accounts),
      hub_(hub),
      notifications_(notifications) {}

namespace {

Refusal refuse(ErrorCode code, std::string message) {
    return Refusal{code, std::move(message)};
}

Refusal not_a_room() {
    return refuse(ErrorCode::not_found, "no such room");
}

// A store failure of a room change: a constraint means the room or account is gone.
Refusal store_refusal(const DbFailure& f) {
    if (f.code == DbErrc::constraint) {
        return refuse(ErrorCode::not_found, "no such room or account");
    }
    return db_refusal(f, "the room change");
}

Notification invitation(const std::string& account_id, const std::string& room_id,
                        const std::string& from) {
    Notification n;
    n.account_id = account_id;
    n.kind = "invitation";
    n.room_id = room_id;
    n.from = from;
    return n;
}

Refusal last_owner_conflict() {
    return refuse(ErrorCode::conflict,
                  "you are the room's last owner: make another member owner first "
                  "(POST /api/v1/rooms/{id}/members)");
}

}  // namespace

Outcome<Member> RoomService::owner(const std::string& account_id, const std::string& room_id,
                                   std::string_view action) const {
    auto me = rooms_.member(room_id, account_id);
    if (!me) return not_a_room();
    if (me->role != "owner") {
        return refuse(ErrorCode::forbidden, "only owners can " + std::string(action));
    }
    return std::move(*me);
}

awaitable<Outcome<Room>> RoomService::create(const Account& caller, const nlohmann::json& j) {
    std::string kind = string_field(j, "kind").value_or("group");
    std::string title = string_field(j, "title").value_or("");
    if (!is_room_kind(kind)) {
        co_return refuse(ErrorCode::bad_request,
                         "kind must be \"group\", \"direct\" or \"ephemeral\"");
    }
    if (utf8_code_points(title) > 200) {
        co_return refuse(ErrorCode::bad_request, "title is longer than 200 characters");
    }
    bool signatures = policy_.require_signatures;
    if (auto it = j.find("require_signatures"); it != j.end() && !it->is_null()) {
        if (!it->is_boolean()) {
            co_return refuse(ErrorCode::bad_request, "require_signatures must be true or false");
        }
        signatures = it->get<bool>();
        // Only an opt-out needs the server's leave; asking for signatures is always allowed.
        if (!signatures && !policy_.allows_opt_out()) {
            co_return refuse(ErrorCode::forbidden,
                             "this server requires signed messages in every room "
                             "([rooms] allow_unsigned_rooms is false)");
        }
    }
    std::string policy = string_field(j, "join_policy").value_or("invite");
    if (!is_join_policy(policy)) {
        co_return refuse(ErrorCode::bad_request, "join_policy must be \"invite\" or \"open\"");
    }
    std::vector<Account> invited;
    if (auto m = j.find("members"); m != j.end()) {
        if (!m->is_array())
            co_return refuse(ErrorCode::bad_request, "members must be an array of account ids");
        for (const auto& id : *m) {
            if (!id.is_string())
                co_return refuse(ErrorCode::bad_request, "members must be an array of account ids");
            const auto& s = id.get_ref<const std::string&>();
            if (s == caller.id || std::any_of(invited.begin(), invited.end(),
                                              [&](const Account& a) { return a.id == s; }))
                continue;
            auto account = accounts_.account_by_id(s);
            if (!account) co_return refuse(ErrorCode::bad_request, "no such account: " + s);
            invited.push_back(std::move(*account));
        }
    }
    if (kind == "direct" && invited.size() != 1) {
        co_return refuse(ErrorCode::bad_request, "a direct room has exactly one other member");
    }
    if (static_cast<int>(invited.size()) + 1 > settings_.max_members) {
        co_return refuse(ErrorCode::too_many,
                         "more than " + std::to_string(settings_.max_members) + " members");
    }
    if (static_cast<int>(rooms_.rooms_created_by(caller.id)) >= settings_.rooms_per_account) {
        co_return refuse(ErrorCode::forbidden, "you have reached the limit of " +
                                                   std::to_string(settings_.rooms_per_account) +
                                                   " rooms");
    }
    Room room{random_id(), kind, title, signatures, caller.id, now_ms(), 0, policy};
    std::vector<Member> members;
    members.push_back(Member{room.id, caller.id, "owner", caller.username, "", room.created_at});
    for (const auto& account : invited) {
        members.push_back(
            Member{room.id, account.id, "member", account.username, "", room.created_at});
    }
    // Shared with the writer job, which fills in their ids.
    auto invitations = std::make_shared<std::vector<Notification>>();
    for (const auto& account : invited)
        invitations->push_back(invitation(account.id, room.id, room.created_by));
    // Built before the co_await: GCC 12 miscompiles a lambda temporary inside it.
    RoomStore::AlsoWrite also = [this, invitations](SqliteDb& db) {
        notifications_.store_in(db, *invitations);
    };
    auto created = co_await rooms_.create_room(room, members, std::move(also));
    if (!created) co_return store_refusal(created.error());
    spdlog::info("room {} ({}) created by {} with {} members, signatures {}", room.id, kind,
                 room.created_by, members.size(), signatures ? "required" : "optional");
    notifications_.deliver(*invitations);
    co_return room;
}

std::vector<RoomListing> RoomService::rooms_of(const std::string& account_id) const {
    std::vector<RoomListing> out;
    for (const auto& id : rooms_.rooms_of(account_id)) {
        auto r = rooms_.room(id);
        auto m = rooms_.member(id, account_id);
        if (r && m) out.push_back(RoomListing{std::move(*r), std::move(*m)});
    }
    return out;
}

Outcome<std::pair<nlohmann::json, std::int64_t>> RoomService::document(
    const std::string& account_id, const std::string& room_id) {
    if (!rooms_.member(room_id, account_id)) return not_a_room();
    return hub_.document(room_id);
}

awaitable<Outcome<Member>> RoomService::join(const Account& caller, const std::string& id,
                                             const nlohmann::json& body) {
    auto room = rooms_.room(id);
    if (!room) co_return not_a_room();
    auto existing = rooms_.member(id, caller.id);
    if (!existing && room->kind == "direct") {
        co_return refuse(ErrorCode::forbidden, "a direct room cannot be joined");
    }
    if (!existing && static_cast<int>(rooms_.member_count(id)) >= settings_.max_members) {
        co_return refuse(ErrorCode::full, "the room has reached " +
                                              std::to_string(settings_.max_members) + " members");
    }
    Member m = existing.value_or(Member{id, caller.id, "member", caller.username, "", now_ms()});
    if (!existing) m.read_seq = room->last_seq;  // as for a member added by an owner
    if (auto name = string_field(body, "display_name")) {
        long chars = utf8_code_points(*name);
        if (chars < 1 || chars > 64) {
            co_return refuse(ErrorCode::bad_request, "display_name must be 1 to 64 characters");
        }
        m.display_name = *name;
    }
    if (body.contains("public_key") && !body["public_key"].is_null()) {
        auto key_text = string_field(body, "public_key");
        auto key = key_text ? base64_decode(*key_text) : std::nullopt;
        if (!key || key->size() != kEd25519PublicKeySize) {
            co_return refuse(ErrorCode::bad_request,
                             "public_key must be a 32-byte Ed25519 key in base64");
        }
        m.public_key = *key;
    }
    Member saved;
    if (existing) {
        auto put = co_await rooms_.put_member(m, RoomStore::MemberChange::join);
        if (!put) co_return store_refusal(put.error());
        saved = std::move(*put);
    } else {
        // Bans, the invite-only rule and a former member's role are decided by the store in
        // one step with the insert.
        auto joined = co_await rooms_.join(m);
        if (!joined) co_return store_refusal(joined.error());
        if (joined->status == MembershipStatus::banned) {
            co_return refuse(ErrorCode::forbidden, "you are banned from this room");
        }
        if (joined->status != MembershipStatus::done) {
            co_return refuse(ErrorCode::forbidden,
                             "this room is invite-only: an owner must add you first");
        }
        saved = std::move(joined->member);
        spdlog::info("room {}: {} joined as {}", id, saved.account_id, saved.role);
    }
    hub_.room_changed(id);
    co_return saved;
}

awaitable<Outcome<Done>> RoomService::leave(const std::string& account_id, const std::string& id) {
    if (!rooms_.member(id, account_id)) co_return not_a_room();
    auto left = co_await rooms_.leave(id, account_id);
    if (!left) co_return store_refusal(left.error());
    if (left->status == MembershipStatus::last_owner) co_return last_owner_conflict();
    if (left->status != MembershipStatus::done) co_return not_a_room();
    hub_.member_removed(id, account_id);
    hub_.room_changed(id);
    co_return Done{};
}

awaitable<Outcome<std::int64_t>> RoomService::mark_read(const std::string& account_id,
                                                        const std::string& id,
                                                        const nlohmann::json& body) {
    if (!rooms_.member(id, account_id)) co_return not_a_room();
    auto seq = body.find("seq");
    if (seq == body.end() || !seq->is_number_integer() || seq->get<std::int64_t>() < 0) {
        co_return refuse(ErrorCode::bad_request, "seq must be a non-negative integer");
    }
    auto stored = co_await rooms_.mark_read(id, account_id, seq->get<std::int64_t>());
    if (!stored) co_return store_refusal(stored.error());
    co_return *stored;
}

awaitable<Outcome<Room>> RoomService::update(const std::string& account_id, const std::string& id,
                                             const nlohmann::json& j) {
    if (auto me = owner(account_id, id, "change a room"); !me) co_return me.refusal();
    auto title = string_field(j, "title");
    auto policy = string_field(j, "join_policy");
    if ((j.contains("title") &&
         (!title || utf8_code_points(*title) < 0 || utf8_code_points(*title) > 200)) ||
        (!title && !policy)) {
        co_return refuse(ErrorCode::bad_request,
                         "title must be a string of at most 200 characters");
    }
    if (j.contains("join_policy") && (!policy || !is_join_policy(*policy))) {
        co_return refuse(ErrorCode::bad_request, "join_policy must be \"invite\" or \"open\"");
    }
    std::optional<Room> changed;
    if (title) {
        auto renamed = co_await rooms_.rename(id, *title);
        if (!renamed) co_return store_refusal(renamed.error());
        changed = std::move(*renamed);
    }
    if (policy) {
        auto set = co_await rooms_.set_join_policy(id, *policy);
        if (!set) co_return store_refusal(set.error());
        changed = std::move(*set);
        spdlog::info("room {}: join policy {} set by {}", id, *policy, account_id);
    }
    hub_.room_changed(id);
    co_return std::move(*changed);
}

awaitable<Outcome<Member>> RoomService::add_member(const std::string& account_id,
                                                   const std::string& id,
                                                   const nlohmann::json& body) {
    auto room = rooms_.room(id);
    if (!room) co_return not_a_room();
    if (auto me = owner(account_id, id, "add members"); !me) co_return me.refusal();
    if (room->kind == "direct")
        co_return refuse(ErrorCode::forbidden, "a direct room has two members");
    auto target_id = string_field(body, "account_id");
    std::string role = string_field(body, "role").value_or("member");
    auto account = target_id ? accounts_.account_by_id(*target_id) : std::nullopt;
    if (!account) co_return refuse(ErrorCode::bad_request, "account_id names no account");
    if (!is_member_role(role))
        co_return refuse(ErrorCode::bad_request, "role must be owner, moderator, member or viewer");
    auto existing = rooms_.member(id, account->id);
    if (!existing && static_cast<int>(rooms_.member_count(id)) >= settings_.max_members) {
        co_return refuse(ErrorCode::full, "the room is full");
    }
    Member m = existing.value_or(Member{id, account->id, role, account->username, "", now_ms()});
    m.role = role;
    // The history from before a member was added is not unread for it: a bot catches up from
    // its read marker, and must not answer messages older than its membership.
    if (!existing) m.read_seq = room->last_seq;
    auto invited = std::make_shared<std::vector<Notification>>(
        std::vector<Notification>{invitation(account->id, id, account_id)});
    RoomStore::AlsoWrite also = [this, invited](SqliteDb& db) {
        notifications_.store_in(db, *invited);
    };  // built before the co_await, as in create()
    auto saved = co_await rooms_.set_role(m, std::move(also));
    if (!saved) co_return store_refusal(saved.error());
    if (saved->status == MembershipStatus::banned) {
        co_return refuse(ErrorCode::conflict,
                         "this account is banned from the room: unban it first");
    }
    if (saved->status == MembershipStatus::last_owner) co_return last_owner_conflict();
    hub_.room_changed(id);
    notifications_.deliver(*invited);  // stored only when the account was not a member
    co_return m;
}

awaitable<Outcome<Done>> RoomService::expel(const std::string& account_id, const std::string& id,
                                            const std::string& target, bool ban) {
    auto room = rooms_.room(id);
    if (!room) co_return not_a_room();
    if (auto me = owner(account_id, id, ban ? "ban" : "remove members"); !me)
        co_return me.refusal();
    if (room->kind == "direct")
        co_return refuse(ErrorCode::forbidden, "a direct room has two members");
    if (target == account_id)
        co_return refuse(ErrorCode::bad_request, "to leave a room, POST /api/v1/rooms/{id}/leave");
    if (!accounts_.account_by_id(target)) co_return refuse(ErrorCode::not_found, "no such account");
    auto out = co_await rooms_.expel(id, target, ban, account_id);
    if (!out) co_return store_refusal(out.error());
    if (!ban && out->status == MembershipStatus::not_member)
        co_return refuse(ErrorCode::not_found, "not a member of this room");
    if (out->status == MembershipStatus::done) {
        hub_.member_removed(id, target);
        hub_.room_changed(id);
    }
    spdlog::info("room {}: {} {} by {}", id, target, ban ? "banned" : "removed", account_id);
    co_return Done{};
}

awaitable<Outcome<Done>> RoomService::unban(const std::string& account_id, const std::string& id,
                                            const std::string& target) {
    if (auto me = owner(account_id, id, "lift a ban"); !me) co_return me.refusal();
    auto lifted = co_await rooms_.unban(id, target);
    if (!lifted) co_return store_refusal(lifted.error());
    if (!*lifted)
        co_return refuse(ErrorCode::not_found, "this account is not banned from the room");
    spdlog::info("room {}: ban of {} lifted by {}", id, target, account_id);
    co_return Done{};
}

awaitable<Outcome<std::vector<RoomBan>>> RoomService::bans(const std::string& account_id,
                                                           const std::string& id) {
    if (auto me = owner(account_id, id, "list bans"); !me) co_return me.refusal();
    auto bans = co_await rooms_.bans(id);
    if (!bans) co_return store_refusal(bans.error());
    co_return std::move(*bans);
}

awaitable<Outcome<std::vector<Message>>> RoomService::history(const std::string& account_id,
                                                              const std::string& id,
                                                              HistoryQuery query) {
    if (!rooms_.member(id, account_id)) co_return not_a_room();
    if (!query.integers) {
        co_return refuse(ErrorCode::bad_request, "after_seq and limit are integers");
    }
    if (query.after < 0 || query.limit < 1 || query.limit > 1000) {
        co_return refuse(ErrorCode::bad_request, "after_seq >= 0 and 1 <= limit <= 1000");
    }
    bool complete = false;
    std::vector<Message> messages = rooms_.recent_after(id, query.after, complete);
    if (!complete) {
        auto from_db =
            co_await rooms_.messages_after(id, query.after, static_cast<int>(query.limit));
        if (!from_db) co_return store_refusal(from_db.error());
        messages = std::move(*from_db);
    }
    if (static_cast<std::int64_t>(messages.size()) > query.limit)
        messages.resize(static_cast<std::size_t>(query.limit));
    co_return messages;
}

awaitable<Outcome<Done>> RoomService::remove_message(const std::string& account_id,
                                                     const std::string& id,
                                                     std::optional<std::int64_t> seq) {
    auto me = rooms_.member(id, account_id);
    if (!me) co_return not_a_room();
    if (me->role != "owner" && me->role != "moderator") {
        co_return refuse(ErrorCode::forbidden, "only owners and moderators can remove messages");
    }
    if (!seq || *seq < 1)
        co_return refuse(ErrorCode::bad_request, "seq must be a positive integer");
    auto removed = co_await rooms_.remove_message(id, *seq);
    if (!removed) co_return store_refusal(removed.error());
    if (!*removed) {
        co_return refuse(ErrorCode::not_found, "no such message (or it was removed already)");
    }
    hub_.message_removed(id, *seq, account_id);
    spdlog::info("room {}: message {} removed by {} ({})", id, *seq, account_id, me->role);
    co_return Done{};
}

namespace {

using FieldKind = SendFields::Field::Kind;

// The four fields of a send, in one place for both sources: `take(name)` gives each.
template <class Take>
SendFields take_fields(Take take) {
    SendFields out;
    out.text = take("text");
    out.client_msg_id = take("client_msg_id");
    out.media = take("media");
    out.signature = take("signature");
    return out;
}

}  // namespace

SendFields SendFields::from_json(nlohmann::json& body) {
    if (!body.is_object()) return {};
    return take_fields([&body](const char* name) {
        auto it = body.find(name);
        if (it == body.end()) return Field{};
        if (it->is_string())
            return Field{FieldKind::string, std::move(it->get_ref<std::string&>())};
        return Field{it->is_null() ? FieldKind::null : FieldKind::other, {}};
    });
}

SendFields SendFields::from_flat(FlatObject& fields) {
    return take_fields([&fields](const char* name) {
        FlatValue* v = fields.find(name);
        if (!v) return Field{};
        if (v->is_string()) return Field{FieldKind::string, std::move(v->text)};
        return Field{v->is_null() ? FieldKind::null : FieldKind::other, {}};
    });
}

awaitable<Outcome<SentMessage>> RoomService::send(std::string account_id, std::string room_id,
                                                  SendFields fields) {
    auto sender = rooms_.sender(room_id, account_id);
    if (!sender) co_return refuse(ErrorCode::not_found, "no such room");
    if (sender->viewer) co_return refuse(ErrorCode::forbidden, "viewers cannot send messages");

    const auto& media = fields.media;
    if (media.given()) {
        if (!media.is_string() || media.value.empty() || media.value.size() > 64) {
            co_return refuse(ErrorCode::bad_request,
                             "media is the content id of one of your images");
        }
        std::string problem = media_check ? media_check(account_id, media.value) : "images are off";
        if (!problem.empty()) co_return refuse(ErrorCode::bad_request, problem);
    }
    const bool has_media = media.given();
    if (fields.text.absent() && has_media) {
        // An image alone: its text is empty.
    } else if (!fields.text.is_string()) {
        co_return refuse(ErrorCode::bad_request, "text is a required string");
    }
    const auto& cmid = fields.client_msg_id;
    if (!cmid.is_string() || cmid.value.empty() || cmid.value.size() > 64) {
        co_return refuse(ErrorCode::bad_request,
                         "client_msg_id is a required string of 1 to 64 bytes");
    }
    const std::string& text = fields.text.value;
    long chars = utf8_code_points(text);
    if (chars < 0) co_return refuse(ErrorCode::bad_request, "text is not valid UTF-8");
    if (chars == 0 && !has_media) co_return refuse(ErrorCode::bad_request, "text is empty");
    if (chars > settings_.message_max_chars) {
        co_return refuse(
            ErrorCode::too_large,
            "text is longer than " + std::to_string(settings_.message_max_chars) + " characters");
    }

    Message m;
    m.room_id = room_id;
    m.sender_id = account_id;
    m.client_msg_id = std::move(fields.client_msg_id.value);
    m.text = std::move(fields.text.value);
    m.media = std::move(fields.media.value);
    m.sent_at = now_ms();

    const auto& signature = fields.signature;
    if (sender->require_signatures || signature.given()) {
        if (!signature.is_string()) {
            co_return refuse(ErrorCode::invalid_signature,
                             "this room requires a signature on every message");
        }
        auto sig = base64_decode(signature.value);
        if (!sig || sig->size() != kEd25519SignatureSize) {
            co_return refuse(ErrorCode::invalid_signature, "signature must be 64 bytes in base64");
        }
        if (sender->public_key.empty()) {
            co_return refuse(ErrorCode::invalid_signature,
                             "no public key registered for you in this room");
        }
        if (!ed25519_verify(
                sender->public_key,
                canonical_message_bytes(room_id, account_id, m.client_msg_id, m.text, m.media),
                *sig)) {
            spdlog::info("room {}: message from {} refused: invalid signature", room_id,
                         account_id);
            co_return refuse(ErrorCode::invalid_signature,
                             "the signature does not match the message");
        }
        m.signature = *sig;
    }

    // A message without '@' costs nothing here: no member list, no savepoint.
    std::shared_ptr<std::vector<Notification>> mentioned;
    std::function<void(SqliteDb&, const Message&)> also;
    if (m.text.find('@') != std::string::npos) {
        mentioned =
            std::make_shared<std::vector<Notification>>(mentions(room_id, account_id, m.text));
        if (mentioned->empty()) mentioned.reset();
    }
    if (mentioned) {
        also = [this, mentioned](SqliteDb& db, const Message& stored) {
            for (auto& n : *mentioned)
                n.seq = stored.seq;
            notifications_.store_in(db, *mentioned);
        };
    }
    auto stored = co_await rooms_.append(std::move(m), std::move(also));
    if (!stored) {
        if (stored.error().code == DbErrc::constraint)
            co_return refuse(ErrorCode::not_found, "no such room");
        if (stored.error().code == DbErrc::unavailable || stored.error().code == DbErrc::busy) {
            co_return refuse(ErrorCode::unavailable,
                             "the server is busy; resend with the same client_msg_id");
        }
        spdlog::error("room {}: storing a message failed: {}", room_id, stored.error().message);
        co_return refuse(ErrorCode::internal, "the message was not stored");
    }
    SentMessage out{std::move(stored->message), stored->duplicate};
    if (!out.duplicate) {
        hub_.message_committed(*out.message);
        if (mentioned) notifications_.deliver(*mentioned);
    }
    co_return out;
}

std::vector<Notification> RoomService::mentions(const std::string& room_id,
                                                const std::string& sender_id,
                                                const std::string& text) const {
    std::vector<Notification> out;
    for (const auto& member : rooms_.members(room_id)) {
        if (member.account_id == sender_id) continue;
        auto account = accounts_.account_by_id(member.account_id);
        if (!account) continue;
        const std::string needle = "@" + account->username;
        bool found = false;
        for (auto pos = text.find(needle); pos != std::string::npos && !found;
             pos = text.find(needle, pos + 1)) {
            // A whole word: "@al" does not mention al in "@alice".
            char after = pos + needle.size() < text.size() ? text[pos + needle.size()] : ' ';
            found = !std::isalnum(static_cast<unsigned char>(after)) && after != '_';
        }
        if (!found) continue;
        Notification n;
        n.account_id = member.account_id;
        n.kind = "mention";
        n.room_id = room_id;
        n.from = sender_id;
        out.push_back(std::move(n));
    }
    return out;
}

}  // namespace parley
