#include <catch2/catch.hpp>

#include "botclient/load/latency_histogram.hpp"
#include "botclient/load/load_plan.hpp"
#include "botclient/net/ws_url.hpp"

using namespace parley;

TEST_CASE("ws URLs are split into host, port and target", "[load]") {
    auto u = parse_ws_url("ws://127.0.0.1:8080/api/v1/ws?token=abc");
    REQUIRE(u);
    CHECK(u->host == "127.0.0.1");
    CHECK(u->port == "8080");
    CHECK(u->target == "/api/v1/ws?token=abc");
    auto d = parse_ws_url("http://example.org");
    REQUIRE(d);
    CHECK((d->port == "80" && d->target == "/"));
    CHECK_FALSE(parse_ws_url("wss://example.org/"));
    CHECK_FALSE(parse_ws_url("ws://:80/"));
    CHECK_FALSE(parse_ws_url("ws://host:99999/"));
    CHECK_FALSE(parse_ws_url("ws://host:8x/"));
}

TEST_CASE("a load plan is checked before anything connects", "[load]") {
    auto plan = parse_load_plan(R"({"scenario":"fanout","window":2,
        "connections":[{"url":"ws://127.0.0.1:1/ws","subscribe":["room:r:chat"]},
                       {"url":"ws://127.0.0.1:1/ws"}],
        "senders":[{"connection":1,"room_id":"r"}]})");
    CHECK(plan.connections.size() == 2);
    CHECK(plan.connections[0].subscribe == std::vector<std::string>{"room:r:chat"});
    CHECK(plan.senders[0].connection == 1);
    CHECK(plan.window == 2);
    CHECK(plan.threads == 1);

    CHECK_THROWS_WITH(parse_load_plan("[]"), Catch::Contains("JSON object"));
    CHECK_THROWS_WITH(parse_load_plan(R"({"scenario":"storm"})"), Catch::Contains("scenario"));
    CHECK_THROWS_WITH(parse_load_plan(R"({"scenario":"idle","connections":[]})"),
                      Catch::Contains("non-empty"));
    CHECK_THROWS_WITH(parse_load_plan(R"({"scenario":"idle","connections":[{"url":"ftp://x"}]})"),
                      Catch::Contains("ws://"));
    CHECK_THROWS_WITH(
        parse_load_plan(R"({"scenario":"fanout","connections":[{"url":"ws://a:1/"}]})"),
        Catch::Contains("senders"));
    CHECK_THROWS_WITH(parse_load_plan(R"({"scenario":"fanout","connections":[{"url":"ws://a:1/"}],
                            "senders":[{"connection":3,"room_id":"r"}]})"),
                      Catch::Contains("does not exist"));
    CHECK_THROWS_WITH(
        parse_load_plan(R"({"scenario":"idle","threads":0,"connections":[{"url":"ws://a:1/"}]})"),
        Catch::Contains("threads"));
}

TEST_CASE("a rate plan needs senders and a positive rate", "[load]") {
    auto plan = parse_load_plan(R"({"scenario":"rate","rate_per_s":50,
        "connections":[{"url":"ws://a:1/"}],"senders":[{"connection":0,"room_id":"r"}]})");
    CHECK(plan.scenario == "rate");
    CHECK(plan.rate_per_s == 50);
    CHECK_FALSE(plan.report_each_second);
    CHECK_THROWS_WITH(parse_load_plan(R"({"scenario":"rate","connections":[{"url":"ws://a:1/"}],
                            "senders":[{"connection":0,"room_id":"r"}]})"),
                      Catch::Contains("rate_per_s"));
    CHECK_THROWS_WITH(
        parse_load_plan(
            R"({"scenario":"rate","rate_per_s":5,"connections":[{"url":"ws://a:1/"}]})"),
        Catch::Contains("senders"));
}

TEST_CASE("the latency histogram gives percentiles within about 1%", "[load]") {
    LatencyHistogram h;
    CHECK(h.percentile(0.5) == 0);
    for (int i = 1; i <= 10'000; ++i)
        h.record(i);
    CHECK(h.count() == 10'000);
    CHECK(h.percentile(0.5) >= 4950);
    CHECK(h.percentile(0.5) <= 5050);
    CHECK(h.percentile(0.99) >= 9850);
    CHECK(h.percentile(0.99) <= 10'000);
    CHECK(h.percentile(1.0) == 10'000);
    LatencyHistogram other;
    other.record(1'000'000);
    h.merge(other);
    CHECK(h.max() == 1'000'000);
    CHECK(h.percentile(1.0) == 1'000'000);
}
