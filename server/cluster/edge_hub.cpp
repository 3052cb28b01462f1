#include "server/cluster/edge_hub.hpp"

#include <charconv>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/redirect_error.hpp>

#include "common/logging.hpp"

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

}  // namespace

EdgeHub::EdgeHub(net::any_io_executor executor, const ClusterSettings& settings, RedisOptions redis,
                 EdgeLink& link)
    : strand_(net::make_strand(executor)),
      settings_(settings),
      link_(link),
      wait_timer_(strand_),
      redis_(strand_, std::move(redis)) {}

void EdgeHub::start() {
    net::co_spawn(strand_, read_loop(), [](std::exception_ptr e) {
        if (e) spdlog::error("cluster: edge stream reader ended: {}", exception_what(e));
    });
}

void EdgeHub::stop() {
    stopping_ = true;
    net::post(strand_, [this] { wait_timer_.cancel(); });
}

void EdgeHub::subscribe(const std::shared_ptr<Client>& client, const std::string& room_id,
                        RoomTopic topic, std::int64_t last_seq) {
    std::lock_guard lock(mutex_);
    auto [it, created] = rooms_.try_emplace(room_id);
    Room& room = it->second;
    if (created) room.last_seq = last_seq;
    auto& sub = room.subscribers[client->id()];
    sub.client = client;
    sub.account_id = client->account_id();
    sub.topics.insert(topic);
    rooms_of_client_[client->id()].insert(room_id);
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
            // Always read: ended sessions arrive even while no room is subscribed here.
            args.push_back(settings_.control_stream);
            ids.push_back(control_last_id_);
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
    }
}

awaitable<void> EdgeHub::handle(const Entry& e) {
    auto field = [&e](const char* name) -> std::string {
        auto it = e.fields.find(name);
        return it == e.fields.end() ? std::string() : it->second;
    };
    const std::string kind = field("kind");
    const std::int64_t seq = parse_seq(field("seq"));
    auto frame = std::make_shared<const std::string>(field("frame"));
    std::int64_t gap_from = -1;
    {
        std::lock_guard lock(mutex_);
        ++stats_.entries_read;
        auto it = rooms_.find(e.room_id);
        if (it == rooms_.end()) co_return;  // its last local subscriber left
        Room& room = it->second;
        room.last_id = e.id;
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
        deliver(e.room_id, RoomTopic::typing, frame, false, field("account"));
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
        }
        if (it->second.subscribers.empty()) rooms_.erase(it);
    } else if (kind == "room_deleted") {
        deliver(e.room_id, RoomTopic::chat, frame, true);
        std::lock_guard lock(mutex_);
        if (auto it = rooms_.find(e.room_id); it != rooms_.end()) {
            for (const auto& [id, sub] : it->second.subscribers)
                rooms_of_client_[id].erase(e.room_id);
            rooms_.erase(it);
        }
    }
    // room_changed: members or title changed; the document topic is not served by edges.
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
            release_message(room_id, seq,
                            std::make_shared<const std::string>(f.value("frame", std::string())));
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
        if (!sub.topics.contains(RoomTopic::chat)) continue;
        if (auto c = sub.client.lock()) {
            c->send(frame);
            ++stats_.delivered;
        }
    }
}

void EdgeHub::deliver(const std::string& room_id, RoomTopic topic,
                      const std::shared_ptr<const std::string>& frame, bool any,
                      const std::string& except_account) {
    std::lock_guard lock(mutex_);
    auto it = rooms_.find(room_id);
    if (it == rooms_.end()) return;
    for (auto& [id, sub] : it->second.subscribers) {
        if (!any && !sub.topics.contains(topic)) continue;
        if (!except_account.empty() && sub.account_id == except_account) continue;
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
