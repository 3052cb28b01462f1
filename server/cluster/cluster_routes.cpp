#include "server/cluster/cluster_routes.hpp"

#include <fstream>
#include <iterator>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "server/api/outcome_response.hpp"
#include "server/features/room_hub.hpp"

namespace parley {

namespace {

std::int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// How long a session reported live by an edge counts as having a socket (the REST rule): three
// of the edges' one-second session checks, so one late or lost check does not refuse REST.
std::chrono::steady_clock::time_point remote_socket_deadline() {
    return std::chrono::steady_clock::now() + std::chrono::seconds(3);
}

// The internal routes' own check: the cluster secret as the bearer token.
bool authorized(const RequestContext& ctx, const std::string& secret) {
    std::string_view header = ctx.request[http::field::authorization];
    if (header.size() < 7 || header.substr(0, 7) != "Bearer ") return false;
    return constant_time_equal(header.substr(7), secret);
}

}  // namespace

JsonBody internal_body(const RequestContext& ctx, const std::string& secret) {
    if (!authorized(ctx, secret)) {
        return {std::nullopt, error_response(http::status::unauthorized, "unauthorized",
                                             "missing or wrong cluster secret")};
    }
    return parse_json_body(ctx);
}

namespace {

awaitable<HttpResponse> check_token(ApiContext& api, nlohmann::json& body) {
    auto token = string_field(body, "token");
    if (!token || token->empty() || token->size() > 256) {
        co_return error_response(http::status::unauthorized, "unauthorized",
                                 "invalid access token");
    }
    auto session = api.accounts.session_by_access_hash(token_hash(*token), unix_ms());
    if (!session) {
        co_return error_response(http::status::unauthorized, "unauthorized",
                                 "invalid or expired access token");
    }
    auto account = api.accounts.account_by_id(session->account_id);
    if (!account || account->disabled_at) {
        co_return error_response(http::status::unauthorized, "unauthorized",
                                 "this account is disabled or no longer exists");
    }
    // The socket about to open on the edge counts for the REST rule at once.
    api.clients.mark_remote_socket(session->id, remote_socket_deadline());
    co_return json_response(http::status::ok,
                            {{"account_id", session->account_id}, {"session_id", session->id}});
}

// {"session_ids":[...]} (at most 1000) -> {"ended":[...]}: the sessions that no longer
// exist or were revoked (logout, password change, account disabled).
awaitable<HttpResponse> ended_sessions(ApiContext& api, nlohmann::json& body) {
    auto ids = body.find("session_ids");
    if (ids == body.end() || !ids->is_array() || ids->size() > 1000) {
        co_return error_response(http::status::bad_request, "bad_request",
                                 "session_ids is an array of at most 1000 ids");
    }
    nlohmann::json ended = nlohmann::json::array();
    const auto deadline = remote_socket_deadline();
    for (const auto& id : *ids) {
        if (!id.is_string()) continue;
        auto session = api.accounts.session_by_id(id.get<std::string>());
        if (!session || session->revoked) {
            ended.push_back(id);
        } else {
            api.clients.mark_remote_socket(session->id, deadline);
        }
    }
    co_return json_response(http::status::ok, {{"ended", ended}});
}

// {"account_id","room_id"} -> {"member","role","last_seq"}: may the account read the room,
// and where its history ends now.
awaitable<HttpResponse> room_member(ChatContext& chat, nlohmann::json& body) {
    auto account = string_field(body, "account_id");
    auto room_id = string_field(body, "room_id");
    if (!account || !room_id) {
        co_return error_response(http::status::bad_request, "bad_request",
                                 "account_id and room_id are required strings");
    }
    auto member = chat.rooms.member(*room_id, *account);
    auto room = chat.rooms.room(*room_id);
    if (!member || !room) co_return json_response(http::status::ok, {{"member", false}});
    co_return json_response(
        http::status::ok, {{"member", true}, {"role", member->role}, {"last_seq", room->last_seq}});
}

// {"account_id"} -> the `notifications` frame (unread count, newest unread ones) for an edge
// socket that subscribed to account:me:notifications.
awaitable<HttpResponse> unread_notifications(ChatContext& chat, nlohmann::json& body) {
    auto account = string_field(body, "account_id");
    if (!account) {
        co_return error_response(http::status::bad_request, "bad_request",
                                 "account_id is a required string");
    }
    auto frame = co_await chat.notifications.unread_frame(*account);
    if (!frame) co_return refusal_response(frame.refusal());
    co_return json_response(http::status::ok, *frame);
}

// {"account_id","room_id","body"} -> the outcome of RoomService::send, as a socket's send
// gets it: {"ok":true,"seq","sent_at","duplicate"} or {"ok":false,"code","error"}.
awaitable<HttpResponse> send_message(ChatContext& chat, nlohmann::json& body) {
    auto account = string_field(body, "account_id");
    auto room_id = string_field(body, "room_id");
    auto message = body.find("body");
    if (!account || !room_id || message == body.end() || !message->is_object()) {
        co_return error_response(http::status::bad_request, "bad_request",
                                 "account_id and room_id are required strings, body an object");
    }
    auto out = co_await chat.chat.send(*account, *room_id, SendFields::from_json(*message));
    if (!out) {
        co_return json_response(http::status::ok, {{"ok", false},
                                                   {"code", error_code_name(out.refusal().code)},
                                                   {"error", out.refusal().message}});
    }
    co_return json_response(http::status::ok, {{"ok", true},
                                               {"seq", out->message->seq},
                                               {"sent_at", out->message->sent_at},
                                               {"duplicate", out->duplicate}});
}

// {"room_id","after_seq","limit"} -> {"frames":[...]}: the chat frames of the room's
// messages after after_seq (at most limit), as the room's sockets received them.
awaitable<HttpResponse> messages_after(ChatContext& chat, nlohmann::json& body) {
    auto room_id = string_field(body, "room_id");
    auto after = body.find("after_seq");
    auto limit = body.find("limit");
    if (!room_id || after == body.end() || !after->is_number_integer() || limit == body.end() ||
        !limit->is_number_integer() || after->get<std::int64_t>() < 0 || limit->get<int>() < 1 ||
        limit->get<int>() > 1000) {
        co_return error_response(http::status::bad_request, "bad_request",
                                 "room_id is a string, after_seq >= 0, 1 <= limit <= 1000");
    }
    const auto from = after->get<std::int64_t>();
    const int max = limit->get<int>();
    bool complete = false;
    std::vector<Message> messages = chat.rooms.recent_after(*room_id, from, complete);
    if (!complete) {
        auto stored = co_await chat.rooms.messages_after(*room_id, from, max);
        if (!stored) co_return db_failure_response(stored.error(), "a gap fill");
        messages = std::move(*stored);
    }
    if (static_cast<int>(messages.size()) > max) messages.resize(static_cast<std::size_t>(max));
    nlohmann::json frames = nlohmann::json::array();
    for (const auto& m : messages)
        frames.push_back({{"seq", m.seq}, {"frame", *message_frame(m)}});
    co_return json_response(http::status::ok, {{"frames", frames}});
}

}  // namespace

std::string read_cluster_secret(const std::string& path, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = "cluster.secret_file '" + path + "' cannot be read";
        return {};
    }
    std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r'))
        secret.pop_back();
    if (secret.size() < 32 || secret.size() > 1024) {
        error = "cluster.secret_file '" + path + "' must hold 32 to 1024 bytes (it holds " +
                std::to_string(secret.size()) + ")";
        return {};
    }
    return secret;
}

void add_cluster_routes(Router& router, ApiContext& api, ChatContext& chat, std::string secret) {
    auto shared = std::make_shared<const std::string>(std::move(secret));
    router.add(http::verb::post, "/internal/cluster/session",
               internal_route(api, shared, check_token));
    router.add(http::verb::post, "/internal/cluster/sessions",
               internal_route(api, shared, ended_sessions));
    router.add(http::verb::post, "/internal/cluster/member",
               internal_route(chat, shared, room_member));
    router.add(http::verb::post, "/internal/cluster/send",
               internal_route(chat, shared, send_message));
    router.add(http::verb::post, "/internal/cluster/notifications",
               internal_route(chat, shared, unread_notifications));
    router.add(http::verb::post, "/internal/cluster/messages",
               internal_route(chat, shared, messages_after));
}

}  // namespace parley
