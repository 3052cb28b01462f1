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

}  // namespace parley
