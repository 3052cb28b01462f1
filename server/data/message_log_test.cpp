// RoomStore's message log: messages are committed to message_log and moved into the indexed
// messages table once the log is full. Whichever table a message is in, it is found by history
// reads, by a resend and by a removal, is counted once, and survives a restart.
#include <catch2/catch.hpp>

#include "server/data/room_store.hpp"
#include "server/data/store_test_support.hpp"

namespace parley {

using test::run;

namespace {

Message message(const std::string& room, const std::string& cmid) {
    Message m;
    m.room_id = room;
    m.sender_id = "o";
    m.client_msg_id = cmid;
    m.text = "text of " + cmid;
    m.sent_at = 1;
    return m;
}

std::int64_t rows(const std::string& path, const std::string& table) {
    SqliteDb db(path, SqliteOptions{OpenMode::read_only});
    return db.query_int64("SELECT count(*) FROM " + table);
}

// Messages in the log that readers see (a moving half's moved rooms are in `messages` already).
std::int64_t logged(const std::string& path) {
    return rows(path, "all_messages") - rows(path, "messages");
}

std::vector<std::string> history_ids(net::io_context& ioc, RoomStore& rooms,
                                     const std::string& room, std::int64_t after, int limit) {
    auto history = run(ioc, rooms.messages_after(room, after, limit));
    REQUIRE(history);
    std::vector<std::string> ids;
    for (const auto& m : *history)
        ids.push_back(m.client_msg_id);
    return ids;
}

// A RoomStore on the database at `path` with its writer and readers, loaded as a server start
// loads it.
struct ReopenedStore {
    ReopenedStore(const std::string& path, std::size_t recent, std::size_t log_rows)
        : writer(SqliteDb(path), DbSettings{}),
          readers(path, DbSettings{}),
          rooms(writer, readers, recent, log_rows) {
        SqliteDb db(path);
        rooms.load(db);
    }
    DbWriter writer;
    DbReaderPool readers;
    RoomStore rooms;
};

}  // namespace

TEST_CASE("the message log moves into the history table and every message is found once",
          "[server][store]") {
    test::TempCurrentDb t("message-log");
    t.add_accounts({{"o", "olga"}});
    net::io_context ioc;
    const int log_rows = 5;  // a half moves once it holds 5 messages, a room at a time
    {
        DbWriter writer(SqliteDb(t.path), DbSettings{});
        DbReaderPool readers(t.path, DbSettings{});
        RoomStore rooms(writer, readers, 50, log_rows);
        for (const char* id : {"r1", "r2"}) {
            Room room{id, "group", "t", false, "o", 1, 0};
            REQUIRE(
                run(ioc, rooms.create_room(room, {Member{id, "o", "owner", "olga", "", 1, 0}})));
        }
        // Four messages stay in the log; the fifth fills the written half, which starts moving:
        // whole rooms in key order, so r1 (m1, m3, m5) moves first (run() waits for the move,
        // which the append submitted). Its rows stay in the half, left out by readers.
        for (int i = 1; i <= 4; ++i) {
            auto stored =
                run(ioc, rooms.append(message(i % 2 ? "r1" : "r2", "m" + std::to_string(i))));
            REQUIRE(stored);
        }
        CHECK(logged(t.path) == 4);
        CHECK(rows(t.path, "messages") == 0);
        REQUIRE(run(ioc, rooms.append(message("r1", "m5"))));
        CHECK(rows(t.path, "messages") == 3);
        CHECK(logged(t.path) == 2);
        CHECK(rows(t.path, "message_log") == 5);
        CHECK(rows(t.path, "all_messages") == 5);
        {
            SqliteDb db(t.path, SqliteOptions{OpenMode::read_only});
            CHECK(db.query_text("SELECT room_id FROM message_log_moved WHERE half = 0") == "r1");
        }

        // The next message goes to the other half, and the next move ends the moving one: r2
        // moves, and the half is emptied whole with the names of its moved rooms.
        auto m6 = run(ioc, rooms.append(message("r1", "m6")));
        REQUIRE(m6);
        CHECK(m6->message->seq == 4);  // r1: m1, m3, m5, m6
        CHECK(rows(t.path, "message_log") == 0);
        CHECK(rows(t.path, "message_log_moved") == 0);
        CHECK(rows(t.path, "message_log_b") == 1);
        CHECK(rows(t.path, "messages") == 5);
        REQUIRE(run(ioc, rooms.append(message("r2", "m7"))));
        CHECK(logged(t.path) == 2);

        // Resends, from either table, return the stored message and take no number.
        auto settled = run(ioc, rooms.append(message("r1", "m3")));
        REQUIRE(settled);
        CHECK((settled->duplicate && settled->message->seq == 2 &&
               settled->message->text == "text of m3"));
        auto in_log = run(ioc, rooms.append(message("r1", "m6")));
        REQUIRE(in_log);
        CHECK((in_log->duplicate && in_log->message->seq == 4));
        CHECK(logged(t.path) == 2);

        // History reads both, in order.
        CHECK(history_ids(ioc, rooms, "r1", 0, 100) ==
              std::vector<std::string>{"m1", "m3", "m5", "m6"});
        // A read that the indexed table answers alone, and one that runs on into the log.
        CHECK(history_ids(ioc, rooms, "r1", 0, 2) == std::vector<std::string>{"m1", "m3"});
        CHECK(history_ids(ioc, rooms, "r1", 1, 3) == std::vector<std::string>{"m3", "m5", "m6"});
        CHECK(history_ids(ioc, rooms, "r1", 3, 3) == std::vector<std::string>{"m6"});

        // A removal finds the message in either table.
        auto removed_settled = run(ioc, rooms.remove_message("r1", 1));
        auto removed_logged = run(ioc, rooms.remove_message("r1", 4));
        REQUIRE((removed_settled && removed_logged));
        CHECK((*removed_settled && *removed_logged));
        auto after_removal = run(ioc, rooms.messages_after("r1", 0, 100));
        REQUIRE(after_removal);
        CHECK(after_removal->size() == 2);
        // Removed messages are not counted towards a limit in either table.
        CHECK(history_ids(ioc, rooms, "r1", 0, 1) == std::vector<std::string>{"m3"});
        CHECK(history_ids(ioc, rooms, "r1", 2, 5) == std::vector<std::string>{"m5"});

        // The second half fills (r1: m6, m9, m10; r2: m7, m8) and starts moving: r1, the first
        // room in key order, moves.
        REQUIRE(run(ioc, rooms.append(message("r2", "m8"))));
        for (const char* cmid : {"m9", "m10"})
            REQUIRE(run(ioc, rooms.append(message("r1", cmid))));
        CHECK(rows(t.path, "message_log_b") == 5);
        CHECK(logged(t.path) == 2);
        CHECK(rows(t.path, "messages") == 8);
        CHECK(rows(t.path, "all_messages") == 10);
        {
            SqliteDb db(t.path, SqliteOptions{OpenMode::read_only});
            CHECK(db.query_text("SELECT room_id FROM message_log_moved WHERE half = 1") == "r1");
        }
        // A moved message's copy left in the half is not a second message to remove.
        auto removed = run(ioc, rooms.remove_message("r1", 5));
        REQUIRE(removed);
        CHECK(*removed);
        auto again = run(ioc, rooms.remove_message("r1", 5));
        REQUIRE(again);
        CHECK_FALSE(*again);
        writer.stop();
    }

    // A restart with a half still moving: its rooms that moved stay moved, the others are
    // recent and still resends, and the numbers go on.
    ReopenedStore store(t.path, 50, log_rows);
    RoomStore& rooms = store.rooms;
    CHECK(rooms.room("r2")->last_seq == 4);
    CHECK(rooms.room("r1")->last_seq == 6);
    bool complete = false;
    auto recent = rooms.recent_after("r1", 0, complete);
    REQUIRE(recent.size() == 3);  // m3, m5, m10: each once, m1, m6 and m9 removed
    CHECK(recent.back().client_msg_id == "m10");
    auto recent_r2 = rooms.recent_after("r2", 0, complete);
    REQUIRE(recent_r2.size() == 4);  // m2, m4, m7, m8
    CHECK(recent_r2.back().client_msg_id == "m8");
    auto resent_moved = run(ioc, rooms.append(message("r1", "m10")));
    REQUIRE(resent_moved);
    CHECK((resent_moved->duplicate && resent_moved->message->seq == 6));
    auto resent_logged = run(ioc, rooms.append(message("r2", "m8")));
    REQUIRE(resent_logged);
    CHECK((resent_logged->duplicate && resent_logged->message->seq == 4));

    // A prune while the half moves counts each message once (m1, m3, m5, m6, m9 are in
    // `messages`, m6 and m9 have copies in the half too), and the pruned keys are no longer
    // resends.
    auto pruned = run(ioc, rooms.prune("r1", 1));
    REQUIRE(pruned);
    CHECK(*pruned == 5);
    CHECK(rows(t.path, "all_messages") == 5);
    // A new message goes to the written half, and the move after it ends the moving one.
    auto fresh = run(ioc, rooms.append(message("r1", "m9")));
    REQUIRE(fresh);
    CHECK((!fresh->duplicate && fresh->message->seq == 7));
    CHECK(rows(t.path, "message_log_b") == 0);
    CHECK(rows(t.path, "message_log") == 1);
    CHECK(rows(t.path, "all_messages") == 6);

    // An explicit settle moves whatever is left; the totals do not change.
    const auto total = rows(t.path, "all_messages");
    auto moved = run(ioc, rooms.settle());
    REQUIRE(moved);
    CHECK(*moved == 1);
    CHECK(logged(t.path) == 0);
    CHECK(rows(t.path, "message_log") == 0);
    CHECK(rows(t.path, "all_messages") == total);
    store.writer.stop();
}

TEST_CASE("whole rooms move in key order, whatever their size", "[server][store]") {
    // A step's rooms are neighbours in `messages` when they are taken in key order, so they
    // share the pages the step writes; the larger room here sorts last, so taking rooms
    // largest first would move it first.
    test::TempCurrentDb t("message-log-key-order");
    t.add_accounts({{"o", "olga"}});
    net::io_context ioc;
    const int log_rows = 6;  // a step is one row: one whole room (none is four steps' worth)
    DbWriter writer(SqliteDb(t.path), DbSettings{});
    DbReaderPool readers(t.path, DbSettings{});
    RoomStore rooms(writer, readers, 50, log_rows);
    for (const char* id : {"ra", "rb", "rc"}) {
        Room room{id, "group", "t", false, "o", 1, 0};
        REQUIRE(run(ioc, rooms.create_room(room, {Member{id, "o", "owner", "olga", "", 1, 0}})));
    }
    // rc: 3 messages, rb: 2, ra: 1; the sixth fills the half and the first step moves ra.
    int n = 0;
    for (const char* room : {"rc", "rb", "rc", "ra", "rb", "rc"})
        REQUIRE(run(ioc, rooms.append(message(room, "m" + std::to_string(++n)))));
    auto moved = [&t] {
        SqliteDb db(t.path, SqliteOptions{OpenMode::read_only});
        std::vector<std::string> names;
        auto st =
            db.prepare("SELECT room_id FROM message_log_moved WHERE half = 0 ORDER BY room_id");
        while (st.step() == StepResult::row)
            names.push_back(st.column_text(0));
        return names;
    };
    CHECK(moved() == std::vector<std::string>{"ra"});
    CHECK(rows(t.path, "messages") == 1);
    // The next message asks for the next step: rb, then rc with the half's emptying.
    REQUIRE(run(ioc, rooms.append(message("ra", "m7"))));
    CHECK(moved() == std::vector<std::string>{"ra", "rb"});
    CHECK(rows(t.path, "messages") == 3);
    REQUIRE(run(ioc, rooms.append(message("ra", "m8"))));
    CHECK(moved().empty());
    CHECK(rows(t.path, "messages") == 6);
    CHECK(rows(t.path, "all_messages") == 8);
    writer.stop();
}

TEST_CASE("a room larger than a few move steps moves in parts, and every message is found once",
          "[server][store]") {
    test::TempCurrentDb t("message-log-parts");
    t.add_accounts({{"o", "olga"}});
    net::io_context ioc;
    // A step is 64 / 32 = 2 rows; a room with more than 4 steps' worth moves 2 rows at a time.
    const int log_rows = 64;
    std::vector<std::string> big_ids, small_ids;
    auto id = [](const char* prefix, int i) { return prefix + std::to_string(i); };
    auto moved_up_to = [&](int half) {
        SqliteDb db(t.path, SqliteOptions{OpenMode::read_only});
        return db.query_int64(
            "SELECT coalesce(max(up_to_seq), 0) FROM message_log_moved WHERE room_id = 'big' "
            "AND half = " +
            std::to_string(half));
    };
    {
        DbWriter writer(SqliteDb(t.path), DbSettings{});
        DbReaderPool readers(t.path, DbSettings{});
        RoomStore rooms(writer, readers, 5, log_rows);
        for (const char* room_id : {"big", "small"}) {
            Room room{room_id, "group", "t", false, "o", 1, 0};
            REQUIRE(run(
                ioc, rooms.create_room(room, {Member{room_id, "o", "owner", "olga", "", 1, 0}})));
        }
        auto check_all_once = [&] {
            CHECK(rows(t.path, "all_messages") ==
                  static_cast<std::int64_t>(big_ids.size() + small_ids.size()));
            CHECK(history_ids(ioc, rooms, "big", 0, 1000) == big_ids);
            CHECK(history_ids(ioc, rooms, "small", 0, 1000) == small_ids);
        };
        // The first half: 60 messages of one room, 4 of another. The 64th fills it, and the
        // first step moves the big room's two oldest messages, not the whole room.
        for (int i = 1; i <= 60; ++i) {
            big_ids.push_back(id("b", i));
            REQUIRE(run(ioc, rooms.append(message("big", big_ids.back()))));
        }
        for (int i = 1; i <= 4; ++i) {
            small_ids.push_back(id("s", i));
            REQUIRE(run(ioc, rooms.append(message("small", small_ids.back()))));
        }
        CHECK(rows(t.path, "messages") == 2);
        CHECK(moved_up_to(0) == 2);
        check_all_once();
        // Every two messages in the other half move two more of the big room's.
        for (int i = 5; i <= 8; ++i) {
            small_ids.push_back(id("s", i));
            REQUIRE(run(ioc, rooms.append(message("small", small_ids.back()))));
            check_all_once();
        }
        CHECK(rows(t.path, "messages") == 6);
        CHECK(moved_up_to(0) == 6);
        // Resends of a moved message and of one still in the moving half: the stored ones.
        auto moved_resend = run(ioc, rooms.append(message("big", "b1")));
        REQUIRE(moved_resend);
        CHECK((moved_resend->duplicate && moved_resend->message->seq == 1));
        auto logged_resend = run(ioc, rooms.append(message("big", "b30")));
        REQUIRE(logged_resend);
        CHECK((logged_resend->duplicate && logged_resend->message->seq == 30));
        // Removals find a moved message once (its copy in the half is not a second one) and
        // one that has not moved.
        for (std::int64_t seq : {2, 30}) {
            auto removed = run(ioc, rooms.remove_message("big", seq));
            REQUIRE(removed);
            CHECK(*removed);
            auto again = run(ioc, rooms.remove_message("big", seq));
            REQUIRE(again);
            CHECK_FALSE(*again);
        }
        big_ids.erase(big_ids.begin() + 29);
        big_ids.erase(big_ids.begin() + 1);
        CHECK(history_ids(ioc, rooms, "big", 0, 1000) == big_ids);
        // A resend of the removed, moved message is answered from `messages` (removed), not
        // from its older copy left in the half.
        auto removed_resend = run(ioc, rooms.append(message("big", "b2")));
        REQUIRE(removed_resend);
        CHECK((removed_resend->duplicate && removed_resend->message->seq == 2));
        CHECK(removed_resend->message->text.empty());
        writer.stop();
    }

    // A restart in the middle of the big room's move: what moved stays moved, the rest is read
    // from the log, and the moves go on from where they were.
    ReopenedStore store(t.path, 5, log_rows);
    RoomStore& rooms = store.rooms;
    CHECK(rooms.room("big")->last_seq == 60);
    bool complete = false;
    auto recent = rooms.recent_after("big", 0, complete);
    REQUIRE(recent.size() == 5);
    CHECK(recent.back().client_msg_id == "b60");
    auto resent = run(ioc, rooms.append(message("big", "b7")));
    REQUIRE(resent);
    CHECK((resent->duplicate && resent->message->seq == 7));
    // A prune whose cut falls in the big room's unmoved rows counts each message once.
    auto pruned = run(ioc, rooms.prune("big", 50));
    REQUIRE(pruned);
    CHECK(*pruned == 10);  // seq 1-6 from `messages`, 7-10 from the half; none twice
    {
        auto history = run(ioc, rooms.messages_after("big", 0, 1000));
        REQUIRE(history);
        REQUIRE(!history->empty());
        CHECK(history->front().seq == 11);
        CHECK(history->size() == 49);  // 11-60 without seq 30
    }
    // The rest of the half moves as the other one fills: in parts while the big room holds
    // many steps' worth, then whole rooms, then the half is emptied.
    std::int64_t last_mark = moved_up_to(0);
    for (int i = 9; rows(t.path, "message_log") > 0; ++i) {
        REQUIRE(i < 200);
        REQUIRE(run(ioc, rooms.append(message("small", id("s", i)))));
        const std::int64_t mark = moved_up_to(0);
        if (rows(t.path, "message_log") > 0) CHECK(mark >= last_mark);
        last_mark = mark;
    }
    CHECK(rows(t.path, "message_log_moved") == 0);
    {
        auto history = run(ioc, rooms.messages_after("big", 0, 1000));
        REQUIRE(history);
        CHECK(history->size() == 49);
        SqliteDb db(t.path, SqliteOptions{OpenMode::read_only});
        CHECK(db.query_int64("SELECT count(*) FROM messages WHERE room_id = 'big'") == 50);
    }
    store.writer.stop();
}

TEST_CASE("a resend is found when its id is the newest its sender stored, across a restart",
          "[server][store]") {
    // The writer skips the indexed lookup for an id above every id the sender has stored in
    // the room; that bound must count the ids still in the log, which move later.
    test::TempCurrentDb t("newest-ids");
    t.add_accounts({{"o", "olga"}});
    net::io_context ioc;
    const int log_rows = 100;  // nothing moves by itself
    // Sends `cmid` in room r and checks whether it was a resend and the number it has.
    auto sends = [&ioc](RoomStore& rooms, const char* cmid, bool resend, std::int64_t seq) {
        auto stored = run(ioc, rooms.append(message("r", cmid)));
        REQUIRE(stored);
        CHECK(stored->duplicate == resend);
        CHECK(stored->message->seq == seq);
    };
    {
        DbWriter writer(SqliteDb(t.path), DbSettings{});
        DbReaderPool readers(t.path, DbSettings{});
        RoomStore rooms(writer, readers, 50, log_rows);
        Room room{"r", "group", "t", false, "o", 1, 0};
        REQUIRE(run(ioc, rooms.create_room(room, {Member{"r", "o", "owner", "olga", "", 1, 0}})));
        REQUIRE(run(ioc, rooms.append(message("r", "b"))));
        REQUIRE(run(ioc, rooms.settle()));
        // In `messages` and the newest: a resend, not a new message.
        sends(rooms, "b", true, 1);
        // Below the newest: a new message, and then its own resend.
        sends(rooms, "a", false, 2);
        REQUIRE(run(ioc, rooms.settle()));
        sends(rooms, "a", true, 2);
        // Above: new; left in the log for the restart.
        sends(rooms, "z", false, 3);
        writer.stop();
    }
    DbWriter writer(SqliteDb(t.path), DbSettings{});
    DbReaderPool readers(t.path, DbSettings{});
    RoomStore rooms(writer, readers, 50, log_rows);
    {
        SqliteDb db(t.path);
        rooms.load(db);
    }
    // The first send after the restart loads the bound while "z" is still in the log...
    sends(rooms, "c", false, 4);
    // ... so once "z" has moved into `messages`, its resend is still found there.
    REQUIRE(run(ioc, rooms.settle()));
    sends(rooms, "z", true, 3);
    CHECK(rows(t.path, "all_messages") == 4);
    writer.stop();
}

TEST_CASE("a sender's first message in a room with a long history is not a scan of it",
          "[server][store]") {
    // The bound of a sender's stored ids is loaded on the sender's first message in a room
    // after a start. It used to be the sender's own largest id in `messages`, which the resend
    // key (room_id, client_msg_id, sender_id) has no range for: a sender who had never written
    // in the room made SQLite walk the room's whole history, on the writer thread.
    test::TempCurrentDb t("newest-ids-long-room");
    t.add_accounts({{"o", "olga"}, {"p", "pia"}, {"q", "quinn"}, {"s", "sam"}});
    net::io_context ioc;
    const std::int64_t history = 1000000;
    {
        DbWriter writer(SqliteDb(t.path), DbSettings{});
        DbReaderPool readers(t.path, DbSettings{});
        RoomStore rooms(writer, readers, 50, 100);
        Room room{"r", "group", "t", false, "o", 1, 0};
        std::vector<Member> members;
        for (const char* id : {"o", "p", "q", "s"})
            members.push_back(Member{"r", id, id[0] == 'o' ? "owner" : "member", id, "", 1, 0});
        REQUIRE(run(ioc, rooms.create_room(room, members)));
        writer.stop();
    }
    {
        // o's long history, written straight into `messages`; ids with a time-like prefix.
        SqliteDb db(t.path);
        db.exec("BEGIN");
        db.exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " +
                std::to_string(history) +
                ") INSERT INTO messages(room_id, seq, sender_id, client_msg_id, text, sent_at) "
                "SELECT 'r', i, 'o', printf('1%011d', i), 'x', i FROM n");
        db.exec("COMMIT");
    }
    DbWriter writer(SqliteDb(t.path), DbSettings{});
    DbReaderPool readers(t.path, DbSettings{});
    RoomStore rooms(writer, readers, 50, 100);
    {
        SqliteDb db(t.path);
        rooms.load(db);
    }
    auto from = [](const char* sender, const std::string& cmid) {
        Message m = message("r", cmid);
        m.sender_id = sender;
        return m;
    };
    // Three members who have not written in the room send their first message (after a first
    // send that loads the log). Each used to take a walk over a million index entries (about a
    // tenth of a second); a lookup takes well under a millisecond. The fastest of the three is
    // compared, so that one stall of a busy machine does not decide.
    REQUIRE(run(ioc, rooms.append(from("o", "2000000000001"))));
    auto fastest = std::chrono::steady_clock::duration::max();
    std::int64_t seq = history + 1;
    for (const char* sender : {"p", "q", "s"}) {
        const auto started = std::chrono::steady_clock::now();
        auto stored = run(ioc, rooms.append(from(sender, "2000000000002")));
        fastest = std::min(fastest, std::chrono::steady_clock::now() - started);
        REQUIRE(stored);
        CHECK_FALSE(stored->duplicate);
        CHECK(stored->message->seq == ++seq);
    }
    CHECK(fastest < std::chrono::milliseconds(25));
    // The bound is the room's, so an id below another sender's is looked up, and its resend
    // is still found; an id the sender has not used is still new.
    auto old_id = run(ioc, rooms.append(from("p", "1000000000005")));
    REQUIRE(old_id);
    CHECK_FALSE(old_id->duplicate);
    CHECK(old_id->message->seq == ++seq);
    REQUIRE(run(ioc, rooms.settle()));
    auto resent = run(ioc, rooms.append(from("p", "1000000000005")));
    REQUIRE(resent);
    CHECK((resent->duplicate && resent->message->seq == seq));
    auto o_resent = run(ioc, rooms.append(from("o", "100000000007")));
    REQUIRE(o_resent);
    CHECK((o_resent->duplicate && o_resent->message->seq == 7));
    writer.stop();
}

TEST_CASE("a history read finds a room's log rows by the rowids the writer published",
          "[server][store]") {
    // messages_after reads the log by the rowids the writer keeps per room, and by the view
    // (a scan of both halves) until the writer has loaded the log after a start. Both must
    // answer the same, through moves, a half's emptying and a restart.
    test::TempCurrentDb t("log-rowids");
    t.add_accounts({{"o", "olga"}});
    net::io_context ioc;
    const std::size_t log_rows = 8;
    std::vector<std::string> r_ids;
    {
        ReopenedStore store(t.path, 50, log_rows);
        for (const char* id : {"r", "s"}) {
            Room room{id, "group", "t", false, "o", 1, 0};
            REQUIRE(run(
                ioc, store.rooms.create_room(room, {Member{id, "o", "owner", "olga", "", 1, 0}})));
        }
        // Two rooms interleaved, past two halves' worth: rows move and a half is emptied.
        for (int i = 1; i <= 30; ++i) {
            const std::string cmid = "m" + std::to_string(100 + i);
            REQUIRE(run(ioc, store.rooms.append(message(i % 3 ? "r" : "s", cmid))));
            if (i % 3) r_ids.push_back(cmid);
            CHECK(history_ids(ioc, store.rooms, "r", 0, 1000) == r_ids);
            // A read that starts in the middle and stops before the end.
            if (r_ids.size() > 4) {
                CHECK(history_ids(ioc, store.rooms, "r", 2, 3) ==
                      std::vector<std::string>(r_ids.begin() + 2, r_ids.begin() + 5));
            }
        }
        CHECK(logged(t.path) > 0);
        CHECK(rows(t.path, "messages") > 0);
        // A removed message is skipped whichever table holds it.
        auto removed = run(ioc, store.rooms.remove_message("r", 20));
        REQUIRE(removed);
        CHECK(*removed);
        r_ids.erase(r_ids.begin() + 19);
        CHECK(history_ids(ioc, store.rooms, "r", 0, 1000) == r_ids);
        store.writer.stop();
    }
    ReopenedStore store(t.path, 50, log_rows);
    // Before the writer has loaded the log: the view answers.
    CHECK_FALSE(store.rooms.log_rowids_ready());
    CHECK(history_ids(ioc, store.rooms, "r", 0, 1000) == r_ids);
    // A server start asks for the load at once; any later write job runs after it.
    store.rooms.load_log_soon();
    REQUIRE(run(ioc, store.rooms.rename("s", "t2")));
    CHECK(store.rooms.log_rowids_ready());
    CHECK(history_ids(ioc, store.rooms, "r", 0, 1000) == r_ids);
    REQUIRE(run(ioc, store.rooms.append(message("s", "m200"))));
    // After it: the rowids it loaded answer the same.
    CHECK(history_ids(ioc, store.rooms, "r", 0, 1000) == r_ids);
    CHECK(history_ids(ioc, store.rooms, "r", 10, 1000) ==
          std::vector<std::string>(r_ids.begin() + 10, r_ids.end()));
    store.writer.stop();
}

TEST_CASE("a deleted room's messages leave the log with it, and the log goes on",
          "[server][store]") {
    // The log has no foreign key to rooms: delete_room removes the room's rows itself.
    test::TempCurrentDb t("log-delete");
    t.add_accounts({{"o", "olga"}});
    net::io_context ioc;
    DbWriter writer(SqliteDb(t.path), DbSettings{});
    DbReaderPool readers(t.path, DbSettings{});
    RoomStore rooms(writer, readers, 50, 6);
    for (const char* id : {"gone", "kept"}) {
        Room room{id, "group", "t", false, "o", 1, 0};
        REQUIRE(run(ioc, rooms.create_room(room, {Member{id, "o", "owner", "olga", "", 1, 0}})));
    }
    for (int i = 1; i <= 4; ++i)
        REQUIRE(run(ioc, rooms.append(message(i % 2 ? "gone" : "kept", "m" + std::to_string(i)))));
    {
        SqliteDb db(t.path, SqliteOptions{OpenMode::read_only});
        CHECK(db.query_int64("SELECT count(*) FROM pragma_foreign_key_list('message_log')") == 0);
    }
    auto deleted = run(ioc, rooms.delete_room("gone"));
    REQUIRE(deleted);
    CHECK(*deleted);
    {
        SqliteDb db(t.path, SqliteOptions{OpenMode::read_only});
        CHECK(db.query_int64("SELECT count(*) FROM message_log WHERE room_id = 'gone'") == 0);
        CHECK(db.query_int64("SELECT count(*) FROM message_log WHERE room_id = 'kept'") == 2);
        CHECK(db.query_int64("SELECT count(*) FROM all_messages m LEFT JOIN rooms r ON r.id = "
                             "m.room_id WHERE r.id IS NULL") == 0);
    }
    // The writer's view of the log was rebuilt: further sends fill it and it moves as before.
    for (int i = 5; i <= 9; ++i)
        REQUIRE(run(ioc, rooms.append(message("kept", "m" + std::to_string(i)))));
    auto moved = run(ioc, rooms.settle());
    REQUIRE(moved);
    CHECK(rows(t.path, "message_log") == 0);
    CHECK(rows(t.path, "messages") == 7);
    auto history = run(ioc, rooms.messages_after("kept", 0, 100));
    REQUIRE(history);
    CHECK(history->size() == 7);
    writer.stop();
}

TEST_CASE("a log written before it had two halves is moved from the first half after an upgrade",
          "[server][store]") {
    // A version 12 database, as an older Parley left it, with messages in its one log.
    test::TempDir dir("log-upgrade");
    const std::string path = dir.file("current.db");
    {
        SqliteDb db(path);
        REQUIRE(apply_migrations(db, current_migrations().first(12), "current") == 12);
        db.exec(
            "INSERT INTO accounts(id, username, password_hash, role, created_at) VALUES ('o', "
            "'olga', 'x', 'user', 0);"
            "INSERT INTO rooms(id, kind, title, created_by, created_at) VALUES ('r', 'group', "
            "'t', 'o', 1);"
            "INSERT INTO members(room_id, account_id, role, display_name, joined_at) VALUES "
            "('r', 'o', 'owner', 'olga', 1);"
            "INSERT INTO messages(room_id, seq, sender_id, client_msg_id, text, sent_at) VALUES "
            "('r', 1, 'o', 'a', 'text of a', 1);"
            "INSERT INTO message_log(room_id, seq, sender_id, client_msg_id, text, sent_at) "
            "VALUES ('r', 2, 'o', 'b', 'text of b', 1), ('r', 3, 'o', 'c', 'text of c', 1);");
        REQUIRE(apply_migrations(db, current_migrations(), "current") ==
                static_cast<int>(current_migrations().size()));
    }
    net::io_context ioc;
    DbWriter writer(SqliteDb(path), DbSettings{});
    DbReaderPool readers(path, DbSettings{});
    RoomStore rooms(writer, readers, 50, 3);
    {
        SqliteDb db(path);
        rooms.load(db);
    }
    CHECK(rooms.room("r")->last_seq == 3);
    auto resent = run(ioc, rooms.append(message("r", "b")));
    REQUIRE(resent);
    CHECK((resent->duplicate && resent->message->seq == 2));
    // The fourth message in the first half fills it: it moves, and new ones go to the second.
    auto d = run(ioc, rooms.append(message("r", "d")));
    REQUIRE(d);
    CHECK((!d->duplicate && d->message->seq == 4));
    CHECK(rows(path, "message_log") == 0);
    auto e = run(ioc, rooms.append(message("r", "e")));
    REQUIRE(e);
    CHECK(e->message->seq == 5);
    CHECK(rows(path, "message_log_b") == 1);
    CHECK(rows(path, "messages") == 4);
    CHECK(history_ids(ioc, rooms, "r", 0, 100) ==
          std::vector<std::string>{"a", "b", "c", "d", "e"});
    writer.stop();
}

}  // namespace parley
