// RoomPolicy: [rooms] read from TOML, the install's mark read from a real current.db migrated
// empty (a new install) or with an account already in it (an upgraded one), and the choice
// between them.
#include "server/features/room_policy.hpp"

#include <catch2/catch.hpp>

#include "common/test_support.hpp"
#include "server/db/migrations.hpp"
#include "server/settings/server_config_test_support.hpp"

namespace parley {

namespace {

RoomSettings load(const std::string& text) {
    return test::load_server_config(text).rooms;
}

}  // namespace

TEST_CASE("[rooms] require_signatures is unset unless written; the default file leaves it unset",
          "[server][rooms][config]") {
    CHECK_FALSE(load("").require_signatures);
    CHECK_FALSE(load("").allow_unsigned_rooms);
    CHECK(load("[rooms]\nrequire_signatures = true\n").require_signatures == true);
    CHECK(load("[rooms]\nrequire_signatures = false\n").require_signatures == false);
    CHECK(load("[rooms]\nallow_unsigned_rooms = true\n").allow_unsigned_rooms);
    CHECK_THROWS_WITH(load("[rooms]\nrequire_signatures = 1\n"),
                      Catch::Contains("rooms.require_signatures"));
    ServerConfig defaults;
    ConfigSchema schema;
    defaults.describe(schema);
    std::string text = schema.render();
    CHECK_THAT(text, Catch::Contains("[rooms]\n"));
    CHECK_THAT(text, Catch::Contains("# require_signatures = true\n"));
    CHECK_FALSE(load(text).require_signatures);
}

TEST_CASE("the install's mark: a new current.db signs by default, one with data does not",
          "[server][rooms][db]") {
    test::TempDir dir{"room-policy"};
    // Every migration before the one that marks the install (12).
    std::vector<Migration> before(current_migrations().begin(), current_migrations().begin() + 11);
    REQUIRE(before.back().version == 11);
    {
        SqliteDb fresh(dir.file("new.db"));
        apply_migrations(fresh, current_migrations(), "current");
        CHECK(install_signatures_default(fresh) == true);
    }
    {
        // A data directory from before the setting: schema 11, an account.
        SqliteDb old(dir.file("old.db"));
        apply_migrations(old, before, "current");
        old.exec(
            "INSERT INTO accounts(id, username, password_hash, created_at) VALUES ('a1', 'al', "
            "'h', 1)");
        apply_migrations(old, current_migrations(), "current");
        CHECK(install_signatures_default(old) == false);
        // Reopening changes nothing: the mark is written once.
        apply_migrations(old, current_migrations(), "current");
        CHECK(install_signatures_default(old) == false);
    }
}

TEST_CASE("an explicit [rooms] require_signatures wins over the install's mark",
          "[server][rooms]") {
    RoomSettings unset;
    CHECK(resolve_room_policy(unset, true).require_signatures);
    CHECK_FALSE(resolve_room_policy(unset, false).require_signatures);
    CHECK_FALSE(resolve_room_policy(unset, std::nullopt).require_signatures);
    RoomSettings on{true, false};
    RoomSettings off{false, true};
    CHECK(resolve_room_policy(on, false).require_signatures);
    CHECK_FALSE(resolve_room_policy(off, true).require_signatures);
    CHECK(resolve_room_policy(off, true).allow_unsigned_rooms);
    CHECK_THAT(resolve_room_policy(on, false).reason, Catch::Contains("set by"));
}

}  // namespace parley
