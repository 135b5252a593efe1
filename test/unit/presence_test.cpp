#include <gtest/gtest.h>

#include "sidecar/http/presence.hpp"

namespace livesync {
namespace {

TEST(Presence, AnswersTheIdsNotHeldHereOnceEachInRequestOrder) {
    session::SessionTable sessions;
    auto &s = sessions.open(nullptr, "a", 0, 1024, [] {});
    s.set_client_id("held");
    sessions.bind_client(s);
    auto r = http::answer_presence(R"(["b","held","a","b"])", sessions);
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, R"({"gone":["b","a"]})");
    EXPECT_EQ(http::answer_presence("[]", sessions).body, R"({"gone":[]})");
    sessions.close(s);
    EXPECT_EQ(http::answer_presence(R"(["held"])", sessions).body, R"({"gone":["held"]})");
}

TEST(Presence, RejectsBadJsonAndNonArraysNamingTheProblem) {
    session::SessionTable sessions;
    struct Case {
        const char *body;
        unsigned status;
        const char *code;
        const char *says;
    };
    for (const Case &c : {Case{"", 400, "bad_json", "empty"}, Case{"[\"a\"", 400, "bad_json", "at byte"},
                          Case{"[\"a\"] x", 400, "bad_json", "at byte"}, Case{"{}", 400, "bad_request", "array"},
                          Case{"\"a\"", 400, "bad_request", "array"},
                          Case{"[\"a\",1]", 400, "bad_request", "element 1 is not a string"},
                          Case{"[\"\xff\"]", 400, "bad_json", "at byte"}}) {
        auto r = http::answer_presence(c.body, sessions);
        EXPECT_EQ(r.status, c.status) << c.body;
        EXPECT_NE(r.body.find(std::string("\"error\":\"") + c.code + "\""), std::string::npos) << r.body;
        EXPECT_NE(r.body.find(c.says), std::string::npos) << r.body;
    }
}

TEST(Presence, BoundsIdsAndBytes) {
    session::SessionTable sessions;
    std::string body = "[";
    for (size_t i = 0; i < http::kMaxPresenceIds; ++i) body += (i ? ",\"" : "\"") + std::to_string(i) + "\"";
    EXPECT_EQ(http::answer_presence(body + "]", sessions).status, 200u);
    auto over = http::answer_presence(body + ",\"x\"]", sessions);
    EXPECT_EQ(over.status, 400u);
    EXPECT_NE(over.body.find("too_many_ids"), std::string::npos);
    std::string huge = "[\"" + std::string(http::kMaxPresenceBodyBytes, 'a') + "\"]";
    EXPECT_EQ(http::answer_presence(huge, sessions).status, 413u);
}

}  // namespace
}  // namespace livesync
