// LatencyHistogram: log-bucketed latencies (about 1% resolution from 1 µs to 100 s) for the
// load client's percentiles without keeping every sample. Not thread-safe; merge() combines
// per-thread histograms.
#pragma once

#include <array>
#include <cstdint>

namespace parley {

class LatencyHistogram {
  public:
    void record(std::int64_t micros);
    void merge(const LatencyHistogram& other);
    std::uint64_t count() const { return count_; }
    // The latency (µs, the bucket's upper bound) at or below which `fraction` of the samples lie;
    // 0 when empty.
    std::int64_t percentile(double fraction) const;
    std::int64_t max() const { return max_; }

  private:
    static constexpr std::size_t kBuckets = 1900;  // 1.01^1852 ≈ 1e8 µs
    std::array<std::uint64_t, kBuckets> buckets_{};
    std::uint64_t count_ = 0;
    std::int64_t max_ = 0;
};

}  // namespace parley
