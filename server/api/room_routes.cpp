#include "server/api/room_routes.hpp"

#include <charconv>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"

namespace parley {

namespace {

HttpResponse store_failure(const DbFailure& f) {
    if (f.code == DbErrc::constraint) {
        return error_response(http::status::not_found, "not_found", "no such room or account");
    }
    return db_failure_response(f, "the room change");
}

HttpResponse not_a_room() {
    return error_response(http::status::not_found, "not_found", "no such room");
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
            Room room{random_id(), kind, title, signatures, auth.caller->account.id, now_ms(), 0};
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
            auto saved = co_await chat.rooms.put_member(m, RoomStore::MemberChange::join);
            if (!saved) co_return store_failure(saved.error());
            chat.hub.room_changed(id);
            co_return json_response(http::status::ok, {{"room_id", id},
                                                       {"account_id", saved->account_id},
                                                       {"role", saved->role},
                                                       {"display_name", saved->display_name},
                                                       {"read_seq", saved->read_seq}});
        });

    router.add(http::verb::post, "/api/v1/rooms/{id}/leave",
               [&api, &chat](RequestContext& ctx) -> awaitable<HttpResponse> {
                   auto auth = authenticate(api, ctx, true);
                   if (!auth.caller) co_return auth.refusal;
                   const std::string& id = ctx.params["id"];
                   if (!chat.rooms.member(id, auth.caller->account.id)) co_return not_a_room();
                   auto removed = co_await chat.rooms.remove_member(id, auth.caller->account.id);
                   if (!removed) co_return store_failure(removed.error());
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
            if (!me) co_return not_a_room();
            if (me->role != "owner")
                co_return error_response(http::status::forbidden, "forbidden",
                                         "only owners can rename a room");
            auto title = string_field(*body.json, "title");
            if (!title || utf8_code_points(*title) < 0 || utf8_code_points(*title) > 200) {
                co_return error_response(http::status::bad_request, "bad_request",
                                         "title must be a string of at most 200 characters");
            }
            auto renamed = co_await chat.rooms.rename(id, *title);
            if (!renamed) co_return store_failure(renamed.error());
            chat.hub.room_changed(id);
            co_return json_response(http::status::ok, {{"room_id", id}, {"title", renamed->title}});
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
            if (!me || !room) co_return not_a_room();
            if (me->role != "owner")
                co_return error_response(http::status::forbidden, "forbidden",
                                         "only owners can add members");
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
            auto saved = co_await chat.rooms.put_member(m, RoomStore::MemberChange::role);
            if (!saved) co_return store_failure(saved.error());
            chat.hub.room_changed(id);
            if (!existing)
                chat.notifier.notify(
                    account->id,
                    {{"kind", "invitation"}, {"room_id", id}, {"from", auth.caller->account.id}});
            co_return json_response(http::status::ok,
                                    {{"room_id", id}, {"account_id", account->id}, {"role", role}});
        });

    router.add(http::verb::get, "/api/v1/rooms/{id}/messages",
               [&api, &chat](RequestContext& ctx) -> awaitable<HttpResponse> {
                   auto auth = authenticate(api, ctx, true);
                   if (!auth.caller) co_return auth.refusal;
                   const std::string& id = ctx.params["id"];
                   if (!chat.rooms.member(id, auth.caller->account.id)) co_return not_a_room();
                   std::int64_t after = 0;
                   int limit = 100;
                   try {
                       if (auto a = query_param(ctx.query, "after_seq"); !a.empty())
                           after = std::stoll(a);
                       if (auto l = query_param(ctx.query, "limit"); !l.empty())
                           limit = std::stoi(l);
                   } catch (const std::exception&) {
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
                       auto from_db = co_await chat.rooms.messages_after(id, after, limit);
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
