#include "server/features/notification_service.hpp"

#include <charconv>

#include <spdlog/spdlog.h>

#include "common/logging.hpp"
#include "server/model/account.hpp"

namespace parley {

namespace {

constexpr int kMaxLimit = 200;
constexpr std::size_t kMaxIds = 200;

// A whole decimal integer, or nullopt.
std::optional<std::int64_t> whole_number(const std::string& text) {
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

nlohmann::json items_json(const std::vector<Notification>& items) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& n : items)
        out.push_back(NotificationService::to_json(n));
    return out;
}

}  // namespace

NotificationService::NotificationService(NotificationStore& store, Notifier& notifier,
                                         ClientRegistry& clients, net::any_io_executor executor)
    : store_(store), notifier_(notifier), clients_(clients), executor_(std::move(executor)) {}

nlohmann::json NotificationService::to_json(const Notification& n) {
    nlohmann::json j{{"id", n.id},
                     {"kind", n.kind},
                     {"room_id", n.room_id},
                     {"from", n.from},
                     {"created_at", n.created_at},
                     {"read_at", n.read_at ? nlohmann::json(n.read_at) : nlohmann::json()}};
    if (n.seq > 0) j["seq"] = n.seq;
    return j;
}

awaitable<Outcome<NotificationPage>> NotificationService::list(const std::string& account_id,
                                                               const NotificationQuery& query) {
    std::int64_t before = 0;
    std::int64_t limit = 50;
    if (!query.before.empty()) {
        auto b = whole_number(query.before);
        if (!b || *b < 1)
            co_return Refusal{ErrorCode::bad_request, "before is the \"next\" of an earlier page"};
        before = *b;
    }
    if (!query.limit.empty()) {
        auto l = whole_number(query.limit);
        if (!l || *l < 1 || *l > kMaxLimit)
            co_return Refusal{ErrorCode::bad_request, "limit is an integer from 1 to 200"};
        limit = *l;
    }
    bool unread_only = false;
    if (query.unread_only == "true" || query.unread_only == "1") {
        unread_only = true;
    } else if (!query.unread_only.empty() && query.unread_only != "false" &&
               query.unread_only != "0") {
        co_return Refusal{ErrorCode::bad_request, "unread_only is true or false"};
    }
    auto page = co_await store_.page(account_id, before, static_cast<int>(limit), unread_only);
    if (!page) co_return db_refusal(page.error(), "listing notifications");
    co_return std::move(*page);
}

awaitable<Outcome<MarkedRead>> NotificationService::mark_read(const std::string& account_id,
                                                              const nlohmann::json& body) {
    auto ids_it = body.find("ids");
    auto up_to_it = body.find("up_to");
    for (const auto& [key, value] : body.items()) {
        if (key != "ids" && key != "up_to")
            co_return Refusal{ErrorCode::bad_request, "unknown field \"" + key + "\""};
    }
    if ((ids_it == body.end()) == (up_to_it == body.end()))
        co_return Refusal{ErrorCode::bad_request, "give either ids (an array) or up_to (an id)"};
    std::vector<std::int64_t> ids;
    std::int64_t up_to = 0;
    if (ids_it != body.end()) {
        if (!ids_it->is_array() || ids_it->empty() || ids_it->size() > kMaxIds) {
            co_return Refusal{ErrorCode::bad_request, "ids is an array of 1 to 200 ids"};
        }
        for (const auto& id : *ids_it) {
            if (!id.is_number_integer() || id.get<std::int64_t>() < 1)
                co_return Refusal{ErrorCode::bad_request, "ids are positive integers"};
            ids.push_back(id.get<std::int64_t>());
        }
    } else {
        if (!up_to_it->is_number_integer() || up_to_it->get<std::int64_t>() < 1)
            co_return Refusal{ErrorCode::bad_request, "up_to is a positive integer"};
        up_to = up_to_it->get<std::int64_t>();
    }
    auto marked = co_await store_.mark_read(account_id, ids, up_to, now_ms());
    if (!marked) co_return db_refusal(marked.error(), "marking notifications read");
    spdlog::info("notifications: {} marked read by account {} ({} unread)", marked->marked,
                 account_id, marked->unread);
    if (marked->marked > 0) {
        // The account's other devices update their count without asking.
        nlohmann::json frame{{"type", "notifications_read"}, {"unread", marked->unread}};
        if (ids.empty()) {
            frame["up_to"] = up_to;
        } else {
            frame["ids"] = ids;
        }
        notifier_.publish(account_id, frame);
    }
    co_return *marked;
}

awaitable<Outcome<std::int64_t>> NotificationService::unread_count(const std::string& account_id) {
    auto page = co_await store_.unread(account_id, 0);
    if (!page) co_return db_refusal(page.error(), "counting notifications");
    co_return page->unread;
}

void NotificationService::store_in(SqliteDb& db, std::vector<Notification>& pending) const {
    const std::int64_t at = now_ms();
    for (auto& n : pending) {
        n.created_at = at;
        store_.add_in(db, n);
    }
}

void NotificationService::deliver(const std::vector<Notification>& stored) {
    for (const auto& n : stored) {
        if (n.id == 0) continue;  // not stored (the change did not need it)
        spdlog::debug("notification {} ({}) for account {} in room {} from {}", n.id, n.kind,
                      n.account_id, n.room_id, n.from);
        notifier_.notify(n.account_id, to_json(n));
    }
}

awaitable<Outcome<nlohmann::json>> NotificationService::unread_frame(
    const std::string& account_id) {
    auto page = co_await store_.unread(account_id, kUnreadOnSubscribe);
    if (!page) {
        spdlog::warn("notifications: unread ones for account {} not read: {}", account_id,
                     page.error().message);
        co_return db_refusal(page.error(), "reading unread notifications");
    }
    co_return nlohmann::json{{"type", "notifications"},
                             {"unread", page->unread},
                             {"notifications", items_json(page->items)},
                             {"more", page->more}};
}

void NotificationService::send_unread(const Client& client) {
    std::uint64_t client_id = client.id();
    std::string account_id = client.account_id();
    auto task = [this, client_id, account_id]() -> awaitable<void> {
        auto frame = co_await unread_frame(account_id);
        if (!frame) co_return;  // logged
        auto socket = clients_.find(client_id);
        if (!socket || !notifier_.subscribed(client_id)) co_return;
        socket->send(std::make_shared<const std::string>(frame->dump()));
    };
    net::co_spawn(executor_, std::move(task), [](std::exception_ptr e) {
        if (e)
            spdlog::error("notifications: sending the unread ones failed: {}", exception_what(e));
    });
}

}  // namespace parley
