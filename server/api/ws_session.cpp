#include "server/api/ws_session.hpp"

#include <spdlog/spdlog.h>

#include "common/json_flat.hpp"
#include "common/json_limits.hpp"
#include "common/logging.hpp"
#include "server/api/http_types.hpp"
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

bool WsSession::enabled(const Feature* feature) const {
    const auto& all = ctx_.features.all();
    for (std::size_t i = 0; i < all.size(); ++i) {
        if (all[i].get() == feature) return enabled_[i];
    }
    return false;
}

bool WsSession::opened(const std::shared_ptr<Client>& self, std::string_view target) {
    // ?features=chat,maintenance: names no feature has are ignored, but at least one must be
    // known, or the socket would be good for nothing but pings.
    const auto& all = ctx_.features.all();
    enabled_.assign(all.size(), true);
    if (auto q = target.find('?'); q != std::string_view::npos) {
        const std::string chosen = query_param(std::string(target.substr(q + 1)), "features");
        if (!chosen.empty()) {
            enabled_.assign(all.size(), false);
            std::size_t known = 0;
            std::string_view rest = chosen;
            while (!rest.empty()) {
                const auto comma = rest.find(',');
                const std::string_view name = rest.substr(0, comma);
                for (std::size_t i = 0; i < all.size(); ++i) {
                    if (all[i]->name() == name && !enabled_[i]) {
                        enabled_[i] = true;
                        ++known;
                    }
                }
                rest =
                    comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
            }
            if (known == 0) {
                spdlog::info("ws account {}: no known feature in ?features={}; closing with 1008",
                             account_id_, chosen);
                close_with(close_code::policy_violation,
                           "no known feature in ?features= (see GET /api/v1/features)");
                return false;
            }
        }
    }
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
    for (std::size_t i = 0; i < all.size(); ++i) {
        if (enabled_[i]) all[i]->on_open(self);
    }
    return true;
}

void WsSession::closed(const std::shared_ptr<Client>& self, std::string_view why) {
    ctx_.registry.remove(*this);
    const auto& all = ctx_.features.all();
    for (std::size_t i = 0; i < all.size(); ++i) {
        if (enabled_[i]) all[i]->on_close(self);
    }
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
    // Most frames are flat objects: read without nlohmann's lexer, and without a JSON tree
    // until a feature asks for one (a `send` never does), when they are.
    auto flat = read_flat_json_object(text);
    nlohmann::json msg;
    if (!flat) {
        // Depth first: a deeply nested value overflows the stack once it is copied or dumped.
        bool too_deep = false;
        msg = parse_json_bounded(text, &too_deep);
        if (msg.is_discarded() || !msg.is_object()) {
            close_with(close_code::unsupported_data,
                       too_deep ? "JSON nested too deeply" : "every frame must be a JSON object");
            co_return;
        }
    }
    // Only a scalar id is echoed: the reply then never copies a client's structure. A flat
    // frame's values are all scalars.
    nlohmann::json id;
    bool bad_id = false;
    if (flat) {
        if (const FlatValue* v = flat->find("id")) id = v->to_json();
    } else if (auto it = msg.find("id"); it != msg.end()) {
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
    std::optional<std::string> found_type;
    if (flat) {
        if (const FlatValue* v = flat->find("type"); v && v->is_string()) found_type = v->text;
    } else if (auto it = msg.find("type"); it != msg.end() && it->is_string()) {
        found_type = it->get<std::string>();
    }
    if (!found_type) {
        reply_error(id, "bad_request", "a frame needs a string field \"type\"");
        co_return;
    }
    std::string type = std::move(*found_type);
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
    if (!enabled(feature)) {
        reply_error(id, "bad_request",
                    fmt::format("\"{}\" belongs to the feature \"{}\", which this socket did not "
                                "choose in ?features=",
                                type, feature->name()));
        co_return;
    }
    ClientMessage message = flat ? ClientMessage(std::move(type), id, std::move(*flat))
                                 : ClientMessage(std::move(type), id, std::move(msg));
    try {
        co_await feature->on_message(self, std::move(message));
    } catch (const std::exception& e) {
        spdlog::error("ws {} account {}: feature {} failed: {}", id_, account_id_, feature->name(),
                      e.what());
        reply_error(id, "internal", "internal error; the request was not completed");
    }
}

}  // namespace parley
