#include "server/features/room_janitor.hpp"

#include <spdlog/spdlog.h>

#include "common/logging.hpp"

namespace parley {

RoomJanitor::RoomJanitor(net::any_io_executor executor, const ChatSettings& settings,
                         RoomStore& rooms, RoomHub& hub, ClientRegistry& clients)
    : timer_(executor), settings_(settings), rooms_(rooms), hub_(hub), clients_(clients) {}

void RoomJanitor::start() {
    net::co_spawn(timer_.get_executor(), run(), [](std::exception_ptr e) {
        if (!e) return;
        spdlog::error("room janitor stopped: {}", exception_what(e));
    });
}

void RoomJanitor::stop() {
    stopped_ = true;
    net::post(timer_.get_executor(), [this] { timer_.cancel(); });
}

awaitable<void> RoomJanitor::run() {
    while (!stopped_) {
        timer_.expires_after(std::chrono::milliseconds(settings_.janitor_interval_ms));
        boost::system::error_code ec;
        co_await timer_.async_wait(net::redirect_error(use_awaitable, ec));
        if (stopped_) break;
        co_await pass();
    }
}

awaitable<void> RoomJanitor::pass() {
    std::int64_t now = now_ms();
    for (const Room& room : rooms_.all_rooms()) {
        if (stopped_) co_return;
        if (room.kind == "ephemeral") {
            bool connected = false;
            for (const auto& m : rooms_.members(room.id)) {
                if (!clients_.for_account(m.account_id).empty()) {
                    connected = true;
                    break;
                }
            }
            auto [it, inserted] = last_connected_.try_emplace(room.id, now);
            if (connected) it->second = now;
            bool idle = now - it->second >= std::int64_t(settings_.ephemeral_idle_s) * 1000;
            bool old = now - room.created_at >= std::int64_t(settings_.ephemeral_max_age_s) * 1000;
            if (idle || old) {
                std::string id = room.id;
                auto deleted = co_await rooms_.delete_room(id);
                if (deleted) {
                    hub_.room_deleted(room.id);
                    last_connected_.erase(room.id);
                    spdlog::info("ephemeral room {} deleted ({})", room.id,
                                 old ? "maximum age reached" : "no one connected");
                } else {
                    spdlog::warn("ephemeral room {}: delete failed: {}", room.id,
                                 deleted.error().message);
                }
                continue;
            }
        }
        if (room.last_seq > settings_.history_limit) {
            std::string id = room.id;
            std::int64_t keep = settings_.history_limit;
            auto pruned = co_await rooms_.prune(id, keep);
            if (pruned && *pruned > 0)
                spdlog::info("room {}: pruned {} old messages", room.id, *pruned);
        }
    }
}

}  // namespace parley
