#include "server/data/room_store.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <limits>
#include <memory>
#include <mutex>
#include <utility>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "common/json_text.hpp"
#include "server/data/sql_bytes.hpp"
#include "server/model/account.hpp"

namespace parley {

namespace {

Message read_message(const Statement& st) {
    Message m;
    m.room_id = st.column_text(0);
    m.seq = st.column_int64(1);
    m.sender_id = st.column_text(2);
    m.client_msg_id = st.column_text(3);
    m.text = st.column_text(4);
    m.signature = column_bytes(st, 5);
    m.sent_at = st.column_int64(6);
    m.media = st.column_is_null(7) ? std::string() : st.column_text(7);
    return m;
}

constexpr const char* kMessageColumns =
    "room_id, seq, sender_id, client_msg_id, text, signature, sent_at, media";
// What a move from the log into `messages` copies: every column, a removal's mark included.
constexpr const char* kMovedColumns =
    "room_id, seq, sender_id, client_msg_id, text, signature, sent_at, deleted, media";

// The two halves of the message log, by the number message_log_moved names them with.
constexpr std::array<const char*, 2> kLogTables = {"message_log", "message_log_b"};

// The condition that a row of the half numbered `half`, read as `l`, has not moved into
// `messages`: its room is not named in message_log_moved, or only up to a lower number.
std::string unmoved_in(int half) {
    return fmt::format(
        "NOT EXISTS (SELECT 1 FROM message_log_moved m WHERE m.half = {} AND m.room_id = "
        "l.room_id AND l.seq <= m.up_to_seq)",
        half);
}

// One statement per half of the log: in `sql`, {0} is the half's table and {1} the number
// message_log_moved names it by; {2} is the message columns and {3} the moved ones; {4} is
// the condition that a row of the half, read as `l`, has not moved.
std::array<std::string, 2> for_each_half(std::string_view sql) {
    return {fmt::format(fmt::runtime(sql), kLogTables[0], 0, kMessageColumns, kMovedColumns,
                        unmoved_in(0)),
            fmt::format(fmt::runtime(sql), kLogTables[1], 1, kMessageColumns, kMovedColumns,
                        unmoved_in(1))};
}

// Appends a rowid to a JSON array for json_each(?), written from its "[" on; the "]" is the
// caller's.
void append_rowid(std::string& list, std::int64_t rowid) {
    if (list.size() > 1) list += ',';
    append_json_int(list, rowid);
}

template <class It>
void append_rowids(std::string& list, It first, It last) {
    for (; first != last; ++first)
        append_rowid(list, *first);
}

// A full half moves in this many steps, one each time the written half has grown by as many
// rows. A step holds the writer, and every commit queued behind it, for its whole statement:
// with 8 192 rows a half, an eighth (1 024 messages) held it 6-22 ms, which set the p99 of
// every message that arrived meanwhile; a 32nd holds it about 2 ms. Whole rooms still move at
// once, so the pages written per moved message stay the same.
constexpr std::size_t kMoveSteps = 32;

// A room holding more than this many steps' worth of the moving half moves in parts of a
// step, its oldest rows first (RoomStore::move_part); smaller rooms move whole, which writes
// each room's pages once for all its rows. A request for more than kMaxPartialMove rows (the
// settle of everything) moves whole rooms.
constexpr std::size_t kPartsAbove = 4;
constexpr std::size_t kMaxPartialMove = std::size_t{1} << 40;
// message_log_moved.up_to_seq of a room that has moved whole.
constexpr std::int64_t kAllOfRoom = std::numeric_limits<std::int64_t>::max();
// Names a room's moved rows in the moving half (half, room, up to which number); a room that
// moved in part already moves its mark on.
constexpr const char* kNameMoved =
    "INSERT INTO message_log_moved(half, room_id, up_to_seq) VALUES (?1, ?2, ?3) "
    "ON CONFLICT(half, room_id) DO UPDATE SET up_to_seq = excluded.up_to_seq";

// Moves the log rows a JSON list of rowids names into `messages`, in the list's order: the
// list drives the loop (CROSS JOIN keeps it outside), so SQLite neither builds a temporary
// index of the rowids nor sorts the rows, as `rowid IN (...) ORDER BY` did (about a fifth of a
// move's time, docs/benchmarks.md, "fourteenth step").
const std::array<std::string, 2>& move_by_list_sql() {
    static const auto sql = for_each_half(
        "INSERT INTO messages({3}) SELECT {3} FROM json_each(?) AS j CROSS JOIN {0} AS l "
        "ON l.rowid = j.value");
    return sql;
}

// The rows one move step takes (and the growth of the written half that asks for the next).
std::size_t move_step(std::size_t half_rows) {
    return std::max<std::size_t>(half_rows / kMoveSteps, 1);
}

// The writer's in-memory key of a message in the log, within its room.
std::string log_key(const std::string& sender, const std::string& id) {
    std::string key;
    key.reserve(sender.size() + id.size() + 1);
    key.append(sender).push_back('\0');
    key.append(id);
    return key;
}

void insert_member(SqliteDb& db, const Member& m) {
    auto st = db.cached(
        "INSERT INTO members(room_id, account_id, role, display_name, public_key, joined_at, "
        "read_seq) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(room_id, account_id) DO UPDATE SET "
        "role = excluded.role, display_name = excluded.display_name, "
        "public_key = excluded.public_key");
    st->bind(1, m.room_id).bind(2, m.account_id).bind(3, m.role).bind(4, m.display_name);
    bind_bytes_or_null(*st, 5, m.public_key);
    st->bind(6, m.joined_at).bind(7, m.read_seq);
    st->run();
}

// Inserts, or updates only what `change` owns of an existing row.
void upsert_member(SqliteDb& db, const Member& m, RoomStore::MemberChange change) {
    auto st = db.cached(
        change == RoomStore::MemberChange::join
            ? "INSERT INTO members(room_id, account_id, role, display_name, public_key, joined_at, "
              "read_seq) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(room_id, account_id) DO UPDATE "
              "SET display_name = excluded.display_name, public_key = excluded.public_key"
            : "INSERT INTO members(room_id, account_id, role, display_name, public_key, joined_at, "
              "read_seq) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(room_id, account_id) DO UPDATE "
              "SET role = excluded.role");
    st->bind(1, m.room_id).bind(2, m.account_id).bind(3, m.role).bind(4, m.display_name);
    bind_bytes_or_null(*st, 5, m.public_key);
    // A new row starts with the read marker it was given; an existing row keeps its own.
    st->bind(6, m.joined_at).bind(7, m.read_seq);
    st->run();
}

}  // namespace

RoomStore::RoomStore(DbWriter& writer, DbReaderPool& readers, int recent_limit,
                     int message_log_rows)
    : writer_(writer),
      readers_(readers),
      recent_limit_(static_cast<std::size_t>(recent_limit)),
      settle_at_(static_cast<std::size_t>(std::max(message_log_rows, 1))),
      next_settle_rows_(settle_at_) {
    // A rolled-back batch takes its numbers and log rows with it: reload both from the database.
    writer_.on_rollback([this] {
        writer_seqs_.clear();
        log_loaded_ = false;
    });
}

void RoomStore::load(SqliteDb& db) {
    std::unique_lock lock(mutex_);
    auto rooms = db.prepare(
        "SELECT id, kind, title, require_signatures, created_by, created_at, "
        "max(last_seq, coalesce((SELECT max(seq) FROM messages m WHERE m.room_id = rooms.id), 0), "
        "coalesce(l.top, 0)), join_policy FROM rooms "
        "LEFT JOIN (SELECT room_id, max(seq) AS top FROM (SELECT room_id, seq FROM message_log "
        "UNION ALL SELECT room_id, seq FROM message_log_b) GROUP BY room_id) l "
        "ON l.room_id = rooms.id");
    while (rooms.step() == StepResult::row) {
        State s;
        s.room = Room{rooms.column_text(0),       rooms.column_text(1), rooms.column_text(2),
                      rooms.column_int64(3) != 0, rooms.column_text(4), rooms.column_int64(5),
                      rooms.column_int64(6),      rooms.column_text(7)};
        rooms_[s.room.id] = std::move(s);
    }
    auto members = db.prepare(
        "SELECT room_id, account_id, role, display_name, public_key, joined_at, read_seq "
        "FROM members");
    while (members.step() == StepResult::row) {
        Member m{members.column_text(0), members.column_text(1),   members.column_text(2),
                 members.column_text(3), column_bytes(members, 4), members.column_int64(5),
                 members.column_int64(6)};
        auto it = rooms_.find(m.room_id);
        if (it == rooms_.end()) continue;
        by_account_[m.account_id].insert(m.room_id);
        it->second.members[m.account_id] = std::move(m);
    }
    auto recent =
        db.prepare(std::string("SELECT ") + kMessageColumns +
                   " FROM messages WHERE room_id = ? AND deleted = 0 ORDER BY seq DESC LIMIT ?");
    for (auto& [id, s] : rooms_) {
        recent.reset();
        recent.bind(1, id).bind(2, static_cast<std::int64_t>(recent_limit_));
        while (recent.step() == StepResult::row)
            s.recent.push_front(read_message(recent));
    }
    // The log's messages are newer than every indexed one of their room: one pass appends them.
    // A moving half's rooms that have moved are in `messages` already.
    const auto unmoved = for_each_half("SELECT {2} FROM {0} l WHERE deleted = 0 AND {4}");
    auto logged = db.prepare(unmoved[0] + " UNION ALL " + unmoved[1] + " ORDER BY room_id, seq");
    while (logged.step() == StepResult::row) {
        Message m = read_message(logged);
        auto it = rooms_.find(m.room_id);
        if (it == rooms_.end()) continue;
        auto& recent_of_room = it->second.recent;
        recent_of_room.push_back(std::move(m));
        if (recent_of_room.size() > recent_limit_) recent_of_room.pop_front();
    }
}

std::optional<Room> RoomStore::room(const std::string& room_id) const {
    std::shared_lock lock(mutex_);
    auto it = rooms_.find(room_id);
    if (it == rooms_.end()) return std::nullopt;
    return it->second.room;
}

namespace {

// The room's state and the member's entry in it, or nulls; the caller holds the store's lock.
template <class Rooms>
auto find_member(const Rooms& rooms, const std::string& room_id, const std::string& account_id)
    -> std::pair<const typename Rooms::mapped_type*, const Member*> {
    auto it = rooms.find(room_id);
    if (it == rooms.end()) return {nullptr, nullptr};
    auto m = it->second.members.find(account_id);
    if (m == it->second.members.end()) return {nullptr, nullptr};
    return {&it->second, &m->second};
}

}  // namespace

std::optional<Member> RoomStore::member(const std::string& room_id,
                                        const std::string& account_id) const {
    std::shared_lock lock(mutex_);
    auto [state, member] = find_member(rooms_, room_id, account_id);
    if (!member) return std::nullopt;
    return *member;
}

std::optional<RoomStore::Sender> RoomStore::sender(const std::string& room_id,
                                                   const std::string& account_id) const {
    std::shared_lock lock(mutex_);
    auto [state, member] = find_member(rooms_, room_id, account_id);
    if (!member) return std::nullopt;
    return Sender{state->room.require_signatures, member->role == "viewer", member->public_key};
}

std::vector<Member> RoomStore::members(const std::string& room_id) const {
    std::shared_lock lock(mutex_);
    std::vector<Member> out;
    if (auto it = rooms_.find(room_id); it != rooms_.end()) {
        for (const auto& [id, m] : it->second.members)
            out.push_back(m);
    }
    return out;
}

std::size_t RoomStore::member_count(const std::string& room_id) const {
    std::shared_lock lock(mutex_);
    auto it = rooms_.find(room_id);
    return it == rooms_.end() ? 0 : it->second.members.size();
}

std::vector<std::string> RoomStore::rooms_of(const std::string& account_id) const {
    std::shared_lock lock(mutex_);
    auto it = by_account_.find(account_id);
    if (it == by_account_.end()) return {};
    std::vector<std::string> out(it->second.begin(), it->second.end());
    std::sort(out.begin(), out.end());
    return out;
}

std::size_t RoomStore::rooms_created_by(const std::string& account_id) const {
    std::shared_lock lock(mutex_);
    std::size_t n = 0;
    for (const auto& [id, s] : rooms_)
        n += s.room.created_by == account_id;
    return n;
}

std::vector<Room> RoomStore::all_rooms() const {
    std::shared_lock lock(mutex_);
    std::vector<Room> out;
    for (const auto& [id, s] : rooms_)
        out.push_back(s.room);
    return out;
}

std::vector<Message> RoomStore::recent_after(const std::string& room_id, std::int64_t after,
                                             bool& complete) const {
    std::shared_lock lock(mutex_);
    std::vector<Message> out;
    complete = false;
    auto it = rooms_.find(room_id);
    if (it == rooms_.end()) return out;
    const auto& recent = it->second.recent;
    complete = recent.empty() ? it->second.room.last_seq <= after : recent.front().seq <= after + 1;
    for (const auto& m : recent) {
        if (m.seq > after) out.push_back(m);
    }
    return out;
}

bool RoomStore::shares_room(const std::string& a, const std::string& b) const {
    std::shared_lock lock(mutex_);
    auto ia = by_account_.find(a);
    auto ib = by_account_.find(b);
    if (ia == by_account_.end() || ib == by_account_.end()) return false;
    for (const auto& r : ia->second) {
        if (ib->second.contains(r)) return true;
    }
    return false;
}

void RoomStore::remember_locked(State& s, const Message& m) {
    auto pos = std::upper_bound(s.recent.begin(), s.recent.end(), m.seq,
                                [](std::int64_t seq, const Message& x) { return seq < x.seq; });
    s.recent.insert(pos, m);
    while (s.recent.size() > recent_limit_)
        s.recent.pop_front();
    s.room.last_seq = std::max(s.room.last_seq, m.seq);
}

void RoomStore::remember(const Message& message) {
    std::unique_lock lock(mutex_);
    if (auto it = rooms_.find(message.room_id); it != rooms_.end())
        remember_locked(it->second, message);
}

awaitable<DbResult<Room>> RoomStore::create_room(Room room, std::vector<Member> members,
                                                 AlsoWrite also) {
    auto job = [room, members, also = std::move(also)](SqliteDb& db) {
        auto st = db.cached(
            "INSERT INTO rooms(id, kind, title, require_signatures, created_by, created_at, "
            "last_seq, join_policy) "
            "VALUES (?, ?, ?, ?, ?, ?, 0, ?)");
        st->bind(1, room.id).bind(2, room.kind).bind(3, room.title);
        st->bind(4, room.require_signatures ? 1 : 0)
            .bind(5, room.created_by)
            .bind(6, room.created_at)
            .bind(7, room.join_policy);
        st->run();
        for (const auto& m : members)
            insert_member(db, m);
        if (also) also(db);
        return true;
    };
    auto result = co_await writer_.write(std::move(job));
    if (!result) co_return result.error();
    std::unique_lock lock(mutex_);
    State& s = rooms_[room.id];
    s.room = room;
    for (const auto& m : members) {
        s.members[m.account_id] = m;
        by_account_[m.account_id].insert(room.id);
    }
    co_return room;
}

awaitable<DbResult<Member>> RoomStore::put_member(Member member, MemberChange change) {
    auto job = [member, change](SqliteDb& db) {
        upsert_member(db, member, change);
        return true;
    };
    auto result = co_await writer_.write(std::move(job));
    if (!result) co_return result.error();
    std::unique_lock lock(mutex_);
    auto it = rooms_.find(member.room_id);
    if (it != rooms_.end()) {
        auto existing = it->second.members.find(member.account_id);
        if (existing != it->second.members.end()) {
            // The fields this change does not own stay as the cache has them now.
            const Member& now = existing->second;
            member.joined_at = now.joined_at;
            member.read_seq = now.read_seq;
            if (change == MemberChange::join) {
                member.role = now.role;
            } else {
                member.display_name = now.display_name;
                member.public_key = now.public_key;
            }
        }
        it->second.members[member.account_id] = member;
        by_account_[member.account_id].insert(member.room_id);
    }
    co_return member;
}

awaitable<DbResult<bool>> RoomStore::remove_member(std::string room_id, std::string account_id) {
    auto job = [room_id, account_id](SqliteDb& db) {
        auto st = db.cached("DELETE FROM members WHERE room_id = ? AND account_id = ?");
        st->bind(1, room_id).bind(2, account_id);
        st->run();
        return db.changes() > 0;
    };
    auto result = co_await writer_.write(std::move(job));
    if (!result) co_return result.error();
    std::unique_lock lock(mutex_);
    if (auto it = rooms_.find(room_id); it != rooms_.end()) it->second.members.erase(account_id);
    if (auto it = by_account_.find(account_id); it != by_account_.end()) {
        it->second.erase(room_id);
        if (it->second.empty()) by_account_.erase(it);
    }
    co_return *result;
}

namespace {

std::optional<Member> stored_member(SqliteDb& db, const std::string& room_id,
                                    const std::string& account_id) {
    auto st = db.cached(
        "SELECT room_id, account_id, role, display_name, public_key, joined_at, read_seq "
        "FROM members WHERE room_id = ? AND account_id = ?");
    st->bind(1, room_id).bind(2, account_id);
    if (st->step() != StepResult::row) return std::nullopt;
    return Member{st->column_text(0),   st->column_text(1),  st->column_text(2), st->column_text(3),
                  column_bytes(*st, 4), st->column_int64(5), st->column_int64(6)};
}

bool is_banned(SqliteDb& db, const std::string& room_id, const std::string& account_id) {
    auto st = db.cached("SELECT 1 FROM room_bans WHERE room_id = ? AND account_id = ?");
    st->bind(1, room_id).bind(2, account_id);
    return st->step() == StepResult::row;
}

// Owners of the room other than `account_id`, and members other than it.
std::pair<std::int64_t, std::int64_t> others(SqliteDb& db, const std::string& room_id,
                                             const std::string& account_id) {
    auto st = db.cached(
        "SELECT count(*) FILTER (WHERE role = 'owner'), count(*) FROM members "
        "WHERE room_id = ? AND account_id != ?");
    st->bind(1, room_id).bind(2, account_id);
    st->step();
    return {st->column_int64(0), st->column_int64(1)};
}

void forget_departure(SqliteDb& db, const std::string& room_id, const std::string& account_id) {
    auto st = db.cached("DELETE FROM room_departures WHERE room_id = ? AND account_id = ?");
    st->bind(1, room_id).bind(2, account_id);
    st->run();
}

void delete_member(SqliteDb& db, const std::string& room_id, const std::string& account_id) {
    auto st = db.cached("DELETE FROM members WHERE room_id = ? AND account_id = ?");
    st->bind(1, room_id).bind(2, account_id);
    st->run();
}

}  // namespace

void RoomStore::cache_member_locked(const Member& m) {
    auto it = rooms_.find(m.room_id);
    if (it == rooms_.end()) return;
    it->second.members[m.account_id] = m;
    by_account_[m.account_id].insert(m.room_id);
}

void RoomStore::uncache_member_locked(const std::string& room_id, const std::string& account_id) {
    if (auto it = rooms_.find(room_id); it != rooms_.end()) it->second.members.erase(account_id);
    if (auto it = by_account_.find(account_id); it != by_account_.end()) {
        it->second.erase(room_id);
        if (it->second.empty()) by_account_.erase(it);
    }
}

awaitable<DbResult<MembershipResult>> RoomStore::join(Member candidate) {
    auto job = [candidate](SqliteDb& db) {
        MembershipResult out;
        if (auto now = stored_member(db, candidate.room_id, candidate.account_id)) {
            // Added meanwhile: a member's join, which sets only its name and key.
            upsert_member(db, candidate, RoomStore::MemberChange::join);
            out.member = *now;
            out.member.display_name = candidate.display_name;
            out.member.public_key = candidate.public_key;
            return out;
        }
        if (is_banned(db, candidate.room_id, candidate.account_id)) {
            out.status = MembershipStatus::banned;
            return out;
        }
        Member m = candidate;
        auto departed =
            db.cached("SELECT role FROM room_departures WHERE room_id = ? AND account_id = ?");
        departed->bind(1, m.room_id).bind(2, m.account_id);
        if (departed->step() == StepResult::row) {
            // The role the member left with: leaving and coming back changes nothing.
            m.role = departed->column_text(0);
        } else {
            auto policy = db.cached("SELECT join_policy FROM rooms WHERE id = ?");
            policy->bind(1, m.room_id);
            if (policy->step() != StepResult::row || policy->column_text(0) != "open") {
                out.status = MembershipStatus::not_invited;
                return out;
            }
            m.role = "member";
        }
        insert_member(db, m);
        forget_departure(db, m.room_id, m.account_id);
        out.member = m;
        return out;
    };
    auto result = co_await writer_.write(std::move(job));
    if (!result) co_return result.error();
    if (result->status == MembershipStatus::done) {
        std::unique_lock lock(mutex_);
        cache_member_locked(result->member);
    }
    co_return std::move(result).value();
}

awaitable<DbResult<MembershipResult>> RoomStore::set_role(Member member, AlsoWrite also) {
    auto job = [member, also = std::move(also)](SqliteDb& db) {
        MembershipResult out;
        auto now = stored_member(db, member.room_id, member.account_id);
        if (!now && is_banned(db, member.room_id, member.account_id)) {
            out.status = MembershipStatus::banned;
            return out;
        }
        if (now && now->role == "owner" && member.role != "owner" &&
            others(db, member.room_id, member.account_id).first == 0) {
            out.status = MembershipStatus::last_owner;
            out.member = *now;
            return out;
        }
        upsert_member(db, member, MemberChange::role);
        forget_departure(db, member.room_id, member.account_id);
        if (!now && also) also(db);
        out.member = now ? *now : member;
        out.member.role = member.role;
        return out;
    };
    auto result = co_await writer_.write(std::move(job));
    if (!result) co_return result.error();
    if (result->status == MembershipStatus::done) {
        std::unique_lock lock(mutex_);
        // A join that raced this keeps its display name and key in the cache.
        Member m = result->member;
        if (auto it = rooms_.find(m.room_id); it != rooms_.end()) {
            if (auto e = it->second.members.find(m.account_id); e != it->second.members.end()) {
                std::string role = m.role;
                m = e->second;
                m.role = role;
            }
        }
        cache_member_locked(m);
        result->member = m;
    }
    co_return std::move(result).value();
}

awaitable<DbResult<MembershipResult>> RoomStore::leave(std::string room_id,
                                                       std::string account_id) {
    auto job = [room_id, account_id](SqliteDb& db) {
        MembershipResult out;
        auto now = stored_member(db, room_id, account_id);
        if (!now) {
            out.status = MembershipStatus::not_member;
            return out;
        }
        out.member = *now;
        auto kind = db.cached("SELECT kind FROM rooms WHERE id = ?");
        kind->bind(1, room_id);
        bool direct = kind->step() == StepResult::row && kind->column_text(0) == "direct";
        auto [owners, members] = others(db, room_id, account_id);
        if (now->role == "owner" && owners == 0 && members > 0 && !direct) {
            out.status = MembershipStatus::last_owner;
            return out;
        }
        auto keep = db.cached(
            "INSERT INTO room_departures(room_id, account_id, role, left_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(room_id, account_id) DO UPDATE SET role = excluded.role, "
            "left_at = excluded.left_at");
        keep->bind(1, room_id).bind(2, account_id).bind(3, now->role).bind(4, now_ms());
        keep->run();
        delete_member(db, room_id, account_id);
        return out;
    };
    auto result = co_await writer_.write(std::move(job));
    if (!result) co_return result.error();
    if (result->status == MembershipStatus::done) {
        std::unique_lock lock(mutex_);
        uncache_member_locked(room_id, account_id);
    }
    co_return std::move(result).value();
}

awaitable<DbResult<MembershipResult>> RoomStore::expel(std::string room_id, std::string account_id,
                                                       bool ban, std::string by) {
    auto job = [room_id, account_id, ban, by](SqliteDb& db) {
        MembershipResult out;
        auto now = stored_member(db, room_id, account_id);
        if (!now && !ban) {
            out.status = MembershipStatus::not_member;
            return out;
        }
        if (now) out.member = *now;
        delete_member(db, room_id, account_id);
        forget_departure(db, room_id, account_id);
        if (ban) {
            auto st = db.cached(
                "INSERT INTO room_bans(room_id, account_id, banned_by, banned_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(room_id, account_id) DO NOTHING");
            st->bind(1, room_id).bind(2, account_id).bind(3, by).bind(4, now_ms());
            st->run();
        }
        if (!now) out.status = MembershipStatus::not_member;  // banned, but was not a member
        return out;
    };
    auto result = co_await writer_.write(std::move(job));
    if (!result) co_return result.error();
    std::unique_lock lock(mutex_);
    uncache_member_locked(room_id, account_id);
    co_return std::move(result).value();
}

awaitable<DbResult<bool>> RoomStore::unban(std::string room_id, std::string account_id) {
    auto job = [room_id, account_id](SqliteDb& db) {
        auto st = db.cached("DELETE FROM room_bans WHERE room_id = ? AND account_id = ?");
        st->bind(1, room_id).bind(2, account_id);
        st->run();
        return db.changes() > 0;
    };
    co_return co_await writer_.write(std::move(job));
}

awaitable<DbResult<std::vector<RoomBan>>> RoomStore::bans(std::string room_id) {
    auto job = [room_id](SqliteDb& db) {
        std::vector<RoomBan> out;
        auto st = db.cached(
            "SELECT account_id, banned_by, banned_at FROM room_bans WHERE room_id = ? "
            "ORDER BY banned_at, account_id");
        st->bind(1, room_id);
        while (st->step() == StepResult::row)
            out.push_back(RoomBan{st->column_text(0), st->column_text(1), st->column_int64(2)});
        return out;
    };
    co_return co_await readers_.read(std::move(job));
}

awaitable<DbResult<Room>> RoomStore::set_join_policy(std::string room_id, std::string policy) {
    return set_room_text(std::move(room_id), &Room::join_policy,
                         "UPDATE rooms SET join_policy = ? WHERE id = ?", std::move(policy));
}

awaitable<DbResult<Room>> RoomStore::set_room_text(std::string room_id, std::string Room::*field,
                                                   const char* sql, std::string value) {
    auto job = [room_id, sql, value](SqliteDb& db) {
        auto st = db.cached(sql);
        st->bind(1, value).bind(2, room_id);
        st->run();
        return true;
    };
    auto result = co_await writer_.write(std::move(job));
    if (!result) co_return result.error();
    std::unique_lock lock(mutex_);
    auto it = rooms_.find(room_id);
    if (it == rooms_.end()) co_return DbFailure{DbErrc::failed, 0, "room vanished"};
    it->second.room.*field = std::move(value);
    co_return it->second.room;
}

awaitable<DbResult<std::int64_t>> RoomStore::mark_read(std::string room_id, std::string account_id,
                                                       std::int64_t seq) {
    {
        std::shared_lock lock(mutex_);
        auto it = rooms_.find(room_id);
        if (it == rooms_.end()) co_return DbFailure{DbErrc::failed, 0, "no such room"};
        auto m = it->second.members.find(account_id);
        if (m == it->second.members.end()) co_return DbFailure{DbErrc::failed, 0, "not a member"};
        seq = std::min(seq, it->second.room.last_seq);
        if (seq <= m->second.read_seq) co_return m->second.read_seq;  // nothing to store
    }
    auto job = [room_id, account_id, seq](SqliteDb& db) {
        auto st = db.cached(
            "UPDATE members SET read_seq = max(read_seq, ?) WHERE room_id = ? AND account_id = ?");
        st->bind(1, seq).bind(2, room_id).bind(3, account_id);
        st->run();
        return true;
    };
    auto result = co_await writer_.write(std::move(job));
    if (!result) co_return result.error();
    std::unique_lock lock(mutex_);
    auto it = rooms_.find(room_id);
    if (it == rooms_.end()) co_return seq;
    auto m = it->second.members.find(account_id);
    if (m == it->second.members.end()) co_return seq;
    m->second.read_seq = std::max(m->second.read_seq, seq);
    co_return m->second.read_seq;
}

awaitable<DbResult<Room>> RoomStore::rename(std::string room_id, std::string title) {
    return set_room_text(std::move(room_id), &Room::title,
                         "UPDATE rooms SET title = ? WHERE id = ?", std::move(title));
}

std::int64_t RoomStore::stored_last_seq(SqliteDb& db, const std::string& room_id, bool with_log) {
    // rooms.last_seq is written when history is pruned; between prunes the messages hold it.
    // The log is scanned (it has no index) only when the caller cannot rule the room out of it.
    auto st = db.cached(
        with_log
            ? "SELECT max(last_seq, coalesce((SELECT max(seq) FROM messages WHERE room_id = ?1), "
              "0), coalesce((SELECT max(seq) FROM message_log WHERE room_id = ?1), 0), "
              "coalesce((SELECT max(seq) FROM message_log_b WHERE room_id = ?1), 0)) "
              "FROM rooms WHERE id = ?1"
            : "SELECT max(last_seq, coalesce((SELECT max(seq) FROM messages WHERE room_id = "
              "?1), 0)) FROM rooms WHERE id = ?1");
    st->bind(1, room_id);
    if (st->step() != StepResult::row) throw DbError(19, "no such room");  // SQLITE_CONSTRAINT
    return st->column_int64(0);
}

void RoomStore::load_log_keys(SqliteDb& db) {
    log_ = {};
    // The half being moved is the one message_log_moved names (a move that empties its half
    // clears the names in the same transaction).
    moving_ = -1;
    auto moving = db.cached("SELECT half FROM message_log_moved LIMIT 1");
    if (moving->step() == StepResult::row) moving_ = moving->column_int64(0) == 0 ? 0 : 1;
    std::array<std::unordered_map<std::string, std::vector<ReaderRow>>, 2> loaded;
    for (int half : {0, 1}) {
        static const auto sql = for_each_half(
            "SELECT room_id, sender_id, client_msg_id, seq, rowid FROM {0} l WHERE {4} ORDER BY "
            "room_id, seq");
        auto st = db.cached(sql[half]);
        while (st->step() == StepResult::row) {
            std::string room = st->column_text(0);
            const std::int64_t seq = st->column_int64(3);
            const std::int64_t rowid = st->column_int64(4);
            LogRoom& in_log = log_[half].rooms[room];
            in_log.keys.insert(log_key(st->column_text(1), st->column_text(2)));
            in_log.rowids.push_back(rowid);
            loaded[half][room].push_back(ReaderRow{rowid, seq});
            ++log_[half].rows;
            // A room's log messages are its newest: the largest is its last number.
            auto& last = writer_seqs_[room];
            last = std::max(last, seq);
        }
    }
    {
        // Merged, not replaced: a reader's older snapshot may still need rows moved since. A
        // rowid a rolled-back row had may be listed twice, with two numbers; a reader's IN
        // reads it once, and its filter on the number keeps the entry that is right.
        std::lock_guard lock(reader_log_mutex_);
        for (int half : {0, 1}) {
            for (auto& [room, rows] : loaded[half]) {
                auto& known = reader_log_[half].current[room];
                known.insert(known.end(), rows.begin(), rows.end());
                std::sort(known.begin(), known.end());
                known.erase(std::unique(known.begin(), known.end()), known.end());
            }
        }
        reader_log_ready_ = true;
    }
    if (moving_ < 0 && log_[0].rows > 0 && log_[1].rows > 0) {
        // Not a state the server leaves (a move names the rooms it moved, or empties its
        // half), but a database can be edited: the half with the oldest message moves first,
        // so that a room's messages still move in order.
        moving_ = db.query_int64(
                      "SELECT (SELECT min(sent_at) FROM message_log) > "
                      "(SELECT min(sent_at) FROM message_log_b)") != 0
                      ? 1
                      : 0;
    }
    if (moving_ >= 0) {
        written_ = 1 - moving_;
        next_settle_rows_ = log_[written_].rows + move_step(settle_at_);
    } else {
        written_ = log_[1].rows > 0 ? 1 : 0;
        next_settle_rows_ = settle_at_;
    }
    log_loaded_ = true;
}

std::int64_t RoomStore::last_seq_for_append(SqliteDb& db, const std::string& room_id) {
    if (auto known = writer_seqs_.find(room_id); known != writer_seqs_.end()) return known->second;
    // Not in the log (load_log_keys() counted every room that is): the indexed table and the
    // room's pruned-past number hold it.
    return stored_last_seq(db, room_id, false);
}

std::optional<Message> RoomStore::stored_resend(SqliteDb& db, const Message& m,
                                                const std::string& key) {
    // A row of a room's moved part is a copy of one in `messages` (which a removal updates):
    // the log answers only for rows that have not moved.
    static const auto in_log_sql = for_each_half(
        "SELECT {2} FROM {0} l WHERE room_id = ? AND sender_id = ? AND client_msg_id = ? AND "
        "{4}");
    static const std::string indexed_sql =
        std::string("SELECT ") + kMessageColumns +
        " FROM messages WHERE room_id = ? AND sender_id = ? AND client_msg_id = ?";
    auto find = [&](const std::string& sql) -> std::optional<Message> {
        auto st = db.cached(sql);
        st->bind_borrowed(1, m.room_id).bind_borrowed(2, m.sender_id);
        st->bind_borrowed(3, m.client_msg_id);
        if (st->step() == StepResult::row) return read_message(*st);
        return std::nullopt;
    };
    // An id that sorts after every id this sender has stored in the room, log included (the
    // usual case for ids that sort by time), is no resend: nothing to look up. Otherwise the log
    // is scanned only when its key is there, and the indexed table is one index lookup.
    if (m.client_msg_id > newest_client_msg_id(db, m.room_id, m.sender_id)) return std::nullopt;
    for (int half : {0, 1}) {
        auto in_log = log_[half].rooms.find(m.room_id);
        if (in_log != log_[half].rooms.end() && in_log->second.keys.contains(key)) {
            if (auto found = find(in_log_sql[half])) return found;
        }
    }
    return find(indexed_sql);
}

const std::string& RoomStore::newest_client_msg_id(SqliteDb& db, const std::string& room_id,
                                                   const std::string& sender_id) {
    if (auto room = newest_ids_.find(room_id); room != newest_ids_.end()) {
        if (auto it = room->second.find(sender_id); it != room->second.end()) return it->second;
    }
    if (newest_ids_count_ >= kNewestIdsLimit) {
        // Bounded: forgotten entries are loaded again when next needed.
        newest_ids_.clear();
        newest_ids_count_ = 0;
    }
    // A bound at least the sender's largest id: the largest id in the room's part of
    // `messages`, whoever sent it (the last entry of the room's range of the resend key, whose
    // columns are (room_id, client_msg_id, sender_id): one lookup), and the sender's largest in
    // the log, whose rows move into `messages` later. The sender's own largest in `messages`
    // is no range of that key: asked for it, SQLite walked the room's whole range for a sender
    // who had not written there (73 ms for a room of a million messages, on the writer thread).
    // With ids that begin with the time, a sender's new id is above the bound all the same; one
    // below it costs the indexed lookup, never a missed resend.
    auto st = db.cached("SELECT max(client_msg_id) FROM messages WHERE room_id = ?");
    st->bind_borrowed(1, room_id);
    std::string newest;
    if (st->step() == StepResult::row && !st->column_is_null(0)) newest = st->column_text(0);
    const std::string prefix = log_key(sender_id, "");
    for (const LogHalf& half : log_) {
        auto in_log = half.rooms.find(room_id);
        if (in_log == half.rooms.end()) continue;
        for (const auto& key : in_log->second.keys) {
            if (key.compare(0, prefix.size(), prefix) != 0) continue;
            newest = std::max(newest, key.substr(prefix.size()));
        }
    }
    ++newest_ids_count_;
    return newest_ids_[room_id].emplace(sender_id, std::move(newest)).first->second;
}

std::int64_t RoomStore::settle_log(SqliteDb& db, std::size_t at_least) {
    const auto started = std::chrono::steady_clock::now();
    const std::int64_t moved = move_log(db, at_least);
    if (moved > 0) {
        spdlog::debug("message log: {} messages moved into the history table in {} us", moved,
                      std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count());
    }
    return moved;
}

std::int64_t RoomStore::move_log(SqliteDb& db, std::size_t at_least) {
    settle_pending_ = false;
    if (!log_loaded_) load_log_keys(db);
    // If the move fails, the next try waits for another half's worth of messages.
    next_settle_rows_ = log_[written_].rows + settle_at_;
    const bool everything = at_least == std::numeric_limits<std::size_t>::max();
    std::int64_t moved = 0;
    try {
        while (static_cast<std::size_t>(moved) < at_least) {
            if (moving_ < 0) {
                // The written half moves once it is full; what is written goes to the other.
                const std::size_t rows = log_[written_].rows;
                if (rows == 0 || (rows < settle_at_ && !everything)) break;
                moving_ = written_;
                written_ = 1 - written_;
            }
            moved += move_rooms(db, at_least - static_cast<std::size_t>(moved));
            if (moving_ >= 0) break;  // enough moved, and the half still has rooms
        }
    } catch (...) {
        // The job's statements roll back: what the writer knows of the log is reloaded.
        log_loaded_ = false;
        throw;
    }
    next_settle_rows_ = moving_ >= 0 ? log_[written_].rows + move_step(settle_at_) : settle_at_;
    return moved;
}

std::int64_t RoomStore::move_rooms(SqliteDb& db, std::size_t at_least) {
    LogHalf& half = log_[moving_];
    // The half's rooms in key order, and the biggest of them, which decides whether this step
    // moves one room in part.
    using Entry = std::pair<const std::string, LogRoom>;
    std::vector<const Entry*> in_order;
    in_order.reserve(half.rooms.size());
    const Entry* biggest = nullptr;
    for (const Entry& entry : half.rooms) {
        in_order.push_back(&entry);
        if (!biggest || entry.second.rowids.size() > biggest->second.rowids.size())
            biggest = &entry;
    }
    if (biggest != nullptr && at_least <= kMaxPartialMove &&
        biggest->second.rowids.size() > kPartsAbove * at_least) {
        // One room holds many steps' worth (a busy room, or all of a half): its oldest rows
        // move on their own, so that no step holds the writer for the whole room.
        return move_part(db, biggest->first, at_least);
    }
    // Otherwise whole rooms, the next ones in key order: a step's rooms are then neighbours in
    // `messages` and its resend key, and share the parent pages (and some of the leaves) that
    // a step writes. A step bounded by at_least rows (plus the rest of its last room) holds
    // the writer for milliseconds, not a half.
    std::sort(in_order.begin(), in_order.end(),
              [](const Entry* a, const Entry* b) { return a->first < b->first; });
    // The rows in the list's order, rooms in key order and each room's in its numbers' order
    // (the order they were written in): `messages` takes them in its key order without a sort.
    // Each rowid is in one room's list once, so no row is read twice.
    std::vector<const std::string*> rooms;
    std::size_t moving = 0;
    std::string rowids = "[";
    for (const Entry* entry : in_order) {
        if (moving >= at_least) break;
        rooms.push_back(&entry->first);
        moving += entry->second.rowids.size();
        append_rowids(rowids, entry->second.rowids.begin(), entry->second.rowids.end());
    }
    rowids += ']';
    // By rowid, the rest of the half too: a scan of the half would test every row, moved or
    // not, against message_log_moved, and the last step of each half took 10-21 ms instead of
    // 2-4 (docs/benchmarks.md, "thirteenth step").
    auto insert = db.cached(move_by_list_sql()[moving_]);
    insert->bind_borrowed(1, rowids);
    insert->run();
    const std::int64_t moved = db.changes();
    if (rooms.size() == half.rooms.size()) {
        // The half's last rooms: it is emptied in one step (SQLite frees its pages whole), its
        // moved rooms' names with it.
        static const auto empty = for_each_half("DELETE FROM {0}");
        db.cached(empty[moving_])->run();
        db.cached("DELETE FROM message_log_moved")->run();
        {
            // Readers whose snapshot is older than this commit still find the half's rows.
            std::lock_guard lock(reader_log_mutex_);
            ReaderLog& readers = reader_log_[moving_];
            readers.previous = std::move(readers.current);
            readers.current.clear();
            ++readers.emptied;
        }
        half = LogHalf{};
        moving_ = -1;
        return moved;
    }
    // The moved rows stay in the half, which readers and the writer now skip for these rooms.
    auto name = db.cached(kNameMoved);
    for (const std::string* room : rooms) {
        name->reset();
        name->bind(1, moving_).bind_borrowed(2, *room).bind(3, kAllOfRoom);
        name->run();
    }
    for (const std::string* room : rooms) {
        auto it = half.rooms.find(*room);
        half.rows -= std::min(half.rows, it->second.rowids.size());
        half.rooms.erase(it);
    }
    return moved;
}

std::int64_t RoomStore::move_part(SqliteDb& db, const std::string& room, std::size_t count) {
    LogHalf& half = log_[moving_];
    LogRoom& in_log = half.rooms.at(room);
    count = std::min(count, in_log.rowids.size());
    // A room's rowids are in the order of its numbers (it is written in that order): the first
    // `count` are its oldest messages in the half.
    std::string rowids = "[";
    append_rowids(rowids, in_log.rowids.begin(),
                  in_log.rowids.begin() + static_cast<std::ptrdiff_t>(count));
    rowids += ']';
    auto insert = db.cached(move_by_list_sql()[moving_]);
    insert->bind_borrowed(1, rowids);
    insert->run();
    const std::int64_t moved = db.changes();
    static const auto last_sql =
        for_each_half("SELECT max(seq) FROM {0} WHERE rowid IN (SELECT value FROM json_each(?))");
    auto last = db.cached(last_sql[moving_]);
    last->bind_borrowed(1, rowids);
    if (last->step() != StepResult::row) throw DbError(1, "message log: a moved part has no rows");
    const std::int64_t up_to = last->column_int64(0);
    last->reset();
    // Readers and the writer skip the room's rows up to `up_to` in this half from here on.
    auto name = db.cached(kNameMoved);
    name->bind(1, moving_).bind_borrowed(2, room).bind(3, up_to);
    name->run();
    in_log.rowids.erase(in_log.rowids.begin(),
                        in_log.rowids.begin() + static_cast<std::ptrdiff_t>(count));
    half.rows -= std::min(half.rows, count);
    return moved;
}

awaitable<DbResult<AppendResult>> RoomStore::append(
    Message message, std::function<void(SqliteDb&, const Message&)> also) {
    // On the writer thread, in commit order: the room's next number comes from writer_seqs_,
    // which holds the last number of every room this writer has numbered (loaded from the
    // database on first use and forgotten when a batch rolls back). Without `also` the insert
    // is the job's only change, so it runs without a savepoint; a resend is the insert's
    // conflict. With `also` (a message that mentions someone) a savepoint undoes the insert
    // when `also` fails. The message and `also` ride in the job behind a pointer: the job is
    // moved from queue to queue several times on its way to the writer, and a Message is six
    // strings.
    struct Held {
        std::unique_ptr<Message> message;
        std::function<void(SqliteDb&, const Message&)> also;
    };
    const bool alone = !also;
    auto job = [this,
                held = std::make_unique<Held>(Held{std::make_unique<Message>(std::move(message)),
                                                   std::move(also)})](SqliteDb& db) mutable {
        const Message& message = *held->message;
        const auto& also = held->also;
        AppendResult out;
        if (!log_loaded_) load_log_keys(db);
        std::string key = log_key(message.sender_id, message.client_msg_id);
        if (auto stored = stored_resend(db, message, key)) {
            out.message = std::make_unique<Message>(std::move(*stored));
            out.duplicate = true;
            return out;
        }
        const std::int64_t last = last_seq_for_append(db, message.room_id);
        // The job runs once: its message becomes the result without a copy.
        out.message = std::move(held->message);
        out.message->seq = last + 1;
        static const auto insert_sql =
            for_each_half("INSERT INTO {0}({2}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
        const Message& m = *out.message;
        {
            // Borrowed binds: out.message outlives `ins`, and copying five strings into
            // SQLite per message showed in the profile.
            auto ins = db.cached(insert_sql[written_]);
            ins->bind_borrowed(1, m.room_id).bind(2, m.seq).bind_borrowed(3, m.sender_id);
            ins->bind_borrowed(4, m.client_msg_id).bind_borrowed(5, m.text);
            if (m.signature.empty()) {
                ins->bind_null(6);
            } else {
                ins->bind_blob_borrowed(6, m.signature.data(), m.signature.size());
            }
            ins->bind(7, m.sent_at);
            if (m.media.empty()) {
                ins->bind_null(8);
            } else {
                ins->bind_borrowed(8, m.media);
            }
            try {
                ins->run();
                if (also) also(db, m);
            } catch (...) {
                writer_seqs_.erase(m.room_id);  // reloaded from the database next time
                throw;
            }
        }
        writer_seqs_[m.room_id] = m.seq;
        LogHalf& half = log_[written_];
        LogRoom& in_log = half.rooms[m.room_id];
        in_log.keys.insert(std::move(key));
        // Only ever raised, so that it stays at least the largest stored id (a rolled-back
        // insert leaves it too high, which costs a lookup, never a missed resend).
        if (auto room = newest_ids_.find(m.room_id); room != newest_ids_.end()) {
            if (auto it = room->second.find(m.sender_id); it != room->second.end()) {
                if (m.client_msg_id > it->second) it->second = m.client_msg_id;
            }
        }
        const std::int64_t rowid = db.last_insert_rowid();
        in_log.rowids.push_back(rowid);
        {
            std::lock_guard lock(reader_log_mutex_);
            reader_log_[written_].current[m.room_id].push_back(ReaderRow{rowid, m.seq});
        }
        if (++half.rows >= next_settle_rows_ && !settle_pending_) {
            settle_pending_ = true;
            settle_wanted_ = true;
        }
        return out;
    };
    DbResult<AppendResult> result = DbFailure{};
    if (alone) {
        result = co_await writer_.write_atomic(std::move(job));
    } else {
        result = co_await writer_.write(std::move(job));
    }
    if (settle_wanted_.exchange(false)) {
        // Not awaited: the sender's answer does not wait for the move.
        auto executor = co_await net::this_coro::executor;
        writer_.async_write([this](SqliteDb& db) { return settle_log(db, move_step(settle_at_)); },
                            net::bind_executor(executor, [](DbResult<std::int64_t> moved) {
                                if (!moved) {
                                    spdlog::error(
                                        "message log: moving it into the history table failed: {}",
                                        moved.error().message);
                                    return;
                                }
                            }));
    }
    co_return result;
}

awaitable<DbResult<std::int64_t>> RoomStore::settle() {
    co_return co_await writer_.write(
        [this](SqliteDb& db) { return settle_log(db, std::numeric_limits<std::size_t>::max()); });
}

awaitable<DbResult<bool>> RoomStore::remove_message(std::string room_id, std::int64_t seq) {
    auto job = [room_id, seq](SqliteDb& db) {
        // A moving half's rows of a room that has moved are copies of rows in `messages`: the
        // log's updates skip them as readers do.
        static const auto in_log = for_each_half(
            "UPDATE {0} AS l SET deleted = 1, text = '', signature = NULL, media = NULL WHERE "
            "room_id = ?1 AND seq = ?2 AND deleted = 0 AND {4}");
        static const std::array<std::string, 3> sql = {
            "UPDATE messages SET deleted = 1, text = '', signature = NULL, media = NULL WHERE "
            "room_id = ? AND seq = ? AND deleted = 0",
            in_log[0], in_log[1]};
        for (const std::string& update : sql) {
            auto st = db.cached(update);
            st->bind(1, room_id).bind(2, seq);
            st->run();
            if (db.changes() > 0) return true;
        }
        return false;
    };
    auto result = co_await writer_.write(std::move(job));
    if (!result) co_return result.error();
    if (*result) {
        std::unique_lock lock(mutex_);
        if (auto it = rooms_.find(room_id); it != rooms_.end()) {
            auto& recent = it->second.recent;
            recent.erase(std::remove_if(recent.begin(), recent.end(),
                                        [seq](const Message& m) { return m.seq == seq; }),
                         recent.end());
        }
    }
    co_return *result;
}

awaitable<DbResult<bool>> RoomStore::delete_room(std::string room_id) {
    auto job = [this, room_id](SqliteDb& db) {
        writer_seqs_.erase(room_id);
        log_loaded_ = false;  // the room's messages in the log go with it
        // The log has no foreign key (migration 11): its rows go here, in the same transaction.
        static const auto in_log = for_each_half("DELETE FROM {0} WHERE room_id = ?");
        for (const std::string& sql : in_log) {
            auto log = db.cached(sql);
            log->bind(1, room_id);
            log->run();
        }
        auto st = db.cached("DELETE FROM rooms WHERE id = ?");
        st->bind(1, room_id);
        st->run();
        return db.changes() > 0;
    };
    auto result = co_await writer_.write(std::move(job));
    if (!result) co_return result.error();
    std::unique_lock lock(mutex_);
    if (auto it = rooms_.find(room_id); it != rooms_.end()) {
        for (const auto& [account, m] : it->second.members) {
            if (auto a = by_account_.find(account); a != by_account_.end()) {
                a->second.erase(room_id);
                if (a->second.empty()) by_account_.erase(a);
            }
        }
        rooms_.erase(it);
    }
    co_return *result;
}

void RoomStore::load_log_soon() {
    writer_.async_write(
        [this](SqliteDb& db) {
            if (!log_loaded_) load_log_keys(db);
            return true;
        },
        [](DbResult<bool> loaded) {
            // Not fatal: the first send loads it again, and reads scan the log until then.
            if (!loaded) spdlog::warn("message log: loading it failed: {}", loaded.error().message);
        });
}

bool RoomStore::log_rowids_ready() {
    std::lock_guard lock(reader_log_mutex_);
    return reader_log_ready_;
}

std::array<std::uint64_t, 2> RoomStore::reader_log_emptied() {
    std::lock_guard lock(reader_log_mutex_);
    return {reader_log_[0].emptied, reader_log_[1].emptied};
}

std::optional<std::array<std::string, 2>> RoomStore::reader_rowids(
    const std::string& room, std::int64_t after,
    const std::array<std::uint64_t, 2>& emptied_before) {
    std::array<std::string, 2> lists;
    std::lock_guard lock(reader_log_mutex_);
    if (!reader_log_ready_) return std::nullopt;
    for (int half : {0, 1}) {
        const ReaderLog& log = reader_log_[half];
        // `previous` covers one emptying since the snapshot began, not two.
        if (log.emptied > emptied_before[half] + 1) return std::nullopt;
        std::string& list = lists[half];
        list = "[";
        for (const auto* rows : {&log.previous, &log.current}) {
            auto it = rows->find(room);
            if (it == rows->end()) continue;
            for (const ReaderRow& row : it->second) {
                if (row.seq > after) append_rowid(list, row.rowid);
            }
        }
        list += ']';
    }
    return lists;
}

awaitable<DbResult<std::vector<Message>>> RoomStore::messages_after(std::string room_id,
                                                                    std::int64_t after, int limit) {
    auto job = [this, room_id, after, limit](SqliteDb& db) {
        // Every message of a room in the log is newer than all of that room's messages in
        // `messages`: when `messages` alone holds `limit` of them after `after`, they are the
        // answer, found by its key without reading the log. Otherwise the log adds the room's
        // rows, found by the rowids the writer published (reader_rowids), or, before it has,
        // by the view, which scans both halves. The job's read transaction holds one snapshot
        // for all of it, begun by the first statement, before the rowids are taken: every row
        // it holds is in their lists.
        // One query of the room's rows after ?2 from each source, so that the answers agree.
        static const auto rows_of = [](std::string_view from) {
            return fmt::format("SELECT {} FROM {} WHERE room_id = ?1 AND seq > ?2 AND deleted = 0",
                               kMessageColumns, from);
        };
        static const std::string first_limit = " ORDER BY seq LIMIT ?3";
        static const std::string in_messages = rows_of("messages") + first_limit;
        static const std::string in_view = rows_of("all_messages") + first_limit;
        static const std::string by_rowid = [] {
            std::string sql = rows_of("messages");
            // Each half's rowid list is a parameter of its own: ?4 and ?5.
            for (int half : {0, 1}) {
                sql += fmt::format(
                    " UNION ALL {} AND rowid IN (SELECT value FROM json_each(?{})) AND {}",
                    rows_of(fmt::format("{} l", kLogTables[half])), half + 4, unmoved_in(half));
            }
            return sql + first_limit;
        }();
        const auto emptied_before = reader_log_emptied();
        std::vector<Message> out;
        auto read = [&](const std::string& sql, const std::array<std::string, 2>* rowids) {
            out.clear();
            auto st = db.cached(sql);
            st->bind(1, room_id).bind(2, after).bind(3, limit);
            if (rowids) st->bind_borrowed(4, (*rowids)[0]).bind_borrowed(5, (*rowids)[1]);
            while (st->step() == StepResult::row)
                out.push_back(read_message(*st));
        };
        read(in_messages, nullptr);
        if (std::cmp_greater_equal(out.size(), limit)) return out;
        if (auto rowids = reader_rowids(room_id, after, emptied_before)) {
            read(by_rowid, &*rowids);
        } else {
            read(in_view, nullptr);
        }
        return out;
    };
    co_return co_await readers_.read(std::move(job));
}

awaitable<DbResult<std::int64_t>> RoomStore::prune(std::string room_id, std::int64_t keep) {
    // The highest number pruned, for the cache (the job's numbers are the database's).
    auto cutoff = std::make_shared<std::int64_t>(0);
    auto job = [this, room_id, keep, cutoff](SqliteDb& db) {
        // The room's last number must outlive the messages that held it (append() numbers on
        // from max(rooms.last_seq, newest message)).
        const std::int64_t last = stored_last_seq(db, room_id, true);
        *cutoff = last - keep;
        auto keep_last = db.cached("UPDATE rooms SET last_seq = ?1 WHERE id = ?2");
        keep_last->bind(1, last).bind(2, room_id);
        keep_last->run();
        // A moving half's rows of a room that has moved are copies of rows in `messages`: they
        // are left for the half's emptying, and not counted twice.
        static const auto in_log = for_each_half(
            "DELETE FROM {0} AS l WHERE room_id = ?1 AND seq <= (SELECT last_seq FROM rooms WHERE "
            "id = ?1) - ?2 AND {4}");
        static const std::array<std::string, 3> sql = {
            "DELETE FROM messages WHERE room_id = ?1 AND seq <= (SELECT last_seq FROM rooms "
            "WHERE id = ?1) - ?2",
            in_log[0], in_log[1]};
        std::int64_t pruned = 0;
        for (const std::string& remove : sql) {
            auto st = db.cached(remove);
            st->bind(1, room_id).bind(2, keep);
            st->run();
            pruned += db.changes();
        }
        // Keys of pruned log messages would name rows that are gone: reload them.
        log_loaded_ = false;
        return pruned;
    };
    auto result = co_await writer_.write(std::move(job));
    if (result && *result > 0) {
        // The recent messages in memory go too: history reads must not show what is gone.
        std::unique_lock lock(mutex_);
        if (auto it = rooms_.find(room_id); it != rooms_.end()) {
            auto& recent = it->second.recent;
            while (!recent.empty() && recent.front().seq <= *cutoff)
                recent.pop_front();
        }
    }
    co_return result;
}

}  // namespace parley
