#include <catch2/catch.hpp>

#include <string>

#include "common/ws_frame.hpp"

using namespace parley::wsframe;

namespace {

// A masked client frame, as a browser sends it.
std::string client_frame(std::uint8_t first, const std::string& payload, bool mask = true) {
    std::string f;
    f.push_back(static_cast<char>(first));
    std::uint8_t m = mask ? 0x80 : 0;
    std::size_t n = payload.size();
    if (n < 126) {
        f.push_back(static_cast<char>(m | n));
    } else if (n <= 0xFFFF) {
        f.push_back(static_cast<char>(m | 126));
        f.push_back(static_cast<char>(n >> 8));
        f.push_back(static_cast<char>(n & 0xFF));
    } else {
        f.push_back(static_cast<char>(m | 127));
        for (int i = 7; i >= 0; --i)
            f.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
    }
    const char key[4] = {0x12, 0x34, 0x56, 0x78};
    if (mask) f.append(key, 4);
    for (std::size_t i = 0; i < n; ++i)
        f.push_back(mask ? static_cast<char>(payload[i] ^ key[i & 3]) : payload[i]);
    return f;
}

}  // namespace

TEST_CASE("the handshake accept key is RFC 6455's", "[ws]") {
    // The worked example of RFC 6455 section 1.3.
    CHECK(accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_CASE("server headers use the shortest length form", "[ws]") {
    std::uint8_t h[kMaxHeader];
    CHECK(encode_header(h, Opcode::text, 5) == 2);
    CHECK((h[0] == 0x81 && h[1] == 5));
    CHECK(encode_header(h, Opcode::pong, 126) == 4);
    CHECK((h[0] == 0x8A && h[1] == 126 && h[2] == 0 && h[3] == 126));
    CHECK(encode_header(h, Opcode::text, 70000) == 10);
    CHECK((h[1] == 127 && h[7] == 0x01 && h[8] == 0x11 && h[9] == 0x70));
}

TEST_CASE("client frames are parsed and unmasked in place, in pieces", "[ws]") {
    // Lengths around the unmasking's 8-byte steps, and each length form.
    for (std::size_t n :
         {0u, 1u, 5u, 7u, 8u, 9u, 15u, 16u, 17u, 125u, 126u, 65535u, 65536u, 100000u}) {
        std::string payload(n, 'a');
        for (std::size_t i = 0; i < n; ++i)
            payload[i] = static_cast<char>('a' + i % 26);
        std::string f = client_frame(0x81, payload) + "tail";
        // Every prefix shorter than the frame asks for more.
        for (std::size_t cut : {std::size_t{0}, std::size_t{1}, f.size() / 2, f.size() - 5}) {
            std::string part = f.substr(0, cut);
            CHECK(parse_client_frame(part.data(), part.size(), 1 << 20).status ==
                  Parsed::need_more);
        }
        auto p = parse_client_frame(f.data(), f.size(), 1 << 20);
        REQUIRE(p.status == Parsed::frame);
        CHECK(p.op == Opcode::text);
        CHECK(p.fin);
        CHECK(std::string(p.payload, p.length) == payload);
        CHECK(p.consumed == f.size() - 4);
        CHECK(f.substr(f.size() - 4) == "tail");  // the bytes after the frame are untouched
    }
}

TEST_CASE("protocol errors name their close code", "[ws]") {
    auto error_of = [](std::string f, std::uint64_t max = 1000) {
        auto p = parse_client_frame(f.data(), f.size(), max);
        REQUIRE(p.status == Parsed::error);
        return p.close_code;
    };
    CHECK(error_of(client_frame(0x81, "x", false)) == 1002);             // unmasked
    CHECK(error_of(client_frame(0xC1, "x")) == 1002);                    // RSV1 without extension
    CHECK(error_of(client_frame(0x83, "x")) == 1002);                    // reserved opcode
    CHECK(error_of(client_frame(0x09, "x")) == 1002);                    // fragmented control
    CHECK(error_of(client_frame(0x89, std::string(126, 'x'))) == 1002);  // long control
    CHECK(error_of(client_frame(0x81, std::string(1001, 'x'))) == 1009);
    // Too big is known from the header alone, before the payload arrives.
    std::string header = client_frame(0x81, std::string(70000, 'x')).substr(0, 14);
    CHECK(error_of(header, 65536) == 1009);
    std::string huge("\x81\xFF\x80\x00\x00\x00\x00\x00\x00\x00", 10);
    CHECK(error_of(huge) == 1002);
}

TEST_CASE("RSV1 marks a compressed message only where permessage-deflate allows it", "[ws]") {
    auto parse = [](std::string f, bool deflate) {
        return parse_client_frame(f.data(), f.size(), 1000, deflate);
    };
    auto text = parse(client_frame(0xC1, "x"), true);  // RSV1 on a text frame
    REQUIRE(text.status == Parsed::frame);
    CHECK(text.compressed);
    CHECK_FALSE(parse(client_frame(0x81, "x"), true).compressed);
    CHECK(parse(client_frame(0x41, "x"), true).compressed);    // a message's first fragment
    for (std::uint8_t bad : {0xC9, 0xC8, 0xCA, 0xC0, 0x40}) {  // control frames, continuations
        auto p = parse(client_frame(bad, "x"), true);
        REQUIRE(p.status == Parsed::error);
        CHECK(p.close_code == 1002);
    }
    for (std::uint8_t rsv23 : {0xA1, 0x91, 0xE1}) {  // RSV2 and RSV3 stay reserved
        CHECK(parse(client_frame(rsv23, "x"), true).status == Parsed::error);
    }
    CHECK(parse(client_frame(0xC1, "x"), false).status == Parsed::error);
}

TEST_CASE("a compressed server frame sets RSV1", "[ws]") {
    std::uint8_t h[kMaxHeader];
    REQUIRE(encode_header(h, Opcode::text, 5, true) == 2);
    CHECK(h[0] == 0xC1);
    REQUIRE(encode_header(h, Opcode::text, 5) == 2);
    CHECK(h[0] == 0x81);
}

TEST_CASE("a client's close frame is answered with a valid code", "[ws]") {
    auto code = [](std::uint16_t c, std::string reason = "") {
        std::string p;
        p += static_cast<char>(c >> 8);
        p += static_cast<char>(c & 0xFF);
        return close_reply_code(p + reason);
    };
    CHECK(close_reply_code("") == 1000);
    CHECK(close_reply_code(std::string(1, '\x03')) == 1002);  // half a code
    for (std::uint16_t ok : {1000, 1001, 1002, 1003, 1007, 1008, 1011, 1013, 3000, 4001, 4999})
        CHECK(code(ok, "bye") == ok);
    for (std::uint16_t bad : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535})
        CHECK(code(bad) == 1002);
    CHECK(code(1000, "\xC3\xA9t\xC3\xA9") == 1000);  // UTF-8 reason
    CHECK(code(1000, "\xFF\xFE") == 1007);
    CHECK(code(1000, "\xC3") == 1007);  // truncated sequence
}

TEST_CASE("a client frame made by the load client's encoder parses back on the server", "[ws]") {
    const std::uint8_t key[4] = {0xA5, 0x01, 0xFE, 0x7C};
    for (std::size_t n : {0u, 3u, 8u, 13u, 125u, 126u, 65535u, 65536u}) {
        std::string payload(n, 'x');
        for (std::size_t i = 0; i < n; ++i)
            payload[i] = static_cast<char>('A' + i % 50);
        std::uint8_t h[kMaxClientHeader];
        std::size_t hn = encode_client_header(h, Opcode::text, n, key);
        CHECK(hn == (n < 126 ? 6u : n <= 0xFFFF ? 8u : 14u));
        CHECK((h[1] & 0x80) == 0x80);
        std::string body = payload;
        apply_mask(body.data(), body.size(), key);
        if (n > 0) CHECK(body != payload);
        std::string f = std::string(reinterpret_cast<const char*>(h), hn) + body;
        Parsed p = parse_client_frame(f.data(), f.size(), 1 << 20);
        REQUIRE(p.status == Parsed::frame);
        CHECK(p.consumed == f.size());
        CHECK(std::string(p.payload, p.length) == payload);
    }
}

TEST_CASE("server frames are parsed where they lie, in pieces; a masked one is an error", "[ws]") {
    for (std::size_t n : {0u, 9u, 125u, 126u, 70000u}) {
        std::string payload(n, 'q');
        std::uint8_t h[kMaxHeader];
        std::size_t hn = encode_header(h, Opcode::text, n);
        std::string f = std::string(reinterpret_cast<const char*>(h), hn) + payload + "\x81";
        for (std::size_t cut = 0; cut < hn + n; cut += (n > 200 ? 997 : 1))
            CHECK(parse_server_frame(f.data(), cut, 1 << 20).status == Parsed::need_more);
        Parsed p = parse_server_frame(f.data(), f.size(), 1 << 20);
        REQUIRE(p.status == Parsed::frame);
        CHECK(p.consumed == hn + n);
        CHECK(p.payload == f.data() + hn);
        CHECK(p.length == n);
        CHECK(p.op == Opcode::text);
        CHECK(p.fin);
    }
    std::string masked = client_frame(0x81, "hello");
    Parsed bad = parse_server_frame(masked.data(), masked.size(), 1 << 20);
    CHECK(bad.status == Parsed::error);
    CHECK(bad.close_code == 1002);
    // And the server still refuses an unmasked client frame.
    std::string unmasked = client_frame(0x81, "hello", false);
    CHECK(parse_client_frame(unmasked.data(), unmasked.size(), 1 << 20).status == Parsed::error);
    std::string big = client_frame(0x81, std::string(2000, 'z'), false);
    Parsed too_big = parse_server_frame(big.data(), 4, 1000);
    CHECK(too_big.status == Parsed::error);
    CHECK(too_big.close_code == 1009);
}
