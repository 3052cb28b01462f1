#include "server/api/room_routes.hpp"

#include <charconv>

#include "server/api/route_adapter.hpp"

namespace parley {

namespace {

// Parses all of `text` as a decimal integer into `out`; an empty text leaves `out` as it is.
bool whole_integer(std::string_view text, std::int64_t& out) {
    if (text.empty()) return true;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size();
}

awaitable<HttpResponse> create_room(RoomService& rooms, const Caller& caller, RequestContext&,
                                    nlohmann::json& body) {
    auto room = co_await rooms.create(caller.account, body);
    if (!room) co_return refusal_response(room.refusal());
    co_return json_response(http::status::created, {{"room_id", room->id}});
}

// What a new room gets without require_signatures, and whether `false` may be asked for.
awaitable<HttpResponse> room_policy(RoomService& rooms, const Caller&, RequestContext&) {
    const RoomPolicy& p = rooms.policy();
    co_return json_response(http::status::ok, {{"require_signatures", p.require_signatures},
                                               {"allow_unsigned_rooms", p.allows_opt_out()}});
}

awaitable<HttpResponse> list_rooms(RoomService& rooms, const Caller& caller, RequestContext&) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [r, m] : rooms.rooms_of(caller.account.id)) {
        out.push_back({{"room_id", r.id},
                       {"kind", r.kind},
                       {"title", r.title},
                       {"role", m.role},
                       {"last_seq", r.last_seq},
                       {"read_seq", m.read_seq},
                       {"unread", std::max<std::int64_t>(0, r.last_seq - m.read_seq)}});
    }
    co_return json_response(http::status::ok, {{"rooms", out}});
}

awaitable<HttpResponse> room_document(RoomService& rooms, const Caller& caller,
                                      RequestContext& ctx) {
    auto doc = rooms.document(caller.account.id, ctx.params["id"]);
    if (!doc) co_return refusal_response(doc.refusal());
    co_return json_response(http::status::ok, {{"version", doc->second}, {"document", doc->first}});
}

awaitable<HttpResponse> join_room(RoomService& rooms, const Caller& caller, RequestContext& ctx,
                                  nlohmann::json& body) {
    const std::string& id = ctx.params["id"];
    auto saved = co_await rooms.join(caller.account, id, body);
    if (!saved) co_return refusal_response(saved.refusal());
    co_return json_response(http::status::ok, {{"room_id", id},
                                               {"account_id", saved->account_id},
                                               {"role", saved->role},
                                               {"display_name", saved->display_name},
                                               {"read_seq", saved->read_seq}});
}

awaitable<HttpResponse> leave_room(RoomService& rooms, const Caller& caller, RequestContext& ctx) {
    const std::string& id = ctx.params["id"];
    auto left = co_await rooms.leave(caller.account.id, id);
    if (!left) co_return refusal_response(left.refusal());
    co_return json_response(http::status::ok, {{"room_id", id}, {"left", true}});
}

awaitable<HttpResponse> mark_read(RoomService& rooms, const Caller& caller, RequestContext& ctx,
                                  nlohmann::json& body) {
    const std::string& id = ctx.params["id"];
    auto stored = co_await rooms.mark_read(caller.account.id, id, body);
    if (!stored) co_return refusal_response(stored.refusal());
    co_return json_response(http::status::ok, {{"room_id", id}, {"read_seq", *stored}});
}

awaitable<HttpResponse> update_room(RoomService& rooms, const Caller& caller, RequestContext& ctx,
                                    nlohmann::json& body) {
    const std::string& id = ctx.params["id"];
    auto changed = co_await rooms.update(caller.account.id, id, body);
    if (!changed) co_return refusal_response(changed.refusal());
    co_return json_response(
        http::status::ok,
        {{"room_id", id}, {"title", changed->title}, {"join_policy", changed->join_policy}});
}

awaitable<HttpResponse> add_member(RoomService& rooms, const Caller& caller, RequestContext& ctx,
                                   nlohmann::json& body) {
    const std::string& id = ctx.params["id"];
    auto m = co_await rooms.add_member(caller.account.id, id, body);
    if (!m) co_return refusal_response(m.refusal());
    co_return json_response(http::status::ok,
                            {{"room_id", id}, {"account_id", m->account_id}, {"role", m->role}});
}

awaitable<HttpResponse> expel(RoomService& rooms, const Caller& caller, RequestContext& ctx,
                              const std::string& target, bool ban) {
    const std::string& id = ctx.params["id"];
    auto out = co_await rooms.expel(caller.account.id, id, target, ban);
    if (!out) co_return refusal_response(out.refusal());
    nlohmann::json body{{"room_id", id}, {"account_id", target}};
    body[ban ? "banned" : "removed"] = true;
    co_return json_response(http::status::ok, body);
}

awaitable<HttpResponse> remove_member(RoomService& rooms, const Caller& caller,
                                      RequestContext& ctx) {
    co_return co_await expel(rooms, caller, ctx, ctx.params["account_id"], false);
}

awaitable<HttpResponse> ban_account(RoomService& rooms, const Caller& caller, RequestContext& ctx,
                                    nlohmann::json& body) {
    auto target = string_field(body, "account_id");
    if (!target) {
        co_return refusal_response({ErrorCode::bad_request, "account_id is a required string"});
    }
    co_return co_await expel(rooms, caller, ctx, *target, true);
}

awaitable<HttpResponse> lift_ban(RoomService& rooms, const Caller& caller, RequestContext& ctx) {
    const std::string& id = ctx.params["id"];
    const std::string& target = ctx.params["account_id"];
    auto lifted = co_await rooms.unban(caller.account.id, id, target);
    if (!lifted) co_return refusal_response(lifted.refusal());
    co_return json_response(http::status::ok,
                            {{"room_id", id}, {"account_id", target}, {"banned", false}});
}

awaitable<HttpResponse> list_bans(RoomService& rooms, const Caller& caller, RequestContext& ctx) {
    const std::string& id = ctx.params["id"];
    auto bans = co_await rooms.bans(caller.account.id, id);
    if (!bans) co_return refusal_response(bans.refusal());
    nlohmann::json out = nlohmann::json::array();
    for (const auto& b : *bans)
        out.push_back(
            {{"account_id", b.account_id}, {"banned_by", b.banned_by}, {"banned_at", b.banned_at}});
    co_return json_response(http::status::ok, {{"room_id", id}, {"bans", out}});
}

awaitable<HttpResponse> message_history(RoomService& rooms, const Caller& caller,
                                        RequestContext& ctx) {
    const std::string& id = ctx.params["id"];
    HistoryQuery query;
    // The whole value must be digits: std::stoll read "1e3" as 1.
    query.integers = whole_integer(query_param(ctx.query, "after_seq"), query.after) &&
                     whole_integer(query_param(ctx.query, "limit"), query.limit);
    auto messages = co_await rooms.history(caller.account.id, id, query);
    if (!messages) co_return refusal_response(messages.refusal());
    nlohmann::json out = nlohmann::json::array();
    for (const auto& m : *messages)
        out.push_back(message_json(m));
    co_return json_response(http::status::ok, {{"room_id", id}, {"messages", out}});
}

awaitable<HttpResponse> remove_message(RoomService& rooms, const Caller& caller,
                                       RequestContext& ctx) {
    const std::string& id = ctx.params["id"];
    std::int64_t seq = 0;
    const std::string& text = ctx.params["seq"];
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seq);
    std::optional<std::int64_t> wanted;  // nullopt: not an integer
    if (ec == std::errc() && end == text.data() + text.size()) wanted = seq;
    auto removed = co_await rooms.remove_message(caller.account.id, id, wanted);
    if (!removed) co_return refusal_response(removed.refusal());
    co_return json_response(http::status::ok, {{"room_id", id}, {"seq", seq}, {"removed", true}});
}

awaitable<HttpResponse> send_message(RoomService& rooms, const Caller& caller, RequestContext& ctx,
                                     nlohmann::json& body) {
    auto sent =
        co_await rooms.send(caller.account.id, ctx.params["id"], SendFields::from_json(body));
    if (!sent) co_return refusal_response(sent.refusal());
    co_return json_response(http::status::ok, {{"seq", sent->message->seq},
                                               {"sent_at", sent->message->sent_at},
                                               {"duplicate", sent->duplicate}});
}

}  // namespace

void add_room_routes(Router& router, ApiContext& api, RoomService& rooms) {
    using http::verb;
    router.add(verb::post, "/api/v1/rooms", with_caller_body(api, rooms, create_room));
    router.add(verb::get, "/api/v1/rooms", with_caller(api, rooms, list_rooms));
    router.add(verb::get, "/api/v1/room-policy", with_caller(api, rooms, room_policy));
    router.add(verb::get, "/api/v1/rooms/{id}", with_caller(api, rooms, room_document));
    router.add(verb::post, "/api/v1/rooms/{id}/join", with_caller_body(api, rooms, join_room));
    router.add(verb::post, "/api/v1/rooms/{id}/leave", with_caller(api, rooms, leave_room));
    router.add(verb::post, "/api/v1/rooms/{id}/read", with_caller_body(api, rooms, mark_read));
    router.add(verb::patch, "/api/v1/rooms/{id}", with_caller_body(api, rooms, update_room));
    router.add(verb::post, "/api/v1/rooms/{id}/members", with_caller_body(api, rooms, add_member));
    router.add(verb::delete_, "/api/v1/rooms/{id}/members/{account_id}",
               with_caller(api, rooms, remove_member));
    router.add(verb::post, "/api/v1/rooms/{id}/bans", with_caller_body(api, rooms, ban_account));
    router.add(verb::delete_, "/api/v1/rooms/{id}/bans/{account_id}",
               with_caller(api, rooms, lift_ban));
    router.add(verb::get, "/api/v1/rooms/{id}/bans", with_caller(api, rooms, list_bans));
    router.add(verb::get, "/api/v1/rooms/{id}/messages", with_caller(api, rooms, message_history));
    router.add(verb::delete_, "/api/v1/rooms/{id}/messages/{seq}",
               with_caller(api, rooms, remove_message));
    router.add(verb::post, "/api/v1/rooms/{id}/messages",
               with_caller_body(api, rooms, send_message));
}

}  // namespace parley
