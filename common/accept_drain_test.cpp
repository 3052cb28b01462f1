// Accept-and-drain over real sockets: accept_each() hands every accepted socket over until
// the drain stops; stop() ends idle connections at once, lets a busy one finish, and calls
// `drained` only after the last connection has ended.
#include "common/accept_drain.hpp"

#include <thread>

#include <catch2/catch.hpp>

#include "common/test_support.hpp"

namespace parley {

namespace {

using namespace std::chrono_literals;

// A connection that is idle (waiting for a read) unless `busy`.
struct Echo : ConnectionDrain::Member, std::enable_shared_from_this<Echo> {
    explicit Echo(tcp::socket s) : socket(std::move(s)) {}
    net::any_io_executor drain_executor() override { return socket.get_executor(); }
    void cancel_if_idle() override {
        if (!busy) socket.cancel();
        cancelled = !busy;
    }
    tcp::socket socket;
    bool busy = false;
    bool cancelled = false;
};

}  // namespace

TEST_CASE("accept_each hands sockets over; stop drains idle and busy connections",
          "[accept_drain]") {
    net::io_context io;
    auto guard = net::make_work_guard(io);
    tcp::acceptor acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    const auto port = acceptor.local_endpoint().port();
    ConnectionDrain drain;
    std::vector<std::shared_ptr<Echo>> connections;  // on the loop thread
    auto on_socket = [&](tcp::socket socket) {
        auto conn = std::make_shared<Echo>(std::move(socket));
        conn->busy = connections.size() == 1;  // the second one is working on a request
        connections.push_back(conn);
        drain.add(conn);
        auto buffer = std::make_shared<std::array<char, 16>>();
        conn->socket.async_read_some(
            net::buffer(*buffer), [&drain, conn, buffer](boost::system::error_code, std::size_t) {
                // Idle: cancelled by stop(); busy: the client closes.
                drain.remove(conn);
            });
    };
    net::co_spawn(
        io,
        accept_each(
            acceptor, drain, [&] { return io.get_executor(); }, on_socket, "test listener"),
        net::detached);
    std::thread loop([&] { io.run(); });

    net::io_context client_io;
    tcp::socket idle_client(client_io), busy_client(client_io);
    idle_client.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    busy_client.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    // Both accepted before the stop.
    test::Signal both;
    std::function<void()> check = [&] {
        if (connections.size() == 2) return both.set();
        net::post(io, check);
    };
    net::post(io, check);
    REQUIRE(both.wait());

    test::Signal drained;
    net::post(io, [&] {
        drain.stop(io, [&] { drained.set(); });
        acceptor.close();
    });
    CHECK_FALSE(drained.wait(200ms));  // the busy connection is still open
    CHECK(drain.stopping());
    busy_client.close();  // its request done, the connection ends
    CHECK(drained.wait());
    net::post(io, [&] {
        CHECK(connections[0]->cancelled);
        CHECK_FALSE(connections[1]->cancelled);
        guard.reset();
    });
    loop.join();
}

}  // namespace parley
