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

std::string iso_year(int64_t year) {
    char buf[24];
    int n = common::format_iso_year(buf, sizeof buf, year);
    return std::string(buf, n);
}

std::string timestamp_json(int64_t sec, uint32_t nsec) {
    std::string out;
    common::append_timestamp_json(out, sec, nsec);
    return out;
}

TEST(ChangeBatchCodec, YearsOutsideRfc3339UseExpandedIsoYears) {
    EXPECT_EQ(iso_year(1), "0001");
    EXPECT_EQ(iso_year(2026), "2026");
    EXPECT_EQ(iso_year(9999), "9999");
    EXPECT_EQ(iso_year(10000), "+010000");
    EXPECT_EQ(iso_year(294276), "+294276");
    EXPECT_EQ(iso_year(5874897), "+5874897");  // the last year of a Postgres date
    EXPECT_EQ(iso_year(0), "+000000");          // 1 BC: ECMAScript refuses "-000000"
    EXPECT_EQ(iso_year(-43), "-000043");        // 44 BC
    EXPECT_EQ(iso_year(-4713), "-004713");      // the first year of a Postgres timestamptz
    char tiny[4];
    EXPECT_EQ(common::format_iso_year(tiny, sizeof tiny, 10000), 3);  // cut, never overrun
    EXPECT_STREQ(tiny, "+01");
}

TEST(ChangeBatchCodec, TimestamptzJsonIsRfc3339WithinItsYearsAndExpandedBeyond) {
    EXPECT_EQ(timestamp_json(-62135596800, 0), R"("0001-01-01T00:00:00.000000Z")");
    EXPECT_EQ(timestamp_json(253402214400 + 86399, 999999000), R"("9999-12-31T23:59:59.999999Z")");
    EXPECT_EQ(timestamp_json(253402300800, 0), R"("+010000-01-01T00:00:00.000000Z")");
    EXPECT_EQ(timestamp_json(-63517780800, 0), R"("-000043-03-15T12:00:00.000000Z")");  // 44 BC
    EXPECT_EQ(timestamp_json(-62135683200 + 86399, 500000000), R"("+000000-12-31T23:59:59.500000Z")");
    EXPECT_EQ(timestamp_json(-210866803200, 0), R"("-004713-11-24T00:00:00.000000Z")");  // Postgres' first
    EXPECT_EQ(timestamp_json(9224317929600 + 86399, 999999000), R"("+294276-12-31T23:59:59.999999Z")");
    EXPECT_EQ(timestamp_json(-1, 999999000), R"("1969-12-31T23:59:59.999999Z")");
}

TEST(ChangeBatchCodec, EdgeYearDateAndTimestampTextsPassThroughBothEncodings) {
    std::string bytes = batch(1, 1, {change("i", "public", "items",
                                            {{"d", ext(common::kExtDate, "-000043-03-15")},
                                             {"big", ext(common::kExtDate, "+5874897-12-31")},
                                             {"ts", ext(common::kExtLocalTimestamp, "+010000-01-01T00:00:00.000001")},
                                             {"at", timestamp(-63517780800, 0)}})});
    common::ChangeBatch b = decode_ok(bytes);
    const common::Change &c = b.transactions.at(0).changes.at(0);
    EXPECT_EQ(c.new_values.at(0).value.kind, Value::Kind::Date);
    EXPECT_EQ(c.new_values.at(2).value.kind, Value::Kind::LocalTimestamp);
    EXPECT_EQ(c.new_values.at(3).value.ts_sec, -63517780800);
    EXPECT_EQ(change_json(c),
              R"j({"op":"insert","schema":"public","table":"items","new":{"d":"-000043-03-15",)j"
              R"j("big":"+5874897-12-31","ts":"+010000-01-01T00:00:00.000001",)j"
              R"j("at":"-000043-03-15T12:00:00.000000Z"}})j");
}

TEST(ChangeBatchCodec, SchemaChangeDecodesAndRendersItsColumns) {
    common::ChangeBatch b = decode_ok(batch(1, 1, {schema_change("public", "items",
                                                                 {{"id", "integer"}, {"note", "character varying(20)"}})}));
    const common::Change &c = b.transactions.at(0).changes.at(0);
    EXPECT_EQ(c.op, common::Op::Schema);
    ASSERT_EQ(c.columns.size(), 2u);
    EXPECT_EQ(c.columns[1].type, "character varying(20)");
    EXPECT_EQ(change_json(c), R"j({"op":"schema","schema":"public","table":"items","columns":[)j"
                              R"j({"name":"id","type":"integer"},{"name":"note","type":"character varying(20)"}]})j");
}

TEST(ChangeBatchCodec, MalformedSchemaChangeIsRejectedWithAMessage) {
    std::string out;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out, append_to_string);
    msgpack_pack_map(&pk, 4);
    pack_str(pk, "op");
    pack_str(pk, "s");
    pack_str(pk, "schema");
    pack_str(pk, "public");
    pack_str(pk, "table");
    pack_str(pk, "items");
    pack_str(pk, "columns");
    msgpack_pack_array(&pk, 1);
    pack_str(pk, "id");  // not a [name, type] pair
    EXPECT_EQ(decode_error(batch(1, 1, {out})), "schema columns must be an array of [name, type]");
    std::string no_columns = change("s", "public", "items", {});
    EXPECT_EQ(decode_error(batch(1, 1, {no_columns})), "schema change lacks table or columns");
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

// A snapshot page: rows back to back, each decoded into the same reused vector, with its
// raw bytes; garbage after good rows ends the page with a message.
TEST(ChangeBatchCodec, PageRowsReadsRowsBackToBackAndRefusesGarbage) {
    auto row = [](int64_t id, const std::string &note) {
        std::string out;
        msgpack_packer pk;
        msgpack_packer_init(&pk, &out, append_to_string);
        msgpack_pack_map(&pk, 2);
        pack_str(pk, "id");
        msgpack_pack_int64(&pk, id);
        pack_str(pk, "note");
        pack_str(pk, note);
        return out;
    };
    std::string page = row(1, "a") + row(2, std::string(300, 'b')) + row(3, "c");
    common::PageRows rows(page);
    std::vector<common::Column> got;
    std::string_view raw;
    std::string error;
    std::vector<int64_t> ids;
    size_t bytes = 0;
    while (rows.next(got, raw, &error)) {
        ASSERT_EQ(got.size(), 2u);
        ids.push_back(got[0].value.i);
        bytes += raw.size();
    }
    EXPECT_EQ(error, "");
    EXPECT_EQ(ids, (std::vector<int64_t>{1, 2, 3}));
    EXPECT_EQ(bytes, page.size());
    EXPECT_EQ(got[1].value.s, "c");

    for (const std::string &bad : {row(1, "a") + "\xc1", row(1, "a") + row(2, "b").substr(0, 5),
                                   row(1, "a") + std::string("\x92\x01\x02")}) {
        common::PageRows page_rows(bad);
        error.clear();
        int n = 0;
        while (page_rows.next(got, raw, &error)) ++n;
        EXPECT_EQ(n, 1);
        EXPECT_FALSE(error.empty()) << bad.size();
    }
}

}  // namespace
}  // namespace livesync
