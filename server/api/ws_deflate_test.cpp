#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <zlib.h>

#include "server/api/ws_deflate.hpp"
#include "server/features/shared_frame.hpp"

using namespace parley;
using namespace parley::wsdeflate;

namespace {

std::optional<Agreement> offer(std::string_view header) {
    return negotiate(std::vector<std::string_view>{header});
}

// What a client compresses (zlib directly, not the code under test): raw DEFLATE,
// sync-flushed, the 00 00 ff ff tail left off.
std::string client_deflate(z_stream& z, std::string_view text) {
    std::string out(deflateBound(&z, static_cast<uLong>(text.size())) + 64, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    z.avail_in = static_cast<uInt>(text.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    REQUIRE(deflate(&z, Z_SYNC_FLUSH) == Z_OK);
    REQUIRE(z.avail_in == 0);
    out.resize(out.size() - z.avail_out);
    REQUIRE(out.substr(out.size() - 4) == std::string("\0\0\xff\xff", 4));
    out.resize(out.size() - 4);
    return out;
}

std::string client_deflate_once(std::string_view text, int window_bits = 15) {
    z_stream z{};
    REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, -window_bits, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    auto out = client_deflate(z, text);
    deflateEnd(&z);
    return out;
}

std::string inflated(const std::vector<char>& v) {
    return std::string(v.begin(), v.end());
}

}  // namespace

TEST_CASE("the first acceptable permessage-deflate offer is taken", "[ws][deflate]") {
    auto plain = offer("permessage-deflate");
    REQUIRE(plain);
    CHECK(plain->response == "permessage-deflate; server_no_context_takeover");
    CHECK(plain->server_window_bits == 15);
    CHECK_FALSE(plain->client_no_context_takeover);

    auto full = offer(
        "permessage-deflate; client_no_context_takeover; server_no_context_takeover; "
        "server_max_window_bits=10; client_max_window_bits=\"12\"");
    REQUIRE(full);
    CHECK(full->response ==
          "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
          "server_max_window_bits=10; client_max_window_bits=12");
    CHECK(full->server_window_bits == 10);
    CHECK(full->client_window_bits == 12);
    CHECK(full->client_no_context_takeover);

    // client_max_window_bits without a value only says the client could take one.
    auto bare = offer("permessage-deflate; client_max_window_bits");
    REQUIRE(bare);
    CHECK(bare->response == "permessage-deflate; server_no_context_takeover");
    CHECK(bare->client_window_bits == 15);

    // Declined offers are skipped; names compare case-insensitively; other extensions and
    // later header lines are looked at in order.
    auto second = offer("foo, permessage-deflate; server_max_window_bits=8, Permessage-Deflate");
    REQUIRE(second);
    CHECK(second->server_window_bits == 15);
    auto later =
        negotiate({"x-webkit-deflate-frame", "permessage-deflate; SERVER_MAX_WINDOW_BITS=9"});
    REQUIRE(later);
    CHECK(later->server_window_bits == 9);
}

TEST_CASE("offers with unknown, repeated or malformed parameters are declined", "[ws][deflate]") {
    for (const char* bad : {
             "permessage-deflate; server_max_window_bits=8",  // zlib writes no 256-byte window
             "permessage-deflate; server_max_window_bits=16",
             "permessage-deflate; server_max_window_bits",
             "permessage-deflate; server_max_window_bits=09",
             "permessage-deflate; server_max_window_bits=1x",
             "permessage-deflate; server_max_window_bits=\"\"",
             "permessage-deflate; client_max_window_bits=7",
             "permessage-deflate; client_max_window_bits=abc",
             "permessage-deflate; client_max_window_bits; client_max_window_bits",
             "permessage-deflate; server_no_context_takeover=1",
             "permessage-deflate; client_no_context_takeover=yes",
             "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
             "permessage-deflate; level=9",
             "x-webkit-deflate-frame",
             "",
         }) {
        INFO(bad);
        CHECK_FALSE(offer(bad));
    }
    CHECK_FALSE(negotiate({}));
    // 8 is a valid client window (the inflater takes 9 for it, see WsInflater).
    CHECK(offer("permessage-deflate; client_max_window_bits=8"));
}

TEST_CASE("a compressed message round-trips through a client's zlib", "[ws][deflate]") {
    std::string text = R"({"type":"message","text":")" + std::string(500, 'a') + R"("})";
    for (int bits : {9, 12, 15}) {
        std::string wire = deflate_message(text, bits);
        CHECK(wire.size() < text.size() / 4);
        z_stream z{};
        REQUIRE(inflateInit2(&z, -bits) == Z_OK);
        std::string tail = wire + std::string("\0\0\xff\xff", 4);
        std::string out(text.size() + 16, '\0');
        z.next_in = reinterpret_cast<Bytef*>(tail.data());
        z.avail_in = static_cast<uInt>(tail.size());
        z.next_out = reinterpret_cast<Bytef*>(out.data());
        z.avail_out = static_cast<uInt>(out.size());
        int rc = inflate(&z, Z_SYNC_FLUSH);
        CHECK((rc == Z_OK || rc == Z_BUF_ERROR));
        out.resize(out.size() - z.avail_out);
        inflateEnd(&z);
        CHECK(out == text);
    }
    // No context carries over: the same text compresses to the same bytes every time.
    CHECK(deflate_message(text, 15) == deflate_message(text, 15));
}

TEST_CASE("the inflater keeps a client's context only when asked to", "[ws][deflate]") {
    z_stream client{};
    REQUIRE(deflateInit2(&client, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    std::string first = std::string(300, 'q') + "first";
    std::string second = std::string(300, 'q') + "second";  // refers back into the first
    std::string w1 = client_deflate(client, first);
    std::string w2 = client_deflate(client, second);
    deflateEnd(&client);

    WsInflater keeper(15, true);
    std::vector<char> out;
    REQUIRE(keeper.inflate(w1, 1000, out) == WsInflater::Result::ok);
    CHECK(inflated(out) == first);
    REQUIRE(keeper.inflate(w2, 1000, out) == WsInflater::Result::ok);
    CHECK(inflated(out) == second);
    CHECK(w2.size() < 20);  // it did refer back

    WsInflater resetter(15, false);
    REQUIRE(resetter.inflate(w1, 1000, out) == WsInflater::Result::ok);
    CHECK(resetter.inflate(w2, 1000, out) == WsInflater::Result::bad_data);
}

TEST_CASE("inflating never holds more than the limit", "[ws][deflate]") {
    // A zip bomb: 64 MiB of zeroes in about 64 KiB.
    std::string bomb = client_deflate_once(std::string(64 << 20, '\0'));
    CHECK(bomb.size() < 100'000);
    for (bool keep : {true, false}) {
        WsInflater inflater(15, keep);
        std::vector<char> out;
        CHECK(inflater.inflate(bomb, 8192, out) == WsInflater::Result::too_big);
        CHECK(out.capacity() <= 8192);
    }
    // Exactly at the limit is fine, one byte over is not.
    std::string text(5000, 'z');
    std::string wire = client_deflate_once(text);
    std::vector<char> out;
    CHECK(WsInflater(15, false).inflate(wire, 5000, out) == WsInflater::Result::ok);
    CHECK(inflated(out) == text);
    CHECK(out.capacity() <= 5000);
    std::vector<char> over;
    CHECK(WsInflater(15, false).inflate(wire, 4999, over) == WsInflater::Result::too_big);
    CHECK(over.capacity() <= 4999);
    // Garbage is bad data, not a crash.
    CHECK(WsInflater(15, false).inflate("\xff\xff\xff\xff", 1000, out) ==
          WsInflater::Result::bad_data);
    // A window-8 client's stream (zlib writes 9 for it) inflates.
    std::string small = client_deflate_once(std::string(2000, 'w') + "end", 9);
    CHECK(WsInflater(8, true).inflate(small, 4000, out) == WsInflater::Result::ok);
    CHECK(inflated(out) == std::string(2000, 'w') + "end");
}

TEST_CASE("a client that ends its DEFLATE stream mid-message keeps its context", "[ws][deflate]") {
    // Z_FINISH writes a final block; RFC 7692 lets a client do that. The next message of a
    // client keeping its context may still refer back into this one.
    z_stream z{};
    REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    std::string first = std::string(200, 'k') + "one";
    std::string wire(512, '\0');
    z.next_in = reinterpret_cast<Bytef*>(first.data());
    z.avail_in = static_cast<uInt>(first.size());
    z.next_out = reinterpret_cast<Bytef*>(wire.data());
    z.avail_out = static_cast<uInt>(wire.size());
    REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
    wire.resize(wire.size() - z.avail_out);
    deflateEnd(&z);
    SECTION("with the 0x00 that RFC 7692 7.2.3.3 asks for after a final block") {
        wire += '\0';
    }
    SECTION("without it") {}
    WsInflater inflater(15, true);
    std::vector<char> out;
    REQUIRE(inflater.inflate(wire, 1000, out) == WsInflater::Result::ok);
    CHECK(inflated(out) == first);
    // A second message compressed with the first as its dictionary (what a context holds).
    z_stream z2{};
    REQUIRE(deflateInit2(&z2, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    REQUIRE(deflateSetDictionary(&z2, reinterpret_cast<const Bytef*>(first.data()),
                                 static_cast<uInt>(first.size())) == Z_OK);
    std::string second = std::string(200, 'k') + "two";
    std::string w2 = client_deflate(z2, second);
    deflateEnd(&z2);
    REQUIRE(inflater.inflate(w2, 1000, out) == WsInflater::Result::ok);
    CHECK(inflated(out) == second);
}

TEST_CASE("a shared frame computes its other form once for every caller", "[ws][deflate]") {
    auto frame = make_shared_frame(std::string(1000, 'm'));
    CHECK(*frame == std::string(1000, 'm'));
    std::atomic<int> made{0};
    auto make = [&made](const std::string& text) {
        ++made;
        return deflate_message(text, 15);
    };
    std::vector<const std::string*> seen(8);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < seen.size(); ++i) {
        threads.emplace_back([&, i] { seen[i] = shared_frame_alternate(frame, make); });
    }
    for (auto& t : threads)
        t.join();
    CHECK(made == 1);
    for (const std::string* s : seen) {
        REQUIRE(s == seen[0]);
    }
    CHECK(*seen[0] == deflate_message(*frame, 15));
    // A frame made otherwise has no cell: the caller compresses it itself.
    auto plain = std::make_shared<const std::string>("x");
    CHECK(shared_frame_alternate(plain, make) == nullptr);
    CHECK(made == 1);
}
