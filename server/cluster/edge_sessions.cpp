#include "server/cluster/edge_sessions.hpp"

#include <set>

#include <spdlog/spdlog.h>
#include <boost/asio/redirect_error.hpp>

#include "common/logging.hpp"
#include "server/api/ws_session.hpp"

namespace parley {

EdgeSessions::EdgeSessions(net::any_io_executor executor, EdgeLink& link, ClientRegistry& clients,
                           std::chrono::milliseconds interval)
    : strand_(net::make_strand(executor)),
      link_(link),
      clients_(clients),
      interval_(interval),
      timer_(strand_) {}

void EdgeSessions::start() {
    net::co_spawn(strand_, loop(), [](std::exception_ptr e) {
        if (e) spdlog::error("cluster: edge session check ended: {}", exception_what(e));
    });
}

void EdgeSessions::stop() {
    stopping_ = true;
    net::post(strand_, [this] { timer_.cancel(); });
}

awaitable<void> EdgeSessions::loop() {
    while (!stopping_) {
        boost::system::error_code ec;
        timer_.expires_after(interval_);
        co_await timer_.async_wait(net::redirect_error(use_awaitable, ec));
        if (stopping_) break;
        co_await check_once();
    }
}

void EdgeSessions::end_session(const std::string& session_id, const char* how) {
    if (on_ended_) on_ended_(session_id);
    auto sockets = clients_.for_session(session_id);
    for (auto& c : sockets) {
        c->close(close_code::token_revoked, "session ended");
        closed_.fetch_add(1);
    }
    clients_.forget_session(session_id);
    if (!sockets.empty()) {
        spdlog::info("cluster: session {} ended on the primary ({}): {} edge sockets closed",
                     session_id, how, sockets.size());
    }
}

awaitable<void> EdgeSessions::check_once() {
    std::set<std::string> sessions;
    for (const auto& c : clients_.all())
        sessions.insert(c->session_id());
    auto it = sessions.begin();
    while (it != sessions.end()) {
        nlohmann::json ids = nlohmann::json::array();
        for (; it != sessions.end() && ids.size() < 1000; ++it)
            ids.push_back(*it);
        // Built before the co_await: GCC 12 miscompiles an initializer list inside it.
        nlohmann::json request{{"session_ids", std::move(ids)}};
        HttpResult r = co_await link_.call("sessions", std::move(request));
        if (!r.ok()) co_return;  // logged by the link; checked again next round
        for (const auto& ended : r.body.value("ended", nlohmann::json::array())) {
            if (!ended.is_string()) continue;
            end_session(ended.get<std::string>(), "the session check");
        }
    }
}

}  // namespace parley
