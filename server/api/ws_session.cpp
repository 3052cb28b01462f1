#include "server/api/ws_session.hpp"

#include <spdlog/spdlog.h>

#include "common/json_flat.hpp"
#include "common/json_limits.hpp"
#include "common/logging.hpp"
#include "server/model/account.hpp"

namespace parley {

namespace {
std::atomic<std::uint64_t> next_connection_id{1};
}  // namespace

void log_ws_failure(std::exception_ptr e) {
    if (!e) return;
    spdlog::error("websocket connection failed: {}", exception_what(e));
}

WsSession::WsSession(std::string account_id, std::string session_id, WsContext context)
    : ctx_(context),
      account_id_(std::move(account_id)),
      session_id_(std::move(session_id)),
      id_(next_connection_id.fetch_add(1)),
      tokens_(context.settings.rate_burst),
      last_refill_(std::chrono::steady_clock::now()) {}

bool WsSession::opened(const std::shared_ptr<Client>& self, std::string_view target) {
    auto result = ctx_.registry.add(self, ctx_.settings.max_connections_per_account);
    if (result == ClientRegistry::AddResult::over_account_cap) {
        spdlog::info("ws account {}: over the cap of {} sockets; closing with 1008", account_id_,
                     ctx_.settings.max_connections_per_account);
        close_with(close_code::policy_violation, "too many connections for this account");
        return false;
    }
    if (result == ClientRegistry::AddResult::reconnected) ctx_.metrics.reconnects.inc();
    ctx_.metrics.open.add(1);
    opened_at_ = std::chrono::steady_clock::now();
    open_path_ = std::string(target.substr(0, target.find('?')));
    spdlog::debug("ws {} account {} session {}: open", id_, account_id_, session_id_);
    for (const auto& f : ctx_.features.all())
        f->on_open(self);
    return true;
}

void WsSession::closed(const std::shared_ptr<Client>& self, std::string_view why) {
    ctx_.registry.remove(*this);
    for (const auto& f : ctx_.features.all())
        f->on_close(self);
    ctx_.metrics.open.add(-1);
    ctx_.metrics.duration.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - opened_at_).count());
    spdlog::debug("ws {} account {}: closed ({})", id_, account_id_, why);
}

bool WsSession::send_queue_full(std::size_t queued) {
    if (static_cast<int>(queued) < ctx_.settings.send_queue_limit) return false;
    ctx_.metrics.slow_consumers.inc();
    spdlog::warn("ws {} account {}: send queue full ({} frames); closing with 1013", id_,
                 account_id_, queued);
    return true;
}

bool WsSession::take_token() {
    auto now = std::chrono::steady_clock::now();
    double elapsed = std::chrono::duration<double>(now - last_refill_).count();
    last_refill_ = now;
    tokens_ = std::min<double>(ctx_.settings.rate_burst,
                               tokens_ + elapsed * ctx_.settings.rate_per_second);
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
}

awaitable<void> WsSession::handle_text(std::shared_ptr<Client> self, std::string_view text) {
    ctx_.metrics.received.inc();
    // Depth first: a deeply nested value overflows the stack once it is copied or dumped.
    bool too_deep = false;
    // Most frames are flat objects: read without nlohmann's lexer when they are.
    auto flat = parse_flat_json_object(text);
    nlohmann::json msg = flat ? std::move(*flat) : parse_json_bounded(text, &too_deep);
    if (msg.is_discarded() || !msg.is_object()) {
        close_with(close_code::unsupported_data,
                   too_deep ? "JSON nested too deeply" : "every frame must be a JSON object");
        co_return;
    }
    // Only a scalar id is echoed: the reply then never copies a client's structure.
    nlohmann::json id;
    bool bad_id = false;
    if (auto it = msg.find("id"); it != msg.end()) {
        if (is_scalar_json(*it)) {
            id = *it;
        } else {
            bad_id = true;
        }
    }
    if (!take_token()) {
        // More than twice the burst refused within one second: the client is ignoring the
        // errors. Counted per window, not per run of refusals, so a trickle of refilled
        // tokens (a slow server) does not hide a client that keeps flooding.
        auto now = std::chrono::steady_clock::now();
        if (now - over_limit_window_ > std::chrono::seconds(1)) {
            over_limit_window_ = now;
            over_limit_ = 0;
        }
        if (++over_limit_ > ctx_.settings.rate_burst * 2) {
            close_with(close_code::policy_violation, "rate limit exceeded repeatedly");
        } else {
            reply_error(id, "rate_limited", "too many frames; slow down");
        }
        co_return;
    }
    if (bad_id) {
        reply_error(nullptr, "bad_request", "id must be a string, a number or a boolean");
        co_return;
    }
    auto type_it = msg.find("type");
    if (type_it == msg.end() || !type_it->is_string()) {
        reply_error(id, "bad_request", "a frame needs a string field \"type\"");
        co_return;
    }
    std::string type = type_it->get<std::string>();
    if (type == "ping") {
        // The server's clock (Unix ms): a client estimates its offset from it and the round trip.
        nlohmann::json pong{{"type", "pong"}, {"time", now_ms()}};
        if (!id.is_null()) pong["id"] = id;
        send_json(pong);
        co_return;
    }
    Feature* feature = ctx_.features.find(type);
    if (!feature) {
        reply_error(id, "bad_request", "unknown message type \"" + type + "\"");
        co_return;
    }
    ClientMessage message{std::move(type), id, std::move(msg)};
    try {
        co_await feature->on_message(self, std::move(message));
    } catch (const std::exception& e) {
        spdlog::error("ws {} account {}: feature {} failed: {}", id_, account_id_, feature->name(),
                      e.what());
        reply_error(id, "internal", "internal error; the request was not completed");
    }
}

}  // namespace parley
