// BotService against a real current.db and history.db, the real stores and limiters: a remote
// bot's key login and its persisted wrong-key lock-out, an admin's key rotation and revocation
// (sessions end, sockets close, the audit log records it), and local bot sessions replaced
// when a new bot child logs in.
#include "server/features/bot_service.hpp"

#include <catch2/catch.hpp>

#include "server/features/service_test_support.hpp"

namespace parley {

namespace {

using test::run;

FailureBackoffConfig two_strikes() {
    FailureBackoffConfig c;
    c.threshold = 2;
    c.base = std::chrono::minutes(1);
    return c;
}

struct Bots {
    test::TempCurrentDb db{"bot-service"};
    net::io_context ioc;
    AuthSettings auth;
    DbWriter writer{SqliteDb(db.path), DbSettings{}};
    AccountStore accounts{writer};
    BotStore store{writer, accounts};
    ClientRegistry clients;
    FailureBackoff bot_keys{two_strikes()};
    FailureBackoff by_address{FailureBackoffConfig{}};
    std::unique_ptr<AuditLog> audit;
    net::thread_pool pool{1};
    std::unique_ptr<BotService> service;

    Bots() {
        audit = std::make_unique<AuditLog>(test::migrated_history_db(db.dir), SqliteOptions{});
        service = std::make_unique<BotService>(auth, accounts, store, clients, bot_keys, by_address,
                                               *audit, pool);
    }
    ~Bots() {
        pool.join();
        writer.stop();
    }
    Outcome<IssuedTokens> login(const std::string& id, const std::string& key) {
        return run(ioc, service->login("10.0.0.9", {{"account_id", id}, {"bot_key", key}}));
    }
};

}  // namespace

TEST_CASE("remote bots log in with their key; wrong keys lock the bot out, persisted",
          "[server][bots]") {
    Bots t;
    auto created = run(t.ioc, t.service->create_remote("admin1", {{"username", "helper"}}));
    REQUIRE(created);
    const std::string id = created->account.id;
    CHECK(run(t.ioc, t.service->create_remote("admin1", {{"username", "HELPER"}})).refusal().code ==
          ErrorCode::conflict);
    CHECK(run(t.ioc, t.service->create_remote("admin1", {{"username", "x"}, {"kind", "y"}}))
              .refusal()
              .code == ErrorCode::bad_request);
    auto listed = t.service->list();
    REQUIRE(listed.size() == 1);
    CHECK((listed[0].username == "helper" && listed[0].kind == "remote"));

    auto session = t.login(id, created->bot_key);
    REQUIRE(session);
    CHECK(session->session.account_id == id);
    CHECK(t.login("nobody", created->bot_key).refusal().code == ErrorCode::unauthorized);
    CHECK(t.login(id, "wrong").refusal().code == ErrorCode::unauthorized);
    CHECK(t.login(id, "wrong").refusal().code == ErrorCode::unauthorized);
    auto locked = t.login(id, created->bot_key);
    REQUIRE_FALSE(locked);
    CHECK(locked.refusal().code == ErrorCode::rate_limited);
    CHECK(locked.refusal().retry_after.count() > 0);
    CHECK(t.store.bot(id)->lockout.failures == 2);  // written through: a restart keeps it

    // A rotation lifts the lock-out, ends the bot's sessions and closes their sockets.
    auto sock = std::make_shared<test::RecordingSocket>(7, id, session->session.id);
    t.clients.add(sock, 10);
    auto rotated = run(t.ioc, t.service->change_key("admin1", id, true));
    REQUIRE(rotated);
    CHECK(rotated->sessions_revoked == 1);
    CHECK(sock->closed_with == kSessionEndedCloseCode);
    CHECK_FALSE(t.login(id, created->bot_key));
    REQUIRE(t.login(id, rotated->bot_key));
    auto revoked = run(t.ioc, t.service->change_key("admin1", id, false));
    REQUIRE(revoked);
    CHECK(revoked->bot_key.empty());
    CHECK(t.login(id, rotated->bot_key).refusal().code == ErrorCode::unauthorized);
    CHECK(run(t.ioc, t.service->change_key("admin1", "nobody", true)).refusal().code ==
          ErrorCode::not_found);

    auto rows = t.audit->recent();
    REQUIRE(rows.size() == 3);
    CHECK(rows[0].action == "bot.key_revoke");
    CHECK(rows[1].action == "bot.key_rotate");
    CHECK(rows[2].action == "bot.create");
    CHECK(rows[2].actor == "account:admin1");
}

TEST_CASE("a new bot child's local sessions replace the previous child's", "[server][bots]") {
    Bots t;
    std::vector<std::string> ids;
    {
        SqliteDb db(t.db.path);
        ids = BotStore::ensure_local_bots(db, {"bot1-echo"});
        SqliteDb loader(t.db.path, SqliteOptions{OpenMode::read_only});
        t.accounts.load(loader);
        t.store.load(loader);
    }
    std::vector<LocalBot> local{{"bot1-echo", ids[0]}};
    auto first = run(t.ioc, t.service->start_local_sessions(local));
    REQUIRE(first);
    REQUIRE(first->size() == 1);
    auto sock = std::make_shared<test::RecordingSocket>(7, ids[0], (*first)[0].session.id);
    t.clients.add(sock, 10);
    auto second = run(t.ioc, t.service->start_local_sessions(local));
    REQUIRE(second);
    CHECK(sock->closed_with == kSessionEndedCloseCode);
    CHECK_FALSE(t.accounts.session_by_id((*first)[0].session.id));
    CHECK(test::revoked_in_db(t.db.path, (*first)[0].session.id));
    CHECK(t.accounts.session_by_id((*second)[0].session.id));
    CHECK_FALSE(test::revoked_in_db(t.db.path, (*second)[0].session.id));
    // A local bot has no key to change.
    CHECK(run(t.ioc, t.service->change_key("admin1", ids[0], true)).refusal().code ==
          ErrorCode::conflict);
}

}  // namespace parley
