// RoomStore: rooms, their members and the recent messages of each room — the in-memory cache
// in front of current.db's rooms, members and messages tables.
//
// Loaded at start; reads are served from memory; every change is write-through (the DbWriter
// commits it, then the cache changes, then the caller is answered). append() assigns the
// room's next sequence number inside the writer's job, from a counter only the writer thread
// touches (the database's number is max(rooms.last_seq, newest message seq); rooms.last_seq is
// brought up to date when history is pruned). Numbers are gap-free: a failed insert consumes
// none, and a rolled-back batch makes the writer reload every counter from the database.
//
// Where a message goes: append() inserts it into the message log (arrival order, no secondary
// index), so the messages of one commit share pages. The log has two halves (message_log and
// message_log_b): once the written half holds message_log_rows messages, it is moved into
// `messages` (indexed by room), whole rooms at a time, fullest first, a 32nd of a half per
// move, while the other half is written; a half whose rooms have all moved is emptied in one
// step, so no move deletes rows one by one. Each room's pages are written once for many of its
// messages rather than once per message (docs/storage.md). A resend with the same
// (sender, client_msg_id) returns the stored message and assigns nothing: the writer keeps the keys
// of the log's messages in memory and looks the indexed table up by its unique key. Older history
// is read from the indexed table alone when it holds the whole answer, else from both (the
// all_messages view). Owned by the server app; thread-safe (one
// shared mutex).
#pragma once

#include <array>
#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "server/data/db_readers.hpp"
#include "server/data/db_writer.hpp"
#include "server/model/room.hpp"

namespace parley {

// The outcome of a membership change that a rule may refuse (docs/api.md "Membership").
enum class MembershipStatus {
    done,
    banned,       // the account is banned from the room
    not_invited,  // an invite-only room, and the account was never added to it
    last_owner,   // the change would leave members without an owner
    not_member,   // the account is not a member (any more)
};

struct MembershipResult {
    MembershipStatus status = MembershipStatus::done;
    Member member;  // as stored (done), or as it was (removals)
};

struct RoomBan {
    std::string account_id;
    std::string banned_by;
    std::int64_t banned_at = 0;
};

struct AppendResult {
    // Behind a pointer: the result is moved through the writer's completion and the awaiting
    // coroutines several times on its way to the sender, and a Message is six strings.
    std::unique_ptr<Message> message;
    bool duplicate = false;  // a resend: nothing new was stored
};

class RoomStore {
  public:
    RoomStore(DbWriter& writer, DbReaderPool& readers, int recent_limit,
              int message_log_rows = 8192);

    void load(SqliteDb& db);
    // Queues the writer's load of the message log (done otherwise by the first send), so that
    // history reads find the log's rows by rowid from the start instead of scanning it.
    void load_log_soon();
    // Whether history reads have the writer's rowids (tests).
    bool log_rowids_ready();

    std::optional<Room> room(const std::string& room_id) const;
    std::optional<Member> member(const std::string& room_id, const std::string& account_id) const;
    // What sending a message needs of the room and of its sender, when both exist: on every
    // message, so without copying the whole room and member (ten strings).
    struct Sender {
        bool require_signatures = false;
        bool viewer = false;     // a viewer cannot send
        std::string public_key;  // the key the sender registered in this room, or empty
    };
    std::optional<Sender> sender(const std::string& room_id, const std::string& account_id) const;
    std::vector<Member> members(const std::string& room_id) const;
    std::size_t member_count(const std::string& room_id) const;
    std::vector<std::string> rooms_of(const std::string& account_id) const;
    std::size_t rooms_created_by(const std::string& account_id) const;
    std::vector<Room> all_rooms() const;
    // The cached recent messages with seq > after (oldest first), and whether the cache covers
    // everything after `after` (false: older ones must come from the database).
    std::vector<Message> recent_after(const std::string& room_id, std::int64_t after,
                                      bool& complete) const;
    bool shares_room(const std::string& a, const std::string& b) const;

    // Work a caller adds to a change's writer job: it runs on the writer thread inside the same
    // transaction, after the change, so both commit or neither does (the notifications an
    // invitation or a mention leaves). A throw fails the change too.
    using AlsoWrite = std::function<void(SqliteDb&)>;

    awaitable<DbResult<Room>> create_room(Room room, std::vector<Member> members,
                                          AlsoWrite also = {});
    // What put_member may change of an existing member: a join sets the display name and key,
    // an owner sets the role. Each touches only its own fields, in the database and in the
    // cache, so a join and a role change that overlap both take effect.
    enum class MemberChange { join, role };
    // Inserts the member, or updates the fields of `change`; returns the member as stored.
    awaitable<DbResult<Member>> put_member(Member member, MemberChange change);
    awaitable<DbResult<bool>> remove_member(std::string room_id, std::string account_id);

    // Membership with its rules, each checked and applied in one writer job, so two changes
    // racing each other cannot both pass a check that only one may (two last owners leaving).
    //
    // A non-member joins `candidate.room_id`: refused when banned; a former member who left
    // comes back with the role they had; anyone else only into an open room, as a member.
    awaitable<DbResult<MembershipResult>> join(Member candidate);
    // An owner adds `member` with its role or changes the role of a member: refused for a
    // banned account, and when it demotes the room's last owner. `also` runs only when the
    // account was not a member.
    awaitable<DbResult<MembershipResult>> set_role(Member member, AlsoWrite also = {});
    // The member leaves and its role is kept for a return. The last owner of a room that has
    // other members cannot leave (direct rooms excepted: neither side manages them).
    awaitable<DbResult<MembershipResult>> leave(std::string room_id, std::string account_id);
    // An owner removes a member (kick) and forgets its role; with `ban`, the account also
    // cannot come back until unbanned. A ban needs no membership.
    awaitable<DbResult<MembershipResult>> expel(std::string room_id, std::string account_id,
                                                bool ban, std::string by);
    // True when there was a ban to lift.
    awaitable<DbResult<bool>> unban(std::string room_id, std::string account_id);
    awaitable<DbResult<std::vector<RoomBan>>> bans(std::string room_id);
    awaitable<DbResult<Room>> set_join_policy(std::string room_id, std::string policy);
    // Moves the member's read marker forward to `seq` (clamped to the room's last_seq; never
    // backwards) and returns the marker now stored. Writes nothing when it would not move.
    awaitable<DbResult<std::int64_t>> mark_read(std::string room_id, std::string account_id,
                                                std::int64_t seq);
    awaitable<DbResult<Room>> rename(std::string room_id, std::string title);
    // Stores the message with the room's next sequence number. The memory cache is NOT updated
    // here: RoomHub calls remember() in sequence order once every lower number is released, so
    // the cache always holds a gap-free prefix. `also` runs after the insert of a new message
    // (never for a resend), with the message as numbered; with it the job gets a savepoint.
    awaitable<DbResult<AppendResult>> append(
        Message message, std::function<void(SqliteDb&, const Message&)> also = {});
    void remember(const Message& message);
    // Marks a message removed (moderation): its text and signature are erased, reads skip it,
    // its sequence number stays used. False when there is no such message (or it was removed).
    awaitable<DbResult<bool>> remove_message(std::string room_id, std::int64_t seq);
    awaitable<DbResult<bool>> delete_room(std::string room_id);
    awaitable<DbResult<std::vector<Message>>> messages_after(std::string room_id,
                                                             std::int64_t after, int limit);
    // Deletes all but the newest `keep` messages of a room; returns how many were deleted.
    awaitable<DbResult<std::int64_t>> prune(std::string room_id, std::int64_t keep);
    // Moves the message log into the indexed table now; returns how many messages moved.
    // append() asks for it by itself once the log is full.
    awaitable<DbResult<std::int64_t>> settle();

  private:
    struct State {
        Room room;
        std::map<std::string, Member> members;
        std::deque<Message> recent;  // ascending seq, at most recent_limit_
    };
    void remember_locked(State& s, const Message& m);
    // Writes one text column of the room (`sql`: UPDATE rooms SET <column> = ? WHERE id = ?),
    // then the same field of the cached room.
    awaitable<DbResult<Room>> set_room_text(std::string room_id, std::string Room::*field,
                                            const char* sql, std::string value);
    // The room's last sequence number as the database holds it (writer or reader thread).
    // `with_log` false only when the room has no message in the log.
    static std::int64_t stored_last_seq(SqliteDb& db, const std::string& room_id, bool with_log);
    // Writer thread: the room's last number, from the counter or the database.
    std::int64_t last_seq_for_append(SqliteDb& db, const std::string& room_id);
    // Writer thread: loads the log's keys (and its rooms' last numbers) after start or a
    // rolled-back batch.
    void load_log_keys(SqliteDb& db);
    // Writer thread: the stored message with this (room, sender, client_msg_id), if any; `key`
    // is its log_key().
    std::optional<Message> stored_resend(SqliteDb& db, const Message& m, const std::string& key);
    // Writer thread: newest_ids_' entry for (room, sender), loaded if needed.
    const std::string& newest_client_msg_id(SqliteDb& db, const std::string& room_id,
                                            const std::string& sender_id);
    // Writer thread: the settle job's body: moves whole rooms of the moving half, fullest
    // first (a room of many steps' worth in parts), until at least `at_least` messages have moved
    // or the half is empty; the written half becomes the moving one when none is (only once it is
    // full, unless `at_least` is everything). Rows are found by rowid, so a move reads only what it
    // moves.
    std::int64_t settle_log(SqliteDb& db, std::size_t at_least);
    std::int64_t move_log(SqliteDb& db, std::size_t at_least);  // settle_log() without the log line
    // Writer thread: one move_log() step within the moving half.
    std::int64_t move_rooms(SqliteDb& db, std::size_t at_least);
    // Writer thread: moves the oldest `count` rows of `room` in the moving half (a room too
    // large to move in one step) and marks them moved.
    std::int64_t move_part(SqliteDb& db, const std::string& room, std::size_t count);
    void cache_member_locked(const Member& m);
    void uncache_member_locked(const std::string& room_id, const std::string& account_id);

    DbWriter& writer_;
    DbReaderPool& readers_;
    std::size_t recent_limit_;
    mutable std::shared_mutex mutex_;
    std::unordered_map<std::string, State> rooms_;
    std::unordered_map<std::string, std::unordered_set<std::string>> by_account_;
    // The last number append() gave in each room: the writer thread's alone (no lock).
    std::unordered_map<std::string, std::int64_t> writer_seqs_;
    // The message log as the writer thread knows it (no lock): per half and room, the (room,
    // sender, client_msg_id) keys of its messages and their rowids in seq order, and how many
    // rows the half has; the moving half lists only the rooms that have not moved yet. Reloaded
    // when a batch or a move rolls back or rows left the log some other way (prune, a deleted
    // room).
    struct LogRoom {
        std::unordered_set<std::string> keys;
        std::vector<std::int64_t> rowids;
    };
    struct LogHalf {
        std::unordered_map<std::string, LogRoom> rooms;
        std::size_t rows = 0;
    };
    std::array<LogHalf, 2> log_;
    int written_ = 0;  // the half append() writes into
    int moving_ = -1;  // the half being moved into `messages`, or -1
    // Per room and sender, at least the largest client_msg_id stored (writer thread): an id
    // above it cannot be a resend. Loaded on first use, never lowered, cleared past the limit.
    std::unordered_map<std::string, std::unordered_map<std::string, std::string>> newest_ids_;
    std::size_t newest_ids_count_ = 0;
    static constexpr std::size_t kNewestIdsLimit = 100000;
    bool log_loaded_ = false;
    // The log's rowids of each room, per half, for history reads (messages_after), which would
    // otherwise scan both halves. A superset of the room's unmoved rows in any snapshot a
    // reader can hold: the writer adds a row as it appends it (before its commit; a reader
    // begins its snapshot before it takes the list) and never removes one, except that a
    // half's list becomes `previous` when the half is emptied; a reload merges. Readers still
    // test every row (room, number, not moved), so a stale rowid costs one lookup. Each row
    // carries its number, so that a read after a number takes only the rows after it (a
    // catch-up read in a busy room wants its last few of thousands); a row's number never
    // changes, and a stale entry's is filtered away with it.
    struct ReaderRow {
        std::int64_t rowid;
        std::int64_t seq;
        auto operator<=>(const ReaderRow&) const = default;
    };
    struct ReaderLog {
        std::unordered_map<std::string, std::vector<ReaderRow>> current, previous;
        std::uint64_t emptied = 0;  // times the half was emptied
    };
    std::mutex reader_log_mutex_;
    std::array<ReaderLog, 2> reader_log_;  // under reader_log_mutex_
    bool reader_log_ready_ = false;        // under reader_log_mutex_: loaded once
    // Reader threads: the JSON lists of the rowids of `room`'s rows numbered after `after` in
    // each half, or nothing when the list cannot be trusted (not loaded yet, or a half emptied
    // twice since `emptied_before`).
    std::optional<std::array<std::string, 2>> reader_rowids(
        const std::string& room, std::int64_t after,
        const std::array<std::uint64_t, 2>& emptied_before);
    std::array<std::uint64_t, 2> reader_log_emptied();
    std::size_t settle_at_;  // rows of the written half that make it the moving one
    // Rows of the written half that ask for the next move: settle_at_ with no half moving, a
    // 32nd of it further on while one moves, a whole half further after a failed move.
    std::size_t next_settle_rows_;
    bool settle_pending_ = false;  // asked for and not run yet
    // Set by the writer thread when the log is full; the append that sees it submits settle().
    std::atomic<bool> settle_wanted_{false};
};

}  // namespace parley
