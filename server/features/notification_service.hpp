// NotificationService: the stored notifications of an account — mentions of it in messages and
// invitations into rooms — listed and marked read (GET /api/v1/notifications, POST
// /api/v1/notifications/read), and delivered live: a `notification` frame to the account's
// sockets subscribed to account:me:notifications when one is stored, and, when a socket
// subscribes, one `notifications` frame with the unread count and the newest unread ones (what
// arrived while the account was offline). RoomService decides who is mentioned or invited and
// hands the notifications to store_in() inside its own writer job, so a notification exists
// exactly when the message or membership that caused it was committed; deliver() after the
// commit. Answers Outcomes (no HTTP). Thread-safe; owned by the server app; the unread frame is
// read on the reader pool and sent from `executor`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/net.hpp"
#include "server/data/notification_store.hpp"
#include "server/features/notifier.hpp"
#include "server/features/outcome.hpp"

namespace parley {

// The query of GET /api/v1/notifications, as text (empty: absent).
struct NotificationQuery {
    std::string before;       // a page's "next": only older notifications
    std::string limit;        // 1 to 200, default 50
    std::string unread_only;  // "true" | "false" | "1" | "0"
};

class NotificationService {
  public:
    // Unread notifications sent in the frame of a new subscription; the rest are paged.
    static constexpr int kUnreadOnSubscribe = 50;

    NotificationService(NotificationStore& store, Notifier& notifier, ClientRegistry& clients,
                        net::any_io_executor executor);

    // A page of the account's notifications, newest first.
    awaitable<Outcome<NotificationPage>> list(const std::string& account_id,
                                              const NotificationQuery& query);
    // {"ids":[…]} (1 to 200 ids) or {"up_to":id}: marks the account's notifications read; the
    // account's other sockets hear `notifications_read`.
    awaitable<Outcome<MarkedRead>> mark_read(const std::string& account_id,
                                             const nlohmann::json& body);
    awaitable<Outcome<std::int64_t>> unread_count(const std::string& account_id);

    // Writer thread, inside the job of the change that causes them: stores each of `pending`
    // (id and created_at set). Throws as the job's other statements do.
    void store_in(SqliteDb& db, std::vector<Notification>& pending) const;
    // After the change committed: a live `notification` frame for each one stored.
    void deliver(const std::vector<Notification>& stored);
    // The `notifications` frame for a socket that has just subscribed (sent asynchronously).
    void send_unread(const Client& client);
    // That frame: the account's unread count and its newest unread ones (a cluster edge asks
    // the primary for it when one of its sockets subscribes).
    awaitable<Outcome<nlohmann::json>> unread_frame(const std::string& account_id);

    static nlohmann::json to_json(const Notification& n);

  private:
    NotificationStore& store_;
    Notifier& notifier_;
    ClientRegistry& clients_;
    net::any_io_executor executor_;
};

}  // namespace parley
