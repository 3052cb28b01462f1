// Test support for the cluster code: a real redis-server child on a free port with its own
// directory (no persistence), killed with SIGKILL and restarted by tests that exercise
// reconnects, and a RedisClient of it. Used by the [redis] and [cluster] unit tests only.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "common/test_support.hpp"
#include "server/cluster/redis_client.hpp"

namespace parley::test {

constexpr const char* kRedisServer = "/usr/bin/redis-server";

inline int free_port() {
    net::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    return acceptor.local_endpoint().port();
}

// A redis-server child process; stop() kills it with SIGKILL (a crash, not a shutdown).
class RedisServer {
  public:
    RedisServer(const TempDir& dir, int port) : dir_(dir.path().string()), port_(port) {}
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

inline RedisOptions options_for(int port) {
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
    TempDir dir{"redis"};
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

}  // namespace parley::test
