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

}  // namespace parley
