#include "manager/links/link_dialer.hpp"

#include <algorithm>
#include <cmath>

#include <spdlog/spdlog.h>

#include "common/backoff.hpp"
#include "common/frame_codec.hpp"
#include "common/logging.hpp"
#include "manager/links/link_session.hpp"
#include "manager/protocol/api_client.hpp"
#include "manager/protocol/api_protocol.hpp"

namespace parley {

struct LinkDialer::Dial {
    Dial(net::io_context& context, const ManagerPeer& p, std::string k)
        : peer(p), key(std::move(k)), strand(net::make_strand(context)), timer(strand) {}

    const ManagerPeer& peer;
    const std::string key;  // never logged
    net::any_io_executor strand;
    net::steady_timer timer;
    // On the strand only.
    std::shared_ptr<ManagerTlsStream> stream;
    std::shared_ptr<Link> link;
    bool stopped = false;
    std::uint64_t attempts = 0;
};

namespace {

std::atomic<std::uint64_t> next_link_id{1'000'000};

// One request on a stream that is not a link yet; its answer must carry the same id.
awaitable<std::optional<json>> ask(ManagerTlsStream& stream, const json& message,
                                   std::string& error) {
    std::string text = serialize(message);
    boost::system::error_code ec = co_await write_frame(stream, text);
    if (ec) {
        error = ec == beast::error::timeout ? std::string("timed out") : ec.message();
        co_return std::nullopt;
    }
    FrameResult frame = co_await read_frame(stream, kMaxFrameAfterAuth);
    if (frame.status != FrameStatus::ok) {
        error = frame.status == FrameStatus::timeout ? std::string("timed out")
                : frame.status == FrameStatus::too_large
                    ? fmt::format("an answer of {} bytes is over the limit", frame.announced)
                    : std::string("the peer closed the connection");
        co_return std::nullopt;
    }
    json answer = parse_message(frame.payload);
    if (!answer.is_object() || answer.value("id", json()) != message.at("id")) {
        error = "the peer sent an unexpected frame";
        co_return std::nullopt;
    }
    co_return answer;
}

std::string error_text(const json& answer) {
    const json& e = answer.contains("error") ? answer["error"] : json::object();
    return e.value("code", std::string("?")) + ": " + e.value("message", std::string("?"));
}

}  // namespace

LinkDialer::LinkDialer(net::io_context& context, const ManagerConfig& config, std::string self_name,
                       RequestDispatcher& dispatcher, LinkRegistry& links,
                       net::ssl::context* client_tls, std::map<std::string, std::string> peer_keys)
    : context_(context),
      config_(config),
      self_(std::move(self_name)),
      dispatcher_(dispatcher),
      links_(links),
      client_tls_(client_tls),
      peer_keys_(std::move(peer_keys)) {}

LinkDialer::~LinkDialer() = default;

std::string LinkDialer::check() const {
    for (const auto& peer : config_.peers) {
        if (!peer.link) continue;
        if (!peer_keys_.contains(peer.name)) {
            return fmt::format("manager.peers '{}': link = true needs a readable key_file",
                               peer.name);
        }
        if (!client_tls_) {
            return fmt::format(
                "manager.peers '{}': link = true needs a client certificate "
                "([manager.client_tls], or [manager.tls] whose certificate allows client use)",
                peer.name);
        }
    }
    return {};
}

void LinkDialer::start() {
    for (const auto& peer : config_.peers) {
        if (!peer.link) continue;
        auto dial = std::make_shared<Dial>(context_, peer, peer_keys_.at(peer.name));
        dials_.push_back(dial);
        ++running_;
        net::co_spawn(dial->strand, dial_loop(dial), [this](std::exception_ptr e) {
            if (e) {
                spdlog::error("link dialer failed: {}", exception_what(e));
            }
            net::post(context_, [this] { loop_ended(); });
        });
    }
}

void LinkDialer::loop_ended() {
    if (--running_ == 0 && done_) std::exchange(done_, nullptr)();
}

void LinkDialer::stop(std::function<void()> done) {
    stopped_ = true;
    if (running_ == 0) {
        net::post(context_, std::move(done));
        return;
    }
    done_ = std::move(done);
    for (auto& dial : dials_) {
        net::post(dial->strand, [dial] {
            dial->stopped = true;
            dial->timer.cancel();
            if (dial->link) dial->link->close("the manager is stopping");
            if (dial->stream) {
                boost::system::error_code ec;
                beast::get_lowest_layer(*dial->stream).socket().cancel(ec);
            }
        });
    }
}

awaitable<std::string> LinkDialer::open(Dial& dial, ManagerTlsStream& stream) {
    std::string url_error;
    std::optional<ManagerApiTarget> target = parse_manager_api_url(dial.peer.url, url_error);
    if (!target) co_return url_error;
    beast::get_lowest_layer(stream).expires_after(
        std::chrono::milliseconds(config_.auth_timeout_ms));
    std::string problem = co_await connect_manager_tls(stream, *target);
    if (!problem.empty()) co_return problem;

    json auth{{"id", "auth"}, {"method", "auth"}, {"params", {{"key", dial.key}}}};
    std::optional<json> answer = co_await ask(stream, auth, problem);
    if (!answer) co_return "auth: " + problem;
    if (!answer->value("ok", false)) co_return "auth refused: " + error_text(*answer);

    json hello{{"id", "hello"}, {"method", "link.hello"}, {"params", {{"name", self_}}}};
    answer = co_await ask(stream, hello, problem);
    if (!answer) co_return "link.hello: " + problem;
    if (!answer->value("ok", false)) co_return "link.hello refused: " + error_text(*answer);
    std::string name = (*answer)["result"].value("manager", std::string());
    if (name != dial.peer.name) {
        spdlog::warn("link to '{}' ({}): the peer calls itself '{}'", dial.peer.name, dial.peer.url,
                     name.substr(0, kMaxManagerNameLength));
    }
    co_return std::string();
}

awaitable<void> LinkDialer::dial_loop(std::shared_ptr<Dial> dial) {
    std::mt19937_64 random(std::random_device{}());
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    int failures = 0;
    LinkSettings settings;
    settings.ping_interval = std::chrono::milliseconds(config_.link_ping_interval_ms);
    settings.timeout = std::chrono::milliseconds(config_.link_timeout_ms);
    settings.write_timeout = std::chrono::milliseconds(config_.read_timeout_ms);
    settings.max_in_flight = config_.link_max_in_flight;
    ApiCaller caller;
    caller.peer = "link:" + dial->peer.name;
    caller.key_name = "peer:" + dial->peer.name;
    caller.access = dial->peer.access == "admin" ? ApiAccess::admin : ApiAccess::read;

    while (!dial->stopped) {
        ++dial->attempts;
        dial->stream = std::make_shared<ManagerTlsStream>(dial->strand, *client_tls_);
        std::string problem = co_await open(*dial, *dial->stream);
        if (problem.empty() && !dial->stopped) {
            failures = 0;
            const std::uint64_t id = ++next_link_id;
            caller.connection_id = id;
            auto session = std::make_shared<LinkSession<ManagerTlsStream>>(
                *dial->stream, id, dial->peer.name, caller, dispatcher_, settings);
            dial->link = session;
            links_.add(session);
            std::string reason = co_await session->run();
            links_.remove(*session);
            dial->link.reset();
            spdlog::info("link {} to '{}' ({}) ended: {}; redialling", id, dial->peer.name,
                         dial->peer.url, reason);
        } else if (!dial->stopped) {
            ++failures;
            spdlog::warn("link to '{}' ({}): attempt {} failed: {}", dial->peer.name,
                         dial->peer.url, dial->attempts, problem);
        }
        {
            auto& lowest = beast::get_lowest_layer(*dial->stream);
            if (lowest.socket().is_open()) lowest.close();
        }
        if (dial->stopped) break;
        auto delay = jittered_backoff(
            failures, std::chrono::milliseconds(config_.link_reconnect_base_ms),
            std::chrono::milliseconds(config_.link_reconnect_max_ms), unit(random));
        spdlog::debug("link to '{}': next attempt in {} ms", dial->peer.name, delay.count());
        dial->timer.expires_after(delay);
        boost::system::error_code ec;
        co_await dial->timer.async_wait(net::redirect_error(use_awaitable, ec));
    }
    dial->stream.reset();
}

}  // namespace parley
