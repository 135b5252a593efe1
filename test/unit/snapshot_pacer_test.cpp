// SnapshotPacer: snapshot traffic slows down (AIMD on a byte rate) while live
// transactions queue above their base commit-to-fan-out delay, and only then.
#include "sidecar/snapshot/snapshot_pacer.hpp"

#include <gtest/gtest.h>

namespace livesync::snapshot {
namespace {

constexpr int64_t kMs = 1000;
constexpr double kMiB = 1 << 20;

// 10 MiB of snapshot frames every 10 ms from t (100 ms: 1,000 MiB/s), then a step
// boundary so that the rate is measured. Returns the time after.
int64_t send_fast(SnapshotPacer &p, int64_t t) {
    for (int i = 0; i < 10; ++i, t += 10 * kMs) p.on_sent(static_cast<size_t>(10 * kMiB), t);
    return t;
}

// A pacer with that target that saw a live base of 1 ms at *t, then 100 ms of snapshot
// frames at 1,000 MiB/s; *t is moved past them.
SnapshotPacer after_fast_sends(int64_t *t, int64_t target_us = 5 * kMs) {
    SnapshotPacer p;
    p.set_target_us(target_us);
    p.on_live(1 * kMs, *t);
    *t = send_fast(p, *t);
    return p;
}

TEST(SnapshotPacer, NoLiveQueueingNoLimit) {
    SnapshotPacer p;
    p.set_target_us(5 * kMs);
    int64_t t = 1'000'000;
    // A constant 2 s delay (the database's clock is ahead) is the base, not queueing.
    for (int i = 0; i < 50; ++i, t += 5 * kMs) {
        p.on_sent(1 << 20, t);
        EXPECT_FALSE(p.on_live(2'000 * kMs + (i % 3) * kMs, t));
    }
    EXPECT_FALSE(p.limited());
    EXPECT_EQ(p.wait_us(t), 0);
    EXPECT_EQ(p.base_us(), 2'000 * kMs);
}

TEST(SnapshotPacer, QueueingHalvesTheMeasuredRateOncePerStep) {
    SnapshotPacer p;
    p.set_target_us(5 * kMs);
    int64_t t = 1'000'000;
    p.on_live(1 * kMs, t);  // the base
    t = send_fast(p, t);
    t = send_fast(p, t);
    EXPECT_TRUE(p.on_live(20 * kMs, t));
    ASSERT_TRUE(p.limited());
    EXPECT_NEAR(p.rate(), 500 * kMiB, 50 * kMiB);  // half of ~1,000 MiB/s
    // The same episode: no second halving within a step.
    EXPECT_FALSE(p.on_live(25 * kMs, t + 50 * kMs));
    EXPECT_NEAR(p.rate(), 500 * kMiB, 50 * kMiB);
    // Still queueing a step later: halved again.
    EXPECT_TRUE(p.on_live(25 * kMs, t + 100 * kMs));
    EXPECT_NEAR(p.rate(), 250 * kMiB + 4 * kMiB, 30 * kMiB);
}

TEST(SnapshotPacer, NoSnapshotBytesNoLimit) {
    // Live changes that wait while no snapshot is sending wait for something else.
    SnapshotPacer p;
    p.set_target_us(5 * kMs);
    int64_t t = 1'000'000;
    p.on_live(1 * kMs, t);
    EXPECT_FALSE(p.on_live(100 * kMs, t + 200 * kMs));
    EXPECT_FALSE(p.limited());
}

TEST(SnapshotPacer, TheRateIsEnforcedAndNeverBelowTheFloor) {
    int64_t t = 1'000'000;
    SnapshotPacer p = after_fast_sends(&t);
    // Queueing for a whole second: halved every step down to the floor.
    for (int i = 0; i < 10; ++i, t += 100 * kMs) p.on_live(50 * kMs, t);
    ASSERT_TRUE(p.limited());
    EXPECT_LE(p.rate(), 2 * SnapshotPacer::kMinBytesPerSecond);
    EXPECT_GE(p.rate(), SnapshotPacer::kMinBytesPerSecond);
    // The bucket holds one step's worth (rate × 100 ms); that and 1 MiB more sent puts it
    // 1 MiB in debt: work waits 1 MiB / rate.
    EXPECT_EQ(p.wait_us(t), 0);
    double rate = p.rate();
    p.on_sent(static_cast<size_t>(rate * 0.1 + kMiB), t);
    int64_t wait = p.wait_us(t);
    EXPECT_NEAR(static_cast<double>(wait), kMiB / rate * 1e6, 0.1 * kMiB / rate * 1e6);
    EXPECT_GT(p.wait_us(t + wait / 2), 0);
    EXPECT_EQ(p.wait_us(t + wait + 1), 0);
}

TEST(SnapshotPacer, GrowsBackWithoutQueueingAndLiftsTheLimit) {
    int64_t t = 1'000'000;
    SnapshotPacer p = after_fast_sends(&t);
    ASSERT_TRUE(p.on_live(50 * kMs, t));
    double halved = p.rate();
    // A second without queueing: ten steps of kMinBytesPerSecond more.
    for (int i = 1; i <= 10; ++i) EXPECT_FALSE(p.on_live(1 * kMs, t + i * 100 * kMs));
    EXPECT_NEAR(p.rate(), halved + 10 * SnapshotPacer::kMinBytesPerSecond, 1.0);
    EXPECT_TRUE(p.limited());
    // kReleaseUs without queueing: no limit at all.
    EXPECT_EQ(p.wait_us(t + SnapshotPacer::kReleaseUs), 0);
    EXPECT_FALSE(p.limited());
}

TEST(SnapshotPacer, TheBaseForgetsOldDelays) {
    SnapshotPacer p;
    p.set_target_us(5 * kMs);
    int64_t t = 1'000'000;
    p.on_live(1 * kMs, t);
    EXPECT_EQ(p.base_us(), 1 * kMs);
    // Two minutes later the path costs 30 ms (the clocks moved apart): that is the base
    // now, and it is not queueing.
    t += SnapshotPacer::kBaseWindowUs + 10'000'000;
    p.on_sent(1 << 20, t);
    EXPECT_FALSE(p.on_live(30 * kMs, t));
    EXPECT_EQ(p.base_us(), 30 * kMs);
    EXPECT_FALSE(p.limited());
}

TEST(SnapshotPacer, TargetZeroIsOff) {
    int64_t t = 1'000'000;
    SnapshotPacer p = after_fast_sends(&t, 0);
    EXPECT_FALSE(p.on_live(500 * kMs, t));
    EXPECT_FALSE(p.limited());
    EXPECT_EQ(p.wait_us(t), 0);
}

}  // namespace
}  // namespace livesync::snapshot
