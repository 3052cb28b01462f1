#include "botclient/bot/bot_session.hpp"

#include <openssl/ssl.h>

#include <random>
#include <set>

#include <spdlog/spdlog.h>

#include "common/backoff.hpp"
#include "common/logging.hpp"
#include "common/message_format.hpp"

namespace parley {

namespace {

double random_unit() {
    static thread_local std::mt19937 random{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(random);
}

// Room ids are opaque URL-safe strings; anything else is not put into a path.
bool safe_id(const std::string& id) {
    if (id.empty() || id.size() > 64) return false;
    for (char c : id) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok) return false;
    }
    return true;
}

void log_spawn_failure(const std::string& bot, const char* what, std::exception_ptr e) {
    if (!e) return;
    spdlog::error("bot {}: {} failed: {}", bot, what, exception_what(e));
}

}  // namespace

BotSession::BotSession(net::any_io_executor executor, BotSpec spec,
                       std::unique_ptr<BotBehaviour> behaviour, BotSessionOptions options,
                       std::optional<BotCredentials> credentials, Login login,
                       std::function<void(const std::string&)> on_fatal)
    : executor_(std::move(executor)),
      spec_(std::move(spec)),
      behaviour_(std::move(behaviour)),
      options_(std::move(options)),
      credentials_(std::move(credentials)),
      login_(std::move(login)),
      on_fatal_(std::move(on_fatal)),
      http_(options_.host, options_.port, std::chrono::seconds(15), options_.tls),
      key_(generate_ed25519()),
      ack_timer_(executor_),
      retry_timer_(executor_) {
    if (credentials_) self_id_ = credentials_->account_id;
}

void BotSession::start() {
    auto self = shared_from_this();
    net::co_spawn(executor_, run(), [self](std::exception_ptr e) {
        log_spawn_failure(self->spec_.name, "the session", e);
    });
}

void BotSession::stop() {
    auto self = shared_from_this();
    net::post(executor_, [self] {
        self->stopped_ = true;
        self->retry_timer_.cancel();
        self->ack_timer_.cancel();
        if (self->connection_) self->connection_->close();
    });
}

awaitable<void> BotSession::run() {
    int failures = 0;
    while (!stopped_) {
        if (!credentials_) {
            auto fresh = co_await login_(http_);
            if (stopped_) co_return;
            if (!fresh) {
                stopped_ = true;
                on_fatal_("bot " + spec_.name + " cannot log in");
                co_return;
            }
            credentials_ = std::move(fresh);
            self_id_ = credentials_->account_id;
        }
        auto started = std::chrono::steady_clock::now();
        Outcome outcome = co_await connect_and_serve();
        if (stopped_ || outcome == Outcome::stopped) co_return;
        if (outcome == Outcome::unauthorized && !(co_await refresh())) {
            spdlog::warn("bot {}: the server no longer takes its session", spec_.name);
            credentials_.reset();
        }
        if (std::chrono::steady_clock::now() - started > std::chrono::seconds(30)) failures = 0;
        auto delay = jittered_backoff(failures++, options_.reconnect_base, options_.reconnect_max,
                                      random_unit());
        spdlog::info("bot {}: reconnecting in {} ms", spec_.name, delay.count());
        retry_timer_.expires_after(delay);
        boost::system::error_code ec;
        co_await retry_timer_.async_wait(net::redirect_error(use_awaitable, ec));
    }
}

awaitable<BotSession::Outcome> BotSession::connect_and_serve() {
    if (options_.tls)
        co_return co_await serve(std::make_shared<TlsSocket>(executor_, *options_.tls));
    co_return co_await serve(std::make_shared<PlainSocket>(executor_));
}

namespace {

template <class Socket>
awaitable<boost::system::error_code> write_frame(std::shared_ptr<Socket> socket,
                                                 std::string frame) {
    boost::system::error_code ec;
    co_await socket->async_write(net::buffer(frame), net::redirect_error(use_awaitable, ec));
    co_return ec;
}

}  // namespace

template <class Socket>
awaitable<BotSession::Outcome> BotSession::serve(std::shared_ptr<Socket> socket) {
    auto connection = std::make_shared<Connection>();
    connection->write = [socket](std::string frame) {
        return write_frame(socket, std::move(frame));
    };
    connection->close = [socket] {
        socket->async_close(websocket::close_code::going_away,
                            [socket](const boost::system::error_code&) {});
    };
    connection_ = connection;
    std::uint64_t generation = ++generation_;
    out_.clear();
    writing_ = false;
    rooms_.clear();
    boost::system::error_code ec;
    tcp::resolver resolver(executor_);
    auto endpoints = co_await resolver.async_resolve(options_.host, options_.port,
                                                     net::redirect_error(use_awaitable, ec));
    if (ec) {
        spdlog::warn("bot {}: cannot resolve {}: {}", spec_.name, options_.host, ec.message());
        co_return Outcome::lost;
    }
    beast::get_lowest_layer(*socket).expires_after(std::chrono::seconds(10));
    co_await beast::get_lowest_layer(*socket).async_connect(endpoints,
                                                            net::redirect_error(use_awaitable, ec));
    if (ec) {
        spdlog::warn("bot {}: cannot connect to {}:{}: {}", spec_.name, options_.host,
                     options_.port, ec.message());
        co_return Outcome::lost;
    }
    if constexpr (std::is_same_v<Socket, TlsSocket>) {
        // SNI, and the certificate must name the host.
        ::SSL_set_tlsext_host_name(socket->next_layer().native_handle(), options_.host.c_str());
        socket->next_layer().set_verify_callback(net::ssl::host_name_verification(options_.host));
        co_await socket->next_layer().async_handshake(net::ssl::stream_base::client,
                                                      net::redirect_error(use_awaitable, ec));
        if (ec) {
            spdlog::warn("bot {}: TLS handshake with {}:{} failed: {}", spec_.name, options_.host,
                         options_.port, ec.message());
            co_return Outcome::lost;
        }
    }
    beast::get_lowest_layer(*socket).expires_never();
    socket->set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
    std::string token = credentials_->access_token;
    socket->set_option(websocket::stream_base::decorator([token](websocket::request_type& req) {
        req.set(http::field::authorization, "Bearer " + token);
        req.set(http::field::user_agent, "parley-botclient");
    }));
    co_await socket->async_handshake(options_.host + ":" + options_.port, "/api/v1/ws",
                                     net::redirect_error(use_awaitable, ec));
    if (ec) {
        spdlog::warn("bot {}: WebSocket handshake failed: {}", spec_.name, ec.message());
        co_return Outcome::lost;
    }
    socket->text(true);

    beast::flat_buffer buffer;
    auto read_frame = [&]() -> awaitable<std::optional<nlohmann::json>> {
        buffer.consume(buffer.size());
        co_await socket->async_read(buffer, net::redirect_error(use_awaitable, ec));
        if (ec) co_return std::nullopt;
        auto data = buffer.cdata();
        auto j = nlohmann::json::parse(
            std::string_view(static_cast<const char*>(data.data()), data.size()), nullptr, false);
        co_return j.is_object() ? std::optional<nlohmann::json>(std::move(j))
                                : std::optional<nlohmann::json>(nlohmann::json::object());
    };
    auto closed_outcome = [&]() {
        auto code = socket->reason().code;
        if (stopped_) return Outcome::stopped;
        if (code == websocket::close_code::policy_error || code == 4001) {
            spdlog::warn("bot {}: the server closed the socket ({}: {})", spec_.name,
                         static_cast<unsigned>(code), std::string(socket->reason().reason));
            return Outcome::unauthorized;
        }
        spdlog::warn("bot {}: socket lost: {} (close code {})", spec_.name, ec.message(),
                     static_cast<unsigned>(code));
        return Outcome::lost;
    };

    // The ping round trip proves the server registered the socket before any REST call.
    send_frame({{"type", "ping"}, {"id", "hello"}});
    for (;;) {
        auto frame = co_await read_frame();
        if (!frame) co_return closed_outcome();
        if (frame->value("type", std::string()) == "pong" &&
            frame->value("id", std::string()) == "hello")
            break;
        on_frame(*frame);
    }
    spdlog::info("bot {} ({}) connected as {}", spec_.name, behaviour_->name(), self_id_);
    send_frame({{"type", "subscribe"}, {"topic", "account:me:notifications"}, {"id", "notes"}});
    auto self = shared_from_this();
    net::co_spawn(executor_, enter_rooms(), [self](std::exception_ptr e) {
        log_spawn_failure(self->spec_.name, "joining rooms", e);
    });
    for (;;) {
        auto frame = co_await read_frame();
        if (!frame) break;
        on_frame(*frame);
    }
    if (generation == generation_) connection_.reset();
    co_return closed_outcome();
}

awaitable<bool> BotSession::refresh() {
    if (!credentials_ || credentials_->refresh_token.empty()) co_return false;
    nlohmann::json body = nlohmann::json::object();
    body["refresh_token"] = credentials_->refresh_token;
    auto r = co_await http_.request(http::verb::post, "/api/v1/sessions/refresh", std::move(body));
    if (!r.ok() || !r.body.is_object()) {
        spdlog::warn("bot {}: token refresh failed: {}", spec_.name, r.describe());
        co_return false;
    }
    credentials_->access_token = r.body.value("access_token", std::string());
    credentials_->refresh_token = r.body.value("refresh_token", std::string());
    spdlog::info("bot {}: tokens refreshed", spec_.name);
    co_return !credentials_->access_token.empty();
}

awaitable<HttpResult> BotSession::api(http::verb method, std::string target,
                                      std::optional<nlohmann::json> body) {
    if (!credentials_) co_return HttpResult{0, nullptr, "no session", ""};
    auto r = co_await http_.request(method, target, body, credentials_->access_token);
    std::string message = r.body.is_object() ? r.body.value("message", std::string()) : "";
    if (r.status == 401 && message.find("live WebSocket") == std::string::npos &&
        (co_await refresh())) {
        r = co_await http_.request(method, target, body, credentials_->access_token);
    }
    co_return r;
}

awaitable<void> BotSession::enter_rooms() {
    std::uint64_t generation = generation_;
    auto r = co_await api(http::verb::get, "/api/v1/rooms");
    if (generation != generation_) co_return;
    if (!r.ok() || !r.body.contains("rooms") || !r.body["rooms"].is_array()) {
        spdlog::warn("bot {}: cannot list its rooms: {}", spec_.name, r.describe());
        co_return;
    }
    for (const auto& room : r.body["rooms"]) {
        if (generation != generation_) co_return;
        if (room.is_object() && room.contains("room_id") && room["room_id"].is_string())
            co_await enter_room(room["room_id"].get<std::string>());
    }
}

awaitable<void> BotSession::enter_room(std::string room_id) {
    if (!safe_id(room_id) || rooms_.contains(room_id)) co_return;
    std::uint64_t generation = generation_;
    rooms_[room_id];
    nlohmann::json body = nlohmann::json::object();
    body["display_name"] = spec_.name;
    body["public_key"] = base64_encode(key_.public_key);
    auto r = co_await api(http::verb::post, "/api/v1/rooms/" + room_id + "/join", std::move(body));
    if (generation != generation_) co_return;
    if (!r.ok()) {
        spdlog::warn("bot {}: cannot join room {}: {}", spec_.name, room_id, r.describe());
        rooms_.erase(room_id);
        co_return;
    }
    // Where the catch-up starts: the server's read marker (what this bot handled before, or
    // the room's last message when it was added), or later when this process has seen more.
    std::int64_t read_seq = r.body.is_object() ? r.body.value("read_seq", std::int64_t{0}) : 0;
    acked_[room_id] = read_seq;
    auto& seen = seen_[room_id];
    seen = std::max(seen, read_seq);
    for (const char* field : {"chat", "doc"}) {
        std::string topic = "room:" + room_id + ":" + field;
        send_frame({{"type", "subscribe"}, {"topic", topic}, {"id", topic}});
    }
    spdlog::info("bot {}: in room {}", spec_.name, room_id);
}

awaitable<void> BotSession::catch_up(std::string room_id) {
    // Runs once the chat subscription is confirmed: from then on every new message arrives
    // live, so the history read now and the live messages held meanwhile leave no gap.
    std::uint64_t generation = generation_;
    constexpr int kPage = 500;
    int handled = 0;
    for (;;) {
        std::string target = "/api/v1/rooms/" + room_id +
                             "/messages?after_seq=" + std::to_string(seen_[room_id]) +
                             "&limit=" + std::to_string(kPage);
        auto r = co_await api(http::verb::get, target);
        if (generation != generation_ || !rooms_.contains(room_id)) co_return;
        if (!r.ok() || !r.body.contains("messages") || !r.body["messages"].is_array()) {
            spdlog::warn("bot {}: cannot read the history of room {}: {}", spec_.name, room_id,
                         r.describe());
            break;
        }
        const auto& messages = r.body["messages"];
        for (const auto& m : messages) {
            if (!m.is_object()) continue;
            deliver(BotMessage{room_id, m.value("seq", std::int64_t{0}),
                               m.value("sender_id", std::string()),
                               m.value("text", std::string())});
            ++handled;
            // A behaviour may have changed the rooms (it never does today; cheap to be sure).
            if (!rooms_.contains(room_id)) co_return;
        }
        if (static_cast<int>(messages.size()) < kPage) break;
    }
    RoomState& room = rooms_[room_id];
    room.catching_up = false;
    std::vector<BotMessage> held = std::move(room.held);
    room.held.clear();
    for (const auto& m : held)
        deliver(m);
    if (handled > 0)
        spdlog::info("bot {}: caught up on {} messages in room {}", spec_.name, handled, room_id);
}

void BotSession::deliver(const BotMessage& message) {
    auto& seen = seen_[message.room_id];
    if (message.seq <= seen) return;  // handled already (the history and a live frame overlap)
    seen = message.seq;
    schedule_ack();
    if (message.sender_id == self_id_) return;
    behaviour_->on_message(*this, message);
}

void BotSession::schedule_ack() {
    if (ack_scheduled_ || stopped_) return;
    ack_scheduled_ = true;
    auto self = shared_from_this();
    net::co_spawn(executor_, ack_later(), [self](std::exception_ptr e) {
        log_spawn_failure(self->spec_.name, "acknowledging", e);
    });
}

awaitable<void> BotSession::ack_later() {
    // One ack per room a second at most: a busy room must not double the bot's frames (each
    // counts against the socket's rate limit) nor its writes at the server.
    ack_timer_.expires_after(std::chrono::seconds(1));
    boost::system::error_code ec;
    co_await ack_timer_.async_wait(net::redirect_error(use_awaitable, ec));
    ack_scheduled_ = false;
    if (stopped_) co_return;
    if (!connection_) {
        schedule_ack();  // try again once connected (enter_room resets what the server holds)
        co_return;
    }
    for (const auto& [room_id, seq] : seen_) {
        auto& acked = acked_[room_id];
        if (seq <= acked || !rooms_.contains(room_id)) continue;
        send_frame({{"type", "ack"}, {"room_id", room_id}, {"seq", seq}});
        acked = seq;
    }
}

void BotSession::on_frame(const nlohmann::json& frame) {
    std::string type = frame.value("type", std::string());
    if (type == "message") {
        BotMessage m{frame.value("room_id", std::string()), frame.value("seq", std::int64_t{0}),
                     frame.value("sender_id", std::string()), frame.value("text", std::string())};
        auto room = rooms_.find(m.room_id);
        if (room == rooms_.end()) return;
        if (room->second.catching_up) {
            room->second.held.push_back(std::move(m));
            return;
        }
        deliver(m);
    } else if (type == "ok") {
        // The chat subscription is in place: read what was sent before it.
        std::string id =
            frame.contains("id") && frame["id"].is_string() ? frame["id"].get<std::string>() : "";
        if (id.starts_with("room:") && id.ends_with(":chat")) {
            std::string room_id = id.substr(5, id.size() - 10);
            auto room = rooms_.find(room_id);
            if (room != rooms_.end() && !room->second.catch_up_started) {
                room->second.catch_up_started = true;
                auto self = shared_from_this();
                net::co_spawn(executor_, catch_up(room_id), [self](std::exception_ptr e) {
                    log_spawn_failure(self->spec_.name, "catching up", e);
                });
            }
        }
    } else if (type == "patch") {
        std::string topic = frame.value("topic", std::string());
        if (topic.starts_with("room:") && topic.ends_with(":doc") && frame.contains("ops")) {
            on_doc_patch(topic.substr(5, topic.size() - 9), frame["ops"]);
        }
    } else if (type == "notification") {
        if (frame.value("kind", std::string()) == "invitation") {
            auto self = shared_from_this();
            net::co_spawn(executor_, enter_room(frame.value("room_id", std::string())),
                          [self](std::exception_ptr e) {
                              log_spawn_failure(self->spec_.name, "joining a room", e);
                          });
        }
    } else if (type == "removed" || type == "room_deleted") {
        rooms_.erase(frame.value("room_id", std::string()));
    } else if (type == "error") {
        spdlog::warn("bot {}: the server answered {}: {} ({})", spec_.name,
                     frame.value("error", std::string()), frame.value("message", std::string()),
                     frame.contains("id") ? frame["id"].dump() : "no id");
    }
}

void BotSession::on_doc_patch(const std::string& room_id, const nlohmann::json& ops) {
    auto it = rooms_.find(room_id);
    if (it == rooms_.end() || !ops.is_array()) return;
    RoomState& room = it->second;
    std::set<std::string> before;
    if (room.have_doc && room.doc.contains("members") && room.doc["members"].is_object()) {
        for (const auto& [id, m] : room.doc["members"].items())
            before.insert(id);
    }
    bool had_doc = room.have_doc;
    try {
        room.doc.patch_inplace(ops);
        room.have_doc = room.doc.is_object();
    } catch (const std::exception& e) {
        // Out of step: ask for the whole document again.
        spdlog::warn("bot {}: room {} document patch failed ({}); resubscribing", spec_.name,
                     room_id, e.what());
        room.have_doc = false;
        room.doc = nullptr;
        std::string topic = "room:" + room_id + ":doc";
        send_frame({{"type", "unsubscribe"}, {"topic", topic}});
        send_frame({{"type", "subscribe"}, {"topic", topic}, {"id", topic}});
        return;
    }
    if (!had_doc || !room.have_doc || !room.doc.contains("members")) return;
    for (const auto& [id, m] : room.doc["members"].items()) {
        if (before.contains(id) || id == self_id_) continue;
        std::string name = m.is_object() ? m.value("display_name", std::string()) : "";
        behaviour_->on_member_joined(*this, room_id, id, name);
    }
}

void BotSession::say(const std::string& room_id, const std::string& text) {
    std::string cmid = time_ordered_id();
    std::string signature =
        ed25519_sign(key_.private_key, canonical_message_bytes(room_id, self_id_, cmid, text));
    send_frame({{"type", "send"},
                {"id", cmid},
                {"room_id", room_id},
                {"text", text},
                {"client_msg_id", cmid},
                {"signature", base64_encode(signature)}});
}

void BotSession::remove_message(const std::string& room_id, std::int64_t seq,
                                std::function<void(bool)> done) {
    if (!safe_id(room_id)) {
        done(false);
        return;
    }
    auto self = shared_from_this();
    net::co_spawn(executor_, remove_task(room_id, seq, std::move(done)),
                  [self](std::exception_ptr e) {
                      log_spawn_failure(self->spec_.name, "removing a message", e);
                  });
}

awaitable<void> BotSession::remove_task(std::string room_id, std::int64_t seq,
                                        std::function<void(bool)> done) {
    auto self = shared_from_this();
    auto r = co_await api(http::verb::delete_,
                          "/api/v1/rooms/" + room_id + "/messages/" + std::to_string(seq));
    if (r.ok()) {
        spdlog::info("bot {}: removed message {} in room {}", spec_.name, seq, room_id);
    } else {
        spdlog::info("bot {}: could not remove message {} in room {}: {}", spec_.name, seq, room_id,
                     r.describe());
    }
    done(r.ok());
}

void BotSession::send_frame(nlohmann::json frame) {
    if (!connection_) return;
    out_.push_back(frame.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    if (writing_) return;
    writing_ = true;
    auto self = shared_from_this();
    net::co_spawn(executor_, write_loop(connection_, generation_), [self](std::exception_ptr e) {
        log_spawn_failure(self->spec_.name, "writing", e);
    });
}

awaitable<void> BotSession::write_loop(std::shared_ptr<Connection> connection,
                                       std::uint64_t generation) {
    auto self = shared_from_this();
    boost::system::error_code ec;
    while (generation == generation_ && !out_.empty()) {
        std::string frame = std::move(out_.front());
        out_.pop_front();
        ec = co_await connection->write(std::move(frame));
        if (ec) break;
    }
    if (generation == generation_) {
        writing_ = false;
        if (ec) out_.clear();
    }
}

}  // namespace parley
