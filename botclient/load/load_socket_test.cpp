#include <catch2/catch.hpp>

#include <string>
#include <thread>

#include <sys/socket.h>
#include <sys/time.h>

#include "botclient/load/load_socket.hpp"
#include "common/ws_frame.hpp"

using namespace parley;

namespace {

// A server frame, unmasked.
std::string server_frame(wsframe::Opcode op, const std::string& payload, bool fin = true) {
    std::uint8_t h[wsframe::kMaxHeader];
    std::size_t n = wsframe::encode_header(h, op, payload.size());
    if (!fin) h[0] &= 0x7F;
    return std::string(reinterpret_cast<const char*>(h), n) + payload;
}

// Reads the upgrade request on the blocking socket `s`; returns its Sec-WebSocket-Key, empty
// when the request is not a WebSocket upgrade of the URL's target. (The peer's thread asserts
// nothing itself: Catch2 checks run on the test's thread.)
std::string read_upgrade(tcp::socket& s) {
    std::string request;
    char c;
    while (request.find("\r\n\r\n") == std::string::npos) {
        net::read(s, net::buffer(&c, 1));
        request.push_back(c);
    }
    auto at = request.find("Sec-WebSocket-Key: ");
    if (!request.starts_with("GET /ws?token=t HTTP/1.1\r\n") || at == std::string::npos ||
        request.find("Upgrade: websocket\r\n") == std::string::npos)
        return "";
    at += 19;
    return request.substr(at, request.find("\r\n", at) - at);
}

std::string switching(const std::string& accept) {
    return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: " +
           accept + "\r\n\r\n";
}

// The next client frame on `s`, unmasked: it must be masked.
wsframe::Parsed read_client_frame(tcp::socket& s, std::string& buffer) {
    for (;;) {
        wsframe::Parsed p = wsframe::parse_client_frame(buffer.data(), buffer.size(), 1 << 20);
        if (p.status != wsframe::Parsed::need_more) return p;
        char chunk[4096];
        std::size_t n = s.read_some(net::buffer(chunk));
        buffer.append(chunk, n);
    }
}

// The server end, on a thread of its own with blocking calls that give up after 5 s (so a
// client that stops reading or writing fails the test instead of hanging it).
struct Peer {
    net::io_context ioc;
    tcp::acceptor acceptor{ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)};
    std::string error;  // what the server end threw
    std::thread thread;

    template <class F>
    void serve(F body) {
        thread = std::thread([this, body] {
            try {
                tcp::socket s = acceptor.accept();
                timeval limit{5, 0};
                ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
                ::setsockopt(s.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
                body(s);
            } catch (const std::exception& e) {
                error = e.what();
            }
        });
    }
    ~Peer() {
        if (thread.joinable()) thread.join();
    }
    void join() {
        thread.join();
        CHECK(error == "");
    }
    WsUrl url() const {
        return WsUrl{"127.0.0.1", std::to_string(acceptor.local_endpoint().port()), "/ws?token=t"};
    }
};

// Runs `client` on its own io_context until it finishes (at most 10 s); rethrows what it threw.
template <class F>
void run_client(F client) {
    net::io_context ioc;
    std::exception_ptr failure;
    bool done = false;
    net::co_spawn(ioc, client(ioc), [&](std::exception_ptr e) {
        failure = e;
        done = true;
    });
    ioc.run_for(std::chrono::seconds(10));
    REQUIRE(done);
    if (failure) std::rethrow_exception(failure);
}

}  // namespace

TEST_CASE("the load client's framed socket reads frames in any cut, answers pings, masks",
          "[load]") {
    Peer peer;
    std::vector<std::string> got;  // what the client sent, unmasked
    std::string key;
    peer.serve([&](tcp::socket& s) {
        key = read_upgrade(s);
        // The answer and the first frames in one write: the client must keep what follows the
        // headers.
        std::string first = switching(wsframe::accept_key(key)) +
                            server_frame(wsframe::Opcode::text, "first") +
                            server_frame(wsframe::Opcode::ping, "p1") +
                            server_frame(wsframe::Opcode::text, "frag", false);
        net::write(s, net::buffer(first));
        // The rest of the fragmented message a byte at a time, then one larger than the
        // client's first buffer.
        std::string rest = server_frame(wsframe::Opcode::continuation, "ment") +
                           server_frame(wsframe::Opcode::text, std::string(70000, 'x'));
        for (std::size_t i = 0; i < 12; ++i) {
            net::write(s, net::buffer(rest.data() + i, 1));
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        net::write(s, net::buffer(rest.data() + 12, rest.size() - 12));
        std::vector<std::string> frames;
        std::string buffer;
        for (int i = 0; i < 2; ++i) {
            wsframe::Parsed p = read_client_frame(s, buffer);
            if (p.status != wsframe::Parsed::frame) break;
            frames.push_back(std::to_string(static_cast<int>(p.op)) + ":" +
                             std::string(p.payload, p.length));
            buffer.erase(0, p.consumed);
        }
        got = frames;
        net::write(s, net::buffer(server_frame(wsframe::Opcode::close, "")));
    });
    std::vector<std::string> reads;
    bool ended = false;
    run_client([&](net::io_context& ioc) -> awaitable<void> {
        auto socket = make_load_socket(ioc, false);
        co_await socket->open(peer.url(), std::chrono::seconds(5));
        for (int i = 0; i < 3; ++i) {
            std::string_view m = co_await socket->read();
            reads.emplace_back(m.size() > 100 ? std::to_string(m.size()) + " bytes" : m);
        }
        socket->send("hello");
        try {
            co_await socket->read();
        } catch (const std::exception&) {
            ended = true;
        }
    });
    peer.join();
    CHECK(key.size() == 24);  // 16 random bytes in base64
    CHECK(reads == std::vector<std::string>{"first", "fragment", "70000 bytes"});
    // The pong (0xA) went out before the text, both masked (parse_client_frame demands it).
    CHECK(got == std::vector<std::string>{"10:p1", "1:hello"});
    CHECK(ended);
}

TEST_CASE("the load client's framed socket names a refused upgrade and a wrong accept key",
          "[load]") {
    for (bool refuse : {true, false}) {
        Peer peer;
        peer.serve([&](tcp::socket& s) {
            read_upgrade(s);
            std::string answer = refuse ? "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"
                                        : switching("bm90IHRoZSByaWdodCBrZXk=");
            net::write(s, net::buffer(answer));
            char c;
            boost::system::error_code ec;
            s.read_some(net::buffer(&c, 1), ec);  // until the client gives up
        });
        std::string error;
        run_client([&](net::io_context& ioc) -> awaitable<void> {
            auto socket = make_load_socket(ioc, false);
            try {
                co_await socket->open(peer.url(), std::chrono::seconds(5));
            } catch (const std::exception& e) {
                error = e.what();
            }
        });
        peer.join();
        CHECK(error == (refuse ? "upgrade refused: HTTP 401"
                               : "upgrade answer without a valid Sec-WebSocket-Accept"));
    }
}
