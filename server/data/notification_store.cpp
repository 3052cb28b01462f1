#include "server/data/notification_store.hpp"

namespace parley {

namespace {

constexpr const char* kColumns = "id, account_id, kind, room_id, seq, from_id, created_at, read_at";

Notification read_row(const Statement& st) {
    Notification n;
    n.id = st.column_int64(0);
    n.account_id = st.column_text(1);
    n.kind = st.column_text(2);
    n.room_id = st.column_text(3);
    n.seq = st.column_is_null(4) ? 0 : st.column_int64(4);
    n.from = st.column_text(5);
    n.created_at = st.column_int64(6);
    n.read_at = st.column_is_null(7) ? 0 : st.column_int64(7);
    return n;
}

std::int64_t count_unread(SqliteDb& db, const std::string& account_id) {
    auto count =
        db.cached("SELECT count(*) FROM notifications WHERE account_id = ? AND read_at IS NULL");
    count->bind(1, account_id);
    count->step();
    return count->column_int64(0);
}

// The newest `limit` notifications below `before` (0: all), and whether there are more.
NotificationPage read_page(SqliteDb& db, const std::string& account_id, std::int64_t before,
                           int limit, bool unread_only) {
    NotificationPage page;
    auto q = db.cached(std::string("SELECT ") + kColumns +
                       " FROM notifications WHERE account_id = ?1 AND id < ?2" +
                       (unread_only ? " AND read_at IS NULL" : "") + " ORDER BY id DESC LIMIT ?3");
    q->bind(1, account_id).bind(2, before > 0 ? before : INT64_MAX).bind(3, limit + 1);
    while (q->step() == StepResult::row)
        page.items.push_back(read_row(*q));
    if (static_cast<int>(page.items.size()) > limit) {
        page.items.resize(static_cast<std::size_t>(limit));
        page.more = true;
    }
    page.unread = count_unread(db, account_id);
    return page;
}

}  // namespace

NotificationStore::NotificationStore(DbWriter& writer, DbReaderPool& readers, int keep_per_account)
    : writer_(writer), readers_(readers), keep_per_account_(keep_per_account) {}

void NotificationStore::add_in(SqliteDb& db, Notification& n) const {
    auto ins = db.cached(
        "INSERT INTO notifications(account_id, kind, room_id, seq, from_id, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)");
    ins->bind(1, n.account_id).bind(2, n.kind).bind(3, n.room_id);
    if (n.seq > 0) {
        ins->bind(4, n.seq);
    } else {
        ins->bind_null(4);
    }
    ins->bind(5, n.from).bind(6, n.created_at);
    ins->run();
    n.id = db.last_insert_rowid();
    // The count reads the account's part of an index (at most keep_per_account + 1 entries);
    // the trim, rare, sorts only that part.
    auto count = db.cached("SELECT count(*) FROM notifications WHERE account_id = ?");
    count->bind(1, n.account_id);
    count->step();
    const std::int64_t over = count->column_int64(0) - keep_per_account_;
    count->reset();
    if (over <= 0) return;
    auto trim = db.cached(
        "DELETE FROM notifications WHERE id IN (SELECT id FROM notifications WHERE account_id = ? "
        "ORDER BY read_at IS NULL, id LIMIT ?)");
    trim->bind(1, n.account_id).bind(2, over);
    trim->run();
}

awaitable<DbResult<NotificationPage>> NotificationStore::page(std::string account_id,
                                                              std::int64_t before, int limit,
                                                              bool unread_only) {
    // Named, not a temporary inside the co_await: GCC 12 destroys such a lambda twice.
    auto job = [account_id = std::move(account_id), before, limit, unread_only](SqliteDb& db) {
        return read_page(db, account_id, before, limit, unread_only);
    };
    co_return co_await readers_.read(std::move(job));
}

awaitable<DbResult<NotificationPage>> NotificationStore::unread(std::string account_id, int limit) {
    co_return co_await page(std::move(account_id), 0, limit, true);
}

awaitable<DbResult<MarkedRead>> NotificationStore::mark_read(std::string account_id,
                                                             std::vector<std::int64_t> ids,
                                                             std::int64_t up_to, std::int64_t at) {
    auto job = [account_id = std::move(account_id), ids = std::move(ids), up_to, at](SqliteDb& db) {
        MarkedRead out;
        if (ids.empty()) {
            auto all = db.cached(
                "UPDATE notifications SET read_at = ? WHERE account_id = ? AND id <= ? AND "
                "read_at IS NULL");
            all->bind(1, at).bind(2, account_id).bind(3, up_to);
            all->run();
            out.marked = db.changes();
        } else {
            auto one = db.cached(
                "UPDATE notifications SET read_at = ? WHERE account_id = ? AND id = ? AND "
                "read_at IS NULL");
            for (std::int64_t id : ids) {
                one->bind(1, at).bind(2, account_id).bind(3, id);
                one->run();
                out.marked += db.changes();
                one->reset();
            }
        }
        out.unread = count_unread(db, account_id);
        return out;
    };
    co_return co_await writer_.write(std::move(job));
}

awaitable<DbResult<std::int64_t>> NotificationStore::prune(std::int64_t cutoff) {
    auto job = [cutoff](SqliteDb& db) {
        auto del = db.cached("DELETE FROM notifications WHERE created_at < ?");
        del->bind(1, cutoff);
        del->run();
        return db.changes();
    };
    co_return co_await writer_.write(std::move(job));
}

}  // namespace parley
