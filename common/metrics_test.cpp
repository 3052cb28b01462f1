#include "common/metrics.hpp"

#include <catch2/catch.hpp>

#include <thread>

using namespace parley;

TEST_CASE("metrics: counters, gauges and histograms render in Prometheus text", "[metrics]") {
    MetricsRegistry reg;
    auto& requests = reg.counter("parley_http_requests_total", "HTTP requests.");
    requests.with({{"route", "GET /a"}, {"status", "200"}}).inc();
    requests.with({{"route", "GET /a"}, {"status", "200"}}).inc(2);
    auto& active = reg.gauge("parley_ws_connections", "Open sockets.");
    active.with({}).set(3);
    auto& lat = reg.histogram("parley_db_commit_seconds", "Commit latency.", {0.001, 0.01});
    lat.with({}).observe(0.0005);
    lat.with({}).observe(0.005);
    lat.with({}).observe(5);

    std::string text = reg.render();
    CHECK_THAT(text, Catch::Contains("# TYPE parley_http_requests_total counter"));
    CHECK_THAT(text,
               Catch::Contains("parley_http_requests_total{route=\"GET /a\",status=\"200\"} 3"));
    CHECK_THAT(text, Catch::Contains("parley_ws_connections 3"));
    CHECK_THAT(text, Catch::Contains("parley_db_commit_seconds_bucket{le=\"0.001\"} 1"));
    CHECK_THAT(text, Catch::Contains("parley_db_commit_seconds_bucket{le=\"0.01\"} 2"));
    CHECK_THAT(text, Catch::Contains("parley_db_commit_seconds_bucket{le=\"+Inf\"} 3"));
    CHECK_THAT(text, Catch::Contains("parley_db_commit_seconds_count 3"));
}

TEST_CASE("metrics: label values are escaped", "[metrics]") {
    MetricsRegistry reg;
    reg.counter("c", "h").with({{"l", "a\"b\\c"}}).inc();
    CHECK_THAT(reg.render(), Catch::Contains("c{l=\"a\\\"b\\\\c\"} 1"));
}

TEST_CASE("metrics: concurrent increments are not lost", "[metrics]") {
    MetricsRegistry reg;
    auto& c = reg.counter("c", "h").with({});
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 10000; ++i)
                c.inc();
        });
    }
    for (auto& t : threads)
        t.join();
    CHECK(c.value() == 40000);
}
