// Hello waits for the client-id ownership check: messages sent meanwhile are held and
// applied in order; a foreign owner closes 4403; Redis down answers not_ready; and the
// message rate limit closes 4429.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "auth_fixture.hpp"
#include "sidecar/session/frame_handler.hpp"

namespace livesync {
namespace {

struct FakeClaims : sidecar::auth::OwnershipClaims {
    std::vector<std::tuple<uint64_t, std::string, std::string>> asked;
    bool claim(uint64_t serial, std::string id, std::string owner) override {
        asked.emplace_back(serial, std::move(id), std::move(owner));
        return true;
    }
};

struct NoRegistry : registry::RegistrySink {
    void upsert(registry::ClientRecord) override {}
    void remove(const std::string &, uint64_t) override {}
};

std::vector<std::string> drain_types(session::Session &s) {
    std::vector<std::string> types;
    while (!s.queue().empty()) {
        rapidjson::Document d;
        std::string payload(protocol::frame_payload(s.queue().front()));
        d.Parse(payload.c_str());
        s.queue().pop();
        types.push_back(d["type"].GetString());
        if (d.HasMember("code")) types.back() += std::string(":") + d["code"].GetString();
    }
    return types;
}

class ClientOwnership : public ::testing::Test {
protected:
    ClientOwnership() : handler("sc1", sessions, live, registry, gate.gate) {
        live.ready = true;
        handler.set_ownership(&claims);
    }
    session::Session &open() { return sessions.open(nullptr, "10.0.0.1", 0, 1 << 20, [] {}); }
    test::AnonymousGate gate;
    session::SessionTable sessions;
    rules::LiveState live;
    NoRegistry registry;
    FakeClaims claims;
    session::FrameHandler handler;
};

TEST_F(ClientOwnership, HelloWaitsForTheOwnerCheckAndHeldMessagesFollowInOrder) {
    auto &s = open();
    handler.on_text(s, R"({"type":"hello","client_id":"dev-1"})");
    handler.on_text(s, R"({"type":"ping","ref":1})");
    EXPECT_TRUE(drain_types(s).empty()) << "nothing may be answered before the owner is known";
    ASSERT_EQ(claims.asked.size(), 1u);
    EXPECT_EQ(std::get<1>(claims.asked[0]), "dev-1");
    EXPECT_EQ(std::get<2>(claims.asked[0]), "anonymous:10.0.0.1");
    handler.on_claim(s.serial(), "dev-1", sidecar::auth::ClaimOutcome::Owned);
    EXPECT_EQ(drain_types(s), (std::vector<std::string>{"welcome", "pong"}));
    EXPECT_EQ(sessions.find_client("dev-1"), &s);
}

TEST_F(ClientOwnership, AnotherOwnersClientIdClosesTheSession4403AndIsAudited) {
    auto &s = open();
    handler.on_text(s, R"({"type":"hello","client_id":"dev-1"})");
    handler.on_claim(s.serial(), "dev-1", sidecar::auth::ClaimOutcome::Foreign);
    ASSERT_TRUE(s.close_request());
    EXPECT_EQ(s.close_request()->code, 4403);
    EXPECT_EQ(s.close_request()->reason, "client id belongs to another user");
    EXPECT_EQ(sessions.find_client("dev-1"), nullptr);
    EXPECT_EQ(gate.audit.count("client_id_taken"), 1u);
}

TEST_F(ClientOwnership, UncheckableOwnerAnswersNotReadyAndHelloMayBeSentAgain) {
    auto &s = open();
    handler.on_text(s, R"({"type":"hello","client_id":"dev-1"})");
    handler.on_claim(s.serial(), "dev-1", sidecar::auth::ClaimOutcome::Unavailable);
    EXPECT_EQ(drain_types(s), (std::vector<std::string>{"error:not_ready"}));
    EXPECT_FALSE(s.greeted());
    handler.on_text(s, R"({"type":"hello","client_id":"dev-1"})");
    handler.on_claim(s.serial(), "dev-1", sidecar::auth::ClaimOutcome::Owned);
    EXPECT_EQ(drain_types(s), (std::vector<std::string>{"welcome"}));
}

TEST_F(ClientOwnership, TooManyMessagesBeforeWelcomeClose1008) {
    auto &s = open();
    handler.on_text(s, R"({"type":"hello"})");
    for (size_t i = 0; i <= session::kMaxHeldMessages; ++i) handler.on_text(s, R"({"type":"ping"})");
    ASSERT_TRUE(s.close_request());
    EXPECT_EQ(s.close_request()->code, 1008);
}

TEST_F(ClientOwnership, MessagesOverTheRateLimitClose4429) {
    sidecar::auth::AbuseConfig c;
    c.messages = {1, 3};
    sidecar::auth::AbuseGuard guard(c);
    gate.gate.attach(&guard, nullptr);
    auto &s = open();
    handler.on_text(s, R"({"type":"hello"})");
    handler.on_claim(s.serial(), s.greeted() ? s.client_id() : "", sidecar::auth::ClaimOutcome::Owned);
    handler.on_text(s, R"({"type":"ping"})");
    handler.on_text(s, R"({"type":"ping"})");
    EXPECT_FALSE(s.close_request());
    handler.on_text(s, R"({"type":"ping"})");
    ASSERT_TRUE(s.close_request());
    EXPECT_EQ(s.close_request()->code, 4429);
    EXPECT_EQ(gate.counters.rate_limited.load(), 1u);
    EXPECT_EQ(gate.audit.count("rate_limited"), 1u);
}

TEST_F(ClientOwnership, ConnectionsOverTheRateLimitClose4429AndBannedAddressesAreRefused) {
    sidecar::auth::AbuseConfig c;
    c.connections = {1, 1};
    c.ban_after = 2;
    sidecar::auth::AbuseGuard guard(c);
    gate.gate.attach(&guard, nullptr);
    auto &first = open();
    gate.gate.on_connect(first, std::nullopt, 0);
    EXPECT_FALSE(first.close_request());
    auto &second = open();
    gate.gate.on_connect(second, std::nullopt, 0);
    ASSERT_TRUE(second.close_request());
    EXPECT_EQ(second.close_request()->code, 4429);
    // Two bad tokens from one address ban it.
    EXPECT_FALSE(gate.gate.refuse_banned("10.0.0.1", registry::unix_ms_now()));
    gate.gate.auth_failure_from("10.0.0.1", registry::unix_ms_now());
    gate.gate.auth_failure_from("10.0.0.1", registry::unix_ms_now());
    EXPECT_TRUE(gate.gate.refuse_banned("10.0.0.1", registry::unix_ms_now()));
    EXPECT_EQ(gate.counters.bans.load(), 1u);
    EXPECT_EQ(gate.audit.count("banned"), 1u);
}

}  // namespace
}  // namespace livesync
