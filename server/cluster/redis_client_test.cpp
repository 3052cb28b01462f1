// Tests of RedisClient against a real redis-server started on a free port with its own
// directory (no persistence), killed and restarted to exercise reconnects.
#include "server/cluster/redis_client.hpp"

#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include "server/cluster/redis_test_support.hpp"

namespace parley {
namespace {

using test::free_port;
using test::options_for;
using test::RedisFixture;

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

TEST_CASE("RedisClient pipelines commands and reports a lost connection", "[redis]") {
    RedisFixture f;
    if (!f.available) return;
    std::optional<std::pair<std::string, std::vector<RedisReply>>> out;
    auto run_pipeline = [&](std::vector<std::vector<std::string>> commands) {
        out.reset();
        f.client->pipeline(std::move(commands), [&](std::string e, std::vector<RedisReply> r) {
            out.emplace(std::move(e), std::move(r));
        });
        auto guard = net::make_work_guard(f.io);
        f.io.restart();
        while (!out)
            REQUIRE(f.io.run_one_for(std::chrono::seconds(10)) > 0);
    };
    run_pipeline(
        {{"SET", "a", "1"}, {"INCR", "a"}, {"INCR", "nothing-here", "extra"}, {"GET", "a"}});
    REQUIRE(out->first.empty());
    REQUIRE(out->second.size() == 4);
    CHECK(out->second[0].str == "OK");
    CHECK(out->second[1].integer == 2);
    CHECK(out->second[2].is_error());  // wrong arity: an answer, the pipeline goes on
    CHECK(out->second[3].str == "2");

    f.server.stop();
    run_pipeline({{"PING"}, {"PING"}});
    CHECK_FALSE(out->first.empty());
    CHECK(out->second.empty());
}

}  // namespace parley
