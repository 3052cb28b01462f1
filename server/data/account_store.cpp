#include "server/data/account_store.hpp"

#include <algorithm>
#include <cctype>
#include <mutex>

#include "server/data/sql_bytes.hpp"

namespace parley {

std::string ascii_lower(std::string s) {
    for (char& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

namespace {

Session read_session(const Statement& st) {
    Session s;
    s.id = st.column_text(0);
    s.account_id = st.column_text(1);
    s.access_hash = column_bytes(st, 2);
    s.refresh_hash = column_bytes(st, 3);
    s.previous_refresh_hash = column_bytes(st, 4);
    s.created_at = st.column_int64(5);
    s.access_expires_at = st.column_int64(6);
    s.refresh_expires_at = st.column_int64(7);
    s.revoked = !st.column_is_null(8);
    return s;
}

constexpr const char* kAccountColumns =
    "id, username, password_hash, role, created_at, disabled_at";

Account read_account(const Statement& st) {
    return Account{st.column_text(0), st.column_text(1),  st.column_text(2),
                   st.column_text(3), st.column_int64(4), st.column_int64(5)};
}

constexpr const char* kSessionColumns =
    "id, account_id, access_hash, refresh_hash, previous_refresh_hash, created_at, "
    "access_expires_at, refresh_expires_at, revoked_at";

}  // namespace

AccountStore::AccountStore(DbWriter& writer) : writer_(writer) {}

AccountStore::RoleChange AccountStore::change_role(SqliteDb& db, const std::string& username,
                                                   const std::string& role) {
    Transaction transaction(db, Transaction::Kind::immediate);
    auto find = db.prepare(std::string("SELECT ") + kAccountColumns +
                           " FROM accounts WHERE username = ? COLLATE NOCASE");
    find.bind(1, username);
    RoleChange change;
    if (find.step() != StepResult::row) return change;
    change.account = read_account(find);
    if (change.account.role == "bot") {
        change.status = RoleChange::Status::refused_bot;
        return change;
    }
    auto update = db.prepare("UPDATE accounts SET role = ? WHERE id = ?");
    update.bind(1, role).bind(2, change.account.id);
    update.run();
    transaction.commit();
    change.status = RoleChange::Status::changed;
    return change;
}

void AccountStore::load(SqliteDb& db) {
    std::unique_lock lock(mutex_);
    auto accounts = db.prepare(std::string("SELECT ") + kAccountColumns + " FROM accounts");
    while (accounts.step() == StepResult::row) {
        Account a = read_account(accounts);
        by_username_[ascii_lower(a.username)] = a.id;
        accounts_[a.id] = std::move(a);
    }
    auto sessions =
        db.prepare(std::string("SELECT ") + kSessionColumns +
                   " FROM sessions WHERE revoked_at IS NULL AND refresh_expires_at > ?");
    sessions.bind(1, now_ms());
    while (sessions.step() == StepResult::row) {
        Session s = read_session(sessions);
        sessions_[s.id] = s;
        by_access_[s.access_hash] = s.id;
        by_refresh_[s.refresh_hash] = s.id;
    }
    auto profiles =
        db.prepare("SELECT account_id, name, text, visibility, avatar, updated_at FROM profiles");
    while (profiles.step() == StepResult::row) {
        Profile p{profiles.column_text(0),
                  profiles.column_text(1),
                  profiles.column_text(2),
                  profiles.column_text(3),
                  profiles.column_is_null(4) ? std::nullopt
                                             : std::optional<std::string>(profiles.column_text(4)),
                  profiles.column_int64(5)};
        profiles_[p.account_id] = std::move(p);
    }
}

std::optional<Account> AccountStore::account_by_id(const std::string& id) const {
    std::shared_lock lock(mutex_);
    auto it = accounts_.find(id);
    if (it == accounts_.end()) return std::nullopt;
    return it->second;
}

std::optional<Account> AccountStore::account_by_username(const std::string& username) const {
    std::shared_lock lock(mutex_);
    auto it = by_username_.find(ascii_lower(username));
    if (it == by_username_.end()) return std::nullopt;
    return accounts_.at(it->second);
}

std::size_t AccountStore::account_count() const {
    std::shared_lock lock(mutex_);
    return accounts_.size();
}

awaitable<DbResult<Account>> AccountStore::create_account(Account account,
                                                          std::function<void(SqliteDb&)> also) {
    auto job = [account, also](SqliteDb& db) {
        auto ins = db.cached(
            "INSERT INTO accounts(id, username, password_hash, role, created_at) "
            "VALUES (?, ?, ?, ?, ?)");
        ins->bind(1, account.id).bind(2, account.username).bind(3, account.password_hash);
        ins->bind(4, account.role).bind(5, account.created_at);
        ins->run();
        auto prof = db.cached("INSERT INTO profiles(account_id, updated_at) VALUES (?, ?)");
        prof->bind(1, account.id).bind(2, account.created_at);
        prof->run();
        if (also) also(db);
        return true;
    };
    auto result = co_await writer_.write(std::move(job));
    if (!result) co_return result.error();
    std::unique_lock lock(mutex_);
    by_username_[ascii_lower(account.username)] = account.id;
    accounts_[account.id] = account;
    Profile p;
    p.account_id = account.id;
    p.updated_at = account.created_at;
    profiles_[account.id] = p;
    co_return account;
}

void AccountStore::cache_session(const Session& s) {
    if (auto it = sessions_.find(s.id); it != sessions_.end()) {
        by_access_.erase(it->second.access_hash);
        by_refresh_.erase(it->second.refresh_hash);
    }
    sessions_[s.id] = s;
    by_access_[s.access_hash] = s.id;
    by_refresh_[s.refresh_hash] = s.id;
}

void AccountStore::uncache_session(const std::string& session_id) {
    auto it = sessions_.find(session_id);
    if (it == sessions_.end()) return;
    by_access_.erase(it->second.access_hash);
    by_refresh_.erase(it->second.refresh_hash);
    sessions_.erase(it);
}

awaitable<DbResult<Session>> AccountStore::create_session(Session session) {
    auto job = [session](SqliteDb& db) {
        auto ins = db.cached(
            "INSERT INTO sessions(id, account_id, access_hash, refresh_hash, created_at, "
            "access_expires_at, refresh_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
        ins->bind(1, session.id).bind(2, session.account_id);
        bind_bytes_or_null(*ins, 3, session.access_hash);
        bind_bytes_or_null(*ins, 4, session.refresh_hash);
        ins->bind(5, session.created_at).bind(6, session.access_expires_at);
        ins->bind(7, session.refresh_expires_at);
        ins->run();
        return true;
    };
    auto result = co_await writer_.write(std::move(job));
    if (!result) co_return result.error();
    std::unique_lock lock(mutex_);
    cache_session(session);
    co_return session;
}

std::optional<Session> AccountStore::session_by_access_hash(const std::string& hash,
                                                            std::int64_t now) const {
    std::shared_lock lock(mutex_);
    auto it = by_access_.find(hash);
    if (it == by_access_.end()) return std::nullopt;
    const Session& s = sessions_.at(it->second);
    if (s.revoked || s.access_expires_at <= now) return std::nullopt;
    return s;
}

std::optional<Session> AccountStore::session_by_id(const std::string& id) const {
    std::shared_lock lock(mutex_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return std::nullopt;
    return it->second;
}

awaitable<DbResult<RefreshOutcome>> AccountStore::rotate(const std::string& presented,
                                                         Session next) {
    auto job = [presented, next](SqliteDb& db) {
        RefreshOutcome out;
        auto find = db.cached(std::string("SELECT ") + kSessionColumns +
                              " FROM sessions WHERE refresh_hash = ?");
        bind_bytes_or_null(*find, 1, presented);
        if (find->step() == StepResult::row) {
            Session s = read_session(*find);
            if (s.revoked || s.refresh_expires_at <= next.created_at) return out;  // invalid
            Session rotated = s;
            rotated.previous_refresh_hash = s.refresh_hash;
            rotated.access_hash = next.access_hash;
            rotated.refresh_hash = next.refresh_hash;
            rotated.access_expires_at = next.access_expires_at;
            rotated.refresh_expires_at = next.refresh_expires_at;
            auto upd = db.cached(
                "UPDATE sessions SET access_hash = ?, refresh_hash = ?, previous_refresh_hash = ?, "
                "access_expires_at = ?, refresh_expires_at = ? WHERE id = ?");
            bind_bytes_or_null(*upd, 1, rotated.access_hash);
            bind_bytes_or_null(*upd, 2, rotated.refresh_hash);
            bind_bytes_or_null(*upd, 3, rotated.previous_refresh_hash);
            upd->bind(4, rotated.access_expires_at).bind(5, rotated.refresh_expires_at);
            upd->bind(6, rotated.id);
            upd->run();
            // Kept for the session's life: any member of the rotation family that comes back
            // is a replay, however many rotations ago it was used.
            auto used = db.cached(
                "INSERT OR IGNORE INTO used_refresh_tokens(hash, session_id, used_at) "
                "VALUES (?, ?, ?)");
            bind_bytes_or_null(*used, 1, s.refresh_hash);
            used->bind(2, s.id).bind(3, next.created_at);
            used->run();
            out.status = RefreshStatus::rotated;
            out.session = rotated;
            return out;
        }
        auto reuse = db.cached(std::string("SELECT ") + kSessionColumns +
                               " FROM sessions WHERE id = (SELECT session_id FROM "
                               "used_refresh_tokens WHERE hash = ?)");
        bind_bytes_or_null(*reuse, 1, presented);
        if (reuse->step() == StepResult::row) {
            Session s = read_session(*reuse);
            auto rev =
                db.cached("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL");
            rev->bind(1, next.created_at).bind(2, s.id);
            rev->run();
            s.revoked = true;
            out.status = RefreshStatus::reused;
            out.session = s;
        }
        return out;
    };
    auto result = co_await writer_.write(std::move(job));
    if (!result) co_return result.error();
    std::unique_lock lock(mutex_);
    if (result->status == RefreshStatus::rotated) cache_session(result->session);
    if (result->status == RefreshStatus::reused) uncache_session(result->session.id);
    co_return std::move(result).value();
}

awaitable<DbResult<bool>> AccountStore::revoke_session(const std::string& session_id) {
    std::int64_t at = now_ms();
    auto job = [session_id, at](SqliteDb& db) {
        auto rev =
            db.cached("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL");
        rev->bind(1, at).bind(2, session_id);
        rev->run();
        return db.changes() > 0;
    };
    auto result = co_await writer_.write(std::move(job));
    if (!result) co_return result.error();
    std::unique_lock lock(mutex_);
    uncache_session(session_id);
    co_return result.value();
}

awaitable<DbResult<std::int64_t>> AccountStore::prune_sessions(std::int64_t cutoff) {
    // used_refresh_tokens rows go with their session (ON DELETE CASCADE).
    auto job = [cutoff](SqliteDb& db) {
        std::vector<std::string> ids;
        auto del = db.cached(
            "DELETE FROM sessions WHERE (revoked_at IS NOT NULL AND revoked_at < ?1) "
            "OR refresh_expires_at < ?1 RETURNING id");
        del->bind(1, cutoff);
        while (del->step() == StepResult::row)
            ids.push_back(del->column_text(0));
        return ids;
    };
    auto result = co_await writer_.write(std::move(job));
    if (!result) co_return result.error();
    std::unique_lock lock(mutex_);
    for (const auto& id : result.value())
        uncache_session(id);
    co_return static_cast<std::int64_t>(result.value().size());
}

awaitable<DbResult<std::vector<std::string>>> AccountStore::revoke_account_sessions(
    const std::string& account_id, std::function<void(SqliteDb&)> also, const std::string& except) {
    std::int64_t at = now_ms();
    auto job = [account_id, at, also, except](SqliteDb& db) {
        std::vector<std::string> ids;
        auto rev = db.cached(
            "UPDATE sessions SET revoked_at = ? WHERE account_id = ? AND revoked_at IS NULL "
            "AND id != ? RETURNING id");
        rev->bind(1, at).bind(2, account_id).bind(3, except);
        while (rev->step() == StepResult::row)
            ids.push_back(rev->column_text(0));
        if (also) also(db);
        return ids;
    };
    auto result = co_await writer_.write(std::move(job));
    if (!result) co_return result.error();
    std::unique_lock lock(mutex_);
    for (const auto& id : *result)
        uncache_session(id);
    co_return std::move(*result);
}

awaitable<DbResult<std::vector<std::string>>> AccountStore::change_password(
    const std::string& account_id, const std::string& password_hash,
    const std::string& keep_session_id) {
    std::function<void(SqliteDb&)> also = [account_id, password_hash](SqliteDb& db) {
        auto upd = db.cached("UPDATE accounts SET password_hash = ? WHERE id = ?");
        upd->bind(1, password_hash).bind(2, account_id);
        upd->run();
    };
    auto revoked = co_await revoke_account_sessions(account_id, std::move(also), keep_session_id);
    if (!revoked) co_return revoked.error();
    std::unique_lock lock(mutex_);
    if (auto it = accounts_.find(account_id); it != accounts_.end())
        it->second.password_hash = password_hash;
    co_return std::move(*revoked);
}

awaitable<DbResult<std::vector<std::string>>> AccountStore::set_disabled(
    const std::string& account_id, std::int64_t disabled_at) {
    std::function<void(SqliteDb&)> also = [account_id, disabled_at](SqliteDb& db) {
        auto upd = db.cached("UPDATE accounts SET disabled_at = ? WHERE id = ?");
        upd->bind(1, disabled_at).bind(2, account_id);
        upd->run();
    };
    // An account being enabled has no live session (they ended when it was disabled), so the
    // revocation finds none then.
    auto revoked = co_await revoke_account_sessions(account_id, std::move(also));
    if (!revoked) co_return revoked.error();
    std::unique_lock lock(mutex_);
    if (auto it = accounts_.find(account_id); it != accounts_.end())
        it->second.disabled_at = disabled_at;
    co_return std::move(*revoked);
}

std::vector<Account> AccountStore::all_accounts() const {
    std::shared_lock lock(mutex_);
    std::vector<Account> out;
    out.reserve(accounts_.size());
    for (const auto& [id, a] : accounts_)
        out.push_back(a);
    return out;
}

std::size_t AccountStore::live_session_count(const std::string& account_id,
                                             std::int64_t now) const {
    std::shared_lock lock(mutex_);
    std::size_t n = 0;
    for (const auto& [id, s] : sessions_)
        if (s.account_id == account_id && !s.revoked && s.refresh_expires_at > now) ++n;
    return n;
}

std::vector<Session> AccountStore::sessions_of(const std::string& account_id,
                                               std::int64_t now) const {
    std::vector<Session> out;
    {
        std::shared_lock lock(mutex_);
        for (const auto& [id, s] : sessions_)
            if (s.account_id == account_id && !s.revoked && s.refresh_expires_at > now)
                out.push_back(s);
    }
    std::sort(out.begin(), out.end(), [](const Session& a, const Session& b) {
        return a.created_at != b.created_at ? a.created_at < b.created_at : a.id < b.id;
    });
    return out;
}

std::optional<Profile> AccountStore::profile(const std::string& account_id) const {
    std::shared_lock lock(mutex_);
    auto it = profiles_.find(account_id);
    if (it == profiles_.end()) return std::nullopt;
    return it->second;
}

awaitable<DbResult<Profile>> AccountStore::update_profile(Profile profile) {
    auto job = [profile](SqliteDb& db) {
        auto upd = db.cached(
            "UPDATE profiles SET name = ?, text = ?, visibility = ?, avatar = ?, updated_at = ? "
            "WHERE account_id = ?");
        upd->bind(1, profile.name).bind(2, profile.text).bind(3, profile.visibility);
        if (profile.avatar) {
            upd->bind(4, *profile.avatar);
        } else {
            upd->bind_null(4);
        }
        upd->bind(5, profile.updated_at).bind(6, profile.account_id);
        upd->run();
        return true;
    };
    auto result = co_await writer_.write(std::move(job));
    if (!result) co_return result.error();
    std::unique_lock lock(mutex_);
    profiles_[profile.account_id] = profile;
    co_return profile;
}

}  // namespace parley
