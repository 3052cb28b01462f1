// ProfileService against a real current.db, the real AccountStore, RoomStore and reader pool:
// partial updates with their field rules and the avatar check, and the private-profile rule
// (visible to its owner and to whoever shares a room with it, not found for anyone else).
#include "server/features/profile_service.hpp"

#include <catch2/catch.hpp>

#include "server/data/room_store.hpp"
#include "server/data/store_test_support.hpp"

namespace parley {

using test::run;

TEST_CASE("profiles: partial updates, the avatar check and the private rule",
          "[server][profiles]") {
    test::TempCurrentDb db("profile-service");
    net::io_context ioc;
    DbWriter writer(SqliteDb(db.path), DbSettings{});
    DbReaderPool readers(db.path, DbSettings{});
    AccountStore accounts(writer);
    RoomStore rooms(writer, readers, 50);
    ProfileService profiles(accounts, readers);
    for (const char* name : {"ann", "bob", "cat"})
        REQUIRE(run(ioc, accounts.create_account(Account{name, name, "x", "user", 1})));
    Account ann = *accounts.account_by_id("ann");

    auto own = profiles.own(ann);
    REQUIRE(own);
    CHECK(own->profile.visibility == "public");
    auto refused = [&](const nlohmann::json& body) {
        auto out = run(ioc, profiles.update_own(ann, body));
        REQUIRE_FALSE(out);
        return out.refusal();
    };
    CHECK(refused({{"nickname", "x"}}).message == "unknown profile field \"nickname\"");
    CHECK(refused({{"name", std::string(65, 'n')}}).code == ErrorCode::bad_request);
    CHECK(refused({{"visibility", "friends"}}).code == ErrorCode::bad_request);
    profiles.avatar_check = [](const std::string& account, const std::string& content) {
        return account == "ann" && content == "mine" ? "" : std::string("not one of your images");
    };
    CHECK(refused({{"avatar", "theirs"}}).message == "not one of your images");

    auto saved = run(
        ioc,
        profiles.update_own(ann, {{"name", "Ann"}, {"avatar", "mine"}, {"visibility", "private"}}));
    REQUIRE(saved);
    CHECK(saved->profile.name == "Ann");
    CHECK(saved->account.username == "ann");
    auto text_only = run(ioc, profiles.update_own(ann, {{"text", "hello"}, {"avatar", nullptr}}));
    REQUIRE(text_only);
    CHECK(text_only->profile.name == "Ann");  // untouched
    CHECK_FALSE(text_only->profile.avatar);
    {
        SqliteDb check(db.path, SqliteOptions{OpenMode::read_only});
        CHECK(check.query_text("SELECT name || '/' || text || '/' || visibility FROM profiles "
                               "WHERE account_id = 'ann'") == "Ann/hello/private");
    }

    // Private: the owner sees it, a stranger does not, a room-mate does.
    CHECK(run(ioc, profiles.view("ann", "ann")));
    auto stranger = run(ioc, profiles.view("bob", "ann"));
    REQUIRE_FALSE(stranger);
    CHECK(stranger.refusal().code == ErrorCode::not_found);
    Room room{"r1", "group", "t", false, "ann", 1, 0};
    REQUIRE(run(ioc, rooms.create_room(room, {Member{"r1", "ann", "owner", "ann", "", 1},
                                              Member{"r1", "bob", "member", "bob", "", 1}})));
    auto mate = run(ioc, profiles.view("bob", "ann"));
    REQUIRE(mate);
    CHECK(mate->profile.text == "hello");
    CHECK_FALSE(run(ioc, profiles.view("cat", "ann")));
    CHECK(run(ioc, profiles.view("cat", "bob")));  // public
    CHECK(run(ioc, profiles.view("cat", "nobody")).refusal().code == ErrorCode::not_found);
    writer.stop();
}

}  // namespace parley
