#include "server/cluster/edge_feature.hpp"

namespace parley {

namespace {

void reply_retryable(Client& client, const nlohmann::json& id, std::string message) {
    nlohmann::json frame{{"type", "error"},
                         {"error", "unavailable"},
                         {"message", std::move(message)},
                         {"retryable", true}};
    if (!id.is_null()) frame["id"] = id;
    client.send_json(frame);
}

void reply_unavailable(Client& client, const nlohmann::json& id, const HttpResult& r) {
    reply_retryable(client, id,
                    "the primary cannot be reached (" + r.describe() + "); retry shortly");
}

// An answer from the primary that is not the route's own (a 4xx/5xx of the link itself).
void reply_link_error(Client& client, const nlohmann::json& id, const HttpResult& r) {
    if (r.status == 0 || r.status >= 500) {
        reply_unavailable(client, id, r);
        return;
    }
    client.reply_error(id, "internal", "the primary refused the request: " + r.describe());
}

}  // namespace

std::vector<std::string> EdgeFeature::message_types() const {
    return {"subscribe", "unsubscribe", "send", "typing", "request_sync", "sync", "ack"};
}

awaitable<void> EdgeFeature::on_message(std::shared_ptr<Client> client, ClientMessage msg) {
    if (msg.type == "subscribe" || msg.type == "unsubscribe") {
        co_await subscribe(std::move(client), std::move(msg));
    } else if (msg.type == "send") {
        co_await send(std::move(client), std::move(msg));
    } else {
        client->reply_error(msg.id, "not_supported",
                            "\"" + msg.type + "\" is not served by an edge node yet");
    }
}

awaitable<void> EdgeFeature::subscribe(std::shared_ptr<Client> client, ClientMessage msg) {
    auto t = msg.body.find("topic");
    if (t == msg.body.end() || !t->is_string()) {
        client->reply_error(msg.id, "bad_request", "topic is a required string");
        co_return;
    }
    const std::string topic = t->get<std::string>();
    auto parsed = parse_room_topic(topic);
    if (!parsed) {
        if (topic == "account:me:notifications") {
            client->reply_error(msg.id, "not_supported",
                                "notifications are not served by an edge node yet");
        } else {
            client->reply_error(msg.id, "bad_request", "unknown topic \"" + topic + "\"");
        }
        co_return;
    }
    const auto& [room_id, kind] = *parsed;
    if (kind != RoomTopic::chat && kind != RoomTopic::typing) {
        client->reply_error(msg.id, "not_supported",
                            "\"" + topic + "\" is not served by an edge node yet");
        co_return;
    }
    if (msg.type == "unsubscribe") {
        hub_.unsubscribe(*client, room_id, kind);
        client->reply_ok(msg.id, {{"topic", topic}});
        co_return;
    }
    // Built before the co_await: GCC 12 miscompiles an initializer list inside it.
    nlohmann::json request{{"account_id", client->account_id()}, {"room_id", room_id}};
    HttpResult r = co_await link_.call("member", std::move(request));
    if (!r.ok()) {
        reply_link_error(*client, msg.id, r);
        co_return;
    }
    if (!r.body.value("member", false)) {
        client->reply_error(msg.id, "forbidden", "not a member of this room");
        co_return;
    }
    hub_.subscribe(client, room_id, kind, r.body.value("last_seq", std::int64_t{0}));
    client->reply_ok(msg.id, {{"topic", topic}});
}

awaitable<void> EdgeFeature::send(std::shared_ptr<Client> client, ClientMessage msg) {
    auto room = msg.body.find("room_id");
    if (room == msg.body.end() || !room->is_string() || room->get<std::string>().empty()) {
        client->reply_error(msg.id, "bad_request", "room_id is a required string");
        co_return;
    }
    const std::string room_id = room->get<std::string>();
    // Without Redis the primary could commit the message but not deliver it to the other
    // edges in order: refused, and the client retries once the bus is back.
    if (!hub_.redis_connected()) {
        reply_retryable(*client, msg.id,
                        "the message bus (Redis) cannot be reached; retry shortly");
        co_return;
    }
    nlohmann::json request{
        {"account_id", client->account_id()}, {"room_id", room_id}, {"body", msg.body}};
    HttpResult r = co_await link_.call("send", std::move(request));
    if (!r.ok()) {
        reply_link_error(*client, msg.id, r);
        co_return;
    }
    if (!r.body.value("ok", false)) {
        client->reply_error(msg.id, r.body.value("code", std::string("internal")),
                            r.body.value("error", std::string()));
        co_return;
    }
    client->reply_sent(msg.id, room_id, r.body.value("seq", std::int64_t{0}),
                       r.body.value("sent_at", std::int64_t{0}), r.body.value("duplicate", false));
}

void EdgeFeature::on_close(const std::shared_ptr<Client>& client) {
    hub_.drop_client(*client);
}

}  // namespace parley
