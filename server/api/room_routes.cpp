#include "server/api/room_routes.hpp"

#include <charconv>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/utf8.hpp"

namespace parley {

namespace {

HttpResponse store_failure(const DbFailure& f) {
    if (f.code == DbErrc::constraint) {
        return error_response(http::status::not_found, "not_found", "no such room or account");
    }
    return db_failure_response(f, "the room change");
}

// Parses all of `text` as a decimal integer into `out`; an empty text leaves `out` as it is.
bool whole_integer(std::string_view text, std::int64_t& out) {
    if (text.empty()) return true;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size();
}

HttpResponse last_owner_conflict() {
    return error_response(http::status::conflict, "conflict",
                          "you are the room's last owner: make another member owner first "
                          "(POST /api/v1/rooms/{id}/members)");
}

HttpResponse not_a_room() {
    return error_response(http::status::not_found, "not_found", "no such room");
}

// Nothing when the caller `me` owns the room; else the refusal: 404 for a non-member, 403
// "only owners can <action>" for any other role.
std::optional<HttpResponse> unless_owner(const std::optional<Member>& me, std::string_view action) {
    if (!me) return not_a_room();
    if (me->role != "owner") {
        return error_response(http::status::forbidden, "forbidden",
                              "only owners can " + std::string(action));
    }
    return std::nullopt;
}

}  // namespace

void add_room_routes(Router& router, ApiContext& api, ChatContext& chat) {
    const ChatSettings& limits = api.config.chat;

    router.add(
        http::verb::post, "/api/v1/rooms",
        [&api, &chat, &limits](RequestContext& ctx) -> awaitable<HttpResponse> {
            auto auth = authenticate(api, ctx, true);
            if (!auth.caller) co_return auth.refusal;
            auto body = parse_json_body(ctx);
            if (!body.json) co_return body.refusal;
            const auto& j = *body.json;
            std::string kind = string_field(j, "kind").value_or("group");
            std::string title = string_field(j, "title").value_or("");
            if (!is_room_kind(kind)) {
                co_return error_response(http::status::bad_request, "bad_request",
                                         "kind must be \"group\", \"direct\" or \"ephemeral\"");
            }
            if (utf8_code_points(title) > 200) {
                co_return error_response(http::status::bad_request, "bad_request",
                                         "title is longer than 200 characters");
            }
            bool signatures = j.contains("require_signatures") &&
                              j["require_signatures"].is_boolean() &&
                              j["require_signatures"].get<bool>();
            std::string policy = string_field(j, "join_policy").value_or("invite");
            if (!is_join_policy(policy)) {
                co_return error_response(http::status::bad_request, "bad_request",
                                         "join_policy must be \"invite\" or \"open\"");
            }
            std::vector<std::string> invited;
            if (auto m = j.find("members"); m != j.end()) {
                if (!m->is_array())
                    co_return error_response(http::status::bad_request, "bad_request",
                                             "members must be an array of account ids");
                for (const auto& id : *m) {
                    if (!id.is_string())
                        co_return error_response(http::status::bad_request, "bad_request",
                                                 "members must be an array of account ids");
                    std::string s = id.get<std::string>();
                    if (s == auth.caller->account.id ||
                        std::find(invited.begin(), invited.end(), s) != invited.end())
                        continue;
                    if (!api.accounts.account_by_id(s)) {
                        co_return error_response(http::status::bad_request, "bad_request",
                                                 "no such account: " + s);
                    }
                    invited.push_back(s);
                }
            }
            if (kind == "direct" && invited.size() != 1) {
                co_return error_response(http::status::bad_request, "bad_request",
                                         "a direct room has exactly one other member");
            }
            if (static_cast<int>(invited.size()) + 1 > limits.max_members) {
                co_return error_response(
                    http::status::bad_request, "too_large",
                    "more than " + std::to_string(limits.max_members) + " members");
            }
            if (static_cast<int>(chat.rooms.rooms_created_by(auth.caller->account.id)) >=
                limits.rooms_per_account) {
                co_return error_response(http::status::forbidden, "forbidden",
                                         "you have reached the limit of " +
                                             std::to_string(limits.rooms_per_account) + " rooms");
            }
            Room room{random_id(), kind, title, signatures, auth.caller->account.id,
                      now_ms(),    0,    policy};
            std::vector<Member> members;
            members.push_back(Member{room.id, auth.caller->account.id, "owner",
                                     auth.caller->account.username, "", room.created_at});
            for (const auto& id : invited) {
                auto account = api.accounts.account_by_id(id);
                members.push_back(Member{room.id, id, "member", account ? account->username : "",
                                         "", room.created_at});
            }
            auto created = co_await chat.rooms.create_room(room, members);
            if (!created) co_return store_failure(created.error());
            spdlog::info("room {} ({}) created by {} with {} members", room.id, kind,
                         room.created_by, members.size());
            for (const auto& id : invited) {
                chat.notifier.notify(
                    id, {{"kind", "invitation"}, {"room_id", room.id}, {"from", room.created_by}});
            }
            co_return json_response(http::status::created, {{"room_id", room.id}});
        });

    router.add(
        http::verb::get, "/api/v1/rooms",
        [&api, &chat](RequestContext& ctx) -> awaitable<HttpResponse> {
            auto auth = authenticate(api, ctx, true);
            if (!auth.caller) co_return auth.refusal;
            nlohmann::json rooms = nlohmann::json::array();
            for (const auto& id : chat.rooms.rooms_of(auth.caller->account.id)) {
                auto r = chat.rooms.room(id);
                auto m = chat.rooms.member(id, auth.caller->account.id);
                if (!r || !m) continue;
                rooms.push_back({{"room_id", r->id},
                                 {"kind", r->kind},
                                 {"title", r->title},
                                 {"role", m->role},
                                 {"last_seq", r->last_seq},
                                 {"read_seq", m->read_seq},
                                 {"unread", std::max<std::int64_t>(0, r->last_seq - m->read_seq)}});
            }
            co_return json_response(http::status::ok, {{"rooms", rooms}});
        });

    router.add(
        http::verb::get, "/api/v1/rooms/{id}",
        [&api, &chat](RequestContext& ctx) -> awaitable<HttpResponse> {
            auto auth = authenticate(api, ctx, true);
            if (!auth.caller) co_return auth.refusal;
            const std::string& id = ctx.params["id"];
            if (!chat.rooms.member(id, auth.caller->account.id)) co_return not_a_room();
            auto [doc, version] = chat.hub.document(id);
            co_return json_response(http::status::ok, {{"version", version}, {"document", doc}});
        });

    router.add(
        http::verb::post, "/api/v1/rooms/{id}/join",
        [&api, &chat, &limits](RequestContext& ctx) -> awaitable<HttpResponse> {
            auto auth = authenticate(api, ctx, true);
            if (!auth.caller) co_return auth.refusal;
            auto body = parse_json_body(ctx);
            if (!body.json) co_return body.refusal;
            const std::string& id = ctx.params["id"];
            auto room = chat.rooms.room(id);
            if (!room) co_return not_a_room();
            auto existing = chat.rooms.member(id, auth.caller->account.id);
            if (!existing && room->kind == "direct") {
                co_return error_response(http::status::forbidden, "forbidden",
                                         "a direct room cannot be joined");
            }
            if (!existing && static_cast<int>(chat.rooms.member_count(id)) >= limits.max_members) {
                co_return error_response(
                    http::status::forbidden, "too_large",
                    "the room has reached " + std::to_string(limits.max_members) + " members");
            }
            Member m = existing.value_or(Member{id, auth.caller->account.id, "member",
                                                auth.caller->account.username, "", now_ms()});
            if (!existing) m.read_seq = room->last_seq;  // as for a member added by an owner
            if (auto name = string_field(*body.json, "display_name")) {
                long chars = utf8_code_points(*name);
                if (chars < 1 || chars > 64) {
                    co_return error_response(http::status::bad_request, "bad_request",
                                             "display_name must be 1 to 64 characters");
                }
                m.display_name = *name;
            }
            if (body.json->contains("public_key") && !(*body.json)["public_key"].is_null()) {
                auto key_text = string_field(*body.json, "public_key");
                auto key = key_text ? base64_decode(*key_text) : std::nullopt;
                if (!key || key->size() != kEd25519PublicKeySize) {
                    co_return error_response(http::status::bad_request, "bad_request",
                                             "public_key must be a 32-byte Ed25519 key in base64");
                }
                m.public_key = *key;
            }
            Member saved;
            if (existing) {
                auto put = co_await chat.rooms.put_member(m, RoomStore::MemberChange::join);
                if (!put) co_return store_failure(put.error());
                saved = std::move(*put);
            } else {
                // Bans, the invite-only rule and a former member's role are decided by the
                // store in one step with the insert.
                auto joined = co_await chat.rooms.join(m);
                if (!joined) co_return store_failure(joined.error());
                if (joined->status == MembershipStatus::banned) {
                    co_return error_response(http::status::forbidden, "forbidden",
                                             "you are banned from this room");
                }
                if (joined->status != MembershipStatus::done) {
                    co_return error_response(
                        http::status::forbidden, "forbidden",
                        "this room is invite-only: an owner must add you first");
                }
                saved = std::move(joined->member);
                spdlog::info("room {}: {} joined as {}", id, saved.account_id, saved.role);
            }
            chat.hub.room_changed(id);
            co_return json_response(http::status::ok, {{"room_id", id},
                                                       {"account_id", saved.account_id},
                                                       {"role", saved.role},
                                                       {"display_name", saved.display_name},
                                                       {"read_seq", saved.read_seq}});
        });

    router.add(http::verb::post, "/api/v1/rooms/{id}/leave",
               [&api, &chat](RequestContext& ctx) -> awaitable<HttpResponse> {
                   auto auth = authenticate(api, ctx, true);
                   if (!auth.caller) co_return auth.refusal;
                   const std::string& id = ctx.params["id"];
                   if (!chat.rooms.member(id, auth.caller->account.id)) co_return not_a_room();
                   auto left = co_await chat.rooms.leave(id, auth.caller->account.id);
                   if (!left) co_return store_failure(left.error());
                   if (left->status == MembershipStatus::last_owner) {
                       co_return last_owner_conflict();
                   }
                   if (left->status != MembershipStatus::done) co_return not_a_room();
                   chat.hub.member_removed(id, auth.caller->account.id);
                   chat.hub.room_changed(id);
                   co_return json_response(http::status::ok, {{"room_id", id}, {"left", true}});
               });

    router.add(
        http::verb::post, "/api/v1/rooms/{id}/read",
        [&api, &chat](RequestContext& ctx) -> awaitable<HttpResponse> {
            auto auth = authenticate(api, ctx, true);
            if (!auth.caller) co_return auth.refusal;
            auto body = parse_json_body(ctx);
            if (!body.json) co_return body.refusal;
            const std::string& id = ctx.params["id"];
            if (!chat.rooms.member(id, auth.caller->account.id)) co_return not_a_room();
            auto seq = body.json->find("seq");
            if (seq == body.json->end() || !seq->is_number_integer() ||
                seq->get<std::int64_t>() < 0) {
                co_return error_response(http::status::bad_request, "bad_request",
                                         "seq must be a non-negative integer");
            }
            std::int64_t wanted = seq->get<std::int64_t>();
            auto stored = co_await chat.rooms.mark_read(id, auth.caller->account.id, wanted);
            if (!stored) co_return store_failure(stored.error());
            co_return json_response(http::status::ok, {{"room_id", id}, {"read_seq", *stored}});
        });

    router.add(
        http::verb::patch, "/api/v1/rooms/{id}",
        [&api, &chat](RequestContext& ctx) -> awaitable<HttpResponse> {
            auto auth = authenticate(api, ctx, true);
            if (!auth.caller) co_return auth.refusal;
            auto body = parse_json_body(ctx);
            if (!body.json) co_return body.refusal;
            const std::string& id = ctx.params["id"];
            auto me = chat.rooms.member(id, auth.caller->account.id);
            if (auto refusal = unless_owner(me, "change a room")) co_return *refusal;
            const auto& j = *body.json;
            auto title = string_field(j, "title");
            auto policy = string_field(j, "join_policy");
            if ((j.contains("title") &&
                 (!title || utf8_code_points(*title) < 0 || utf8_code_points(*title) > 200)) ||
                (!title && !policy)) {
                co_return error_response(http::status::bad_request, "bad_request",
                                         "title must be a string of at most 200 characters");
            }
            if (j.contains("join_policy") && (!policy || !is_join_policy(*policy))) {
                co_return error_response(http::status::bad_request, "bad_request",
                                         "join_policy must be \"invite\" or \"open\"");
            }
            std::optional<Room> changed;
            if (title) {
                auto renamed = co_await chat.rooms.rename(id, *title);
                if (!renamed) co_return store_failure(renamed.error());
                changed = std::move(*renamed);
            }
            if (policy) {
                auto set = co_await chat.rooms.set_join_policy(id, *policy);
                if (!set) co_return store_failure(set.error());
                changed = std::move(*set);
                spdlog::info("room {}: join policy {} set by {}", id, *policy,
                             auth.caller->account.id);
            }
            chat.hub.room_changed(id);
            co_return json_response(http::status::ok, {{"room_id", id},
                                                       {"title", changed->title},
                                                       {"join_policy", changed->join_policy}});
        });

    router.add(
        http::verb::post, "/api/v1/rooms/{id}/members",
        [&api, &chat, &limits](RequestContext& ctx) -> awaitable<HttpResponse> {
            auto auth = authenticate(api, ctx, true);
            if (!auth.caller) co_return auth.refusal;
            auto body = parse_json_body(ctx);
            if (!body.json) co_return body.refusal;
            const std::string& id = ctx.params["id"];
            auto me = chat.rooms.member(id, auth.caller->account.id);
            auto room = chat.rooms.room(id);
            if (!room) co_return not_a_room();
            if (auto refusal = unless_owner(me, "add members")) co_return *refusal;
            if (room->kind == "direct")
                co_return error_response(http::status::forbidden, "forbidden",
                                         "a direct room has two members");
            auto account_id = string_field(*body.json, "account_id");
            std::string role = string_field(*body.json, "role").value_or("member");
            auto account = account_id ? api.accounts.account_by_id(*account_id) : std::nullopt;
            if (!account)
                co_return error_response(http::status::bad_request, "bad_request",
                                         "account_id names no account");
            if (!is_member_role(role))
                co_return error_response(http::status::bad_request, "bad_request",
                                         "role must be owner, moderator, member or viewer");
            auto existing = chat.rooms.member(id, account->id);
            if (!existing && static_cast<int>(chat.rooms.member_count(id)) >= limits.max_members) {
                co_return error_response(http::status::forbidden, "too_large", "the room is full");
            }
            Member m =
                existing.value_or(Member{id, account->id, role, account->username, "", now_ms()});
            m.role = role;
            // The history from before a member was added is not unread for it: a bot catches
            // up from its read marker, and must not answer messages older than its membership.
            if (!existing) m.read_seq = room->last_seq;
            auto saved = co_await chat.rooms.set_role(m);
            if (!saved) co_return store_failure(saved.error());
            if (saved->status == MembershipStatus::banned) {
                co_return error_response(http::status::conflict, "conflict",
                                         "this account is banned from the room: unban it first");
            }
            if (saved->status == MembershipStatus::last_owner) co_return last_owner_conflict();
            chat.hub.room_changed(id);
            if (!existing)
                chat.notifier.notify(
                    account->id,
                    {{"kind", "invitation"}, {"room_id", id}, {"from", auth.caller->account.id}});
            co_return json_response(http::status::ok,
                                    {{"room_id", id}, {"account_id", account->id}, {"role", role}});
        });

    // Owners remove a member (kick) or ban an account; the removed member's sockets hear
    // `removed` and its subscriptions to the room end.
    auto expel = [&api, &chat](RequestContext& ctx, std::string target,
                               bool ban) -> awaitable<HttpResponse> {
        auto auth = authenticate(api, ctx, true);
        if (!auth.caller) co_return auth.refusal;
        const std::string& id = ctx.params["id"];
        auto me = chat.rooms.member(id, auth.caller->account.id);
        auto room = chat.rooms.room(id);
        if (!room) co_return not_a_room();
        if (auto refusal = unless_owner(me, ban ? "ban" : "remove members")) co_return *refusal;
        if (room->kind == "direct")
            co_return error_response(http::status::forbidden, "forbidden",
                                     "a direct room has two members");
        if (target == auth.caller->account.id)
            co_return error_response(http::status::bad_request, "bad_request",
                                     "to leave a room, POST /api/v1/rooms/{id}/leave");
        if (!api.accounts.account_by_id(target))
            co_return error_response(http::status::not_found, "not_found", "no such account");
        auto out = co_await chat.rooms.expel(id, target, ban, auth.caller->account.id);
        if (!out) co_return store_failure(out.error());
        if (!ban && out->status == MembershipStatus::not_member)
            co_return error_response(http::status::not_found, "not_found",
                                     "not a member of this room");
        if (out->status == MembershipStatus::done) {
            chat.hub.member_removed(id, target);
            chat.hub.room_changed(id);
        }
        spdlog::info("room {}: {} {} by {}", id, target, ban ? "banned" : "removed",
                     auth.caller->account.id);
        nlohmann::json body{{"room_id", id}, {"account_id", target}};
        body[ban ? "banned" : "removed"] = true;
        co_return json_response(http::status::ok, body);
    };
    router.add(http::verb::delete_, "/api/v1/rooms/{id}/members/{account_id}",
               [expel](RequestContext& ctx) -> awaitable<HttpResponse> {
                   co_return co_await expel(ctx, ctx.params["account_id"], false);
               });
    router.add(http::verb::post, "/api/v1/rooms/{id}/bans",
               [expel](RequestContext& ctx) -> awaitable<HttpResponse> {
                   auto body = parse_json_body(ctx);
                   if (!body.json) co_return body.refusal;
                   auto target = string_field(*body.json, "account_id");
                   if (!target)
                       co_return error_response(http::status::bad_request, "bad_request",
                                                "account_id is a required string");
                   co_return co_await expel(ctx, *target, true);
               });
    router.add(
        http::verb::delete_, "/api/v1/rooms/{id}/bans/{account_id}",
        [&api, &chat](RequestContext& ctx) -> awaitable<HttpResponse> {
            auto auth = authenticate(api, ctx, true);
            if (!auth.caller) co_return auth.refusal;
            const std::string& id = ctx.params["id"];
            auto me = chat.rooms.member(id, auth.caller->account.id);
            if (auto refusal = unless_owner(me, "lift a ban")) co_return *refusal;
            const std::string& target = ctx.params["account_id"];
            auto lifted = co_await chat.rooms.unban(id, target);
            if (!lifted) co_return store_failure(lifted.error());
            if (!*lifted)
                co_return error_response(http::status::not_found, "not_found",
                                         "this account is not banned from the room");
            spdlog::info("room {}: ban of {} lifted by {}", id, target, auth.caller->account.id);
            co_return json_response(http::status::ok,
                                    {{"room_id", id}, {"account_id", target}, {"banned", false}});
        });
    router.add(http::verb::get, "/api/v1/rooms/{id}/bans",
               [&api, &chat](RequestContext& ctx) -> awaitable<HttpResponse> {
                   auto auth = authenticate(api, ctx, true);
                   if (!auth.caller) co_return auth.refusal;
                   const std::string& id = ctx.params["id"];
                   auto me = chat.rooms.member(id, auth.caller->account.id);
                   if (auto refusal = unless_owner(me, "list bans")) co_return *refusal;
                   auto bans = co_await chat.rooms.bans(id);
                   if (!bans) co_return store_failure(bans.error());
                   nlohmann::json out = nlohmann::json::array();
                   for (const auto& b : *bans)
                       out.push_back({{"account_id", b.account_id},
                                      {"banned_by", b.banned_by},
                                      {"banned_at", b.banned_at}});
                   co_return json_response(http::status::ok, {{"room_id", id}, {"bans", out}});
               });

    router.add(http::verb::get, "/api/v1/rooms/{id}/messages",
               [&api, &chat](RequestContext& ctx) -> awaitable<HttpResponse> {
                   auto auth = authenticate(api, ctx, true);
                   if (!auth.caller) co_return auth.refusal;
                   const std::string& id = ctx.params["id"];
                   if (!chat.rooms.member(id, auth.caller->account.id)) co_return not_a_room();
                   std::int64_t after = 0;
                   std::int64_t limit = 100;
                   // The whole value must be digits: std::stoll read "1e3" as 1.
                   if (!whole_integer(query_param(ctx.query, "after_seq"), after) ||
                       !whole_integer(query_param(ctx.query, "limit"), limit)) {
                       co_return error_response(http::status::bad_request, "bad_request",
                                                "after_seq and limit are integers");
                   }
                   if (after < 0 || limit < 1 || limit > 1000) {
                       co_return error_response(http::status::bad_request, "bad_request",
                                                "after_seq >= 0 and 1 <= limit <= 1000");
                   }
                   bool complete = false;
                   std::vector<Message> messages = chat.rooms.recent_after(id, after, complete);
                   if (!complete) {
                       auto from_db =
                           co_await chat.rooms.messages_after(id, after, static_cast<int>(limit));
                       if (!from_db) co_return store_failure(from_db.error());
                       messages = std::move(*from_db);
                   }
                   if (static_cast<int>(messages.size()) > limit)
                       messages.resize(static_cast<std::size_t>(limit));
                   nlohmann::json out = nlohmann::json::array();
                   for (const auto& m : messages)
                       out.push_back(message_json(m));
                   co_return json_response(http::status::ok, {{"room_id", id}, {"messages", out}});
               });

    // Moderation: owners and moderators remove a message; everyone in the room hears of it.
    router.add(http::verb::delete_, "/api/v1/rooms/{id}/messages/{seq}",
               [&api, &chat](RequestContext& ctx) -> awaitable<HttpResponse> {
                   auto auth = authenticate(api, ctx, true);
                   if (!auth.caller) co_return auth.refusal;
                   const std::string& id = ctx.params["id"];
                   auto me = chat.rooms.member(id, auth.caller->account.id);
                   if (!me) co_return not_a_room();
                   if (me->role != "owner" && me->role != "moderator") {
                       co_return error_response(http::status::forbidden, "forbidden",
                                                "only owners and moderators can remove messages");
                   }
                   std::int64_t seq = 0;
                   const std::string& seq_text = ctx.params["seq"];
                   auto [end, ec] =
                       std::from_chars(seq_text.data(), seq_text.data() + seq_text.size(), seq);
                   if (ec != std::errc() || end != seq_text.data() + seq_text.size() || seq < 1) {
                       co_return error_response(http::status::bad_request, "bad_request",
                                                "seq must be a positive integer");
                   }
                   auto removed = co_await chat.rooms.remove_message(id, seq);
                   if (!removed) co_return store_failure(removed.error());
                   if (!*removed) {
                       co_return error_response(http::status::not_found, "not_found",
                                                "no such message (or it was removed already)");
                   }
                   chat.hub.message_removed(id, seq, auth.caller->account.id);
                   spdlog::info("room {}: message {} removed by {} ({})", id, seq,
                                auth.caller->account.id, me->role);
                   co_return json_response(http::status::ok,
                                           {{"room_id", id}, {"seq", seq}, {"removed", true}});
               });

    router.add(http::verb::post, "/api/v1/rooms/{id}/messages",
               [&api, &chat](RequestContext& ctx) -> awaitable<HttpResponse> {
                   auto auth = authenticate(api, ctx, true);
                   if (!auth.caller) co_return auth.refusal;
                   auto body = parse_json_body(ctx);
                   if (!body.json) co_return body.refusal;
                   std::string account = auth.caller->account.id;
                   std::string room = ctx.params["id"];
                   nlohmann::json request = std::move(*body.json);
                   SendOutcome out = co_await chat.chat.send(std::move(account), std::move(room),
                                                             std::move(request));
                   if (!out.ok)
                       co_return error_response(static_cast<http::status>(out.status), out.code,
                                                out.error);
                   co_return json_response(http::status::ok, {{"seq", out.message.seq},
                                                              {"sent_at", out.message.sent_at},
                                                              {"duplicate", out.duplicate}});
               });
}

}  // namespace parley
