// livesync.v1.msgpack: client maps parse into the same structs as JSON, garbage is
// refused with bad_msgpack and a message, server frames and "changes" come out as typed
// msgpack, and fan-out encodes once per (audience, encoding).
#include <gtest/gtest.h>
#include <msgpack.h>

#include <cmath>

#include "common/change_batch.hpp"
#include "msgpack_change.hpp"
#include "sidecar/protocol/client_frame.hpp"
#include "sidecar/protocol/msgpack_writer.hpp"
#include "sidecar/protocol/server_frame.hpp"
#include "sidecar/session/session.hpp"
#include "sidecar/stream/fanout.hpp"

namespace livesync {
namespace {

using namespace test;
using protocol::ClientFrame;
using protocol::Encoding;
using protocol::FrameError;

struct Owned {
    msgpack_unpacked u;
    Owned() { msgpack_unpacked_init(&u); }
    ~Owned() { msgpack_unpacked_destroy(&u); }
};

// Decodes a whole msgpack message; fails the test on anything else.
const msgpack_object &unpack(Owned &o, std::string_view bytes) {
    size_t off = 0;
    EXPECT_EQ(msgpack_unpack_next(&o.u, bytes.data(), bytes.size(), &off), MSGPACK_UNPACK_SUCCESS);
    EXPECT_EQ(off, bytes.size());
    return o.u.data;
}

const msgpack_object *member(const msgpack_object &map, std::string_view key) {
    if (map.type != MSGPACK_OBJECT_MAP) return nullptr;
    for (uint32_t i = 0; i < map.via.map.size; ++i) {
        const auto &kv = map.via.map.ptr[i];
        if (kv.key.type == MSGPACK_OBJECT_STR && std::string_view(kv.key.via.str.ptr, kv.key.via.str.size) == key)
            return &kv.val;
    }
    return nullptr;
}

std::string str_of(const msgpack_object *o) {
    EXPECT_TRUE(o && o->type == MSGPACK_OBJECT_STR);
    return o && o->type == MSGPACK_OBJECT_STR ? std::string(o->via.str.ptr, o->via.str.size) : std::string();
}

std::pair<int, std::string> ext_of(const msgpack_object *o) {
    EXPECT_TRUE(o && o->type == MSGPACK_OBJECT_EXT);
    if (!o || o->type != MSGPACK_OBJECT_EXT) return {0, ""};
    return {o->via.ext.type, std::string(o->via.ext.ptr, o->via.ext.size)};
}

std::string msgpack_of(std::function<void(msgpack_packer &)> build) {
    std::string out;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out, append_to_string);
    build(pk);
    return out;
}

FrameError error_of(const ClientFrame &f) {
    EXPECT_TRUE(std::holds_alternative<FrameError>(f));
    return std::holds_alternative<FrameError>(f) ? std::get<FrameError>(f) : FrameError{};
}

// --- client → server ---------------------------------------------------------------

TEST(MsgpackClient, HelloWithEveryFieldParsesLikeJson) {
    std::string bytes = msgpack_of([](msgpack_packer &pk) {
        msgpack_pack_map(&pk, 5);
        pack_str(pk, "type"); pack_str(pk, "hello");
        pack_str(pk, "client_id"); pack_str(pk, "c1");
        pack_str(pk, "last_lsn"); pack_str(pk, "0/16B3748");
        pack_str(pk, "token"); pack_str(pk, "tok");
        pack_str(pk, "subscriptions");
        msgpack_pack_array(&pk, 1);
        msgpack_pack_map(&pk, 3);
        pack_str(pk, "id"); pack_str(pk, "s1");
        pack_str(pk, "table"); pack_str(pk, "items");
        pack_str(pk, "columns");
        msgpack_pack_array(&pk, 2);
        pack_str(pk, "id"); pack_str(pk, "label");
    });
    ClientFrame m = protocol::parse_client_msgpack(bytes);
    ClientFrame j = protocol::parse_client_frame(
        R"({"type":"hello","client_id":"c1","last_lsn":"0/16B3748","token":"tok",)"
        R"("subscriptions":[{"id":"s1","table":"items","columns":["id","label"]}]})");
    ASSERT_TRUE(std::holds_alternative<protocol::Hello>(m)) << error_of(m).message;
    const auto &hm = std::get<protocol::Hello>(m);
    const auto &hj = std::get<protocol::Hello>(j);
    EXPECT_EQ(hm.client_id, hj.client_id);
    EXPECT_EQ(hm.last_lsn, hj.last_lsn);
    EXPECT_EQ(hm.token, hj.token);
    ASSERT_EQ(hm.subscriptions.size(), 1u);
    EXPECT_EQ(hm.subscriptions[0].table, "public.items");
    EXPECT_EQ(hm.subscriptions[0].columns, hj.subscriptions[0].columns);
}

TEST(MsgpackClient, SubscribeWithFilterParsesLikeJson) {
    std::string bytes = msgpack_of([](msgpack_packer &pk) {
        msgpack_pack_map(&pk, 4);
        pack_str(pk, "type"); pack_str(pk, "subscribe");
        pack_str(pk, "id"); pack_str(pk, "s1");
        pack_str(pk, "table"); pack_str(pk, "public.items");
        pack_str(pk, "filter");
        msgpack_pack_map(&pk, 1);
        pack_str(pk, "const"); msgpack_pack_true(&pk);
    });
    ClientFrame m = protocol::parse_client_msgpack(bytes);
    ASSERT_TRUE(std::holds_alternative<protocol::Subscribe>(m)) << error_of(m).message;
    const auto &s = std::get<protocol::Subscribe>(m);
    EXPECT_EQ(s.id, "s1");
    EXPECT_EQ(s.table, "public.items");
    ASSERT_TRUE(s.filter.has_value());
    ClientFrame j = protocol::parse_client_frame(
        R"({"type":"subscribe","id":"s1","table":"public.items","filter":{"const":true}})");
    EXPECT_EQ(common::filter_to_json(*s.filter), common::filter_to_json(*std::get<protocol::Subscribe>(j).filter));
}

TEST(MsgpackClient, UnsubscribePingAndAuthParse) {
    auto unsub = protocol::parse_client_msgpack(msgpack_of([](msgpack_packer &pk) {
        msgpack_pack_map(&pk, 2);
        pack_str(pk, "type"); pack_str(pk, "unsubscribe");
        pack_str(pk, "id"); pack_str(pk, "s1");
    }));
    ASSERT_TRUE(std::holds_alternative<protocol::Unsubscribe>(unsub));
    EXPECT_EQ(std::get<protocol::Unsubscribe>(unsub).id, "s1");

    auto ping = protocol::parse_client_msgpack(msgpack_of([](msgpack_packer &pk) {
        msgpack_pack_map(&pk, 2);
        pack_str(pk, "type"); pack_str(pk, "ping");
        pack_str(pk, "ref"); msgpack_pack_int(&pk, 7);
    }));
    ASSERT_TRUE(std::holds_alternative<protocol::Ping>(ping));
    EXPECT_EQ(std::get<protocol::Ping>(ping).ref, std::optional<std::string>("7"));

    auto auth = protocol::parse_client_msgpack(msgpack_of([](msgpack_packer &pk) {
        msgpack_pack_map(&pk, 2);
        pack_str(pk, "type"); pack_str(pk, "auth");
        pack_str(pk, "token"); pack_str(pk, "t2");
    }));
    ASSERT_TRUE(std::holds_alternative<protocol::Auth>(auth));
    EXPECT_EQ(std::get<protocol::Auth>(auth).token, "t2");
}

TEST(MsgpackClient, TheSameValidatorRejectsTheSameMistakes) {
    // A wrong-typed field is a bad_request naming it, as in JSON.
    auto e = error_of(protocol::parse_client_msgpack(msgpack_of([](msgpack_packer &pk) {
        msgpack_pack_map(&pk, 2);
        pack_str(pk, "type"); pack_str(pk, "subscribe");
        pack_str(pk, "id"); msgpack_pack_int(&pk, 5);
    })));
    EXPECT_EQ(e.code, "bad_request");
    EXPECT_EQ(e.message, error_of(protocol::parse_client_frame(R"({"type":"subscribe","id":5})")).message);
    auto u = error_of(protocol::parse_client_msgpack(msgpack_of([](msgpack_packer &pk) {
        msgpack_pack_map(&pk, 1);
        pack_str(pk, "type"); pack_str(pk, "dance");
    })));
    EXPECT_EQ(u.code, "unknown_type");
    auto a = error_of(protocol::parse_client_msgpack(msgpack_of([](msgpack_packer &pk) { msgpack_pack_array(&pk, 0); })));
    EXPECT_EQ(a.code, "bad_request");
    EXPECT_EQ(a.message, "frame must be a msgpack map");
}

struct Garbage {
    std::string name;
    std::string bytes;
    std::string message_part;
};

TEST(MsgpackClient, GarbageIsRejectedWithAMessageNamingTheProblem) {
    std::string deep;
    for (int i = 0; i < 40; ++i) deep += '\x91';  // 40 nested one-element arrays
    deep += '\xc0';
    std::vector<Garbage> cases = {
        {"empty", "", "empty message"},
        {"truncated", std::string("\x82\xa4type", 6), "truncated"},
        {"invalid byte", "\xc1", "malformed msgpack"},
        {"trailing", std::string("\x80\x80", 2), "trailing bytes"},
        {"int key", msgpack_of([](msgpack_packer &pk) {
             msgpack_pack_map(&pk, 1);
             msgpack_pack_int(&pk, 1);
             msgpack_pack_nil(&pk);
         }),
         "map keys must be str"},
        {"bin value", msgpack_of([](msgpack_packer &pk) {
             msgpack_pack_map(&pk, 1);
             pack_str(pk, "type");
             msgpack_pack_bin(&pk, 1);
             msgpack_pack_bin_body(&pk, "x", 1);
         }),
         "bin value at type"},
        {"ext value", msgpack_of([](msgpack_packer &pk) {
             msgpack_pack_map(&pk, 1);
             pack_str(pk, "ref");
             msgpack_pack_ext(&pk, 1, 1);
             msgpack_pack_ext_body(&pk, "1", 1);
         }),
         "ext value at ref"},
        {"bad utf-8", msgpack_of([](msgpack_packer &pk) {
             msgpack_pack_map(&pk, 1);
             pack_str(pk, "type");
             pack_str(pk, "\xff\xfe");
         }),
         "not valid UTF-8"},
        {"too deep", "\x81\xa1x" + deep, "deeper than 32 levels"},
    };
    for (const Garbage &g : cases) {
        FrameError e = error_of(protocol::parse_client_msgpack(g.bytes));
        EXPECT_EQ(e.code, "bad_msgpack") << g.name;
        EXPECT_NE(e.message.find(g.message_part), std::string::npos) << g.name << ": " << e.message;
    }
}

TEST(MsgpackClient, MessageDecoderFollowsTheEncoding) {
    EXPECT_EQ(error_of(protocol::parse_client_message(Encoding::Json, "\x80")).code, "bad_json");
    EXPECT_EQ(error_of(protocol::parse_client_message(Encoding::Msgpack, "{}")).code, "bad_msgpack");
}

// --- server → client ----------------------------------------------------------------

TEST(MsgpackServer, EveryControlFrameTranscodesWithTypedFields) {
    struct Case {
        std::string json;
        std::string type;
    };
    std::vector<Case> cases = {
        {protocol::encode_welcome("c1", "db1-1", 0x16B3748), "welcome"},
        {protocol::encode_subscribed("s1", "public.items", 5), "subscribed"},
        {protocol::encode_unsubscribed("s1"), "unsubscribed"},
        {protocol::encode_caught_up(9), "caught_up"},
        {protocol::encode_resync_required(9), "resync_required"},
        {protocol::encode_pong(std::string("7")), "pong"},
        {protocol::encode_error("bad_request", "nope", std::string("s1")), "error"},
        {protocol::encode_authenticated(1764060208), "authenticated"},
    };
    for (const Case &c : cases) {
        auto packed = protocol::json_to_msgpack(c.json);
        ASSERT_TRUE(packed) << c.json;
        Owned o;
        const msgpack_object &root = unpack(o, *packed);
        EXPECT_EQ(str_of(member(root, "type")), c.type);
        ASSERT_EQ(root.type, MSGPACK_OBJECT_MAP);
    }
    // msgpack-c's objects point into the bytes: keep them alive.
    std::string welcome_bytes = *protocol::json_to_msgpack(protocol::encode_welcome("c1", "db1", 0x16B3748));
    std::string pong_bytes = *protocol::json_to_msgpack(protocol::encode_pong(std::string("7")));
    std::string auth_bytes = *protocol::json_to_msgpack(protocol::encode_authenticated(1764060208));
    Owned o, p, a;
    EXPECT_EQ(str_of(member(unpack(o, welcome_bytes), "lsn")), "0/16B3748");
    const msgpack_object *ref = member(unpack(p, pong_bytes), "ref");
    ASSERT_TRUE(ref != nullptr);
    ASSERT_EQ(ref->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    EXPECT_EQ(ref->via.u64, 7u);
    EXPECT_EQ(member(unpack(a, auth_bytes), "expires_at")->via.u64, 1764060208u);
}


TEST(MsgpackServer, SessionSendsTextFramesInItsEncoding) {
    session::Session s(1, nullptr, "127.0.0.1", 0, 1 << 20, [] {});
    s.set_encoding(Encoding::Msgpack);
    s.send_text(protocol::encode_caught_up(1));
    ASSERT_EQ(s.queue().size(), 1u);
    Owned o;
    EXPECT_EQ(str_of(member(unpack(o, protocol::frame_payload(s.queue().front())), "type")), "caught_up");
}

// A transaction with one value of every kind.
common::Transaction typed_txn() {
    PackValue f32 = [](msgpack_packer &pk) { msgpack_pack_float(&pk, 1.5f); };
    PackValue arr = [](msgpack_packer &pk) {
        msgpack_pack_array(&pk, 2);
        msgpack_pack_int(&pk, 1);
        msgpack_pack_nil(&pk);
    };
    std::string bytes = batch(100, 7,
                              {change("i", "public", "items",
                                      {{"id", i64(-1)},
                                       {"big", u64(18446744073709551615ull)},
                                       {"r", f32},
                                       {"d", f64(0.1)},
                                       {"ok", boolean(true)},
                                       {"none", nil()},
                                       {"label", str("a")},
                                       {"raw", bin(std::string("\x00\xff", 2))},
                                       {"price", ext(common::kExtNumeric, "12.340")},
                                       {"doc", ext(common::kExtJson, R"({"a":1})")},
                                       {"at", timestamp(1764060208, 123456000)},
                                       {"day", ext(common::kExtDate, "2026-11-25")},
                                       {"uid", ext(common::kExtUuid, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")},
                                       {"ints", arr}})});
    std::string error;
    auto b = common::decode_batch(bytes, &error);
    EXPECT_TRUE(b) << error;
    return b->transactions.at(0);
}

rules::LiveState items_live() {
    rules::LiveState l;
    std::string error;
    l.tables = *rules::PublishedTables::from_hash({{"public.items", R"({"schema":"public","table":"items"})"}}, &error);
    std::vector<std::string> errors;
    l.rules = rules::RuleSet::from_hash(
        {{"member|public.items",
          R"({"role":"member","schema":"public","table":"items","filter":{"const":true},"columns":null})"}},
        &errors);
    return l;
}

rules::Identity member_identity() {
    rules::Identity i;
    i.subject = "u1";
    i.role = "member";
    return i;
}

TEST(MsgpackFanout, ChangesCarryEveryValueTyped) {
    auto live = items_live();
    auto id = member_identity();
    session::SubsByTable subs;
    subs["public.items"].push_back(session::SubscriptionEntry{"s1", 0, nullptr});
    auto frames = stream::plan_fanout(typed_txn(), {{0, &subs, &id, Encoding::Msgpack}}, live);
    ASSERT_EQ(frames.size(), 1u);
    Owned o;
    const msgpack_object &root = unpack(o, protocol::frame_payload(frames[0].frame));
    EXPECT_EQ(str_of(member(root, "type")), "changes");
    EXPECT_EQ(str_of(member(root, "lsn")), "0/64");
    EXPECT_EQ(member(root, "xid")->via.u64, 7u);
    EXPECT_EQ(ext_of(member(root, "commit_time")).first, -1);
    EXPECT_EQ(member(root, "part"), nullptr);  // unsplit: no part/final, as in JSON
    const msgpack_object *changes = member(root, "changes");
    ASSERT_TRUE(changes && changes->type == MSGPACK_OBJECT_ARRAY);
    ASSERT_EQ(changes->via.array.size, 1u);
    const msgpack_object &c = changes->via.array.ptr[0];
    const msgpack_object *sub = member(c, "sub");
    ASSERT_TRUE(sub && sub->type == MSGPACK_OBJECT_ARRAY && sub->via.array.size == 1);
    EXPECT_EQ(str_of(&sub->via.array.ptr[0]), "s1");
    EXPECT_EQ(str_of(member(c, "op")), "insert");
    EXPECT_EQ(str_of(member(c, "table")), "items");
    const msgpack_object &row = *member(c, "new");
    EXPECT_EQ(member(row, "id")->type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    EXPECT_EQ(member(row, "id")->via.i64, -1);
    EXPECT_EQ(member(row, "big")->via.u64, 18446744073709551615ull);
    EXPECT_EQ(member(row, "r")->type, MSGPACK_OBJECT_FLOAT32);
    EXPECT_EQ(member(row, "r")->via.f64, 1.5);
    EXPECT_EQ(member(row, "d")->type, MSGPACK_OBJECT_FLOAT64);
    EXPECT_EQ(member(row, "d")->via.f64, 0.1);
    EXPECT_EQ(member(row, "ok")->type, MSGPACK_OBJECT_BOOLEAN);
    EXPECT_EQ(member(row, "none")->type, MSGPACK_OBJECT_NIL);
    EXPECT_EQ(str_of(member(row, "label")), "a");
    ASSERT_EQ(member(row, "raw")->type, MSGPACK_OBJECT_BIN);
    EXPECT_EQ(std::string(member(row, "raw")->via.bin.ptr, member(row, "raw")->via.bin.size), std::string("\x00\xff", 2));
    EXPECT_EQ(ext_of(member(row, "price")), std::make_pair(1, std::string("12.340")));
    EXPECT_EQ(ext_of(member(row, "doc")), std::make_pair(2, std::string(R"({"a":1})")));
    msgpack_timestamp ts;
    ASSERT_TRUE(msgpack_object_to_timestamp(member(row, "at"), &ts));
    EXPECT_EQ(ts.tv_sec, 1764060208);
    EXPECT_EQ(ts.tv_nsec, 123456000u);
    EXPECT_EQ(ext_of(member(row, "day")), std::make_pair(4, std::string("2026-11-25")));
    EXPECT_EQ(ext_of(member(row, "uid")).first, 9);
    const msgpack_object *ints = member(row, "ints");
    ASSERT_TRUE(ints && ints->type == MSGPACK_OBJECT_ARRAY && ints->via.array.size == 2);
    EXPECT_EQ(ints->via.array.ptr[1].type, MSGPACK_OBJECT_NIL);
}

TEST(MsgpackFanout, OneFramePerAudienceAndEncoding) {
    auto live = items_live();
    auto id = member_identity();
    session::SubsByTable subs;
    subs["public.items"].push_back(session::SubscriptionEntry{"s1", 0, nullptr});
    auto frames = stream::plan_fanout(typed_txn(),
                                      {{0, &subs, &id, Encoding::Json},
                                       {1, &subs, &id, Encoding::Msgpack},
                                       {2, &subs, &id, Encoding::Msgpack},
                                       {3, &subs, &id, Encoding::Json}},
                                      live);
    ASSERT_EQ(frames.size(), 2u);
    EXPECT_EQ(frames[0].targets, (std::vector<size_t>{0, 3}));
    EXPECT_EQ(frames[1].targets, (std::vector<size_t>{1, 2}));
    EXPECT_EQ(protocol::frame_payload(frames[0].frame).substr(0, 1), "{");
    Owned o;
    EXPECT_EQ(str_of(member(unpack(o, protocol::frame_payload(frames[1].frame)), "type")), "changes");
}

TEST(MsgpackFanout, TruncateAndSplitPartsKeepTheJsonFields) {
    auto live = items_live();
    auto id = member_identity();
    session::SubsByTable subs;
    subs["public.items"].push_back(session::SubscriptionEntry{"s1", 0, nullptr});
    common::BatchWriter w;
    w.begin_txn(200, 8, 1764060208123456LL, 1);
    w.add_change(truncate({{"public", "items"}, {"public", "secret"}}));
    w.end_txn(false);
    std::string error;
    auto b = common::decode_batch(std::string(w.bytes()), &error);
    ASSERT_TRUE(b) << error;
    auto frames = stream::plan_fanout(b->transactions.at(0), {{0, &subs, &id, Encoding::Msgpack}}, live);
    ASSERT_EQ(frames.size(), 1u);
    Owned o;
    const msgpack_object &root = unpack(o, protocol::frame_payload(frames[0].frame));
    EXPECT_EQ(member(root, "part")->via.u64, 1u);
    EXPECT_EQ(member(root, "final")->via.boolean, false);
    const msgpack_object &c = member(root, "changes")->via.array.ptr[0];
    EXPECT_EQ(str_of(member(c, "op")), "truncate");
    const msgpack_object *rel = member(c, "relations");
    ASSERT_TRUE(rel && rel->via.array.size == 1);  // only the table it may see
    EXPECT_EQ(str_of(member(rel->via.array.ptr[0], "table")), "items");
    EXPECT_EQ(member(c, "cascade")->type, MSGPACK_OBJECT_BOOLEAN);
}

}  // namespace
}  // namespace livesync
