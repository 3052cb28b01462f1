// BotStore: local bot accounts are ensured once, remote bots get a hashed key, and the
// lock-out state is written through and read back by a new store (as after a restart).
#include "server/data/bot_store.hpp"

#include <filesystem>
#include <optional>

#include <catch2/catch.hpp>

#include "common/crypto.hpp"
#include "server/data/db_writer.hpp"
#include "server/data/store_test_support.hpp"

namespace parley {

namespace {

struct TempDb : test::TempCurrentDb {
    TempDb() : TempCurrentDb("bot-store") {}
};

using test::run;

}  // namespace

TEST_CASE("local bots are created once and keep their accounts", "[server][bots]") {
    TempDb t;
    std::vector<std::string> first, second;
    {
        SqliteDb db(t.path);
        first = BotStore::ensure_local_bots(db, {"bot1-echo", "bot2-greeter"});
        second = BotStore::ensure_local_bots(db, {"bot1-echo", "bot2-greeter"});
        CHECK(db.query_int64("SELECT count(*) FROM accounts WHERE role = 'bot'") == 2);
        CHECK(db.query_int64("SELECT count(*) FROM bots WHERE kind = 'local'") == 2);
        db.exec(
            "INSERT INTO accounts(id, username, password_hash, role, created_at) "
            "VALUES ('u1', 'bot3-echo', 'x', 'user', 0)");
        CHECK_THROWS_WITH(BotStore::ensure_local_bots(db, {"bot3-echo"}),
                          Catch::Contains("not a local bot"));
        auto remote = BotStore::create_remote_bot(db, "helper");
        CHECK_THROWS_WITH(BotStore::ensure_local_bots(db, {"helper"}),
                          Catch::Contains("not a local bot"));
        CHECK_THROWS_WITH(BotStore::create_remote_bot(db, "HELPER"), Catch::Contains("taken"));
    }
    CHECK(first == second);
    CHECK(first.size() == 2);
}

TEST_CASE("remote bot keys are stored hashed and lock-outs survive a reload", "[server][bots]") {
    TempDb t;
    CreatedBot cli;
    {
        SqliteDb db(t.path);
        cli = BotStore::create_remote_bot(db, "helper");
    }
    CHECK(cli.bot_key.size() == 43);
    net::io_context ioc;
    std::string api_key;
    std::string api_id;
    {
        DbWriter writer(SqliteDb(t.path), DbSettings{});
        AccountStore accounts(writer);
        BotStore bots(writer, accounts);
        {
            SqliteDb loader(t.path, SqliteOptions{OpenMode::read_only});
            accounts.load(loader);
            bots.load(loader);
        }
        auto b = bots.bot(cli.account.id);
        REQUIRE(b);
        CHECK(b->kind == "remote");
        auto digest = sha256(cli.bot_key);
        CHECK(b->key_hash == std::string(reinterpret_cast<const char*>(digest.data()), 32));
        CHECK(accounts.account_by_id(cli.account.id)->role == "bot");

        auto created = run(ioc, bots.create_remote("second"));
        REQUIRE(created);
        api_key = created->bot_key;
        api_id = created->account.id;
        CHECK(accounts.account_by_username("second"));
        auto dup = run(ioc, bots.create_remote("Second"));
        REQUIRE_FALSE(dup);
        CHECK(dup.error().code == DbErrc::constraint);

        auto saved = run(ioc, bots.save_lockout(api_id, FailureState{3, 4'000'000'000'000}));
        REQUIRE(saved);
        CHECK(*saved);
        CHECK(bots.bot(api_id)->lockout.failures == 3);
        writer.stop();
    }
    SqliteDb db(t.path, SqliteOptions{OpenMode::read_only});
    DbWriter unused(SqliteDb(t.path), DbSettings{});
    AccountStore accounts(unused);
    BotStore reloaded(unused, accounts);
    reloaded.load(db);
    auto b = reloaded.bot(api_id);
    REQUIRE(b);
    CHECK(b->lockout == FailureState{3, 4'000'000'000'000});
    CHECK(reloaded.all().size() == 2);
    // Nothing stores the key itself.
    CHECK(db.query_int64("SELECT count(*) FROM bots WHERE length(key_hash) = 32") == 2);
    unused.stop();
}

}  // namespace parley
