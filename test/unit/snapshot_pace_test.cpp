// Snapshot pacing in the coordinator (--snapshot-yield-ms): once live transactions wait
// behind snapshot traffic, a query asks Postgres for its next rows only as the pacer's
// rate allows; a drained queue does not get round it, and the pace timer goes on.
#include "snapshot_fixture.hpp"

namespace livesync {
namespace {

using namespace test;
using namespace test::snapshot_fixture;

int64_t fake_now_us = 0;
int64_t fake_clock() { return fake_now_us; }

TEST_F(SnapshotTest, LiveTransactionsWaitingSlowTheQueryDown) {
    std::vector<int64_t> wakes;
    fake_now_us = 1'000'000;
    snapshots.set_clock(fake_clock);
    snapshots.set_pacing(5'000, [&](int64_t us) { wakes.push_back(us); });
    auto &a = snapshot_client("a", "c1");
    ASSERT_EQ(queries.submitted.size(), 1u);
    snapshots.record_live_delay(1'000);  // the live path's base: 1 ms
    event(snapshot::SnapshotEvent::Kind::Started);
    event(snapshot::SnapshotEvent::Kind::Rows, {row(1, "a")});
    EXPECT_EQ(queries.mores[kFirstJob], 1);  // nothing waits: at the client's pace
    fake_now_us += 100'000;
    event(snapshot::SnapshotEvent::Kind::Rows, {row(2, "a")});
    EXPECT_EQ(queries.mores[kFirstJob], 2);

    // A live transaction 49 ms above the base: snapshots yield.
    snapshots.record_live_delay(50'000);
    EXPECT_EQ(counters.snapshot_yields.load(), 1u);
    EXPECT_TRUE(snapshots.pacer().limited());
    event(snapshot::SnapshotEvent::Kind::Rows, {row(3, "a")});
    EXPECT_EQ(queries.mores[kFirstJob], 2);  // the next rows wait for the rate
    ASSERT_EQ(wakes.size(), 1u);
    EXPECT_GT(wakes[0], 0);
    EXPECT_EQ(counters.snapshot_pace_waits.load(), 1u);
    // The client reading everything does not get round the pacer.
    EXPECT_EQ(drain(a), (std::vector<std::string>{"welcome:0/C8", "subscribed:0/C8", "snapshot_rows:s1=1,", "snapshot_rows:s1=2,",
                                                  "snapshot_rows:s1=3,"}));
    snapshots.on_drained(a);
    EXPECT_EQ(queries.mores[kFirstJob], 2);
    // Woken early: it waits again.
    snapshots.on_pace_timer();
    EXPECT_EQ(queries.mores[kFirstJob], 2);
    ASSERT_EQ(wakes.size(), 2u);
    fake_now_us += wakes.back();
    snapshots.on_pace_timer();
    EXPECT_EQ(queries.mores[kFirstJob], 3);
    snapshots.on_pace_timer();  // nothing waits any more
    EXPECT_EQ(queries.mores[kFirstJob], 3);
    event(snapshot::SnapshotEvent::Kind::End);
    EXPECT_EQ(drain(a), (std::vector<std::string>{"snapshot_end:0/FA"}));
}

// With --snapshot-yield-ms 0 live delays change nothing.
TEST_F(SnapshotTest, YieldZeroNeverSlowsSnapshots) {
    fake_now_us = 1'000'000;
    snapshots.set_clock(fake_clock);
    snapshots.set_pacing(0, [](int64_t) { ADD_FAILURE() << "no pace timer without pacing"; });
    auto &a = snapshot_client("a", "c1");
    snapshots.record_live_delay(1'000);
    event(snapshot::SnapshotEvent::Kind::Started);
    event(snapshot::SnapshotEvent::Kind::Rows, {row(1, "a")});
    fake_now_us += 100'000;
    snapshots.record_live_delay(500'000);
    event(snapshot::SnapshotEvent::Kind::Rows, {row(2, "a")});
    EXPECT_EQ(queries.mores[kFirstJob], 2);
    EXPECT_EQ(counters.snapshot_yields.load(), 0u);
}

}  // namespace
}  // namespace livesync
