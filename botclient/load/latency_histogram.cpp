#include "botclient/load/latency_histogram.hpp"

#include <algorithm>
#include <cmath>

namespace parley {

namespace {

constexpr double kGrowth = 1.01;

std::size_t bucket_of(std::int64_t micros, std::size_t buckets) {
    if (micros <= 1) return 0;
    auto b = static_cast<std::size_t>(
        std::ceil(std::log(static_cast<double>(micros)) / std::log(kGrowth)));
    return std::min(b, buckets - 1);
}

std::int64_t upper_bound_of(std::size_t bucket) {
    return static_cast<std::int64_t>(std::floor(std::pow(kGrowth, static_cast<double>(bucket))));
}

}  // namespace

void LatencyHistogram::record(std::int64_t micros) {
    micros = std::max<std::int64_t>(micros, 0);
    ++buckets_[bucket_of(micros, kBuckets)];
    ++count_;
    max_ = std::max(max_, micros);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
    for (std::size_t i = 0; i < kBuckets; ++i)
        buckets_[i] += other.buckets_[i];
    count_ += other.count_;
    max_ = std::max(max_, other.max_);
}

std::int64_t LatencyHistogram::percentile(double fraction) const {
    if (count_ == 0) return 0;
    auto wanted = static_cast<std::uint64_t>(std::ceil(fraction * static_cast<double>(count_)));
    wanted = std::clamp<std::uint64_t>(wanted, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
        seen += buckets_[i];
        if (seen >= wanted) return std::min(upper_bound_of(i), max_);
    }
    return max_;
}

}  // namespace parley
