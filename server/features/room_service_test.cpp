// RoomService against a real current.db (every migration applied), the real stores, RoomHub
// and Notifier: each refusal carries its ErrorCode, each change is written before the hub and
// the notifier hear of it, and what the store holds afterwards is what the answer said.
#include "server/features/room_service.hpp"

#include <thread>

#include <catch2/catch.hpp>

#include "common/crypto.hpp"
#include "server/features/service_test_support.hpp"

namespace parley {

namespace {

using test::run;

using RecordingClient = test::RecordingSocket;

ChatSettings small_limits() {
    ChatSettings s;
    s.max_members = 3;
    s.rooms_per_account = 2;
    s.message_max_chars = 10;
    s.presence_interval_ms = 1;
    return s;
}

// The policy of a server upgraded from before signatures by default: most cases here send
// unsigned messages; the signature cases pass their own.
RoomPolicy unsigned_by_default() {
    return RoomPolicy{false, false, "test"};
}

struct Rooms {
    explicit Rooms(RoomPolicy p = unsigned_by_default()) : policy(std::move(p)) { add_accounts(); }

    test::TempCurrentDb db{"room-service"};
    net::io_context ioc;
    ChatSettings settings = small_limits();
    DbWriter writer{SqliteDb(db.path), DbSettings{}};
    DbReaderPool readers{db.path, DbSettings{}};
    RoomStore store{writer, readers, 50};
    AccountStore accounts{writer};
    ClientRegistry clients;
    RoomHub hub{ioc.get_executor(), settings, store, accounts, clients};
    Notifier notifier{clients};
    NotificationStore stored{writer, readers, 500};
    NotificationService notifications{stored, notifier, clients, ioc.get_executor()};
    RoomPolicy policy;
    RoomService service{settings, policy, store, accounts, hub, notifications};

    void add_accounts() {
        for (const char* name : {"olga", "mia", "ben", "zoe"}) {
            Account a{name, name, "x", "user", 1};
            REQUIRE(run(ioc, accounts.create_account(a)));
        }
    }
    ~Rooms() { writer.stop(); }
    Account account(const std::string& id) { return *accounts.account_by_id(id); }
    // A connected socket of `account` that takes notifications.
    std::shared_ptr<RecordingClient> socket(std::uint64_t id, const std::string& account) {
        auto c = std::make_shared<RecordingClient>(id, account);
        clients.add(c, 10);
        notifier.subscribe(*c);
        return c;
    }
    std::string create(const nlohmann::json& body, const std::string& by = "olga") {
        auto room = run(ioc, service.create(account(by), body));
        REQUIRE(room);
        return room->id;
    }
    // A send whose fields come as a JSON body, as REST's and an edge's do.
    awaitable<Outcome<SentMessage>> send(const std::string& account, const std::string& room,
                                         nlohmann::json body) {
        return service.send(account, room, SendFields::from_json(body));
    }
    template <class T>
    ErrorCode refused(Outcome<T> out) {
        REQUIRE_FALSE(out);
        return out.refusal().code;
    }
};

}  // namespace

TEST_CASE("creating a room checks its fields and limits and invites its members",
          "[server][rooms]") {
    Rooms t;
    auto mia = t.socket(1, "mia");
    CHECK(t.refused(run(t.ioc, t.service.create(t.account("olga"), {{"kind", "chat"}}))) ==
          ErrorCode::bad_request);
    CHECK(t.refused(
              run(t.ioc, t.service.create(t.account("olga"), {{"members", {"mia", "nobody"}}}))) ==
          ErrorCode::bad_request);
    CHECK(
        t.refused(run(t.ioc, t.service.create(t.account("olga"), {{"kind", "direct"},
                                                                  {"members", {"mia", "ben"}}}))) ==
        ErrorCode::bad_request);
    CHECK(t.refused(run(
              t.ioc, t.service.create(t.account("olga"), {{"members", {"mia", "ben", "zoe"}}}))) ==
          ErrorCode::too_many);
    CHECK(error_code_name(ErrorCode::too_many) == "too_large");
    CHECK(mia->of_type("notification").empty());

    // The caller and duplicates are not invited twice.
    std::string id = t.create({{"title", "plans"}, {"members", {"mia", "olga", "mia"}}});
    CHECK(t.store.members(id).size() == 2);
    CHECK(t.store.member(id, "olga")->role == "owner");
    CHECK(t.store.member(id, "mia")->role == "member");
    auto invitations = mia->of_type("notification");
    REQUIRE(invitations.size() == 1);
    CHECK(invitations[0]["kind"] == "invitation");
    CHECK(invitations[0]["room_id"] == id);
    CHECK(invitations[0]["from"] == "olga");

    t.create({});
    CHECK(t.refused(run(t.ioc, t.service.create(t.account("olga"), {}))) == ErrorCode::forbidden);
    {
        SqliteDb db(t.db.path, SqliteOptions{OpenMode::read_only});
        CHECK(db.query_int64("SELECT count(*) FROM rooms WHERE created_by = 'olga'") == 2);
    }
    auto listed = t.service.rooms_of("mia");
    REQUIRE(listed.size() == 1);
    CHECK(listed[0].room.title == "plans");
    CHECK(listed[0].me.role == "member");
}

TEST_CASE("new rooms take the server's signature rule; an opt-out needs the server's leave",
          "[server][rooms]") {
    auto signed_room = [](Rooms& t, const std::string& id) {
        return t.store.room(id)->require_signatures;
    };
    SECTION("required, no opt-out") {
        Rooms t(RoomPolicy{true, false, "test"});
        CHECK(signed_room(t, t.create({})));
        CHECK(signed_room(t, t.create({{"kind", "ephemeral"}, {"require_signatures", true}})));
        for (const char* kind : {"group", "direct", "ephemeral"}) {
            nlohmann::json body{{"kind", kind}, {"require_signatures", false}};
            if (std::string(kind) == "direct") body["members"] = {"mia"};
            CHECK(t.refused(run(t.ioc, t.service.create(t.account("mia"), body))) ==
                  ErrorCode::forbidden);
        }
        CHECK(t.refused(
                  run(t.ioc, t.service.create(t.account("mia"), {{"require_signatures", "no"}}))) ==
              ErrorCode::bad_request);
        // A refused opt-out stored nothing: mia may still create her two rooms.
        CHECK(signed_room(t, t.create({{"kind", "direct"}, {"members", {"ben"}}}, "mia")));
        CHECK(signed_room(t, t.create({{"require_signatures", nullptr}}, "mia")));
    }
    SECTION("required, opt-out allowed") {
        Rooms t(RoomPolicy{true, true, "test"});
        CHECK(signed_room(t, t.create({})));
        CHECK_FALSE(signed_room(t, t.create({{"require_signatures", false}})));
    }
    SECTION("not required: unsigned unless asked") {
        Rooms t(RoomPolicy{false, false, "test"});
        CHECK_FALSE(signed_room(t, t.create({})));
        CHECK(signed_room(t, t.create({{"require_signatures", true}})));
    }
}

TEST_CASE("in a room signed by default an unsigned message is refused and a signed one stored",
          "[server][rooms]") {
    Rooms t(RoomPolicy{true, false, "test"});
    std::string id = t.create({{"members", {"mia"}}});
    auto keys = generate_ed25519();
    REQUIRE(run(t.ioc, t.service.join(t.account("mia"), id,
                                      {{"public_key", base64_encode(keys.public_key)}})));
    CHECK(t.refused(run(t.ioc, t.send("mia", id, {{"text", "hi"}, {"client_msg_id", "u1"}}))) ==
          ErrorCode::invalid_signature);
    std::string sig = base64_encode(
        ed25519_sign(keys.private_key, canonical_message_bytes(id, "mia", "s1", "hi", "")));
    auto sent = run(
        t.ioc, t.send("mia", id, {{"text", "hi"}, {"client_msg_id", "s1"}, {"signature", sig}}));
    REQUIRE(sent);
    CHECK(sent->message->seq == 1);
    // The signature covers the client_msg_id: reused on another message it does not match.
    CHECK(t.refused(run(
              t.ioc,
              t.send("mia", id, {{"text", "hi"}, {"client_msg_id", "s2"}, {"signature", sig}}))) ==
          ErrorCode::invalid_signature);
}

TEST_CASE("joining follows the room's policy and size and patches the document",
          "[server][rooms]") {
    Rooms t;
    std::string id = t.create({{"members", {"mia"}}});
    auto owner = t.socket(1, "olga");
    t.hub.subscribe(owner, id, RoomTopic::doc, std::nullopt);
    REQUIRE(owner->of_type("patch").size() == 1);  // the whole document

    CHECK(t.refused(run(t.ioc, t.service.join(t.account("ben"), id, {}))) == ErrorCode::forbidden);
    CHECK(t.refused(run(t.ioc, t.service.join(t.account("ben"), "no-room", {}))) ==
          ErrorCode::not_found);
    CHECK(t.refused(t.service.document("ben", id)) == ErrorCode::not_found);

    auto opened = run(t.ioc, t.service.update("olga", id, {{"join_policy", "open"}}));
    REQUIRE(opened);
    CHECK(opened->join_policy == "open");
    CHECK(t.refused(run(t.ioc, t.service.update("mia", id, {{"title", "mine"}}))) ==
          ErrorCode::forbidden);
    CHECK(t.refused(run(t.ioc, t.service.update("ben", id, {{"title", "mine"}}))) ==
          ErrorCode::not_found);
    CHECK(t.refused(run(t.ioc, t.service.update("olga", id, {{"title", 7}}))) ==
          ErrorCode::bad_request);

    std::size_t patches = owner->of_type("patch").size();
    CHECK(t.refused(run(t.ioc, t.service.join(t.account("ben"), id, {{"display_name", ""}}))) ==
          ErrorCode::bad_request);
    auto ben = run(t.ioc, t.service.join(t.account("ben"), id, {{"display_name", "Ben"}}));
    REQUIRE(ben);
    CHECK(ben->display_name == "Ben");
    CHECK(t.store.member(id, "ben")->display_name == "Ben");
    CHECK(owner->of_type("patch").size() > patches);
    CHECK(t.hub.document(id).first.dump().find("Ben") != std::string::npos);

    // Three members is the limit here: a fourth is refused as `full` (403 too_large).
    CHECK(t.refused(run(t.ioc, t.service.join(t.account("zoe"), id, {}))) == ErrorCode::full);
}

TEST_CASE("owners manage members and bans; the last owner cannot leave", "[server][rooms]") {
    Rooms t;
    std::string id = t.create({{"members", {"mia", "ben"}}});
    auto mia = t.socket(2, "mia");
    t.hub.subscribe(mia, id, RoomTopic::chat, std::nullopt);

    CHECK(t.refused(run(t.ioc, t.service.leave("olga", id))) == ErrorCode::conflict);
    CHECK(t.refused(run(t.ioc, t.service.expel("mia", id, "ben", false))) == ErrorCode::forbidden);
    CHECK(t.refused(run(t.ioc, t.service.expel("olga", id, "olga", false))) ==
          ErrorCode::bad_request);
    CHECK(t.refused(run(t.ioc, t.service.expel("olga", id, "zoe", false))) == ErrorCode::not_found);

    REQUIRE(run(t.ioc, t.service.expel("olga", id, "mia", true)));
    CHECK_FALSE(t.store.member(id, "mia"));
    CHECK(mia->of_type("removed").size() == 1);
    auto bans = run(t.ioc, t.service.bans("olga", id));
    REQUIRE(bans);
    REQUIRE(bans->size() == 1);
    CHECK((*bans)[0].account_id == "mia");
    CHECK((*bans)[0].banned_by == "olga");
    CHECK(t.refused(run(t.ioc, t.service.add_member("olga", id, {{"account_id", "mia"}}))) ==
          ErrorCode::conflict);
    CHECK(t.refused(run(t.ioc, t.service.join(t.account("mia"), id, {}))) == ErrorCode::forbidden);
    REQUIRE(run(t.ioc, t.service.unban("olga", id, "mia")));
    CHECK(t.refused(run(t.ioc, t.service.unban("olga", id, "mia"))) == ErrorCode::not_found);

    CHECK(t.refused(run(t.ioc, t.service.add_member("olga", id,
                                                    {{"account_id", "mia"}, {"role", "king"}}))) ==
          ErrorCode::bad_request);
    auto added =
        run(t.ioc, t.service.add_member("olga", id, {{"account_id", "mia"}, {"role", "owner"}}));
    REQUIRE(added);
    CHECK(t.store.member(id, "mia")->role == "owner");
    CHECK(mia->of_type("notification").size() == 1);  // invited again
    CHECK(t.refused(run(t.ioc, t.service.add_member("olga", id, {{"account_id", "zoe"}}))) ==
          ErrorCode::full);

    REQUIRE(run(t.ioc, t.service.leave("olga", id)));
    CHECK_FALSE(t.store.member(id, "olga"));
    CHECK(t.refused(run(t.ioc, t.service.leave("olga", id))) == ErrorCode::not_found);
}

TEST_CASE("sending, reading, history and moderation", "[server][rooms]") {
    Rooms t;
    std::string id = t.create({{"members", {"mia", "ben"}}});
    REQUIRE(
        run(t.ioc, t.service.add_member("olga", id, {{"account_id", "ben"}, {"role", "viewer"}})));
    auto watcher = t.socket(3, "mia");
    t.hub.subscribe(watcher, id, RoomTopic::chat, std::nullopt);

    CHECK(t.refused(run(t.ioc, t.send("ben", id, {{"text", "hi"}, {"client_msg_id", "b1"}}))) ==
          ErrorCode::forbidden);
    CHECK(t.refused(
              run(t.ioc, t.send("mia", id, {{"text", "far too long"}, {"client_msg_id", "m0"}}))) ==
          ErrorCode::too_large);
    CHECK(t.refused(run(t.ioc, t.send("mia", id, {{"text", "hi"}}))) == ErrorCode::bad_request);
    CHECK(t.refused(run(t.ioc, t.send("mia", id, {{"media", "img"}, {"client_msg_id", "m9"}}))) ==
          ErrorCode::bad_request);  // no media_check: images are off

    auto first = run(t.ioc, t.send("mia", id, {{"text", "hi @olga"}, {"client_msg_id", "m1"}}));
    REQUIRE(first);
    CHECK(first->message->seq == 1);
    CHECK_FALSE(first->duplicate);
    auto again = run(t.ioc, t.send("mia", id, {{"text", "hi @olga"}, {"client_msg_id", "m1"}}));
    REQUIRE(again);
    CHECK(again->duplicate);
    CHECK(again->message->seq == 1);
    REQUIRE(run(t.ioc, t.send("olga", id, {{"text", "hello"}, {"client_msg_id", "o1"}})));
    CHECK(watcher->of_type("message").size() == 2);  // the resend is not delivered again

    auto read = run(t.ioc, t.service.mark_read("mia", id, {{"seq", 2}}));
    REQUIRE(read);
    CHECK(*read == 2);
    CHECK(t.refused(run(t.ioc, t.service.mark_read("mia", id, {{"seq", -1}}))) ==
          ErrorCode::bad_request);
    CHECK(t.refused(run(t.ioc, t.service.mark_read("zoe", id, {{"seq", 1}}))) ==
          ErrorCode::not_found);

    auto all = run(t.ioc, t.service.history("ben", id, HistoryQuery{}));
    REQUIRE(all);
    REQUIRE(all->size() == 2);
    CHECK((*all)[0].text == "hi @olga");
    auto after = run(t.ioc, t.service.history("ben", id, HistoryQuery{1, 1, true}));
    REQUIRE(after);
    REQUIRE(after->size() == 1);
    CHECK((*after)[0].seq == 2);
    CHECK(t.refused(run(t.ioc, t.service.history("ben", id, HistoryQuery{0, 1001, true}))) ==
          ErrorCode::bad_request);
    CHECK(t.refused(run(t.ioc, t.service.history("ben", id, HistoryQuery{0, 1, false}))) ==
          ErrorCode::bad_request);
    CHECK(t.refused(run(t.ioc, t.service.history("zoe", id, HistoryQuery{0, 1, false}))) ==
          ErrorCode::not_found);

    CHECK(t.refused(run(t.ioc, t.service.remove_message("mia", id, 1))) == ErrorCode::forbidden);
    CHECK(t.refused(run(t.ioc, t.service.remove_message("olga", id, std::nullopt))) ==
          ErrorCode::bad_request);
    REQUIRE(run(t.ioc, t.service.remove_message("olga", id, 1)));
    CHECK(t.refused(run(t.ioc, t.service.remove_message("olga", id, 1))) == ErrorCode::not_found);
    auto removed = watcher->of_type("message_removed");
    REQUIRE(removed.size() == 1);
    CHECK(removed[0]["seq"] == 1);
    CHECK(removed[0]["removed_by"] == "olga");
    auto left = run(t.ioc, t.service.history("mia", id, HistoryQuery{}));
    REQUIRE(left);
    REQUIRE(left->size() == 1);
    CHECK((*left)[0].seq == 2);
}

namespace {
// A cluster primary's sink, as RoomHub hands it events.
struct RecordingSink : RoomEventSink {
    struct Event {
        RoomEventKind kind;
        std::int64_t seq;
        std::string frame;
    };
    void room_event(const RoomEvent& e) override {
        events.push_back({e.kind, e.seq, e.frame ? *e.frame : std::string()});
    }
    std::vector<Event> of(RoomEventKind kind) const {
        std::vector<Event> out;
        for (const auto& e : events)
            if (e.kind == kind) out.push_back(e);
        return out;
    }
    std::vector<Event> events;
};
}  // namespace

TEST_CASE("a send's fields read from a flat frame are checked as the same JSON body is",
          "[server][rooms]") {
    Rooms t;
    std::string id = t.create({{"members", {"mia"}}});
    auto answer = [&](Outcome<SentMessage> out) -> std::string {
        if (!out)
            return std::string(error_code_name(out.refusal().code)) + ": " + out.refusal().message;
        return "stored " + out->message->text + "|" + out->message->client_msg_id + "|" +
               out->message->media;
    };
    int n = 0;
    for (std::string fields :
         {R"("text":"hi","client_msg_id":"C")", R"("client_msg_id":"C")",
          R"("text":null,"client_msg_id":"C")", R"("text":5,"client_msg_id":"C")",
          R"("text":"hi","client_msg_id":"")", R"("text":"hi","client_msg_id":7)", R"("text":"hi")",
          R"("text":"","client_msg_id":"C")", R"("text":"far too long","client_msg_id":"C")",
          R"("text":"hi","client_msg_id":"C","media":null)",
          R"("text":"hi","client_msg_id":"C","media":"")",
          R"("text":"hi","client_msg_id":"C","media":true)", R"("client_msg_id":"C","media":"img")",
          R"("text":"hi","client_msg_id":"C","signature":null)",
          R"("text":"hi","client_msg_id":"C","signature":"AAAA")",
          R"("text":"hi","client_msg_id":"C","signature":1)",
          R"("text":"a","text":"b","client_msg_id":"C")"}) {
        // A client id of its own per case and path, so that no answer is a resend's.
        const std::string cmid = "c" + std::to_string(++n);
        std::string frame = "{" + fields + "}";
        for (std::size_t at; (at = frame.find("\"C\"")) != std::string::npos;)
            frame.replace(at, 3, "\"" + cmid + "\"");
        INFO(frame);
        auto flat = read_flat_json_object(frame);
        REQUIRE(flat);
        const std::string from_flat =
            answer(run(t.ioc, t.service.send("mia", id, SendFields::from_flat(*flat))));
        std::string again = frame;
        for (std::size_t at; (at = again.find(cmid + "\"")) != std::string::npos;)
            again.replace(at, cmid.size(), cmid + "j");
        auto body = nlohmann::json::parse(again);
        std::string from_json =
            answer(run(t.ioc, t.service.send("mia", id, SendFields::from_json(body))));
        if (auto at = from_json.find(cmid + "j"); at != std::string::npos)
            from_json.erase(at + cmid.size(), 1);
        CHECK(from_flat == from_json);
        if (n == 1) CHECK(from_flat == "stored hi|c1|");
        if (n == 2) CHECK(from_flat == "bad_request: text is a required string");
        // The last of two texts, as nlohmann keeps it.
        if (n == 17) CHECK(from_flat == "stored b|c17|");
    }
}

TEST_CASE("a primary keeps the documents edges read and counts the accounts they report online",
          "[server][rooms][cluster]") {
    Rooms t;
    RecordingSink sink;
    t.hub.set_event_sink(&sink);
    std::string id = t.create({{"members", {"mia", "ben"}}});
    auto send = [&](const char* cmid) {
        REQUIRE(run(t.ioc, t.send("mia", id, {{"text", "hi"}, {"client_msg_id", cmid}})));
    };

    // No local reader: an edge's request keeps the document, and every patch is published
    // with the version it produces.
    auto first = t.hub.document_frames(id, std::nullopt, std::chrono::seconds(30));
    REQUIRE(first.frames.size() == 1);
    CHECK(nlohmann::json::parse(*first.frames[0])["ops"][0]["path"] == "");
    send("m1");
    send("m2");
    auto patches = sink.of(RoomEventKind::doc_patch);
    REQUIRE(patches.size() == 2);
    CHECK(patches[0].seq == first.version + 1);
    CHECK(patches[1].seq == first.version + 2);
    // A subscriber holding the first version gets exactly those patches, byte for byte.
    auto resumed = t.hub.document_frames(id, first.version, std::chrono::seconds(30));
    CHECK(resumed.version == first.version + 2);
    REQUIRE(resumed.frames.size() == 2);
    CHECK(*resumed.frames[0] == patches[0].frame);
    CHECK(*resumed.frames[1] == patches[1].frame);
    CHECK(t.hub.document_frames(id, resumed.version, std::chrono::seconds(30)).frames.empty());

    // Once no edge renews it, the document is no longer patched for them.
    RecordingSink quiet;
    t.hub.set_event_sink(&quiet);
    std::string other = t.create({{"members", {"mia"}}});
    REQUIRE(
        t.hub.document_frames(other, std::nullopt, std::chrono::milliseconds(0)).frames.size() ==
        1);
    REQUIRE(run(t.ioc, t.send("mia", other, {{"text", "x"}, {"client_msg_id", "o1"}})));
    CHECK(quiet.of(RoomEventKind::doc_patch).empty());
    // A renewal of a dropped or never-built document publishes it whole.
    t.hub.keep_documents({id}, std::chrono::seconds(30));
    CHECK(quiet.of(RoomEventKind::doc_patch).empty());  // still kept: nothing rebuilt

    // Presence: the accounts edges report count with the local ones until their reports expire.
    auto local = t.socket(5, "olga");
    t.hub.subscribe(local, id, RoomTopic::presence, std::nullopt);
    const auto now = std::chrono::steady_clock::now();
    t.hub.set_remote_online(id, "edge-a", {"mia"}, now + std::chrono::hours(1));
    t.hub.set_remote_online(id, "edge-b", {"ben", "zoe"}, now + std::chrono::milliseconds(300));
    t.ioc.run();  // the coalesced update
    t.ioc.restart();
    auto online = local->of_type("presence");
    REQUIRE_FALSE(online.empty());
    CHECK(online.back()["online"] == nlohmann::json({"ben", "mia", "olga", "zoe"}));
    REQUIRE_FALSE(quiet.of(RoomEventKind::presence).empty());
    CHECK(nlohmann::json::parse(quiet.of(RoomEventKind::presence).back().frame) == online.back());
    std::this_thread::sleep_for(std::chrono::milliseconds(350));
    t.hub.expire_remote_online();
    t.ioc.run();
    t.ioc.restart();
    CHECK(local->of_type("presence").back()["online"] == nlohmann::json({"mia", "olga"}));
    t.hub.set_remote_online(id, "edge-a", {}, now + std::chrono::hours(1));
    t.ioc.run();
    t.ioc.restart();
    CHECK(local->of_type("presence").back()["online"] == nlohmann::json({"olga"}));
    CHECK(t.hub.online(id) == std::vector<std::string>{"olga"});

    // An edge's account leaves and comes back within the interval: the edge showed its new
    // subscribers the list in between, so the unchanged list is published again for the edge's
    // other subscribers (they would keep the list in between otherwise).
    CHECK(t.hub.set_remote_online(id, "edge-a", {"mia"}, now + std::chrono::hours(1)) ==
          std::vector<std::string>{"mia", "olga"});
    t.ioc.run();
    t.ioc.restart();
    const auto published = quiet.of(RoomEventKind::presence).size();
    CHECK(t.hub.set_remote_online(id, "edge-a", {}, now + std::chrono::hours(1)) ==
          std::vector<std::string>{"olga"});
    CHECK(t.hub.set_remote_online(id, "edge-a", {"mia"}, now + std::chrono::hours(1)) ==
          std::vector<std::string>{"mia", "olga"});
    t.ioc.run();
    t.ioc.restart();
    REQUIRE(quiet.of(RoomEventKind::presence).size() == published + 1);
    CHECK(nlohmann::json::parse(quiet.of(RoomEventKind::presence).back().frame)["online"] ==
          nlohmann::json({"mia", "olga"}));
    // A refresh of the same report publishes nothing.
    t.hub.set_remote_online(id, "edge-a", {"mia"}, now + std::chrono::hours(1));
    t.ioc.run();
    t.ioc.restart();
    CHECK(quiet.of(RoomEventKind::presence).size() == published + 1);
}

}  // namespace parley
