// NotificationService against a real current.db, the real RoomStore and RoomService: a mention
// and an invitation are stored with the change that causes them (and not without it), listed
// newest first in pages, marked read by id or up to an id (never another account's), capped
// per account with the oldest read ones going first, and a subscribing socket gets its unread
// ones in one frame.
#include "server/features/notification_service.hpp"

#include <catch2/catch.hpp>

#include "server/features/room_service.hpp"
#include "server/features/service_test_support.hpp"

namespace parley {

namespace {

using test::run;

struct Notified {
    test::TempCurrentDb db{"notification-service"};
    net::io_context ioc;
    ChatSettings settings;
    DbWriter writer{SqliteDb(db.path), DbSettings{}};
    DbReaderPool readers{db.path, DbSettings{}};
    RoomStore rooms{writer, readers, 50};
    AccountStore accounts{writer};
    ClientRegistry clients;
    RoomHub hub{ioc.get_executor(), settings, rooms, accounts, clients};
    Notifier notifier{clients};
    NotificationStore store;
    NotificationService service{store, notifier, clients, ioc.get_executor()};
    RoomService chat{settings, RoomPolicy{false, false, "test"}, rooms, accounts, hub, service};
    std::string room;

    explicit Notified(int keep = 500) : store(writer, readers, keep) {
        notifier.on_subscribe([this](const Client& c) { service.send_unread(c); });
        for (const char* name : {"olga", "mia", "ben"}) {
            REQUIRE(run(ioc, accounts.create_account(Account{name, name, "x", "user", 1})));
        }
        auto created = run(ioc, chat.create(*accounts.account_by_id("olga"),
                                            {{"members", {"mia"}}, {"title", "t"}}));
        REQUIRE(created);
        room = created->id;
    }
    ~Notified() { writer.stop(); }
    std::shared_ptr<test::RecordingSocket> socket(std::uint64_t id, const std::string& account) {
        auto c = std::make_shared<test::RecordingSocket>(id, account);
        clients.add(c, 10);
        notifier.subscribe(*c);
        ioc.run();  // the unread frame
        ioc.restart();
        return c;
    }
    void say(const std::string& who, const std::string& text) {
        static int n = 0;
        auto sent = run(
            ioc, chat.send(who, room,
                           SendFields::from_json(
                               {{"text", text}, {"client_msg_id", "c" + std::to_string(++n)}})));
        INFO((sent ? std::string() : sent.refusal().message));
        REQUIRE(sent);
    }
    NotificationPage list(const std::string& account, NotificationQuery q = {}) {
        auto page = run(ioc, service.list(account, q));
        REQUIRE(page);
        return std::move(*page);
    }
    std::int64_t rows(const std::string& where = "1") {
        SqliteDb raw(db.path, SqliteOptions{OpenMode::read_only});
        return raw.query_int64("SELECT count(*) FROM notifications WHERE " + where);
    }
};

}  // namespace

TEST_CASE("mentions and invitations are stored with their change and listed newest first",
          "[server][notifications]") {
    Notified t;
    CHECK(t.rows("account_id = 'mia' AND kind = 'invitation'") == 1);
    t.say("olga", "no mention here");
    t.say("olga", "hello @mia and @mia again, not @mi or @olga");
    t.say("olga", "an email x@miaa is not mia");
    CHECK(t.rows() == 2);  // the invitation and one mention (the sender is never mentioned)

    auto page = t.list("mia");
    REQUIRE(page.items.size() == 2);
    CHECK(page.unread == 2);
    CHECK_FALSE(page.more);
    CHECK(page.items[0].kind == "mention");
    CHECK(page.items[0].seq == 2);
    CHECK(page.items[0].from == "olga");
    CHECK(page.items[1].kind == "invitation");
    CHECK(page.items[0].id > page.items[1].id);
    auto j = NotificationService::to_json(page.items[0]);
    CHECK(j["read_at"].is_null());
    CHECK(j["seq"] == 2);
    CHECK_FALSE(NotificationService::to_json(page.items[1]).contains("seq"));

    // An account added later is invited; re-adding a member (a role change) is not an invitation.
    REQUIRE(run(t.ioc, t.chat.add_member("olga", t.room, {{"account_id", "ben"}})));
    REQUIRE(
        run(t.ioc, t.chat.add_member("olga", t.room, {{"account_id", "ben"}, {"role", "viewer"}})));
    CHECK(t.rows("account_id = 'ben'") == 1);

    // Pages: one at a time, then the rest.
    auto first = t.list("mia", {"", "1", ""});
    REQUIRE(first.items.size() == 1);
    CHECK(first.more);
    auto second = t.list("mia", {std::to_string(first.items[0].id), "1", ""});
    REQUIRE(second.items.size() == 1);
    CHECK(second.items[0].kind == "invitation");
    CHECK_FALSE(second.more);
    for (NotificationQuery bad :
         {NotificationQuery{"x", "", ""}, NotificationQuery{"", "0", ""},
          NotificationQuery{"", "201", ""}, NotificationQuery{"", "", "maybe"}}) {
        CHECK_FALSE(run(t.ioc, t.service.list("mia", bad)));
    }
}

TEST_CASE("a mention is stored only with its message", "[server][notifications]") {
    Notified t;
    // A refused message (too long) leaves no notification.
    std::string long_text = "@mia " + std::string(2000, 'x');
    auto refused =
        run(t.ioc,
            t.chat.send("olga", t.room,
                        SendFields::from_json({{"text", long_text}, {"client_msg_id", "long"}})));
    CHECK_FALSE(refused);
    CHECK(t.rows("kind = 'mention'") == 0);
    // A notification that cannot be stored fails its message too: nothing of either is kept
    // and no number is used up.
    auto failed = run(t.ioc, t.rooms.append(Message{t.room, 0, "olga", "f1", "@mia", "", "", 1},
                                            [](SqliteDb& db, const Message&) {
                                                db.exec(
                                                    "INSERT INTO notifications(account_id) "
                                                    "VALUES (NULL)");
                                            }));
    CHECK_FALSE(failed);
    CHECK(t.rows("kind = 'mention'") == 0);
    t.say("olga", "@mia now");
    auto page = t.list("mia", {"", "", "true"});
    REQUIRE(page.items.size() == 2);
    CHECK(page.items[0].seq == 1);
    // A resend is not a second mention.
    REQUIRE(run(t.ioc, t.chat.send("olga", t.room,
                                   SendFields::from_json(
                                       {{"text", "@mia again"}, {"client_msg_id", "r"}}))));
    REQUIRE(run(t.ioc, t.chat.send("olga", t.room,
                                   SendFields::from_json(
                                       {{"text", "@mia again"}, {"client_msg_id", "r"}}))));
    CHECK(t.rows("kind = 'mention'") == 2);
}

TEST_CASE("marking read by ids or up to an id, one's own only", "[server][notifications]") {
    Notified t;
    for (int i = 0; i < 4; ++i)
        t.say("olga", "@mia " + std::to_string(i));
    t.say("mia", "@olga");
    auto mia = t.list("mia");
    REQUIRE(mia.items.size() == 5);
    auto olga = t.list("olga");
    REQUIRE(olga.items.size() == 1);
    auto other_device = t.socket(7, "mia");

    // Another account's id is not marked (nor is it an error that says it exists).
    auto marked =
        run(t.ioc, t.service.mark_read("mia", {{"ids", {mia.items[0].id, olga.items[0].id}}}));
    REQUIRE(marked);
    CHECK(marked->marked == 1);
    CHECK(marked->unread == 4);
    CHECK(t.list("olga").unread == 1);
    auto told = other_device->of_type("notifications_read");
    REQUIRE(told.size() == 1);
    CHECK(told[0]["unread"] == 4);
    // Again: nothing changes, nobody is told.
    marked = run(t.ioc, t.service.mark_read("mia", {{"ids", {mia.items[0].id}}}));
    CHECK(marked->marked == 0);
    CHECK(other_device->of_type("notifications_read").size() == 1);

    // Up to the third newest: it and the two older ones; the second newest stays unread.
    marked = run(t.ioc, t.service.mark_read("mia", {{"up_to", mia.items[2].id}}));
    REQUIRE(marked);
    CHECK(marked->marked == 3);
    CHECK(marked->unread == 1);
    auto unread = t.list("mia", {"", "", "true"});
    REQUIRE(unread.items.size() == 1);
    CHECK(unread.items[0].id == mia.items[1].id);
    CHECK(t.list("mia").items[4].read_at > 0);
    CHECK(run(t.ioc, t.service.unread_count("mia")).value() == 1);

    for (nlohmann::json bad :
         {nlohmann::json::object(), nlohmann::json{{"ids", nlohmann::json::array()}},
          nlohmann::json{{"ids", {"1"}}}, nlohmann::json{{"ids", {1}}, {"up_to", 1}},
          nlohmann::json{{"up_to", -1}}, nlohmann::json{{"up_to", 1}, {"all", true}}}) {
        auto out = run(t.ioc, t.service.mark_read("mia", bad));
        REQUIRE_FALSE(out);
        CHECK(out.refusal().code == ErrorCode::bad_request);
    }
}

TEST_CASE("each account keeps at most keep_per_account, the oldest read ones going first",
          "[server][notifications]") {
    Notified t(3);
    t.say("olga", "@mia 1");
    t.say("olga", "@mia 2");
    auto before = t.list("mia");
    REQUIRE(before.items.size() == 3);  // the invitation, two mentions
    // The newest is read: it outlives older unread ones only while there is room for them.
    REQUIRE(run(t.ioc, t.service.mark_read("mia", {{"ids", {before.items[0].id}}})));
    t.say("olga", "@mia 3");
    auto after = t.list("mia");
    REQUIRE(after.items.size() == 3);
    CHECK(after.items[0].seq == 3);
    CHECK(after.items[1].seq == 1);  // mention 2 (read) went, not the older unread ones
    CHECK(after.items[2].kind == "invitation");
    t.say("olga", "@mia 4");  // none read: the oldest unread goes
    after = t.list("mia");
    REQUIRE(after.items.size() == 3);
    CHECK(after.items[2].seq == 1);
    CHECK(t.rows("account_id = 'mia'") == 3);
}

TEST_CASE("a subscribing socket gets its unread notifications in one frame",
          "[server][notifications]") {
    Notified t;
    for (int i = 0; i < NotificationService::kUnreadOnSubscribe + 2; ++i)
        t.say("olga", "@mia " + std::to_string(i));
    auto mia = t.socket(1, "mia");
    auto frames = mia->of_type("notifications");
    REQUIRE(frames.size() == 1);
    CHECK(frames[0]["unread"] == NotificationService::kUnreadOnSubscribe + 3);
    CHECK(frames[0]["notifications"].size() == NotificationService::kUnreadOnSubscribe);
    CHECK(frames[0]["more"] == true);
    CHECK(frames[0]["notifications"][0]["seq"] == NotificationService::kUnreadOnSubscribe + 2);

    // Live: a new mention arrives as a `notification` frame with its stored id.
    t.say("olga", "@mia live");
    auto live = mia->of_type("notification");
    REQUIRE(live.size() == 1);
    CHECK(live[0]["kind"] == "mention");
    CHECK(live[0]["id"].get<std::int64_t>() == t.list("mia").items[0].id);

    // An account with nothing unread gets a frame all the same (its count is 0).
    auto ben = t.socket(2, "ben");
    REQUIRE(ben->of_type("notifications").size() == 1);
    CHECK(ben->of_type("notifications")[0]["unread"] == 0);
}

}  // namespace parley
