// Session behaviour behind the protocol edge: hello, subscribe, unsubscribe, registry.
#include <gtest/gtest.h>

#include <rapidjson/document.h>

#include "auth_fixture.hpp"
#include "sidecar/session/frame_handler.hpp"

namespace livesync {
namespace {

struct FakeRegistry : registry::RegistrySink {
    std::vector<registry::ClientRecord> upserts;
    std::vector<std::string> removals;
    void upsert(registry::ClientRecord r) override { upserts.push_back(std::move(r)); }
    void remove(const std::string &id, uint64_t) override { removals.push_back(id); }
};

class FrameHandlerTest : public ::testing::Test {
protected:
    FrameHandlerTest()
        : handler("sc1", sessions, live, registry, anonymous.gate) {
        test::grant(live, "anonymous", "public.items");
        live.ready = true;
        live.position = 0x16B3748;
        common::Change row;
        row.schema = "livesync";
        row.table = "tables";
        row.new_values = {{"schema_name", text("public")}, {"table_name", text("items")}};
        live.tables.apply(row);
    }
    static common::Value text(const char *s) {
        common::Value v;
        v.kind = common::Value::Kind::Text;
        v.s = s;
        return v;
    }
    session::Session &open() { return sessions.open(nullptr, "127.0.0.1", 1, 1 << 20, [] {}); }

    // Sends a frame and returns the replies queued since, parsed.
    std::vector<rapidjson::Document> exchange(session::Session &s, std::string_view frame) {
        size_t before = s.queue().size();
        handler.on_text(s, frame);
        std::vector<protocol::Frame> all;
        while (!s.queue().empty()) {
            all.push_back(s.queue().front());
            s.queue().pop();
        }
        std::vector<rapidjson::Document> out;
        for (size_t i = before; i < all.size(); ++i) {
            out.emplace_back();
            std::string payload(protocol::frame_payload(all[i]));
            out.back().Parse(payload.c_str());
        }
        return out;
    }
    std::string reply_type(session::Session &s, std::string_view frame, std::string *code = nullptr) {
        auto replies = exchange(s, frame);
        EXPECT_EQ(replies.size(), 1u) << frame;
        if (replies.empty()) return "";
        if (code && replies[0].HasMember("code")) *code = replies[0]["code"].GetString();
        return replies[0]["type"].GetString();
    }

    session::SessionTable sessions;
    rules::LiveState live;
    FakeRegistry registry;
    test::AnonymousGate anonymous;
    session::FrameHandler handler;
};

TEST_F(FrameHandlerTest, FramesBeforeHelloAreRejectedWithHelloRequired) {
    auto &s = open();
    std::string code;
    for (const char *f : {R"({"type":"subscribe","id":"s1","table":"items"})", R"({"type":"unsubscribe","id":"s1"})",
                          R"({"type":"ping"})"}) {
        EXPECT_EQ(reply_type(s, f, &code), "error");
        EXPECT_EQ(code, "hello_required");
    }
    EXPECT_TRUE(registry.upserts.empty());
}

TEST_F(FrameHandlerTest, HelloRegistersAndWelcomesWithTheLivePosition) {
    auto &s = open();
    auto replies = exchange(s, R"({"type":"hello","client_id":"c1"})");
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_STREQ(replies[0]["type"].GetString(), "welcome");
    EXPECT_STREQ(replies[0]["client_id"].GetString(), "c1");
    EXPECT_STREQ(replies[0]["sidecar"].GetString(), "sc1");
    EXPECT_STREQ(replies[0]["lsn"].GetString(), "0/16B3748");
    ASSERT_EQ(registry.upserts.size(), 1u);
    EXPECT_EQ(registry.upserts[0].client_id, "c1");
    EXPECT_EQ(registry.upserts[0].address, "127.0.0.1");
    EXPECT_EQ(sessions.find_client("c1"), &s);
}

TEST_F(FrameHandlerTest, HelloWithoutClientIdGetsARandomOne) {
    auto &a = open();
    auto &b = open();
    auto ra = exchange(a, R"({"type":"hello"})");
    auto rb = exchange(b, R"({"type":"hello"})");
    std::string ida = ra.at(0)["client_id"].GetString(), idb = rb.at(0)["client_id"].GetString();
    EXPECT_FALSE(ida.empty());
    EXPECT_NE(ida, idb);
}

TEST_F(FrameHandlerTest, SubscribeToPublishedTableIsAcknowledgedWithLsn) {
    auto &s = open();
    exchange(s, R"({"type":"hello","client_id":"c1"})");
    auto replies = exchange(s, R"({"type":"subscribe","id":"s1","table":"items"})");
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_STREQ(replies[0]["type"].GetString(), "subscribed");
    EXPECT_STREQ(replies[0]["table"].GetString(), "public.items");
    EXPECT_STREQ(replies[0]["lsn"].GetString(), "0/16B3748");
    ASSERT_NE(sessions.subscribers("public.items"), nullptr);
    EXPECT_EQ(registry.upserts.back().subscriptions, (std::vector<std::string>{"public.items"}));
}

TEST_F(FrameHandlerTest, SubscribeErrorsHaveCodes) {
    auto &s = open();
    exchange(s, R"({"type":"hello","client_id":"c1"})");
    std::string code;
    EXPECT_EQ(reply_type(s, R"({"type":"subscribe","id":"s1","table":"public.nope"})", &code), "error");
    EXPECT_EQ(code, "unknown_table");
    EXPECT_EQ(reply_type(s, R"({"type":"subscribe","id":"s1","table":"items"})"), "subscribed");
    EXPECT_EQ(reply_type(s, R"({"type":"subscribe","id":"s1","table":"items"})", &code), "error");
    EXPECT_EQ(code, "duplicate_id");
    live.ready = false;
    EXPECT_EQ(reply_type(s, R"({"type":"subscribe","id":"s2","table":"items"})", &code), "error");
    EXPECT_EQ(code, "not_ready");
}

TEST_F(FrameHandlerTest, UnsubscribeRemovesTheSubscriptionAndUnknownIdIsAnError) {
    auto &s = open();
    exchange(s, R"({"type":"hello","client_id":"c1"})");
    exchange(s, R"({"type":"subscribe","id":"s1","table":"items"})");
    EXPECT_EQ(reply_type(s, R"({"type":"unsubscribe","id":"s1"})"), "unsubscribed");
    EXPECT_EQ(sessions.subscribers("public.items"), nullptr);
    std::string code;
    EXPECT_EQ(reply_type(s, R"({"type":"unsubscribe","id":"s1"})", &code), "error");
    EXPECT_EQ(code, "unknown_subscription");
}

// A revoke or an unpublish ends the subscriptions that lost their access, each with an
// `unsubscribed` frame saying why; the others stay, and the registry follows.
TEST_F(FrameHandlerTest, RevokeAndUnpublishEndTheSubscriptionsThatLostAccess) {
    common::Change other;
    other.schema = "livesync";
    other.table = "tables";
    other.new_values = {{"schema_name", text("public")}, {"table_name", text("other")}};
    live.tables.apply(other);
    test::grant(live, "anonymous", "public.other");
    auto &a = open();
    auto &b = open();
    exchange(a, R"({"type":"hello","client_id":"a"})");
    exchange(b, R"({"type":"hello","client_id":"b"})");
    for (const char *f : {R"({"type":"subscribe","id":"s1","table":"items"})",
                          R"({"type":"subscribe","id":"s2","table":"items","columns":["id"]})",
                          R"({"type":"subscribe","id":"s3","table":"other"})"})
        ASSERT_EQ(reply_type(a, f), "subscribed");
    ASSERT_EQ(reply_type(b, R"({"type":"subscribe","id":"x","table":"other"})"), "subscribed");
    auto drain = [](session::Session &s) {
        std::vector<rapidjson::Document> out;
        while (!s.queue().empty()) {
            out.emplace_back();
            std::string payload(protocol::frame_payload(s.queue().front()));
            out.back().Parse(payload.c_str());
            s.queue().pop();
        }
        return out;
    };

    EXPECT_EQ(handler.end_lost_subscriptions(), 0u);  // nothing changed: nothing ends
    EXPECT_TRUE(drain(a).empty());

    live.rules = rules::RuleSet{};  // revoke everything, then grant other again
    test::grant(live, "anonymous", "public.other");
    EXPECT_EQ(handler.end_lost_subscriptions(), 2u);
    auto ended = drain(a);
    ASSERT_EQ(ended.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
        EXPECT_STREQ(ended[i]["type"].GetString(), "unsubscribed");
        EXPECT_STREQ(ended[i]["id"].GetString(), i == 0 ? "s1" : "s2");
        EXPECT_STREQ(ended[i]["reason"].GetString(), "forbidden");
        EXPECT_NE(std::string(ended[i]["message"].GetString()).find("public.items"), std::string::npos);
    }
    EXPECT_TRUE(drain(b).empty());
    EXPECT_EQ(sessions.subscribers("public.items"), nullptr);
    EXPECT_EQ(registry.upserts.back().subscriptions, (std::vector<std::string>{"public.other"}));
    std::string code;
    EXPECT_EQ(reply_type(a, R"({"type":"unsubscribe","id":"s1"})", &code), "error");  // it is gone
    EXPECT_EQ(code, "unknown_subscription");

    common::Change unpublish = other;
    unpublish.op = common::Op::Delete;
    unpublish.old_values = unpublish.new_values;
    unpublish.new_values.clear();
    live.tables.apply(unpublish);
    EXPECT_EQ(handler.end_lost_subscriptions(), 2u);
    for (session::Session *s : {&a, &b}) {
        auto frames = drain(*s);
        ASSERT_EQ(frames.size(), 1u);
        EXPECT_STREQ(frames[0]["type"].GetString(), "unsubscribed");
        EXPECT_STREQ(frames[0]["reason"].GetString(), "unknown_table");
    }
    EXPECT_EQ(sessions.subscribers("public.other"), nullptr);
    EXPECT_EQ(handler.end_lost_subscriptions(), 0u);
}

TEST_F(FrameHandlerTest, BadFramesKeepTheSession) {
    auto &s = open();
    std::string code;
    EXPECT_EQ(reply_type(s, "garbage", &code), "error");
    EXPECT_EQ(code, "bad_json");
    EXPECT_EQ(reply_type(s, R"({"type":"hello","client_id":"c1"})"), "welcome");
    EXPECT_EQ(reply_type(s, R"({"type":"ping"})"), "pong");
    EXPECT_FALSE(s.close_request().has_value());
}

TEST_F(FrameHandlerTest, CloseUnregistersTheClient) {
    auto &s = open();
    exchange(s, R"({"type":"hello","client_id":"c1"})");
    handler.on_closed(s);
    EXPECT_EQ(registry.removals, (std::vector<std::string>{"c1"}));
    EXPECT_EQ(sessions.find_client("c1"), nullptr);
    EXPECT_EQ(sessions.size(), 0u);
}

TEST_F(FrameHandlerTest, SameClientIdAgainClosesTheOlderSessionWhichThenDoesNotUnregister) {
    auto &old_session = open();
    exchange(old_session, R"({"type":"hello","client_id":"c1"})");
    auto &new_session = open();
    exchange(new_session, R"({"type":"hello","client_id":"c1"})");
    ASSERT_TRUE(old_session.close_request().has_value());
    EXPECT_EQ(old_session.close_request()->code, session::kCloseReplaced);
    EXPECT_EQ(sessions.find_client("c1"), &new_session);
    handler.on_closed(old_session);
    EXPECT_TRUE(registry.removals.empty());
    EXPECT_EQ(sessions.find_client("c1"), &new_session);
}

}  // namespace
}  // namespace livesync
