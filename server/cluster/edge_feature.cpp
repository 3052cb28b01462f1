#include "server/cluster/edge_feature.hpp"

#include <spdlog/spdlog.h>

#include "common/logging.hpp"
#include "server/features/chat_feature.hpp"

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

void EdgeFeature::on_open(const std::shared_ptr<Client>& client) {
    auto room_id = room_socket_room(client->open_path());
    if (!room_id) return;
    net::co_spawn(executor_, open_room(client, std::move(*room_id)), [](std::exception_ptr e) {
        if (e) spdlog::error("cluster: opening a room socket failed: {}", exception_what(e));
    });
}

awaitable<void> EdgeFeature::open_room(std::shared_ptr<Client> client, std::string room_id) {
    // Asked before the primary, so the stream's entries after it hold every later message.
    const std::string position = co_await hub_.stream_position(room_id);
    nlohmann::json request{{"account_id", client->account_id()}, {"room_id", room_id}};
    HttpResult r = co_await link_.call("member", std::move(request));
    if (!r.ok()) {
        reply_link_error(*client, nullptr, r);
        co_return;
    }
    if (!r.body.value("member", false)) {
        client->send_json({{"type", "error"}, {"error", "not_found"}, {"message", "no such room"}});
        co_return;
    }
    const auto last_seq = r.body.value("last_seq", std::int64_t{0});
    for (RoomTopic t : {RoomTopic::doc, RoomTopic::chat, RoomTopic::presence, RoomTopic::typing}) {
        if (!co_await subscribe_room(client, nullptr, room_id, t, last_seq, std::nullopt, position))
            co_return;
    }
}

awaitable<void> EdgeFeature::on_message(std::shared_ptr<Client> client, ClientMessage msg) {
    if (msg.type == "subscribe" || msg.type == "unsubscribe") {
        co_await subscribe(std::move(client), std::move(msg));
    } else if (msg.type == "send") {
        co_await send(std::move(client), std::move(msg));
    } else {
        co_await relay(std::move(client), std::move(msg));
    }
}

awaitable<void> EdgeFeature::subscribe(std::shared_ptr<Client> client, ClientMessage msg) {
    auto t = msg.body().find("topic");
    if (t == msg.body().end() || !t->is_string()) {
        client->reply_error(msg.id, "bad_request", "topic is a required string");
        co_return;
    }
    const std::string topic = t->get<std::string>();
    if (topic == "account:me:notifications") {
        // The primary's notifications reach this edge on the control stream; the unread ones
        // a subscription starts with are the primary's to read.
        if (msg.type == "unsubscribe") {
            notifier_.unsubscribe(*client);
            client->reply_ok(msg.id, {{"topic", topic}});
            co_return;
        }
        notifier_.subscribe(*client);
        client->reply_ok(msg.id, {{"topic", topic}});
        nlohmann::json request{{"account_id", client->account_id()}};
        HttpResult r = co_await link_.call("notifications", std::move(request));
        if (r.ok() && notifier_.subscribed(client->id()))
            client->send(std::make_shared<const std::string>(r.body.dump()));
        co_return;
    }
    auto parsed = parse_room_topic(topic);
    if (!parsed) {
        client->reply_error(msg.id, "bad_request", "unknown topic \"" + topic + "\"");
        co_return;
    }
    const auto& [room_id, kind] = *parsed;
    if (msg.type == "unsubscribe") {
        hub_.unsubscribe(*client, room_id, kind);
        client->reply_ok(msg.id, {{"topic", topic}});
        co_return;
    }
    std::int64_t last_seq = -1;
    std::string position;
    if (kind != RoomTopic::doc) {
        // Asked before the primary, so the stream's entries after it hold every message after
        // the primary's last_seq.
        position = co_await hub_.stream_position(room_id);
        // The document's answer checks membership itself.
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
        last_seq = r.body.value("last_seq", std::int64_t{0});
    }
    std::optional<std::int64_t> version;
    if (auto v = msg.body().find("version"); v != msg.body().end() && v->is_number_integer()) {
        version = v->get<std::int64_t>();
    }
    if (co_await subscribe_room(client, msg.id, room_id, kind, last_seq, version, position))
        client->reply_ok(msg.id, {{"topic", topic}});
}

awaitable<bool> EdgeFeature::subscribe_room(std::shared_ptr<Client> client, nlohmann::json id,
                                            const std::string& room_id, RoomTopic kind,
                                            std::int64_t last_seq,
                                            std::optional<std::int64_t> version,
                                            std::string position) {
    if (kind == RoomTopic::doc) {
        // The hub may have delivered patches newer than the primary's answer and no longer
        // keep them all (a busy room): asked again.
        for (int attempt = 0; attempt < 3; ++attempt) {
            // Before the primary, as for messages: every later patch is after it.
            position = co_await hub_.stream_position(room_id);
            nlohmann::json request{{"room_id", room_id}, {"account_id", client->account_id()}};
            if (version) request["version"] = *version;
            HttpResult r = co_await link_.call("doc", std::move(request));
            if (!r.ok()) {
                reply_link_error(*client, id, r);
                co_return false;
            }
            if (!r.body.value("member", false)) {
                client->reply_error(id, "forbidden", "not a member of this room");
                co_return false;
            }
            std::vector<std::shared_ptr<const std::string>> frames;
            if (auto f = r.body.find("frames"); f != r.body.end() && f->is_array()) {
                for (const auto& frame : *f) {
                    if (frame.is_string())
                        frames.push_back(
                            std::make_shared<const std::string>(frame.get<std::string>()));
                }
            }
            if (hub_.subscribe_doc(client, room_id, frames,
                                   r.body.value("version", std::int64_t{0}), position))
                co_return true;
        }
        reply_retryable(*client, id, "the document changed too fast to subscribe; retry");
        co_return false;
    }
    hub_.subscribe(client, room_id, kind, last_seq, position);
    if (kind == RoomTopic::presence) {
        // The list now, cluster-wide: the primary counts this edge's accounts from the report.
        nlohmann::json rooms{{room_id, hub_.local_accounts(room_id)}};
        nlohmann::json request{{"node", hub_.node()}, {"rooms", std::move(rooms)}};
        HttpResult r = co_await link_.call("presence", std::move(request));
        nlohmann::json online = hub_.local_accounts(room_id);
        if (r.ok()) {
            if (auto o = r.body.find("online"); o != r.body.end() && o->contains(room_id))
                online = (*o)[room_id];
        }
        client->send_json({{"type", "presence"}, {"room_id", room_id}, {"online", online}});
    }
    co_return true;
}

awaitable<void> EdgeFeature::relay(std::shared_ptr<Client> client, ClientMessage msg) {
    if (msg.type == "typing" && !hub_.redis_connected()) {
        reply_retryable(*client, msg.id, std::string(kEdgeBusDownMessage));
        co_return;
    }
    nlohmann::json request{{"account_id", client->account_id()},
                           {"session_id", client->session_id()},
                           {"origin", hub_.origin(*client)},
                           {"frame", std::move(msg.body())}};
    HttpResult r = co_await link_.call("frame", std::move(request));
    if (!r.ok()) {
        reply_link_error(*client, msg.id, r);
        co_return;
    }
    if (auto frames = r.body.find("frames"); frames != r.body.end() && frames->is_array()) {
        for (const auto& f : *frames) {
            if (f.is_string())
                client->send(std::make_shared<const std::string>(f.get<std::string>()));
        }
    }
}

awaitable<void> EdgeFeature::send(std::shared_ptr<Client> client, ClientMessage msg) {
    auto room = msg.body().find("room_id");
    if (room == msg.body().end() || !room->is_string() || room->get<std::string>().empty()) {
        client->reply_error(msg.id, "bad_request", "room_id is a required string");
        co_return;
    }
    const std::string room_id = room->get<std::string>();
    // Without Redis the primary could commit the message but not deliver it to the other
    // edges in order: refused, and the client retries once the bus is back.
    if (!hub_.redis_connected()) {
        reply_retryable(*client, msg.id, std::string(kEdgeBusDownMessage));
        co_return;
    }
    nlohmann::json request{
        {"account_id", client->account_id()}, {"room_id", room_id}, {"body", msg.body()}};
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
    notifier_.unsubscribe(*client);
}

}  // namespace parley
