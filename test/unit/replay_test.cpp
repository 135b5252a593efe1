// Resume: the proof that the stream still holds what a client missed, and the switch
// from replay to live without a gap or a duplicate.
#include <gtest/gtest.h>

#include <rapidjson/document.h>

#include "auth_fixture.hpp"
#include "msgpack_change.hpp"
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
    void remove(const std::string &) override {}
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
            std::string payload(net::frame_payload(s.queue().front()));
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
    stream::LiveState live;
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
    // ...the replay page (read after them) carries them; 400 is not live yet.
    page(s, {entry(200, 2), entry(300, 3), entry(400, 4)});
    EXPECT_EQ(drain(s), (std::vector<std::string>{"changes:0/C8:2", "changes:0/12C:3", "changes:0/190:4",
                                                  "caught_up:0/190"}));
    EXPECT_TRUE(requests.empty());
    // Live catches up with what the replay sent: skipped, then new entries flow.
    apply(entry(400, 4));
    apply(entry(500, 5));
    EXPECT_EQ(drain(s), (std::vector<std::string>{"changes:0/1F4:5"}));
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

}  // namespace
}  // namespace livesync
