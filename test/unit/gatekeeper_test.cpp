// Session authentication: tokens at connect or hello, anonymous only when allowed,
// refresh with the same sub, tenant and role, expiry and hello timeouts closing 4401, forbidden
// subscriptions audited while the session stays.
#include <gtest/gtest.h>

#include <jwt.h>
#include <rapidjson/document.h>

#include <ctime>

#include "auth_fixture.hpp"
#include "sidecar/session/frame_handler.hpp"

namespace livesync {
namespace {

using namespace test;

const std::string kSecret(40, 'k');

std::string token(const std::string &sub, int64_t exp, const std::string &secret = kSecret,
                  const std::string &role = "member", const std::string &tenant_claim = R"("tenant":"acme",)") {
    jwt_t *jwt = nullptr;
    jwt_new(&jwt);
    std::string claims = R"({"sub":")" + sub + R"(","role":")" + role + R"(",)" + tenant_claim + R"("exp":)" +
                         std::to_string(exp) + "}";
    jwt_add_grants_json(jwt, claims.c_str());
    jwt_set_alg(jwt, JWT_ALG_HS256, reinterpret_cast<const unsigned char *>(secret.data()),
                static_cast<int>(secret.size()));
    char *encoded = jwt_encode_str(jwt);
    std::string out = encoded;
    free(encoded);
    jwt_free(jwt);
    return out;
}

sidecar::auth::AuthConfig keyed(bool anonymous = false) {
    sidecar::auth::AuthConfig c;
    c.keys.hs256_secret = kSecret;
    c.policy.leeway_seconds = 0;
    c.allow_anonymous = anonymous;
    return c;
}

struct NoRegistry : registry::RegistrySink {
    void upsert(registry::ClientRecord) override {}
    void remove(const std::string &, uint64_t) override {}
};

class GatekeeperTest : public ::testing::Test {
protected:
    explicit GatekeeperTest(sidecar::auth::AuthConfig config = keyed())
        : gate(std::move(config)), handler("sc1", sessions, live, registry, gate.gate) {
        live.ready = true;
        std::string error;
        live.tables = *rules::PublishedTables::from_hash(
            {{"public.items", R"({"schema":"public","table":"items"})"},
             {"public.secrets", R"({"schema":"public","table":"secrets"})"}},
            &error);
        grant(live, "member", "public.items");
    }
    session::Session &open() { return sessions.open(nullptr, "10.0.0.1", registry::unix_ms_now(), 1 << 20, [] {}); }
    std::string last_type(session::Session &s, std::string *code = nullptr) {
        std::string type;
        while (!s.queue().empty()) {
            rapidjson::Document d;
            std::string payload(protocol::frame_payload(s.queue().front()));
            d.Parse(payload.c_str());
            s.queue().pop();
            type = d["type"].GetString();
            if (code && d.HasMember("code")) *code = d["code"].GetString();
        }
        return type;
    }
    int64_t now() const { return static_cast<int64_t>(std::time(nullptr)); }

    session::SessionTable sessions;
    rules::LiveState live;
    NoRegistry registry;
    AnonymousGate gate;
    session::FrameHandler handler;
};

TEST_F(GatekeeperTest, TokenInHelloAuthenticatesAndRoleRuleAllowsSubscribe) {
    auto &s = open();
    handler.on_text(s, R"({"type":"hello","token":")" + token("u1", now() + 60) + R"("})");
    ASSERT_NE(s.identity(), nullptr);
    EXPECT_EQ(s.identity()->role, "member");
    EXPECT_EQ(*s.identity()->tenant, "acme");
    EXPECT_EQ(last_type(s), "welcome");
    handler.on_text(s, R"({"type":"subscribe","id":"s1","table":"items"})");
    EXPECT_EQ(last_type(s), "subscribed");
}

TEST_F(GatekeeperTest, SubscribeWithoutRuleIsForbiddenAuditedAndTheSessionStays) {
    auto &s = open();
    handler.on_text(s, R"({"type":"hello","token":")" + token("u1", now() + 60) + R"("})");
    last_type(s);
    std::string code;
    handler.on_text(s, R"({"type":"subscribe","id":"s1","table":"secrets"})");
    EXPECT_EQ(last_type(s, &code), "error");
    EXPECT_EQ(code, "forbidden");
    EXPECT_FALSE(s.close_request());
    EXPECT_EQ(gate.audit.count("forbidden"), 1u);
    EXPECT_EQ(s.subscription_count(), 0u);
}

TEST_F(GatekeeperTest, BadTokensCloseWith4401AndAreAudited) {
    for (const std::string &bad : {token("u1", now() - 10), token("u1", now() + 60, std::string(40, 'x')),
                                   std::string("garbage"), std::string("")}) {
        auto &s = open();
        if (bad.empty()) gate.gate.on_connect(s, bad, now());
        else handler.on_text(s, R"({"type":"hello","token":")" + bad + R"("})");
        ASSERT_TRUE(s.close_request()) << bad;
        EXPECT_EQ(s.close_request()->code, 4401);
        EXPECT_EQ(s.identity(), nullptr);
    }
    EXPECT_EQ(gate.audit.count("auth_failed"), 4u);
}

TEST_F(GatekeeperTest, HelloWithoutTokenIsRefusedWhenAnonymousIsNotAllowed) {
    auto &s = open();
    handler.on_text(s, R"({"type":"hello"})");
    ASSERT_TRUE(s.close_request());
    EXPECT_EQ(s.close_request()->code, 4401);
    EXPECT_FALSE(s.greeted());
}

TEST_F(GatekeeperTest, HeaderTokenAtConnectAuthenticatesBeforeHello) {
    auto &s = open();
    gate.gate.on_connect(s, token("u1", now() + 60), now());
    ASSERT_NE(s.identity(), nullptr);
    handler.on_text(s, R"({"type":"hello"})");
    EXPECT_EQ(last_type(s), "welcome");
}

TEST_F(GatekeeperTest, RefreshNeedsTheSameSub) {
    auto &s = open();
    gate.gate.on_connect(s, token("u1", now() + 5), now());
    handler.on_text(s, R"({"type":"hello"})");
    last_type(s);
    handler.on_text(s, R"({"type":"auth","token":")" + token("u1", now() + 3600) + R"("})");
    EXPECT_EQ(last_type(s), "authenticated");
    EXPECT_EQ(s.identity()->expires_at, now() + 3600);
    handler.on_text(s, R"({"type":"auth","token":")" + token("u2", now() + 3600) + R"("})");
    ASSERT_TRUE(s.close_request());
    EXPECT_EQ(s.close_request()->code, 4403);
}

// A refresh is the same user in the same tenant and role: the session's subscriptions
// were authorized (and their audiences keyed) for those, so a token naming another
// tenant or role closes the session 4403, audited, like another sub.
TEST_F(GatekeeperTest, RefreshWithAnotherTenantOrRoleCloses4403AndIsAudited) {
    struct Case {
        std::string role, tenant_claim, detail;
    };
    for (const Case &c : {Case{"member", R"("tenant":"other",)", "tenant"},
                          Case{"member", R"("tenant":7,)", "tenant"},
                          Case{"member", "", "tenant"},
                          Case{"admin", R"("tenant":"acme",)", "role"}}) {
        auto &s = open();
        gate.gate.on_connect(s, token("u1", now() + 60), now());
        handler.on_text(s, R"({"type":"hello"})");
        handler.on_text(s, R"({"type":"subscribe","id":"s1","table":"items"})");
        EXPECT_EQ(last_type(s), "subscribed");
        size_t failures = gate.audit.count("auth_failed");
        handler.on_text(s, R"({"type":"auth","token":")" + token("u1", now() + 3600, kSecret, c.role, c.tenant_claim) +
                               R"("})");
        ASSERT_TRUE(s.close_request()) << c.detail << " " << c.tenant_claim;
        EXPECT_EQ(s.close_request()->code, 4403);
        EXPECT_EQ(gate.audit.count("auth_failed"), failures + 1);
        EXPECT_EQ(gate.audit.events.back().detail, "refresh with a token of another " + c.detail);
        EXPECT_EQ(s.identity()->role, "member");
        EXPECT_EQ(*s.identity()->tenant, "acme");
    }
    // The same sub, tenant and role with other claims is a refresh.
    auto &s = open();
    gate.gate.on_connect(s, token("u1", now() + 60), now());
    handler.on_text(s, R"({"type":"hello"})");
    last_type(s);
    handler.on_text(s, R"({"type":"auth","token":")" +
                           token("u1", now() + 3600, kSecret, "member", R"("tenant":"acme","dept":"x",)") + R"("})");
    EXPECT_EQ(last_type(s), "authenticated");
    EXPECT_FALSE(s.close_request());
}

TEST_F(GatekeeperTest, SweepClosesExpiredSessionsAndSilentConnections) {
    auto &fresh = open();
    auto &expiring = open();
    auto &silent = open();
    gate.gate.on_connect(fresh, token("u1", now() + 60), now());
    gate.gate.on_connect(expiring, token("u2", now() + 1), now());
    gate.gate.sweep(sessions, now(), registry::unix_ms_now());
    EXPECT_FALSE(expiring.close_request());
    EXPECT_FALSE(silent.close_request());
    gate.gate.sweep(sessions, now() + 2, registry::unix_ms_now() + 11000);
    ASSERT_TRUE(expiring.close_request());
    EXPECT_EQ(expiring.close_request()->code, 4401);
    ASSERT_TRUE(silent.close_request());
    EXPECT_EQ(silent.close_request()->code, 4401);
    EXPECT_FALSE(fresh.close_request());
}

class AnonymousGatekeeperTest : public GatekeeperTest {
protected:
    AnonymousGatekeeperTest() : GatekeeperTest(keyed(true)) { grant(live, "anonymous", "public.items"); }
};

TEST_F(AnonymousGatekeeperTest, NoTokenMeansRoleAnonymousWithoutClaims) {
    auto &s = open();
    handler.on_text(s, R"({"type":"hello"})");
    ASSERT_NE(s.identity(), nullptr);
    EXPECT_TRUE(s.identity()->anonymous);
    EXPECT_EQ(s.identity()->role, "anonymous");
    EXPECT_TRUE(s.identity()->claims.empty());
    EXPECT_FALSE(s.identity()->tenant);
    // A bad token is still refused: anonymous access is for clients without one.
    auto &t = open();
    handler.on_text(t, R"({"type":"hello","token":"garbage"})");
    ASSERT_TRUE(t.close_request());
    EXPECT_EQ(t.close_request()->code, 4401);
}

TEST(Authenticator, BearerHeaderParsing) {
    EXPECT_EQ(sidecar::auth::bearer_token("Bearer abc"), "abc");
    EXPECT_EQ(sidecar::auth::bearer_token("bearer   abc "), "abc");
    EXPECT_FALSE(sidecar::auth::bearer_token("Basic abc"));
    EXPECT_FALSE(sidecar::auth::bearer_token("Bearer "));
}

}  // namespace
}  // namespace livesync
