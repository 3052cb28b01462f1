// AccountStore: accounts, sessions and profiles — the in-memory cache in front of current.db.
//
// Everything is loaded at start (load()), reads are served from memory, and every change is
// write-through: the DbWriter commits it, and only then is the cache updated and the caller
// answered. Sessions are indexed by the SHA-256 of their access and refresh tokens, so a token
// check is one hash and one lookup. Refresh rotation runs as one writer job, so two refreshes
// with the same token are serialized: the second sees a rotated-away token, which is reuse and
// revokes the session. Owned by the server app; thread-safe (shared mutex over the maps).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/data/db_writer.hpp"
#include "server/model/account.hpp"

namespace parley {

enum class RefreshStatus { rotated, invalid, reused };

struct RefreshOutcome {
    RefreshStatus status = RefreshStatus::invalid;
    Session session;  // the rotated session, or the revoked one on reuse
};

class AccountStore {
  public:
    explicit AccountStore(DbWriter& writer);

    // Fills the cache from the database (start-up, before serving).
    void load(SqliteDb& db);

    std::optional<Account> account_by_id(const std::string& id) const;
    std::optional<Account> account_by_username(const std::string& username) const;
    std::size_t account_count() const;

    // Inserts the account and its empty profile. DbErrc::constraint when the name is taken.
    // `also` runs in the same writer job (the bot row of a bot account), so both commit or
    // neither does.
    awaitable<DbResult<Account>> create_account(Account account,
                                                std::function<void(SqliteDb&)> also = {});

    awaitable<DbResult<Session>> create_session(Session session);
    // The live (not revoked, not expired) session of an access-token hash.
    std::optional<Session> session_by_access_hash(const std::string& hash, std::int64_t now) const;
    std::optional<Session> session_by_id(const std::string& id) const;
    // Rotates: the session whose refresh hash is `presented` gets the new hashes and expiries.
    awaitable<DbResult<RefreshOutcome>> rotate(const std::string& presented, Session next);
    awaitable<DbResult<bool>> revoke_session(const std::string& session_id);
    // Revokes every live session of an account but `except` (when not empty) and returns their
    // ids (their sockets are the caller's to close). `also` runs in the same writer job, so
    // both commit or neither does.
    awaitable<DbResult<std::vector<std::string>>> revoke_account_sessions(
        const std::string& account_id, std::function<void(SqliteDb&)> also = {},
        const std::string& except = {});
    // A new password hash for the account, and every other session revoked (their ids are
    // returned), in one transaction.
    awaitable<DbResult<std::vector<std::string>>> change_password(
        const std::string& account_id, const std::string& password_hash,
        const std::string& keep_session_id);
    // Disables an account (`disabled_at` > 0) or enables it again (0); all its sessions are
    // revoked in the same transaction and their ids returned.
    awaitable<DbResult<std::vector<std::string>>> set_disabled(const std::string& account_id,
                                                               std::int64_t disabled_at);
    // Every account (a copy; the admin listing).
    std::vector<Account> all_accounts() const;
    // Deletes the sessions that ended before `cutoff` (Unix ms): revoked then, or whose refresh
    // token expired then; with them their rotated tokens. Returns how many went.
    awaitable<DbResult<std::int64_t>> prune_sessions(std::int64_t cutoff);
    std::size_t live_session_count(const std::string& account_id, std::int64_t now) const;
    // The account's sessions that are live at `now`, oldest first.
    std::vector<Session> sessions_of(const std::string& account_id, std::int64_t now) const;

    std::optional<Profile> profile(const std::string& account_id) const;
    awaitable<DbResult<Profile>> update_profile(Profile profile);

    // Without a running server (the command line, under the data directory's lock): gives the
    // account named `username` (any case) the role `role`, in one transaction on `db`. A bot
    // account keeps the role "bot" (`refused_bot`). `account` is the account as it was.
    struct RoleChange {
        enum class Status { changed, no_account, refused_bot } status = Status::no_account;
        Account account;
    };
    static RoleChange change_role(SqliteDb& db, const std::string& username,
                                  const std::string& role);

  private:
    void cache_session(const Session& s);
    void uncache_session(const std::string& session_id);

    DbWriter& writer_;
    mutable std::shared_mutex mutex_;
    std::unordered_map<std::string, Account> accounts_;         // by id
    std::unordered_map<std::string, std::string> by_username_;  // lower-case name -> id
    std::unordered_map<std::string, Session> sessions_;         // by id
    std::unordered_map<std::string, std::string> by_access_;    // access hash -> session id
    std::unordered_map<std::string, std::string> by_refresh_;   // refresh hash -> session id
    std::unordered_map<std::string, Profile> profiles_;         // by account id
};

// ASCII lower case (usernames are ASCII; see the username rules in account routes).
std::string ascii_lower(std::string s);

}  // namespace parley
