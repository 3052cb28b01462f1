#include "server/data/bot_store.hpp"

#include <mutex>
#include <stdexcept>

#include "common/crypto.hpp"
#include "server/data/sql_bytes.hpp"

namespace parley {

namespace {

// Bot accounts have no password: "!" is no argon2id string, so no password ever matches it
// (and the password login refuses role "bot" before that).
constexpr const char* kNoPassword = "!";

std::string key_digest(const std::string& key) {
    auto d = sha256(key);
    return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

void insert_bot_row(SqliteDb& db, const BotRecord& bot) {
    auto st = db.cached(
        "INSERT INTO bots(account_id, kind, key_hash, key_failures, locked_until, created_at) "
        "VALUES (?, ?, ?, 0, 0, ?)");
    st->bind(1, bot.account_id).bind(2, bot.kind);
    bind_bytes_or_null(*st, 3, bot.key_hash);
    st->bind(4, bot.created_at);
    st->run();
}

void insert_account_rows(SqliteDb& db, const Account& a) {
    auto ins = db.prepare(
        "INSERT INTO accounts(id, username, password_hash, role, created_at) "
        "VALUES (?, ?, ?, 'bot', ?)");
    ins.bind(1, a.id).bind(2, a.username).bind(3, a.password_hash).bind(4, a.created_at);
    ins.run();
    auto prof = db.prepare("INSERT INTO profiles(account_id, updated_at) VALUES (?, ?)");
    prof.bind(1, a.id).bind(2, a.created_at);
    prof.run();
}

// Built outside the coroutine: g++ 12 mishandles aggregates of string literals in coroutines.
CreatedBot new_remote_bot(std::string username) {
    CreatedBot created;
    created.account = Account{random_id(), std::move(username), kNoPassword, "bot", now_ms()};
    created.bot_key = random_token();
    return created;
}

BotRecord remote_record(const CreatedBot& created) {
    BotRecord record;
    record.account_id = created.account.id;
    record.kind = "remote";
    record.key_hash = key_digest(created.bot_key);
    record.created_at = created.account.created_at;
    return record;
}

}  // namespace

BotStore::BotStore(DbWriter& writer, AccountStore& accounts)
    : writer_(writer), accounts_(accounts) {}

void BotStore::load(SqliteDb& db) {
    std::unique_lock lock(mutex_);
    auto st = db.prepare(
        "SELECT account_id, kind, key_hash, key_failures, locked_until, created_at FROM bots");
    while (st.step() == StepResult::row) {
        BotRecord b;
        b.account_id = st.column_text(0);
        b.kind = st.column_text(1);
        b.key_hash = column_bytes(st, 2);
        b.lockout.failures = static_cast<std::uint32_t>(st.column_int64(3));
        b.lockout.locked_until_unix_ms = st.column_int64(4);
        b.created_at = st.column_int64(5);
        bots_[b.account_id] = std::move(b);
    }
}

std::optional<BotRecord> BotStore::bot(const std::string& account_id) const {
    std::shared_lock lock(mutex_);
    auto it = bots_.find(account_id);
    if (it == bots_.end()) return std::nullopt;
    return it->second;
}

std::vector<BotRecord> BotStore::all() const {
    std::shared_lock lock(mutex_);
    std::vector<BotRecord> out;
    for (const auto& [id, b] : bots_)
        out.push_back(b);
    return out;
}

awaitable<DbResult<CreatedBot>> BotStore::create_remote(std::string username) {
    CreatedBot created = new_remote_bot(std::move(username));
    BotRecord record = remote_record(created);
    std::function<void(SqliteDb&)> also = [record](SqliteDb& db) { insert_bot_row(db, record); };
    auto stored = co_await accounts_.create_account(created.account, std::move(also));
    if (!stored) co_return stored.error();
    std::unique_lock lock(mutex_);
    bots_[record.account_id] = record;
    co_return created;
}

awaitable<DbResult<std::vector<std::string>>> BotStore::replace_key(std::string account_id,
                                                                    std::string key) {
    std::string digest = key.empty() ? std::string() : key_digest(key);
    std::function<void(SqliteDb&)> also = [account_id, digest](SqliteDb& db) {
        auto st = db.cached(
            "UPDATE bots SET key_hash = ?, key_failures = 0, locked_until = 0 "
            "WHERE account_id = ? AND kind = 'remote'");
        bind_bytes_or_null(*st, 1, digest);
        st->bind(2, account_id);
        st->run();
    };
    auto revoked = co_await accounts_.revoke_account_sessions(account_id, std::move(also));
    if (!revoked) co_return revoked.error();
    std::unique_lock lock(mutex_);
    if (auto it = bots_.find(account_id); it != bots_.end()) {
        it->second.key_hash = digest;
        it->second.lockout = FailureState{};
    }
    co_return std::move(*revoked);
}

awaitable<DbResult<bool>> BotStore::save_lockout(std::string account_id, FailureState state) {
    auto job = [account_id, state](SqliteDb& db) {
        auto st =
            db.cached("UPDATE bots SET key_failures = ?, locked_until = ? WHERE account_id = ?");
        st->bind(1, static_cast<std::int64_t>(state.failures))
            .bind(2, state.locked_until_unix_ms)
            .bind(3, account_id);
        st->run();
        return db.changes() > 0;
    };
    auto result = co_await writer_.write(std::move(job));
    if (!result) co_return result.error();
    std::unique_lock lock(mutex_);
    if (auto it = bots_.find(account_id); it != bots_.end()) it->second.lockout = state;
    co_return *result;
}

std::vector<std::string> BotStore::ensure_local_bots(SqliteDb& db,
                                                     const std::vector<std::string>& usernames) {
    std::vector<std::string> ids;
    Transaction transaction(db, Transaction::Kind::immediate);
    for (const auto& name : usernames) {
        auto find = db.prepare(
            "SELECT a.id, a.role, b.kind FROM accounts a LEFT JOIN bots b ON b.account_id = a.id "
            "WHERE a.username = ? COLLATE NOCASE");
        find.bind(1, name);
        if (find.step() == StepResult::row) {
            std::string id = find.column_text(0);
            if (find.column_text(1) != "bot" || find.column_is_null(2) ||
                find.column_text(2) != "local") {
                throw std::runtime_error("the username '" + name +
                                         "' of a local bot belongs to an account that is not a "
                                         "local bot; rename that account or change [bots]");
            }
            ids.push_back(id);
            continue;
        }
        Account a{random_id(), name, kNoPassword, "bot", now_ms()};
        insert_account_rows(db, a);
        insert_bot_row(db, BotRecord{a.id, "local", "", {}, a.created_at});
        ids.push_back(a.id);
    }
    transaction.commit();
    return ids;
}

CreatedBot BotStore::create_remote_bot(SqliteDb& db, const std::string& username) {
    Transaction transaction(db, Transaction::Kind::immediate);
    auto find = db.prepare("SELECT 1 FROM accounts WHERE username = ? COLLATE NOCASE");
    find.bind(1, username);
    if (find.step() == StepResult::row) {
        throw std::runtime_error("the username '" + username + "' is taken");
    }
    CreatedBot created = new_remote_bot(username);
    insert_account_rows(db, created.account);
    insert_bot_row(db, remote_record(created));
    transaction.commit();
    return created;
}

}  // namespace parley
