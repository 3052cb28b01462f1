// The bot behaviours against a fake BotActions: what each says, removes or ignores.
#include "botclient/bot/bot_behaviour.hpp"

#include <catch2/catch.hpp>

#include "botclient/bot/moderator_behaviour.hpp"

namespace parley {

namespace {

class FakeActions : public BotActions {
  public:
    const std::string& self_id() const override { return self_; }
    void say(const std::string& room_id, const std::string& text) override {
        said.emplace_back(room_id, text);
    }
    void remove_message(const std::string& room_id, std::int64_t seq,
                        std::function<void(bool)> done) override {
        removed.emplace_back(room_id, seq);
        done(allow_remove);
    }

    std::string self_ = "bot";
    bool allow_remove = true;
    std::vector<std::pair<std::string, std::string>> said;
    std::vector<std::pair<std::string, std::int64_t>> removed;
};

BotMessage msg(std::string text, std::int64_t seq = 1) {
    return BotMessage{"room", seq, "alice", std::move(text)};
}

}  // namespace

TEST_CASE("echo answers with its prefix and never echoes an echo", "[bots]") {
    auto echo = make_behaviour("echo", {});
    REQUIRE(echo);
    CHECK(echo->name() == "echo");
    FakeActions a;
    echo->on_message(a, msg("hi there"));
    echo->on_message(a, msg("echo: hi there"));
    echo->on_message(a, msg(""));  // an image without a caption
    echo->on_member_joined(a, "room", "bob", "Bob");
    REQUIRE(a.said.size() == 1);
    CHECK(a.said[0] == std::pair<std::string, std::string>{"room", "echo: hi there"});
}

TEST_CASE("greeter welcomes new members by display name, else by id", "[bots]") {
    auto greeter = make_behaviour("greeter", {});
    FakeActions a;
    greeter->on_message(a, msg("hello"));
    greeter->on_member_joined(a, "room", "bob-id", "Bob");
    greeter->on_member_joined(a, "room", "carl-id", "");
    REQUIRE(a.said.size() == 2);
    CHECK(a.said[0].second == "Welcome, Bob!");
    CHECK(a.said[1].second == "Welcome, carl-id!");
}

TEST_CASE("moderator matches listed words whole and without regard to case", "[bots]") {
    ModeratorBehaviour m({"Spam", "buy now"}, true);
    CHECK(m.matches("spam"));
    CHECK(m.matches("This is SPAM!"));
    CHECK(m.matches("(spam)"));
    CHECK_FALSE(m.matches("spammer"));
    CHECK_FALSE(m.matches("antispam"));
    CHECK_FALSE(m.matches("spämspam"));
    CHECK(m.matches("please BUY NOW today"));
    CHECK_FALSE(m.matches("nothing to see"));
    ModeratorBehaviour empty({}, true);
    CHECK_FALSE(empty.matches("spam"));
}

TEST_CASE("moderator removes a match, and flags it when removal is refused", "[bots]") {
    BehaviourSettings settings{{"spam"}, "remove"};
    auto mod = make_behaviour("moderator", settings);
    FakeActions a;
    mod->on_message(a, msg("fine", 1));
    mod->on_message(a, msg("spam here", 2));
    REQUIRE(a.removed.size() == 1);
    CHECK(a.removed[0].second == 2);
    CHECK(a.said.empty());

    a.allow_remove = false;
    mod->on_message(a, msg("more spam", 3));
    REQUIRE(a.said.size() == 1);
    CHECK(a.said[0].second.find("message 3") != std::string::npos);
    CHECK(a.said[0].second.find("spam") == std::string::npos);  // the word is not repeated
}

TEST_CASE("moderator with action flag never removes", "[bots]") {
    auto mod = make_behaviour("moderator", BehaviourSettings{{"spam"}, "flag"});
    FakeActions a;
    mod->on_message(a, msg("spam", 7));
    CHECK(a.removed.empty());
    REQUIRE(a.said.size() == 1);
    CHECK(a.said[0].second == "Flagged message 7 from alice for moderation.");
}

TEST_CASE("unknown behaviours are refused", "[bots]") {
    CHECK(make_behaviour("dancer", {}) == nullptr);
}

}  // namespace parley
