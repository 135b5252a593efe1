// Resume: the proof that the stream still holds what a client missed, and the switch
// from replay to live without a gap or a duplicate; and resync_required for live and
// replaying sessions when the live reader finds a gap (stream/resync.hpp).
#include <gtest/gtest.h>

#include <rapidjson/document.h>

#include <atomic>
#include <thread>

#include "auth_fixture.hpp"
#include "msgpack_change.hpp"
#include "sidecar/protocol/msgpack_writer.hpp"
#include "sidecar/session/frame_handler.hpp"
#include "sidecar/stream/batch_applier.hpp"
#include "sidecar/stream/replay.hpp"

namespace livesync {
namespace {

using namespace test;
using common::StreamId;
using stream::kWholeTransaction;
using stream::StreamView;

constexpr StreamId whole(uint64_t lsn) { return StreamId{lsn, kWholeTransaction}; }

TEST(ReplayContinuity, HeldEntryAtOrBelowThePositionProvesNothingAfterItWasTrimmed) {
    StreamView v;
    v.held_at_or_below = StreamId{90, 0};
    v.tail = StreamId{300, 0};
    EXPECT_TRUE(stream::replay_continuity(whole(100), v));
}

TEST(ReplayContinuity, TrimMarkerAtOrBelowTheClientsLsnIsProof) {
    StreamView v;
    v.tail = StreamId{300, 0};
    v.trimmed_lsn = 100;
    EXPECT_TRUE(stream::replay_continuity(whole(100), v));
    EXPECT_FALSE(stream::replay_continuity(whole(99), v));
    // In the middle of transaction 100 its later parts may be gone.
    EXPECT_FALSE(stream::replay_continuity(StreamId{100, 1}, v));
    EXPECT_TRUE(stream::replay_continuity(StreamId{101, 0}, v));
}

TEST(ReplayContinuity, NoHeldEntryAndNoMarkerIsNoProof) {
    StreamView v;
    v.tail = StreamId{300, 0};
    EXPECT_FALSE(stream::replay_continuity(whole(100), v));
    StreamView empty;
    EXPECT_FALSE(stream::replay_continuity(whole(0), empty));
}

TEST(ReplayContinuity, PositionAheadOfTheStreamIsAGap) {
    StreamView v;
    v.held_at_or_below = StreamId{300, 0};
    v.tail = StreamId{300, 0};
    EXPECT_FALSE(stream::replay_continuity(whole(400), v));
    EXPECT_TRUE(stream::replay_continuity(whole(300), v));
}

TEST(ReplayContinuity, NextIdSkipsEveryPartOfAWholeTransaction) {
    EXPECT_EQ(stream::next_stream_id(whole(100)), (StreamId{101, 0}));
    EXPECT_EQ(stream::next_stream_id(StreamId{100, 2}), (StreamId{100, 3}));
}

struct NoRegistry : registry::RegistrySink {
    void upsert(registry::ClientRecord) override {}
    void remove(const std::string &, uint64_t) override {}
};

common::Value text(const char *s) {
    common::Value v;
    v.kind = common::Value::Kind::Text;
    v.s = s;
    return v;
}

stream::StreamBatch entry(uint64_t lsn, int64_t id) {
    std::string error;
    auto b = common::decode_batch(batch(lsn, 7, {change("i", "public", "items", {{"id", i64(id)}})}), &error);
    EXPECT_TRUE(b) << error;
    return stream::StreamBatch{StreamId{lsn, 0}, std::move(*b)};
}

class ResumeTest : public ::testing::Test {
protected:
    ResumeTest()
        : handler("sc1", sessions, live, registry, anonymous.gate),
          replay(sessions, live, counters, [this](stream::ReplayRequest r) { requests.push_back(r); }, 1 << 20) {
        handler.set_resumer(&replay);
        live.ready = true;
        common::Change row;
        row.schema = "livesync";
        row.table = "tables";
        row.new_values = {{"schema_name", text("public")}, {"table_name", text("items")}};
        live.tables.apply(row);
        grant(live, "anonymous", "public.items");
        apply(entry(100, 1));
        apply(entry(200, 2));
    }
    void apply(stream::StreamBatch b) {
        stream::StreamEvent e = std::move(b);
        stream::apply_event(e, live, sessions, counters);
    }
    void page(session::Session &s, std::vector<stream::StreamBatch> entries,
              stream::ReplayPage::Outcome outcome = stream::ReplayPage::Outcome::Page) {
        ASSERT_FALSE(requests.empty());
        stream::ReplayPage p;
        p.session_serial = s.serial();
        p.after = requests.back().after;
        p.outcome = outcome;
        p.entries = std::move(entries);
        requests.clear();
        replay.on_page(p);
    }
    // Frames queued since the last call: "type" or "changes:<lsn>:<ids>".
    std::vector<std::string> drain(session::Session &s) {
        std::vector<std::string> out;
        while (!s.queue().empty()) {
            rapidjson::Document d;
            std::string payload(protocol::frame_payload(s.queue().front()));
            d.Parse(payload.c_str());
            s.queue().pop();
            std::string t = d["type"].GetString();
            if (t == "changes") {
                t += std::string(":") + d["lsn"].GetString() + ":";
                for (auto &c : d["changes"].GetArray()) t += std::to_string(c["new"]["id"].GetInt());
            } else if (d.HasMember("lsn")) {
                t += std::string(":") + d["lsn"].GetString();
            }
            out.push_back(t);
        }
        return out;
    }

    session::SessionTable sessions;
    rules::LiveState live;
    NoRegistry registry;
    ops::Counters counters;
    test::AnonymousGate anonymous;
    session::FrameHandler handler;
    std::vector<stream::ReplayRequest> requests;
    stream::ReplayCoordinator replay;
};

TEST_F(ResumeTest, ResumeReplaysFromLsnThenGoesLiveWithoutDuplicates) {
    auto &s = sessions.open(nullptr, "a", 0, 8 << 20, [] {});
    handler.on_text(s, R"({"type":"hello","client_id":"c1","last_lsn":"0/64",)"
                       R"("subscriptions":[{"id":"s1","table":"items"}]})");
    EXPECT_EQ(drain(s), (std::vector<std::string>{"welcome:0/64", "subscribed:0/64"}));
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].after, whole(100));

    // Live entries while replaying are not sent live...
    apply(entry(300, 3));
    EXPECT_TRUE(drain(s).empty());
    // ...the replay page (read after them) carries them; 400 is not live yet, so the
    // config version it may make is not known: the replay stops before it, and the
    // session is live from 300.
    page(s, {entry(200, 2), entry(300, 3), entry(400, 4)});
    EXPECT_EQ(drain(s), (std::vector<std::string>{"changes:0/C8:2", "changes:0/12C:3", "caught_up:0/12C"}));
    EXPECT_TRUE(requests.empty());
    // Live fan-out carries what follows, once: 300 is skipped (the replay sent it).
    apply(entry(300, 3));
    apply(entry(400, 4));
    apply(entry(500, 5));
    EXPECT_EQ(drain(s), (std::vector<std::string>{"changes:0/190:4", "changes:0/1F4:5"}));
}

TEST_F(ResumeTest, ReplayAsksForMorePagesUntilItReachesTheLivePosition) {
    auto &s = sessions.open(nullptr, "a", 0, 8 << 20, [] {});
    handler.on_text(s, R"({"type":"hello","last_lsn":"0/0","subscriptions":[{"id":"s1","table":"items"}]})");
    drain(s);
    page(s, {entry(100, 1)});
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].after, (StreamId{100, 0}));
    page(s, {});  // nothing new in the stream yet, but live is at 200: ask again
    ASSERT_EQ(requests.size(), 1u);
    page(s, {entry(200, 2)});
    EXPECT_EQ(drain(s), (std::vector<std::string>{"changes:0/64:1", "changes:0/C8:2", "caught_up:0/C8"}));
}

TEST_F(ResumeTest, ReplayedTransactionsAreJudgedByTheRulesInForceAtTheirCommit) {
    // Today the role may see items; between 150 and 250 it could not (revoked, granted
    // again). The replay sends 100 and 300, never 200.
    rules::ConfigVersion revoked{live.tables, rules::RuleSet{}};
    rules::ConfigVersion granted{live.tables, live.rules};
    live.history.clear();
    live.history.record(StreamId{50, 0}, std::make_shared<const rules::ConfigVersion>(granted));
    live.history.record(StreamId{150, 0}, std::make_shared<const rules::ConfigVersion>(revoked));
    live.history.record(StreamId{250, 0}, std::make_shared<const rules::ConfigVersion>(granted));
    apply(entry(300, 3));
    auto &s = sessions.open(nullptr, "a", 0, 8 << 20, [] {});
    handler.on_text(s, R"({"type":"hello","last_lsn":"0/50","subscriptions":[{"id":"s1","table":"items"}]})");
    drain(s);
    page(s, {entry(100, 1), entry(200, 2), entry(300, 3)});
    EXPECT_EQ(drain(s), (std::vector<std::string>{"changes:0/64:1", "changes:0/12C:3", "caught_up:0/12C"}));
}

TEST_F(ResumeTest, NoConfigVersionThatOldAnswersResyncRequired) {
    live.history.clear();
    live.history.record(StreamId{150, 0},
                        std::make_shared<const rules::ConfigVersion>(rules::ConfigVersion{live.tables, live.rules}));
    auto &s = sessions.open(nullptr, "a", 0, 8 << 20, [] {});
    handler.on_text(s, R"({"type":"hello","last_lsn":"0/50","subscriptions":[{"id":"s1","table":"items"}]})");
    drain(s);
    page(s, {entry(100, 1), entry(200, 2)});
    EXPECT_EQ(drain(s), (std::vector<std::string>{"resync_required:0/C8"}));
    EXPECT_EQ(counters.resume_config_missing.load(), 1u);
}

TEST_F(ResumeTest, GapAnswersResyncRequiredAndTheSessionIsLiveFromNow) {
    auto &s = sessions.open(nullptr, "a", 0, 8 << 20, [] {});
    handler.on_text(s, R"({"type":"hello","last_lsn":"0/10","subscriptions":[{"id":"s1","table":"items"}]})");
    drain(s);
    page(s, {}, stream::ReplayPage::Outcome::Gap);
    EXPECT_EQ(drain(s), (std::vector<std::string>{"resync_required:0/C8"}));
    apply(entry(300, 3));
    EXPECT_EQ(drain(s), (std::vector<std::string>{"changes:0/12C:3"}));
    EXPECT_EQ(counters.resyncs_required.load(), 1u);
}

TEST_F(ResumeTest, SubscriptionMadeDuringReplayGetsEverythingAfterItsAck) {
    auto &s = sessions.open(nullptr, "a", 0, 8 << 20, [] {});
    handler.on_text(s, R"({"type":"hello","last_lsn":"0/64"})");
    handler.on_text(s, R"({"type":"subscribe","id":"s1","table":"items"})");
    EXPECT_EQ(drain(s), (std::vector<std::string>{"welcome:0/64", "subscribed:0/C8"}));
    apply(entry(300, 3));
    // The replay still covers 300 (above the ack at 0/C8) but not 200 (below it).
    page(s, {entry(200, 2), entry(300, 3)});
    EXPECT_EQ(drain(s), (std::vector<std::string>{"changes:0/12C:3", "caught_up:0/12C"}));
}

TEST_F(ResumeTest, NextPageWaitsUntilTheSendQueueDrains) {
    auto &s = sessions.open(nullptr, "a", 0, 8 << 20, [] {});
    stream::ReplayCoordinator small(sessions, live, counters,
                                    [this](stream::ReplayRequest r) { requests.push_back(r); }, 10);
    handler.set_resumer(&small);
    handler.on_text(s, R"({"type":"hello","last_lsn":"0/0","subscriptions":[{"id":"s1","table":"items"}]})");
    // welcome + subscribed are queued (over 10 bytes): no request until they are written.
    EXPECT_TRUE(requests.empty());
    drain(s);
    small.on_drained(s);
    ASSERT_EQ(requests.size(), 1u);
}

TEST_F(ResumeTest, FailedPageClosesTheSessionSoTheClientResumesLater) {
    auto &s = sessions.open(nullptr, "a", 0, 8 << 20, [] {});
    handler.on_text(s, R"({"type":"hello","last_lsn":"0/64","subscriptions":[{"id":"s1","table":"items"}]})");
    page(s, {}, stream::ReplayPage::Outcome::Failed);
    ASSERT_TRUE(s.close_request().has_value());
    EXPECT_EQ(s.close_request()->code, 1011);
}

TEST_F(ResumeTest, AtMostSixteenPagesAreInFlightAndWaitingSessionsGetTheirTurnInOrder) {
    std::vector<session::Session *> all;
    for (int i = 0; i < 18; ++i) {
        auto &s = sessions.open(nullptr, "a", 0, 8 << 20, [] {});
        handler.on_text(s, R"({"type":"hello","last_lsn":"0/0","subscriptions":[{"id":"s1","table":"items"}]})");
        drain(s);
        replay.on_drained(s);
        all.push_back(&s);
    }
    ASSERT_EQ(requests.size(), stream::ReplayCoordinator::kMaxPagesInFlight);
    EXPECT_TRUE(all[16]->replay.waiting_for_slot);
    EXPECT_TRUE(all[17]->replay.waiting_for_slot);

    // The first session's page arrives; once its queue is below the low-water mark (at
    // once here) its slot goes to the session that waited longest, and it queues behind.
    stream::ReplayPage p;
    p.session_serial = all[0]->serial();
    p.after = requests[0].after;
    p.entries.push_back(entry(100, 1));
    requests.clear();
    replay.on_page(p);
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].session_serial, all[16]->serial());
    EXPECT_TRUE(all[0]->replay.waiting_for_slot);  // its next page waits behind all[17]

    // A session that leaves frees its slot at the next tick.
    requests.clear();
    sessions.close(*all[1]);
    replay.tick();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].session_serial, all[17]->serial());
}

// A live gap: the reader took a new snapshot (tail) because the stream could not prove
// it still held everything after gap_after. The tables and rules are unchanged here.
stream::StreamReset gap_reset(const rules::LiveState &live, StreamId gap_after, StreamId tail) {
    stream::StreamReset reset;
    reset.tables = live.tables;
    reset.rules = live.rules;
    reset.tail = tail;
    reset.gap_after = gap_after;
    return reset;
}

class LiveGapTest : public ResumeTest {
protected:
    void apply_reset(stream::StreamReset reset) {
        stream::StreamEvent e = std::move(reset);
        stream::apply_event(e, live, sessions, counters);
    }
};

TEST_F(LiveGapTest, EveryGreetedSessionGetsResyncRequiredThenChangesAfterIt) {
    auto &live_json = sessions.open(nullptr, "a", 0, 8 << 20, [] {});
    handler.on_text(live_json, R"({"type":"hello","subscriptions":[{"id":"s1","table":"items"}]})");
    auto &live_msgpack = sessions.open(nullptr, "b", 0, 8 << 20, [] {});
    live_msgpack.set_encoding(protocol::Encoding::Msgpack);
    handler.on_text(live_msgpack, *protocol::json_to_msgpack(R"({"type":"hello"})"));
    auto &not_greeted = sessions.open(nullptr, "c", 0, 8 << 20, [] {});
    EXPECT_EQ(drain(live_json), (std::vector<std::string>{"welcome:0/C8", "subscribed:0/C8"}));
    while (!live_msgpack.queue().empty()) live_msgpack.queue().pop();

    // Entries 300 and 400 were trimmed before the reader got to them; 500 is the tail.
    apply_reset(gap_reset(live, StreamId{200, 0}, StreamId{500, 0}));
    EXPECT_EQ(drain(live_json), (std::vector<std::string>{"resync_required:0/1F4"}));
    ASSERT_EQ(live_msgpack.queue().size(), 1u);
    EXPECT_EQ(std::string(protocol::frame_payload(live_msgpack.queue().front())),
              *protocol::json_to_msgpack(R"({"type":"resync_required","lsn":"0/1F4"})"));
    EXPECT_TRUE(not_greeted.queue().empty());
    EXPECT_EQ(counters.live_gaps.load(), 1u);
    EXPECT_EQ(counters.live_resyncs.load(), 2u);

    // Live after 0/1F4: a later part of transaction 500 is not sent (whole or nothing),
    // the next transaction is.
    stream::StreamBatch rest_of_500 = entry(500, 5);
    rest_of_500.id = StreamId{500, 1};
    apply(std::move(rest_of_500));
    apply(entry(600, 6));
    EXPECT_EQ(drain(live_json), (std::vector<std::string>{"changes:0/258:6"}));
}

TEST_F(LiveGapTest, SessionStillReplayingGetsResyncRequiredNotCaughtUp) {
    auto &s = sessions.open(nullptr, "a", 0, 8 << 20, [] {});
    handler.on_text(s, R"({"type":"hello","last_lsn":"0/64","subscriptions":[{"id":"s1","table":"items"}]})");
    drain(s);
    ASSERT_EQ(requests.size(), 1u);

    apply(entry(300, 3));  // live while the session replays: not sent to it
    apply_reset(gap_reset(live, StreamId{300, 0}, StreamId{450, 0}));
    EXPECT_EQ(drain(s), (std::vector<std::string>{"resync_required:0/1C2"}));
    EXPECT_FALSE(s.replay.active);

    // The page that was on its way is dropped: no entry below the resync position, no
    // caught_up, no further page request.
    page(s, {entry(200, 2), entry(300, 3), entry(450, 4)});
    EXPECT_TRUE(drain(s).empty());
    EXPECT_TRUE(requests.empty());
    apply(entry(500, 5));
    EXPECT_EQ(drain(s), (std::vector<std::string>{"changes:0/1F4:5"}));
    EXPECT_EQ(counters.live_resyncs.load(), 1u);
    EXPECT_EQ(counters.resyncs_required.load(), 0u);  // that one counts resumes that found a gap
}

TEST_F(LiveGapTest, ResetWithoutGapTellsNoSession) {
    auto &s = sessions.open(nullptr, "a", 0, 8 << 20, [] {});
    handler.on_text(s, R"({"type":"hello","subscriptions":[{"id":"s1","table":"items"}]})");
    drain(s);
    stream::StreamReset reconnect = gap_reset(live, StreamId{200, 0}, StreamId{200, 0});
    reconnect.gap_after.reset();
    apply_reset(std::move(reconnect));
    apply(entry(300, 3));
    EXPECT_EQ(drain(s), (std::vector<std::string>{"changes:0/12C:3"}));
    EXPECT_EQ(counters.live_gaps.load(), 0u);
}

// Pace: a live session with half its queue bound waiting falls behind before the next
// entry is queued, is fed that entry and what follows from the stream once it drained,
// and goes live again without a caught_up frame: every entry once, in order.
class PacingTest : public ResumeTest {
protected:
    void apply_paced(stream::StreamBatch b) {
        stream::StreamEvent e = std::move(b);
        stream::apply_event(e, live, sessions, counters, &pacing);
    }
    std::vector<uint64_t> busy;
    stream::Pacing pacing{
        /*high_water_bytes=*/60, /*low_water_bytes=*/30,
        [this](session::Session &s, StreamId through) { replay.begin_catch_up(s, through); }, &busy};
};

TEST_F(PacingTest, SessionOverTheHighWaterMarkFallsBehindAndCatchesUpFromTheStreamWithoutGapOrDuplicate) {
    auto &s = sessions.open(nullptr, "a", 0, 8 << 20, [] {});
    handler.on_text(s, R"({"type":"hello","subscriptions":[{"id":"s1","table":"items"}]})");
    EXPECT_EQ(drain(s), (std::vector<std::string>{"welcome:0/C8", "subscribed:0/C8"}));

    apply_paced(entry(300, 3));  // queued live: the queue was empty
    ASSERT_GE(s.queue().bytes(), 60u) << "the test needs one frame above the high-water mark";
    EXPECT_EQ(busy, (std::vector<uint64_t>{s.serial()}));
    apply_paced(entry(400, 4));  // the queue is over the mark: not queued, the session falls behind
    EXPECT_TRUE(s.replay.active);
    EXPECT_FALSE(s.replay.announce);
    EXPECT_EQ(counters.catch_ups.load(), 1u);
    apply_paced(entry(500, 5));
    EXPECT_TRUE(requests.empty()) << "no page before the queue drained";

    EXPECT_EQ(drain(s), (std::vector<std::string>{"changes:0/12C:3"}));
    replay.on_drained(s);
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].after, (StreamId{300, 0}));
    page(s, {entry(400, 4), entry(500, 5)});
    // Caught up silently (no caught_up frame); live from here, nothing twice.
    EXPECT_FALSE(s.replay.active);
    EXPECT_EQ(drain(s), (std::vector<std::string>{"changes:0/190:4", "changes:0/1F4:5"}));
    apply_paced(entry(500, 5));  // the live reader reaches what the replay already sent
    apply_paced(entry(600, 6));
    EXPECT_EQ(drain(s), (std::vector<std::string>{"changes:0/258:6"}));
}

TEST_F(PacingTest, SessionUnderTheMarkStaysLive) {
    auto &s = sessions.open(nullptr, "a", 0, 8 << 20, [] {});
    handler.on_text(s, R"({"type":"hello","subscriptions":[{"id":"s1","table":"items"}]})");
    drain(s);
    for (uint64_t lsn = 300; lsn <= 900; lsn += 100) {
        apply_paced(entry(lsn, static_cast<int64_t>(lsn / 100)));
        EXPECT_EQ(drain(s).size(), 1u);
    }
    EXPECT_FALSE(s.replay.active);
    EXPECT_EQ(counters.catch_ups.load(), 0u);
}

TEST(EventQueue, BoundedByEncodedBytesAndPopsAtLeastOneEvent) {
    stream::EventQueue q(256, 100);
    auto sized = [](size_t n) {
        stream::StreamBatch b;
        b.bytes = n;
        return stream::StreamEvent(std::move(b));
    };
    ASSERT_TRUE(q.push(sized(500)));  // into an empty queue: always
    std::vector<stream::EventQueue::Shared> out;
    EXPECT_FALSE(q.pop_some(10, out, 10));
    EXPECT_EQ(out.size(), 1u);
    ASSERT_TRUE(q.push(sized(40)));
    ASSERT_TRUE(q.push(sized(40)));
    out.clear();
    EXPECT_TRUE(q.pop_some(10, out, 50));  // the second would pass 50 bytes
    EXPECT_EQ(out.size(), 1u);
    // A push that would pass the bound waits until a pop made room.
    ASSERT_TRUE(q.push(sized(50)));
    std::thread pusher([&] { q.push(sized(30)); });
    out.clear();
    while (out.size() < 3) q.pop_some(10, out);
    pusher.join();
    EXPECT_EQ(out.size(), 3u);
}

TEST(EventQueue, EveryConsumerTakesEveryEventInOrderAndTheSlowestHoldsTheBound) {
    stream::EventQueue q(256, 100, 2);
    auto sized = [](size_t n, uint64_t lsn) {
        stream::StreamBatch b;
        b.bytes = n;
        b.id = common::StreamId{lsn, 0};
        return stream::StreamEvent(std::move(b));
    };
    auto lsn_of = [](const stream::EventQueue::Shared &e) { return std::get<stream::StreamBatch>(*e).id.lsn; };
    ASSERT_TRUE(q.push(sized(40, 1)));
    ASSERT_TRUE(q.push(sized(40, 2)));
    std::vector<stream::EventQueue::Shared> a, b;
    EXPECT_FALSE(q.pop_some(10, a, SIZE_MAX, 0));
    ASSERT_EQ(a.size(), 2u);
    EXPECT_EQ(lsn_of(a[0]), 1u);
    EXPECT_EQ(lsn_of(a[1]), 2u);
    // Consumer 1 took nothing: the 80 bytes are still held, so 30 more wait for it.
    std::atomic<bool> pushed{false};
    std::thread pusher([&] {
        q.push(sized(30, 3));
        pushed = true;
    });
    EXPECT_TRUE(q.pop_some(1, b, SIZE_MAX, 1));
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(lsn_of(b[0]), 1u);
    EXPECT_EQ(b[0].get(), a[0].get());  // one event, shared
    while (b.size() < 3) q.pop_some(10, b, SIZE_MAX, 1);
    pusher.join();
    EXPECT_TRUE(pushed);
    EXPECT_EQ(lsn_of(b[1]), 2u);
    EXPECT_EQ(lsn_of(b[2]), 3u);
    a.clear();
    EXPECT_FALSE(q.pop_some(10, a, SIZE_MAX, 0));
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(lsn_of(a[0]), 3u);
}

}  // namespace
}  // namespace livesync
