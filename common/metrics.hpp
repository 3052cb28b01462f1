// Metrics: counters, gauges and histograms with labels, rendered in the Prometheus text format
// (version 0.0.4) for GET /metrics.
//
// A MetricsRegistry is built by a mode at start-up and passed down; families are registered
// once and then updated from any thread: counters and gauges are atomics, histograms take a
// short per-series lock. Label values are bounded by the callers (route patterns, not raw paths;
// status codes), so the number of series stays small.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace parley {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
  public:
    void inc(double v = 1.0);
    double value() const { return value_.load(std::memory_order_relaxed); }

  private:
    std::atomic<double> value_{0.0};
};

class Gauge {
  public:
    void set(double v) { value_.store(v, std::memory_order_relaxed); }
    void add(double v);
    double value() const { return value_.load(std::memory_order_relaxed); }

  private:
    std::atomic<double> value_{0.0};
};

class Histogram {
  public:
    explicit Histogram(std::vector<double> bounds);
    void observe(double v);
    struct Snapshot {
        std::vector<double> bounds;
        std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf
        double sum = 0;
        std::uint64_t count = 0;
    };
    Snapshot snapshot() const;

  private:
    std::vector<double> bounds_;
    mutable std::mutex mutex_;
    std::vector<std::uint64_t> buckets_;  // non-cumulative, size bounds_ + 1
    double sum_ = 0;
    std::uint64_t count_ = 0;
};

// A named family of series that differ by label values.
template <class Metric>
class Family {
  public:
    Family(std::string name, std::string help, std::vector<double> bounds = {})
        : name_(std::move(name)), help_(std::move(help)), bounds_(std::move(bounds)) {}

    Metric& with(const Labels& labels);
    const std::string& name() const { return name_; }
    const std::string& help() const { return help_; }
    // Calls f(labels, metric) for each series, under the family's lock.
    template <class F>
    void each(F&& f) const {
        std::lock_guard lock(mutex_);
        for (const auto& [labels, metric] : series_)
            f(labels, *metric);
    }
    // Drops a series (for example a room that no longer exists).
    void remove(const Labels& labels);

  private:
    std::string name_;
    std::string help_;
    std::vector<double> bounds_;
    mutable std::mutex mutex_;
    std::map<Labels, std::unique_ptr<Metric>> series_;
};

class MetricsRegistry {
  public:
    Family<Counter>& counter(const std::string& name, const std::string& help);
    Family<Gauge>& gauge(const std::string& name, const std::string& help);
    Family<Histogram>& histogram(const std::string& name, const std::string& help,
                                 std::vector<double> bounds);

    // Adds text produced at scrape time (for values another component already keeps, such as
    // the database writer's commit statistics). `collect` must return complete
    // Prometheus text lines, HELP and TYPE included.
    void add_collector(std::function<std::string()> collect);

    std::string render() const;

  private:
    std::vector<std::function<std::string()>> collectors_;
    mutable std::mutex mutex_;  // guards the lists, not the values
    std::vector<std::unique_ptr<Family<Counter>>> counters_;
    std::vector<std::unique_ptr<Family<Gauge>>> gauges_;
    std::vector<std::unique_ptr<Family<Histogram>>> histograms_;
};

// Latency buckets in seconds, from 100 µs to 10 s.
std::vector<double> latency_buckets();
// Duration buckets in seconds, from 1 s to 1 day.
std::vector<double> duration_buckets();

}  // namespace parley
