// The change-batch codec: BatchWriter → decode_batch → append_change_json.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/batch_writer.hpp"
#include "common/change_batch.hpp"
#include "msgpack_change.hpp"

namespace livesync {
namespace {

using common::Value;
using namespace test;

common::ChangeBatch decode_ok(std::string_view bytes) {
    std::string error;
    auto batch = common::decode_batch(bytes, &error);
    EXPECT_TRUE(batch.has_value()) << error;
    return batch.value_or(common::ChangeBatch{});
}

std::string decode_error(std::string_view bytes) {
    std::string error;
    auto batch = common::decode_batch(bytes, &error);
    EXPECT_FALSE(batch.has_value());
    return error;
}

std::string change_json(const common::Change &c) {
    std::string out;
    common::append_change_json(out, c);
    return out;
}

TEST(ChangeBatchCodec, RoundTripsSeveralTransactionsInOrder) {
    common::BatchWriter w;
    w.begin_txn(0x16B3748, 731, 1764060208123456LL, 0);
    w.add_change(change("i", "public", "items", {{"id", i64(1)}}));
    w.add_change(change("u", "public", "items", {{"id", i64(1)}}, {{"id", i64(7)}}));
    w.end_txn(true);
    w.begin_txn(0x16B3800, 732, 1764060209000000LL, 0);
    w.add_change(change("d", "s", "t", {}, {{"id", i64(2)}}));
    w.end_txn(true);
    EXPECT_EQ(w.txn_count(), 2u);
    EXPECT_EQ(w.change_count(), 3u);

    common::ChangeBatch b = decode_ok(w.bytes());
    ASSERT_EQ(b.transactions.size(), 2u);
    const auto &t0 = b.transactions[0];
    EXPECT_EQ(t0.lsn, 0x16B3748u);
    EXPECT_EQ(t0.xid, 731u);
    EXPECT_EQ(t0.commit_sec, 1764060208);
    EXPECT_EQ(t0.commit_nsec, 123456000u);
    EXPECT_TRUE(t0.final);
    ASSERT_EQ(t0.changes.size(), 2u);
    EXPECT_EQ(t0.changes[0].op, common::Op::Insert);
    EXPECT_EQ(t0.changes[1].op, common::Op::Update);
    EXPECT_EQ(t0.changes[1].old_values.at(0).value.i, 7);
    const auto &t1 = b.transactions[1];
    EXPECT_EQ(t1.lsn, 0x16B3800u);
    ASSERT_EQ(t1.changes.size(), 1u);
    EXPECT_EQ(t1.changes[0].op, common::Op::Delete);
    EXPECT_EQ(t1.changes[0].schema, "s");
    EXPECT_EQ(change_json(t1.changes[0]), R"({"op":"delete","schema":"s","table":"t","old":{"id":2}})");
}

TEST(ChangeBatchCodec, SplitTransactionPartsKeepLsnAndFinalFlag) {
    common::BatchWriter w;
    w.begin_txn(500, 9, 0, 0);
    w.add_change(change("i", "public", "items", {{"id", i64(1)}}));
    w.end_txn(false);
    common::ChangeBatch first = decode_ok(w.bytes());
    ASSERT_EQ(first.transactions.size(), 1u);
    EXPECT_FALSE(first.transactions[0].final);
    EXPECT_EQ(first.transactions[0].part, 0u);

    w.clear();
    w.begin_txn(500, 9, 0, 1);
    w.add_change(change("i", "public", "items", {{"id", i64(2)}}));
    w.end_txn(true);
    common::ChangeBatch second = decode_ok(w.bytes());
    EXPECT_TRUE(second.transactions[0].final);
    EXPECT_EQ(second.transactions[0].part, 1u);
    EXPECT_EQ(second.transactions[0].lsn, 500u);
}

TEST(ChangeBatchCodec, ValuesOfEveryKindDecodeAndRenderLosslessly) {
    std::string bytes =
        batch(1, 1,
              {change("i", "public", "items",
                      {{"n", nil()},
                       {"i", i64(42)},
                       {"neg", i64(-9000000000LL)},
                       {"big", u64(18446744073709551615ULL)},
                       {"b", boolean(true)},
                       {"nan", f64(std::numeric_limits<double>::quiet_NaN())},
                       {"inf", f64(-std::numeric_limits<double>::infinity())},
                       {"half", f64(0.5)},
                       {"txt", str("say \"hi\"\\\n\t\x01 ünï")},
                       {"raw", bin(std::string("\x00\xff\x10", 3))},
                       {"num", ext(common::kExtNumeric, "12.340")},
                       {"doc", ext(common::kExtJson, R"({"a":[1,2]})")},
                       {"other", ext(common::kExtText, "(1,2)")},
                       {"at", timestamp(1764060208, 123456789)}},
                      {}, {"blob"})});
    common::ChangeBatch b = decode_ok(bytes);
    const common::Change &c = b.transactions.at(0).changes.at(0);
    ASSERT_EQ(c.new_values.size(), 14u);
    EXPECT_EQ(c.new_values[0].value.kind, Value::Kind::Null);
    EXPECT_EQ(c.new_values[2].value.i, -9000000000LL);
    EXPECT_EQ(c.new_values[3].value.kind, Value::Kind::UInt);
    EXPECT_TRUE(std::isnan(c.new_values[5].value.f));
    EXPECT_EQ(c.new_values[9].value.s, std::string("\x00\xff\x10", 3));
    EXPECT_EQ(c.new_values[10].value.kind, Value::Kind::Numeric);
    EXPECT_EQ(c.new_values[13].value.ts_nsec, 123456789u);
    EXPECT_EQ(change_json(c),
              R"j({"op":"insert","schema":"public","table":"items","new":{"n":null,"i":42,"neg":-9000000000,)j"
              R"j("big":18446744073709551615,"b":true,"nan":"NaN","inf":"-Infinity","half":0.5,)j"
              R"j("txt":"say \"hi\"\\\n\t\u0001 ünï","raw":"\\x00ff10","num":"12.340","doc":{"a":[1,2]},)j"
              R"j("other":"(1,2)","at":"2025-11-25T08:43:28.123456Z"},"unchanged":["blob"]})j");
}

TEST(ChangeBatchCodec, TruncatedBatchIsRejectedWithAMessage) {
    std::string bytes = batch(1, 1, {change("i", "public", "items", {{"id", i64(1)}})});
    for (size_t cut : {size_t(0), size_t(1), bytes.size() / 2, bytes.size() - 1}) {
        EXPECT_EQ(decode_error(std::string_view(bytes).substr(0, cut)).rfind("truncated msgpack", 0), 0u)
            << "cut at " << cut;
    }
}

TEST(ChangeBatchCodec, GarbageBytesAreRejectedWithAMessage) {
    EXPECT_EQ(decode_error("\xc1").rfind("malformed msgpack", 0), 0u);
    EXPECT_EQ(decode_error("hello"), "trailing bytes after msgpack value");
    EXPECT_EQ(decode_error("\x93\x01\x02\x03"), "batch must be an array of [version, transactions]");
    // A batch whose only transaction is not an array.
    EXPECT_EQ(decode_error("\x92\x01\x91\x05"), "transaction must be an array of 6 elements");
    std::string bytes = batch(1, 1, {change("i", "public", "items", {{"id", i64(1)}})});
    EXPECT_FALSE(decode_error(bytes + "x").empty());
}

TEST(ChangeBatchCodec, ChangeWithBadOpOrUnknownExtensionIsRejected) {
    EXPECT_EQ(decode_error(batch(1, 1, {change("x", "public", "items", {{"id", i64(1)}})})).rfind(
                  "change op must be one of", 0),
              0u);
    EXPECT_EQ(decode_error(batch(1, 1, {change("i", "public", "items", {{"id", ext(42, "?")}})})),
              "unknown value extension type 42");
}

TEST(ChangeBatchCodec, WrongVersionIsRejected) {
    std::string bytes = batch(1, 1, {});
    bytes[1] = 2;  // [0x92, version, ...]
    EXPECT_EQ(decode_error(bytes), "unsupported batch version");
}

TEST(ChangeBatchCodec, TimestampWithNanosecondsOutOfRangeIsRejected) {
    EXPECT_EQ(decode_error(batch(1, 1, {change("i", "public", "items", {{"at", timestamp(0, 1000000000u)}})})),
              "malformed timestamp value");
}

}  // namespace
}  // namespace livesync
