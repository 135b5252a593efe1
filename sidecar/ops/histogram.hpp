// A Prometheus histogram with fixed bucket bounds: lock-free observe() from any thread,
// read by /metrics. Bounds are fixed at compile time so memory is constant.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace livesync::ops {

class Histogram {
public:
    // Upper bounds in seconds (le); +Inf is implicit. Fan-out latency spans tens of
    // microseconds (a few sessions) to seconds (a stalled loop).
    static constexpr std::array<double, 15> kBounds = {0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                                       0.0025,  0.005,  0.01,    0.025,  0.05,
                                                       0.1,     0.25,   0.5,     1.0,    2.5};

    void observe(double seconds) {
        size_t i = 0;
        while (i < kBounds.size() && seconds > kBounds[i]) ++i;
        buckets_[i].fetch_add(1, std::memory_order_relaxed);
        sum_ns_.fetch_add(seconds > 0 ? static_cast<uint64_t>(seconds * 1e9) : 0, std::memory_order_relaxed);
    }

    // Observations in bucket i alone (i == kBounds.size(): above the last bound).
    uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
    double sum_seconds() const { return static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9; }

private:
    std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};
    std::atomic<uint64_t> sum_ns_{0};
};

}  // namespace livesync::ops
