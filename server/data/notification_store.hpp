// NotificationStore: the stored notifications of every account (current.db `notifications`):
// mentions and invitations, read or unread.
//
// Nothing is cached: the table is read through DbReaderPool and written through the DbWriter.
// A notification is never written on its own: add_in() runs inside the writer job of the change
// that causes it (the message that mentions, the membership that invites), so both commit or
// neither does. Each account keeps at most keep_per_account notifications: storing one more
// deletes the account's oldest read ones first, then its oldest unread ones. prune() (the daily
// maintenance pass) deletes what is older than a cutoff. Thread-safe; owned by the server app.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "server/data/db_readers.hpp"
#include "server/data/db_writer.hpp"
#include "server/model/notification.hpp"

namespace parley {

// One page of an account's notifications, newest first.
struct NotificationPage {
    std::vector<Notification> items;
    std::int64_t unread = 0;  // the account's unread notifications, all pages together
    bool more = false;        // older ones (of the same filter) follow the last item
};

struct MarkedRead {
    std::int64_t marked = 0;  // notifications that were unread and are read now
    std::int64_t unread = 0;  // the account's unread notifications after the change
};

class NotificationStore {
  public:
    NotificationStore(DbWriter& writer, DbReaderPool& readers, int keep_per_account);

    // Writer thread, inside another change's job: stores `n` (setting its id) and trims its
    // account to keep_per_account. Throws DbError as the job's other statements do.
    void add_in(SqliteDb& db, Notification& n) const;

    // Up to `limit` notifications of the account with an id below `before` (0: from the
    // newest), newest first; only unread ones with `unread_only`.
    awaitable<DbResult<NotificationPage>> page(std::string account_id, std::int64_t before,
                                               int limit, bool unread_only);
    // The newest unread ones (at most `limit`) and the unread count, in one snapshot.
    awaitable<DbResult<NotificationPage>> unread(std::string account_id, int limit);
    // Marks the account's notifications read at `at`: those of `ids` (ids of other accounts are
    // ignored), or, with `ids` empty, every one with an id up to `up_to`.
    awaitable<DbResult<MarkedRead>> mark_read(std::string account_id, std::vector<std::int64_t> ids,
                                              std::int64_t up_to, std::int64_t at);
    // Deletes every notification created before `cutoff` (Unix ms); returns how many went.
    awaitable<DbResult<std::int64_t>> prune(std::int64_t cutoff);

  private:
    DbWriter& writer_;
    DbReaderPool& readers_;
    std::int64_t keep_per_account_;
};

}  // namespace parley
