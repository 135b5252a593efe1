// Snapshots are bulk traffic and live changes are not: the pacer lets a service thread's
// snapshot rows go out as fast as their clients read them until live changes start to
// wait behind them, and then slows the snapshots down (--snapshot-yield-ms).
//
// The signal is each live transaction's delay from its commit to its fan-out on this
// thread. That delay has a base (what the path costs without queueing, plus any clock
// offset between the database host and this one: the lowest delay seen in the last
// kBaseWindowUs); what lies above the base is queueing. When a live transaction's
// queueing passes the target, the rate of snapshot bytes is halved (from the rate
// measured over the last kStepUs when it was not limited yet), at most once per kStepUs;
// every kStepUs without such a transaction it grows by kMinBytesPerSecond, and after
// kReleaseUs without one the limit is lifted. A lower-priority transfer yielding to
// foreground traffic by its extra delay: LEDBAT's idea (RFC 6817), with AIMD on a rate.
//
// The rate is enforced as a token bucket on the bytes of snapshot frames queued to
// clients (on_sent, after the fact: it may go into debt), which the coordinator consults
// before it asks Postgres for the next rows or feeds a late joiner from the log
// (wait_us). It never goes below kMinBytesPerSecond: snapshots always progress. With no
// live traffic there is no signal and no limit. Pure logic, times in microseconds of any
// monotonic clock except the live delay, which is wall clock against the commit time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace livesync::snapshot {

class SnapshotPacer {
public:
    static constexpr int64_t kStepUs = 100'000;
    static constexpr int64_t kReleaseUs = 10'000'000;
    static constexpr int64_t kBaseWindowUs = 120'000'000;
    static constexpr double kMinBytesPerSecond = 4.0 * (1 << 20);

    // target_us: queueing above the base that makes snapshots slow down; 0: never.
    void set_target_us(int64_t target_us) { target_us_ = target_us; }
    int64_t target_us() const { return target_us_; }

    // A live transaction fanned out at now_us (monotonic), delay_us after its commit.
    // Returns true when it made the snapshots slow down.
    bool on_live(int64_t delay_us, int64_t now_us);
    // Bytes of snapshot frames queued to clients at now_us.
    void on_sent(size_t bytes, int64_t now_us);
    // 0: snapshot work may go on at now_us; otherwise how long to wait first.
    int64_t wait_us(int64_t now_us);

    bool limited() const { return limited_; }
    // Bytes per second while limited().
    double rate() const { return rate_; }
    // The base delay of the live path now (INT64_MAX: no live transaction seen).
    int64_t base_us() const;

private:
    // Grows the rate for the steps without congestion up to now_us, lifts the limit after
    // kReleaseUs, and refills the bucket.
    void advance(int64_t now_us);
    void measure(int64_t now_us);

    int64_t target_us_ = 0;
    bool limited_ = false;
    double rate_ = 0;
    double tokens_ = 0;  // bytes; negative: in debt
    int64_t refilled_us_ = 0;
    int64_t congested_us_ = 0;  // last decrease
    int64_t grown_us_ = 0;      // last increase
    // Bytes sent in the current measuring step, and the rate of the last complete one.
    int64_t step_start_us_ = 0;
    size_t step_bytes_ = 0;
    double measured_rate_ = 0;
    // The lowest delay per kBaseWindowUs / kBuckets, the newest at bucket_ % kBuckets.
    static constexpr size_t kBuckets = 12;
    std::array<int64_t, kBuckets> base_{};
    int64_t bucket_ = -1;
};

}  // namespace livesync::snapshot
