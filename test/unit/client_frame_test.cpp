// The protocol edge: every client frame is either a typed struct or a coded rejection.
#include <gtest/gtest.h>

#include "sidecar/protocol/client_frame.hpp"
#include "sidecar/protocol/server_frame.hpp"

namespace livesync {
namespace {

using namespace protocol;

FrameError rejected(std::string_view text) {
    ClientFrame f = parse_client_frame(text);
    EXPECT_TRUE(std::holds_alternative<FrameError>(f)) << "accepted: " << text;
    return std::holds_alternative<FrameError>(f) ? std::get<FrameError>(f) : FrameError{};
}

TEST(ClientFrame, HelloWithClientIdAndLastLsnParses) {
    auto f = parse_client_frame(R"({"type":"hello","client_id":"c1","last_lsn":"0/16B3748"})");
    ASSERT_TRUE(std::holds_alternative<Hello>(f));
    EXPECT_EQ(std::get<Hello>(f).client_id, "c1");
    EXPECT_EQ(std::get<Hello>(f).last_lsn, 0x16B3748u);
}

TEST(ClientFrame, HelloFieldsAreOptional) {
    auto f = parse_client_frame(R"({"type":"hello"})");
    ASSERT_TRUE(std::holds_alternative<Hello>(f));
    EXPECT_FALSE(std::get<Hello>(f).client_id.has_value());
    EXPECT_FALSE(std::get<Hello>(f).last_lsn.has_value());
}

TEST(ClientFrame, SubscribeQualifiesTableWithPublic) {
    auto f = parse_client_frame(R"({"type":"subscribe","id":"s1","table":"items"})");
    ASSERT_TRUE(std::holds_alternative<Subscribe>(f));
    EXPECT_EQ(std::get<Subscribe>(f).id, "s1");
    EXPECT_EQ(std::get<Subscribe>(f).table, "public.items");
    auto g = parse_client_frame(R"({"type":"subscribe","id":"s2","table":"sales.orders"})");
    EXPECT_EQ(std::get<Subscribe>(g).table, "sales.orders");
}

// A subscription to a livesync.notify channel instead of a table; exactly one of them.
TEST(ClientFrame, SubscribeToAChannelAndItsErrors) {
    auto f = parse_client_frame(R"({"type":"subscribe","id":"n1","channel":"org:7:alerts"})");
    ASSERT_TRUE(std::holds_alternative<Subscribe>(f));
    EXPECT_EQ(std::get<Subscribe>(f).channel, std::optional<std::string>("org:7:alerts"));
    EXPECT_EQ(std::get<Subscribe>(f).table, "");
    for (const char *bad : {R"({"type":"subscribe","id":"n1","channel":"a","table":"items"})",
                            R"({"type":"subscribe","id":"n1"})"}) {
        FrameError e = rejected(bad);
        EXPECT_EQ(e.code, "bad_request");
        EXPECT_NE(e.message.find("exactly one of"), std::string::npos) << e.message;
        EXPECT_EQ(e.id, std::optional<std::string>("n1"));
    }
    std::string too_long = R"({"type":"subscribe","id":"n1","channel":")" + std::string(201, 'c') + R"("})";
    for (const std::string &bad : {std::string(R"({"type":"subscribe","id":"n1","channel":""})"),
                                   std::string(R"({"type":"subscribe","id":"n1","channel":7})"),
                                   std::string(R"({"type":"subscribe","id":"n1","channel":"a\u0000b"})"), too_long}) {
        FrameError e = rejected(bad);
        EXPECT_EQ(e.code, "bad_request");
        EXPECT_NE(e.message.find("field \"channel\" must be a string of 1 to 200 bytes"), std::string::npos) << e.message;
    }
    FrameError scoped = rejected(R"({"type":"subscribe","id":"n1","channel":"a","columns":["id"]})");
    EXPECT_NE(scoped.message.find("a channel subscription takes no \"columns\""), std::string::npos) << scoped.message;
}

TEST(ClientFrame, UnsubscribeAndPingParse) {
    auto u = parse_client_frame(R"({"type":"unsubscribe","id":"s1"})");
    ASSERT_TRUE(std::holds_alternative<Unsubscribe>(u));
    EXPECT_EQ(std::get<Unsubscribe>(u).id, "s1");
    auto p = parse_client_frame(R"({"type":"ping","ref":"abc"})");
    ASSERT_TRUE(std::holds_alternative<Ping>(p));
    EXPECT_EQ(encode_pong(std::get<Ping>(p).ref), R"({"type":"pong","ref":"abc"})");
    EXPECT_EQ(encode_pong(std::get<Ping>(parse_client_frame(R"({"type":"ping"})")).ref), R"({"type":"pong"})");
}

TEST(ClientFrame, NonJsonIsBadJsonWithRapidjsonMessageAndOffset) {
    FrameError e = rejected("{\"type\":");
    EXPECT_EQ(e.code, "bad_json");
    EXPECT_NE(e.message.find("at offset 8"), std::string::npos) << e.message;
    EXPECT_EQ(rejected("not json").code, "bad_json");
    EXPECT_EQ(rejected("").code, "bad_json");
    EXPECT_EQ(rejected(R"({"type":"ping"} trailing)").code, "bad_json");
    EXPECT_EQ(rejected("{\"type\":\"ping\",\"x\":\"\xff\"}").code, "bad_json");  // invalid UTF-8
}

TEST(ClientFrame, DeepNestingIsRejectedWithoutRecursion) {
    std::string deep(200000, '[');
    EXPECT_EQ(rejected(deep).code, "bad_json");
    std::string closed = std::string(100000, '[') + std::string(100000, ']');
    EXPECT_EQ(rejected(closed).code, "bad_request");  // valid JSON, but not an object
}

TEST(ClientFrame, MissingOrWrongTypedFieldsAreBadRequestNamingTheField) {
    struct Case {
        const char *frame;
        const char *field;
    };
    for (const Case &c : std::vector<Case>{
             {R"({"id":"s1"})", "\"type\""},
             {R"({"type":7})", "\"type\""},
             {R"({"type":"hello","client_id":5})", "\"client_id\""},
             {R"({"type":"hello","client_id":""})", "\"client_id\""},
             {R"({"type":"hello","client_id":"has space"})", "\"client_id\""},
             {R"({"type":"hello","last_lsn":"g/1"})", "\"last_lsn\""},
             {R"({"type":"hello","last_lsn":"1/123456789"})", "\"last_lsn\""},
             {R"({"type":"hello","last_lsn":17})", "\"last_lsn\""},
             {R"({"type":"subscribe","table":"items"})", "\"id\""},
             {R"({"type":"subscribe","id":1,"table":"items"})", "\"id\""},
             {R"({"type":"subscribe","id":"s1"})", "\"table\""},
             {R"({"type":"subscribe","id":"s1","table":["items"]})", "\"table\""},
             {R"({"type":"subscribe","id":"s1","table":"a.b.c"})", "\"table\""},
             {R"({"type":"subscribe","id":"s1","table":".items"})", "\"table\""},
             {R"({"type":"unsubscribe"})", "\"id\""},
             {R"({"type":"ping","ref":{}})", "\"ref\""},
         }) {
        FrameError e = rejected(c.frame);
        EXPECT_EQ(e.code, "bad_request") << c.frame;
        EXPECT_NE(e.message.find(c.field), std::string::npos) << c.frame << " → " << e.message;
    }
}

TEST(ClientFrame, NonObjectIsBadRequest) {
    EXPECT_EQ(rejected("[1,2]").code, "bad_request");
    EXPECT_EQ(rejected("\"hello\"").code, "bad_request");
}

TEST(ClientFrame, UnknownTypeIsUnknownType) {
    FrameError e = rejected(R"({"type":"resume"})");
    EXPECT_EQ(e.code, "unknown_type");
    EXPECT_NE(e.message.find("resume"), std::string::npos);
}

TEST(ClientFrame, ErrorOnASubscriptionCarriesItsId) {
    FrameError e = rejected(R"({"type":"subscribe","id":"s9","table":5})");
    EXPECT_EQ(e.id, "s9");
    EXPECT_EQ(encode_error(e.code, "m", e.id), R"({"type":"error","code":"bad_request","message":"m","id":"s9"})");
}

TEST(ServerFrame, WelcomeAndSubscribedCarryFormattedLsn) {
    EXPECT_EQ(encode_welcome("c1", "sc", 0x16B3748),
              R"({"type":"welcome","client_id":"c1","sidecar":"sc","lsn":"0/16B3748"})");
    EXPECT_EQ(encode_subscribed("s1", "public.items", 0),
              R"({"type":"subscribed","id":"s1","table":"public.items","lsn":"0/0"})");
    EXPECT_EQ(encode_unsubscribed("s\"1"), R"({"type":"unsubscribed","id":"s\"1"})");
}

}  // namespace
}  // namespace livesync
