#include "server/cluster/edge_hub.hpp"

#include <charconv>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/redirect_error.hpp>

#include "common/crypto.hpp"
#include "common/logging.hpp"
#include "server/features/shared_frame.hpp"

namespace parley {

namespace {

// RedisClient::command as an awaitable operation.
template <class Token>
auto async_command(RedisClient& client, std::vector<std::string> args,
                   std::chrono::milliseconds timeout, Token&& token) {
    return net::async_initiate<Token, void(RedisResult)>(
        [&client, timeout](auto handler, std::vector<std::string> a) {
            // RedisClient takes a copyable std::function; the coroutine's handler is move-only.
            auto h = std::make_shared<decltype(handler)>(std::move(handler));
            client.command(
                std::move(a), [h](RedisResult r) { std::move (*h)(std::move(r)); }, timeout);
        },
        token, std::move(args));
}

std::int64_t parse_seq(const std::string& text) {
    std::int64_t v = -1;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    return ec == std::errc() && end == text.data() + text.size() ? v : -1;
}

// The milliseconds part of a stream entry id ("<ms>-<n>").
std::int64_t entry_ms(const std::string& id) {
    return parse_seq(id.substr(0, id.find('-')));
}

std::int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The version of a patch frame from the primary (gap fills only: stream entries carry it).
std::int64_t frame_version(const std::string& frame) {
    auto j = nlohmann::json::parse(frame, nullptr, false);
    if (!j.is_object()) return -1;
    auto v = j.find("version");
    return v != j.end() && v->is_number_integer() ? v->get<std::int64_t>() : -1;
}

// A room whose stream position Redis could not tell is read from its stream's start; events
// other than messages and patches older than its subscription less this are not live for its
// subscribers, and are skipped.
constexpr std::int64_t kLiveSlackMs = 2000;

RedisOptions renamed(RedisOptions options, const char* suffix) {
    options.name += suffix;
    return options;
}

}  // namespace

EdgeHub::EdgeHub(net::any_io_executor executor, const ClusterSettings& settings, RedisOptions redis,
                 EdgeLink& link)
    : strand_(net::make_strand(executor)),
      settings_(settings),
      link_(link),
      node_(settings.node_id.empty() ? "edge-" + random_id() : settings.node_id),
      wake_key_(settings.control_stream + ":wake:" + node_),
      wait_timer_(strand_),
      report_timer_(strand_),
      commands_(strand_, renamed(redis, " (commands)")),
      redis_(strand_, std::move(redis)) {}

void EdgeHub::start() {
    net::co_spawn(strand_, read_loop(), [](std::exception_ptr e) {
        if (e) spdlog::error("cluster: edge stream reader ended: {}", exception_what(e));
    });
    net::co_spawn(strand_, report_loop(), [](std::exception_ptr e) {
        if (e) spdlog::error("cluster: edge presence reporter ended: {}", exception_what(e));
    });
}

void EdgeHub::stop() {
    stopping_ = true;
    net::post(strand_, [this] {
        wait_timer_.cancel();
        report_timer_.cancel();
    });
}

awaitable<std::string> EdgeHub::stream_position(const std::string& room_id) {
    {
        std::lock_guard lock(mutex_);
        if (rooms_.contains(room_id)) co_return std::string();
    }
    // Built before the co_await: GCC 12 miscompiles an initializer list inside it.
    std::vector<std::string> args{"XREVRANGE", settings_.stream_prefix + room_id, "+", "-", "COUNT",
                                  "1"};
    auto caller = co_await net::this_coro::executor;
    RedisResult r = co_await async_command(commands_, std::move(args),
                                           std::chrono::milliseconds::zero(), use_awaitable);
    // The reply came on the hub's strand: the caller's socket work goes back to its executor.
    co_await net::post(caller, use_awaitable);
    if (!r.ok() || r.reply.type != RedisReply::Type::array) co_return std::string();
    if (r.reply.elements.empty() || r.reply.elements[0].elements.empty()) co_return "0-0";
    co_return r.reply.elements[0].elements[0].str;
}

EdgeHub::Room& EdgeHub::add_room(const std::string& room_id, const std::string& position) {
    Room& room = rooms_[room_id];
    if (position.empty()) {
        room.last_id = "0";
        room.since_ms = unix_ms() - kLiveSlackMs;
    } else {
        room.last_id = position;
    }
    net::post(strand_, [this] { wake(); });
    return room;
}

void EdgeHub::wake() {
    if (stopping_) return;
    std::vector<std::vector<std::string>> commands{
        {"XADD", wake_key_, "MAXLEN", "~", "100", "*", "room", "added"},
        {"PEXPIRE", wake_key_, "86400000"}};  // an edge gone for good leaves nothing behind
    commands_.pipeline(std::move(commands), [](std::string error, std::vector<RedisReply>) {
        // Unwoken, the reader still picks the room up within read_block_ms.
        if (!error.empty()) spdlog::debug("cluster: waking the stream reader failed: {}", error);
    });
}

void EdgeHub::subscribe(const std::shared_ptr<Client>& client, const std::string& room_id,
                        RoomTopic topic, std::int64_t last_seq, const std::string& position) {
    std::lock_guard lock(mutex_);
    const bool created = !rooms_.contains(room_id);
    Room& room = created ? add_room(room_id, position) : rooms_[room_id];
    // Not known yet (a room first subscribed to its document alone) or a new subscription.
    if (created || room.last_seq < 0) room.last_seq = last_seq;
    auto& sub = room.subscribers[client->id()];
    sub.client = client;
    sub.account_id = client->account_id();
    if (topic == RoomTopic::chat && !sub.topics.contains(RoomTopic::chat)) sub.chat_from = last_seq;
    sub.topics.insert(topic);
    rooms_of_client_[client->id()].insert(room_id);
    presence_changed(room_id);
}

bool EdgeHub::has_doc_subscriber(const Room& room) {
    for (const auto& [id, sub] : room.subscribers) {
        if (sub.topics.contains(RoomTopic::doc)) return true;
    }
    return false;
}

bool EdgeHub::subscribe_doc(const std::shared_ptr<Client>& client, const std::string& room_id,
                            const std::vector<std::shared_ptr<const std::string>>& frames,
                            std::int64_t version, const std::string& position) {
    std::lock_guard lock(mutex_);
    if (!rooms_.contains(room_id)) add_room(room_id, position);
    auto it = rooms_.find(room_id);
    Room& room = it->second;
    std::vector<std::shared_ptr<const std::string>> bridge;
    if (!has_doc_subscriber(room)) {
        // Nobody here reads the document: the reader's position in it starts from this answer
        // (later patches already read are refetched as a gap).
        room.doc_version = version;
        room.doc_history.clear();
    } else if (room.doc_version > version) {
        std::int64_t next = version + 1;
        for (const auto& [v, frame] : room.doc_history) {
            if (v < next) continue;
            if (v != next) break;
            bridge.push_back(frame);
            ++next;
        }
        if (next != room.doc_version + 1) {
            if (room.subscribers.empty()) rooms_.erase(it);
            return false;
        }
    }
    for (const auto& f : frames)
        client->send(f);
    for (const auto& f : bridge)
        client->send(f);
    auto& sub = room.subscribers[client->id()];
    sub.client = client;
    sub.account_id = client->account_id();
    sub.topics.insert(RoomTopic::doc);
    sub.doc_from = std::max(version, room.doc_version);
    rooms_of_client_[client->id()].insert(room_id);
    presence_changed(room_id);
    return true;
}

std::vector<std::string> EdgeHub::local_accounts(const std::string& room_id) const {
    std::lock_guard lock(mutex_);
    auto it = rooms_.find(room_id);
    return it == rooms_.end() ? std::vector<std::string>{} : accounts_of(it->second);
}

std::vector<std::string> EdgeHub::accounts_of(const Room& room) {
    std::set<std::string> accounts;
    for (const auto& [id, sub] : room.subscribers)
        accounts.insert(sub.account_id);
    return {accounts.begin(), accounts.end()};
}

void EdgeHub::presence_changed(const std::string& room_id) {
    presence_dirty_.insert(room_id);
}

void EdgeHub::unsubscribe(const Client& client, const std::string& room_id, RoomTopic topic) {
    std::lock_guard lock(mutex_);
    auto it = rooms_.find(room_id);
    if (it == rooms_.end()) return;
    auto sub = it->second.subscribers.find(client.id());
    if (sub == it->second.subscribers.end()) return;
    sub->second.topics.erase(topic);
    if (!sub->second.topics.empty()) return;
    it->second.subscribers.erase(sub);
    presence_changed(room_id);
    if (auto r = rooms_of_client_.find(client.id()); r != rooms_of_client_.end())
        r->second.erase(room_id);
    // No local reader left: the stream is no longer read (a later subscriber starts over).
    if (it->second.subscribers.empty()) rooms_.erase(it);
}

void EdgeHub::drop_client(const Client& client) {
    std::lock_guard lock(mutex_);
    auto r = rooms_of_client_.find(client.id());
    if (r == rooms_of_client_.end()) return;
    for (const auto& room_id : r->second) {
        auto it = rooms_.find(room_id);
        if (it == rooms_.end()) continue;
        it->second.subscribers.erase(client.id());
        presence_changed(room_id);
        if (it->second.subscribers.empty()) rooms_.erase(it);
    }
    rooms_of_client_.erase(r);
}

awaitable<RedisResult> EdgeHub::read(std::vector<std::string> args,
                                     std::chrono::milliseconds timeout) {
    co_return co_await async_command(redis_, std::move(args), timeout, use_awaitable);
}

awaitable<void> EdgeHub::read_loop() {
    const std::string block = std::to_string(settings_.read_block_ms);
    const auto read_timeout =
        std::chrono::milliseconds(settings_.read_block_ms + settings_.redis_command_timeout_ms);
    while (!stopping_) {
        RedisResult r;
        if (control_last_id_.empty()) {
            // Where the control stream ends now ("0-0" when it does not exist yet).
            // Built before the co_await: GCC 12 miscompiles an initializer list inside it.
            std::vector<std::string> args{"XREVRANGE", settings_.control_stream, "+", "-", "COUNT",
                                          "1"};
            r = co_await read(std::move(args), read_timeout);
            if (r.ok() && r.reply.type == RedisReply::Type::array) {
                control_last_id_ = r.reply.elements.empty() || r.reply.elements[0].elements.empty()
                                       ? std::string("0-0")
                                       : r.reply.elements[0].elements[0].str;
                continue;
            }
        } else {
            std::vector<std::string> args{"XREAD", "COUNT", "500", "BLOCK", block, "STREAMS"};
            std::vector<std::string> ids;
            {
                std::lock_guard lock(mutex_);
                for (const auto& [room_id, room] : rooms_) {
                    args.push_back(settings_.stream_prefix + room_id);
                    ids.push_back(room.last_id);
                }
            }
            // Always read: ended sessions arrive even while no room is subscribed here, and a
            // wake when one is.
            args.push_back(settings_.control_stream);
            ids.push_back(control_last_id_);
            args.push_back(wake_key_);
            ids.push_back(wake_last_id_);
            args.insert(args.end(), ids.begin(), ids.end());
            r = co_await read(std::move(args), read_timeout);
        }
        if (!r.ok() || r.reply.is_error()) {
            {
                std::lock_guard lock(mutex_);
                ++stats_.read_errors;
            }
            if (!read_failing_) {
                read_failing_ = true;
                spdlog::warn("cluster: reading room streams failed, retrying every {} ms: {}",
                             settings_.publish_retry_ms, r.ok() ? r.reply.str : r.error);
            }
            boost::system::error_code ec;
            wait_timer_.expires_after(std::chrono::milliseconds(settings_.publish_retry_ms));
            co_await wait_timer_.async_wait(net::redirect_error(use_awaitable, ec));
            continue;
        }
        if (read_failing_) {
            read_failing_ = false;
            spdlog::info("cluster: reading room streams again");
        }
        if (r.reply.type != RedisReply::Type::array) continue;  // nil: the block timed out
        // [[stream, [[id, [field, value, ...]], ...]], ...]
        for (const auto& stream : r.reply.elements) {
            if (stream.elements.size() != 2) continue;
            const std::string& key = stream.elements[0].str;
            if (key == settings_.control_stream) {
                read_control(stream.elements[1]);
                continue;
            }
            if (key == wake_key_) {
                if (!stream.elements[1].elements.empty() &&
                    !stream.elements[1].elements.back().elements.empty())
                    wake_last_id_ = stream.elements[1].elements.back().elements[0].str;
                continue;
            }
            if (!key.starts_with(settings_.stream_prefix)) continue;
            Entry e;
            e.room_id = key.substr(settings_.stream_prefix.size());
            for (const auto& item : stream.elements[1].elements) {
                if (item.elements.size() != 2) continue;
                e.id = item.elements[0].str;
                e.fields.clear();
                const auto& f = item.elements[1].elements;
                for (std::size_t i = 0; i + 1 < f.size(); i += 2)
                    e.fields[f[i].str] = f[i + 1].str;
                co_await handle(e);
            }
        }
    }
}

void EdgeHub::read_control(const RedisReply& entries) {
    for (const auto& item : entries.elements) {
        if (item.elements.size() != 2) continue;
        control_last_id_ = item.elements[0].str;
        std::string kind;
        std::string session;
        const auto& f = item.elements[1].elements;
        for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
            if (f[i].str == "kind") kind = f[i + 1].str;
            if (f[i].str == "session") session = f[i + 1].str;
        }
        if (kind == "session_ended" && !session.empty() && session_ended_) session_ended_(session);
        if (kind == "account_frame" && account_frame_) {
            std::string account;
            std::string frame;
            bool notification = false;
            for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
                if (f[i].str == "account") account = f[i + 1].str;
                if (f[i].str == "frame") frame = f[i + 1].str;
                if (f[i].str == "notification") notification = f[i + 1].str == "1";
            }
            if (!account.empty() && !frame.empty()) {
                account_frame_(account, std::make_shared<const std::string>(std::move(frame)),
                               notification);
            }
        }
    }
}

awaitable<void> EdgeHub::handle(const Entry& e) {
    auto field = [&e](const char* name) -> std::string {
        auto it = e.fields.find(name);
        return it == e.fields.end() ? std::string() : it->second;
    };
    const std::string kind = field("kind");
    const std::int64_t seq = parse_seq(field("seq"));
    auto frame = make_shared_frame(field("frame"));
    std::int64_t gap_from = -1;
    {
        std::lock_guard lock(mutex_);
        ++stats_.entries_read;
        auto it = rooms_.find(e.room_id);
        if (it == rooms_.end()) co_return;  // its last local subscriber left
        Room& room = it->second;
        room.last_id = e.id;
        // Read from the stream's start for a new subscription: not live for its sockets.
        if (kind != "message" && kind != "doc_patch" && entry_ms(e.id) < room.since_ms) co_return;
        if (kind == "presence" && seq > 0) {
            // Older than a list the primary's answer gave (entries kept while Redis was away).
            if (seq <= room.presence_version) co_return;
            room.presence_version = seq;
        }
        if (kind == "message") {
            if (seq <= room.last_seq) {
                ++stats_.duplicates;
                co_return;
            }
            if (seq > room.last_seq + 1) gap_from = room.last_seq;
        }
    }
    if (kind == "message") {
        if (gap_from >= 0) co_await fill_gap(e.room_id, gap_from, seq - 1);
        release_message(e.room_id, seq, frame);
    } else if (kind == "message_removed") {
        deliver(e.room_id, RoomTopic::chat, frame);
    } else if (kind == "typing") {
        // Every socket but the typing one, as on one node (the account's other sockets too).
        deliver(e.room_id, RoomTopic::typing, frame, false, field("origin"));
    } else if (kind == "doc_patch") {
        co_await handle_doc_patch(e.room_id, seq, frame);
    } else if (kind == "presence") {
        deliver(e.room_id, RoomTopic::presence, frame);
    } else if (kind == "member_removed") {
        // That account's sockets get the frame and stop receiving the room, as on one node.
        const std::string account = field("account");
        std::lock_guard lock(mutex_);
        auto it = rooms_.find(e.room_id);
        if (it == rooms_.end()) co_return;
        for (auto s = it->second.subscribers.begin(); s != it->second.subscribers.end();) {
            if (s->second.account_id != account) {
                ++s;
                continue;
            }
            if (auto c = s->second.client.lock()) {
                c->send(frame);
                ++stats_.delivered;
                rooms_of_client_[c->id()].erase(e.room_id);
            }
            s = it->second.subscribers.erase(s);
            presence_changed(e.room_id);
        }
        if (it->second.subscribers.empty()) rooms_.erase(it);
    } else if (kind == "room_deleted") {
        deliver(e.room_id, RoomTopic::chat, frame, true);
        std::lock_guard lock(mutex_);
        if (auto it = rooms_.find(e.room_id); it != rooms_.end()) {
            for (const auto& [id, sub] : it->second.subscribers)
                rooms_of_client_[id].erase(e.room_id);
            rooms_.erase(it);
            presence_changed(e.room_id);
        }
    }
    // room_changed: members or title changed; the document's patch is its own entry.
}

void EdgeHub::release_doc(Room& room, std::int64_t version,
                          const std::shared_ptr<const std::string>& frame) {
    room.doc_version = version;
    room.doc_history.emplace_back(version, frame);
    while (room.doc_history.size() > kDocHistory)
        room.doc_history.pop_front();
    for (auto& [id, sub] : room.subscribers) {
        if (!sub.topics.contains(RoomTopic::doc) || version <= sub.doc_from) continue;
        if (auto c = sub.client.lock()) {
            c->send(frame);
            sub.doc_from = version;
            ++stats_.delivered;
        }
    }
}

awaitable<void> EdgeHub::handle_doc_patch(const std::string& room_id, std::int64_t version,
                                          const std::shared_ptr<const std::string>& frame) {
    std::int64_t gap_from = -1;
    {
        std::lock_guard lock(mutex_);
        auto it = rooms_.find(room_id);
        if (it == rooms_.end() || version < 0) co_return;
        Room& room = it->second;
        if (!has_doc_subscriber(room)) {
            // Nobody reads it here: only the position (a subscriber starts from the primary).
            room.doc_version = version;
            room.doc_history.clear();
            co_return;
        }
        if (room.doc_version >= 0 && version <= room.doc_version) {
            ++stats_.duplicates;
            co_return;
        }
        if (room.doc_version < 0 || version == room.doc_version + 1) {
            release_doc(room, version, frame);
            co_return;
        }
        gap_from = room.doc_version;
    }
    // Patches are missing (trimmed, lost with Redis, or a restarted primary's new versions):
    // the primary's answer for the version delivered last, then this entry if still newer.
    nlohmann::json request{{"room_id", room_id}, {"version", gap_from}};
    HttpResult r = co_await link_.call("doc", std::move(request));
    std::lock_guard lock(mutex_);
    auto it = rooms_.find(room_id);
    if (it == rooms_.end()) co_return;
    Room& room = it->second;
    if (!r.ok() || !r.body.value("member", false) || !r.body.contains("frames") ||
        !r.body["frames"].is_array()) {
        ++stats_.gap_failures;
        spdlog::error(
            "cluster: room {}: document patches after version {} are missing and the primary did "
            "not answer them: {}",
            room_id, gap_from, r.describe());
        co_return;
    }
    for (const auto& f : r.body["frames"]) {
        if (!f.is_string()) continue;
        const std::int64_t v = frame_version(f.get_ref<const std::string&>());
        if (v > room.doc_version) {
            release_doc(room, v, make_shared_frame(f.get<std::string>()));
        }
    }
    ++stats_.doc_gap_fills;
    spdlog::info("cluster: room {}: filled a document gap after version {} up to {}", room_id,
                 gap_from, room.doc_version);
    if (version > room.doc_version && version == room.doc_version + 1)
        release_doc(room, version, frame);
}

awaitable<void> EdgeHub::report_loop() {
    for (std::uint64_t tick = 1; !stopping_; ++tick) {
        boost::system::error_code ec;
        report_timer_.expires_after(std::chrono::milliseconds(200));
        co_await report_timer_.async_wait(net::redirect_error(use_awaitable, ec));
        if (stopping_) break;
        // Without Redis, presence reaches this edge only in the answers: every room each second.
        co_await report_presence(tick % 25 == 0 || (read_failing_ && tick % 5 == 0));
        if (tick % 25 == 0) co_await report_documents();
    }
}

awaitable<void> EdgeHub::report_presence(bool all) {
    nlohmann::json rooms = nlohmann::json::object();
    {
        std::lock_guard lock(mutex_);
        std::set<std::string> which = std::move(presence_dirty_);
        presence_dirty_.clear();
        if (all) {
            for (const auto& [id, room] : rooms_)
                which.insert(id);
        }
        for (const auto& id : which) {
            auto room = rooms_.find(id);
            std::vector<std::string> accounts =
                room == rooms_.end() ? std::vector<std::string>{} : accounts_of(room->second);
            auto reported = presence_reported_.find(id);
            const bool known = reported != presence_reported_.end();
            if (known ? (!all && reported->second == accounts) : accounts.empty()) continue;
            rooms[id] = accounts;
            if (accounts.empty()) {
                presence_reported_.erase(id);
            } else {
                presence_reported_[id] = std::move(accounts);
            }
            if (rooms.size() >= 1000) break;  // the rest next tick
        }
        // Rooms not reached this time stay for the next tick.
        for (const auto& id : which) {
            if (!rooms.contains(id) && rooms.size() >= 1000) presence_dirty_.insert(id);
        }
    }
    if (rooms.empty()) co_return;
    nlohmann::json request{{"node", node_}, {"rooms", rooms}};
    HttpResult r = co_await link_.call("presence", std::move(request));
    // Only while Redis is away: otherwise the stream carries each list, and an answer's list
    // may be older than the current one a new presence subscriber was just told.
    if (r.ok() && read_failing_) {
        if (auto p = r.body.find("published"); p != r.body.end() && p->is_object())
            deliver_published(*p);
    }
    std::lock_guard lock(mutex_);
    ++stats_.presence_reports;
    if (!r.ok()) {
        // Sent again next tick; an edge that cannot report drops out of presence in 15 s.
        ++stats_.presence_report_failures;
        for (const auto& [id, accounts] : rooms.items()) {
            presence_dirty_.insert(id);
            presence_reported_.erase(id);
        }
    }
}

void EdgeHub::deliver_published(const nlohmann::json& published) {
    for (const auto& [room_id, last] : published.items()) {
        const auto version = last.value("version", std::int64_t{0});
        auto online = last.find("online");
        if (version <= 0 || online == last.end() || !online->is_array()) continue;
        {
            std::lock_guard lock(mutex_);
            auto it = rooms_.find(room_id);
            if (it == rooms_.end() || version <= it->second.presence_version) continue;
            it->second.presence_version = version;
        }
        nlohmann::json frame{{"type", "presence"}, {"room_id", room_id}, {"online", *online}};
        deliver(room_id, RoomTopic::presence, make_shared_frame(frame.dump()));
    }
}

awaitable<void> EdgeHub::report_documents() {
    nlohmann::json ids = nlohmann::json::array();
    {
        std::lock_guard lock(mutex_);
        for (const auto& [id, room] : rooms_) {
            if (has_doc_subscriber(room) && ids.size() < 1000) ids.push_back(id);
        }
    }
    if (ids.empty()) co_return;
    nlohmann::json request{{"room_ids", std::move(ids)}};
    co_await link_.call("docs", std::move(request));
}

awaitable<void> EdgeHub::fill_gap(const std::string& room_id, std::int64_t last,
                                  std::int64_t upto) {
    const std::int64_t wanted_from = last;
    while (last < upto) {
        const auto limit = static_cast<int>(std::min<std::int64_t>(1000, upto - last));
        // Built before the co_await: GCC 12 miscompiles an initializer list inside it.
        nlohmann::json request{{"room_id", room_id}, {"after_seq", last}, {"limit", limit}};
        HttpResult r = co_await link_.call("messages", std::move(request));
        if (!r.ok() || !r.body.contains("frames") || !r.body["frames"].is_array()) {
            std::lock_guard lock(mutex_);
            ++stats_.gap_failures;
            spdlog::error(
                "cluster: room {}: messages {} to {} are missing from the stream and the primary "
                "did not fill them: {}",
                room_id, last + 1, upto, r.describe());
            co_return;
        }
        const auto& frames = r.body["frames"];
        if (frames.empty()) break;  // removed since: nothing more to deliver
        for (const auto& f : frames) {
            const auto seq = f.value("seq", std::int64_t{0});
            if (seq > upto) break;
            release_message(room_id, seq, make_shared_frame(f.value("frame", std::string())));
            last = seq;
        }
    }
    std::lock_guard lock(mutex_);
    ++stats_.gap_fills;
    spdlog::info("cluster: room {}: filled a stream gap after seq {} up to {} from the primary",
                 room_id, wanted_from, upto);
}

void EdgeHub::release_message(const std::string& room_id, std::int64_t seq,
                              const std::shared_ptr<const std::string>& frame) {
    std::lock_guard lock(mutex_);
    auto it = rooms_.find(room_id);
    if (it == rooms_.end() || seq <= it->second.last_seq) return;
    it->second.last_seq = seq;
    for (auto& [id, sub] : it->second.subscribers) {
        if (!sub.topics.contains(RoomTopic::chat) || seq <= sub.chat_from) continue;
        if (auto c = sub.client.lock()) {
            c->send(frame);
            ++stats_.delivered;
        }
    }
}

void EdgeHub::deliver(const std::string& room_id, RoomTopic topic,
                      const std::shared_ptr<const std::string>& frame, bool any,
                      const std::string& except_origin) {
    // "<node>/<socket id>": a socket of this edge only when the node is this one.
    std::uint64_t except = 0;
    if (except_origin.size() > node_.size() + 1 && except_origin.starts_with(node_) &&
        except_origin[node_.size()] == '/') {
        const char* digits = except_origin.data() + node_.size() + 1;
        std::from_chars(digits, except_origin.data() + except_origin.size(), except);
    }
    std::lock_guard lock(mutex_);
    auto it = rooms_.find(room_id);
    if (it == rooms_.end()) return;
    for (auto& [id, sub] : it->second.subscribers) {
        if (!any && !sub.topics.contains(topic)) continue;
        if (except != 0 && id == except) continue;
        if (auto c = sub.client.lock()) {
            c->send(frame);
            ++stats_.delivered;
        }
    }
}

EdgeHub::Stats EdgeHub::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

std::string EdgeHub::render_metrics() const {
    const Stats s = stats();
    const std::string node = settings_.node_id.empty() ? settings_.role : settings_.node_id;
    return fmt::format(
        "# HELP parley_cluster_entries_read_total Room stream entries read from Redis.\n"
        "# TYPE parley_cluster_entries_read_total counter\n"
        "parley_cluster_entries_read_total{{node=\"{0}\"}} {1}\n"
        "# HELP parley_cluster_deliveries_total Frames from the streams handed to sockets.\n"
        "# TYPE parley_cluster_deliveries_total counter\n"
        "parley_cluster_deliveries_total{{node=\"{0}\"}} {2}\n"
        "# HELP parley_cluster_duplicates_total Message entries skipped as already delivered.\n"
        "# TYPE parley_cluster_duplicates_total counter\n"
        "parley_cluster_duplicates_total{{node=\"{0}\"}} {3}\n"
        "# HELP parley_cluster_gap_fills_total Stream gaps filled from the primary.\n"
        "# TYPE parley_cluster_gap_fills_total counter\n"
        "parley_cluster_gap_fills_total{{node=\"{0}\"}} {4}\n"
        "# HELP parley_cluster_gap_failures_total Stream gaps the primary could not fill.\n"
        "# TYPE parley_cluster_gap_failures_total counter\n"
        "parley_cluster_gap_failures_total{{node=\"{0}\"}} {5}\n"
        "# HELP parley_cluster_read_errors_total Failed XREADs of the room streams.\n"
        "# TYPE parley_cluster_read_errors_total counter\n"
        "parley_cluster_read_errors_total{{node=\"{0}\"}} {6}\n"
        "# HELP parley_cluster_redis_up Whether the stream reader's Redis connection is up.\n"
        "# TYPE parley_cluster_redis_up gauge\n"
        "parley_cluster_redis_up{{node=\"{0}\"}} {7}\n",
        node, s.entries_read, s.delivered, s.duplicates, s.gap_fills, s.gap_failures, s.read_errors,
        redis_.connected() ? 1 : 0);
}

}  // namespace parley
