// ClusterPublisher against a real redis-server: entries in each room's stream in order with
// their fields, batching, events kept while Redis is down and published when it returns, the
// bound on what is kept.
#include "server/cluster/cluster_publisher.hpp"

#include <functional>
#include <optional>

#include <catch2/catch.hpp>

#include "server/cluster/redis_test_support.hpp"

namespace parley {
namespace {

using test::RedisFixture;

// Runs the fixture's io_context until `done` holds (or fails after 10 s without progress).
void run_until(net::io_context& io, const std::function<bool()>& done) {
    auto guard = net::make_work_guard(io);
    io.restart();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!done()) {
        REQUIRE(std::chrono::steady_clock::now() < deadline);
        io.run_one_for(std::chrono::milliseconds(50));
    }
}

RedisResult call(net::io_context& io, RedisClient& client, std::vector<std::string> args) {
    std::optional<RedisResult> out;
    client.command(std::move(args), [&](RedisResult r) { out = std::move(r); });
    run_until(io, [&] { return out.has_value(); });
    return std::move(*out);
}

ClusterSettings settings_for(int port) {
    ClusterSettings s;
    s.role = "primary";
    s.redis = "127.0.0.1:" + std::to_string(port);
    s.stream_maxlen = 1000;
    s.publish_retry_ms = 20;
    return s;
}

// One stream entry's fields as a map.
std::map<std::string, std::string> fields_of(const RedisReply& entry) {
    std::map<std::string, std::string> out;
    const auto& f = entry.elements.at(1).elements;
    for (std::size_t i = 0; i + 1 < f.size(); i += 2)
        out[f[i].str] = f[i + 1].str;
    return out;
}

std::vector<RedisReply> stream(net::io_context& io, RedisClient& client, const std::string& key) {
    auto r = call(io, client, {"XRANGE", key, "-", "+"});
    REQUIRE(r.ok());
    REQUIRE(r.reply.type == RedisReply::Type::array);
    return r.reply.elements;
}

std::shared_ptr<const std::string> frame(std::int64_t seq) {
    return std::make_shared<const std::string>("{\"seq\":" + std::to_string(seq) + "}");
}

}  // namespace

TEST_CASE("ClusterPublisher appends each room's events to its stream in order, in batches",
          "[cluster]") {
    RedisFixture f;
    if (!f.available) return;
    auto settings = settings_for(f.port);
    ClusterPublisher publisher(f.io.get_executor(), settings, test::options_for(f.port));

    constexpr int kMessages = 600;
    for (int seq = 1; seq <= kMessages; ++seq) {
        publisher.room_event({RoomEventKind::message, "r1", seq, {}, frame(seq)});
        if (seq % 3 == 0)
            publisher.room_event({RoomEventKind::message, "r2", seq / 3, {}, frame(seq / 3)});
    }
    publisher.room_event({RoomEventKind::member_removed, "r2", 0, "acc-9", frame(0)});
    publisher.room_event({RoomEventKind::room_changed, "r2", 0, {}, nullptr});
    const std::uint64_t total = kMessages + kMessages / 3 + 2;
    run_until(f.io, [&] { return publisher.stats().published == total; });
    auto st = publisher.stats();
    CHECK(st.queued == 0);
    CHECK(st.dropped == 0);
    CHECK(st.rejected == 0);
    // Events queued while a pipeline is in flight go together in the next one.
    CHECK(st.batches < total / 4);

    auto r1 = stream(f.io, *f.client, "parley:room:r1");
    REQUIRE(r1.size() == kMessages);
    for (int i = 0; i < kMessages; ++i) {
        auto fields = fields_of(r1[static_cast<std::size_t>(i)]);
        CHECK(fields["kind"] == "message");
        CHECK(fields["seq"] == std::to_string(i + 1));
        CHECK(fields["frame"] == *frame(i + 1));
        CHECK_FALSE(fields.contains("account"));
    }
    auto r2 = stream(f.io, *f.client, "parley:room:r2");
    REQUIRE(r2.size() == kMessages / 3 + 2);
    CHECK(fields_of(r2[kMessages / 3 - 1])["seq"] == std::to_string(kMessages / 3));
    auto removed = fields_of(r2[kMessages / 3]);
    CHECK(removed["kind"] == "member_removed");
    CHECK(removed["account"] == "acc-9");
    auto changed = fields_of(r2[kMessages / 3 + 1]);
    CHECK(changed["kind"] == "room_changed");
    CHECK_FALSE(changed.contains("frame"));
    CHECK(publisher.render_metrics().find(
              "parley_cluster_events_published_total{node=\"primary\"} " + std::to_string(total)) !=
          std::string::npos);
}

TEST_CASE("ClusterPublisher keeps events while Redis is down and publishes them when it returns",
          "[cluster]") {
    RedisFixture f;
    if (!f.available) return;
    auto settings = settings_for(f.port);
    ClusterPublisher publisher(f.io.get_executor(), settings, test::options_for(f.port));
    publisher.room_event({RoomEventKind::message, "r1", 1, {}, frame(1)});
    run_until(f.io, [&] { return publisher.stats().published == 1; });

    f.server.stop();
    for (int seq = 2; seq <= 20; ++seq)
        publisher.room_event({RoomEventKind::message, "r1", seq, {}, frame(seq)});
    run_until(f.io, [&] { return publisher.stats().failed_batches >= 3; });
    CHECK(publisher.stats().queued == 19);
    CHECK_FALSE(publisher.redis_connected());

    f.server.start();  // no persistence: the stream starts empty again
    run_until(f.io, [&] { return publisher.stats().published == 20; });
    CHECK(publisher.stats().queued == 0);
    CHECK(publisher.redis_connected());
    auto entries = stream(f.io, *f.client, "parley:room:r1");
    REQUIRE(entries.size() == 19);
    for (std::size_t i = 0; i < entries.size(); ++i)
        CHECK(fields_of(entries[i])["seq"] == std::to_string(i + 2));
}

TEST_CASE("ClusterPublisher holds at most publish_buffer events while Redis is down", "[cluster]") {
    RedisFixture f;
    if (!f.available) return;
    auto settings = settings_for(f.port);
    settings.publish_buffer = 100;
    f.server.stop();
    ClusterPublisher publisher(f.io.get_executor(), settings, test::options_for(f.port));
    for (int seq = 1; seq <= 150; ++seq)
        publisher.room_event({RoomEventKind::message, "r1", seq, {}, frame(seq)});
    auto st = publisher.stats();
    CHECK(st.queued == 100);
    CHECK(st.dropped == 50);

    f.server.start();
    run_until(f.io, [&] { return publisher.stats().published == 100; });
    auto entries = stream(f.io, *f.client, "parley:room:r1");
    REQUIRE(entries.size() == 100);
    CHECK(fields_of(entries.front())["seq"] == "1");
    CHECK(fields_of(entries.back())["seq"] == "100");
}

TEST_CASE("ClusterPublisher appends ended sessions and account frames to the control stream",
          "[cluster]") {
    RedisFixture f;
    if (!f.available) return;
    auto settings = settings_for(f.port);
    ClusterPublisher publisher(f.io.get_executor(), settings, test::options_for(f.port));
    publisher.sessions_ended({"s-1"});
    publisher.account_frame("acc-1", frame(7), true);
    publisher.account_frame("acc-2", frame(8), false);
    publisher.room_event({RoomEventKind::doc_patch, "r1", 42, {}, frame(42)});
    run_until(f.io, [&] { return publisher.stats().published == 4; });
    auto control = stream(f.io, *f.client, settings.control_stream);
    REQUIRE(control.size() == 3);
    CHECK(fields_of(control[0]) ==
          std::map<std::string, std::string>{{"kind", "session_ended"}, {"session", "s-1"}});
    CHECK(fields_of(control[1]) == std::map<std::string, std::string>{{"kind", "account_frame"},
                                                                      {"account", "acc-1"},
                                                                      {"notification", "1"},
                                                                      {"frame", *frame(7)}});
    CHECK(fields_of(control[2])["notification"] == "0");
    auto doc = stream(f.io, *f.client, "parley:room:r1");
    REQUIRE(doc.size() == 1);
    CHECK(fields_of(doc[0])["kind"] == "doc_patch");
    CHECK(fields_of(doc[0])["seq"] == "42");
}

}  // namespace parley
