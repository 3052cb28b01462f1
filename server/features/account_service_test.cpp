// AccountService against a real current.db, real argon2id hashing (at a small cost) on a real
// thread pool, and real limiters: registration rules, the login lock-out and its Retry-After,
// token rotation with reuse ending the session, and every ended session's sockets closed.
#include "server/features/account_service.hpp"

#include <catch2/catch.hpp>

#include "server/features/service_test_support.hpp"

namespace parley {

namespace {

using test::run;

AuthSettings cheap_auth() {
    AuthSettings a;
    a.argon2_t_cost = 1;
    a.argon2_m_cost_kib = 64;
    a.login_failure_threshold = 2;
    a.login_lockout_base_ms = 60'000;
    return a;
}

FailureBackoffConfig backoff(const AuthSettings& a) {
    FailureBackoffConfig c;
    c.threshold = static_cast<std::uint32_t>(a.login_failure_threshold);
    c.base = std::chrono::milliseconds(a.login_lockout_base_ms);
    return c;
}

struct Accounts {
    test::TempCurrentDb db{"account-service"};
    net::io_context ioc;
    AuthSettings settings = cheap_auth();
    DbWriter writer{SqliteDb(db.path), DbSettings{}};
    AccountStore store{writer};
    ClientRegistry clients;
    net::thread_pool hash_pool{1};
    FailureBackoff by_account{backoff(settings)};
    FailureBackoff by_address{backoff(settings)};
    TokenBucketLimiter registrations{TokenBucketConfig{0, 3}};
    AuditLog audit{test::migrated_history_db(db.dir), SqliteOptions{}};
    AccountService service{settings,   store,      clients,       hash_pool,
                           by_account, by_address, registrations, audit};

    ~Accounts() {
        hash_pool.join();
        writer.stop();
    }
    Account make(const std::string& name, const std::string& address = "10.0.0.1") {
        auto a = run(ioc, service.register_account(
                              address, {{"username", name}, {"password", "correct horse"}}));
        REQUIRE(a);
        return *a;
    }
    IssuedTokens login(const std::string& name, const std::string& password = "correct horse") {
        auto t = run(ioc, service.login("10.0.0.2", {{"username", name}, {"password", password}}));
        REQUIRE(t);
        return *t;
    }
    std::shared_ptr<test::RecordingSocket> socket(std::uint64_t id, const IssuedTokens& t) {
        auto s = std::make_shared<test::RecordingSocket>(id, t.session.account_id, t.session.id);
        clients.add(s, 10);
        return s;
    }
    template <class T>
    Refusal refused(Outcome<T> out) {
        REQUIRE_FALSE(out);
        return out.refusal();
    }
};

}  // namespace

TEST_CASE("registration checks the fields, the name and the address's rate", "[server][accounts]") {
    Accounts t;
    CHECK(t.refused(run(t.ioc, t.service.register_account("a", {{"username", "ann"}}))).code ==
          ErrorCode::bad_request);
    CHECK(t.refused(run(t.ioc, t.service.register_account(
                                   "a", {{"username", "a b"}, {"password", "correct horse"}})))
              .code == ErrorCode::bad_request);
    Account ann = t.make("ann", "a");
    CHECK(t.store.account_by_username("ann")->id == ann.id);
    CHECK(ann.password_hash.rfind("$argon2id$", 0) == 0);
    CHECK(t.refused(run(t.ioc, t.service.register_account(
                                   "b", {{"username", "ANN"}, {"password", "correct horse"}})))
              .code == ErrorCode::conflict);
    t.make("bob", "a");
    t.make("cat", "a");
    // Three per address: the fourth from "a" waits (the conflict above came from "b").
    auto limited =
        t.refused(run(t.ioc, t.service.register_account(
                                 "a", {{"username", "dan"}, {"password", "correct horse"}})));
    CHECK(limited.code == ErrorCode::rate_limited);
    CHECK(limited.retry_after.count() > 0);
}

TEST_CASE("logins lock out after repeated failures and refuse disabled accounts",
          "[server][accounts]") {
    Accounts t;
    t.make("ann");
    CHECK(t.refused(
               run(t.ioc, t.service.login("x", {{"username", "ann"}, {"password", "wrong one"}})))
              .code == ErrorCode::unauthorized);
    CHECK(t.refused(run(t.ioc, t.service.login("x", {{"username", "nobody"}, {"password", "pw"}})))
              .code == ErrorCode::unauthorized);
    // Two failures for "ann" from this address: the address is locked out, even with the
    // right password, and the refusal says for how long.
    auto locked = t.refused(
        run(t.ioc, t.service.login("x", {{"username", "ann"}, {"password", "correct horse"}})));
    CHECK(locked.code == ErrorCode::rate_limited);
    CHECK(locked.retry_after.count() > 0);

    IssuedTokens tokens = t.login("ann");
    auto session = t.store.session_by_access_hash(token_hash(tokens.access_token), now_ms());
    REQUIRE(session);
    CHECK(session->id == tokens.session.id);

    auto id = t.store.account_by_username("ann")->id;
    REQUIRE(run(t.ioc, t.store.set_disabled(id, now_ms())));
    CHECK(t.refused(run(t.ioc,
                        t.service.login("y", {{"username", "ann"}, {"password", "correct horse"}})))
              .code == ErrorCode::forbidden);
}

TEST_CASE("refresh rotates the pair; a reused refresh token ends the session and its sockets",
          "[server][accounts]") {
    Accounts t;
    t.make("ann");
    IssuedTokens first = t.login("ann");
    auto sock = t.socket(1, first);
    auto next = run(t.ioc, t.service.refresh({{"refresh_token", first.refresh_token}}));
    REQUIRE(next);
    CHECK(next->session.id == first.session.id);
    CHECK(next->refresh_token != first.refresh_token);
    CHECK(sock->closed_with == 0);

    auto reused =
        t.refused(run(t.ioc, t.service.refresh({{"refresh_token", first.refresh_token}})));
    CHECK(reused.code == ErrorCode::unauthorized);
    CHECK(sock->closed_with == kSessionEndedCloseCode);
    CHECK_FALSE(t.store.session_by_id(first.session.id));
    CHECK(test::revoked_in_db(t.db.path, first.session.id));
    CHECK(t.refused(run(t.ioc, t.service.refresh({{"refresh_token", next->refresh_token}}))).code ==
          ErrorCode::unauthorized);
    CHECK(t.refused(run(t.ioc, t.service.refresh({{"refresh_token", ""}}))).code ==
          ErrorCode::bad_request);
}

TEST_CASE("a password change needs the current password and ends the other sessions",
          "[server][accounts]") {
    Accounts t;
    Account ann = t.make("ann");
    IssuedTokens here = t.login("ann");
    IssuedTokens there = t.login("ann");
    auto here_sock = t.socket(1, here);
    auto there_sock = t.socket(2, there);

    CHECK(t.refused(run(t.ioc, t.service.change_password(ann, here.session,
                                                         {{"current_password", "wrong one"},
                                                          {"new_password", "battery staple"}})))
              .code == ErrorCode::forbidden);
    CHECK(t.refused(run(t.ioc, t.service.change_password(ann, here.session,
                                                         {{"current_password", "correct horse"},
                                                          {"new_password", "correct horse"}})))
              .code == ErrorCode::bad_request);
    auto revoked = run(t.ioc, t.service.change_password(ann, here.session,
                                                        {{"current_password", "correct horse"},
                                                         {"new_password", "battery staple"}}));
    REQUIRE(revoked);
    CHECK(*revoked == 1);
    CHECK(there_sock->closed_with == kSessionEndedCloseCode);
    CHECK(here_sock->closed_with == 0);
    CHECK(t.service.sessions_of(ann.id).size() == 1);
    t.login("ann", "battery staple");

    // Another account's session is not found; one's own is ended, then logout ends the last.
    Account bob = t.make("bob");
    IssuedTokens bobs = t.login("bob");
    CHECK(t.refused(run(t.ioc, t.service.end_session(ann, here.session, bobs.session.id))).code ==
          ErrorCode::not_found);
    REQUIRE(run(t.ioc, t.service.end_session(bob, bobs.session, bobs.session.id)));
    CHECK(t.refused(run(t.ioc, t.service.end_session(bob, bobs.session, bobs.session.id))).code ==
          ErrorCode::not_found);
    REQUIRE(run(t.ioc, t.service.logout(here.session)));
    CHECK(here_sock->closed_with == kSessionEndedCloseCode);
    CHECK_FALSE(t.store.session_by_id(here.session.id));
    CHECK(test::revoked_in_db(t.db.path, here.session.id));
}

TEST_CASE("admins list accounts a page at a time and disable them, audited", "[server][accounts]") {
    Accounts t;
    Account ann = t.make("ann");
    Account bob = t.make("Bob");
    t.make("cat");
    IssuedTokens bobs = t.login("Bob");
    auto sock = t.socket(1, bobs);

    CHECK(t.service.account_page("", "", 0).refusal().code == ErrorCode::bad_request);
    auto first = t.service.account_page("", "", 2);
    REQUIRE(first);
    REQUIRE(first->items.size() == 2);
    CHECK(first->items[1].account.username == "Bob");  // case-insensitive order
    CHECK(first->items[1].live_sessions == 1);
    CHECK(first->next == "bob");
    auto rest = t.service.account_page("", first->next, 2);
    REQUIRE(rest);
    REQUIRE(rest->items.size() == 1);
    CHECK(rest->next.empty());
    CHECK(t.service.account_page("B", "", 10)->items.size() == 1);

    CHECK(run(t.ioc, t.service.set_disabled(ann.id, ann.id, true, "")).refusal().code ==
          ErrorCode::conflict);
    CHECK(run(t.ioc, t.service.set_disabled(ann.id, "nobody", true, "")).refusal().code ==
          ErrorCode::not_found);
    auto disabled = run(t.ioc, t.service.set_disabled(ann.id, bob.id, true, "spam"));
    REQUIRE(disabled);
    CHECK(disabled->disabled_at > 0);
    CHECK(disabled->sessions_revoked == 1);
    CHECK(sock->closed_with == kSessionEndedCloseCode);
    CHECK(run(t.ioc, t.service.login("z", {{"username", "Bob"}, {"password", "correct horse"}}))
              .refusal()
              .code == ErrorCode::forbidden);
    auto enabled = run(t.ioc, t.service.set_disabled(ann.id, bob.id, false, ""));
    REQUIRE(enabled);
    CHECK(enabled->disabled_at == 0);
    t.login("Bob");
    auto rows = t.audit.recent();
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].action == "account.enable");
    CHECK(rows[1].action == "account.disable");
    CHECK(rows[1].actor == "account:" + ann.id);
    CHECK(rows[1].detail.find("spam") != std::string::npos);
}

}  // namespace parley
