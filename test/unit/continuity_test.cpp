// The live reader's continuity rule (stream/continuity.hpp): when it may carry on after
// the last entry it handed over, and when live sessions must be told resync_required.
#include <gtest/gtest.h>

#include "sidecar/stream/continuity.hpp"

namespace livesync {
namespace {

using common::StreamId;
using stream::live_continuity;
using stream::StreamView;

TEST(LiveContinuity, LastEntryStillHeldMeansNothingAfterItWasTrimmed) {
    StreamView v;
    v.held_at_or_below = StreamId{200, 0};
    v.tail = StreamId{500, 0};
    v.trimmed_lsn = 150;
    EXPECT_TRUE(live_continuity(StreamId{200, 0}, v, std::nullopt));
}

TEST(LiveContinuity, TrimmedPastTheLastEntryIsAGap) {
    // The reader fell behind: everything up to 399 may be gone, its entry 200 is.
    StreamView v;
    v.tail = StreamId{500, 0};
    v.trimmed_lsn = 399;
    EXPECT_FALSE(live_continuity(StreamId{200, 0}, v, std::nullopt));
    // Without a marker there is no proof either (Redis lost the entries, or a hand trim).
    v.trimmed_lsn.reset();
    EXPECT_FALSE(live_continuity(StreamId{200, 0}, v, std::nullopt));
}

TEST(LiveContinuity, MarkerProvesOnlyBelowTheTransactionTheReaderIsIn) {
    // The reader stopped after part 1 of split transaction 200 and that entry is gone.
    StreamView v;
    v.tail = StreamId{500, 0};
    v.trimmed_lsn = 200;  // parts of 200 may be gone: the ones after part 1 too
    EXPECT_FALSE(live_continuity(StreamId{200, 1}, v, std::nullopt));
    v.trimmed_lsn = 199;  // nothing of 200 or later was removed
    EXPECT_TRUE(live_continuity(StreamId{200, 1}, v, std::nullopt));
}

TEST(LiveContinuity, PositionAheadOfTheStreamIsAGap) {
    // Redis came back with less than the reader had read.
    StreamView v;
    v.held_at_or_below = StreamId{300, 0};
    v.tail = StreamId{300, 0};
    EXPECT_FALSE(live_continuity(StreamId{400, 0}, v, std::nullopt));
}

TEST(LiveContinuity, EmptyStreamSnapshotHoldsUntilSomethingIsTrimmed) {
    // 0-0: the snapshot saw no entry. Nothing can be held at or below it; what proves
    // continuity is a marker the trim has not moved since.
    StreamView untouched;
    untouched.tail = StreamId{300, 0};
    EXPECT_TRUE(live_continuity(StreamId{0, 0}, untouched, std::nullopt));
    StreamView trimmed = untouched;
    trimmed.trimmed_lsn = 120;
    EXPECT_FALSE(live_continuity(StreamId{0, 0}, trimmed, std::nullopt));
    // A marker left from before the snapshot (the stream was emptied since) is no gap...
    EXPECT_TRUE(live_continuity(StreamId{0, 0}, trimmed, std::optional<uint64_t>(120)));
    // ...until a trim after the snapshot raises it.
    trimmed.trimmed_lsn = 250;
    EXPECT_FALSE(live_continuity(StreamId{0, 0}, trimmed, std::optional<uint64_t>(120)));
}

}  // namespace
}  // namespace livesync

namespace livesync {
namespace {

common::Transaction txn(uint64_t lsn, uint32_t part, bool final) {
    common::Transaction t;
    t.lsn = lsn;
    t.part = part;
    t.final = final;
    return t;
}

TEST(StreamBehind, OnlyATailBelowWhatWasRead) {
    StreamView v;
    v.held_at_or_below = StreamId{300, 0};
    v.tail = StreamId{300, 0};
    EXPECT_TRUE(stream::stream_behind(StreamId{400, 0}, v));   // a failover lost 300..400
    EXPECT_FALSE(stream::stream_behind(StreamId{300, 0}, v));  // all there
    EXPECT_FALSE(stream::stream_behind(StreamId{200, 0}, v));
    StreamView empty;  // no entry at all: emptied, not behind (the reset decides)
    EXPECT_FALSE(stream::stream_behind(StreamId{400, 0}, empty));
}

TEST(StreamBehind, PublishedAgainTheHandedOverTransactionsAreDropped) {
    // The reader handed over through 400; the replicator publishes 350 and 400 again in
    // one entry with 450 (cut differently), then 400's parts are gone for good.
    common::ChangeBatch b;
    b.transactions = {txn(350, 0, true), txn(400, 1, false), txn(400, 2, true), txn(450, 0, true)};
    EXPECT_EQ(stream::drop_through(b, 400), 3u);
    ASSERT_EQ(b.transactions.size(), 1u);
    EXPECT_EQ(b.transactions[0].lsn, 450u);
    common::ChangeBatch later;
    later.transactions = {txn(500, 0, true)};
    EXPECT_EQ(stream::drop_through(later, 400), 0u);
    EXPECT_EQ(later.transactions.size(), 1u);
    common::ChangeBatch old;
    old.transactions = {txn(380, 0, true), txn(400, 0, true)};
    EXPECT_EQ(stream::drop_through(old, 400), 2u);
    EXPECT_TRUE(old.transactions.empty());
}

}  // namespace
}  // namespace livesync
