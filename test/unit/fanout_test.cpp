// Fan-out: who gets which frame, and that equal audiences share one encoded frame.
#include <gtest/gtest.h>

#include "common/change_batch.hpp"
#include "msgpack_change.hpp"
#include "sidecar/ops/counters.hpp"
#include "sidecar/protocol/client_frame.hpp"
#include "sidecar/session/session_table.hpp"
#include "sidecar/stream/batch_applier.hpp"
#include "sidecar/stream/fanout.hpp"

namespace livesync {
namespace {

using namespace test;

common::Transaction txn_of(const std::string &bytes) {
    std::string error;
    auto b = common::decode_batch(bytes, &error);
    EXPECT_TRUE(b) << error;
    return b->transactions.at(0);
}

common::Transaction items_and_orders_txn(uint64_t lsn = 100) {
    return txn_of(batch(lsn, 7,
                        {change("i", "public", "items", {{"id", i64(1)}}),
                         change("i", "public", "orders", {{"id", i64(2)}}),
                         change("i", "livesync", "tables",
                                {{"schema_name", str("public")}, {"table_name", str("x")}}),
                         change("u", "public", "items", {{"id", i64(1)}})}));
}

// Tables items and orders published; role "member" may see all of both.
const rules::LiveState &live() {
    static const rules::LiveState state = [] {
        rules::LiveState l;
        std::string error;
        l.tables = *rules::PublishedTables::from_hash({{"public.items", R"({"schema":"public","table":"items"})"},
                                                        {"public.orders", R"({"schema":"public","table":"orders"})"}},
                                                       &error);
        std::vector<std::string> errors;
        l.rules = rules::RuleSet::from_hash(
            {{"member|public.items", R"({"role":"member","schema":"public","table":"items","filter":{"const":true},"columns":null})"},
             {"member|public.orders", R"({"role":"member","schema":"public","table":"orders","filter":{"const":true}})"}},
            &errors);
        return l;
    }();
    return state;
}

const rules::Identity &member() {
    static const rules::Identity id = [] {
        rules::Identity i;
        i.subject = "u1";
        i.role = "member";
        return i;
    }();
    return id;
}

session::SubsByTable subs(std::initializer_list<std::pair<std::string, std::vector<std::string>>> entries,
                          uint64_t live_after = 0) {
    session::SubsByTable out;
    for (const auto &[table, ids] : entries)
        for (const auto &id : ids) out[table].push_back(session::SubscriptionEntry{id, live_after});
    return out;
}

// A livesync.notify message (op "m", payload as JSON ext 2) inside a transaction.
std::string message(const std::string &channel, const std::string &payload_json) {
    std::string out;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out, append_to_string);
    msgpack_pack_map(&pk, 3);
    pack_str(pk, "op");
    pack_str(pk, "m");
    pack_str(pk, "channel");
    pack_str(pk, channel);
    pack_str(pk, "payload");
    msgpack_pack_ext(&pk, payload_json.size(), 2);
    msgpack_pack_ext_body(&pk, payload_json.data(), payload_json.size());
    return out;
}

// Notify messages reach the subscriptions on their channel, in their place among the
// transaction's rows; a session on the table alone, or on another channel, gets none.
TEST(Fanout, NotifyMessagesReachTheirChannelsSubscribersInOrder) {
    auto txn = txn_of(batch(100, 7, {change("i", "public", "items", {{"id", i64(1)}}), message("alerts", R"({"n":1})"),
                                     message("other", R"({"n":2})")}));
    auto both = subs({{"public.items", {"s1"}}, {protocol::channel_key("alerts"), {"n1"}}});
    auto table_only = subs({{"public.items", {"s1"}}});
    auto other = subs({{protocol::channel_key("nobody"), {"n9"}}});
    auto frames = stream::plan_fanout(txn, {{0, &both, &member()}, {1, &table_only, &member()}, {2, &other, &member()}},
                                      live());
    ASSERT_EQ(frames.size(), 2u);
    EXPECT_EQ(frames[0].targets, (std::vector<size_t>{0}));
    std::string_view json = protocol::frame_payload(frames[0].frame);
    size_t row = json.find(R"({"sub":["s1"],"op":"insert")");
    size_t note = json.find(R"({"sub":["n1"],"op":"message","channel":"alerts","payload":{"n":1}})");
    EXPECT_NE(row, std::string_view::npos) << json;
    EXPECT_NE(note, std::string_view::npos) << json;
    EXPECT_LT(row, note) << json;
    EXPECT_EQ(json.find("other"), std::string_view::npos) << json;
    EXPECT_EQ(frames[1].targets, (std::vector<size_t>{1}));
    EXPECT_EQ(protocol::frame_payload(frames[1].frame).find("message"), std::string_view::npos);
}

// DDL on a table reaches its authorized subscribers in its place, with only the
// columns each may see (the role's rule columns), in both encodings; a session without
// a rule for the table gets nothing.
TEST(Fanout, SchemaChangeReachesSubscribersCutToTheirVisibleColumns) {
    rules::LiveState l;
    std::string error;
    l.tables = *rules::PublishedTables::from_hash({{"public.items", R"({"schema":"public","table":"items"})"}}, &error);
    std::vector<std::string> errors;
    l.rules = rules::RuleSet::from_hash(
        {{"member|public.items",
          R"({"role":"member","schema":"public","table":"items","filter":{"const":true},"columns":["id","title"]})"},
         {"admin|public.items", R"({"role":"admin","schema":"public","table":"items","filter":{"const":true}})"}},
        &errors);
    ASSERT_TRUE(errors.empty());
    rules::Identity admin = member();
    admin.role = "admin";
    rules::Identity stranger = member();
    stranger.role = "stranger";
    auto txn = txn_of(batch(100, 7, {change("i", "public", "items", {{"id", i64(1)}}),
                                     schema_change("public", "items",
                                                   {{"id", "integer"}, {"title", "text"}, {"secret", "text"}}),
                                     change("i", "public", "items", {{"id", i64(2)}})}));
    auto s = subs({{"public.items", {"s1"}}});
    auto frames = stream::plan_fanout(txn,
                                      {{0, &s, &member()}, {1, &s, &admin}, {2, &s, &stranger},
                                       {3, &s, &member(), protocol::Encoding::Msgpack}},
                                      l);
    ASSERT_EQ(frames.size(), 3u);
    EXPECT_EQ(frames[0].targets, (std::vector<size_t>{0}));
    std::string_view json = protocol::frame_payload(frames[0].frame);
    size_t first = json.find(R"({"sub":["s1"],"op":"insert","schema":"public","table":"items","new":{"id":1}})");
    size_t ddl = json.find(R"({"sub":["s1"],"op":"schema","schema":"public","table":"items","columns":[)"
                           R"({"name":"id","type":"integer"},{"name":"title","type":"text"}]})");
    size_t second = json.find(R"("new":{"id":2})");
    EXPECT_NE(ddl, std::string_view::npos) << json;
    EXPECT_LT(first, ddl) << json;
    EXPECT_LT(ddl, second) << json;
    EXPECT_EQ(json.find("secret"), std::string_view::npos) << json;
    EXPECT_EQ(frames[1].targets, (std::vector<size_t>{1}));
    EXPECT_NE(protocol::frame_payload(frames[1].frame).find(R"({"name":"secret","type":"text"})"), std::string_view::npos);
    EXPECT_EQ(frames[2].targets, (std::vector<size_t>{3}));
    std::string_view packed = protocol::frame_payload(frames[2].frame);
    EXPECT_NE(packed.find("\xa7" "columns\x92\x82\xa4name\xa2id\xa4type\xa7integer"), std::string_view::npos);
    EXPECT_EQ(packed.find("secret"), std::string_view::npos);
}

TEST(Fanout, TwoSessionsWithTheSameMatchingSubsShareOneFrame) {
    auto a = subs({{"public.items", {"s1"}}});
    auto b = subs({{"public.items", {"s1"}}, {"public.unrelated", {"s2"}}});  // same match for this txn
    auto c = subs({{"public.items", {"other"}}});
    auto frames = stream::plan_fanout(items_and_orders_txn(), {{0, &a, &member()}, {1, &b, &member()}, {2, &c, &member()}}, live());
    ASSERT_EQ(frames.size(), 2u);
    EXPECT_EQ(frames[0].targets, (std::vector<size_t>{0, 1}));
    EXPECT_EQ(frames[1].targets, (std::vector<size_t>{2}));
    EXPECT_NE(frames[0].frame.get(), frames[1].frame.get());
    EXPECT_EQ(protocol::frame_payload(frames[0].frame),
              R"({"type":"changes","lsn":"0/64","xid":7,"commit_time":"2025-11-25T08:43:28.123456Z","changes":[)"
              R"({"sub":["s1"],"op":"insert","schema":"public","table":"items","new":{"id":1}},)"
              R"({"sub":["s1"],"op":"update","schema":"public","table":"items","new":{"id":1}}]})");
}

TEST(Fanout, ChangesAreTaggedWithEveryMatchingSubscriptionInCommitOrder) {
    auto a = subs({{"public.items", {"i1", "i2"}}, {"public.orders", {"o1"}}});
    auto frames = stream::plan_fanout(items_and_orders_txn(), {{0, &a, &member()}}, live());
    ASSERT_EQ(frames.size(), 1u);
    std::string_view json = protocol::frame_payload(frames[0].frame);
    auto first = json.find(R"({"sub":["i1","i2"],"op":"insert","schema":"public","table":"items")");
    auto second = json.find(R"({"sub":["o1"],"op":"insert","schema":"public","table":"orders")");
    auto third = json.find(R"({"sub":["i1","i2"],"op":"update")");
    ASSERT_NE(first, std::string_view::npos) << json;
    ASSERT_NE(second, std::string_view::npos) << json;
    ASSERT_NE(third, std::string_view::npos) << json;
    EXPECT_LT(first, second);
    EXPECT_LT(second, third);
}

TEST(Fanout, ConfigChangesAreNeverForwarded) {
    auto a = subs({{"livesync.tables", {"sneaky"}}, {"public.items", {"s1"}}});
    auto frames = stream::plan_fanout(items_and_orders_txn(), {{0, &a, &member()}}, live());
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(protocol::frame_payload(frames[0].frame).find("livesync"), std::string_view::npos);
    auto only_config = subs({{"livesync.tables", {"sneaky"}}});
    EXPECT_TRUE(stream::plan_fanout(items_and_orders_txn(), {{0, &only_config, &member()}}, live()).empty());
}

TEST(Fanout, TruncateReachesSubscribersOfEveryTableItEmptiedTaggedOnce) {
    auto txn = txn_of(batch(100, 7, {truncate({{"public", "items"}, {"public", "orders"}})}));
    auto both = subs({{"public.items", {"a"}}, {"public.orders", {"a", "b"}}});
    auto orders = subs({{"public.orders", {"o"}}});
    auto other = subs({{"public.other", {"x"}}});
    auto frames = stream::plan_fanout(txn, {{0, &both, &member()}, {1, &orders, &member()}, {2, &other, &member()}}, live());
    ASSERT_EQ(frames.size(), 2u);
    EXPECT_EQ(frames[0].targets, (std::vector<size_t>{0}));
    EXPECT_NE(protocol::frame_payload(frames[0].frame).find(R"({"sub":["a","b"],"op":"truncate")"), std::string_view::npos)
        << protocol::frame_payload(frames[0].frame);
    EXPECT_EQ(frames[1].targets, (std::vector<size_t>{1}));
}

TEST(Fanout, SessionWithoutMatchGetsNoFrame) {
    auto a = subs({{"public.nothing", {"s1"}}});
    EXPECT_TRUE(stream::plan_fanout(items_and_orders_txn(), {{0, &a, &member()}}, live()).empty());
}

TEST(Fanout, SubscriptionOnlyGetsTransactionsAboveItsLivePosition) {
    auto at_100 = subs({{"public.items", {"s1"}}}, 100);
    auto at_99 = subs({{"public.items", {"s1"}}}, 99);
    auto frames = stream::plan_fanout(items_and_orders_txn(100), {{0, &at_100, &member()}, {1, &at_99, &member()}}, live());
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].targets, (std::vector<size_t>{1}));
}

TEST(Fanout, SplitTransactionPartsSayPartAndFinal) {
    common::BatchWriter w;
    w.begin_txn(100, 7, 0, 2);
    w.add_change(change("i", "public", "items", {{"id", i64(1)}}));
    w.end_txn(false);
    std::string error;
    auto b = common::decode_batch(w.bytes(), &error);
    auto a = subs({{"public.items", {"s1"}}});
    auto frames = stream::plan_fanout(b->transactions.at(0), {{0, &a, &member()}}, live());
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_NE(protocol::frame_payload(frames[0].frame).find(R"("part":2,"final":false)"), std::string_view::npos);
}

TEST(Fanout, AppliedBatchQueuesTheSameFrameBytesToEqualSessions) {
    session::SessionTable table;
    int wakes = 0;
    auto &s1 = table.open(nullptr, "a", 0, 1 << 20, [&] { ++wakes; });
    auto &s2 = table.open(nullptr, "b", 0, 1 << 20, [&] { ++wakes; });
    auto &s3 = table.open(nullptr, "c", 0, 1 << 20, [&] { ++wakes; });
    for (auto *s : {&s1, &s2, &s3}) s->set_identity(member());
    for (auto *s : {&s1, &s2}) {
        s->add_subscription("s1", "public.items", 0);
        table.index_table(*s, "public.items");
    }
    s3.add_subscription("s1", "public.orders", 0);
    table.index_table(s3, "public.orders");
    ops::Counters counters;
    stream::fan_out(items_and_orders_txn(), live(), table, counters);
    ASSERT_EQ(s1.queue().size(), 1u);
    ASSERT_EQ(s2.queue().size(), 1u);
    ASSERT_EQ(s3.queue().size(), 1u);
    EXPECT_EQ(s1.queue().front().get(), s2.queue().front().get());
    EXPECT_NE(s1.queue().front().get(), s3.queue().front().get());
    EXPECT_EQ(counters.frames_built.load(), 2u);
    EXPECT_EQ(counters.frames_queued.load(), 3u);
    EXPECT_EQ(wakes, 3);
}

TEST(Fanout, ServiceThreadsShareTheFramesOfAnEntryByAudience) {
    // Two service threads: their own session tables and their own copies of the rules
    // (other addresses), one SharedFrames for the entry.
    session::ClientDirectory directory;
    session::SessionTable thread0(0, &directory, nullptr), thread1(1, &directory, nullptr);
    rules::LiveState live0 = live(), live1 = live();
    auto &a = thread0.open(nullptr, "a", 0, 1 << 20, [] {});
    auto &b = thread1.open(nullptr, "b", 0, 1 << 20, [] {});
    auto &c = thread1.open(nullptr, "c", 0, 1 << 20, [] {});
    for (auto *s : {&a, &b, &c}) s->set_identity(member());
    for (auto [table, s, id] : {std::tuple{&thread0, &a, "s1"}, std::tuple{&thread1, &b, "s1"},
                                std::tuple{&thread1, &c, "s2"}}) {
        s->add_subscription(id, "public.items", 0);
        table->index_table(*s, "public.items");
    }
    EXPECT_NE(a.serial(), b.serial());  // serials carry their thread
    EXPECT_EQ(session::shard_of_serial(b.serial()), 1u);
    ops::Counters counters;
    stream::SharedFrames shared;
    common::Transaction txn = items_and_orders_txn();
    stream::fan_out(txn, live0, thread0, counters, common::StreamId{UINT64_MAX, UINT64_MAX}, &shared, 0);
    stream::fan_out(txn, live1, thread1, counters, common::StreamId{UINT64_MAX, UINT64_MAX}, &shared, 0);
    ASSERT_EQ(a.queue().size(), 1u);
    ASSERT_EQ(b.queue().size(), 1u);
    ASSERT_EQ(c.queue().size(), 1u);
    EXPECT_EQ(a.queue().front().get(), b.queue().front().get());  // encoded once, on thread 0
    EXPECT_NE(b.queue().front().get(), c.queue().front().get());  // another subscription id: its own frame
    EXPECT_EQ(shared.reused(), 1u);
    EXPECT_EQ(counters.frames_built.load(), 2u);  // distinct frames: a's (shared with b) and c's
}

TEST(Fanout, SessionOverItsSendQueueBoundIsClosedWith1008) {
    session::SessionTable table;
    auto &slow = table.open(nullptr, "a", 0, 300, [] {});
    slow.set_identity(member());
    slow.add_subscription("s1", "public.items", 0);
    table.index_table(slow, "public.items");
    ops::Counters counters;
    stream::fan_out(items_and_orders_txn(100), live(), table, counters);
    EXPECT_FALSE(slow.close_request().has_value());
    stream::fan_out(items_and_orders_txn(101), live(), table, counters);
    ASSERT_TRUE(slow.close_request().has_value());
    EXPECT_EQ(slow.close_request()->code, 1008);
    EXPECT_EQ(slow.close_request()->reason, session::kOverflowReason);
    EXPECT_TRUE(slow.queue().empty());
    EXPECT_EQ(counters.send_queue_overflows.load(), 1u);
}

}  // namespace
}  // namespace livesync
