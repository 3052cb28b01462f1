// BotSession: one bot connected to a Parley server — its session, its WebSocket, the rooms it
// is in and its behaviour (docs/bots.md).
//
// run() loops until stop(): with credentials it opens the socket (token in the Authorization
// header), proves it with a ping round trip (the REST rule: a token works only with a live
// socket), subscribes to account:me:notifications, then joins every room it is a member of
// (POST /rooms/{id}/join with its own Ed25519 public key) and subscribes to each room's chat
// and doc topics; an invitation notification makes it join that room too. Once the chat
// subscription is confirmed it catches up: the room's history after the last seq it has seen
// there (its read marker at the server, or what it saw before a reconnect) goes to the behaviour
// first, then the live messages that arrived meanwhile, so every message is handled exactly once
// whatever the timing of the join; the handled seq is acknowledged (`ack`, coalesced) so that a
// restarted bot process resumes where it stopped. Messages go to the behaviour; the room documents
// (first a whole-document replace, then RFC 6902 patches) tell it who joined. It sends over the
// socket, signing every message with its key over the canonical bytes of docs/api.md. A lost socket
// is reopened after a jittered back-off; an access token the server no longer takes is refreshed;
// when the session itself is gone, the login callback gets a new one or, when it cannot, the bot
// stops and reports it as fatal. Threads: everything runs on the executor given at construction
// (one thread).
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "botclient/bot/bot_behaviour.hpp"
#include "botclient/bot/http_client.hpp"
#include "botclient/settings/botclient_config.hpp"
#include "common/crypto.hpp"
#include "common/net.hpp"

namespace parley {

struct BotCredentials {
    std::string account_id;
    std::string access_token;
    std::string refresh_token;
};

struct BotSessionOptions {
    std::string host;
    std::string port;
    net::ssl::context* tls = nullptr;  // HTTPS and WSS when set; must outlive the session
    std::chrono::milliseconds reconnect_base{500};
    std::chrono::milliseconds reconnect_max{30'000};
};

class BotSession : public BotActions, public std::enable_shared_from_this<BotSession> {
  public:
    // Gets a new session when the bot has none; nullopt when it never can (a wrong key, or a
    // local bot whose one-time secret is spent).
    using Login = std::function<awaitable<std::optional<BotCredentials>>(HttpClient&)>;

    BotSession(net::any_io_executor executor, BotSpec spec, std::unique_ptr<BotBehaviour> behaviour,
               BotSessionOptions options, std::optional<BotCredentials> credentials, Login login,
               std::function<void(const std::string& why)> on_fatal);

    void start();
    void stop();
    const BotSpec& spec() const { return spec_; }

    // BotActions
    const std::string& self_id() const override { return self_id_; }
    void say(const std::string& room_id, const std::string& text) override;
    void remove_message(const std::string& room_id, std::int64_t seq,
                        std::function<void(bool removed)> done) override;

  private:
    enum class Outcome { lost, unauthorized, stopped };
    struct RoomState {
        bool have_doc = false;
        nlohmann::json doc;
        // Until the history is read, live messages wait here (they may be newer than it).
        bool catching_up = true;
        bool catch_up_started = false;
        std::vector<BotMessage> held;
    };
    using PlainSocket = websocket::stream<beast::tcp_stream>;
    using TlsSocket = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;
    // The open socket, whichever kind: one frame written at a time, and the close.
    struct Connection {
        std::function<awaitable<boost::system::error_code>(std::string)> write;
        std::function<void()> close;
    };

    awaitable<void> run();
    awaitable<Outcome> connect_and_serve();
    template <class Socket>
    awaitable<Outcome> serve(std::shared_ptr<Socket> socket);
    awaitable<bool> refresh();
    awaitable<void> enter_rooms();
    awaitable<void> enter_room(std::string room_id);
    // A REST call with the bot's token; one refresh and retry when the token was refused.
    awaitable<HttpResult> api(http::verb method, std::string target,
                              std::optional<nlohmann::json> body = std::nullopt);
    awaitable<void> remove_task(std::string room_id, std::int64_t seq,
                                std::function<void(bool)> done);
    awaitable<void> catch_up(std::string room_id);
    // Gives a message to the behaviour unless it was handled before (or is the bot's own).
    void deliver(const BotMessage& message);
    void schedule_ack();
    awaitable<void> ack_later();
    void on_frame(const nlohmann::json& frame);
    void on_doc_patch(const std::string& room_id, const nlohmann::json& ops);
    void send_frame(nlohmann::json frame);
    awaitable<void> write_loop(std::shared_ptr<Connection> connection, std::uint64_t generation);

    net::any_io_executor executor_;
    BotSpec spec_;
    std::unique_ptr<BotBehaviour> behaviour_;
    BotSessionOptions options_;
    std::optional<BotCredentials> credentials_;
    Login login_;
    std::function<void(const std::string&)> on_fatal_;
    HttpClient http_;
    Ed25519KeyPair key_;
    std::string self_id_;

    std::shared_ptr<Connection> connection_;
    std::uint64_t generation_ = 0;
    std::deque<std::string> out_;
    bool writing_ = false;
    std::map<std::string, RoomState> rooms_;
    // Per room, the highest seq handled, and the read marker the server holds. Kept across
    // reconnects (rooms_ is not), so a message is never handled twice by this process.
    std::map<std::string, std::int64_t> seen_;
    std::map<std::string, std::int64_t> acked_;
    bool ack_scheduled_ = false;
    net::steady_timer ack_timer_;
    net::steady_timer retry_timer_;
    bool stopped_ = false;
};

}  // namespace parley
