#include "common/metrics.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace parley {

void Counter::inc(double v) {
    double cur = value_.load(std::memory_order_relaxed);
    while (!value_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
    }
}

void Gauge::add(double v) {
    double cur = value_.load(std::memory_order_relaxed);
    while (!value_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
    }
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
    std::size_t i = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                             bounds_.begin());
    std::lock_guard lock(mutex_);
    ++buckets_[i];
    sum_ += v;
    ++count_;
}

Histogram::Snapshot Histogram::snapshot() const {
    Snapshot s;
    s.bounds = bounds_;
    std::lock_guard lock(mutex_);
    std::uint64_t running = 0;
    for (auto b : buckets_) {
        running += b;
        s.cumulative.push_back(running);
    }
    s.sum = sum_;
    s.count = count_;
    return s;
}

template <>
Histogram& Family<Histogram>::with(const Labels& labels) {
    std::lock_guard lock(mutex_);
    auto& slot = series_[labels];
    if (!slot) slot = std::make_unique<Histogram>(bounds_);
    return *slot;
}

template <class Metric>
Metric& Family<Metric>::with(const Labels& labels) {
    std::lock_guard lock(mutex_);
    auto& slot = series_[labels];
    if (!slot) slot = std::make_unique<Metric>();
    return *slot;
}

template <class Metric>
void Family<Metric>::remove(const Labels& labels) {
    std::lock_guard lock(mutex_);
    series_.erase(labels);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

Family<Counter>& MetricsRegistry::counter(const std::string& name, const std::string& help) {
    std::lock_guard lock(mutex_);
    counters_.push_back(std::make_unique<Family<Counter>>(name, help));
    return *counters_.back();
}

Family<Gauge>& MetricsRegistry::gauge(const std::string& name, const std::string& help) {
    std::lock_guard lock(mutex_);
    gauges_.push_back(std::make_unique<Family<Gauge>>(name, help));
    return *gauges_.back();
}

Family<Histogram>& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                              std::vector<double> bounds) {
    std::lock_guard lock(mutex_);
    histograms_.push_back(std::make_unique<Family<Histogram>>(name, help, std::move(bounds)));
    return *histograms_.back();
}

namespace {

std::string escape_label(const std::string& v) {
    std::string out;
    for (char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string render_labels(const Labels& labels, const std::string& extra = {}) {
    if (labels.empty() && extra.empty()) return {};
    std::string out = "{";
    bool first = true;
    for (const auto& [k, v] : labels) {
        out += (first ? "" : ",") + k + "=\"" + escape_label(v) + "\"";
        first = false;
    }
    if (!extra.empty()) out += (first ? "" : ",") + extra;
    return out + "}";
}

std::string number(double v) {
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", v);
}

}  // namespace

void MetricsRegistry::add_collector(std::function<std::string()> collect) {
    std::lock_guard lock(mutex_);
    collectors_.push_back(std::move(collect));
}

std::string MetricsRegistry::render() const {
    std::lock_guard lock(mutex_);
    std::string out;
    auto header = [&out](const std::string& name, const std::string& help, const char* type) {
        out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    };
    for (const auto& f : counters_) {
        header(f->name(), f->help(), "counter");
        f->each([&](const Labels& l, const Counter& c) {
            out += f->name() + render_labels(l) + " " + number(c.value()) + "\n";
        });
    }
    for (const auto& f : gauges_) {
        header(f->name(), f->help(), "gauge");
        f->each([&](const Labels& l, const Gauge& g) {
            out += f->name() + render_labels(l) + " " + number(g.value()) + "\n";
        });
    }
    for (const auto& f : histograms_) {
        header(f->name(), f->help(), "histogram");
        f->each([&](const Labels& l, const Histogram& h) {
            auto s = h.snapshot();
            for (std::size_t i = 0; i < s.bounds.size(); ++i) {
                out += f->name() + "_bucket" +
                       render_labels(l, "le=\"" + number(s.bounds[i]) + "\"") + " " +
                       std::to_string(s.cumulative[i]) + "\n";
            }
            out += f->name() + "_bucket" + render_labels(l, "le=\"+Inf\"") + " " +
                   std::to_string(s.cumulative.back()) + "\n";
            out += f->name() + "_sum" + render_labels(l) + " " + number(s.sum) + "\n";
            out += f->name() + "_count" + render_labels(l) + " " + std::to_string(s.count) + "\n";
        });
    }
    for (const auto& collect : collectors_)
        out += collect();
    return out;
}

std::vector<double> latency_buckets() {
    return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
            0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

std::vector<double> duration_buckets() {
    return {1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400};
}

}  // namespace parley
