// The manager API's frame format: encoding, the incremental decoder, and read_frame() over a
// real unix socket pair — whole, split, oversized (refused before its payload is read),
// truncated and cleanly closed streams.
#include "common/frame_codec.hpp"

#include <sys/socket.h>

#include <catch2/catch.hpp>

namespace parley {
namespace {

std::string header(std::uint32_t n) {
    return encode_frame(std::string(n, 'x')).substr(0, kFrameHeaderSize);
}

// Runs read_frame on one end of a socket pair after `write` has run on the other end.
FrameResult read_one(const std::function<void(net::local::stream_protocol::socket&)>& write,
                     std::size_t limit, std::string* rest = nullptr) {
    net::io_context context;
    net::local::stream_protocol::socket reader(context), writer(context);
    net::local::connect_pair(reader, writer);
    write(writer);
    FrameResult result;
    net::co_spawn(context, read_frame(reader, limit), [&](std::exception_ptr e, FrameResult r) {
        REQUIRE(!e);
        result = std::move(r);
    });
    context.run();
    if (rest) {
        // What the reader left unread in the socket.
        rest->clear();
        reader.non_blocking(true);
        char buf[65536];
        boost::system::error_code ec;
        for (;;) {
            std::size_t n = reader.read_some(net::buffer(buf), ec);
            if (ec) break;
            rest->append(buf, n);
        }
    }
    return result;
}

void send_all(net::local::stream_protocol::socket& s, const std::string& bytes) {
    net::write(s, net::buffer(bytes));
}

}  // namespace

TEST_CASE("encode_frame writes a big-endian length then the payload", "[manager][frame]") {
    std::string frame = encode_frame("hello");
    REQUIRE(frame.size() == 9);
    CHECK(frame.substr(0, 4) == std::string("\0\0\0\5", 4));
    CHECK(frame.substr(4) == "hello");
    std::array<std::uint8_t, 4> h{0x01, 0x02, 0x03, 0x04};
    CHECK(decode_frame_length(h) == 0x01020304u);
    CHECK(encode_frame("").size() == 4);
}

TEST_CASE("FrameDecoder splits a byte stream fed in any pieces", "[manager][frame]") {
    std::string stream = encode_frame("{\"a\":1}") + encode_frame("") + encode_frame("xyz");
    for (std::size_t piece : {std::size_t{1}, std::size_t{3}, std::size_t{5}, stream.size()}) {
        FrameDecoder decoder(kMaxFrameBeforeAuth);
        std::vector<std::string> frames;
        for (std::size_t i = 0; i < stream.size(); i += piece) {
            decoder.feed(std::string_view(stream).substr(i, piece));
            while (auto f = decoder.next())
                frames.push_back(*f);
        }
        CHECK(decoder.status() == FrameStatus::ok);
        CHECK(decoder.pending() == 0);
        CHECK(frames == std::vector<std::string>{"{\"a\":1}", "", "xyz"});
    }
}

TEST_CASE("FrameDecoder refuses an oversized header before buffering its payload",
          "[manager][frame]") {
    FrameDecoder decoder(kMaxFrameBeforeAuth);
    decoder.feed(header(kMaxFrameBeforeAuth));  // exactly the limit is fine
    CHECK(decoder.status() == FrameStatus::ok);

    FrameDecoder big(kMaxFrameBeforeAuth);
    big.feed(header(kMaxFrameBeforeAuth + 1).substr(0, 2));
    CHECK(big.status() == FrameStatus::ok);  // not a whole header yet
    big.feed(header(kMaxFrameBeforeAuth + 1).substr(2));
    CHECK(big.status() == FrameStatus::too_large);
    CHECK(big.announced() == kMaxFrameBeforeAuth + 1);
    CHECK(big.pending() == 0);
    big.feed(std::string(10000, 'x'));
    CHECK(big.pending() == 0);
    CHECK_FALSE(big.next());

    SECTION("a second frame over the limit is caught when the first is taken") {
        FrameDecoder d(16);
        d.feed(encode_frame("ok") + header(17));
        CHECK(d.status() == FrameStatus::ok);
        CHECK(d.next() == std::optional<std::string>("ok"));
        CHECK(d.status() == FrameStatus::too_large);
    }
    SECTION("the limit can grow after authentication") {
        FrameDecoder d(kMaxFrameBeforeAuth);
        d.feed(encode_frame("auth"));
        CHECK(d.next() == std::optional<std::string>("auth"));
        d.set_limit(kMaxFrameAfterAuth);
        std::string large(100'000, 'y');
        d.feed(encode_frame(large));
        CHECK(d.next() == std::optional<std::string>(large));
    }
}

TEST_CASE("FrameDecoder shows a truncated stream as pending bytes", "[manager][frame]") {
    FrameDecoder decoder(1024);
    std::string frame = encode_frame("0123456789");
    decoder.feed(frame.substr(0, 7));
    CHECK_FALSE(decoder.next());
    CHECK(decoder.status() == FrameStatus::ok);
    CHECK(decoder.pending() == 7);
}

TEST_CASE("read_frame reads whole frames from a socket", "[manager][frame]") {
    FrameResult r = read_one([](auto& w) { send_all(w, encode_frame("{\"id\":1}")); }, 64);
    CHECK(r.status == FrameStatus::ok);
    CHECK(r.payload == "{\"id\":1}");
    CHECK(r.announced == 8);

    r = read_one([](auto& w) { send_all(w, encode_frame("")); }, 64);
    CHECK(r.status == FrameStatus::ok);
    CHECK(r.payload.empty());
}

TEST_CASE("read_frame refuses an oversized frame without reading its payload", "[manager][frame]") {
    std::string rest;
    FrameResult r = read_one(
        [](auto& w) { send_all(w, header(kMaxFrameBeforeAuth + 1) + std::string(100, 'p')); },
        kMaxFrameBeforeAuth, &rest);
    CHECK(r.status == FrameStatus::too_large);
    CHECK(r.announced == kMaxFrameBeforeAuth + 1);
    CHECK(r.payload.empty());
    CHECK(rest == std::string(100, 'p'));

    // A header announcing 4 GiB is refused just the same.
    r = read_one([](auto& w) { send_all(w, std::string("\xff\xff\xff\xff", 4)); },
                 kMaxFrameAfterAuth);
    CHECK(r.status == FrameStatus::too_large);
    CHECK(r.announced == 0xffffffffu);
}

TEST_CASE("read_frame reports truncated and closed streams", "[manager][frame]") {
    SECTION("end of stream between frames is a clean close") {
        FrameResult r = read_one([](auto& w) { w.close(); }, 64);
        CHECK(r.status == FrameStatus::closed);
    }
    SECTION("end of stream inside the header") {
        FrameResult r = read_one(
            [](auto& w) {
                send_all(w, std::string("\0\0", 2));
                w.close();
            },
            64);
        CHECK(r.status == FrameStatus::truncated);
    }
    SECTION("end of stream inside the payload") {
        FrameResult r = read_one(
            [](auto& w) {
                send_all(w, encode_frame("0123456789").substr(0, 9));
                w.close();
            },
            64);
        CHECK(r.status == FrameStatus::truncated);
        CHECK(r.announced == 10);
        CHECK(r.payload.empty());
    }
}

TEST_CASE("read_frame's caller learns when the header is in (to switch deadlines)",
          "[manager][frame]") {
    net::io_context context;
    net::local::stream_protocol::socket reader(context), writer(context);
    net::local::connect_pair(reader, writer);
    send_all(writer, encode_frame("abc"));
    int calls = 0;
    auto on_header = [&calls] { ++calls; };
    FrameResult result;
    net::co_spawn(context, read_frame(reader, 64, on_header),
                  [&](std::exception_ptr, FrameResult r) { result = std::move(r); });
    context.run();
    CHECK(result.payload == "abc");
    CHECK(calls == 1);
}

}  // namespace parley
