#include "server/features/room_hub.hpp"

#include <catch2/catch.hpp>

namespace parley {

TEST_CASE("message_frame is the message's JSON with its type, as dump() writes it", "[room_hub]") {
    Message m;
    m.room_id = "r1";
    m.seq = 42;
    m.sender_id = "a1";
    m.client_msg_id = "c \"1\"";
    m.text = "hello\nwörld \x01";
    m.sent_at = 1'700'000'000'000;
    auto expected = [](const Message& msg) {
        nlohmann::json j = message_json(msg);
        j["type"] = "message";
        return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    };
    CHECK(*message_frame(m) == expected(m));
    m.media = "content-id";
    m.signature = std::string(64, '\x7f');
    CHECK(*message_frame(m) == expected(m));
    m.text = "bad \xff utf-8";
    CHECK(*message_frame(m) == expected(m));
}

namespace {
// A client that keeps what it is sent.
class RecordingClient : public Client {
  public:
    std::uint64_t id() const override { return 1; }
    const std::string& account_id() const override { return name_; }
    const std::string& session_id() const override { return name_; }
    const std::string& open_path() const override { return name_; }
    void send(std::shared_ptr<const std::string> frame) override { frames.push_back(*frame); }
    void close(std::uint16_t, std::string) override {}
    std::vector<std::string> frames;

  private:
    std::string name_ = "c";
};
}  // namespace

TEST_CASE("reply_sent writes what reply_ok writes", "[room_hub]") {
    for (const nlohmann::json& id : {nlohmann::json(), nlohmann::json("m-\"1\""), nlohmann::json(7),
                                     nlohmann::json(2.5), nlohmann::json(true)}) {
        RecordingClient client;
        client.reply_sent(id, "room", 12, 1'700'000'000'123, false);
        client.reply_ok(id, {{"room_id", "room"},
                             {"seq", 12},
                             {"sent_at", 1'700'000'000'123},
                             {"duplicate", false}});
        client.reply_sent(id, "room", 3, 4, true);
        client.reply_ok(id, {{"room_id", "room"}, {"seq", 3}, {"sent_at", 4}, {"duplicate", true}});
        REQUIRE(client.frames.size() == 4);
        CHECK(client.frames[0] == client.frames[1]);
        CHECK(client.frames[2] == client.frames[3]);
    }
}

}  // namespace parley
