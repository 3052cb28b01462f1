#include "server/features/chat_feature.hpp"

namespace parley {

ChatFeature::ChatFeature(RoomStore& rooms, RoomHub& hub, RoomService& chat, Notifier& notifier)
    : rooms_(rooms), hub_(hub), chat_(chat), notifier_(notifier) {}

std::vector<std::string> ChatFeature::message_types() const {
    return {"subscribe", "unsubscribe", "send", "typing", "request_sync", "sync", "ack"};
}

namespace {
std::string room_field(ClientMessage& msg) {
    if (const FlatObject* flat = msg.flat()) {
        const FlatValue* v = flat->find("room_id");
        return v && v->is_string() ? v->text : std::string();
    }
    const auto& body = msg.body();
    auto it = body.find("room_id");
    return it != body.end() && it->is_string() ? it->get<std::string>() : std::string();
}
}  // namespace

awaitable<void> ChatFeature::on_message(std::shared_ptr<Client> client, ClientMessage msg) {
    if (msg.type == "subscribe" || msg.type == "unsubscribe") {
        on_subscription(client, msg);
        co_return;
    }
    std::string room_id = room_field(msg);
    if (room_id.empty()) {
        client->reply_error(msg.id, "bad_request", "room_id is a required string");
        co_return;
    }
    if (msg.type == "send") {
        // Handled here rather than in a coroutine of its own: the message path pays for no
        // second coroutine frame. The frame's fields are not read again: moved, not copied, and
        // a flat frame's (almost every one) without building its JSON tree.
        FlatObject* flat = msg.flat();
        SendFields fields = flat ? SendFields::from_flat(*flat) : SendFields::from_json(msg.body());
        auto out = co_await chat_.send(client->account_id(), std::move(room_id), std::move(fields));
        if (!out) {
            client->reply_error(msg.id, std::string(error_code_name(out.refusal().code)),
                                out.refusal().message);
        } else {
            client->reply_sent(msg.id, out->message->room_id, out->message->seq,
                               out->message->sent_at, out->duplicate);
        }
        co_return;
    }
    auto member = rooms_.member(room_id, client->account_id());
    if (!member) {
        client->reply_error(msg.id, "not_found", "no such room");
        co_return;
    }
    if (msg.type == "ack") {
        co_await on_ack(std::move(client), std::move(msg), std::move(room_id));
    } else {
        on_room_signal(*client, msg, room_id, *member);
    }
}

void ChatFeature::on_subscription(const std::shared_ptr<Client>& client, const ClientMessage& msg) {
    const auto& body = msg.body();
    auto t = body.find("topic");
    if (t == body.end() || !t->is_string()) {
        client->reply_error(msg.id, "bad_request", "topic is a required string");
        return;
    }
    std::string topic = t->get<std::string>();
    if (topic == "account:me:notifications") {
        if (msg.type == "subscribe") {
            notifier_.subscribe(*client);
        } else {
            notifier_.unsubscribe(*client);
        }
        client->reply_ok(msg.id, {{"topic", topic}});
        return;
    }
    auto parsed = parse_room_topic(topic);
    if (!parsed) {
        client->reply_error(msg.id, "bad_request", "unknown topic \"" + topic + "\"");
        return;
    }
    const auto& [room_id, kind] = *parsed;
    if (msg.type == "unsubscribe") {
        hub_.unsubscribe(*client, room_id, kind);
        client->reply_ok(msg.id, {{"topic", topic}});
        return;
    }
    if (!rooms_.member(room_id, client->account_id())) {
        client->reply_error(msg.id, "forbidden", "not a member of this room");
        return;
    }
    std::optional<std::int64_t> version;
    if (auto v = body.find("version"); v != body.end() && v->is_number_integer()) {
        version = v->get<std::int64_t>();
    }
    hub_.subscribe(client, room_id, kind, version);
    client->reply_ok(msg.id, {{"topic", topic}});
}

void ChatFeature::on_room_signal(Client& client, const ClientMessage& msg,
                                 const std::string& room_id, const Member& member) {
    const auto& body = msg.body();
    if (msg.type == "typing") {
        if (member.role == "viewer") {
            client.reply_error(msg.id, "forbidden", "viewers cannot type");
            return;
        }
        auto active = body.find("active");
        if (active != body.end() && !active->is_boolean()) {
            client.reply_error(msg.id, "bad_request", "active is a boolean");
            return;
        }
        hub_.typing(client, room_id, active == body.end() || active->get<bool>());
        if (!msg.id.is_null()) client.reply_ok(msg.id);
    } else if (msg.type == "request_sync") {
        // The controller/viewer flow: a viewer asks the owners for a fresh state.
        hub_.send_to_role(
            room_id, "owner",
            {{"type", "request_sync"}, {"room_id", room_id}, {"from", client.account_id()}});
        client.reply_ok(msg.id);
    } else if (msg.type == "sync") {
        if (member.role != "owner") {
            client.reply_error(msg.id, "forbidden", "only owners answer sync requests");
            return;
        }
        hub_.send_to_role(room_id, "viewer",
                          {{"type", "sync"},
                           {"room_id", room_id},
                           {"from", client.account_id()},
                           {"state", body.contains("state") ? body["state"] : nlohmann::json()}});
        client.reply_ok(msg.id);
    }
}

awaitable<void> ChatFeature::on_ack(std::shared_ptr<Client> client, ClientMessage msg,
                                    std::string room_id) {
    auto seq = msg.body().find("seq");
    if (seq == msg.body().end() || !seq->is_number_integer()) {
        client->reply_error(msg.id, "bad_request", "seq is a required integer");
        co_return;
    }
    if (seq->get<std::int64_t>() < 0) {
        client->reply_error(msg.id, "bad_request", "seq must not be negative");
        co_return;
    }
    std::int64_t wanted = seq->get<std::int64_t>();
    auto stored = co_await rooms_.mark_read(room_id, client->account_id(), wanted);
    if (!stored) {
        client->reply_error(msg.id, "unavailable", "the read marker could not be stored");
        co_return;
    }
    client->reply_ok(msg.id, {{"room_id", room_id}, {"read_seq", *stored}});
}

std::optional<std::string> room_socket_room(const std::string& path) {
    constexpr std::string_view prefix = "/api/v1/rooms/";
    constexpr std::string_view suffix = "/ws";
    if (!path.starts_with(prefix) || !path.ends_with(suffix) ||
        path.size() <= prefix.size() + suffix.size()) {
        return std::nullopt;
    }
    return path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
}

void ChatFeature::on_open(const std::shared_ptr<Client>& client) {
    auto found = room_socket_room(client->open_path());
    if (!found) return;
    const std::string& room_id = *found;
    if (!rooms_.member(room_id, client->account_id())) {
        client->send_json({{"type", "error"}, {"error", "not_found"}, {"message", "no such room"}});
        return;
    }
    for (RoomTopic t : {RoomTopic::doc, RoomTopic::chat, RoomTopic::presence, RoomTopic::typing}) {
        hub_.subscribe(client, room_id, t, std::nullopt);
    }
}

void ChatFeature::on_close(const std::shared_ptr<Client>& client) {
    hub_.drop_client(*client);
    notifier_.unsubscribe(*client);
}

}  // namespace parley
