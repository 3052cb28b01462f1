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

}  // namespace

TEST_CASE("the message log moves into the history table and every message is found once",
          "[server][store]") {
    test::TempCurrentDb t("message-log");
    t.add_accounts({{"o", "olga"}});
    net::io_context ioc;
    const int log_rows = 5;
    {
        DbWriter writer(SqliteDb(t.path), DbSettings{});
        DbReaderPool readers(t.path, DbSettings{});
        RoomStore rooms(writer, readers, 50, log_rows);
        for (const char* id : {"r1", "r2"}) {
            Room room{id, "group", "t", false, "o", 1, 0};
            REQUIRE(
                run(ioc, rooms.create_room(room, {Member{id, "o", "owner", "olga", "", 1, 0}})));
        }
        // Four messages stay in the log; the fifth fills it and the room with the most messages
        // in it (r1: m1, m3, m5) moves (run() waits for the move, which the append submitted).
        for (int i = 1; i <= 4; ++i) {
            auto stored =
                run(ioc, rooms.append(message(i % 2 ? "r1" : "r2", "m" + std::to_string(i))));
            REQUIRE(stored);
        }
        CHECK(rows(t.path, "message_log") == 4);
        CHECK(rows(t.path, "messages") == 0);
        REQUIRE(run(ioc, rooms.append(message("r1", "m5"))));
        CHECK(rows(t.path, "message_log") == 2);
        CHECK(rows(t.path, "messages") == 3);
        {
            SqliteDb db(t.path, SqliteOptions{OpenMode::read_only});
            CHECK(db.query_int64("SELECT count(*) FROM message_log WHERE room_id = 'r2'") == 2);
        }

        // Two more in the log: r1 now has messages in both tables.
        auto m6 = run(ioc, rooms.append(message("r1", "m6")));
        REQUIRE(m6);
        CHECK(m6->message.seq == 4);  // r1: m1, m3, m5, m6
        REQUIRE(run(ioc, rooms.append(message("r2", "m7"))));
        CHECK(rows(t.path, "message_log") == 4);

        // Resends, from either table, return the stored message and take no number.
        auto settled = run(ioc, rooms.append(message("r1", "m3")));
        REQUIRE(settled);
        CHECK((settled->duplicate && settled->message.seq == 2 &&
               settled->message.text == "text of m3"));
        auto logged = run(ioc, rooms.append(message("r1", "m6")));
        REQUIRE(logged);
        CHECK((logged->duplicate && logged->message.seq == 4));
        CHECK(rows(t.path, "message_log") == 4);

        // History reads both, in order.
        auto history = run(ioc, rooms.messages_after("r1", 0, 100));
        REQUIRE(history);
        std::vector<std::string> ids;
        for (const auto& m : *history)
            ids.push_back(m.client_msg_id);
        CHECK(ids == std::vector<std::string>{"m1", "m3", "m5", "m6"});

        // A removal finds the message in either table.
        auto removed_settled = run(ioc, rooms.remove_message("r1", 1));
        auto removed_logged = run(ioc, rooms.remove_message("r1", 4));
        REQUIRE((removed_settled && removed_logged));
        CHECK((*removed_settled && *removed_logged));
        auto after_removal = run(ioc, rooms.messages_after("r1", 0, 100));
        REQUIRE(after_removal);
        CHECK(after_removal->size() == 2);
        writer.stop();
    }

    // A restart with messages still in the log: they are recent, their numbers go on, and a
    // resend of one is still a resend.
    DbWriter writer(SqliteDb(t.path), DbSettings{});
    DbReaderPool readers(t.path, DbSettings{});
    RoomStore rooms(writer, readers, 50, log_rows);
    {
        SqliteDb db(t.path);
        rooms.load(db);
    }
    CHECK(rooms.room("r2")->last_seq == 3);
    bool complete = false;
    auto recent = rooms.recent_after("r2", 0, complete);
    REQUIRE(recent.size() == 3);
    CHECK(recent.back().client_msg_id == "m7");
    auto resent = run(ioc, rooms.append(message("r2", "m7")));
    REQUIRE(resent);
    CHECK((resent->duplicate && resent->message.seq == 3));
    auto next = run(ioc, rooms.append(message("r2", "m8")));  // fills the log: r2 moves
    REQUIRE(next);
    CHECK((!next->duplicate && next->message.seq == 4));
    CHECK(rows(t.path, "message_log") == 1);

    // A prune reaches into the log, and the pruned keys are no longer resends.
    auto pruned = run(ioc, rooms.prune("r2", 1));
    REQUIRE(pruned);
    CHECK(*pruned == 3);
    auto fresh = run(ioc, rooms.append(message("r2", "m7")));
    REQUIRE(fresh);
    CHECK((!fresh->duplicate && fresh->message.seq == 5));

    // An explicit settle moves whatever is left; the totals do not change.
    const auto total = rows(t.path, "all_messages");
    auto moved = run(ioc, rooms.settle());
    REQUIRE(moved);
    CHECK(*moved > 0);
    CHECK(rows(t.path, "message_log") == 0);
    CHECK(rows(t.path, "all_messages") == total);
    writer.stop();
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
        CHECK(stored->message.seq == seq);
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

}  // namespace parley
