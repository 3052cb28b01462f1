// Tests of RedisClient against a real redis-server started on a free port with its own
// directory (no persistence), killed and restarted to exercise reconnects.
#include "server/cluster/redis_client.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "common/test_support.hpp"

namespace parley {
namespace {

constexpr const char* kRedisServer = "/usr/bin/redis-server";

int free_port() {
    net::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    return acceptor.local_endpoint().port();
}

// A redis-server child process; stop() kills it with SIGKILL (a crash, not a shutdown).
class RedisServer {
  public:
    RedisServer(const test::TempDir& dir, int port) : dir_(dir.path().string()), port_(port) {}
    ~RedisServer() { stop(); }

    void start() {
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            const std::string port = std::to_string(port_);
            ::execl(kRedisServer, kRedisServer, "--port", port.c_str(), "--bind", "127.0.0.1",
                    "--dir", dir_.c_str(), "--save", "", "--appendonly", "no", "--logfile",
                    (dir_ + "/redis.log").c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        // Ready when it accepts a connection.
        for (int i = 0; i < 200; ++i) {
            net::io_context io;
            tcp::socket s(io);
            boost::system::error_code ec;
            s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"),
                                    static_cast<unsigned short>(port_)),
                      ec);
            if (!ec) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
        FAIL("redis-server did not start on port " << port_);
    }

    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

  private:
    std::string dir_;
    int port_;
    pid_t pid_ = -1;
};

// Runs the io_context until the command's handler has run.
RedisResult call(net::io_context& io, RedisClient& client, std::vector<std::string> args,
                 std::chrono::milliseconds timeout = std::chrono::milliseconds::zero()) {
    std::optional<RedisResult> out;
    client.command(
        std::move(args), [&](RedisResult r) { out = std::move(r); }, timeout);
    // The handler is posted from the client's thread: keep the context waiting for it.
    auto guard = net::make_work_guard(io);
    io.restart();
    while (!out) {
        REQUIRE(io.run_one_for(std::chrono::seconds(10)) > 0);
    }
    return std::move(*out);
}

RedisOptions options_for(int port) {
    RedisOptions o;
    o.port = port;
    o.connect_timeout = std::chrono::milliseconds(500);
    o.command_timeout = std::chrono::milliseconds(500);
    o.backoff_initial = std::chrono::milliseconds(50);
    o.backoff_max = std::chrono::milliseconds(200);
    o.name = "redis-test";
    return o;
}

// A redis-server on a free port with its own directory, and a client of it. Where
// redis-server is missing, `available` is false and the test returns after a warning.
struct RedisFixture {
    bool available = std::filesystem::exists(kRedisServer);
    test::TempDir dir{"redis"};
    int port = free_port();
    RedisServer server{dir, port};
    net::io_context io;
    std::unique_ptr<RedisClient> client;

    RedisFixture() {
        if (!available) {
            WARN("skipped: " << kRedisServer
                             << " is missing (scripts/setup installs redis-server)");
            return;
        }
        server.start();
        client = std::make_unique<RedisClient>(io.get_executor(), options_for(port));
    }
};

}  // namespace

TEST_CASE("RedisClient runs commands and copies every reply type", "[redis]") {
    RedisFixture f;
    if (!f.available) return;
    auto& io = f.io;
    auto& client = *f.client;

    auto r = call(io, client, {"SET", "k", std::string("a\0b", 3)});
    REQUIRE(r.ok());
    CHECK(r.reply.type == RedisReply::Type::status);
    CHECK(r.reply.str == "OK");
    CHECK(client.connected());

    r = call(io, client, {"GET", "k"});
    REQUIRE(r.ok());
    CHECK(r.reply.type == RedisReply::Type::string);
    CHECK(r.reply.str == std::string("a\0b", 3));  // binary-safe both ways

    r = call(io, client, {"GET", "missing"});
    REQUIRE(r.ok());
    CHECK(r.reply.type == RedisReply::Type::nil);

    r = call(io, client, {"INCRBY", "n", "41"});
    REQUIRE(r.ok());
    CHECK(r.reply.type == RedisReply::Type::integer);
    CHECK(r.reply.integer == 41);

    // An error reply is an answer, not a transport failure.
    r = call(io, client, {"INCR", "k"});
    REQUIRE(r.ok());
    CHECK(r.reply.is_error());

    // Streams, as the cluster uses them: bounded XADD, then XREAD of what was added.
    for (int seq = 1; seq <= 3; ++seq) {
        r = call(
            io, client,
            {"XADD", "parley:room:r1", "MAXLEN", "~", "1000", "*", "seq", std::to_string(seq)});
        REQUIRE(r.ok());
        REQUIRE(r.reply.type == RedisReply::Type::string);
    }
    r = call(io, client, {"XREAD", "COUNT", "10", "STREAMS", "parley:room:r1", "0"});
    REQUIRE(r.ok());
    REQUIRE(r.reply.type == RedisReply::Type::array);
    REQUIRE(r.reply.elements.size() == 1);
    const auto& entries = r.reply.elements[0].elements.at(1).elements;
    REQUIRE(entries.size() == 3);
    for (int i = 0; i < 3; ++i) {
        const auto& fields = entries[static_cast<std::size_t>(i)].elements.at(1).elements;
        CHECK(fields.at(0).str == "seq");
        CHECK(fields.at(1).str == std::to_string(i + 1));
    }
}

TEST_CASE("RedisClient handlers run in queue order on the executor", "[redis]") {
    RedisFixture f;
    if (!f.available) return;
    auto& io = f.io;
    auto& client = *f.client;
    std::vector<long long> seen;
    auto guard = net::make_work_guard(io);
    for (int i = 0; i < 50; ++i)
        client.command({"INCR", "counter"}, [&](RedisResult r) {
            REQUIRE(r.ok());
            seen.push_back(r.reply.integer);
        });
    while (seen.size() < 50)
        REQUIRE(io.run_one_for(std::chrono::seconds(10)) > 0);
    for (std::size_t i = 0; i < seen.size(); ++i)
        CHECK(seen[i] == static_cast<long long>(i + 1));
}

TEST_CASE("RedisClient times out a blocking command and reconnects after Redis restarts",
          "[redis]") {
    RedisFixture f;
    if (!f.available) return;
    auto& io = f.io;
    auto& client = *f.client;
    auto& server = f.server;
    REQUIRE(call(io, client, {"PING"}).ok());

    // XREAD BLOCK longer than the command timeout: the client gives up and drops the
    // connection; the next command reconnects and works.
    const auto started = std::chrono::steady_clock::now();
    auto r = call(io, client, {"XREAD", "BLOCK", "5000", "STREAMS", "nothing", "$"});
    CHECK_FALSE(r.ok());
    CHECK(r.error.find("connection lost") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(3));
    CHECK_FALSE(client.connected());
    // A per-command timeout above the block lets it return its nil reply.
    r = call(io, client, {"XREAD", "BLOCK", "100", "STREAMS", "nothing", "$"},
             std::chrono::milliseconds(2000));
    REQUIRE(r.ok());
    CHECK(r.reply.type == RedisReply::Type::nil);
    CHECK(client.reconnects() == 1);

    // Redis dies: commands fail with a clear error, quickly, and never hang.
    server.stop();
    r = call(io, client, {"PING"});
    CHECK_FALSE(r.ok());
    r = call(io, client, {"PING"});
    CHECK_FALSE(r.ok());
    CHECK(r.error.find("redis unavailable") != std::string::npos);
    CHECK_FALSE(client.connected());

    // Redis returns on the same port: within the backoff bound the client is back.
    server.start();
    bool back = false;
    for (int i = 0; i < 100 && !back; ++i) {
        back = call(io, client, {"PING"}).ok();
        if (!back) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(back);
    CHECK(client.connected());
    CHECK(client.reconnects() == 2);
}

TEST_CASE("RedisClient fails commands at once while Redis is unreachable", "[redis]") {
    net::io_context io;
    RedisClient client(io.get_executor(), options_for(free_port()));  // nothing listens there
    auto r = call(io, client, {"PING"});
    CHECK_FALSE(r.ok());
    CHECK(r.error.find("redis unavailable") != std::string::npos);
    CHECK_FALSE(client.connected());
}

}  // namespace parley
