// RoomStore: a join and a role change of the same member each change only their own fields,
// whichever lands last, in the cache and in the database; found by a moderator bot whose join
// (display name) overwrote the moderator role its owner had just given it.
#include "server/data/room_store.hpp"

#include <catch2/catch.hpp>

#include "server/data/store_test_support.hpp"

namespace parley {

using test::run;

TEST_CASE("a join and a role change of one member both take effect", "[server][store]") {
    test::TempCurrentDb t("room-store");
    {
        SqliteDb db(t.path);
        db.exec(
            "INSERT INTO accounts(id, username, password_hash, role, created_at) VALUES "
            "('o', 'olga', 'x', 'user', 0), ('b', 'bot', 'x', 'bot', 0)");
    }
    net::io_context ioc;
    DbWriter writer(SqliteDb(t.path), DbSettings{});
    DbReaderPool readers(t.path, DbSettings{});
    RoomStore rooms(writer, readers, 50);
    Room room{"r1", "group", "t", false, "o", 1, 0};
    Member owner{"r1", "o", "owner", "olga", "", 1, 0};
    Member bot{"r1", "b", "member", "bot", "", 1, 0};
    REQUIRE(run(ioc, rooms.create_room(room, {owner, bot})));

    // The owner's change lands first; the bot's join was built from the member it saw before.
    Member promoted = bot;
    promoted.role = "moderator";
    REQUIRE(run(ioc, rooms.put_member(promoted, RoomStore::MemberChange::role)));
    Member joined = bot;  // still "member": read before the promotion
    joined.display_name = "Moderator bot";
    joined.public_key = std::string(32, 'k');
    auto saved = run(ioc, rooms.put_member(joined, RoomStore::MemberChange::join));
    REQUIRE(saved);
    CHECK(saved->role == "moderator");
    CHECK(saved->display_name == "Moderator bot");
    auto cached = rooms.member("r1", "b");
    REQUIRE(cached);
    CHECK((cached->role == "moderator" && cached->public_key.size() == 32));
    writer.stop();
    SqliteDb db(t.path, SqliteOptions{OpenMode::read_only});
    CHECK(db.query_text("SELECT role || '/' || display_name FROM members WHERE account_id = 'b'") ==
          "moderator/Moderator bot");
}

TEST_CASE("membership rules: invite-only, departures keep the role, bans, the last owner",
          "[server][store]") {
    test::TempCurrentDb t("room-store-membership");
    {
        SqliteDb db(t.path);
        db.exec(
            "INSERT INTO accounts(id, username, password_hash, role, created_at) VALUES "
            "('o', 'olga', 'x', 'user', 0), ('v', 'vera', 'x', 'user', 0), "
            "('s', 'sam', 'x', 'user', 0)");
    }
    net::io_context ioc;
    DbWriter writer(SqliteDb(t.path), DbSettings{});
    DbReaderPool readers(t.path, DbSettings{});
    RoomStore rooms(writer, readers, 50);
    Room room{"r1", "group", "t", false, "o", 1, 0};  // invite-only by default
    Member owner{"r1", "o", "owner", "olga", "", 1, 0};
    Member viewer{"r1", "v", "viewer", "vera", "", 1, 0};
    REQUIRE(run(ioc, rooms.create_room(room, {owner, viewer})));

    Member stranger{"r1", "s", "owner", "sam", "", 2, 0};  // the asked-for role is ignored
    auto refused = run(ioc, rooms.join(stranger));
    REQUIRE(refused);
    CHECK(refused->status == MembershipStatus::not_invited);
    CHECK_FALSE(rooms.member("r1", "s"));

    // A viewer who leaves and comes back is a viewer again.
    auto left = run(ioc, rooms.leave("r1", "v"));
    REQUIRE(left);
    CHECK(left->status == MembershipStatus::done);
    CHECK_FALSE(rooms.member("r1", "v"));
    Member back{"r1", "v", "member", "vera", "", 3, 0};
    auto rejoined = run(ioc, rooms.join(back));
    REQUIRE(rejoined);
    CHECK(rejoined->status == MembershipStatus::done);
    CHECK(rejoined->member.role == "viewer");
    CHECK(rooms.member("r1", "v")->role == "viewer");

    // The last owner can neither step down nor leave while others remain.
    Member demoted = owner;
    demoted.role = "member";
    CHECK(run(ioc, rooms.set_role(demoted))->status == MembershipStatus::last_owner);
    CHECK(run(ioc, rooms.leave("r1", "o"))->status == MembershipStatus::last_owner);
    CHECK(rooms.member("r1", "o")->role == "owner");

    // Open: anyone joins as a member; a ban keeps them out and from being added.
    REQUIRE(run(ioc, rooms.set_join_policy("r1", "open")));
    auto joined = run(ioc, rooms.join(stranger));
    REQUIRE(joined);
    CHECK((joined->status == MembershipStatus::done && joined->member.role == "member"));
    CHECK(run(ioc, rooms.expel("r1", "s", true, "o"))->status == MembershipStatus::done);
    CHECK_FALSE(rooms.member("r1", "s"));
    CHECK(run(ioc, rooms.join(stranger))->status == MembershipStatus::banned);
    CHECK(run(ioc, rooms.set_role(stranger))->status == MembershipStatus::banned);
    CHECK(run(ioc, rooms.bans("r1"))->size() == 1);
    CHECK(*run(ioc, rooms.unban("r1", "s")));
    CHECK(run(ioc, rooms.join(stranger))->status == MembershipStatus::done);
    writer.stop();
}

}  // namespace parley

namespace parley {

// append() numbers from a writer-thread counter, not from rooms.last_seq: the numbers must stay
// gap-free and unique across resends, a prune of the whole history and a restart (load()).
TEST_CASE("sequence numbers survive resends, a full prune and a restart", "[server][store]") {
    test::TempCurrentDb t("room-store-seq");
    t.add_accounts({{"o", "olga"}});
    auto message = [](std::string cmid) {
        Message m;
        m.room_id = "r1";
        m.sender_id = "o";
        m.client_msg_id = std::move(cmid);
        m.text = "hi";
        m.sent_at = 1;
        return m;
    };
    net::io_context ioc;
    {
        DbWriter writer(SqliteDb(t.path), DbSettings{});
        DbReaderPool readers(t.path, DbSettings{});
        RoomStore rooms(writer, readers, 50);
        Room room{"r1", "group", "t", false, "o", 1, 0};
        REQUIRE(run(ioc, rooms.create_room(room, {Member{"r1", "o", "owner", "olga", "", 1, 0}})));
        for (int i = 1; i <= 3; ++i) {
            auto stored = run(ioc, rooms.append(message("m" + std::to_string(i))));
            REQUIRE(stored);
            CHECK((stored->message->seq == i && !stored->duplicate));
        }
        auto again = run(ioc, rooms.append(message("m2")));
        REQUIRE(again);
        CHECK((again->duplicate && again->message->seq == 2));
        auto next = run(ioc, rooms.append(message("m4")));
        REQUIRE(next);
        CHECK(next->message->seq == 4);  // the resend consumed no number
        auto pruned = run(ioc, rooms.prune("r1", 0));
        REQUIRE(pruned);
        CHECK(*pruned == 4);
        auto after_prune = run(ioc, rooms.append(message("m5")));
        REQUIRE(after_prune);
        CHECK(after_prune->message->seq == 5);
        REQUIRE(run(ioc, rooms.prune("r1", 0)));
        auto nope = run(ioc, rooms.append(Message{"gone", 0, "o", "x", "hi", "", "", 1}));
        CHECK_FALSE(nope);  // no such room: nothing stored, no number given
        writer.stop();
    }
    // A new process: its numbers go on from the database (every message is pruned).
    DbWriter writer(SqliteDb(t.path), DbSettings{});
    DbReaderPool readers(t.path, DbSettings{});
    RoomStore rooms(writer, readers, 50);
    {
        SqliteDb db(t.path);
        rooms.load(db);
    }
    CHECK(rooms.room("r1")->last_seq == 5);
    auto restarted = run(ioc, rooms.append(message("m6")));
    REQUIRE(restarted);
    CHECK(restarted->message->seq == 6);
    writer.stop();
}

}  // namespace parley
