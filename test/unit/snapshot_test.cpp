// Snapshot, then live (sidecar/snapshot): which stream transactions a subscription's
// snapshot already contains is decided by xid visibility in pg_current_snapshot(), not by
// LSN; the subscription gets subscribed, its rows, snapshot_end, then exactly the
// transactions the rows do not contain, and the session's other subscriptions lose and
// repeat nothing.
#include <gtest/gtest.h>

#include <rapidjson/document.h>

#include "snapshot_fixture.hpp"

namespace livesync {
namespace {

using namespace test;
using namespace test::snapshot_fixture;
using common::StreamId;
using session::XidSnapshot;

TEST(XidSnapshot, ParsesPgSnapshotText) {
    std::string error;
    auto s = XidSnapshot::parse("100:110:104,102", &error);
    ASSERT_TRUE(s) << error;
    EXPECT_EQ(s->xmin, 100u);
    EXPECT_EQ(s->xmax, 110u);
    EXPECT_EQ(s->xip, (std::vector<uint64_t>{102, 104}));
    EXPECT_TRUE(XidSnapshot::parse("5:5:", &error));
}

TEST(XidSnapshot, RejectsGarbage) {
    std::string error;
    for (const char *bad : {"", "1", "1:2", "x:2:", "3:2:", "1:5:7", "1:5:2,", "1:5:a", "1:5:0"}) {
        EXPECT_FALSE(XidSnapshot::parse(bad, &error)) << bad;
        EXPECT_FALSE(error.empty());
    }
}

TEST(XidSnapshot, SeesCommittedBeforeAndNotInProgressOrLater) {
    std::string error;
    auto s = *XidSnapshot::parse("100:110:104", &error);
    EXPECT_TRUE(s.sees(99));
    EXPECT_TRUE(s.sees(100));   // xmin itself completed (not in xip)
    EXPECT_TRUE(s.sees(103));
    EXPECT_FALSE(s.sees(104));  // in progress
    EXPECT_FALSE(s.sees(110));  // xmax: not yet
    EXPECT_FALSE(s.sees(111));
}

TEST(XidSnapshot, WidensThirtyTwoBitXidsAcrossAnEpoch) {
    // xmax in epoch 1 just past the wrap; a stream xid just below 2^32 is in epoch 0.
    XidSnapshot s;
    s.xmin = (1ull << 32) - 5;
    s.xmax = (1ull << 32) + 5;
    s.xip = {(1ull << 32) + 2};
    EXPECT_TRUE(s.sees(0xFFFFFFFFu));
    EXPECT_FALSE(s.sees(2));
    EXPECT_TRUE(s.sees(3));
    EXPECT_FALSE(s.sees(5));
    EXPECT_EQ(session::widen_xid(0xFFFFFFFFu, (1ull << 32) + 5), (1ull << 32) - 1);
}

TEST(RecentCommits, StartsBelowTheOldestCommitTheSnapshotDoesNotSee) {
    std::string error;
    session::SnapshotCut cut{*XidSnapshot::parse("100:110:104", &error), 500};
    session::RecentCommits recent(4);
    recent.add(101, 100);
    recent.add(104, 200);  // in WAL (and the stream) before 300, in progress for the snapshot
    recent.add(105, 300);
    EXPECT_EQ(recent.start_after(300, cut), 199u);
    EXPECT_EQ(recent.start_after(150, cut), 150u);
    recent.add(106, 400);
    recent.add(107, 450);  // bounded: 101 is forgotten, the rest stays
    EXPECT_EQ(recent.size(), 4u);
    EXPECT_EQ(recent.start_after(300, cut), 199u);
}


// The heart of it: a transaction that committed in WAL below the snapshot's WAL bound
// (and even below the subscribe position) but that the snapshot saw in progress is
// delivered; one above the subscribe position that the snapshot saw is not. Replace
// visibility by "lsn > bound" (or "lsn > subscribe position") and this fails.
TEST_F(SnapshotTest, VisibilityNotLsnDecidesWhatTheSnapshotContains) {
    auto &s = snapshot_client("a", "c1");
    EXPECT_EQ(drain(s), (std::vector<std::string>{"welcome:0/C8", "subscribed:0/C8"}));
    ASSERT_EQ(queries.submitted.size(), 1u);
    EXPECT_EQ(queries.submitted[0].table, "items");

    // Stream transactions while the rows are read: nothing reaches the session yet.
    apply(entry(230, 96, 3));   // committed before the snapshot: the snapshot sees 96
    apply(entry(240, 97, 4));   // in WAL before the bound, but in progress for the snapshot
    apply(entry(260, 100, 5));  // after the snapshot
    EXPECT_TRUE(drain(s).empty());

    // Rows 1, 2 and 3 (xid 96's insert is in the snapshot); not 4 (xid 97) nor 5.
    event(snapshot::SnapshotEvent::Kind::Started);
    event(snapshot::SnapshotEvent::Kind::Rows, {row(1, "a"), row(2, "a"), row(3, "a")});
    EXPECT_EQ(queries.mores[kFirstJob], 1);
    event(snapshot::SnapshotEvent::Kind::End);
    EXPECT_EQ(drain(s), (std::vector<std::string>{"snapshot_rows:s1=1,2,3,", "snapshot_end:0/FA"}));

    // The session is fed from the stream from its subscribe position (entry 0/C8-0).
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].after, (StreamId{200, 0}));
    page(s, {entry(230, 96, 3), entry(240, 97, 4), entry(260, 100, 5)});
    EXPECT_EQ(drain(s), (std::vector<std::string>{"changes:0/F0:s1=4", "changes:0/104:s1=5"}));
    // Live from here.
    apply(entry(300, 101, 6));
    EXPECT_EQ(drain(s), (std::vector<std::string>{"changes:0/12C:s1=6"}));
}

TEST_F(SnapshotTest, TransactionInTheStreamBeforeTheSubscribeButUnseenBySnapshotIsDelivered) {
    auto &s = sessions.open(nullptr, "a", 0, 8 << 20, [] {});
    handler.on_text(s, R"({"type":"hello","client_id":"c1"})");
    // xid 91 (lsn 0/C8) reached the stream before the subscribe, but its snapshot still
    // saw it in progress (its commit was in WAL, not yet in the proc array).
    handler.on_text(s, R"({"type":"subscribe","id":"s1","table":"items","snapshot":true})");
    drain(s);
    event(snapshot::SnapshotEvent::Kind::Started, {}, "91:100:91");
    event(snapshot::SnapshotEvent::Kind::Rows, {row(1, "a")});
    event(snapshot::SnapshotEvent::Kind::End, {}, "91:100:91");
    EXPECT_EQ(drain(s), (std::vector<std::string>{"snapshot_rows:s1=1,", "snapshot_end:0/FA"}));
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].after, (StreamId{199, stream::kWholeTransaction}));
    page(s, {entry(200, 91, 2)});
    EXPECT_EQ(drain(s), (std::vector<std::string>{"changes:0/C8:s1=2"}));
}

TEST_F(SnapshotTest, OtherSubscriptionsWaitInOrderAndGetNothingTwice) {
    auto &s = sessions.open(nullptr, "a", 0, 8 << 20, [] {});
    handler.on_text(s, R"({"type":"hello","client_id":"c1"})");
    handler.on_text(s, R"({"type":"subscribe","id":"o1","table":"other"})");
    apply(entry(210, 92, 7, "other"));
    handler.on_text(s, R"({"type":"subscribe","id":"s1","table":"items","snapshot":true})");
    EXPECT_EQ(drain(s), (std::vector<std::string>{"welcome:0/C8", "subscribed:0/C8", "changes:0/D2:o1=7",
                                                  "subscribed:0/D2"}));
    apply(entry(220, 93, 8, "other"));  // held: after the snapshot, in commit order
    event(snapshot::SnapshotEvent::Kind::Started, {}, "92:100:92");
    event(snapshot::SnapshotEvent::Kind::End, {}, "92:100:92");
    EXPECT_EQ(drain(s), (std::vector<std::string>{"snapshot_end:0/FA"}));
    // Rewound below 0/D2 for s1 (xid 92 unseen); o1 already had 0/D2.
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].after, (StreamId{209, stream::kWholeTransaction}));
    page(s, {entry(210, 92, 7, "other"), entry(220, 93, 8, "other")});
    EXPECT_EQ(drain(s), (std::vector<std::string>{"changes:0/DC:o1=8"}));
}

TEST_F(SnapshotTest, RowsAreCutToTheViewAndPagedAtTheClientsPace) {
    grant(live, "anonymous", "public.items", R"({"cmp":"=","type":"text","args":[{"col":"owner"},{"value":"a"}]})",
          R"(["id"])");
    auto &s = snapshot_client("a", "c1");
    drain(s);
    event(snapshot::SnapshotEvent::Kind::Started);
    event(snapshot::SnapshotEvent::Kind::Rows, {row(1, "a"), row(2, "b"), row(3, "a")});
    std::string payload(protocol::frame_payload(s.queue().front()));
    EXPECT_EQ(payload, R"({"type":"snapshot_rows","id":"s1","rows":[{"id":1},{"id":3}]})");
}

TEST_F(SnapshotTest, NextPageIsReadOnlyOnceTheClientTookThePreviousOne) {
    snapshot::SnapshotCoordinator paced(sessions, live, replay, &queries, 10);
    handler.set_snapshots(&paced);
    auto &s = snapshot_client("a", "c1");
    drain(s);
    snapshot::SnapshotEvent e;
    e.job = kFirstJob;
    e.kind = snapshot::SnapshotEvent::Kind::Started;
    e.snapshot_text = "95:100:";
    e.wal_bound = 250;
    e.config = config_now();
    paced.on_event(e);
    e.kind = snapshot::SnapshotEvent::Kind::Rows;
    e.pages = {row(1, "a") + row(2, "a")};
    paced.on_event(e);
    EXPECT_EQ(queries.mores[kFirstJob], 0);  // the rows wait in the send queue: no next page yet
    paced.on_drained(s);
    EXPECT_EQ(queries.mores[kFirstJob], 0);
    EXPECT_EQ(drain(s), (std::vector<std::string>{"snapshot_rows:s1=1,2,"}));
    paced.on_drained(s);
    EXPECT_EQ(queries.mores[kFirstJob], 1);
}

TEST_F(SnapshotTest, FailureEndsOnlyThatSubscriptionAndItCanBeRetried) {
    auto &s = sessions.open(nullptr, "a", 0, 8 << 20, [] {});
    handler.on_text(s, R"({"type":"hello","client_id":"c1"})");
    handler.on_text(s, R"({"type":"subscribe","id":"o1","table":"other"})");
    handler.on_text(s, R"({"type":"subscribe","id":"s1","table":"items","snapshot":true})");
    drain(s);
    event(snapshot::SnapshotEvent::Kind::Failed);
    auto frames = drain(s);
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0], "error");
    EXPECT_FALSE(s.has_subscription("s1"));
    EXPECT_TRUE(s.has_subscription("o1"));
    // The session goes on: o1 is live again, s1 can be asked again.
    if (!requests.empty()) page(s, {});
    apply(entry(300, 101, 9, "other"));
    EXPECT_EQ(drain(s), (std::vector<std::string>{"changes:0/12C:o1=9"}));
    handler.on_text(s, R"({"type":"subscribe","id":"s1","table":"items","snapshot":true})");
    EXPECT_EQ(queries.submitted.size(), 2u);
}

TEST_F(SnapshotTest, AdmissionQueuesInOrderAndIdenticalRequestsShareAQuery) {
    queries.max = 1;
    auto &a = sessions.open(nullptr, "a", 0, 8 << 20, [] {});
    auto &b = sessions.open(nullptr, "b", 0, 8 << 20, [] {});
    handler.on_text(a, R"({"type":"hello","client_id":"c1"})");
    handler.on_text(b, R"({"type":"hello","client_id":"c2"})");
    handler.on_text(a, R"({"type":"subscribe","id":"s1","table":"items","snapshot":true})");
    handler.on_text(b, R"({"type":"subscribe","id":"s1","table":"items","snapshot":true})");  // shares job 1
    handler.on_text(b, R"({"type":"subscribe","id":"s2","table":"other","snapshot":true})");  // waits
    EXPECT_EQ(queries.submitted.size(), 1u);
    EXPECT_EQ(snapshots.queued(), 1u);
    auto frames = drain(b);
    EXPECT_EQ(frames.back(), "snapshot_waiting");
    event(snapshot::SnapshotEvent::Kind::Started);
    event(snapshot::SnapshotEvent::Kind::Rows, {row(1, "a")});
    EXPECT_EQ(drain(a).back(), "snapshot_rows:s1=1,");
    EXPECT_EQ(drain(b).back(), "snapshot_rows:s1=1,");
    event(snapshot::SnapshotEvent::Kind::End);
    ASSERT_EQ(queries.submitted.size(), 2u);
    EXPECT_EQ(queries.submitted[1].table, "other");
}

TEST_F(SnapshotTest, ClientThatLeavesCancelsItsQuery) {
    auto &a = snapshot_client("a", "c1");
    handler.on_closed(a);
    EXPECT_EQ(queries.cancelled, (std::vector<uint64_t>{kFirstJob}));
    EXPECT_EQ(snapshots.running(), 0u);
}

TEST_F(SnapshotTest, UnsubscribeCancelsTheQueryAndTheSessionFlowsAgain) {
    auto &s = sessions.open(nullptr, "a", 0, 8 << 20, [] {});
    handler.on_text(s, R"({"type":"hello","client_id":"c1"})");
    handler.on_text(s, R"({"type":"subscribe","id":"o1","table":"other"})");
    handler.on_text(s, R"({"type":"subscribe","id":"s1","table":"items","snapshot":true})");
    apply(entry(300, 101, 9, "other"));
    drain(s);
    handler.on_text(s, R"({"type":"unsubscribe","id":"s1"})");
    EXPECT_EQ(queries.cancelled, (std::vector<uint64_t>{kFirstJob}));
    ASSERT_EQ(requests.size(), 1u);  // held frames come from the stream now
    page(s, {entry(300, 101, 9, "other")});
    EXPECT_EQ(drain(s), (std::vector<std::string>{"unsubscribed", "changes:0/12C:o1=9"}));
}

TEST_F(SnapshotTest, WithoutPostgresSnapshotIsRefusedAndChannelsTakeNone) {
    snapshot::SnapshotCoordinator none(sessions, live, replay, nullptr, 1 << 20);
    handler.set_snapshots(&none);
    auto &s = sessions.open(nullptr, "a", 0, 8 << 20, [] {});
    handler.on_text(s, R"({"type":"hello","client_id":"c1"})");
    drain(s);
    handler.on_text(s, R"({"type":"subscribe","id":"s1","table":"items","snapshot":true})");
    handler.on_text(s, R"({"type":"subscribe","id":"s2","channel":"x","snapshot":true})");
    handler.on_text(s, R"({"type":"subscribe","id":"s3","table":"items","snapshot":1})");
    handler.on_text(s, R"({"type":"subscribe","id":"s4","table":"nope","snapshot":true})");
    std::vector<std::string> codes;
    while (!s.queue().empty()) {
        rapidjson::Document d;
        std::string payload(protocol::frame_payload(s.queue().front()));
        d.Parse(payload.c_str());
        s.queue().pop();
        codes.push_back(d["code"].GetString());
    }
    EXPECT_EQ(codes, (std::vector<std::string>{"snapshot_unavailable", "bad_request", "bad_request", "unknown_table"}));
    EXPECT_FALSE(s.has_subscription("s1"));
}

TEST(SnapshotSql, CopiesPagesAndQuotesEveryName) {
    auto literal = [](const std::string &s) { return "'" + s + "'"; };
    EXPECT_EQ(snapshot::snapshot_sql("\"public\".\"items\"", std::vector<std::string>{"id", "ti\"tle"}, std::string("org"),
                                     std::string("o1"), 2000, literal),
              "COPY (SELECT livesync.snapshot_pages('\"public\".\"items\"'::regclass, '{\"id\",\"ti\\\"tle\"}'::text[], "
              "'org', 'o1', 2000)) TO STDOUT (FORMAT binary)");
    // No tenant column (or no tenant): every row is read, the sidecar checks each.
    EXPECT_EQ(snapshot::snapshot_sql("t", std::nullopt, std::nullopt, std::string("o1"), 5, literal),
              "COPY (SELECT livesync.snapshot_pages('t'::regclass, NULL, NULL, NULL, 5)) TO STDOUT (FORMAT binary)");
    EXPECT_EQ(snapshot::text_array_literal({"id", "ti\"tle", "a\\b"}), R"({"id","ti\"tle","a\\b"})");
}

TEST(SnapshotSql, ReadsBinaryCopyRowsAndRefusesGarbage) {
    const std::string header("PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0", 19);
    const std::string row("\0\1\0\0\0\3abc", 9);
    std::string_view field;
    bool trailer = true;
    std::string error;
    ASSERT_TRUE(snapshot::parse_copy_row(header + row, true, &field, &trailer, &error)) << error;
    EXPECT_EQ(field, "abc");
    EXPECT_FALSE(trailer);
    ASSERT_TRUE(snapshot::parse_copy_row(row, false, &field, &trailer, &error)) << error;
    EXPECT_EQ(field, "abc");
    ASSERT_TRUE(snapshot::parse_copy_row(std::string("\xff\xff", 2), false, &field, &trailer, &error));
    EXPECT_TRUE(trailer);
    for (const std::string &bad : {std::string("x"), row, std::string("\0\2\0\0\0\0", 6),
                                   std::string("\0\1\0\0\0\4abc", 9), std::string("\0\1\xff\xff\xff\xff", 6)}) {
        error.clear();
        EXPECT_FALSE(snapshot::parse_copy_row(bad, bad == row, &field, &trailer, &error)) << bad.size();
        EXPECT_FALSE(error.empty());
    }
}

// Rows are judged by the config the snapshot's own transaction read, not by the one the
// sidecar holds when they arrive: a grant that came (or went) after the snapshot does
// not change which of its rows are shown.
TEST_F(SnapshotTest, RowsAreJudgedByTheConfigTheSnapshotSaw) {
    auto &s = snapshot_client("a", "c1");
    drain(s);
    // At the snapshot the role could see only owner "a"'s rows; since then it sees all.
    rules::LiveState then;
    then.tables = live.tables;
    grant(then, "anonymous", "public.items", R"({"cmp":"=","type":"text","args":[{"col":"owner"},{"value":"a"}]})");
    snapshot_config = std::make_shared<const rules::ConfigVersion>(rules::ConfigVersion{then.tables, then.rules});
    event(snapshot::SnapshotEvent::Kind::Started);
    event(snapshot::SnapshotEvent::Kind::Rows, {row(1, "a"), row(2, "b"), row(3, "a")});
    EXPECT_EQ(drain(s), (std::vector<std::string>{"snapshot_rows:s1=1,3,"}));
    // And the other way round: no rule at the snapshot, no rows.
    handler.on_text(s, R"({"type":"subscribe","id":"s2","table":"other","snapshot":true})");
    drain(s);
    rules::LiveState none;
    none.tables = live.tables;
    snapshot_config = std::make_shared<const rules::ConfigVersion>(rules::ConfigVersion{none.tables, none.rules});
    snapshot::SnapshotEvent e;
    e.job = 2 * kFirstJob;  // the second job
    e.kind = snapshot::SnapshotEvent::Kind::Started;
    e.snapshot_text = "95:100:97";
    e.wal_bound = 250;
    e.config = snapshot_config;
    snapshots.on_event(e);
    e.kind = snapshot::SnapshotEvent::Kind::Rows;
    e.pages = {row(7, "a")};
    snapshots.on_event(e);
    for (const std::string &f : drain(s)) EXPECT_NE(f.rfind("snapshot_rows", 0), 0u) << f;
}

TEST(SnapshotWholeRows, SameBytesAsTheServiceThreadAndCutIntoBodies) {
    std::vector<std::string> pages;
    std::string page;
    for (int i = 0; i < 6000; ++i) page += row(i, "some owner with a longer name, to fill the bodies");
    pages.push_back(page);
    pages.push_back(row(6000, "z"));
    for (auto encoding : {protocol::Encoding::Json, protocol::Encoding::Msgpack}) {
        std::vector<protocol::SnapshotRowsBody> bodies;
        std::string error;
        ASSERT_TRUE(snapshot::encode_whole_rows(pages, encoding, bodies, &error)) << error;
        ASSERT_GE(bodies.size(), 2u);
        protocol::SnapshotRowsBody one;
        one.encoding = encoding;
        std::string joined;
        uint32_t rows = 0;
        for (const auto &b : bodies) {
            EXPECT_EQ(b.encoding, encoding);
            EXPECT_LT(b.bytes.size(), snapshot::SnapshotEvent::kWholeBodyBytes + 1024);
            if (!joined.empty() && encoding == protocol::Encoding::Json) joined += ',';
            joined += b.bytes;
            rows += b.rows;
        }
        for (const std::string &p : pages) {
            common::PageRows r(p);
            std::vector<common::Column> cols;
            std::string_view raw;
            while (r.next(cols, raw, &error)) one.add(cols);
        }
        EXPECT_EQ(rows, 6001u);
        EXPECT_EQ(one.rows, rows);
        EXPECT_EQ(joined, one.bytes);
    }
    std::vector<protocol::SnapshotRowsBody> bodies;
    std::string error;
    EXPECT_FALSE(snapshot::encode_whole_rows({std::string("\xc1")}, protocol::Encoding::Json, bodies, &error));
    EXPECT_FALSE(error.empty());
}

}  // namespace
}  // namespace livesync
