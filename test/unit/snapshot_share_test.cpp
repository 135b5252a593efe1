// Sharing snapshot queries (sidecar/snapshot): requests gathered in the window share one
// query; a request that comes after the query's first rows joins it while the query keeps
// its log (--snapshot-share-mb), is fed the rows already sent at its own pace, then follows
// the query, and still gets exactly the transactions its snapshot does not contain.
#include "snapshot_fixture.hpp"

namespace livesync {
namespace {

using namespace test;
using namespace test::snapshot_fixture;
using common::StreamId;

// Requests that arrive within the gathering window share one query; a request for
// another table gets its own. Nothing is queued before the window ends, and nobody is
// told to wait for it.
TEST_F(SnapshotTest, RequestsGatheredInTheWindowShareOneQuery) {
    std::vector<int64_t> wakes;
    snapshots.set_gather(50, [&](int64_t ms) { wakes.push_back(ms); });
    auto &a = snapshot_client("a", "c1");
    handler.on_text(a, R"({"type":"subscribe","id":"s2","table":"other","snapshot":true})");
    drain(a);
    EXPECT_TRUE(queries.submitted.empty());
    EXPECT_EQ(snapshots.gathering(), 2u);
    EXPECT_EQ(wakes, (std::vector<int64_t>{50}));  // one timer for both
    snapshots.on_gather_timer(session::steady_now_ms() - 1);  // early: nothing is due
    EXPECT_TRUE(queries.submitted.empty());
    ASSERT_EQ(wakes.size(), 2u);
    EXPECT_GE(wakes[1], 1);
    handler.on_text(a, R"({"type":"subscribe","id":"s3","table":"items","snapshot":true})");  // joins s1's
    EXPECT_EQ(snapshots.gathering(), 2u);
    snapshots.on_gather_timer(session::steady_now_ms() + 1000);
    ASSERT_EQ(queries.submitted.size(), 2u);
    EXPECT_EQ(queries.submitted[0].table, "items");
    EXPECT_EQ(queries.submitted[1].table, "other");
    EXPECT_EQ(snapshots.gathering(), 0u);
    for (const std::string &f : drain(a)) EXPECT_NE(f, "snapshot_waiting");
    event(snapshot::SnapshotEvent::Kind::Started);
    event(snapshot::SnapshotEvent::Kind::Rows, {row(1, "a")});
    EXPECT_EQ(drain(a), (std::vector<std::string>{"snapshot_rows:s1=1,", "snapshot_rows:s3=1,"}));
}

// A gathered query that has to wait for a query slot tells its clients so when the window
// ends; a gathering query whose clients all left is dropped without running.
TEST_F(SnapshotTest, GatheredQueryQueuesForASlotAndIsToldSo) {
    queries.max = 1;
    std::vector<int64_t> wakes;
    snapshots.set_gather(5, [&](int64_t ms) { wakes.push_back(ms); });
    auto &a = snapshot_client("a", "c1");
    handler.on_text(a, R"({"type":"subscribe","id":"s2","table":"other","snapshot":true})");
    drain(a);
    snapshots.on_gather_timer(session::steady_now_ms() + 1000);
    EXPECT_EQ(queries.submitted.size(), 1u);
    EXPECT_EQ(snapshots.queued(), 1u);
    EXPECT_EQ(drain(a), (std::vector<std::string>{"snapshot_waiting"}));
    event(snapshot::SnapshotEvent::Kind::Started);
    event(snapshot::SnapshotEvent::Kind::Rows, {row(1, "a")});  // too late to join this one
    auto &b = snapshot_client("b", "c2");
    EXPECT_EQ(snapshots.gathering(), 1u);
    handler.on_closed(b);  // gathering: it leaves, the job goes with it, nothing ran
    EXPECT_EQ(snapshots.gathering(), 0u);
    snapshots.on_gather_timer(session::steady_now_ms() + 1000);
    EXPECT_EQ(queries.submitted.size(), 1u);
    EXPECT_EQ(snapshots.queued(), 1u);
    EXPECT_TRUE(queries.cancelled.empty());
}

// Rows the reader thread encoded whole (once for the query) are only framed: the pages
// are not decoded again for such an audience. An audience that is not whole (a filter)
// is still judged row by row from the pages.
TEST_F(SnapshotTest, RowsEncodedByTheReaderAreFramedForWholeViews) {
    auto &a = sessions.open(nullptr, "a", 0, 8 << 20, [] {});
    auto &b = sessions.open(nullptr, "b", 0, 8 << 20, [] {});
    handler.on_text(a, R"({"type":"hello","client_id":"c1"})");
    handler.on_text(b, R"({"type":"hello","client_id":"c2"})");
    handler.on_text(a, R"({"type":"subscribe","id":"s1","table":"items","snapshot":true})");
    handler.on_text(b, R"({"type":"subscribe","id":"s1","table":"items","snapshot":true,)"
                       R"("filter":{"cmp":"=","type":"int","args":[{"col":"id"},{"value":2}]}})");
    ASSERT_EQ(queries.submitted.size(), 1u);
    EXPECT_TRUE(queries.submitted[0].whole_json);  // a sees every row whole
    EXPECT_FALSE(queries.submitted[0].whole_msgpack);
    drain(a);
    drain(b);
    event(snapshot::SnapshotEvent::Kind::Started);
    snapshot::SnapshotEvent e;
    e.job = kFirstJob;
    e.kind = snapshot::SnapshotEvent::Kind::Rows;
    e.pages = {row(1, "a") + row(2, "b")};
    std::string error;
    ASSERT_TRUE(snapshot::encode_whole_rows(e.pages, protocol::Encoding::Json, e.whole, &error)) << error;
    e.whole_json = true;
    // What the reader encoded is what a sees (here: told apart by a row the pages lack).
    common::Value nine;
    nine.kind = common::Value::Kind::Int;
    nine.i = 9;
    e.whole[0].add(std::vector<common::Column>{{"id", nine}});
    snapshots.on_event(e);
    EXPECT_EQ(drain(a), (std::vector<std::string>{"snapshot_rows:s1=1,2,9,"}));
    EXPECT_EQ(drain(b), (std::vector<std::string>{"snapshot_rows:s1=2,"}));
}

// A request after the query's first rows joins it: it gets the rows already sent from the
// log, then the query's next rows with the others, its snapshot_end, and then the
// transactions its snapshot did not see, including one committed (and fanned out) after the
// snapshot but before it subscribed. Starting it at its own subscribe position would lose
// that one.
TEST_F(SnapshotTest, LateRequestJoinsTheRunningQueryAndGetsTheRowsAlreadySent) {
    snapshots.set_share_bytes(1 << 20);
    auto &a = snapshot_client("a", "c1");
    event(snapshot::SnapshotEvent::Kind::Started);
    event(snapshot::SnapshotEvent::Kind::Rows, {row(1, "a"), row(2, "a")});
    EXPECT_EQ(drain(a).back(), "snapshot_rows:s1=1,2,");
    EXPECT_GT(snapshots.logged_bytes(), 0u);
    apply(entry(260, 100, 5));  // after the snapshot (xid 100 >= xmax): not in its rows

    auto &b = snapshot_client("b", "c2");
    EXPECT_EQ(queries.submitted.size(), 1u);  // no query of its own
    EXPECT_EQ(counters.snapshot_late_joins.load(), 1u);
    EXPECT_EQ(drain(b), (std::vector<std::string>{"welcome:0/104", "subscribed:0/104", "snapshot_rows:s1=1,2,"}));

    event(snapshot::SnapshotEvent::Kind::Rows, {row(3, "a")});
    EXPECT_EQ(drain(a), (std::vector<std::string>{"snapshot_rows:s1=3,"}));
    EXPECT_EQ(drain(b), (std::vector<std::string>{"snapshot_rows:s1=3,"}));
    event(snapshot::SnapshotEvent::Kind::End);
    EXPECT_EQ(drain(a), (std::vector<std::string>{"snapshot_end:0/FA"}));
    EXPECT_EQ(drain(b), (std::vector<std::string>{"snapshot_end:0/FA"}));
    EXPECT_EQ(snapshots.logged_bytes(), 0u);
    EXPECT_EQ(snapshots.running(), 0u);

    // b is fed from the stream from below xid 100's commit, though it subscribed after it.
    stream::ReplayRequest *for_b = nullptr;
    for (auto &r : requests)
        if (r.session_serial == b.serial()) for_b = &r;
    ASSERT_NE(for_b, nullptr);
    EXPECT_LT(for_b->after, (StreamId{260, 0}));
    stream::ReplayPage p;
    p.session_serial = b.serial();
    p.after = for_b->after;
    p.entries.push_back(entry(260, 100, 5));
    requests.clear();
    replay.on_page(p);
    EXPECT_EQ(drain(b), (std::vector<std::string>{"changes:0/104:s1=5"}));
}

// A frame the size of the low-water mark: a session holding it has not drained.
void fill_queue(session::Session &s) {
    s.send_text("{\"type\":\"pad\",\"p\":\"" + std::string(1 << 20, 'x') + "\"}");
}

// Past the budget a query takes no more joiners (the next request starts its own), and it
// reads its next page only once the late joiner that still needs the log has it; then the
// log is freed.
TEST_F(SnapshotTest, PastTheBudgetTheQueryWaitsForLateJoinersAndTakesNoMore) {
    auto &a = snapshot_client("a", "c1");
    event(snapshot::SnapshotEvent::Kind::Started);
    snapshots.set_share_bytes(1 << 20);
    event(snapshot::SnapshotEvent::Kind::Rows, {row(1, "a")});
    EXPECT_EQ(queries.mores[kFirstJob], 1);
    snapshots.set_share_bytes(snapshots.logged_bytes() + 1);  // room for the first event only

    auto &b = sessions.open(nullptr, "b", 0, 8 << 20, [] {});
    fill_queue(b);  // b reads slowly: nothing of the log fits yet
    handler.on_text(b, R"({"type":"hello","client_id":"c2"})");
    handler.on_text(b, R"({"type":"subscribe","id":"s1","table":"items","snapshot":true})");
    EXPECT_EQ(queries.submitted.size(), 1u);

    event(snapshot::SnapshotEvent::Kind::Rows, {row(2, "a")});  // past the budget
    EXPECT_EQ(drain(a), (std::vector<std::string>{"welcome:0/C8", "subscribed:0/C8", "snapshot_rows:s1=1,",
                                                  "snapshot_rows:s1=2,"}));
    EXPECT_EQ(queries.mores[kFirstJob], 1);  // waits for b

    auto &c = snapshot_client("c", "c3");
    EXPECT_EQ(queries.submitted.size(), 2u);  // a query of its own

    EXPECT_EQ(drain(b), (std::vector<std::string>{"pad", "welcome:0/C8", "subscribed:0/C8"}));
    snapshots.on_drained(b);
    EXPECT_EQ(drain(b), (std::vector<std::string>{"snapshot_rows:s1=1,", "snapshot_rows:s1=2,"}));
    EXPECT_EQ(queries.mores[kFirstJob], 2);  // caught up: the query reads on
    EXPECT_EQ(snapshots.logged_bytes(), 0u);
    event(snapshot::SnapshotEvent::Kind::End);
    EXPECT_EQ(drain(a), (std::vector<std::string>{"snapshot_end:0/FA"}));
    EXPECT_EQ(drain(b), (std::vector<std::string>{"snapshot_end:0/FA"}));
}

// The query ends while a late joiner still reads the log: the others finish, the query's
// slot is free for the next one, and the late joiner gets the rest and its snapshot_end
// when it drained. One that leaves mid-way lets its job go.
TEST_F(SnapshotTest, LateJoinerFinishesFromTheLogAfterTheQueryEnded) {
    snapshots.set_share_bytes(1 << 20);
    queries.max = 1;
    auto &a = snapshot_client("a", "c1");
    handler.on_text(a, R"({"type":"subscribe","id":"o1","table":"other","snapshot":true})");  // waits
    event(snapshot::SnapshotEvent::Kind::Started);
    event(snapshot::SnapshotEvent::Kind::Rows, {row(1, "a")});
    auto &b = sessions.open(nullptr, "b", 0, 8 << 20, [] {});
    auto &c = sessions.open(nullptr, "c", 0, 8 << 20, [] {});
    for (auto *s : {&b, &c}) {
        fill_queue(*s);
        handler.on_text(*s, std::string(R"({"type":"hello","client_id":"c)") + (s == &b ? "2" : "3") + "\"}");
        handler.on_text(*s, R"({"type":"subscribe","id":"s1","table":"items","snapshot":true})");
    }
    EXPECT_EQ(counters.snapshot_late_joins.load(), 2u);
    event(snapshot::SnapshotEvent::Kind::End);
    EXPECT_EQ(drain(a).back(), "snapshot_end:0/FA");
    ASSERT_EQ(queries.submitted.size(), 2u);  // the slot went to "other"
    EXPECT_EQ(queries.submitted[1].table, "other");
    EXPECT_GT(snapshots.logged_bytes(), 0u);

    handler.on_closed(c);  // leaves mid-way: b still needs the log
    EXPECT_GT(snapshots.logged_bytes(), 0u);
    drain(b);
    snapshots.on_drained(b);
    EXPECT_EQ(drain(b), (std::vector<std::string>{"snapshot_rows:s1=1,", "snapshot_end:0/FA"}));
    EXPECT_EQ(snapshots.logged_bytes(), 0u);
    EXPECT_EQ(snapshots.running(), 1u);  // "other" only
}

// Without a budget (0) a request joins only before the first rows.
TEST_F(SnapshotTest, WithoutAShareBudgetALateRequestStartsItsOwnQuery) {
    snapshots.set_share_bytes(0);
    auto &a = snapshot_client("a", "c1");
    event(snapshot::SnapshotEvent::Kind::Started);
    event(snapshot::SnapshotEvent::Kind::Rows, {row(1, "a")});
    EXPECT_EQ(snapshots.logged_bytes(), 0u);
    auto &b = snapshot_client("b", "c2");
    EXPECT_EQ(queries.submitted.size(), 2u);
    EXPECT_EQ(counters.snapshot_late_joins.load(), 0u);
}

}  // namespace
}  // namespace livesync
