#include "server/features/room_hub.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/json_text.hpp"
#include "server/features/shared_frame.hpp"

namespace parley {

namespace {

const char* topic_field(RoomTopic t) {
    switch (t) {
        case RoomTopic::chat:
            return "chat";
        case RoomTopic::doc:
            return "doc";
        case RoomTopic::presence:
            return "presence";
        case RoomTopic::typing:
            return "typing";
    }
    return "chat";
}

std::shared_ptr<const std::string> serialize(const nlohmann::json& frame) {
    return make_shared_frame(frame.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

// Document versions start at the load time in milliseconds, so a version held from before a
// restart never matches a version of the new process: such a client gets the whole document.
std::int64_t version_base() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

const char* room_event_kind_name(RoomEventKind kind) {
    switch (kind) {
        case RoomEventKind::message:
            return "message";
        case RoomEventKind::message_removed:
            return "message_removed";
        case RoomEventKind::room_changed:
            return "room_changed";
        case RoomEventKind::room_deleted:
            return "room_deleted";
        case RoomEventKind::member_removed:
            return "member_removed";
        case RoomEventKind::typing:
            return "typing";
        case RoomEventKind::doc_patch:
            return "doc_patch";
        case RoomEventKind::presence:
            return "presence";
    }
    return "message";
}

std::optional<std::pair<std::string, RoomTopic>> parse_room_topic(const std::string& topic) {
    if (!topic.starts_with("room:")) return std::nullopt;
    auto second = topic.find(':', 5);
    if (second == std::string::npos || second == 5) return std::nullopt;
    std::string id = topic.substr(5, second - 5);
    std::string field = topic.substr(second + 1);
    if (field == "chat") return std::pair{id, RoomTopic::chat};
    if (field == "doc") return std::pair{id, RoomTopic::doc};
    if (field == "presence") return std::pair{id, RoomTopic::presence};
    if (field == "typing") return std::pair{id, RoomTopic::typing};
    return std::nullopt;
}

std::string room_topic_name(const std::string& room_id, RoomTopic topic) {
    return "room:" + room_id + ":" + topic_field(topic);
}

nlohmann::json message_json(const Message& m) {
    nlohmann::json j{{"room_id", m.room_id},     {"seq", m.seq},
                     {"sender_id", m.sender_id}, {"client_msg_id", m.client_msg_id},
                     {"text", m.text},           {"sent_at", m.sent_at}};
    if (!m.media.empty()) j["media"] = m.media;
    if (!m.signature.empty()) j["signature"] = base64_encode(m.signature);
    return j;
}

// Built once per committed message: written directly, with the keys in the order nlohmann's
// object keeps them.
std::shared_ptr<const std::string> message_frame(const Message& m) {
    std::string out;
    out.reserve(160 + m.text.size() + m.client_msg_id.size() + m.signature.size() * 2);
    out += '{';
    append_json_field(out, "client_msg_id", m.client_msg_id);
    if (!m.media.empty()) append_json_field(out, "media", m.media);
    append_json_field(out, "room_id", m.room_id);
    append_json_field(out, "sender_id", m.sender_id);
    append_json_field(out, "sent_at", m.sent_at);
    append_json_field(out, "seq", m.seq);
    if (!m.signature.empty()) append_json_field(out, "signature", base64_encode(m.signature));
    append_json_field(out, "text", m.text);
    append_json_field(out, "type", "message");
    out += '}';
    return make_shared_frame(std::move(out));
}

RoomHub::RoomHub(net::any_io_executor executor, const ChatSettings& settings, RoomStore& rooms,
                 AccountStore& accounts, ClientRegistry& clients)
    : executor_(std::move(executor)),
      settings_(settings),
      rooms_(rooms),
      accounts_(accounts),
      clients_(clients),
      presence_version_(std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count()) {}

std::shared_ptr<RoomHub::Live> RoomHub::live(const std::string& room_id) {
    std::lock_guard lock(table_mutex_);
    auto& slot = live_[room_id];
    if (!slot) slot = std::make_shared<Live>();
    return slot;
}

std::shared_ptr<RoomHub::Live> RoomHub::find_live(const std::string& room_id) const {
    std::lock_guard lock(table_mutex_);
    auto it = live_.find(room_id);
    return it == live_.end() ? nullptr : it->second;
}

nlohmann::json RoomHub::build_document(const std::string& room_id) {
    auto room = rooms_.room(room_id);
    if (!room) return nlohmann::json();
    nlohmann::json members = nlohmann::json::object();
    for (const auto& m : rooms_.members(room_id)) {
        auto account = accounts_.account_by_id(m.account_id);
        members[m.account_id] = {
            {"display_name", m.display_name},
            {"role", m.role},
            {"username", account ? account->username : ""},
            {"public_key", m.public_key.empty() ? nlohmann::json()
                                                : nlohmann::json(base64_encode(m.public_key))}};
    }
    bool complete = false;
    nlohmann::json messages = nlohmann::json::array();
    for (const auto& m : rooms_.recent_after(room_id, 0, complete))
        messages.push_back(message_json(m));
    return {{"id", room->id},
            {"kind", room->kind},
            {"title", room->title},
            {"require_signatures", room->require_signatures},
            {"join_policy", room->join_policy},
            {"created_by", room->created_by},
            {"created_at", room->created_at},
            {"last_seq", room->last_seq},
            {"members", members},
            {"messages", messages}};
}

void RoomHub::ensure_tracked(const std::string& room_id, Live& l) {
    if (l.loaded) return;
    auto room = rooms_.room(room_id);
    l.next_release = (room ? room->last_seq : 0) + 1;
    l.loaded = true;
}

void RoomHub::ensure_document(const std::string& room_id, Live& l) {
    ensure_tracked(room_id, l);
    if (l.has_doc) {
        apply_deferred(room_id, l);
        return;
    }
    l.doc = build_document(room_id);
    // Above every version this room handed out in this process (and, from the clock, in any
    // earlier one).
    l.version = std::max(version_base(), l.version + 1);
    l.has_doc = true;
}

void RoomHub::apply_message(const std::string& room_id, Live& l, const Message& m) {
    nlohmann::json ops = nlohmann::json::array();
    ops.push_back({{"op", "add"}, {"path", "/messages/-"}, {"value", message_json(m)}});
    std::size_t count = l.doc["messages"].size() + 1;
    for (; count > static_cast<std::size_t>(settings_.recent_messages); --count) {
        ops.push_back({{"op", "remove"}, {"path", "/messages/0"}});
    }
    ops.push_back({{"op", "replace"}, {"path", "/last_seq"}, {"value", m.seq}});
    apply_ops(room_id, l, std::move(ops));
}

void RoomHub::apply_deferred(const std::string& room_id, Live& l) {
    for (const auto& m : l.deferred)
        apply_message(room_id, l, m);
    l.deferred.clear();
}

void RoomHub::drop_document(Live& l) {
    l.doc = nlohmann::json();
    l.history.clear();
    std::vector<Message>().swap(l.deferred);
    l.has_doc = false;
    ++l.version;  // the version the dropped document would have had next is never handed out
}

void RoomHub::send_to(Live& l, RoomTopic topic, const std::shared_ptr<const std::string>& frame,
                      std::uint64_t except) {
    for (auto& [id, sub] : l.subscribers) {
        if (id == except || !sub.topics.contains(topic)) continue;
        if (auto c = sub.client.lock()) c->send(frame);
    }
}

void RoomHub::apply_ops(const std::string& room_id, Live& l, nlohmann::json ops) {
    if (ops.empty()) return;
    // In place: the ops touch a few nodes, while a copying patch() would copy the whole
    // document (every member, the recent messages) for every message.
    l.doc.patch_inplace(ops);
    ++l.version;
    const bool local = has_topic_subscriber(l, RoomTopic::doc);
    if (local || sink_) {
        auto frame = serialize({{"type", "patch"},
                                {"topic", room_topic_name(room_id, RoomTopic::doc)},
                                {"version", l.version},
                                {"ops", ops}});
        if (local) send_to(l, RoomTopic::doc, frame);
        // Every patch of a kept document, so that the version sequence edges see is complete.
        publish({RoomEventKind::doc_patch, room_id, l.version, {}, frame});
    }
    l.history.emplace_back(l.version, std::move(ops));
    while (l.history.size() > static_cast<std::size_t>(settings_.doc_history))
        l.history.pop_front();
}

bool RoomHub::has_topic_subscriber(const Live& l, RoomTopic topic) {
    return std::any_of(l.subscribers.begin(), l.subscribers.end(),
                       [topic](const auto& entry) { return entry.second.topics.contains(topic); });
}

bool RoomHub::document_read(const Live& l) const {
    return has_topic_subscriber(l, RoomTopic::doc) ||
           (sink_ && std::chrono::steady_clock::now() < l.remote_doc_until);
}

std::vector<std::shared_ptr<const std::string>> RoomHub::doc_frames(
    const std::string& room_id, const Live& l, std::optional<std::int64_t> version) {
    std::vector<std::shared_ptr<const std::string>> out;
    const std::string name = room_topic_name(room_id, RoomTopic::doc);
    if (version && *version == l.version) return out;  // up to date: nothing to send
    if (version && !l.history.empty() && *version >= l.history.front().first - 1 &&
        *version < l.version) {
        for (const auto& [v, ops] : l.history) {
            if (v <= *version) continue;
            out.push_back(
                serialize({{"type", "patch"}, {"topic", name}, {"version", v}, {"ops", ops}}));
        }
        return out;
    }
    nlohmann::json ops = nlohmann::json::array();
    ops.push_back({{"op", "replace"}, {"path", ""}, {"value", l.doc}});
    out.push_back(
        serialize({{"type", "patch"}, {"topic", name}, {"version", l.version}, {"ops", ops}}));
    return out;
}

std::vector<std::string> RoomHub::online_list(const Live& l) {
    std::set<std::string> accounts;
    for (const auto& [id, s] : l.subscribers)
        accounts.insert(s.account_id);
    if (!l.remote_online.empty()) {
        const auto now = std::chrono::steady_clock::now();
        for (const auto& [node, remote] : l.remote_online) {
            if (remote.until > now) accounts.insert(remote.accounts.begin(), remote.accounts.end());
        }
    }
    return {accounts.begin(), accounts.end()};
}

void RoomHub::subscribe(const std::shared_ptr<Client>& client, const std::string& room_id,
                        RoomTopic topic, std::optional<std::int64_t> version) {
    auto l = live(room_id);
    {
        std::lock_guard lock(table_mutex_);
        rooms_of_client_[client->id()].insert(room_id);
    }
    bool new_subscriber = false;
    bool resend_presence = false;
    {
        std::lock_guard lock(l->mutex);
        if (topic == RoomTopic::doc) {
            ensure_document(room_id, *l);
        } else {
            ensure_tracked(room_id, *l);
        }
        auto& sub = l->subscribers[client->id()];
        new_subscriber = sub.topics.empty();
        sub.client = client;
        sub.account_id = client->account_id();
        sub.topics.insert(topic);
        if (topic == RoomTopic::doc) {
            for (auto& frame : doc_frames(room_id, *l, version))
                client->send(std::move(frame));
        }
        if (topic == RoomTopic::presence) {
            std::vector<std::string> online = online_list(*l);
            client->send_json({{"type", "presence"}, {"room_id", room_id}, {"online", online}});
            // This list may be one the coalesced updates never sent (someone left and comes
            // back within the interval): make sure the next update reaches this subscriber.
            if (online != l->last_presence) {
                l->presence_resend = true;
                resend_presence = true;
            }
        }
    }
    if (new_subscriber || resend_presence) schedule_presence(room_id, l);
}

void RoomHub::unsubscribe(const Client& client, const std::string& room_id, RoomTopic topic) {
    auto l = find_live(room_id);
    if (!l) return;
    bool gone = false;
    {
        std::lock_guard lock(l->mutex);
        auto it = l->subscribers.find(client.id());
        if (it == l->subscribers.end()) return;
        it->second.topics.erase(topic);
        if (it->second.topics.empty()) {
            l->subscribers.erase(it);
            gone = true;
        }
    }
    if (gone) {
        {
            std::lock_guard lock(table_mutex_);
            if (auto r = rooms_of_client_.find(client.id()); r != rooms_of_client_.end()) {
                r->second.erase(room_id);
            }
        }
        schedule_presence(room_id, l);
    }
}

void RoomHub::drop_client(const Client& client) {
    std::set<std::string> rooms;
    {
        std::lock_guard lock(table_mutex_);
        auto it = rooms_of_client_.find(client.id());
        if (it == rooms_of_client_.end()) return;
        rooms = std::move(it->second);
        rooms_of_client_.erase(it);
    }
    for (const auto& room_id : rooms) {
        auto l = find_live(room_id);
        if (!l) continue;
        {
            std::lock_guard lock(l->mutex);
            l->subscribers.erase(client.id());
        }
        schedule_presence(room_id, l);
    }
}

void RoomHub::message_committed(const Message& message) {
    auto l = live(message.room_id);
    std::lock_guard lock(l->mutex);
    if (!l->loaded) {
        // Not loaded yet: the release point is the store's last released seq.
        auto room = rooms_.room(message.room_id);
        l->next_release = (room ? room->last_seq : 0) + 1;
    }
    if (message.seq < l->next_release) return;  // already part of the released prefix
    if (message.seq == l->next_release && l->pending.empty()) {
        // In order, as almost every message is: released without a copy into `pending`.
        release(*l, message);
        return;
    }
    l->pending.emplace(message.seq, message);
    while (!l->pending.empty() && l->pending.begin()->first == l->next_release) {
        auto node = l->pending.extract(l->pending.begin());
        release(*l, node.mapped());
    }
}

void RoomHub::release(Live& l, const Message& m) {
    ++l.next_release;
    rooms_.remember(m);
    auto frame = message_frame(m);
    send_to(l, RoomTopic::chat, frame);
    publish({RoomEventKind::message, m.room_id, m.seq, {}, frame});
    if (!l.has_doc) return;
    if (document_read(l)) {
        apply_message(m.room_id, l, m);
    } else if (l.deferred.size() < static_cast<std::size_t>(settings_.doc_history)) {
        l.deferred.push_back(m);
    } else {
        drop_document(l);
    }
}

void RoomHub::message_removed(const std::string& room_id, std::int64_t seq,
                              const std::string& removed_by) {
    auto l = find_live(room_id);
    auto frame = [&] {
        return serialize({{"type", "message_removed"},
                          {"room_id", room_id},
                          {"seq", seq},
                          {"removed_by", removed_by}});
    };
    if (!l) {
        if (sink_) publish({RoomEventKind::message_removed, room_id, seq, removed_by, frame()});
        return;
    }
    std::lock_guard lock(l->mutex);
    auto data = frame();
    send_to(*l, RoomTopic::chat, data);
    publish({RoomEventKind::message_removed, room_id, seq, removed_by, data});
    if (!l->has_doc) return;
    apply_deferred(room_id, *l);
    const auto& messages = l->doc["messages"];
    for (std::size_t i = 0; i < messages.size(); ++i) {
        if (messages[i].value("seq", std::int64_t{0}) != seq) continue;
        nlohmann::json ops = nlohmann::json::array();
        ops.push_back({{"op", "remove"}, {"path", "/messages/" + std::to_string(i)}});
        apply_ops(room_id, *l, std::move(ops));
        break;
    }
}

void RoomHub::room_changed(const std::string& room_id) {
    auto l = find_live(room_id);
    if (!l) {
        publish({RoomEventKind::room_changed, room_id, 0, {}, nullptr});
        return;
    }
    std::lock_guard lock(l->mutex);
    publish({RoomEventKind::room_changed, room_id, 0, {}, nullptr});
    if (!l->has_doc) return;
    apply_deferred(room_id, *l);
    nlohmann::json fresh = build_document(room_id);
    // Messages are maintained by message_committed; compare everything else.
    fresh["messages"] = l->doc["messages"];
    fresh["last_seq"] = l->doc["last_seq"];
    apply_ops(room_id, *l, nlohmann::json::diff(l->doc, fresh));
}

void RoomHub::room_deleted(const std::string& room_id) {
    std::shared_ptr<Live> l;
    {
        std::lock_guard lock(table_mutex_);
        auto it = live_.find(room_id);
        if (it == live_.end()) {
            if (sink_) {
                publish({RoomEventKind::room_deleted,
                         room_id,
                         0,
                         {},
                         serialize({{"type", "room_deleted"}, {"room_id", room_id}})});
            }
            return;
        }
        l = it->second;
        live_.erase(it);
    }
    std::lock_guard lock(l->mutex);
    auto frame = serialize({{"type", "room_deleted"}, {"room_id", room_id}});
    publish({RoomEventKind::room_deleted, room_id, 0, {}, frame});
    for (auto& [id, sub] : l->subscribers) {
        if (auto c = sub.client.lock()) c->send(frame);
    }
    l->subscribers.clear();
}

void RoomHub::member_removed(const std::string& room_id, const std::string& account_id) {
    auto l = find_live(room_id);
    if (!l) {
        if (sink_) {
            publish({RoomEventKind::member_removed, room_id, 0, account_id,
                     serialize({{"type", "removed"}, {"room_id", room_id}})});
        }
        return;
    }
    {
        std::lock_guard lock(l->mutex);
        auto frame = serialize({{"type", "removed"}, {"room_id", room_id}});
        publish({RoomEventKind::member_removed, room_id, 0, account_id, frame});
        for (auto it = l->subscribers.begin(); it != l->subscribers.end();) {
            if (it->second.account_id == account_id) {
                if (auto c = it->second.client.lock()) c->send(frame);
                it = l->subscribers.erase(it);
            } else {
                ++it;
            }
        }
    }
    schedule_presence(room_id, l);
}

void RoomHub::typing(const Client& client, const std::string& room_id, bool active) {
    auto l = live(room_id);
    std::lock_guard lock(l->mutex);
    auto now = std::chrono::steady_clock::now();
    auto& typist = l->last_typing[client.account_id()];
    if (active) {
        // Throttled while typing goes on; the first start after a stop passes at once.
        if (typist.active &&
            now - typist.at < std::chrono::milliseconds(settings_.typing_interval_ms))
            return;
        typist.at = now;
    } else if (!typist.active) {
        return;  // nothing to stop: the others were never told of a start
    }
    typist.active = active;
    auto frame = serialize({{"type", "typing"},
                            {"room_id", room_id},
                            {"account_id", client.account_id()},
                            {"active", active}});
    send_to(*l, RoomTopic::typing, frame, client.id());
    const std::string origin = sink_ ? client.relay_origin() : std::string();
    publish({RoomEventKind::typing, room_id, 0, client.account_id(), frame, origin});
}

void RoomHub::send_to_role(const std::string& room_id, const std::string& role,
                           const nlohmann::json& frame) {
    auto data = serialize(frame);
    for (const auto& m : rooms_.members(room_id)) {
        if (m.role != role) continue;
        for (auto& c : clients_.for_account(m.account_id))
            c->send(data);
        clients_.account_frame(m.account_id, data, false);
    }
}

void RoomHub::broadcast(const std::string& room_id, const nlohmann::json& frame) {
    auto l = find_live(room_id);
    if (!l) return;
    auto data = serialize(frame);
    std::lock_guard lock(l->mutex);
    for (auto& [id, sub] : l->subscribers) {
        if (auto c = sub.client.lock()) c->send(data);
    }
}

std::vector<std::string> RoomHub::online(const std::string& room_id) const {
    auto l = find_live(room_id);
    if (!l) return {};
    std::lock_guard lock(l->mutex);
    return online_list(*l);
}

bool RoomHub::has_subscribers(const std::string& room_id) const {
    return subscriber_count(room_id) > 0;
}

std::size_t RoomHub::subscriber_count(const std::string& room_id) const {
    auto l = find_live(room_id);
    if (!l) return 0;
    std::lock_guard lock(l->mutex);
    return l->subscribers.size();
}

std::map<std::string, std::size_t> RoomHub::subscriber_counts() const {
    std::vector<std::pair<std::string, std::shared_ptr<Live>>> all;
    {
        std::lock_guard lock(table_mutex_);
        all.assign(live_.begin(), live_.end());
    }
    std::map<std::string, std::size_t> out;
    for (auto& [id, l] : all) {
        std::lock_guard lock(l->mutex);
        if (!l->subscribers.empty()) out[id] = l->subscribers.size();
    }
    return out;
}

std::pair<nlohmann::json, std::int64_t> RoomHub::document(const std::string& room_id) {
    auto l = live(room_id);
    std::lock_guard lock(l->mutex);
    ensure_document(room_id, *l);
    return {l->doc, l->version};
}

void RoomHub::schedule_presence(const std::string& room_id, const std::shared_ptr<Live>& l) {
    {
        std::lock_guard lock(l->mutex);
        if (l->presence_scheduled) return;
        l->presence_scheduled = true;
    }
    auto timer = std::make_shared<net::steady_timer>(
        executor_, std::chrono::milliseconds(settings_.presence_interval_ms));
    timer->async_wait([this, room_id, l, timer](const boost::system::error_code& ec) {
        if (ec) return;
        send_presence(room_id, l);
    });
}

void RoomHub::send_presence(const std::string& room_id, const std::shared_ptr<Live>& l) {
    std::lock_guard lock(l->mutex);
    l->presence_scheduled = false;
    std::vector<std::string> online = online_list(*l);
    if (online == l->last_presence && !l->presence_resend) return;
    l->presence_resend = false;
    l->last_presence = online;
    auto frame = serialize({{"type", "presence"}, {"room_id", room_id}, {"online", online}});
    send_to(*l, RoomTopic::presence, frame);
    if (sink_) {
        l->presence_version = ++presence_version_;
        publish({RoomEventKind::presence, room_id, l->presence_version, {}, frame});
    }
}

RoomHub::PublishedPresence RoomHub::published_presence(const std::string& room_id) const {
    auto l = find_live(room_id);
    if (!l) return {};
    std::lock_guard lock(l->mutex);
    return {l->presence_version, l->last_presence};
}

RoomHub::DocumentFrames RoomHub::document_frames(const std::string& room_id,
                                                 std::optional<std::int64_t> version,
                                                 std::chrono::milliseconds keep) {
    auto l = live(room_id);
    std::lock_guard lock(l->mutex);
    ensure_document(room_id, *l);
    l->remote_doc_until = std::max(l->remote_doc_until, std::chrono::steady_clock::now() + keep);
    return {doc_frames(room_id, *l, version), l->version};
}

void RoomHub::keep_documents(const std::vector<std::string>& room_ids,
                             std::chrono::milliseconds keep) {
    const auto until = std::chrono::steady_clock::now() + keep;
    for (const auto& room_id : room_ids) {
        if (!rooms_.room(room_id)) continue;
        auto l = live(room_id);
        std::lock_guard lock(l->mutex);
        // A document dropped or never built here (a restart) is built again and published
        // whole: the edges see a version gap, which they fill with the whole document.
        const bool rebuilt = !l->has_doc;
        ensure_document(room_id, *l);
        l->remote_doc_until = std::max(l->remote_doc_until, until);
        if (rebuilt) {
            auto frames = doc_frames(room_id, *l, std::nullopt);
            publish({RoomEventKind::doc_patch, room_id, l->version, {}, frames.front()});
        }
    }
}

std::vector<std::string> RoomHub::set_remote_online(const std::string& room_id,
                                                    const std::string& node,
                                                    std::vector<std::string> accounts,
                                                    std::chrono::steady_clock::time_point until) {
    auto l = live(room_id);
    std::vector<std::string> online;
    bool changed = true;
    {
        std::lock_guard lock(l->mutex);
        std::sort(accounts.begin(), accounts.end());
        auto it = l->remote_online.find(node);
        if (accounts.empty()) {
            if (it == l->remote_online.end()) {
                changed = false;
            } else {
                l->remote_online.erase(it);
            }
        } else if (it == l->remote_online.end() || it->second.accounts != accounts) {
            l->remote_online[node] = {std::move(accounts), until};
        } else {
            it->second.until = until;  // a refresh: nothing changes
            changed = false;
        }
        online = online_list(*l);
        if (online != l->last_presence) {
            l->presence_resend = true;
            changed = true;
        }
    }
    if (changed) schedule_presence(room_id, l);
    return online;
}

void RoomHub::expire_remote_online() {
    std::vector<std::pair<std::string, std::shared_ptr<Live>>> all;
    {
        std::lock_guard lock(table_mutex_);
        all.assign(live_.begin(), live_.end());
    }
    const auto now = std::chrono::steady_clock::now();
    for (auto& [room_id, l] : all) {
        bool expired = false;
        {
            std::lock_guard lock(l->mutex);
            for (auto it = l->remote_online.begin(); it != l->remote_online.end();) {
                if (it->second.until > now) {
                    ++it;
                    continue;
                }
                spdlog::info("cluster: room {}: presence of node {} expired", room_id, it->first);
                it = l->remote_online.erase(it);
                expired = true;
            }
        }
        if (expired) schedule_presence(room_id, l);
    }
}

}  // namespace parley
