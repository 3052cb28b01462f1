// BotStore: the bot accounts of current.db's `bots` table (docs/bots.md) — local bots, which
// the server's own bot child logs in through the loopback bot listener, and remote bots, which
// log in with a bot key (random 256 bits, shown once, stored only as its SHA-256). It also holds
// each bot's wrong-key lock-out state, written through on every change so that a lock-out
// survives a restart. Loaded at start; reads from memory; writes go through the DbWriter and
// update the cache after the commit. The static functions work on a plain connection before
// the writer exists (start-up) or without a server (the command line).
// Owned by the server app; thread-safe (one shared mutex).
#pragma once

#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/rate_limiter.hpp"
#include "server/data/account_store.hpp"
#include "server/data/db_writer.hpp"

namespace parley {

struct BotRecord {
    std::string account_id;
    std::string kind;      // "local" | "remote"
    std::string key_hash;  // SHA-256 of the bot key (remote bots), raw 32 bytes
    FailureState lockout;  // wrong keys in a row and the end of the lock-out (Unix ms)
    std::int64_t created_at = 0;
};

// A new remote bot: its account and the key, which exists nowhere else once shown.
struct CreatedBot {
    Account account;
    std::string bot_key;
};

class BotStore {
  public:
    BotStore(DbWriter& writer, AccountStore& accounts);

    void load(SqliteDb& db);

    std::optional<BotRecord> bot(const std::string& account_id) const;
    std::vector<BotRecord> all() const;

    // Creates a remote bot account (role "bot", no password) with a fresh key.
    // DbErrc::constraint when the username is taken.
    awaitable<DbResult<CreatedBot>> create_remote(std::string username);
    // Gives a remote bot a new key (`key` set: rotation) or none (`key` empty: revocation, no
    // login succeeds until a rotation), clears its lock-out and revokes all its sessions, in
    // one transaction. The revoked session ids are returned. The caller checked that
    // `account_id` is a remote bot.
    awaitable<DbResult<std::vector<std::string>>> replace_key(std::string account_id,
                                                              std::string key);
    // Stores a bot's lock-out state (after each wrong key, and when a good key clears it).
    awaitable<DbResult<bool>> save_lockout(std::string account_id, FailureState state);

    // Start-up, before the writer: makes sure each username is a local bot account (creating
    // the missing ones) and returns their account ids in the same order. Throws
    // std::runtime_error when a username belongs to an account that is not a local bot.
    static std::vector<std::string> ensure_local_bots(SqliteDb& db,
                                                      const std::vector<std::string>& usernames);
    // The command line (`parley server --make-bot`): creates a remote bot in one transaction.
    // Throws std::runtime_error when the name is taken or invalid.
    static CreatedBot create_remote_bot(SqliteDb& db, const std::string& username);

  private:
    DbWriter& writer_;
    AccountStore& accounts_;
    mutable std::shared_mutex mutex_;
    std::unordered_map<std::string, BotRecord> bots_;  // by account id
};

}  // namespace parley
